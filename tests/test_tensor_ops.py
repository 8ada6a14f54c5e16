"""Elementwise ops, comparisons, reductions, linear algebra, in-place ops, out=, and Python protocol methods."""
import math
import operator
import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import distgrad as dg

RNG = np.random.default_rng(0)
A = RNG.uniform(-2, 2, (3, 4)).astype(np.float32)
B = RNG.uniform(0.5, 2, (3, 4)).astype(np.float32)
POS = RNG.uniform(0.1, 3, (3, 4)).astype(np.float32)

UNARY = [  # name, distgrad fn, numpy fn, input
    ("neg", lambda x: -x, np.negative, A), ("neg_fn", dg.neg, np.negative, A), ("abs", dg.abs, np.abs, A),
    ("sign", dg.sign, np.sign, A), ("exp", dg.exp, np.exp, A), ("log", dg.log, np.log, POS),
    ("log2", dg.log2, np.log2, POS), ("log10", dg.log10, np.log10, POS), ("log1p", dg.log1p, np.log1p, POS),
    ("expm1", dg.expm1, np.expm1, A), ("sqrt", dg.sqrt, np.sqrt, POS), ("rsqrt", dg.rsqrt, lambda x: 1 / np.sqrt(x),
                                                                         POS),
    ("square", dg.square, np.square, A), ("sin", dg.sin, np.sin, A), ("cos", dg.cos, np.cos, A),
    ("tan", dg.tan, np.tan, A / 2), ("tanh", dg.tanh, np.tanh, A), ("sigmoid", dg.sigmoid,
                                                                   lambda x: 1 / (1 + np.exp(-x)), A),
    ("relu", dg.relu, lambda x: np.maximum(x, 0), A), ("floor", dg.floor, np.floor, A), ("ceil", dg.ceil, np.ceil, A),
    ("round", dg.round, np.round, A * 3), ("trunc", dg.trunc, np.trunc, A * 3), ("frac", dg.frac,
                                                                                 lambda x: x - np.trunc(x), A * 3),
    ("reciprocal", dg.reciprocal, np.reciprocal, POS), ("clamp", lambda x: dg.clamp(x, -0.5, 0.5),
                                                        lambda x: np.clip(x, -0.5, 0.5), A),
    ("clip_min", lambda x: x.clip(min=0.1), lambda x: np.maximum(x, 0.1), A),
    ("clamp_max", lambda x: x.clamp_max(0.2), lambda x: np.minimum(x, 0.2), A),
    ("pow_scalar", lambda x: x ** 3, lambda x: x ** 3, A), ("rpow", lambda x: 2 ** x, lambda x: 2 ** x, A),
    ("sqrt_pow", lambda x: x.pow(0.5), np.sqrt, POS),
]


@pytest.mark.parametrize("fn, ref, x", [u[1:] for u in UNARY], ids=[u[0] for u in UNARY])
def test_unary_matches_numpy(fn, ref, x, device):
    out = fn(dg.tensor(x, device=device))
    assert out.dtype == dg.float32 and out.shape == x.shape
    np.testing.assert_allclose(out.cpu().numpy(), ref(x).astype(np.float32), rtol=1e-5, atol=1e-6)


BINARY = [
    ("add", lambda a, b: a + b, np.add), ("sub", lambda a, b: a - b, np.subtract),
    ("mul", lambda a, b: a * b, np.multiply), ("div", lambda a, b: a / b, np.divide),
    ("floordiv", lambda a, b: a // b, np.floor_divide), ("mod", lambda a, b: a % b, np.mod),
    ("pow", lambda a, b: a.abs() ** b, lambda a, b: np.abs(a) ** b), ("add_fn", dg.add, np.add),
    ("sub_alpha", lambda a, b: dg.sub(a, b, alpha=2), lambda a, b: a - 2 * b),
    ("add_alpha", lambda a, b: a.add(b, alpha=0.5), lambda a, b: a + 0.5 * b),
    ("mul_fn", dg.mul, np.multiply), ("div_fn", dg.div, np.divide), ("true_divide", dg.true_divide, np.divide),
    ("fmod", dg.fmod, np.fmod), ("remainder", dg.remainder, np.mod), ("maximum", dg.maximum, np.maximum),
    ("minimum", dg.minimum, np.minimum), ("floor_divide", dg.floor_divide, np.floor_divide),
    ("div_trunc", lambda a, b: a.div(b, rounding_mode="trunc"), lambda a, b: np.trunc(a / b)),
    ("div_floor", lambda a, b: a.div(b, rounding_mode="floor"), lambda a, b: np.floor(a / b)),
    ("rsub", lambda a, b: 1 - a, lambda a, b: 1 - a), ("rdiv", lambda a, b: 1 / b, lambda a, b: 1 / b),
    ("rmod", lambda a, b: 5 % b, lambda a, b: np.mod(5, b)), ("rfloordiv", lambda a, b: 5 // b,
                                                              lambda a, b: np.floor_divide(5, b)),
]


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 1, 4), (3, 1))],
                         ids=["same", "row", "outer", "3d"])
@pytest.mark.parametrize("fn, ref", [b[1:] for b in BINARY], ids=[b[0] for b in BINARY])
def test_binary_broadcast_matches_numpy(fn, ref, shapes, device):
    a = RNG.uniform(-3, 3, shapes[0]).astype(np.float32)
    b = RNG.uniform(0.5, 2, shapes[1]).astype(np.float32) * np.where(RNG.random(shapes[1]) < 0.5, -1, 1)
    out = fn(dg.tensor(a, device=device), dg.tensor(b, device=device))
    expected = ref(a, b)
    assert tuple(out.shape) == np.broadcast_shapes(a.shape, b.shape) or tuple(out.shape) == expected.shape
    np.testing.assert_allclose(out.cpu().numpy(), expected, rtol=1e-5, atol=1e-5)


