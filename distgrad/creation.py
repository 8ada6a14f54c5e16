"""Tensor creation: from data (tensor, as_tensor, from_numpy), filled (zeros, ones, full, empty, eye), ranges
(arange, linspace, logspace), random (rand, randn, randint, randperm) and the *_like forms."""
from __future__ import annotations

import math
from typing import Any

import numpy as np  # conversion at the boundary: Python data and ndarrays in, nothing computed here

from distgrad import prims as P
from distgrad.backends.base import DTYPE_OF_NUMPY, DType, int64, random_blocks
from distgrad.device import as_device, backend_for
from distgrad.dims import shape_arg
from distgrad.dtypes import get_default_dtype, scalar_dtype
from distgrad.random import Generator, default_generator
from distgrad.tensor import Tensor


def _finish(t: Tensor, requires_grad: bool) -> Tensor:
    if requires_grad:
        if not t.dtype.is_floating_point:     # PyTorch's factory text differs from requires_grad_()'s
            raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
        t.requires_grad_(True)
    return t


def _infer_numpy(data: Any, dtype: DType | None) -> np.ndarray:
    if isinstance(data, Tensor):
        return data.detach()._host()
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in data):
        data = [x.detach()._host() if isinstance(x, Tensor) else x for x in data]
    is_array = isinstance(data, (np.ndarray, np.generic))
    try:
        arr = np.asarray(data)
    except ValueError:
        _check_scalars(data)
        _check_ragged(data, dtype)
        raise
    if arr.dtype.kind in "OUSV":
        _check_scalars(data)
        raise RuntimeError(f"Could not infer dtype of {type(data).__name__}")
    if dtype is not None:
        return arr.astype(dtype.np, copy=False)
    if arr.dtype.kind == "f" and not is_array:
        return arr.astype(get_default_dtype().np)
    if arr.dtype.kind in "iu" and not is_array:
        return arr.astype(np.int64)
    if arr.size == 0 and not is_array:
        return arr.astype(get_default_dtype().np)
    if arr.dtype not in DTYPE_OF_NUMPY:
        raise TypeError(f"can't convert np.ndarray of type numpy.{arr.dtype}. The only supported types are: float64, "
                        "float32, float16, int64, int32, int16, int8, uint8, and bool.")
    return arr


_SEQUENCES = (list, tuple, np.ndarray)


def _check_ragged(data: Any, dtype: DType | None) -> None:
    """PyTorch's error for unequal nested sequences: the sizes are those of the first elements, then a depth-first walk
    stops at the first element that disagrees (a wrong length, a number where a sequence belongs, or the reverse)."""
    shape, first = [], data
    while isinstance(first, _SEQUENCES):
        shape.append(len(first))
        if not len(first):
            break
        first = first[0]
    floating = dtype.is_floating_point if dtype is not None else _any_float(data)

    def walk(x: Any, d: int) -> None:
        if d == len(shape):
            if isinstance(x, _SEQUENCES):
                kind = type(x).__name__
                raise TypeError(f"must be real number, not {kind}" if floating else
                                f"'{kind}' object cannot be interpreted as an integer")
            return
        if not isinstance(x, _SEQUENCES):
            raise TypeError("not a sequence")
        if len(x) != shape[d]:
            raise ValueError(f"expected sequence of length {shape[d]} at dim {d} (got {len(x)})")
        for y in x:
            walk(y, d + 1)
    walk(data, 0)


def _check_scalars(data: Any) -> None:
    """PyTorch's dtype inference error (it comes before the shape checks): it names the first element, depth first,
    that is neither a number nor a sequence."""
    found = _first_non_number(data)
    if found:
        kind = type(found[0]).__name__
        if kind in ("str", "bytes"):
            raise TypeError(f"new(): invalid data type '{kind}'")
        raise RuntimeError(f"Could not infer dtype of {kind}")


def _first_non_number(data: Any) -> list:
    """[the first element, depth first, neither a number nor a sequence], or [] when there is none."""
    if isinstance(data, np.ndarray) and data.dtype.kind in "biuf":
        return []
    if isinstance(data, _SEQUENCES):
        return next((found for found in map(_first_non_number, data) if found), [])
    return [] if isinstance(data, (bool, int, float, np.generic)) else [data]


def _any_float(data: Any) -> bool:
    """Whether PyTorch infers a floating dtype for nested data: a float, or an empty sequence (the default dtype)."""
    if isinstance(data, _SEQUENCES):
        return not len(data) or any(_any_float(x) for x in data)
    return isinstance(data, (float, np.floating))


