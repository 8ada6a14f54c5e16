"""Every backend primitive on every backend, against the NumPy backend, on strided, broadcast and offset Views.

The only test file that calls backends directly. It runs on cpu and on each OpenCL device found; with
DISTGRAD_TEST_OCLGRIND=1 the tests marked `oclgrind` also run on the oclgrind simulator (ids `oclgrind:N`, select them
with `-k oclgrind:`), where any out-of-bounds access or data race that oclgrind reports fails the test. Run this file
alone then: the platform list is read once per process. tests/test_oclgrind.py does that in a subprocess.
"""
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distgrad.backends import base, cpu
from distgrad.backends import opencl as ocl
from distgrad.backends.base import View

if os.environ.get("DISTGRAD_TEST_OCLGRIND") == "1":
    os.environ["DISTGRAD_OPENCL_OCLGRIND"] = "1"
    os.environ["OCLGRIND_DATA_RACES"] = "1"
    # oclgrind writes its reports here instead of stderr, so that the `oclgrind_log` fixture can fail the test
    os.environ.setdefault("OCLGRIND_LOG", tempfile.mkstemp(prefix="distgrad-oclgrind-", suffix=".log")[1])

CPU = cpu.open_device(None)
F32 = {"rtol": 2e-5, "atol": 2e-6}


def _backend_ids() -> tuple[list[str], list[str]]:
    """(devices for every test, extra devices for tests marked oclgrind)."""
    infos = ocl.devices()
    plain = ["cpu"] + [f"opencl:{i.index}" for i in infos if i.platform != "Oclgrind"]
    return plain, [f"opencl:{i.index}" for i in infos if i.platform == "Oclgrind"]


def pytest_generate_tests(metafunc):
    if "be" in metafunc.fixturenames:
        plain, grind = _backend_ids()
        mark = metafunc.definition.get_closest_marker("oclgrind")
        grind = grind if mark else []
        plain = [] if mark and mark.kwargs.get("only") else plain
        metafunc.parametrize("be", plain + grind, indirect=True,
                             ids=plain + [d.replace("opencl:", "oclgrind:") for d in grind])


@pytest.fixture(scope="module")
def be(request):
    name = request.param
    return CPU if name == "cpu" else ocl.open_device(int(name.split(":")[1]))