def test_integer_arithmetic(device):
    a = dg.tensor([7, -7, 5], device=device)
    assert (a // 2).tolist() == [3, -4, 2]
    assert (a % 3).tolist() == [1, 2, 2]
    assert dg.fmod(a, 3).tolist() == [1, -1, 2]
    assert (dg.tensor([3], device=device) % dg.tensor([-2], device=device)).tolist() == [-1]
    assert a.div(2, rounding_mode="trunc").tolist() == [3, -3, 2]
    assert a.div(2, rounding_mode="floor").tolist() == [3, -4, 2]
    assert a.div(2, rounding_mode="floor").dtype == dg.int64
    assert (~dg.tensor([1, 2], device=device)).tolist() == [-2, -3]
    assert (~dg.tensor([1, 2], dtype=dg.uint8, device=device)).tolist() == [254, 253]
    assert dg.tensor([1, 2], device=device).sign().tolist() == [1, 1]


def test_bitwise_ops_on_integer_tensors(device):
    assert (dg.tensor([1, 2], device=device) & dg.tensor([3, 1], device=device)).tolist() == [1, 0]
    assert (dg.tensor([1, 2], device=device) | 4).tolist() == [5, 6]
    assert (dg.tensor([1, 2], device=device) ^ 3).tolist() == [2, 1]
    a, b = dg.tensor([1, 2, -3], device=device), dg.tensor([3, 1, 5], device=device)
    assert (a & b).tolist() == [1, 0, 5] and (4 | a).tolist() == [5, 6, -3] and (a ^ 3).tolist() == [2, 1, -2]
    assert (~a).tolist() == [-2, -3, 2] and (a << 2).tolist() == [4, 8, -12] and (a >> 1).tolist() == [0, 1, -2]
    assert (1 << a.abs()).tolist() == [2, 4, 8] and (16 >> a.abs()).tolist() == [8, 4, 2]
    assert dg.bitwise_and(a, b).tolist() == [1, 0, 5] and a.bitwise_xor(b).tolist() == [2, 3, -8]
    assert a.bitwise_or(2).tolist() == [3, 2, -1] and dg.bitwise_right_shift(a, 1).tolist() == [0, 1, -2]
    assert a.bitwise_left_shift(b).tolist() == [8, 4, -96] and dg.bitwise_not(a).tolist() == [-2, -3, 2]
    # shifts by a negative amount or by the width or more: 0 to the left, the sign to the right (as PyTorch)
    assert (dg.tensor(1, device=device) << dg.tensor([64, 63, -1], device=device)).tolist() == [0, -2 ** 63, 0]
    assert (dg.tensor(-8, device=device) >> dg.tensor([64, 3, -1], device=device)).tolist() == [-1, -1, -1]
    i8 = dg.tensor([1], dtype=dg.int8, device=device)
    assert (i8 << 7).tolist() == [-128] and (i8 << 8).tolist() == [0]
    assert (~dg.tensor([1, 2], dtype=dg.uint8, device=device)).tolist() == [254, 253]


def test_bitwise_ops_promote_and_accept_bool(device):
    t, f = dg.tensor([True, False], device=device), dg.tensor([True, True], device=device)
    assert (t & f).tolist() == [True, False] and (t & f).dtype == dg.bool
    assert (t ^ True).tolist() == [False, True] and (~t).tolist() == [False, True]
    assert (t | 2).tolist() == [3, 2] and (t | 2).dtype == dg.int64 and (t << 1).tolist() == [2, 0]
    u8, i8 = dg.tensor([1], dtype=dg.uint8, device=device), dg.tensor([3], dtype=dg.int8, device=device)
    assert (u8 & i8).dtype == dg.int16 and (dg.tensor([1], dtype=dg.int32, device=device) & 3).dtype == dg.int32
    assert (dg.tensor([1], device=device) ^ 2 ** 40).tolist() == [2 ** 40 + 1]


@pytest.mark.parametrize("fn, name, dtype", [
    (lambda f, i: f & f, "bitwise_and", "Float"), (lambda f, i: f | 1, "bitwise_or", "Float"),
    (lambda f, i: f ^ f, "bitwise_xor", "Float"), (lambda f, i: f << 1, "lshift", "Float"),
    (lambda f, i: f >> 1, "rshift", "Float"), (lambda f, i: i & 1.5, "bitwise_and", "Float"),
    (lambda f, i: f.double() & i, "bitwise_and", "Double"), (lambda f, i: f.bitwise_not(), "bitwise_not", "Float"),
    (lambda f, i: dg.tensor([True], device=f.device) << dg.tensor([True], device=f.device), "lshift", "Bool"),
    (lambda f, i: i.float().bitwise_and_(1), "bitwise_and", "Float")])
def test_bitwise_ops_refuse_floats(fn, name, dtype, device):
    f, i = dg.tensor([1.5, 2.0], device=device), dg.tensor([1, 2], device=device)
    kind = dg.device(device).type
    with pytest.raises(NotImplementedError, match=f'"{name}_{kind}" not implemented for \'{dtype}\''):
        fn(f, i)
    with pytest.raises(TypeError, match=r"~ \(operator.invert\) is only implemented on integer and Boolean-type "
                                        "tensors"):
        _ = ~f


def test_bitwise_in_place(device):
    c = dg.tensor([1, 2, -3], device=device)
    same = c
    c &= 6
    assert c is same and c.tolist() == [0, 2, 4] and c._version == 1
    c |= dg.tensor([8, 8, 8], device=device)
    assert c is same and c.tolist() == [8, 10, 12]
    assert c.bitwise_and_(3) is c and c.tolist() == [0, 2, 0]
    c ^= 1
    c <<= 2
    c >>= 1
    assert c is same and c.tolist() == [2, 6, 2] and c._version == 6
    assert c.bitwise_not_() is c and c.tolist() == [-3, -7, -3]
    i = dg.tensor([1, 2], device=device)
    i &= dg.tensor([True, False], device=device)
    assert i.tolist() == [1, 0]
    flags = dg.tensor([True, False], device=device)
    with pytest.raises(RuntimeError, match="result type Long can't be cast to the desired output type Bool"):
        flags &= dg.tensor([1, 2], device=device)


def test_round_half_to_even_and_decimals(device):
    assert dg.tensor([-2.5, -0.5, 0.5, 1.5, 2.5], device=device).round().tolist() == [-2, -0, 0, 2, 2]
    np.testing.assert_allclose(dg.tensor([1.2345], device=device).round(decimals=2).cpu().numpy(), [1.23], rtol=1e-6)


def test_clamp_forms(device):
    assert dg.tensor([5.0], device=device).clamp(min=6, max=4).tolist() == [4.0]
    assert dg.clamp(dg.tensor([1, 5, 9], device=device), 2, 6).tolist() == [2, 5, 6]
    c = dg.tensor([1, 5], device=device).clamp(0.5, 2.5)
    assert c.dtype == dg.float32 and c.tolist() == [1.0, 2.5]
    x = dg.tensor([-1.0, 0.5, 2.0], device=device)
    lo, hi = dg.tensor([0.0, 0.0, 0.0], device=device), dg.tensor([1.0, 0.25, 1.0], device=device)
    assert x.clamp(lo, hi).tolist() == [0.0, 0.25, 1.0]


def test_comparisons_return_bool(device):
    a = dg.tensor([1.0, 2.0, 3.0], device=device)
    b = dg.tensor([3.0, 2.0, 1.0], device=device)
    for op, ref in [("__eq__", [False, True, False]), ("__ne__", [True, False, True]), ("__lt__", [True, False, False]),
                    ("__le__", [True, True, False]), ("__gt__", [False, False, True]), ("__ge__", [False, True, True])]:
        out = getattr(a, op)(b)
        assert out.dtype == dg.bool and out.tolist() == ref, op
    for name, ref in [("eq", [False, True, False]), ("ne", [True, False, True]), ("lt", [True, False, False]),
                      ("le", [True, True, False]), ("gt", [False, False, True]), ("ge", [False, True, True]),
                      ("greater", [False, False, True]), ("less_equal", [True, True, False]),
                      ("not_equal", [True, False, True])]:
        assert getattr(dg, name)(a, b).tolist() == ref, name
        assert getattr(a, name)(b).tolist() == ref, name
    assert (dg.tensor([1, 2], device=device) < 1.5).tolist() == [True, False]
    assert (a == 2).tolist() == [False, True, False]
    assert (2 < a).tolist() == [False, False, True]
    assert (a.view(3, 1) > b).shape == (3, 3)


def test_inf_and_nan_come_silently_as_in_pytorch():
    """NumPy warns on inf - inf, x / 0, log(-1) and overflow; PyTorch does not, so neither does the cpu backend. The
    user's own NumPy code keeps its warnings. A subprocess: pytest resets warning filters around each test."""
    code = textwrap.dedent("""
        import numpy as np, distgrad as torch
        x = torch.tensor([float("inf"), 0.0, 1.0, 2.0])
        print((x - x).tolist(), (x / 0).tolist(), torch.log(x - 1).tolist(), (torch.tensor([1e38]) * 10).tolist(),
              torch.sigmoid(torch.tensor([-1000.0])).tolist(), (torch.tensor([2.0]) ** 1000).tolist())
        try:
            np.array([np.inf]) - np.inf
        except RuntimeWarning as w:
            print("numpy:", w)
    """)
    r = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", code], capture_output=True, text=True,
                       timeout=60, check=False)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.splitlines() == ["[nan, 0.0, 0.0, 0.0] [inf, nan, inf, inf] [inf, nan, -inf, 0.0] [inf] [0.0] [inf]",
                                     "numpy: invalid value encountered in subtract"]


