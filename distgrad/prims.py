"""P.*: one backend primitive per call. Picks the backend from the first input, allocates the output when `out` is
None, launches one kernel. No autograd, no broadcasting, no type promotion: ops.py and tensor.py do those."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from distgrad import views as V
from distgrad.backends.base import COMPARISON_OPS, Backend, DType, View, bool_, int64

_SCALARS: dict[tuple, View] = {}


def alloc(shape: tuple[int, ...], dtype: DType, backend: Backend) -> View:
    return backend.alloc(shape, dtype)


def full(shape: tuple[int, ...], value: float | bool, dtype: DType, backend: Backend) -> View:
    return backend.fill(backend.alloc(shape, dtype), value)


def zeros_like(v: View) -> View:
    be = v.storage.backend
    return be.fill(be.alloc(v.shape, v.storage.dtype), 0)


def arange(n: int, backend: Backend) -> View:
    """0, 1, ..., n-1 as int64 (a cumulative sum of ones: exact, and two kernels on any backend)."""
    ones = backend.fill(backend.alloc((n,), int64), 1)
    out = backend.scan("cumsum", ones, 0)
    return backend.binary("sub", out, V.expand(scalar(1, int64, backend), (n,)), out=out)


def scalar(value: float | bool, dtype: DType, backend: Backend) -> View:
    """A cached read-only 0-d View holding value (expanded by callers; never written to)."""
    key = (value, type(value), dtype, backend)
    v = _SCALARS.get(key)
    if v is None:
        if type(value) is int and dtype.np.kind in "iu":
            value = _wrap_int(value, dtype)
        if len(_SCALARS) > 1024:
            _SCALARS.clear()
        v = _SCALARS[key] = backend.fill(backend.alloc((), dtype), value)
    return v


def _wrap_int(value: int, dtype: DType) -> int:
    """value wrapped into dtype's range, as C and PyTorch do (uint8 1 + 1000 is 233)."""
    bits = 8 * dtype.itemsize
    value &= (1 << bits) - 1
    return value - (1 << bits) if dtype.is_signed and value >= 1 << (bits - 1) else value


def copy(x: View, out: View | None = None, dtype: DType | None = None) -> View:
    return x.storage.backend.copy(x, out, dtype)


def fill(out: View, value: float | bool) -> View:
    return out.storage.backend.fill(out, value)


def unary(op: str, x: View, out: View | None = None) -> View:
    return x.storage.backend.unary(op, x, out)


def binary(op: str, a: View, b: View, out: View | None = None) -> View:
    return a.storage.backend.binary(op, a, b, out)


def add(a: View, b: View) -> View:
    return a.storage.backend.binary("add", a, b)


def sub(a: View, b: View) -> View:
    return a.storage.backend.binary("sub", a, b)


def mul(a: View, b: View) -> View:
    return a.storage.backend.binary("mul", a, b)


def div(a: View, b: View) -> View:
    return a.storage.backend.binary("div", a, b)


def neg(x: View) -> View:
    return x.storage.backend.unary("neg", x)


def where(cond: View, a: View, b: View, out: View | None = None) -> View:
    return a.storage.backend.where(cond, a, b, out)


def reduce(op: str, x: View, axes: tuple[int, ...], keepdim: bool = False, out: View | None = None) -> View:
    return x.storage.backend.reduce(op, x, axes, keepdim, out)


def arg_reduce(op: str, x: View, axis: int, keepdim: bool = False) -> View:
    return x.storage.backend.arg_reduce(op, x, axis, keepdim)


def scan(op: str, x: View, axis: int, out: View | None = None) -> View:
    return x.storage.backend.scan(op, x, axis, out)


def argsort(x: View, axis: int, descending: bool = False) -> View:
    return x.storage.backend.argsort(x, axis, descending)


def matmul(a: View, b: View, out: View | None = None) -> View:
    return a.storage.backend.matmul(a, b, out)


def gather(x: View, axis: int, index: View, out: View | None = None) -> View:
    return x.storage.backend.gather(x, axis, index, out)


def scatter(mode: str, out: View, axis: int, index: View, src: View) -> View:
    return out.storage.backend.scatter(mode, out, axis, index, src)


def nonzero(x: View) -> View:
    return x.storage.backend.nonzero(x)


def random(op: str, out: View, seed: int, offset: int, a: float, b: float) -> View:
    return out.storage.backend.random(op, out, seed, offset, a, b)


def check_index(index: View, lo: int, hi: int, raise_for: Callable[[int, int], None]) -> None:
    """Call raise_for(min, max) when an element of index lies outside [lo, hi): at once on a backend that computes
    on the host, else at that device's next read to the host (NOTE [ Deferred index checks ] in
    backends/opencl/backend.py), so that checking an index never waits for the device."""
    if index.numel == 0:
        return
    axes = tuple(range(len(index.shape)))
    bounds = [reduce("min", index, axes), reduce("max", index, axes)]

    def check(mn: Any, mx: Any) -> None:
        mn, mx = int(mn), int(mx)
        if mn < lo or mx >= hi:
            raise_for(mn, mx)
    be = index.storage.backend
    if hasattr(be, "defer_check"):
        be.defer_check(bounds, check)
    else:
        check(*(be.to_numpy(b) for b in bounds))


def sum_to(g: View, shape: tuple[int, ...]) -> View:
    """Sum a broadcast gradient back down to `shape` (the backward of expand): one reduction, then a reshape."""
    if g.shape == shape:
        return g
    lead = len(g.shape) - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
    if not axes:
        return g
    r = reduce("sum", g, axes, keepdim=False)
    return V.reshape(r, shape)


def fused(expr: tuple, inputs: list[View], out: View | None = None) -> View:
    """Evaluate an elementwise expression (NOTE [ Fused expressions ] in base.py) in one kernel where the backend
    can, else primitive by primitive."""
    be = inputs[0].storage.backend
    if hasattr(be, "fused"):
        return be.fused(expr, inputs, out)
    r, _ = _replay(expr, inputs, inputs[0].storage.dtype, out)
    return r if out is None or r is out else copy(r, out)


def _replay(e: tuple, inputs: list[View], dtype: DType, out: View | None = None) -> tuple[View, bool]:
    """(result, whether it is a temporary). The root op writes straight into `out` when the dtypes agree, and an op
    writes into its operand's temporary, which nothing else reads, so an update such as p - g * lr allocates once."""
    kind = e[0]
    if kind == "in":
        return inputs[e[1]], False
    if kind == "const":
        return V.expand(scalar(e[1], dtype, inputs[0].storage.backend), inputs[0].shape), False
    if kind == "cast":
        from distgrad.dtypes import BY_NAME
        return copy(_replay(e[2], inputs, dtype)[0], dtype=BY_NAME[e[1]]), True
    args = [_replay(a, inputs, dtype) for a in e[1:]]
    views = [v for v, _ in args]
    result_dtype = bool_ if kind in COMPARISON_OPS else views[-2 if kind == "where" else 0].storage.dtype
    target = out if out is not None and out.storage.dtype is result_dtype else None
    if target is None:
        target = next((v for v, temp in args if temp and v.storage.dtype is result_dtype), None)
    if kind == "where":
        r = where(*views, out=target)
    else:
        r = unary(kind, views[0], target) if len(views) == 1 else binary(kind, *views, out=target)
    return r, r is not out
