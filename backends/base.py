"""The backend contract: dtypes, devices, Storage/View, the primitive names, and the Backend Protocol.

A backend implements primitives, never ops. Every differentiable op lives once in distgrad/ops.py and calls the
primitives below through distgrad/prims.py. Backends import nothing from distgrad.tensor.

NOTE [ View semantics ]
A View is a strided window onto one Storage: element (i0, i1, ...) lives at buf[offset + sum(ik * strides[k])].
Strides are in elements, not bytes, and may be 0 (broadcast). Inputs may be any View; an `out` View is either a fresh
contiguous allocation or, for in-place writes, exactly one of the inputs (never a partial overlap).
Every compute primitive takes `out=None`: when None it allocates a contiguous result on the same device and returns
it; when given it writes into `out` and returns `out`. Writes through `out` do not bump Storage.version: the core does.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

# NOTE [ Primitive set ]
# Names are plain strings so they grep and print well; every backend keys its tables by exactly these tuples
# (tests/test_backend_contract.py checks it). Changing a tuple means changing every backend.
MEMORY_OPS = ("alloc", "from_numpy", "to_numpy", "copy", "fill")
UNARY_OPS = ("neg", "exp", "log", "sqrt", "sin", "cos", "tanh", "abs", "floor", "round",
             # beyond DESIGN.md's ten: each is one kernel that would otherwise be several, or numerically worse
             "ceil", "sign", "log1p", "expm1", "sigmoid", "tan", "erf",
             "bitwise_not")
BINARY_OPS = ("add", "sub", "mul", "div", "pow", "max", "min", "fmod", "floordiv", "eq", "ne", "lt", "le",
              "bitwise_and", "bitwise_or", "bitwise_xor", "lshift", "rshift")
COMPARISON_OPS = frozenset(("eq", "ne", "lt", "le"))          # these produce bool
# Integer and bool dtypes only (bool: logical and/or/xor/not); the shifts take integers only. A shift by a negative
# amount or by the dtype's width or more gives 0 (lshift) or the sign (rshift), as NumPy and PyTorch do.
INTEGER_OPS = frozenset(("bitwise_not", "bitwise_and", "bitwise_or", "bitwise_xor", "lshift", "rshift"))
REDUCE_OPS = ("sum", "prod", "max", "min")
ARG_REDUCE_OPS = ("argmax", "argmin")
SCAN_OPS = ("cumsum", "cumprod")
SCATTER_MODES = ("set", "add")
RANDOM_OPS = ("uniform", "normal")


# NOTE [ Philox ]
# Random numbers come from Philox4x32-10 (Salmon et al. 2011), counter-based: block c (a 64-bit counter, split into
# the low and high words of counter lanes 0 and 1; lanes 2 and 3 are 0) with key (seed low 32 bits, seed high 32 bits)
# gives four 32-bit words. Word w of a launch is word w % 4 of block offset + w // 4, so the numbers depend on
# (seed, offset) only, never on launch order or device. Uniform number j in [0, 1):
#   float16/float32: (word j >> 8) * 2**-24;  float64: ((word 2j >> 5) * 2**26 + (word 2j+1 >> 6)) * 2**-53
# then a + (b - a) * u. Normal numbers 2k and 2k+1 are Box-Muller from uniforms u0 = uniform 2k, u1 = uniform 2k+1:
#   r = sqrt(-2 log(1 - u0)), z_2k = r cos(2 pi u1), z_2k+1 = r sin(2 pi u1), then mean + std * z.
# The caller advances its offset by random_blocks(op, n, dtype) blocks per launch.


def random_blocks(op: str, numel: int, dtype: DType) -> int:
    """How many Philox blocks a launch of `op` over numel elements of dtype consumes."""
    uniforms = numel + (numel & 1) if op == "normal" else numel
    words = uniforms * (2 if dtype.itemsize == 8 else 1)
    return (words + 3) // 4


class DType:
    """A tensor element type; prints as PyTorch does (`torch.float32`) so user logs and string checks match."""

    __slots__ = ("is_floating_point", "is_signed", "itemsize", "legacy_name", "name", "np")
    is_complex = False

    def __init__(self, name: str, np_dtype: Any, legacy_name: str) -> None:
        self.name = name
        self.np = np.dtype(np_dtype)
        self.itemsize = self.np.itemsize
        self.is_floating_point = self.np.kind == "f"
        self.is_signed = self.np.kind in "fi"
        self.legacy_name = legacy_name       # "FloatTensor": what Tensor.type() prints after "torch."

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self) -> str:
        return self.name                     # pickles as the module-level singleton (see distgrad.dtypes)

    def to_real(self) -> DType:
        return self


float16 = DType("float16", np.float16, "HalfTensor")
float32 = DType("float32", np.float32, "FloatTensor")
float64 = DType("float64", np.float64, "DoubleTensor")
int8 = DType("int8", np.int8, "CharTensor")
int16 = DType("int16", np.int16, "ShortTensor")
int32 = DType("int32", np.int32, "IntTensor")
int64 = DType("int64", np.int64, "LongTensor")
uint8 = DType("uint8", np.uint8, "ByteTensor")
bool_ = DType("bool", np.bool_, "BoolTensor")
ALL_DTYPES = (float16, float32, float64, int8, int16, int32, int64, uint8, bool_)
DTYPE_OF_NUMPY = {d.np: d for d in ALL_DTYPES}


class Device:
    """A device: `cpu`, `opencl:N`, or `cuda:N` (an alias for the N-th OpenCL GPU). Prints as PyTorch's."""

    __slots__ = ("index", "type")

    def __init__(self, type: str | Device, index: int | None = None) -> None:
        if isinstance(type, Device):
            type, index = type.type, type.index if index is None else index
        elif not isinstance(type, str):
            raise TypeError(f"device() expected a string or a device, got {type!r}")
        elif ":" in type:
            if index is not None:
                raise RuntimeError(f"type (string) must not include an index because index was passed explicitly: {type}")
            type, _, idx = type.partition(":")
            if not idx.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}:{idx}'")
            index = int(idx)
        if type not in ("cpu", "opencl", "cuda"):
            raise RuntimeError(f"Expected one of cpu, opencl, cuda device type at start of device string: {type}")
        if index is not None and index < 0:
            raise RuntimeError(f"Device index must not be negative, got {index}")
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "index", index)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("device objects are immutable")

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device(type='{self.type}')" if self.index is None else f"device(type='{self.type}', index={self.index})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = Device(other)
        return isinstance(other, Device) and self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __reduce__(self) -> tuple:
        return (Device, (self.type, self.index))