def test_logical_ops_and_nan_inf(device):
    t, f = dg.tensor([True, False, True], device=device), dg.tensor([True, True, False], device=device)
    assert (t & f).tolist() == [True, False, False] and (t | f).tolist() == [True, True, True]
    assert (t ^ f).tolist() == [False, True, True] and (~t).tolist() == [False, True, False]
    assert dg.logical_and(dg.tensor([1, 0], device=device), dg.tensor([2.0, 2.0], device=device)).tolist() == \
        [True, False]
    assert dg.logical_or(dg.tensor([0, 0], device=device), dg.tensor([0, 3], device=device)).tolist() == [False, True]
    assert dg.logical_not(dg.tensor([0.0, 2.0], device=device)).tolist() == [True, False]
    assert dg.logical_xor(t, f).dtype == dg.bool
    x = dg.tensor([1.0, math.inf, -math.inf, math.nan], device=device)
    assert x.isnan().tolist() == [False, False, False, True]
    assert x.isinf().tolist() == [False, True, True, False]
    assert x.isfinite().tolist() == [True, False, False, False]
    assert dg.isnan(dg.tensor([1, 2], device=device)).tolist() == [False, False]
    with pytest.raises(RuntimeError, match="Negation, the `-` operator, on a bool tensor is not supported"):
        _ = -t


def test_broadcast_error_names_sizes(device):
    with pytest.raises(RuntimeError, match=r"The size of tensor a \(2\) must match the size of tensor b \(4\) at "
                                           r"non-singleton dimension 0"):
        dg.ones(2, 3, device=device) + dg.ones(4, 3, device=device)
    with pytest.raises(RuntimeError, match="The size of tensor a"):
        dg.ones(3, device=device) * dg.ones(2, device=device)
    assert dg.broadcast_shapes((2, 1), (3,)) == (2, 3)
    x, y = dg.broadcast_tensors(dg.ones(2, 1, device=device), dg.zeros(3, device=device))
    assert x.shape == y.shape == (2, 3)


# ------------------------------------------------------------------------------------------------------- reductions

M = np.array([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]], dtype=np.float32)
R3 = RNG.uniform(-2, 2, (2, 3, 4)).astype(np.float32)

REDUCTIONS = [  # name, distgrad fn, numpy fn
    ("sum", lambda x: x.sum(), lambda x: x.sum()), ("sum1", lambda x: x.sum(1), lambda x: x.sum(1)),
    ("sum_tuple", lambda x: x.sum((0, 2)), lambda x: x.sum((0, 2))),
    ("sum_keep", lambda x: x.sum(-1, keepdim=True), lambda x: x.sum(-1, keepdims=True)),
    ("mean", lambda x: x.mean(), lambda x: x.mean()), ("mean_tuple", lambda x: x.mean((0, 1), keepdim=True),
                                                       lambda x: x.mean((0, 1), keepdims=True)),
    ("prod", lambda x: x.prod(), lambda x: x.prod()), ("prod1", lambda x: x.prod(1, keepdim=True),
                                                       lambda x: x.prod(1, keepdims=True)),
    ("amax", lambda x: x.amax(), lambda x: x.max()), ("amax_t", lambda x: x.amax((0, 2)), lambda x: x.max((0, 2))),
    ("amin", lambda x: x.amin(1, keepdim=True), lambda x: x.min(1, keepdims=True)),
    ("max", lambda x: x.max(), lambda x: x.max()), ("min", lambda x: x.min(), lambda x: x.min()),
    ("argmax", lambda x: x.argmax(), lambda x: x.argmax()), ("argmax1", lambda x: x.argmax(1), lambda x: x.argmax(1)),
    ("argmin_keep", lambda x: x.argmin(2, keepdim=True), lambda x: x.argmin(2)[..., None]),
    ("cumsum", lambda x: x.cumsum(1), lambda x: x.cumsum(1)), ("cumprod", lambda x: x.cumprod(-1),
                                                               lambda x: x.cumprod(-1)),
    ("var", lambda x: x.var(), lambda x: x.var(ddof=1)), ("var_1", lambda x: x.var(1), lambda x: x.var(1, ddof=1)),
    ("var_biased", lambda x: x.var(1, unbiased=False), lambda x: x.var(1)),
    ("var_corr0", lambda x: x.var((0, 1), correction=0, keepdim=True), lambda x: x.var((0, 1), keepdims=True)),
    ("std", lambda x: x.std(), lambda x: x.std(ddof=1)), ("std_0", lambda x: x.std(0, correction=0),
                                                          lambda x: x.std(0)),
    ("norm", lambda x: x.norm(), lambda x: np.sqrt((x ** 2).sum())),
    ("norm_p1", lambda x: x.norm(p=1, dim=1), lambda x: np.abs(x).sum(1)),
    ("norm_inf", lambda x: x.norm(p=float("inf"), dim=0), lambda x: np.abs(x).max(0)),
    ("norm_keep", lambda x: x.norm(dim=-1, keepdim=True), lambda x: np.sqrt((x ** 2).sum(-1, keepdims=True))),
    ("logsumexp", lambda x: x.logsumexp(1), lambda x: np.log(np.exp(x).sum(1))),
    ("logsumexp_t", lambda x: dg.logsumexp(x, (0, 2), keepdim=True),
     lambda x: np.log(np.exp(x).sum((0, 2), keepdims=True))),
    ("max_dim_values", lambda x: x.max(1).values, lambda x: x.max(1)), ("min_dim_idx", lambda x: x.min(0)[1],
                                                                        lambda x: x.argmin(0)),
    ("max_keep", lambda x: x.max(dim=2, keepdim=True)[0], lambda x: x.max(2, keepdims=True)),
]