class OclgrindLog:
    """The reports oclgrind wrote to OCLGRIND_LOG since the last read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen = self._size()

    def _size(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def read_new(self) -> str:
        with open(self.path, "rb") as f:
            f.seek(self.seen)
            data = f.read()
        self.seen += len(data)
        return data.decode(errors="replace")


@pytest.fixture(autouse=True)
def oclgrind_log(request):
    """On the oclgrind simulator: fails the test when oclgrind reported anything while it ran."""
    be = request.getfixturevalue("be") if "be" in request.fixturenames else None
    if getattr(getattr(be, "info", None), "platform", None) != "Oclgrind":
        yield None
        return
    log = OclgrindLog(Path(os.environ["OCLGRIND_LOG"]))
    yield log
    be.synchronize()
    report = log.read_new().strip()
    if report:
        pytest.fail(f"oclgrind reported on {be.device}:\n{report}", pytrace=False)


def need(be, dtype):
    """Skip, saying why, when the device lacks the dtype."""
    info = getattr(be, "info", None)
    ext = {"float64": "fp64", "float16": "fp16"}.get(dtype.name)
    if info is not None and ext and not getattr(info, ext):
        pytest.skip(f"{be.device} lacks cl_khr_{ext}")


# ---- building Views of every layout --------------------------------------------------------------------------------

LAYOUTS = ("contiguous", "offset", "transposed", "step", "broadcast")


def make(be, values: np.ndarray, layout: str) -> tuple[View, np.ndarray]:
    """A View on `be` of the given layout and the NumPy values it holds (broadcast: values[0] along dim 0)."""
    shape = values.shape
    if layout == "contiguous" or values.ndim == 0:
        return be.from_numpy(np.ascontiguousarray(values)), values
    if layout == "offset":
        st = be.from_numpy(np.concatenate([np.zeros(5, values.dtype), values.ravel()])).storage
        return View(st, shape, base.contiguous_strides(shape), 5), values
    if layout == "transposed":
        st = be.from_numpy(np.ascontiguousarray(values.transpose()).ravel()).storage
        return View(st, shape, tuple(reversed(base.contiguous_strides(shape[::-1]))), 0), values
    if layout == "step":
        wide = np.zeros(shape[:-1] + (2 * shape[-1],), values.dtype)
        wide[..., 1::2] = values
        strides = tuple(2 * s for s in base.contiguous_strides(shape))
        return View(be.from_numpy(wide.ravel()).storage, shape, strides, 1), values
    assert layout == "broadcast"
    row = np.ascontiguousarray(values[0])
    st = be.from_numpy(row.ravel()).storage
    return View(st, shape, (0,) + base.contiguous_strides(shape[1:]), 0), np.broadcast_to(row, shape)


def rand(shape, dtype=np.float32, lo=-2.0, hi=2.0, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.uniform(lo, hi, shape).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return rng.random(shape) > 0.5
    return rng.integers(int(lo), int(hi) + 1, shape).astype(dtype)


def cpu_ref(method: str, *args, **kwargs) -> np.ndarray:
    """What the NumPy backend computes on contiguous copies of the same values."""
    conv = [CPU.from_numpy(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else a for a in args]
    return CPU.to_numpy(getattr(CPU, method)(*conv, **kwargs))


def check(be, got: View, ref: np.ndarray, exact: bool = False, **tol) -> None:
    arr = be.to_numpy(got)
    assert arr.shape == ref.shape and arr.dtype == ref.dtype, (arr.shape, arr.dtype, ref.shape, ref.dtype)
    if exact:
        np.testing.assert_array_equal(arr, ref, err_msg=f"on {be.device}")
    else:
        np.testing.assert_allclose(arr, ref, err_msg=f"on {be.device}", **(tol or F32))


# ---- the tables ------------------------------------------------------------------------------------------------------

def test_op_tables_match_base():
    from distgrad.backends.opencl import backend, codegen
    assert set(cpu.UNARY) == set(codegen.UNARY) == set(base.UNARY_OPS)
    assert set(cpu.BINARY) == set(codegen.BINARY) == set(base.BINARY_OPS)
    assert set(cpu.REDUCE) == set(backend.COMBINE) == set(base.REDUCE_OPS)
    assert set(cpu.ARG_REDUCE) == set(backend.BETTER) == set(base.ARG_REDUCE_OPS)
    assert set(cpu.SCAN) == set(backend.SCAN_COMBINE) == set(base.SCAN_OPS)
    methods = [n for n in vars(base.Backend) if not n.startswith("_") and callable(getattr(base.Backend, n))]
    assert set(methods) >= {"alloc", "matmul", "random", "fused"}
    for cls in (cpu.CPUBackend, backend.OpenCLBackend):
        missing = [m for m in methods if m != "fused" and not callable(getattr(cls, m, None))]   # fused is optional
        assert not missing, f"{cls.__name__} lacks {missing}"


# ---- memory --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", base.ALL_DTYPES, ids=str)
def test_roundtrip_every_dtype(be, dtype):
    need(be, dtype)
    values = rand((3, 5), dtype.np, -100, 100)
    check(be, be.from_numpy(values), values, exact=True)
    check(be, be.from_numpy(values[:, ::2]), values[:, ::2], exact=True)     # a non-contiguous source array
    assert be.to_numpy(be.alloc((0, 4), dtype)).shape == (0, 4)


@pytest.mark.oclgrind
@pytest.mark.parametrize("layout", LAYOUTS)
def test_copy_materialises_every_layout(be, layout):
    view, values = make(be, rand((4, 3, 5)), layout)
    out = be.copy(view)
    assert out.is_contiguous()
    check(be, out, np.ascontiguousarray(values), exact=True)


@pytest.mark.parametrize("src, dst", [(np.float32, np.int32), (np.int64, np.float32), (np.bool_, np.float32),
                                      (np.float32, np.bool_), (np.int32, np.uint8), (np.uint8, np.int64),
                                      (np.int16, np.int8)])
def test_copy_casts_like_numpy(be, src, dst):
    values = rand((6, 7), src, -100, 100)
    values = np.round(values) if np.dtype(src).kind == "f" else values   # no float -> int rounding ties
    view, _ = make(be, values, "transposed")
    dtype = base.DTYPE_OF_NUMPY[np.dtype(dst)]
    check(be, be.copy(view, dtype=dtype), cpu_ref("copy", values, dtype=dtype), exact=True)
    out = be.alloc((6, 7), dtype)
    check(be, be.copy(view, out=out), cpu_ref("copy", values, dtype=dtype), exact=True)


@pytest.mark.parametrize("dtype, value", [(base.float32, 2.5), (base.int64, -3), (base.bool_, True),
                                          (base.uint8, 200), (base.int32, 7.9)])
def test_fill_strided_out(be, dtype, value):
    out = be.from_numpy(np.zeros((4, 6), dtype.np))
    window = View(out.storage, (2, 3), (12, 2), 1)    # fill every other element of every other row
    be.fill(window, value)
    ref = np.zeros((4, 6), dtype.np)
    np.lib.stride_tricks.as_strided(ref.reshape(-1)[1:], (2, 3), (12 * ref.itemsize, 2 * ref.itemsize))[...] = value
    check(be, out, ref, exact=True)


# ---- elementwise ---------------------------------------------------------------------------------------------------

POSITIVE = {"log", "sqrt", "log1p"}
FLOAT_UNARY = [op for op in base.UNARY_OPS if op not in base.INTEGER_OPS]
FLOAT_BINARY = [op for op in base.BINARY_OPS if op not in base.INTEGER_OPS]


@pytest.mark.parametrize("op", FLOAT_UNARY)
def test_unary_float32_strided(be, op):
    values = rand((5, 7), lo=0.1 if op in POSITIVE else -3.0, hi=3.0)
    values[0, :3] = [0.5, -0.5, 2.5]       # round half to even
    view, values = make(be, values, "transposed")
    check(be, be.unary(op, view), cpu_ref("unary", op, values), rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_unary_into_strided_out(be, layout):
    view, values = make(be, rand((3, 4, 6)), layout)
    out, _ = make(be, np.zeros((3, 4, 6), np.float32), "step")
    assert be.unary("neg", view, out=out) is out
    check(be, out, -values, exact=True)


@pytest.mark.parametrize("op", ["neg", "abs", "sign", "bitwise_not"])
@pytest.mark.parametrize("dtype", [np.int32, np.int8, np.int64, np.uint8])
def test_unary_integers(be, op, dtype):
    values = rand((4, 5), dtype, -100, 100)
    check(be, be.unary(op, be.from_numpy(values)), cpu_ref("unary", op, values), exact=True)


SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 3.5, -2.5, 1e-30], np.float32)


@pytest.mark.oclgrind
@pytest.mark.parametrize("op", FLOAT_BINARY)
def test_binary_float32_broadcast(be, op):
    a_vals = rand((4, 6), lo=0.5 if op == "pow" else -3.0, hi=3.0)
    a, a_vals = make(be, a_vals, "transposed")
    b, b_vals = make(be, rand((4, 6), seed=1), "broadcast")
    ref = cpu_ref("binary", op, a_vals, b_vals)
    check(be, be.binary(op, a, b), ref, exact=op in base.COMPARISON_OPS, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", FLOAT_BINARY)
def test_binary_float32_special_values(be, op):
    a_vals = np.repeat(SPECIAL, SPECIAL.size)
    b_vals = np.tile(SPECIAL, SPECIAL.size)
    got = be.to_numpy(be.binary(op, be.from_numpy(a_vals), be.from_numpy(b_vals)))
    ref = cpu_ref("binary", op, a_vals, b_vals)
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=0, equal_nan=True, err_msg=f"{op} on {be.device}")


INT_OPS = ["add", "sub", "mul", "max", "min", "fmod", "floordiv", "pow", "eq", "ne", "lt", "le", "bitwise_and",
           "bitwise_or", "bitwise_xor", "lshift", "rshift"]


@pytest.mark.parametrize("op", INT_OPS)
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.int8, np.uint8])
def test_binary_integers_exact(be, op, dtype):
    lo = 0 if dtype == np.uint8 else -9
    a_vals = rand((5, 8), dtype, lo, 9)
    b_vals = rand((5, 8), dtype, 0 if op == "pow" else lo, 3 if op == "pow" else 9, seed=1)
    if op in ("lshift", "rshift"):     # in range, negative, the width and beyond (0 for lshift, the sign for rshift)
        width = 8 * np.dtype(dtype).itemsize
        b_vals = rand((5, 8), dtype, 0, width + 1, seed=1)
        b_vals[0, :2] = width, width + 1
        b_vals[1, 0] = -1 if dtype != np.uint8 else 255
    if op in ("fmod", "floordiv"):
        b_vals[b_vals == 0] = 3
    check(be, be.binary(op, be.from_numpy(a_vals), be.from_numpy(b_vals)), cpu_ref("binary", op, a_vals, b_vals),
          exact=True)


@pytest.mark.parametrize("op", ["add", "mul", "max", "min", "eq", "ne", "lt", "le", "bitwise_and", "bitwise_or",
                                "bitwise_xor"])
def test_binary_bool(be, op):
    a_vals, b_vals = rand((3, 7), np.bool_), rand((3, 7), np.bool_, seed=1)
    check(be, be.binary(op, be.from_numpy(a_vals), be.from_numpy(b_vals)), cpu_ref("binary", op, a_vals, b_vals),
          exact=True)


def test_bitwise_against_numpy_literals(be):
    a = be.from_numpy(np.array([12, -7, 5, 1, -8, 1], np.int64))
    b = be.from_numpy(np.array([10, 3, 64, 63, 65, -1], np.int64))
    check(be, be.binary("bitwise_and", a, b), np.array([8, 1, 0, 1, 64, 1]), exact=True)
    check(be, be.binary("bitwise_xor", a, b), np.array([6, -6, 69, 62, -71, -2]), exact=True)
    check(be, be.binary("lshift", a, b), np.array([12288, -56, 0, -2**63, 0, 0]), exact=True)
    check(be, be.binary("rshift", a, b), np.array([0, -1, 0, 0, -1, 0]), exact=True)
    flags = be.from_numpy(np.array([True, False]))
    check(be, be.unary("bitwise_not", flags), np.array([False, True]), exact=True)


def test_binary_in_place_into_input(be):
    a, a_vals = make(be, rand((4, 5)), "offset")
    b, b_vals = make(be, rand((4, 5), seed=1), "broadcast")
    assert be.binary("mul", a, b, out=a) is a
    check(be, a, a_vals * b_vals, exact=True)


@settings(max_examples=12, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), data=st.data())
def test_binary_broadcast_shapes_hypothesis(be, shape, data):
    shape = tuple(shape)
    bshape = tuple(data.draw(st.sampled_from([1, n])) for n in shape)
    a_vals, b_vals = rand(shape), rand(bshape, seed=1)
    b_full = np.broadcast_to(b_vals, shape)
    b = be.from_numpy(b_vals)
    b = View(b.storage, shape, tuple(0 if n == 1 else s for n, s in zip(bshape, b.strides)), 0)
    check(be, be.binary("sub", be.from_numpy(a_vals), b), a_vals - b_full, exact=True)


def test_where_strided(be):
    c, c_vals = make(be, rand((4, 5), np.bool_), "transposed")
    a, a_vals = make(be, rand((4, 5)), "broadcast")
    b, b_vals = make(be, rand((4, 5), seed=2), "step")
    check(be, be.where(c, a, b), np.where(c_vals, a_vals, b_vals), exact=True)



@pytest.mark.parametrize("a_kind", ["broadcast row", "scalar 0", "scalar -0.0"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64, np.bool_])
def test_where_large_is_bit_exact(be, dtype, a_kind):
    # large enough for the CPU backend's branch-free path, with a broadcast row or scalar (+0 and -0.0 differ in their
    # bits); inf, nan and -0.0 must come through bit for bit
    need(be, base.DTYPE_OF_NUMPY[np.dtype(dtype)])
    c, c_vals = make(be, rand((64, 80), np.bool_), "transposed")
    b_vals = rand((64, 80), dtype, seed=2)
    if np.dtype(dtype).kind == "f":
        b_vals[0, :3] = [np.inf, np.nan, -0.0]
    if a_kind == "broadcast row":
        a, a_vals = make(be, rand((64, 80), dtype), "broadcast")
    else:
        scalar = np.array([-0.0 if a_kind == "scalar -0.0" else 0]).astype(dtype)
        a, a_vals = View(be.from_numpy(scalar).storage, (64, 80), (0, 0), 0), np.broadcast_to(scalar[0], (64, 80))
    ref = np.where(c_vals, a_vals, b_vals)
    got = be.to_numpy(be.where(c, a, be.from_numpy(b_vals)))
    assert got.dtype == ref.dtype and got.tobytes() == ref.tobytes()

def _window(be, values: np.ndarray, shape: tuple, strides: tuple, offset: int) -> tuple[View, np.ndarray]:
    """A View of `values` (stored flat) with this geometry, and the NumPy view it equals."""
    flat = values.reshape(-1)
    ref = np.lib.stride_tricks.as_strided(flat[offset:], shape, [s * flat.itemsize for s in strides])
    return View(be.from_numpy(flat.copy()).storage, shape, strides, offset), ref


# (what it stands for, base length, shape, strides, offset, (global, local) sizes: NOTE [ Elementwise forms ])
ELEMENTWISE_FORM_CASES = [
    ("im2col copy, 6 dims", 2 * 3 * 6 * 6, (3, 3, 3, 2, 4, 4), (36, 6, 1, 108, 6, 1), 0, ((4, 224), (4, 16))),
    ("col2im add, 3 dims", 2 * 3 * 6 * 6, (2, 3, 4, 4), (108, 36, 6, 1), 7, ((4, 32), (4, 16))),
    ("rows past the end", 2 * 150, (2, 7, 16), (150, 20, 1), 2, ((16, 16), (16, 4))),
    ("transposed, inner 50", 2 * 150, (2, 3, 50), (150, 1, 3), 0, ((50, 6), (50, 1))),
    ("inner 67: no divisor to 64", 2 * 400, (2, 5, 67), (400, 70, 1), 1, ((704,), None)),
    ("step 2 inner 10", 3 * 100, (3, 4, 10), (100, 24, 2), 3, ((10, 12), (10, 6))),
    ("two dims", 7 * 20, (7, 16), (20, 1), 2, ((16, 8), (16, 4))),
    ("contiguous: one dim", 6 * 8, (6, 8), (8, 1), 0, ((64,), None)),
]


@pytest.mark.oclgrind
@pytest.mark.parametrize("what,length,shape,strides,offset,sizes", ELEMENTWISE_FORM_CASES, ids=lambda c: str(c))
def test_elementwise_forms_match_numpy(be, what, length, shape, strides, offset, sizes, monkeypatch):
    """Copies, negations, in-place adds into strided windows (col2im), broadcasts and where() in both forms, on
    exact-size buffers under oclgrind; the launch sizes each layout gets are asserted (small layouts: the forms of
    large ones)."""
    if be is not CPU:
        from distgrad.backends.opencl import backend
        monkeypatch.setattr(backend, "ROWS_MIN_NUMEL", 0)
    values = rand((length,))
    x, ref = _window(be, values, shape, strides, offset)
    check(be, be.copy(x), np.ascontiguousarray(ref), exact=True)
    check(be, be.unary("neg", x), -ref, exact=True)
    if be is not CPU:
        (plan,) = [p for key, p in be._ew_plans.items() if key[0][0] == "neg" and key[3:6:2] == (shape, strides)]
        assert (plan.gsize, plan.lsize) == sizes
    other = rand(shape, seed=1)
    expected = values.copy()
    if ref.size == len(np.unique(_window(CPU, np.arange(length), shape, strides, offset)[1])):   # no overlaps
        be.binary("add", x, be.from_numpy(other), out=x)      # into the window: the elements around it stay
        np.lib.stride_tricks.as_strided(expected[offset:], shape, [s * 4 for s in strides])[...] += other
    check(be, View(x.storage, (length,), (1,), 0), expected, exact=True)
    row = rand(shape[-1:], seed=2)
    bcast = View(be.from_numpy(row).storage, shape, (0,) * (len(shape) - 1) + (1,), 0)
    cond = rand(shape, np.bool_, seed=3)
    got = be.where(be.from_numpy(cond), x, bcast)
    check(be, got, np.where(cond, np.ascontiguousarray(_window(CPU, expected, shape, strides, offset)[1]), row),
          exact=True)


def test_elementwise_rows_fit_a_small_work_group(be, monkeypatch):
    """With a device's work-group limit under ROW_GROUP, a row's items split across groups (across = 8 of 16); under
    ROWS_MIN_NUMEL elements the flat form stays."""
    if be is CPU:
        pytest.skip("the forms are the OpenCL kernel's")
    from distgrad.backends.opencl import backend
    small = be.from_numpy(rand((40 * 20,)))
    be.copy(View(small.storage, (8, 16), (40, 2), 0))
    assert [p.lsize for k, p in be._ew_plans.items() if k[3] == (8, 16) and k[5] == (40, 2)] == [None]
    monkeypatch.setattr(backend, "ROWS_MIN_NUMEL", 0)
    monkeypatch.setattr(be, "max_wg", 8)
    monkeypatch.setattr(be, "_ew_plans", {})
    values = rand((3 * 110,))
    x, ref = _window(be, values, (3, 5, 16), (110, 20, 1), 1)
    check(be, be.unary("neg", x), -ref, exact=True)
    (plan,) = be._ew_plans.values()
    assert (plan.gsize, plan.lsize) == ((16, 15), (8, 1))


# ---- fused ----------------------------------------------------------------------------------------------------------

RELU_FMA = ("max", ("add", ("mul", ("in", 0), ("in", 1)), ("in", 2)), ("const", 0.0))
FUSED = [
    ("relu(a*b+c)", RELU_FMA, lambda a, b, c: np.maximum(a * b + c, np.float32(0))),
    ("sgd", ("sub", ("in", 0), ("mul", ("const", 0.1), ("add", ("in", 1), ("mul", ("const", 0.01), ("in", 0))))),
     lambda p, g, _: p - np.float32(0.1) * (g + np.float32(0.01) * p)),
    ("where-cast", ("where", ("lt", ("in", 0), ("const", 0.5)), ("cast", "float32", ("cast", "int32", ("in", 1))),
                    ("sigmoid", ("in", 2))),
     lambda a, b, c: np.where(a < np.float32(0.5), b.astype(np.int32).astype(np.float32), 1 / (1 + np.exp(-c)))),
    ("compare-root", ("le", ("abs", ("in", 0)), ("in", 1)), lambda a, b, _: np.abs(a) <= b),
]


@pytest.mark.oclgrind
@pytest.mark.parametrize("expr, ref", [f[1:] for f in FUSED], ids=[f[0] for f in FUSED])
def test_fused(be, expr, ref):
    if not hasattr(be, "fused"):
        pytest.skip(f"{be.device} has no fused(); the core replays the expression")
    (a, av), (b, bv), (c, cv) = make(be, rand((6, 5)), "transposed"), make(be, rand((6, 5), seed=1), "broadcast"), \
        make(be, rand((6, 5), seed=2), "offset")
    expected = ref(av, bv, cv)
    check(be, be.fused(expr, [a, b, c]), expected, exact=expected.dtype == np.bool_, rtol=1e-6, atol=1e-6)


def test_fused_into_input_with_new_constants(be):
    if not hasattr(be, "fused"):
        pytest.skip(f"{be.device} has no fused()")
    p, pv = make(be, rand((8,)), "contiguous")
    g, gv = make(be, rand((8,), seed=1), "contiguous")
    for lr in (0.5, 0.25):   # a new constant value must not need (or get) a stale kernel
        be.fused(("sub", ("in", 0), ("mul", ("const", lr), ("in", 1))), [p, g], out=p)
        pv = pv - np.float32(lr) * gv
    check(be, p, pv, rtol=1e-6, atol=1e-7)


def test_same_layout_relaunched_on_other_buffers_and_offsets(be):
    # an OpenCL launch plan sets only the arguments that changed since its previous launch
    vals = rand((7,))
    storage = be.from_numpy(vals).storage
    other = be.from_numpy(vals[::-1].copy()).storage
    for src, values, off in ((storage, vals, 0), (storage, vals, 2), (other, vals[::-1], 2), (storage, vals, 2)):
        a = View(src, (3,), (1,), off)
        b = View(storage, (3,), (1,), 4 - off)
        check(be, be.binary("sub", a, b), values[off:off + 3] - vals[4 - off:7 - off])


# ---- reductions and scans ---------------------------------------------------------------------------------------------

@pytest.fixture(params=["work-items", "work-groups"])
def reduce_style(request, be):
    """Reduce as CPU devices do (a work-item per partial) and as GPUs do (work-groups of 64 combining in local memory,
    see kernels/reduce.cl): every OpenCL device runs both, so PoCL tests the GPU path too."""
    if be is CPU or not hasattr(be, "wg"):
        if request.param != "work-items":
            pytest.skip(f"{be.device} has one reduction")
        yield request.param
        return
    saved, be.wg = be.wg, 1 if request.param == "work-items" else 64
    yield request.param
    be.wg = saved


@pytest.mark.oclgrind
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # set once
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), data=st.data())
def test_reduce_hypothesis(be, reduce_style, shape, data):
    shape = tuple(shape)
    axes = tuple(sorted(data.draw(st.sets(st.integers(0, len(shape) - 1), min_size=1))))
    op = data.draw(st.sampled_from(base.REDUCE_OPS))
    keepdim = data.draw(st.booleans())
    layout = data.draw(st.sampled_from(["contiguous", "transposed", "offset"]))
    x, values = make(be, rand(shape, lo=0.5, hi=1.5), layout)
    check(be, be.reduce(op, x, axes, keepdim), cpu_ref("reduce", op, values, axes, keepdim), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_, np.uint8])
@pytest.mark.parametrize("op", base.REDUCE_OPS)
def test_reduce_integers_exact(be, reduce_style, dtype, op):
    x, values = make(be, rand((3, 4, 5), dtype, 0, 3), "transposed")
    check(be, be.reduce(op, x, (0, 2), False), cpu_ref("reduce", op, values, (0, 2), False), exact=True)


def test_reduce_large_uses_two_passes(be, reduce_style):
    values = rand((3, 70001), lo=0.0, hi=1.0)
    x, values = make(be, values, "offset")
    check(be, be.reduce("sum", x, (0, 1), False), values.astype(np.float64).sum().astype(np.float32), rtol=1e-5)
    check(be, be.reduce("max", x, (1,), True), values.max(1, keepdims=True), exact=True)
    col, cv = make(be, rand((50000, 3)), "transposed")
    check(be, be.reduce("sum", col, (0,), False), cv.astype(np.float64).sum(0).astype(np.float32), rtol=1e-4)


@pytest.mark.oclgrind
def test_reduce_rows_longer_and_shorter_than_a_work_group(be, reduce_style):
    values = rand((3, 150))                  # 150 > 64: a GPU-style work-group combines each row in local memory
    x = be.from_numpy(values)
    check(be, be.reduce("sum", x, (1,), False), values.astype(np.float64).sum(1).astype(np.float32), rtol=1e-5)
    check(be, be.reduce("max", x, (0,), True), values.max(0, keepdims=True), exact=True)   # 3 per row: one item


# (shape, layout, axes, the forms of its passes: NOTE [ Reduce forms ] in kernels/reduce.cl). Lengths leave a
# remainder after the lanes; the long ones split into chunks and reduce their partials in a second pass.
REDUCE_FORM_CASES = [
    ((37, 48), "contiguous", (0,), ["cols"]),              # a sum over the batch dim: 48 outputs side by side
    ((40, 32), "broadcast", (0,), ["cols"]),               # the reduced dim has stride 0
    ((3, 5, 32), "offset", (0, 1), ["cols"]),              # two reduced dims that collapse into one
    ((20000, 32), "contiguous", (0,), ["cols", "rows"]),   # chunks, then their partials
    ((3, 45), "offset", (1,), ["rows"]),                   # contiguous rows
    ((45, 3), "contiguous", (0,), ["rows"]),               # 3 outputs only: strided rows
    ((6, 50), "transposed", (1,), ["rows"]),
    ((70001,), "contiguous", (0,), ["rows", "rows"]),
    ((6, 4, 35), "contiguous", (0, 2), ["rows", "rows"]),  # two reduced dims: the inner one first
    ((4, 32, 3, 5), "contiguous", (0, 2, 3), ["rows", "rows"]),   # a batch norm's statistics
    ((32, 40), "transposed", (0, 1), ["rows", "rows"]),    # the reduced dim of stride 1 first, though it comes first
]


@pytest.mark.parametrize("op", base.REDUCE_OPS)
@pytest.mark.parametrize("shape,layout,axes,passes", REDUCE_FORM_CASES, ids=lambda c: str(c).replace(" ", ""))
def test_reduce_forms_match_numpy(be, op, shape, layout, axes, passes, monkeypatch):
    if be is CPU:
        pytest.skip("the forms are the OpenCL kernel's")
    from distgrad.backends.opencl import backend
    forms = []
    pick = backend._reduce_form
    monkeypatch.setattr(backend, "_reduce_form", lambda *a: forms.append(pick(*a)) or forms[-1])
    monkeypatch.setattr(be, "wg", 1)   # as on CPU devices; GPUs take these forms only for rows up to a work-group
    values = rand(shape, lo=0.9, hi=1.1) if op == "prod" else rand(shape)
    flat = values.reshape(-1)
    flat[len(flat) * 2 // 3] = np.nan if op in ("max", "min") else flat[len(flat) * 2 // 3]   # in a late lane
    x, values = make(be, values, layout)
    got = be.reduce(op, x, axes, False)
    assert forms == passes
    ref = cpu_ref("reduce", op, values.astype(np.float64), axes, False).astype(np.float32)
    check(be, got, ref, rtol=1e-4, atol=1e-4)
    ints, ivalues = make(be, rand(shape, np.int64, -3, 3, seed=1), layout)
    check(be, be.reduce(op, ints, axes, False), cpu_ref("reduce", op, ivalues, axes, False), exact=True)


@pytest.mark.oclgrind
def test_reduce_forms_stay_in_bounds(be, monkeypatch):
    """Each form on sizes that are not multiples of its lanes, on exact-size buffers under oclgrind."""
    if be is CPU:
        pytest.skip("the forms are the OpenCL kernel's")
    monkeypatch.setattr(be, "wg", 1)
    for shape, axes in (((19, 32), (0,)), ((2, 19), (1,)), ((19, 3), (0,)), ((3, 2, 5), (0, 2))):
        values = rand(shape)
        check(be, be.reduce("sum", be.from_numpy(values), axes, False),
              values.astype(np.float64).sum(axes).astype(np.float32), rtol=1e-5)
        bools = values > 0
        check(be, be.reduce("max", be.from_numpy(bools), axes, False), bools.any(axes), exact=True)


def test_reduce_nan_and_into_out(be, reduce_style):
    values = rand((4, 6))
    values[1, 2] = np.nan
    out = be.from_numpy(np.zeros((2, 4), np.float32))
    window = View(out.storage, (4,), (2,), 1)
    be.reduce("max", be.from_numpy(values), (1,), False, out=window)
    ref = np.zeros((2, 4), np.float32)
    ref.reshape(-1)[1::2] = values.max(1)
    check(be, out, ref, exact=True)


@pytest.mark.parametrize("op", base.ARG_REDUCE_OPS)
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_arg_reduce_ties_nan(be, op, layout):
    values = np.round(rand((5, 6, 4), lo=-2, hi=2))      # many ties: the first index must win
    values[2, 3, 1] = np.nan
    x, values = make(be, values, layout)
    for axis in range(3):
        for keepdim in (False, True):
            check(be, be.arg_reduce(op, x, axis, keepdim), cpu_ref("arg_reduce", op, values, axis, keepdim),
                  exact=True)


@pytest.mark.oclgrind
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_argsort_stable_nan_last(be, descending, dtype):
    values = rand((3, 37, 4), dtype, -3, 3)              # few distinct values: stability decides most places
    if dtype == np.float32:
        values = np.round(values)
        values[1, 5, 2] = values[0, 0, 0] = np.nan
    x, values = make(be, values, "transposed")
    for axis in range(3):
        check(be, be.argsort(x, axis, descending), cpu_ref("argsort", values, axis, descending), exact=True)


@pytest.mark.parametrize("op", base.SCAN_OPS)
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
def test_scan(be, op, dtype):
    x, values = make(be, rand((3, 4, 5), dtype, 0.5 if dtype == np.float32 else 0, 1.5 if dtype == np.float32 else 3),
                     "transposed")
    for axis in range(3):
        ref = cpu_ref("scan", op, values, axis)
        check(be, be.scan(op, x, axis), ref, exact=dtype != np.float32, rtol=1e-5, atol=1e-6)


# ---- matmul --------------------------------------------------------------------------------------------------------

@pytest.fixture(params=["blas", "tiled", "local"])
def path(request, be):
    if be is CPU:
        if request.param != "blas":
            pytest.skip("cpu has one matmul (NumPy's BLAS)")
        yield "blas"
        return
    if request.param == "blas" and not be.host_memory:
        pytest.skip(f"{be.device} keeps buffers in device memory: no mapped-BLAS path")
    saved = be.matmul_path, be.mapped_min_flops
    be.matmul_path, be.mapped_min_flops = request.param, 0   # the mapped path even for the tests' small shapes
    yield request.param
    be.matmul_path, be.mapped_min_flops = saved


@pytest.mark.oclgrind
@pytest.mark.parametrize("mkn", [(1, 1, 1), (33, 17, 65), (64, 64, 64), (5, 130, 3)], ids=str)
def test_matmul_shapes(be, path, mkn):
    m, k, n = mkn
    a, av = make(be, rand((2, m, k)), "offset")
    b, bv = make(be, rand((2, k, n), seed=1), "contiguous")
    check(be, be.matmul(a, b), av @ bv, rtol=1e-4, atol=1e-5)


def per_batch_transposed(be, values: np.ndarray) -> View:
    """values (batch, rows, cols) as the transpose of a contiguous (batch, cols, rows) array: W.t() in nn.Linear."""
    _, rows, cols = values.shape
    st = be.from_numpy(np.ascontiguousarray(values.transpose(0, 2, 1)).ravel()).storage
    return View(st, values.shape, (rows * cols, 1, rows), 0)


@pytest.mark.oclgrind
@pytest.mark.parametrize("side", ["a", "b", "both"])
def test_matmul_with_per_batch_transposed_operands(be, path, side):
    m, k, n = 33, 17, 65                     # edge tiles on every side
    av, bv = rand((2, m, k)), rand((2, k, n), seed=1)
    a = per_batch_transposed(be, av) if side in ("a", "both") else be.from_numpy(av)
    b = per_batch_transposed(be, bv) if side in ("b", "both") else be.from_numpy(bv)
    check(be, be.matmul(a, b), av @ bv, rtol=1e-4, atol=1e-5)


def test_k_split_fills_the_device_with_chunks_that_divide_k():
    from distgrad.backends.opencl.backend import k_split
    assert k_split(52, 132, 4096) == 4      # 512x4096 @ 4096x784 in 128x64 tiles on 132 compute units: 208 >= 132
    assert k_split(8, 132, 4096) == 16      # stops where a chunk would fall under 256
    assert k_split(52, 132, 768) == 2       # 768 / 4 = 192 < 256
    assert k_split(52, 132, 4095) == 1      # no equal chunks
    assert k_split(52, 132, 64) == 1        # short K: nothing to gain
    assert k_split(400, 132, 4096) == 1     # the tiles alone fill the device
    assert k_split(1, 132, 1 << 20) == 16   # at most MAX_SPLIT_K partial products


@pytest.mark.oclgrind
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_matmul_split_along_k_matches_numpy(be, monkeypatch, dtype):
    if be is CPU:
        pytest.skip("cpu has one matmul (NumPy's BLAS)")
    monkeypatch.setattr(be, "matmul_path", "local")
    from distgrad.backends.opencl import backend as ocl_backend
    monkeypatch.setattr(be, "compute_units", 10_000)     # few tiles against many compute units: K is split in 4,
    monkeypatch.setattr(ocl_backend, "MIN_SPLIT_K", 16)  # chunks of 16, small enough for oclgrind
    adds = []
    real = be.fused
    monkeypatch.setattr(be, "fused", lambda expr, inputs, **kw: adds.append(len(inputs)) or real(expr, inputs, **kw))
    av, bv = rand((1, 33, 64), dtype, -3, 3), rand((1, 64, 65), dtype, -3, 3, seed=1)
    out, _ = make(be, np.zeros((1, 33, 65), dtype), "step")
    be.matmul(per_batch_transposed(be, av), per_batch_transposed(be, bv), out=out)
    check(be, out, av @ bv, rtol=1e-4, atol=1e-3, exact=dtype == np.int32)
    assert adds == [4]                                   # one kernel adds the 4 partial products


def test_matmul_transposed_and_broadcast_batch(be, path):
    a, av = make(be, rand((3, 20, 9)), "transposed")         # A^T, not copied
    b, bv = make(be, rand((3, 9, 13), seed=1), "broadcast")   # one B for every batch (stride 0)
    out, _ = make(be, np.zeros((3, 20, 13), np.float32), "step")
    be.matmul(a, b, out=out)
    check(be, out, av @ bv, rtol=1e-4, atol=1e-5)


def test_matmul_integers_and_empty_k(be, path):
    av, bv = rand((1, 6, 5), np.int32, -5, 5), rand((1, 5, 7), np.int32, -5, 5, seed=1)
    check(be, be.matmul(be.from_numpy(av), be.from_numpy(bv)), av @ bv, exact=True)
    e = be.matmul(be.from_numpy(np.zeros((1, 3, 0), np.float32)), be.from_numpy(np.zeros((1, 0, 4), np.float32)))
    check(be, e, np.zeros((1, 3, 4), np.float32), exact=True)


def test_mapped_blas_only_above_its_size_threshold(be, monkeypatch):
    if be is CPU or not be.host_memory:
        pytest.skip(f"{be.device} has no mapped-BLAS path")
    monkeypatch.setattr(be, "matmul_path", "blas")
    mapped = []
    real = be._matmul_mapped
    monkeypatch.setattr(be, "_matmul_mapped", lambda *args: mapped.append(args[0].shape) or real(*args))
    side = round(be.mapped_min_flops ** (1 / 3)) + 1   # side**3 multiply-adds: just above the threshold
    for m in (8, side):
        a, av = make(be, rand((1, m, side)), "contiguous")
        b, bv = make(be, rand((1, side, side), seed=1), "contiguous")
        check(be, be.matmul(a, b), av @ bv, rtol=1e-3, atol=1e-3)
    assert mapped == [(1, side, side)]   # the small product went to the queued kernel, the large one to BLAS


# ---- indexing ------------------------------------------------------------------------------------------------------

@pytest.mark.oclgrind
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_gather(be, axis):
    x, xv = make(be, rand((4, 5, 6)), "transposed")
    ishape = [3, 4, 5]
    ishape[axis] = 7
    iv = rand(tuple(ishape), np.int64, 0, xv.shape[axis] - 1, seed=3)
    idx, iv = make(be, iv, "step")
    check(be, be.gather(x, axis, idx), cpu_ref("gather", xv, axis, iv), exact=True)


@pytest.mark.oclgrind
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_scatter_add_duplicates(be, axis, dtype):
    out_vals = rand((5, 6), dtype, -3, 3)
    out, _ = make(be, out_vals, "offset")
    iv = rand((8, 6) if axis == 0 else (5, 9), np.int64, 0, 4, seed=4)    # many duplicate targets
    src, sv = make(be, rand(iv.shape, dtype, -3, 3, seed=5), "transposed")
    be.scatter("add", out, axis, be.from_numpy(iv), src)
    ref = CPU.from_numpy(out_vals.copy())
    CPU.scatter("add", ref, axis, CPU.from_numpy(iv), CPU.from_numpy(np.ascontiguousarray(sv)))
    check(be, out, CPU.to_numpy(ref), exact=dtype == np.int64, rtol=1e-6, atol=1e-6)


def test_scatter_set_permutation(be):
    out, _ = make(be, np.zeros((4, 6), np.float32), "contiguous")
    iv = np.stack([np.random.default_rng(i).permutation(6) for i in range(4)])
    src, sv = make(be, rand((4, 6)), "contiguous")
    be.scatter("set", out, 1, be.from_numpy(iv), src)
    ref = np.zeros((4, 6), np.float32)
    np.put_along_axis(ref, iv, sv, 1)
    check(be, out, ref, exact=True)


@pytest.mark.parametrize("shape", [(7,), (4, 5), (3, 1, 6), (40, 300)], ids=str)
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_nonzero(be, shape, layout):
    values = rand(shape, np.int32, -1, 1)
    x, values = make(be, values, layout if len(shape) > 1 else "contiguous")
    check(be, be.nonzero(x), np.argwhere(values).astype(np.int64), exact=True)


def test_nonzero_edge_cases(be):
    check(be, be.nonzero(be.from_numpy(np.zeros((3, 4), np.bool_))), np.zeros((0, 2), np.int64), exact=True)
    check(be, be.nonzero(be.from_numpy(np.array(5.0, np.float32))), np.zeros((1, 0), np.int64), exact=True)


# ---- random --------------------------------------------------------------------------------------------------------

@pytest.mark.oclgrind
@pytest.mark.parametrize("dtype", [base.float32, base.float64], ids=str)
def test_uniform_bits_match_cpu_exactly(be, dtype):
    need(be, dtype)
    for numel, offset in ((1, 0), (7, 3), (4099, 2**32 + 5)):
        out = be.alloc((numel,), dtype)
        be.random("uniform", out, 0x123456789, offset, -1.5, 2.0)
        ref = CPU.alloc((numel,), dtype)
        CPU.random("uniform", ref, 0x123456789, offset, -1.5, 2.0)
        check(be, out, CPU.to_numpy(ref), exact=True)


@pytest.mark.parametrize("dtype", [base.float32, base.float64], ids=str)
def test_normal_matches_cpu(be, dtype):
    need(be, dtype)
    out, _ = make(be, np.zeros((5, 7), dtype.np), "transposed")
    be.random("normal", out, 7, 11, 1.0, 3.0)
    ref = CPU.alloc((5, 7), dtype)
    CPU.random("normal", ref, 7, 11, 1.0, 3.0)
    check(be, out, CPU.to_numpy(ref), rtol=1e-5, atol=1e-5)


def test_random_offsets_continue_the_stream(be):
    whole = be.alloc((64,), base.float32)
    be.random("uniform", whole, 5, 0, 0.0, 1.0)
    tail = be.alloc((48,), base.float32)
    be.random("uniform", tail, 5, base.random_blocks("uniform", 16, base.float32), 0.0, 1.0)
    np.testing.assert_array_equal(be.to_numpy(whole)[16:], be.to_numpy(tail))


# ---- capabilities, errors, pool, cache (OpenCL only) -------------------------------------------------------------

def opencl_only(be):
    if be is CPU:
        pytest.skip("an OpenCL backend property")


@pytest.mark.parametrize("dtype", [base.float64, base.float16], ids=str)
def test_missing_fp_extension_raises_at_alloc(be, dtype):
    opencl_only(be)
    ext = "fp64" if dtype is base.float64 else "fp16"
    if getattr(be.info, ext):
        values = np.arange(6, dtype=dtype.np)
        check(be, be.binary("add", be.from_numpy(values), be.from_numpy(values)), values + values, exact=True)
        return
    with pytest.raises(RuntimeError, match=f"{be.device}.*does not support {dtype}.*cl_khr_{ext}"):
        be.alloc((2,), dtype)
    with pytest.raises(RuntimeError, match=f"cl_khr_{ext}"):
        be.from_numpy(np.zeros(3, dtype.np))


def test_bad_index_and_status_names():
    n = ocl.device_count()
    if n == 0:
        with pytest.raises(RuntimeError, match="apt-get install pocl-opencl-icd"):
            ocl.open_device(0)
        return
    with pytest.raises(RuntimeError, match=rf"opencl:{n} does not exist; found {n} devices?: opencl:0 '.*' \(.*\); use "
                                           r"'opencl:0'.* or 'cpu'"):
        ocl.open_device(n)
    assert ocl.error_name(-5) == "CL_OUT_OF_RESOURCES"
    assert ocl.error_name(-4) == "CL_MEM_OBJECT_ALLOCATION_FAILURE"


def test_device_order_and_env_choice(monkeypatch):
    infos = ocl.devices()
    ranks = [ocl._KIND_RANK[i.kind] for i in infos]
    assert ranks == sorted(ranks) and [i.index for i in infos] == list(range(len(infos)))
    assert ocl.devices(gpu_only=True) == tuple(i for i in infos if i.kind == "gpu")
    if infos:
        monkeypatch.setenv("DISTGRAD_OPENCL_DEVICE", infos[-1].name[:6].upper())
        assert ocl._default_index(infos) == next(i.index for i in infos if infos[-1].name[:6] in i.name)
        monkeypatch.setenv("DISTGRAD_OPENCL_DEVICE", "no-such-device")
        with pytest.raises(RuntimeError, match="matches no OpenCL device"):
            ocl._default_index(infos)


def test_buffer_pool_reuses_freed_buffers(be):
    opencl_only(be)
    v = be.alloc((1000,), base.float32)
    ptr = v.storage.buf.int_ptr
    del v
    assert be.alloc((999,), base.float32).storage.buf.int_ptr == ptr


def test_launches_reach_the_queue_in_batches(be, monkeypatch):
    # NOTE [ Launch batching ]: recorded until a flush, MAX_PENDING launches, a large launch, or a read
    opencl_only(be)
    import pyopencl as cl
    x = be.from_numpy(np.ones(4, np.float32))
    be.synchronize()
    enqueued = []
    real = cl.enqueue_nd_range_kernel
    monkeypatch.setattr(cl, "enqueue_nd_range_kernel", lambda *a: (enqueued.append(a[1]), real(*a))[1])
    for _ in range(5):
        be.binary("add", x, x, out=x)
    assert enqueued == []
    be.flush()
    assert len(enqueued) == 5
    for _ in range(ocl.backend.MAX_PENDING - 1):
        be.binary("add", x, x, out=x)
    assert len(enqueued) == 5
    be.binary("add", x, x, out=x)
    assert len(enqueued) == 5 + ocl.backend.MAX_PENDING
    big = be.alloc((ocl.backend.FLUSH_SIZE,), base.float32)
    be.binary("add", x, x, out=x)
    be.fill(big, 1.0)                                  # large: handed over at once, with the one before it
    assert len(enqueued) == 7 + ocl.backend.MAX_PENDING
    be.binary("add", x, x, out=x)
    total = be.reduce("sum", big, (0,), False)         # few work-items over many elements: large too
    assert len(enqueued) == 8 + ocl.backend.MAX_PENDING             # its first pass flushed the add
    np.testing.assert_array_equal(be.to_numpy(x), np.full(4, 2.0 ** (7 + ocl.backend.MAX_PENDING), np.float32))
    assert be.to_numpy(total).item() == ocl.backend.FLUSH_SIZE


def test_from_numpy_copies_the_array_as_it_is_at_the_call(be):
    # the upload runs later (batched, then asynchronous): it must not read the caller's array then
    opencl_only(be)   # cpu shares the array's memory, as torch.from_numpy does
    arr = np.zeros(5, np.float32)
    views = []
    for i in range(3):
        arr[:] = i
        views.append(be.from_numpy(arr))
    arr[:] = 99
    for i, v in enumerate(views):
        np.testing.assert_array_equal(be.to_numpy(v), np.full(5, i, np.float32))


def test_uploads_do_not_wait_for_the_device(be):
    # pyopencl's event of a non-blocking upload waits for the copy (so for the queue) when dropped early
    opencl_only(be)
    import pyopencl as cl
    spin = cl.Program(be.ctx, """__kernel void spin(__global float* x, int n) {
        float v = x[0]; for (int i = 0; i < n; ++i) v = v * 0.999f + 1.0f; x[0] = v; }""").build().spin
    busy = be.from_numpy(np.zeros(1, np.float32))
    be.flush()
    running = spin(be.queue, (1,), None, busy.storage.buf, np.int32(30_000_000))   # ~0.4 s on PoCL here
    uploaded = be.from_numpy(np.arange(4, dtype=np.float32))
    be.flush()
    assert running.command_execution_status != cl.command_execution_status.COMPLETE, "from_numpy waited"
    np.testing.assert_array_equal(be.to_numpy(uploaded), np.arange(4, dtype=np.float32))


def test_failed_batched_launch_is_raised_by_the_flush_and_named(be):
    opencl_only(be)
    import pyopencl as cl
    out = be.alloc((4,), base.int32)
    knl = cl.Program(be.ctx, "__kernel void k(__global int* x) { x[get_global_id(0)] = 1; }").build().k
    be._launch(knl, (4,), (be.max_wg * 2,), [out.storage.buf], lambda: "the test's kernel k")   # local size too big
    with pytest.raises(RuntimeError, match=rf"OpenCL error -\d+ \(CL_INVALID_\w+\) in the test's kernel k on "
                                           rf"{be.device}"):
        be.synchronize()
    be.fill(out, 3)
    assert be.to_numpy(out).tolist() == [3] * 4      # raised once; the queue goes on


def test_layout_buffers_are_bounded_and_evicted_safely(be, monkeypatch):
    # NOTE [ Layout buffers ]: evicting a layout that a queued launch still uses must not change its result
    opencl_only(be)
    monkeypatch.setattr(ocl.backend, "MAX_LAYOUTS", 2)
    monkeypatch.setattr(ocl.backend._LaunchPlan, "MAX_OFFSETS", 2)
    monkeypatch.setattr(be, "_ew_plans", {})          # only this test's plans and layouts
    monkeypatch.setattr(be, "_layouts", {})
    vals = rand((40,))
    src = be.from_numpy(vals)
    sums, sums_ref, diffs, diffs_ref = [], [], [], []
    for off in range(12):                              # one layout per offset, nothing read back in between
        a = View(src.storage, (4, 3), (3, 1), off)
        diffs.append(be.binary("sub", a, View(src.storage, (4, 3), (1, 4), 20 - off)))
        diffs_ref.append(vals[off:off + 12].reshape(4, 3) - vals[20 - off:32 - off].reshape(3, 4).T)
        sums.append(be.reduce("sum", a, (1,), False))
        sums_ref.append(vals[off:off + 12].reshape(4, 3).sum(1))
    assert len(be._layouts) <= 2 and all(len(p.layouts) <= 2 for p in be._ew_plans.values())
    for got, ref in zip(diffs + sums, diffs_ref + sums_ref):
        check(be, got, ref)


def test_pool_drops_buffers_that_batched_launches_still_hold(be, monkeypatch):
    # a reduction's partials and argsort's scratch die before their launches reach the queue
    opencl_only(be)
    monkeypatch.setattr(be.pool, "limit", 0)
    vals = rand((3, 70000))
    x = be.from_numpy(vals)
    sums = [be.reduce("sum", x, (1,), False) for _ in range(3)]
    order = be.argsort(be.from_numpy(vals[:, :50]), 1, False)
    for got in sums:
        check(be, got, vals.sum(1), rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(be.to_numpy(order), np.argsort(vals[:, :50], 1, kind="stable"))


def test_launches_from_two_threads(be):
    opencl_only(be)
    import threading
    outs = [be.from_numpy(np.zeros(8, np.float32)) for _ in range(2)]
    one = be.from_numpy(np.ones(8, np.float32))

    def work(out):
        for _ in range(300):
            be.binary("add", out, one, out=out)
    threads = [threading.Thread(target=work, args=(o,)) for o in outs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for o in outs:
        np.testing.assert_array_equal(be.to_numpy(o), np.full(8, 300, np.float32))


def test_program_cache_on_disk(be, tmp_path, monkeypatch):
    opencl_only(be)
    monkeypatch.setenv("DISTGRAD_OPENCL_CACHE_DIR", str(tmp_path))
    src = "__kernel void k(__global int* x) { x[get_global_id(0)] = 42; }"
    be._build(src, "-D UNUSED=1")
    assert len(list(tmp_path.glob("*.bin"))) == 1
    prg = be._build(src, "-D UNUSED=1")        # from the binary
    assert len(list(tmp_path.glob("*.bin"))) == 1
    out = be.alloc((4,), base.int32)
    prg.k(be.queue, (4,), None, out.storage.buf)
    assert be.to_numpy(out).tolist() == [42] * 4
    be._build(src, "-D UNUSED=2")              # other options, other binary
    assert len(list(tmp_path.glob("*.bin"))) == 2


if os.environ.get("DISTGRAD_TEST_OCLGRIND") == "1":   # defined only then, so that plain runs show no skip
    @pytest.mark.oclgrind(only=True)
    def test_oclgrind_log_catches_out_of_bounds(be, oclgrind_log):
        """The check itself: a kernel that writes one past its (exactly sized) buffer is reported."""
        import pyopencl as cl
        out = be.alloc((4,), base.float32)
        prg = cl.Program(be.ctx, "__kernel void k(__global float* a) { a[get_global_id(0) + 1] = 1.0f; }").build()
        prg.k(be.queue, (4,), None, out.storage.buf)
        be.synchronize()
        assert "Invalid write of size 4" in oclgrind_log.read_new()


def test_index_kernels_skip_out_of_range_indices(be):
    # until a deferred check raises (NOTE [ Deferred index checks ]), a bad index must not touch other memory
    opencl_only(be)   # cpu: the core checks before NumPy, which would raise for such an index itself
    x, _ = make(be, np.arange(6, dtype=np.float32).reshape(2, 3), "contiguous")
    idx = be.from_numpy(np.array([[2, 3], [-1, 0]], np.int64))
    check(be, be.gather(x, 1, idx), np.array([[2, 0], [0, 3]], np.float32), exact=True)
    out = be.from_numpy(np.zeros((2, 3), np.float32))
    be.scatter("add", out, 1, idx, be.from_numpy(np.ones((2, 2), np.float32)))
    check(be, out, np.array([[0, 0, 1], [1, 0, 0]], np.float32), exact=True)


def test_deferred_checks_run_at_the_next_read_and_are_bounded(be):
    opencl_only(be)
    ran = []
    v = be.from_numpy(np.array([7], np.int64))
    for _ in range(3):
        be.defer_check([v], lambda host: ran.append(int(host[0])))
    assert ran == []                                   # nothing waited for the device
    be.to_numpy(be.from_numpy(np.zeros(2, np.float32)))
    assert ran == [7, 7, 7]
    for _ in range(3 * ocl.backend.MAX_DEFERRED):
        be.defer_check([v], lambda host: ran.append(0))
    assert len(ran) >= 3 + 2 * ocl.backend.MAX_DEFERRED   # past the bound, a check forces a synchronize
    be.synchronize()
    assert len(ran) == 3 + 3 * ocl.backend.MAX_DEFERRED

    def fail(host):
        raise IndexError("bad")
    be.defer_check([v], fail)
    with pytest.raises(IndexError, match="bad"):
        be.synchronize()
    be.synchronize()                                   # raised once, then gone