def tensor(data: Any, *, dtype: DType | None = None, device: Any = None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:
    """A new tensor holding a copy of data (nested lists, scalars, ndarrays, tensors)."""
    arr = np.array(_infer_numpy(data, dtype), order="C", copy=True)
    return _finish(Tensor._make(backend_for(as_device(device)).from_numpy(arr)), requires_grad)


def as_tensor(data: Any, dtype: DType | None = None, device: Any = None) -> Tensor:
    """data as a tensor, sharing memory with a tensor or an ndarray when dtype and device allow."""
    if isinstance(data, Tensor):
        return data.to(device=device if device is not None else data.device, dtype=dtype or data.dtype)
    if isinstance(data, np.ndarray) and as_device(device).type == "cpu" and dtype in (None, DTYPE_OF_NUMPY.get(
            data.dtype)):
        return from_numpy(data)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(arr: np.ndarray) -> Tensor:
    """A cpu tensor sharing arr's memory: writes to either show in the other."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(arr).__name__})")
    return Tensor._make(backend_for("cpu").from_numpy(arr))


def _filled(size: tuple, value: Any, dtype: DType | None, device: Any, requires_grad: bool) -> Tensor:
    shape = shape_arg(size)
    if any(s < 0 for s in shape):
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(shape)}: {list(shape)}")
    be = backend_for(as_device(device))
    v = be.alloc(shape, dtype or get_default_dtype())
    if value is not None:
        be.fill(v, value)
    return _finish(Tensor._make(v), requires_grad)


def empty(*size: Any, dtype: DType | None = None, device: Any = None, requires_grad: bool = False,
          **_: Any) -> Tensor:
    return _filled(size, None, dtype, device, requires_grad)


def zeros(*size: Any, dtype: DType | None = None, device: Any = None, requires_grad: bool = False,
          **_: Any) -> Tensor:
    return _filled(size, 0, dtype, device, requires_grad)


def ones(*size: Any, dtype: DType | None = None, device: Any = None, requires_grad: bool = False,
         **_: Any) -> Tensor:
    return _filled(size, 1, dtype, device, requires_grad)


def full(size: Any, fill_value: Any, *, dtype: DType | None = None, device: Any = None,
         requires_grad: bool = False, **_: Any) -> Tensor:
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    return _filled((size,) if isinstance(size, int) else size, fill_value, dtype or scalar_dtype(fill_value),
                   device, requires_grad)


def _like(fn: Any, x: Tensor, dtype: DType | None, device: Any, requires_grad: bool, *args: Any) -> Tensor:
    return fn(tuple(x.shape), *args, dtype=dtype or x.dtype, device=device if device is not None else x.device,
              requires_grad=requires_grad)


def empty_like(x: Tensor, *, dtype: DType | None = None, device: Any = None, requires_grad: bool = False,
               **_: Any) -> Tensor:
    return _like(empty, x, dtype, device, requires_grad)


def zeros_like(x: Tensor, *, dtype: DType | None = None, device: Any = None, requires_grad: bool = False,
               **_: Any) -> Tensor:
    return _like(zeros, x, dtype, device, requires_grad)


def ones_like(x: Tensor, *, dtype: DType | None = None, device: Any = None, requires_grad: bool = False,
              **_: Any) -> Tensor:
    return _like(ones, x, dtype, device, requires_grad)


def full_like(x: Tensor, fill_value: Any, *, dtype: DType | None = None, device: Any = None,
              requires_grad: bool = False, **_: Any) -> Tensor:
    return full(tuple(x.shape), fill_value, dtype=dtype or x.dtype, device=device if device is not None else x.device,
                requires_grad=requires_grad)


def _host_range(values: np.ndarray, dtype: DType, device: Any, requires_grad: bool) -> Tensor:
    return _finish(Tensor._make(backend_for(as_device(device)).from_numpy(values.astype(dtype.np))), requires_grad)


def arange(start: Any, end: Any = None, step: Any = 1, *, dtype: DType | None = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Values from start (default 0) up to, not including, end, every step; int64 when all arguments are ints."""
    if end is None:
        start, end = 0, start
    start, end, step = (x.item() if isinstance(x, Tensor) else x for x in (start, end, step))
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    all_int = all(isinstance(x, int) for x in (start, end, step))
    dtype = dtype or (int64 if all_int else get_default_dtype())
    n = max(0, math.ceil((end - start) / step))
    return _host_range(start + step * np.arange(n, dtype=np.int64 if all_int else np.float64), dtype, device,
                       requires_grad)


def linspace(start: float, end: float, steps: int, *, dtype: DType | None = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    return _host_range(np.linspace(start, end, steps), dtype or get_default_dtype(), device, requires_grad)


def logspace(start: float, end: float, steps: int, base: float = 10.0, *, dtype: DType | None = None,
             device: Any = None, requires_grad: bool = False) -> Tensor:
    return _host_range(np.logspace(start, end, steps, base=base), dtype or get_default_dtype(), device,
                       requires_grad)


def eye(n: int, m: int | None = None, *, dtype: DType | None = None, device: Any = None,
        requires_grad: bool = False) -> Tensor:
    return _host_range(np.eye(n, m), dtype or get_default_dtype(), device, requires_grad)


def _random(op: str, size: tuple, a: float, b: float, generator: Generator | None, dtype: DType | None,
            device: Any, requires_grad: bool) -> Tensor:
    t = _filled(size, None, dtype, device, False)
    if not t.dtype.is_floating_point:
        raise RuntimeError(f"\"{'check_uniform_bounds' if op == 'uniform' else 'normal_kernel_cpu'}\" not implemented "
                           f"for '{t.dtype.legacy_name.replace('Tensor', '')}'")
    seed, offset = (generator or default_generator).take(random_blocks(op, t.numel(), t.dtype))
    P.random(op, t._view, seed, offset, a, b)
    return _finish(t, requires_grad)


def rand(*size: Any, generator: Generator | None = None, dtype: DType | None = None, device: Any = None,
         requires_grad: bool = False, **_: Any) -> Tensor:
    """Uniform numbers in [0, 1)."""
    return _random("uniform", size, 0.0, 1.0, generator, dtype, device, requires_grad)


def randn(*size: Any, generator: Generator | None = None, dtype: DType | None = None, device: Any = None,
          requires_grad: bool = False, **_: Any) -> Tensor:
    """Standard normal numbers."""
    return _random("normal", size, 0.0, 1.0, generator, dtype, device, requires_grad)


def rand_like(x: Tensor, *, dtype: DType | None = None, device: Any = None, requires_grad: bool = False,
              **_: Any) -> Tensor:
    return rand(tuple(x.shape), dtype=dtype or x.dtype, device=device or x.device, requires_grad=requires_grad)


def randn_like(x: Tensor, *, dtype: DType | None = None, device: Any = None, requires_grad: bool = False,
               **_: Any) -> Tensor:
    return randn(tuple(x.shape), dtype=dtype or x.dtype, device=device or x.device, requires_grad=requires_grad)


def randint(*args: Any, generator: Generator | None = None, dtype: DType | None = None, device: Any = None,
            requires_grad: bool = False, **kwargs: Any) -> Tensor:
    """Integers uniform in [low, high): randint(high, size) or randint(low, high, size)."""
    if "size" in kwargs:
        args = args + (kwargs.pop("size"),)
    if "high" in kwargs:
        args = (kwargs.pop("low", 0), kwargs.pop("high")) + args
    if len(args) == 2:
        low, (high, size) = 0, args
    elif len(args) == 3:
        low, high, size = args
    else:
        raise TypeError("randint() expects (high, size) or (low, high, size)")
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    u = rand(tuple(size), generator=generator, dtype=_float64_or_32(device), device=device)
    return (u * (high - low) + low).floor().to(dtype or int64)


def _float64_or_32(device: Any) -> DType:
    from distgrad.dtypes import float32, float64
    try:
        backend_for(as_device(device)).alloc((0,), float64)
        return float64
    except RuntimeError:
        return float32


def randint_like(x: Tensor, low: int = 0, high: int | None = None, **kwargs: Any) -> Tensor:
    if high is None:
        low, high = 0, low
    return randint(low, high, tuple(x.shape), dtype=kwargs.get("dtype", x.dtype), device=x.device)


def randperm(n: int, *, generator: Generator | None = None, dtype: DType | None = None, device: Any = None,
             requires_grad: bool = False, **_: Any) -> Tensor:
    """A random permutation of 0..n-1 (the order of n uniform keys)."""
    keys = rand(n, generator=generator, dtype=_float64_or_32(device), device=device)
    return keys.argsort().to(dtype or int64)


def bernoulli(p: Tensor, *, generator: Generator | None = None) -> Tensor:
    return (rand(tuple(p.shape), generator=generator, dtype=p.dtype, device=p.device) < p).to(p.dtype)


def normal(mean: Any, std: Any, size: Any = None, *, generator: Generator | None = None) -> Tensor:
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        ref = mean if isinstance(mean, Tensor) else std
        return randn(tuple(ref.shape), generator=generator, dtype=ref.dtype, device=ref.device) * std + mean
    return randn(size, generator=generator) * std + mean