@pytest.mark.parametrize("fn, ref", [r[1:] for r in REDUCTIONS], ids=[r[0] for r in REDUCTIONS])
def test_reductions_match_numpy(fn, ref, device):
    out = fn(dg.tensor(R3, device=device))
    expected = np.asarray(ref(R3))
    assert tuple(out.shape) == expected.shape
    np.testing.assert_allclose(out.cpu().numpy(), expected, rtol=1e-5, atol=1e-5)


def test_max_min_named_tuples(device):
    x = dg.tensor(M, device=device)
    r = x.max(dim=1)
    assert r.values.tolist() == [5, 6] and r.indices.tolist() == [1, 2]
    values, indices = x.min(0)
    assert values.tolist() == [1, 2, 3] and indices.tolist() == [0, 1, 0]
    assert type(r).__name__ == "max" and indices.dtype == dg.int64
    assert x.max().shape == () and x.max().item() == 6
    assert dg.max(x, 1, keepdim=True).values.shape == (2, 1)
    assert dg.max(x, dg.zeros(3, device=device)).shape == (2, 3)      # binary form is maximum
    assert x.argmax().item() == 5 and x.argmax(1, keepdim=True).tolist() == [[1], [2]]


def test_reduction_edge_cases(device):
    with pytest.raises(RuntimeError, match=r"max\(\): Expected reduction dim to be specified for input.numel\(\) == 0"):
        dg.empty(0, device=device).max()
    with pytest.raises(RuntimeError, match=r"^amin\(\): Expected reduction dim to be specified"):
        dg.empty(0, device=device).amin()
    with pytest.raises(IndexError, match=r"max\(\): Expected reduction dim 0 to have non-zero size\."):
        dg.empty(0, 3, device=device).max(0)
    with pytest.raises(IndexError, match=r"argmax\(\): Expected reduction dim to be specified for input.numel"):
        dg.empty(0, device=device).argmax()
    assert dg.empty(0, 3, device=device).sum(0).tolist() == [0, 0, 0]
    assert math.isnan(dg.empty(0, device=device).mean().item())
    assert math.isnan(dg.tensor([1.0, math.nan], device=device).max().item())
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 3\)"):
        dg.ones(2, 3, device=device).sum(3)
    assert dg.tensor([1.0, 2.0], device=device).sum(dim=(0,)).item() == 3
    assert dg.nansum(dg.tensor([1.0, math.nan], device=device)).item() == 1.0


def test_all_any(device):
    x = dg.tensor([[1, 0], [1, 1]], device=device)
    assert x.all(1).tolist() == [False, True] and x.all().item() is False
    assert x.any(1).dtype == dg.bool and x.any(0, keepdim=True).tolist() == [[True, True]]
    assert dg.tensor([[0, 0]], device=device).any().item() is False
    assert dg.all(dg.ones(3, device=device) > 0).item() is True
    assert dg.count_nonzero(x).item() == 3


def test_sort_topk(device):
    x = dg.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]], device=device)
    v, i = x.sort(1)
    assert v.tolist() == [[1, 2, 3], [0, 4, 5]] and i.tolist() == [[1, 2, 0], [0, 2, 1]]
    assert x.sort(1, descending=True).values.tolist() == [[3, 2, 1], [5, 4, 0]]
    assert x.argsort(0).tolist() == [[1, 0, 0], [0, 1, 1]]
    t = x.topk(2)
    assert t.values.tolist() == [[3, 2], [5, 4]] and t.indices.tolist() == [[0, 2], [1, 2]]


# ---------------------------------------------------------------------------------------------------- linear algebra

@pytest.mark.parametrize("sa, sb", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
                                    ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((5, 2, 3), (5, 3, 4)),
                                    ((2, 1, 2, 3), (5, 3, 4)), ((3,), (5, 3, 4)), ((5, 2, 3), (3,))])
def test_matmul_shapes_match_numpy(sa, sb, device):
    a, b = RNG.standard_normal(sa).astype(np.float32), RNG.standard_normal(sb).astype(np.float32)
    out = dg.tensor(a, device=device) @ dg.tensor(b, device=device)
    expected = a @ b
    assert tuple(out.shape) == np.shape(expected)
    np.testing.assert_allclose(out.cpu().numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dg.matmul(dg.tensor(a, device=device), dg.tensor(b, device=device)).cpu().numpy(),
                               expected, rtol=1e-5, atol=1e-5)


def test_matmul_on_transposed_operands(device):
    a = RNG.standard_normal((4, 3)).astype(np.float32)
    out = dg.tensor(a, device=device).t() @ dg.tensor(a, device=device)
    np.testing.assert_allclose(out.cpu().numpy(), a.T @ a, rtol=1e-5, atol=1e-5)


