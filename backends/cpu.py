"""The NumPy backend: device 'cpu', the embedded default. Each primitive is one NumPy call (BLAS for matmul)."""
from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .base import (
    COMPARISON_OPS,
    DTYPE_OF_NUMPY,
    Device,
    DType,
    Storage,
    View,
    bool_,
    check_primitive_tables,
    contiguous_strides,
)

try:  # NumPy has no erf; SciPy's is exact and vectorised, math.erf is the exact fallback
    from scipy.special import erf as _erf
except ImportError:  # pragma: no cover - depends on the environment
    _erf = np.vectorize(math.erf, otypes=[np.float64])


# PyTorch returns inf and nan silently where NumPy warns ("invalid value encountered in subtract"). A filter for
# NumPy's floating-point warnings raised here costs nothing per op; np.errstate would cost ~1.4 us on every call.
warnings.filterwarnings("ignore", r"(invalid value|divide by zero|overflow|underflow) encountered", RuntimeWarning,
                        __name__.replace(".", r"\.") + "$")


def _sigmoid(x, out=None):
    # NOTE: exp(-x) overflows to inf for x < -88 (float32), and 1 / (1 + inf) = 0 is the right answer
    return np.divide(1.0, np.add(1.0, np.exp(np.negative(x)), dtype=x.dtype), out=out, dtype=x.dtype)


def _erf_typed(x, out=None):
    r = np.asarray(_erf(x), dtype=x.dtype)
    if out is None:
        return r
    out[...] = r
    return out


UNARY = {"neg": np.negative, "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos,
         "tanh": np.tanh, "abs": np.abs, "floor": np.floor, "round": np.rint, "ceil": np.ceil, "sign": np.sign,
         "log1p": np.log1p, "expm1": np.expm1, "sigmoid": _sigmoid, "tan": np.tan, "erf": _erf_typed,
         "bitwise_not": np.invert}
BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power,
          "max": np.maximum, "min": np.minimum, "fmod": np.fmod, "floordiv": np.floor_divide,
          "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "bitwise_and": np.bitwise_and,
          "bitwise_or": np.bitwise_or, "bitwise_xor": np.bitwise_xor, "lshift": np.left_shift,
          "rshift": np.right_shift}
# NumPy may give these a dtype other than their inputs' (int / int is float64): cast back, truncating as C does.
_CAST_BACK = {"div", "pow", "fmod", "floordiv"}
REDUCE = {"sum": np.add.reduce, "prod": np.multiply.reduce, "max": np.maximum.reduce, "min": np.minimum.reduce}
ARG_REDUCE = {"argmax": np.argmax, "argmin": np.argmin}
SCAN = {"cumsum": np.cumsum, "cumprod": np.cumprod}
check_primitive_tables(UNARY, BINARY)


def as_ndarray(v: View) -> np.ndarray:
    """The ndarray for a View, built once and cached on it (np.ndarray(...) costs 0.6 us, as_strided 11 us)."""
    a = v.cache
    if a is None:
        st = v.storage
        it = st.dtype.itemsize
        try:
            a = np.ndarray(v.shape, st.dtype.np, st.buf, v.offset * it, tuple(s * it for s in v.strides))
        except ValueError:
            if 0 not in v.shape:
                raise
            a = np.empty(v.shape, st.dtype.np)     # an empty view may start past the end of its (empty) buffer
        v.cache = a
    return a


_INT_OF_SIZE = {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}


