"""Ops that combine tensors: cat, stack, where, broadcast_tensors, meshgrid."""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from distgrad import ops
from distgrad.backends.base import bool_
from distgrad.dims import broadcast_shapes, check_same_device, wrap_dim
from distgrad.dtypes import promote_types
from distgrad.tensor import Tensor


def cat(tensors: Sequence[Tensor], dim: int = 0, *, out: Tensor | None = None) -> Tensor:
    """Concatenate along an existing dim (1-D empty tensors are skipped, as PyTorch)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    parts = [t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)] or tensors[:1]
    ref = parts[0]
    if ref.ndim == 0:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    d = wrap_dim(dim, ref.ndim)
    dtype = ref.dtype
    for i, t in enumerate(parts):
        check_same_device(ref._view, t._view)
        dtype = promote_types(dtype, t.dtype)
        if t.ndim != ref.ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {ref.ndim} and {t.ndim}")
        for k in range(ref.ndim):
            if k != d and t.shape[k] != ref.shape[k]:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {d}. Expected size "
                                   f"{ref.shape[k]} but got size {t.shape[k]} for tensor number {i} in the list.")
    result = ops.Cat.apply(*(t.to(dtype) for t in parts), dim=d)
    return result if out is None else out.resize_(result.shape).copy_(result)


concat = concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0, *, out: Tensor | None = None) -> Tensor:
    """Join tensors of one shape along a new dim."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(tensors[0].shape)} at "
                               f"entry 0 and {list(t.shape)} at entry {i}")
    d = wrap_dim(dim, tensors[0].ndim + 1)
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        check_same_device(tensors[0]._view, t._view)
        dtype = promote_types(dtype, t.dtype)
    result = ops.Stack.apply(*(t.to(dtype) for t in tensors), dim=d)
    return result if out is None else out.resize_(result.shape).copy_(result)


def hstack(tensors: Sequence[Tensor]) -> Tensor:
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Tensor]) -> Tensor:
    return cat([t.reshape(1, -1) if t.ndim == 1 else t for t in tensors], 0)


def where(condition: Tensor, input: Any = None, other: Any = None) -> Any:
    """Elementwise choice: input where condition is True, else other; where(condition) is nonzero(as_tuple)."""
    if input is None and other is None:
        return condition.nonzero(as_tuple=True)
    if condition.dtype is not bool_:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype "
                           f"{condition.dtype.legacy_name.replace('Tensor', '')}")
    ref = input if isinstance(input, Tensor) else other if isinstance(other, Tensor) else condition
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        from distgrad.dtypes import result_type
        ref = condition.new_full((), input, dtype=result_type(input, other))
    a = input if isinstance(input, Tensor) else ref._operand(input)
    b = other if isinstance(other, Tensor) else ref._operand(other)
    a, b = a._broadcast(b)
    shape = broadcast_shapes(tuple(condition.shape), tuple(a.shape))
    a, b, c = a.expand(shape), b.expand(shape), condition.expand(shape)
    check_same_device(c._view, a._view)
    return ops.Where.apply(c, a, b)


def broadcast_tensors(*tensors: Tensor) -> tuple[Tensor, ...]:
    shape: tuple[int, ...] = ()
    for t in tensors:
        shape = broadcast_shapes(shape, tuple(t.shape))
    return tuple(t.expand(shape) for t in tensors)


def meshgrid(*tensors: Any, indexing: str | None = None) -> tuple[Tensor, ...]:
    """Coordinate grids from 1-D tensors: 'ij' gives the grids the shape (len(t0), len(t1), ...), 'xy' swaps the first
    two lengths. Without indexing: 'ij', with PyTorch's warning."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the indexing argument.",
                      UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f'torch.meshgrid: indexing must be one of "xy" or "ij", but received: {indexing}')
    if not tensors:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    for t in tensors:
        if t.dtype is not tensors[0].dtype:
            raise RuntimeError("meshgrid expects all tensors to have the same dtype")
        check_same_device(tensors[0]._view, t._view)
        if t.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t}")
    order = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) > 1:
        order[:2] = [1, 0]                    # grid dim k runs along tensors[order[k]]
    shape = tuple(tensors[i].numel() for i in order)
    return tuple(t.reshape([-1 if order[k] == i else 1 for k in range(len(order))]).expand(shape)
                 for i, t in enumerate(tensors))