def test_matmul_errors(device):
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x3\)"):
        dg.ones(2, 3, device=device) @ dg.ones(4, 3, device=device)
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 2x3\)"):
        dg.ones(2, 3, device=device).mm(dg.ones(2, 3, device=device))
    with pytest.raises(RuntimeError, match=r"inconsistent tensor size, expected tensor \[3\] and src \[4\] to have "
                                           r"the same number of elements, but got 3 and 4 elements respectively"):
        dg.ones(3, device=device).dot(dg.ones(4, device=device))
    with pytest.raises(RuntimeError, match=r"Expected size for first two dimensions of batch2 tensor to be: \[2, 3\] "
                                           r"but got: \[3, 3\]\."):
        dg.ones(2, 2, 3, device=device).bmm(dg.ones(3, 3, 2, device=device))
    with pytest.raises(RuntimeError, match="expected"):
        dg.ones(2, 3, device=device) @ dg.ones(3, 2, dtype=dg.float64, device=device)


def test_mm_bmm_addmm_dot_outer(device):
    a, b = RNG.standard_normal((2, 3)).astype(np.float32), RNG.standard_normal((3, 4)).astype(np.float32)
    c = RNG.standard_normal((2, 4)).astype(np.float32)
    ta, tb, tc = (dg.tensor(v, device=device) for v in (a, b, c))
    np.testing.assert_allclose(ta.mm(tb).cpu().numpy(), a @ b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dg.addmm(tc, ta, tb).cpu().numpy(), c + a @ b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dg.addmm(tc, ta, tb, beta=0.5, alpha=2).cpu().numpy(), 0.5 * c + 2 * (a @ b), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(dg.addmm(tc[0], ta, tb).cpu().numpy(), c[0] + a @ b, rtol=1e-5, atol=1e-5)
    ba, bb = RNG.standard_normal((5, 2, 3)).astype(np.float32), RNG.standard_normal((5, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(dg.bmm(dg.tensor(ba, device=device), dg.tensor(bb, device=device)).cpu().numpy(),
                               ba @ bb, rtol=1e-5, atol=1e-5)
    v, w = np.array([1.0, 2.0, 3.0], np.float32), np.array([4.0, 5.0], np.float32)
    assert dg.tensor(v, device=device).dot(dg.tensor(v, device=device)).item() == 14.0
    assert dg.outer(dg.tensor(v, device=device), dg.tensor(w, device=device)).tolist() == np.outer(v, w).tolist()
    assert dg.tensor([1, 2], device=device).dot(dg.tensor([3, 4], device=device)).item() == 11


def test_trace_diag_triu_tril(device):
    m = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = dg.tensor(m, device=device)
    assert t.trace().item() == np.trace(m)
    assert dg.ones(3, 4, device=device).diag(1).tolist() == [1, 1, 1]
    assert t.diag().tolist() == np.diag(m).tolist() and t.diag(-1).tolist() == np.diag(m, -1).tolist()
    assert dg.tensor([1.0, 2.0], device=device).diag(-1).tolist() == np.diag([1.0, 2.0], -1).tolist()
    assert dg.tensor([1.0, 2.0], device=device).diag(1).tolist() == np.diag([1.0, 2.0], 1).tolist()
    for k in (-1, 0, 1, 2):
        assert t.triu(k).tolist() == np.triu(m, k).tolist(), k
        assert dg.tril(t, k).tolist() == np.tril(m, k).tolist(), k
    b = dg.tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4), device=device)
    assert b.triu(1).tolist() == np.triu(np.arange(24, dtype=np.float32).reshape(2, 3, 4), 1).tolist()
    assert t.diagonal().tolist() == np.diagonal(m).tolist()


# ------------------------------------------------------------------------------------------------- in-place and out=

def test_inplace_ops_write_into_self(device):
    x = dg.tensor([1.0, 2.0, 3.0], device=device)
    ptr = x.data_ptr()
    assert x.add_(1) is x and x.tolist() == [2, 3, 4]
    x.sub_(dg.tensor([1.0, 1.0, 1.0], device=device), alpha=2)
    assert x.tolist() == [0, 1, 2]
    x.mul_(3)
    assert x.tolist() == [0, 3, 6]
    x.div_(2)
    assert x.tolist() == [0, 1.5, 3]
    x.clamp_(max=2)
    assert x.tolist() == [0, 1.5, 2]
    x.clamp_(min=1, max=1.8)
    assert x.tolist() == [1, 1.5, 1.8] or np.allclose(x.tolist(), [1, 1.5, 1.8])
    x.fill_(7)
    assert x.tolist() == [7, 7, 7]
    x.zero_()
    assert x.tolist() == [0, 0, 0]
    x.copy_(dg.tensor([1, 2, 3], device=device))
    assert x.tolist() == [1, 2, 3] and x.dtype == dg.float32
    x.pow_(2)
    assert x.tolist() == [1, 4, 9]
    x.sqrt_().neg_().abs_()
    assert x.tolist() == [1, 2, 3]
    x.exp_().log_()
    np.testing.assert_allclose(x.cpu().numpy(), [1, 2, 3], rtol=1e-6)
    assert x.data_ptr() == ptr


def test_inplace_broadcasts_other_but_not_self(device):
    x = dg.ones(2, 3, device=device)
    x.add_(dg.tensor([1.0, 2.0, 3.0], device=device))
    assert x.tolist() == [[2, 3, 4], [2, 3, 4]]
    x.copy_(dg.tensor([5.0, 6.0, 7.0], device=device))
    assert x.tolist() == [[5, 6, 7], [5, 6, 7]]
    with pytest.raises(RuntimeError, match=r"output with shape \[1, 2\] doesn't match the broadcast shape \[2, 2\]"):
        dg.ones(1, 2, device=device).add_(dg.ones(2, 1, device=device))


def test_inplace_on_view_writes_base(device):
    x = dg.zeros(3, 4, device=device)
    x[1].add_(1)
    x[:, 2].mul_(0).add_(5)
    x.t()[0].fill_(-1)
    assert x.tolist() == [[-1, 0, 5, 0], [-1, 1, 5, 1], [-1, 0, 5, 0]]


def test_more_inplace_ops(device):
    x = dg.tensor([-1.5, 0.5, 2.5], device=device)
    assert x.clone().relu_().tolist() == [0, 0.5, 2.5]
    assert x.clone().floor_().tolist() == [-2, 0, 2]
    np.testing.assert_allclose(x.clone().sigmoid_().cpu().numpy(), 1 / (1 + np.exp(-np.array([-1.5, 0.5, 2.5]))),
                               rtol=1e-6)
    np.testing.assert_allclose(x.clone().tanh_().cpu().numpy(), np.tanh([-1.5, 0.5, 2.5]), rtol=1e-6)
    y = dg.ones(3, device=device)
    y.addcmul_(dg.tensor([1.0, 2.0, 3.0], device=device), dg.tensor([2.0, 2.0, 2.0], device=device), value=0.5)
    assert y.tolist() == [2, 3, 4]
    y.addcdiv_(dg.tensor([2.0, 2.0, 2.0], device=device), dg.tensor([2.0, 1.0, 4.0], device=device), value=2)
    assert y.tolist() == [4, 7, 5]
    y.lerp_(dg.zeros(3, device=device), 0.5)
    assert y.tolist() == [2, 3.5, 2.5]
    assert y.masked_fill_(y > 2.2, 0).tolist() == [2, 0, 0]


def test_out_argument(device):
    a, b = dg.tensor([1.0, 2.0], device=device), dg.tensor([3.0, 4.0], device=device)
    out = dg.empty(2, device=device)
    r = dg.add(a, b, out=out)
    assert r is out and out.tolist() == [4, 6]
    dg.mul(a, b, out=out)
    assert out.tolist() == [3, 8]
    dg.exp(dg.zeros(2, device=device), out=out)
    assert out.tolist() == [1, 1]
    s = dg.empty(0, device=device)
    dg.sum(dg.ones(2, 3, device=device), 1, out=s)
    assert s.tolist() == [3, 3]
    m = dg.empty(2, 2, device=device)
    dg.matmul(dg.eye(2, device=device), dg.ones(2, 2, device=device), out=m)
    assert m.tolist() == [[1, 1], [1, 1]]
    c = dg.empty(4, device=device)
    dg.cat([a, b], out=c)
    assert c.tolist() == [1, 2, 3, 4]
    st = dg.empty(2, 2, device=device)
    dg.stack([a, b], out=st)
    assert st.tolist() == [[1, 2], [3, 4]]


# ---------------------------------------------------------------------------------------------- Python protocols

def test_item_tolist_and_scalars(device):
    assert dg.tensor(3.5, device=device).item() == 3.5
    assert isinstance(dg.tensor([2], device=device).item(), int)
    assert isinstance(dg.tensor([True], device=device).item(), bool)
    assert dg.tensor(3.5, device=device).tolist() == 3.5
    assert dg.tensor([[1, 2]], device=device).tolist() == [[1, 2]]
    assert float(dg.tensor([2.5], device=device)) == 2.5 and int(dg.tensor([2.5], device=device)) == 2
    with pytest.raises(RuntimeError, match="a Tensor with 6 elements cannot be converted to Scalar"):
        dg.ones(2, 3, device=device).item()
    with pytest.raises(RuntimeError, match="a Tensor with 0 elements cannot be converted to Scalar"):
        dg.ones(0, device=device).item()
    with pytest.raises(ValueError, match="only one element tensors can be converted to Python scalars"):
        float(dg.tensor([2.5, 1.0], device=device))
    assert [10, 20, 30][dg.tensor(1, device=device)] == 20
    assert f"{dg.tensor(2.5, device=device):.2f}" == "2.50"


def test_size_shape_dim_numel(device):
    x = dg.ones(2, 3, device=device)
    assert isinstance(x.shape, dg.Size) and isinstance(x.shape, tuple) and x.size() == x.shape
    assert x.shape == (2, 3) and x.shape == dg.Size([2, 3]) and list(x.shape) == [2, 3]
    assert isinstance(x.shape[0:1] + (4,), dg.Size)
    assert x.size(1) == 3 and x.size(-1) == 3 and x.shape[-2] == 2
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"):
        x.size(2)
    assert x.dim() == 2 and x.ndim == 2 and x.numel() == 6 and dg.numel(x) == 6
    assert dg.Size([2, 3]).numel() == 6
    assert dg.tensor(1.0, device=device).dim() == 0 and dg.tensor(1.0, device=device).numel() == 1
    assert x.element_size() == 4
    assert x.device.type == "cpu" or str(x.device) == device
    assert dg.is_tensor(x) and not dg.is_tensor([1]) and dg.is_floating_point(x)


def test_len_iter_bool(device):
    x = dg.arange(6, device=device).view(3, 2)
    assert len(x) == 3
    assert [r.tolist() for r in x] == [[0, 1], [2, 3], [4, 5]]
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(dg.tensor(1.0, device=device))
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        iter(dg.tensor(1.0, device=device))
    assert bool(dg.tensor([1], device=device)) and not bool(dg.tensor(0.0, device=device))
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with more than one value is ambiguous"):
        bool(dg.ones(2, device=device))
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with more than one value is ambiguous"):
        if dg.ones(2, device=device) > 0:
            pass


def test_misc_helpers(device):
    a = dg.tensor([1.0, 2.0], device=device)
    assert dg.allclose(a, a + 1e-7) and not dg.allclose(a, a + 1)
    assert dg.equal(a, a.clone()) and not dg.equal(a, a + 1)
    assert dg.isclose(a, dg.tensor([1.0, 2.1], device=device)).tolist() == [True, False]
    assert a.type_as(dg.zeros(1, dtype=dg.int32)).dtype == dg.int32
    assert a.softmax(0).sum().item() == pytest.approx(1.0)
    np.testing.assert_allclose(a.log_softmax(0).cpu().numpy(), np.log(np.exp([1, 2]) / np.exp([1, 2]).sum()), rtol=1e-6)
    assert hash(a) != hash(a.clone())
    assert a in {a}


def test_errors_are_never_raw_numpy(device):
    x = dg.ones(2, 3, device=device)
    cases = [lambda: x.view(4), lambda: x.reshape(7), lambda: x + dg.ones(3, 2, device=device),
             lambda: x @ x, lambda: x[2], lambda: x.sum(5), lambda: x.permute(0, 0), lambda: x.expand(3, 3),
             lambda: x.gather(1, dg.tensor([[5]], device=device)).tolist(), lambda: dg.cat([x, dg.ones(3, device=device)]),
             lambda: x.unsqueeze(5), lambda: x.split([1, 1], 1), lambda: x.narrow(0, 1, 5)]
    for i, case in enumerate(cases):
        with pytest.raises((RuntimeError, IndexError, ValueError, TypeError)) as info:
            case()
        tb = info.traceback
        assert not any("numpy" in str(entry.path) for entry in tb), f"case {i}: {info.value!r} came from numpy"


def test_python_inplace_operators_act_in_place(device):
    i = dg.tensor([7, -7, 5], device=device)
    same = i
    i //= 2
    assert i is same and i.tolist() == [3, -4, 2] and i._version == 1
    i %= 3
    assert i is same and i.tolist() == [0, 2, 2] and i._version == 2
    i **= 2
    i += 1
    i -= 2
    i *= 3
    assert i is same and i.tolist() == [-3, 9, 9] and i._version == 6
    f = dg.tensor([4.0, 9.0], device=device)
    same = f
    f **= 0.5
    f /= 2
    f %= 1.25
    assert f is same and f.tolist() == [1.0, 0.25] and f._version == 3
    for op in (operator.iadd, operator.isub, operator.imul, operator.itruediv, operator.ifloordiv, operator.imod,
               operator.ipow):
        k = dg.tensor([1, 2], device=device)
        with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
            op(k, 1.5)
    with pytest.raises(RuntimeError, match="Integers to negative integer powers are not allowed."):
        k **= -1


def test_python_inplace_operators_under_autograd(device):
    x = dg.tensor([1.0, 2.0], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation."):
        x += 1
    y = x * 2
    same = y
    y *= x                                     # the overwritten y is kept for x's gradient: d(2x * x) = 4x
    y += 1
    y /= 2
    assert y is same and type(y.grad_fn).__name__ == "DivBackward0"
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]
    x.grad = None
    z = x * 1
    z[0] += 10                                 # getitem view += then setitem, as Python runs it
    (z * z).sum().backward()
    assert z.tolist() == [11.0, 2.0] and x.grad.tolist() == [22.0, 4.0]


OVERLAP = ("^unsupported operation: more than one element of the written-to tensor refers to a single memory "
           r"location. Please clone\(\) the tensor before performing the operation.$")
OVERLAPPING_WRITES = {
    "add_": lambda e: e.add_(1), "mul_": lambda e: e.mul_(2), "sub_": lambda e: e.sub_(dg.ones(3, device=e.device)),
    "div_": lambda e: e.div_(2), "pow_": lambda e: e.pow_(2), "neg_": lambda e: e.neg_(), "exp_": lambda e: e.exp_(),
    "relu_": lambda e: e.relu_(), "clamp_": lambda e: e.clamp_(0, 1), "copy_": lambda e: e.copy_(dg.ones(2, 3)),
    "uniform_": lambda e: e.uniform_(), "normal_": lambda e: e.normal_(), "bernoulli_": lambda e: e.bernoulli_(),
    "fill_ tensor": lambda e: e.fill_(dg.tensor(1.0)), "addcmul_": lambda e: e.addcmul_(e, e),
    "scatter_": lambda e: e.scatter_(1, dg.tensor([[0], [1]], device=e.device), 1.0),
    "setitem slice": lambda e: e.__setitem__(slice(None), 1.0), "transposed": lambda e: e.t().add_(1),
    "dropout inplace": lambda e: dg.nn.functional.dropout(e, 0.5, inplace=True),
    "nonleaf under autograd": lambda e: (e * dg.ones(1, requires_grad=True, device=e.device)).expand(2, 2, 3).add_(1),
}


@pytest.mark.parametrize("name", OVERLAPPING_WRITES)
def test_inplace_write_into_expanded_tensor_raises(name, device):
    base = dg.zeros(3, device=device)
    with pytest.raises(RuntimeError, match=OVERLAP):
        OVERLAPPING_WRITES[name](base.expand(2, 3))
    assert base.tolist() == [0.0, 0.0, 0.0] and base._version == 0


def test_overlapping_writes_pytorch_allows_or_only_warns_about(device):
    base = dg.zeros(3, device=device)
    e = base.expand(2, 3)
    assert e.fill_(2.0) is e and e.zero_() is e          # filling is idempotent: PyTorch skips the test
    e[0] = 5.0                                           # the written window e[0] does not overlap itself
    e[1].add_(1)
    assert base.tolist() == [6.0, 6.0, 6.0]
    assert dg.zeros(3, 1, device=device).expand(3, 1).add_(1).tolist() == [[1.0]] * 3     # stride 0 on a dim of size 1
    assert dg.zeros(3, device=device).expand(0, 3).add_(1).shape == (0, 3)
    with pytest.warns(UserWarning, match=r"^Use of masked_fill_ on expanded tensors is deprecated. Please clone\(\) "
                                         r"the tensor before performing this operation. This also applies to advanced "
                                         r"indexing e.g. tensor\[mask\] = scalar$") as caught:
        e.masked_fill_(dg.tensor([True, False, True], device=device), 1.0)
    assert caught[0].filename == __file__
    index_put = r"^Use of index_put_ on expanded tensors is deprecated. .* e.g. tensor\[indices\] = tensor$"
    with pytest.warns(UserWarning, match=index_put) as caught:
        e[dg.tensor([0], device=device)] = 3.0
    with pytest.warns(UserWarning, match=index_put) as caught_too:
        e.index_put_((dg.tensor([1], device=device),), dg.tensor(4.0, device=device))
    assert caught[0].filename == caught_too[0].filename == __file__        # the warnings point at the caller
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e[0, dg.tensor([0, 2], device=device)] = 5.0     # index_put_ on the slice e[0], which does not overlap
    assert base.tolist() == [5.0, 4.0, 5.0]


INPUT_OVERLAP = ("^unsupported operation: some elements of the input tensor and the written-to tensor refer to a single "
                 r"memory location. Please clone\(\) the tensor before performing the operation.$")
# x is arange(1., 7.); each of these raises INPUT_OVERLAP in PyTorch 2.13
PARTIAL_OVERLAPS = {
    "add_": lambda x: x[1:].add_(x[:-1]), "add_ alpha": lambda x: x[1:].add_(x[:-1], alpha=2),
    "sub_": lambda x: x[1:].sub_(x[:-1]), "mul_": lambda x: x[1:].mul_(x[:-1]), "div_": lambda x: x[1:].div_(x[:-1]),
    "div_ floor": lambda x: x[1:].div_(x[:-1], rounding_mode="floor"), "pow_": lambda x: x[1:].pow_(x[:-1]),
    "floor_divide_": lambda x: x[1:].floor_divide_(x[:-1]), "remainder_": lambda x: x[1:].remainder_(x[:-1]),
    "+=": lambda x: x[1:].__iadd__(x[:-1]), "copy_": lambda x: x[1:].copy_(x[:-1]),
    "copy_ 0-d inside": lambda x: x[1:].copy_(x[2]), "copy_ broadcast row": lambda x: x.view(2, 3).copy_(x[:3]),
    "copy_ transposed": lambda x: x[:4].view(2, 2).copy_(x[:4].view(2, 2).t()),
    "add_ reshaped": lambda x: x.view(2, 3).add_(x.view(3, 2).t()), "add_ 0-d inside": lambda x: x.view(2, 3).add_(x[0]),
    "clamp_ min": lambda x: x[1:].clamp_(x[:-1]), "clamp_ max": lambda x: x[1:].clamp_(max=x[:-1]),
    "lerp_": lambda x: x[1:].lerp_(x[:-1], 0.5), "addcmul_": lambda x: x[1:].addcmul_(x[:-1], dg.ones(5, device=x.device)),
    "addcdiv_": lambda x: x[1:].addcdiv_(dg.ones(5, device=x.device), x[:-1]),
    "bitwise_and_": lambda x: (n := x.long())[1:].bitwise_and_(n[:-1]),
    "masked_fill_ mask": lambda x: (m := x > 1)[1:].masked_fill_(m[:-1], True),
    "setitem": lambda x: x.__setitem__(slice(1, 3), x[:2]),
    "setitem advanced": lambda x: x.__setitem__(dg.tensor([1, 2], device=x.device), x[:2]),
    "setitem advanced 0-d": lambda x: x.__setitem__(dg.tensor([1, 2], device=x.device), x[0]),
    "index_put_ accumulate": lambda x: x[1:].index_put_((dg.tensor([0, 1], device=x.device),), x[:2], accumulate=True),
    # these refuse even the very same view (PyTorch's assert_no_overlap)
    "scatter_ same src": lambda x: x.scatter_(0, dg.tensor([1, 0, 2, 3, 4, 5], device=x.device), x),
    "scatter_add_ index": lambda x: (n := x.long())[1:4].scatter_add_(0, n[:2], n[4:]),
    "index_add_ same source": lambda x: x.index_add_(0, dg.tensor([1, 0, 2, 3, 4, 5], device=x.device), x),
    "index_put_ same values": lambda x: x.index_put_((dg.tensor([1, 0, 2, 3, 4, 5], device=x.device),), x),
}


@pytest.mark.parametrize("name", PARTIAL_OVERLAPS)
def test_inplace_input_overlapping_the_output_raises(name, device):
    x = dg.arange(1.0, 7.0, device=device)
    with pytest.raises(RuntimeError, match=INPUT_OVERLAP):
        PARTIAL_OVERLAPS[name](x)
    assert x.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0] and x._version == 0