def _select_bits(cond: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.where(cond, a, b) for equal dtypes as bit operations, b ^ ((a ^ b) & -cond): branch-free, so about 3x
    faster than np.where on an unpredictable mask such as relu's backward, and bit-exact (NaN payloads included)."""
    it = _INT_OF_SIZE[a.dtype.itemsize]
    ai, bi = a.view(it), b.view(it)
    r = np.bitwise_xor(ai, bi)
    np.bitwise_and(r, np.negative(cond.astype(it)), out=r)
    np.bitwise_xor(r, bi, out=r)
    return r.view(a.dtype)


class CPUBackend:
    """The NumPy backend. Storage.buf is a C-contiguous ndarray holding Storage.size elements."""

    def __init__(self) -> None:
        self.device = Device("cpu")

    def _wrap(self, r, dtype: DType | None = None) -> View:
        """A View owning a fresh NumPy result (ufuncs return scalars for 0-d inputs, and F order for F inputs)."""
        if type(r) is not np.ndarray:
            r = np.asarray(r)
        if not r.flags.c_contiguous:
            r = np.ascontiguousarray(r)
        shape = r.shape
        return View(Storage(r, dtype or DTYPE_OF_NUMPY[r.dtype], self, r.size), shape, contiguous_strides(shape), 0, r)

    # memory
    def alloc(self, shape: tuple[int, ...], dtype: DType) -> View:
        r = np.empty(shape, dtype.np)
        return View(Storage(r, dtype, self, r.size), shape, contiguous_strides(shape), 0, r)

    def from_numpy(self, arr: np.ndarray) -> View:
        if arr.dtype not in DTYPE_OF_NUMPY:
            raise TypeError(f"can't convert np.ndarray of type numpy.{arr.dtype}. The only supported types are: "
                            "float64, float32, float16, int64, int32, int16, int8, uint8, and bool.")
        dtype = DTYPE_OF_NUMPY[arr.dtype]
        it = arr.itemsize
        if any(s < 0 for s in arr.strides):
            raise ValueError("At least one stride in the given numpy array is negative, and tensors with negative "
                             "strides are not currently supported. (You can probably work around this by making a "
                             "copy of your array  with array.copy().) ")
        if any(s % it for s in arr.strides):
            arr = np.ascontiguousarray(arr)
        if arr.flags.c_contiguous:
            buf = arr
        else:  # share a non-contiguous array: the storage is the contiguous span from its first to its last element
            span = 1 + sum((n - 1) * s // it for n, s in zip(arr.shape, arr.strides)) if arr.size else 0
            buf = np.lib.stride_tricks.as_strided(arr, shape=(span,), strides=(it,))
        strides = tuple(s // it for s in arr.strides)
        return View(Storage(buf, dtype, self, buf.size), arr.shape, strides, 0, arr)

    def to_numpy(self, x: View) -> np.ndarray:
        return as_ndarray(x)

    def copy(self, x: View, out: View | None = None, dtype: DType | None = None) -> View:
        if out is None:
            return self._wrap(np.array(as_ndarray(x), dtype=(dtype or x.storage.dtype).np, order="C"))
        np.copyto(as_ndarray(out), as_ndarray(x), casting="unsafe")
        return out

    def fill(self, out: View, value) -> View:
        as_ndarray(out)[...] = value
        return out

    # compute
    def unary(self, op: str, x: View, out: View | None = None) -> View:
        r = UNARY[op](as_ndarray(x), out=None if out is None else as_ndarray(out))
        return self._wrap(r) if out is None else out

    def binary(self, op: str, a: View, b: View, out: View | None = None) -> View:
        fn = BINARY[op]
        xa, xb = a.cache, b.cache
        if xa is None:
            xa = as_ndarray(a)
        if xb is None:
            xb = as_ndarray(b)
        if op in _CAST_BACK:
            r = fn(xa, xb) if out is None else fn(xa, xb, out=as_ndarray(out), casting="unsafe")
            if out is None and r.dtype != xa.dtype:    # div on integers truncates, as C and OpenCL do
                r = r.astype(xa.dtype)
        elif out is None:
            r = fn(xa, xb)
        else:
            fn(xa, xb, out=as_ndarray(out))
            return out
        if out is not None:
            return out
        return self._wrap(r, bool_ if op in COMPARISON_OPS else a.storage.dtype)

    def where(self, cond: View, a: View, b: View, out: View | None = None) -> View:
        xc, xa, xb = as_ndarray(cond), as_ndarray(a), as_ndarray(b)
        fast = xc.dtype == np.bool_ and xa.dtype == xb.dtype and xa.size >= 4096
        r = _select_bits(xc, xa, xb) if fast else np.where(xc, xa, xb)
        if out is None:
            return self._wrap(r)
        as_ndarray(out)[...] = r
        return out

    def reduce(self, op: str, x: View, axes: tuple[int, ...], keepdim: bool, out: View | None = None) -> View:
        xa = as_ndarray(x)
        r = REDUCE[op](xa, axis=axes, keepdims=keepdim, dtype=xa.dtype) if op in ("sum", "prod") else \
            REDUCE[op](xa, axis=axes, keepdims=keepdim)
        if out is None:
            return self._wrap(r)
        as_ndarray(out)[...] = r
        return out

    def arg_reduce(self, op: str, x: View, axis: int, keepdim: bool) -> View:
        return self._wrap(ARG_REDUCE[op](as_ndarray(x), axis=axis, keepdims=keepdim).astype(np.int64, copy=False))

    def argsort(self, x: View, axis: int, descending: bool) -> View:
        order = np.argsort(as_ndarray(x), axis=axis, kind="stable")
        return self._wrap(np.flip(order, axis) if descending else order)

    def scan(self, op: str, x: View, axis: int, out: View | None = None) -> View:
        xa = as_ndarray(x)
        if out is None:
            return self._wrap(SCAN[op](xa, axis=axis, dtype=xa.dtype))
        SCAN[op](xa, axis=axis, dtype=xa.dtype, out=as_ndarray(out))
        return out

    def matmul(self, a: View, b: View, out: View | None = None) -> View:
        xa, xb = as_ndarray(a), as_ndarray(b)
        if a.shape[0] == 1 and b.shape[0] == 1:   # the common 2-D case: one BLAS call, no batch loop
            if out is None:
                return self._wrap(np.matmul(xa[0], xb[0])[None])
            np.matmul(xa[0], xb[0], out=as_ndarray(out)[0])
            return out
        if out is None:
            return self._wrap(np.matmul(xa, xb))
        np.matmul(xa, xb, out=as_ndarray(out))
        return out

    def gather(self, x: View, axis: int, index: View, out: View | None = None) -> View:
        xa, ia = as_ndarray(x), as_ndarray(index)
        xa = xa[tuple(slice(None) if d == axis else slice(0, n) for d, n in enumerate(ia.shape))]
        r = np.take_along_axis(xa, ia, axis)
        if out is None:
            return self._wrap(r)
        as_ndarray(out)[...] = r
        return out

    def scatter(self, mode: str, out: View, axis: int, index: View, src: View) -> View:
        ia = as_ndarray(index)
        sa = as_ndarray(src)[tuple(slice(0, n) for n in ia.shape)]
        idx = list(np.indices(ia.shape, sparse=True))
        idx[axis] = ia
        if mode == "add":
            np.add.at(as_ndarray(out), tuple(idx), sa)
        else:
            as_ndarray(out)[tuple(idx)] = sa
        return out

    def nonzero(self, x: View) -> View:
        return self._wrap(np.argwhere(as_ndarray(x)).astype(np.int64, copy=False))

    def random(self, op: str, out: View, seed: int, offset: int, a: float, b: float) -> View:
        numel = out.numel
        dt = out.storage.dtype
        n_uniform = numel + (numel & 1) if op == "normal" else numel
        u = philox_uniform(seed, offset, n_uniform, dt.itemsize == 8)
        if op == "uniform":
            r = a + (b - a) * u.astype(dt.np if dt.itemsize != 2 else np.float32)
        else:
            u0, u1 = u[0::2], u[1::2]
            rad = np.sqrt(-2.0 * np.log1p(-u0))
            z = np.empty(n_uniform, u.dtype)
            z[0::2], z[1::2] = rad * np.cos(2 * np.pi * u1), rad * np.sin(2 * np.pi * u1)
            r = a + b * z[:numel]
        as_ndarray(out)[...] = r.reshape(out.shape)
        return out

    def synchronize(self) -> None:
        pass


_M0, _M1, _W0, _W1, _LO = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85, 0xFFFFFFFF
# Up to this many blocks, Python ints beat ~100 NumPy calls on tiny arrays (~12 us a block against ~150 us in all).
_FEW_BLOCKS = 8


def philox_rounds(c0: Any, c1: Any, c2: Any, c3: Any, k0: int, k1: int) -> tuple:
    """Philox4x32-10's ten rounds on one block's four words as Python ints, or on uint64 arrays of words (a block
    per element); every word < 2**32. Each round allocates four arrays: the in-place ops only touch new ones."""
    for _ in range(10):
        p0, p1 = c0 * _M0, c2 * _M1
        c0 = p1 >> 32
        c0 ^= c1
        c0 ^= k0
        c2 = p0 >> 32
        c2 ^= c3
        c2 ^= k1
        p1 &= _LO
        p0 &= _LO
        c1, c3 = p1, p0
        k0, k1 = (k0 + _W0) & _LO, (k1 + _W1) & _LO
    return c0, c1, c2, c3


def philox_words(seed: int, offset: int, n_words: int) -> np.ndarray:
    """Words 0..n_words-1 of the stream that starts at block `offset` (NOTE [ Philox ] in base.py): block b's
    counter is (b mod 2**32, b div 2**32, 0, 0)."""
    n_blocks = (n_words + 3) // 4
    key = (seed & _LO, (seed >> 32) & _LO)
    if n_blocks <= _FEW_BLOCKS:
        per_block = [philox_rounds(b & _LO, b >> 32, 0, 0, *key) for b in range(offset, offset + n_blocks)]
        words = np.array(per_block, np.uint32).reshape(-1)
    else:
        blocks = np.arange(offset, offset + n_blocks, dtype=np.uint64)
        zero = np.zeros_like(blocks)
        words = np.stack(philox_rounds(blocks & _LO, blocks >> 32, zero, zero, *key), axis=1).astype(np.uint32)
    return words.reshape(-1)[:n_words]


def philox_uniform(seed: int, offset: int, n: int, double: bool) -> np.ndarray:
    """n uniform numbers in [0, 1): float32 from 24 bits, or float64 from 53 bits of two words."""
    if not double:
        return (philox_words(seed, offset, n) >> 8).astype(np.float32) * np.float32(2.0 ** -24)
    w = philox_words(seed, offset, 2 * n).astype(np.uint64)
    return ((w[0::2] >> 5) * 2.0 ** 26 + (w[1::2] >> 6)) * 2.0 ** -53


_CPU = CPUBackend()


def open_device(index: int | None) -> CPUBackend:
    """The one CPU backend; 'cpu:0' is accepted as PyTorch accepts it."""
    if index not in (None, 0):
        raise RuntimeError(f"cpu:{index} does not exist; use 'cpu'")
    return _CPU