class Storage:
    """One flat buffer of `size` elements on one backend. `version` is bumped by every in-place write (autograd)."""

    __slots__ = ("__weakref__", "backend", "buf", "dtype", "size", "version")

    def __init__(self, buf: Any, dtype: DType, backend: Backend, size: int) -> None:
        self.buf = buf              # np.ndarray (1-D) on cpu, a device buffer on opencl
        self.dtype = dtype
        self.backend = backend      # kept here so dispatch is one attribute read on the hot path
        self.size = size
        self.version = 0

    @property
    def device(self) -> Device:
        return self.backend.device


class View:
    """A strided window onto a Storage (see NOTE [ View semantics ]). `cache` is the backend's, e.g. an ndarray."""

    __slots__ = ("cache", "offset", "shape", "storage", "strides")

    def __init__(self, storage: Storage, shape: tuple[int, ...], strides: tuple[int, ...], offset: int = 0,
                 cache: Any = None) -> None:
        self.storage = storage
        self.shape = shape
        self.strides = strides
        self.offset = offset
        self.cache = cache

    @property
    def dtype(self) -> DType:
        return self.storage.dtype

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    def is_contiguous(self) -> bool:
        return self.strides == contiguous_strides(self.shape) or self.numel <= 1 or _contiguous_ignoring_ones(self)

    def __repr__(self) -> str:
        return f"View({self.storage.dtype}, shape={self.shape}, strides={self.strides}, offset={self.offset})"