def test_inplace_input_overlap_under_autograd(device):
    leaf = dg.arange(6.0, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="^a view of a leaf Variable"):      # PyTorch's autograd check comes first
        leaf[1:].add_(leaf[:-1])
    y = leaf * 1
    with pytest.raises(RuntimeError, match=INPUT_OVERLAP):
        y[1:].add_(y[:-1])
    assert y[1:].add_(leaf[:-1]).tolist() == [1.0, 3.0, 5.0, 7.0, 9.0]     # another tensor's memory


def test_inplace_inputs_pytorch_lets_share_memory(device):
    def x(n=6):
        return dg.arange(float(n), device=device)
    a = x()
    assert a.add_(a).tolist() == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]                     # the very same view
    a = x()
    assert a.mul_(a[:]).tolist() == [0.0, 1.0, 4.0, 9.0, 16.0, 25.0]
    assert x().copy_(x()[:]).tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    a = x()
    assert a[:3].add_(a[3:]).tolist() == [3.0, 5.0, 7.0]                               # disjoint
    a = x()
    assert a[::2].add_(a[1::2]).tolist() == [1.0, 5.0, 9.0]                           # not dense: too hard to judge
    a = x()
    assert a[:3].add_(a[::2]).tolist() == [0.0, 3.0, 6.0]
    a = x()
    assert a[1:].add_(a[0]).tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]                      # 0-d outside the output
    a = x()
    assert a[1:].add_(a[0].expand(5)).tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    a = x()
    assert a.clamp_(a, a).tolist() == a.tolist() and a.lerp_(a, 0.5).tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    a = x()
    a[1:3] = a[1]                                          # PyTorch's setitem fills from a 0-d value
    assert a.tolist() == [0.0, 1.0, 1.0, 3.0, 4.0, 5.0]
    a = x(9)
    a.view(3, 3)[:] = a[:3]                                # a broadcast value is not dense
    assert a.tolist() == [0.0, 1.0, 2.0] * 3
    a = dg.tensor([0, 1, 0, 1], device=device)
    assert a[2:].scatter_(0, a[:2], 7).tolist() == [7, 7]
    m = dg.tensor([True, False, True], device=device)
    assert m.masked_fill_(m, False).tolist() == [False] * 3


