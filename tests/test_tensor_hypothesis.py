"""Property tests against NumPy: elementwise ops with broadcasting, reductions, indexing."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import distgrad as dg

SETTINGS = settings(max_examples=40, deadline=None)
FLOATS = st.floats(-100, 100, allow_nan=False, width=32)


@st.composite
def broadcast_pair(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4))
    a = draw(hnp.arrays(np.float32, shapes.input_shapes[0], elements=FLOATS))
    b = draw(hnp.arrays(np.float32, shapes.input_shapes[1], elements=FLOATS))
    return a, b


BINARY = {"add": (lambda a, b: a + b, np.add), "sub": (lambda a, b: a - b, np.subtract),
          "mul": (lambda a, b: a * b, np.multiply), "maximum": (dg.maximum, np.maximum),
          "minimum": (dg.minimum, np.minimum), "lt": (lambda a, b: a < b, np.less),
          "ge": (lambda a, b: a >= b, np.greater_equal), "eq": (lambda a, b: a == b, np.equal),
          "where": (lambda a, b: dg.where(a > b, a, b), lambda a, b: np.where(a > b, a, b))}


@SETTINGS
@given(pair=broadcast_pair(), op=st.sampled_from(sorted(BINARY)))
def test_binary_broadcasting(pair, op):
    a, b = pair
    fn, ref = BINARY[op]
    out = fn(dg.tensor(a), dg.tensor(b))
    expected = ref(a, b)
    assert tuple(out.shape) == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-6)


@SETTINGS
@given(pair=broadcast_pair())
def test_division_broadcasting(pair):
    a, b = pair
    b = np.where(np.abs(b) < 0.5, np.float32(1.5), b)
    np.testing.assert_allclose((dg.tensor(a) / dg.tensor(b)).numpy(), a / b, rtol=1e-6)


@SETTINGS
@given(x=hnp.arrays(np.float32, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
                    elements=st.floats(-5, 5, width=32)),
       op=st.sampled_from(["exp", "tanh", "abs", "neg", "sigmoid", "relu", "floor", "sin"]))
def test_unary(x, op):
    ref = {"exp": np.exp, "tanh": np.tanh, "abs": np.abs, "neg": np.negative, "floor": np.floor, "sin": np.sin,
           "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "relu": lambda v: np.maximum(v, 0)}[op]
    out = getattr(dg.tensor(x), op)()
    assert tuple(out.shape) == x.shape
    np.testing.assert_allclose(out.numpy(), ref(x), rtol=1e-5, atol=1e-6)


@st.composite
def array_and_dims(draw):
    x = draw(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4),
                        elements=st.floats(-10, 10, width=32)))
    dims = draw(st.lists(st.integers(-x.ndim, x.ndim - 1), min_size=1, max_size=x.ndim,
                         unique_by=lambda d: d % x.ndim))
    return x, tuple(dims), draw(st.booleans())


@SETTINGS
@given(case=array_and_dims(), op=st.sampled_from(["sum", "mean", "amax", "amin", "prod", "var", "logsumexp"]))
def test_reductions(case, op):
    x, dims, keep = case
    t = dg.tensor(x)
    if op == "var":
        n = int(np.prod([x.shape[d] for d in dims]))
        if n < 2:
            return
        expected = x.astype(np.float64).var(axis=dims, ddof=1, keepdims=keep)
        out = t.var(dims, keepdim=keep)
    elif op == "logsumexp":
        expected = np.log(np.exp(x.astype(np.float64)).sum(axis=dims, keepdims=keep))
        out = t.logsumexp(dims, keepdim=keep)
    else:
        np_op = {"amax": "max", "amin": "min"}.get(op, op)
        expected = getattr(x.astype(np.float64), np_op)(axis=dims, keepdims=keep)
        out = getattr(t, op)(dims if op not in ("prod",) else dims[0], keepdim=keep) if op != "prod" else \
            t.prod(dims[0], keepdim=keep)
        if op == "prod":
            expected = x.astype(np.float64).prod(axis=dims[0], keepdims=keep)
    assert tuple(out.shape) == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-3)


@SETTINGS
@given(case=array_and_dims())
def test_argmax_max_dim(case):
    x, dims, keep = case
    d = dims[0]
    t = dg.tensor(x)
    values, indices = t.max(d, keepdim=keep)
    np.testing.assert_array_equal(values.numpy(), x.max(axis=d, keepdims=keep))
    np.testing.assert_array_equal(np.take_along_axis(x, indices.numpy() if keep else np.expand_dims(indices.numpy(), d),
                                                     d).squeeze(d) if not keep else
                                  np.take_along_axis(x, indices.numpy(), d), x.max(axis=d, keepdims=keep))
    np.testing.assert_array_equal(t.cumsum(d).numpy(), np.cumsum(x, axis=d))


@st.composite
def basic_index(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    x = np.arange(int(np.prod(shape))).reshape(shape)

    def items_for(sides):
        items = []
        for n in sides:
            kind = draw(st.sampled_from(["int", "slice", "none"]))
            if kind == "int":
                items.append(draw(st.integers(-n, n - 1)))
            elif kind == "slice":
                items.append(slice(draw(st.none() | st.integers(-n - 1, n + 1)),
                                   draw(st.none() | st.integers(-n - 1, n + 1)), draw(st.none() | st.integers(1, 3))))
            else:   # None adds a dim and consumes none, so a full slice still has to consume this one
                items += [None, slice(None)]
        return items

    lead = draw(st.integers(0, len(shape)))
    if not draw(st.booleans()):
        return x, tuple(items_for(shape[:lead]))
    # an Ellipsis between the leading and trailing items: those after it index the last dims
    trail = draw(st.integers(0, len(shape) - lead))
    return x, tuple(items_for(shape[:lead]) + [Ellipsis] + items_for(shape[len(shape) - trail:]))


@SETTINGS
@given(case=basic_index())
def test_basic_indexing(case):
    x, idx = case
    t = dg.tensor(x)
    out = t[idx]
    assert tuple(out.shape) == x[idx].shape
    assert out.tolist() == x[idx].tolist()
    if out.numel():                                   # basic indexing is a view
        out.fill_(-1)
        y = x.copy()
        y[idx] = -1
        assert t.tolist() == y.tolist()


@st.composite
def advanced_index(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    x = np.arange(int(np.prod(shape))).reshape(shape)
    items = []
    for n in shape:
        kind = draw(st.sampled_from(["int", "slice", "array", "array"]))
        if kind == "int":
            items.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            items.append(slice(None, None, draw(st.integers(1, 2))))
        else:
            items.append(draw(hnp.arrays(np.int64, draw(st.sampled_from([(2,), (1,), (2, 1)])),
                                         elements=st.integers(-n, n - 1))))
    arrays = [it for it in items if isinstance(it, np.ndarray)]
    try:
        np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError:
        items = [it if not isinstance(it, np.ndarray) else it.reshape(-1)[:1] for it in items]
    return x, tuple(items)


@SETTINGS
@given(case=advanced_index())
def test_advanced_indexing_and_setitem(case):
    x, idx = case
    t = dg.tensor(x)
    tidx = tuple(dg.tensor(i) if isinstance(i, np.ndarray) else i for i in idx)
    # PyTorch applies integer indices first (as basic indexing), so unlike NumPy an int never joins the advanced
    # indices: x[0, :, [0, 0]] has shape (3, 2) for a (2, 3, 4) x, where NumPy gives (2, 3)
    basic = tuple(i if isinstance(i, int) else slice(None) for i in idx)
    rest = tuple(i for i in idx if not isinstance(i, int))
    expected = x[basic][rest]
    out = t[tidx]
    assert tuple(out.shape) == expected.shape
    assert out.tolist() == expected.tolist()
    y = x.copy()
    y = x.copy()
    y[basic + (Ellipsis,)][rest + (Ellipsis,)] = -7         # Ellipsis keeps a 0-d result a writable view
    t[tidx] = -7
    assert t.tolist() == y.tolist()


@SETTINGS
@given(x=hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), elements=FLOATS))
def test_boolean_mask(x):
    t = dg.tensor(x)
    m = x > 0
    assert t[dg.tensor(m)].tolist() == x[m].tolist()
    t[dg.tensor(m)] = 0
    y = x.copy()
    y[m] = 0
    assert t.tolist() == y.tolist()


@SETTINGS
@given(shapes=st.sampled_from([((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 2)), ((4, 2, 3), (3, 2)),
                               ((1, 2, 3), (4, 3, 2)), ((2, 1, 2, 3), (3, 3, 1))]),
       seed=st.integers(0, 2 ** 16))
def test_matmul(shapes, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(shapes[0]).astype(np.float32), rng.standard_normal(shapes[1]).astype(np.float32)
    out = dg.tensor(a) @ dg.tensor(b)
    assert tuple(out.shape) == np.shape(a @ b)
    np.testing.assert_allclose(out.numpy(), a @ b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("device_check", ["cpu"])
def test_hypothesis_suite_runs_on_cpu(device_check, device):
    # The property tests above use the default device; this ties the file to the `device` option for the report.
    assert dg.tensor([1.0], device=device).device.type in ("cpu", "opencl", "cuda")