_STRIDES: dict[tuple[int, ...], tuple[int, ...]] = {}


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Row-major strides in elements; cached because the hot path asks for the same few shapes again and again."""
    st = _STRIDES.get(shape)
    if st is None:
        acc, out = 1, []
        for s in reversed(shape):
            out.append(acc)
            acc *= max(s, 1)
        st = _STRIDES[shape] = tuple(reversed(out))
        if len(_STRIDES) > 4096:
            _STRIDES.clear()
    return st


def _contiguous_ignoring_ones(v: View) -> bool:
    expected = 1
    for s, st in zip(reversed(v.shape), reversed(v.strides)):
        if s != 1:
            if st != expected:
                return False
            expected *= s
    return True


class Backend(Protocol):
    """What a backend implements. Each method is one kernel launch (or one library call) at most."""

    device: Device

    # memory
    def alloc(self, shape: tuple[int, ...], dtype: DType) -> View:
        """A fresh contiguous View with undefined contents."""
    def from_numpy(self, arr: np.ndarray) -> View:
        """Wrap (cpu: share memory where possible) or upload a NumPy array, as it is at the call."""
    def to_numpy(self, x: View) -> np.ndarray:
        """The values of x as an ndarray with x's shape (cpu: a view sharing memory; opencl: a host copy)."""
    def copy(self, x: View, out: View | None = None, dtype: DType | None = None) -> View:
        """Strided to strided copy, casting to out's dtype (or `dtype`); with out=None a contiguous copy."""
    def fill(self, out: View, value: float | bool) -> View:
        """Set every element of out to value."""

    # compute
    def unary(self, op: str, x: View, out: View | None = None) -> View: ...
    def binary(self, op: str, a: View, b: View, out: View | None = None) -> View:
        """a and b have equal shapes (the core expands with stride 0) and equal dtypes; comparisons give bool."""
    def where(self, cond: View, a: View, b: View, out: View | None = None) -> View: ...
    def reduce(self, op: str, x: View, axes: tuple[int, ...], keepdim: bool, out: View | None = None) -> View:
        """sum/prod/max/min over axes (non-empty, sorted, non-negative); result dtype = x's dtype."""
    def arg_reduce(self, op: str, x: View, axis: int, keepdim: bool) -> View:
        """argmax/argmin along one axis as int64; ties give the first index."""
    def argsort(self, x: View, axis: int, descending: bool) -> View:
        """int64 indices that sort x along axis (ascending ties keep their order)."""
    def scan(self, op: str, x: View, axis: int, out: View | None = None) -> View:
        """cumsum/cumprod along axis; result dtype = x's dtype."""
    def matmul(self, a: View, b: View, out: View | None = None) -> View:
        """(B, M, K) @ (B, K, N) -> (B, M, N) on strided operands (B may have stride 0); equal dtypes."""
    def gather(self, x: View, axis: int, index: View, out: View | None = None) -> View:
        """out[i][j][k] = x[i][index[i][j][k]][k] (axis=1); index is int64 with x's ndim; result has index's shape."""
    def scatter(self, mode: str, out: View, axis: int, index: View, src: View) -> View:
        """In place: out[i][index[i][j][k]][k] = src[i][j][k] ('set') or += ('add', duplicates accumulate)."""
    def nonzero(self, x: View) -> View:
        """int64 (N, ndim) coordinates of the non-zero elements, in row-major order."""
    def random(self, op: str, out: View, seed: int, offset: int, a: float, b: float) -> View:
        """Fill out with uniform [a, b) or normal(mean=a, std=b) numbers; see NOTE [ Philox ]."""
    def synchronize(self) -> None:
        """Block until every queued launch on this device has finished."""

    # Optional. The core (prims.fused) replays the expression primitive by primitive when a backend lacks it.
    def fused(self, expr: tuple, inputs: Sequence[View], out: View | None = None) -> View:
        """Evaluate an elementwise expression tree in one kernel; see NOTE [ Fused expressions ]."""


# NOTE [ Fused expressions ]
# An expression is a tree of tuples: ("in", i) reads inputs[i]; ("const", value) is a scalar of the result dtype;
# (op, a) for op in UNARY_OPS; (op, a, b) for op in BINARY_OPS; ("where", c, a, b); ("cast", dtype_name, a).
# All inputs have the out shape (broadcast inputs arrive expanded with stride 0). The result dtype is inputs[0]'s
# unless the root is a comparison (bool) or a cast. Example, relu(a * b + c): ("max", ("add", ("mul", ("in", 0),
# ("in", 1)), ("in", 2)), ("const", 0.0)). Backends should cache one compiled kernel per (expr, dtypes, ndim).


def check_primitive_tables(unary: Sequence[str], binary: Sequence[str]) -> None:
    """Used by backends at import: a missing or extra op name is a bug, not a user error."""
    assert set(unary) == set(UNARY_OPS), sorted(set(unary) ^ set(UNARY_OPS))
    assert set(binary) == set(BINARY_OPS), sorted(set(binary) ^ set(BINARY_OPS))