INPLACE_UNARY = ["neg", "abs", "exp", "log", "log2", "log10", "log1p", "expm1", "sqrt", "rsqrt", "square", "reciprocal",
                 "relu", "sigmoid", "tanh", "sin", "cos", "tan", "erf", "sign", "floor", "ceil", "trunc", "frac", "round"]


@pytest.mark.parametrize("name", INPLACE_UNARY)
def test_inplace_unary_writes_self_and_differentiates(name, device):
    x = dg.tensor([0.3, 1.7, 2.5], dtype=dg.float64, device=device, requires_grad=True)
    y = x * 1
    version = y._version
    assert getattr(y, name + "_")() is y and y._version == version + 1
    want = getattr(x.detach(), name)()
    np.testing.assert_allclose(y.detach().cpu().numpy(), want.cpu().numpy(), rtol=1e-12)
    y.sum().backward()
    x2 = x.detach().clone().requires_grad_()
    getattr(x2, name)().sum().backward()  # the out-of-place op's gradient, checked by gradcheck in CASES
    np.testing.assert_allclose(x.grad.cpu().numpy(), x2.grad.cpu().numpy(), rtol=1e-12)
    assert getattr(dg.Tensor, name + "_").__name__ == name + "_"


@pytest.mark.parametrize("op, message", [
    (lambda a, w: a.mm(w), "expected m1 and m2 to have the same dtype, but got: long int != float"),
    (lambda a, w: a[None].bmm(w[None]), "expected scalar type Long but found Float"),
    (lambda a, w: a[0].dot(w[0]), "dot : expected both vectors to have same dtype, but found Long and Float"),
    (lambda a, w: dg.addmm(w[0], a, w), "mat1 and mat2 must have the same dtype, but got Long and Float"),
    (lambda a, w: dg.addmm(a[0], w, w), "self and mat2 must have the same dtype, but got Long and Float"),
    (lambda a, w: dg.nn.functional.linear(a.double(), w, w[0]),
     "mat1 and mat2 must have the same dtype, but got Double and Float"),
], ids=["mm", "bmm", "dot", "addmm", "addmm-self", "linear"])
def test_matmul_dtype_mismatch_messages(device, op, message):
    # the messages PyTorch 2.13 gives for an int64 / float64 operand against float32 ones
    a, w = dg.ones(2, 2, dtype=dg.int64, device=device), dg.ones(2, 2, device=device)
    with pytest.raises(RuntimeError, match=re.escape(message)):
        op(a, w)
