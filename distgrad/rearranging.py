"""Ops that move, repeat or pick elements along dims: tile, repeat_interleave, roll, rot90, diff, cross,
take_along_dim, index_add. A mixin of Tensor composed from Tensor's views, indexing and arithmetic (gradients come
with them)."""
from __future__ import annotations

import warnings
from typing import Any

from distgrad.backends.base import bool_, int64
from distgrad.dims import broadcast_shapes, shape_arg, wrap_dim
from distgrad.linear_algebra import scalar_type_name

_CROSS_NO_DIM = ("Using torch.cross without specifying the dim arg is deprecated.\nPlease either pass the dim "
                 "explicitly or simply use torch.linalg.cross.\nThe default value of dim will change to agree with "
                 "that of linalg.cross in a future release.")


class RearrangeOps:
    """Tensor's tile, repeat_interleave, roll, rot90, diff, cross, take_along_dim, index_add (the class body only uses
    Tensor's public methods and _write)."""

    __slots__ = ()

    def tile(self, *dims: Any) -> Any:
        """repeat, with dims padded by leading 1s to the tensor's ndim."""
        reps = shape_arg(dims)
        return self.repeat((1,) * (self.ndim - len(reps)) + reps)

    def repeat_interleave(self, repeats: Any = None, dim: int | None = None, *, output_size: int | None = None) -> Any:
        """Each element (each slice along dim) repeats[i] times in a row; no dim flattens first. Without repeats, self
        holds the repeats and the result repeats their positions."""
        from distgrad.creation import arange, tensor
        if repeats is None:
            return arange(self.numel(), device=self.device).repeat_interleave(self, output_size=output_size)
        x, d = (self.reshape(-1), 0) if dim is None else (self, wrap_dim(dim, self.ndim))
        if isinstance(repeats, RearrangeOps):
            if repeats.ndim > 1:
                raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
            if repeats.dtype.is_floating_point:
                raise NotImplementedError(f"\"repeat_interleave_{self.device.type}\" not implemented for "
                                          f"'{scalar_type_name(repeats.dtype)}'")
            counts = repeats.reshape(-1).tolist()
            if len(counts) == 1:
                repeats = counts[0]
            elif len(counts) != x.shape[d]:
                raise RuntimeError(f"repeats must have the same size as input along dim, but got repeats.size(0) = "
                                   f"{len(counts)} and input.size({d}) = {x.shape[d]}")
            elif min(counts, default=0) < 0:
                raise RuntimeError("repeats can not be negative")
        if isinstance(repeats, int):
            if repeats < 0:
                raise RuntimeError("Repeats must be non-negative")
            counts = [repeats] * x.shape[d]
        if output_size is not None and output_size != sum(counts):
            raise RuntimeError("allocated size does not match required size")
        index = tensor([i for i, n in enumerate(counts) for _ in range(n)], dtype=int64, device=self.device)
        return x.index_select(d, index)

    def roll(self, shifts: Any, dims: Any = None) -> Any:
        """Shift elements along dims, those pushed past the end coming back at the start; no dims rolls the flattened
        tensor."""
        shifts = tuple(shifts) if isinstance(shifts, (tuple, list)) else (shifts,)
        dims = () if dims is None else tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
        if not shifts:
            raise RuntimeError("`shifts` required")
        if len(shifts) != len(dims) and not (not dims and len(shifts) == 1):
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
        if not dims:
            return self.reshape(-1).roll(shifts, 0).reshape(self.shape)
        if not self.ndim:
            raise IndexError(f"Dimension specified as {dims[0]} but tensor has no dimensions")
        out = self
        for shift, d in zip(shifts, dims):
            d = wrap_dim(d, self.ndim)
            n = out.shape[d]
            if n and shift % n:
                s = shift % n
                from distgrad.joining import cat
                out = cat([out.narrow(d, n - s, s), out.narrow(d, 0, n - s)], d)
        return out

    def rot90(self, k: int = 1, dims: Any = (0, 1)) -> Any:
        """Rotate by 90 degrees k times in the plane of dims, from the first dim towards the second."""
        dims = tuple(dims)
        if len(dims) != 2:
            raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
        if self.ndim < 2:
            raise RuntimeError(f"expected total dims >= 2, but got total dims = {self.ndim}")
        d0, d1 = wrap_dim(dims[0], self.ndim), wrap_dim(dims[1], self.ndim)
        if d0 == d1:
            raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {dims[0]} and dim1 = {dims[1]}")
        k %= 4
        if k == 1:
            return self.flip(d1).transpose(d0, d1)
        if k == 2:
            return self.flip(d0, d1)
        return self.flip(d0).transpose(d0, d1) if k == 3 else self.clone()

    def diff(self, n: int = 1, dim: int = -1, prepend: Any = None, append: Any = None) -> Any:
        """The n-th forward difference along dim (for bool, the elements that differ from the next one)."""
        if not self.ndim:
            raise RuntimeError("diff expects input to be at least one-dimensional")
        if n < 0:
            raise RuntimeError(f"order must be non-negative but got {n}")
        d = wrap_dim(dim, self.ndim)
        parts = [t for t in (prepend, self, append) if t is not None]
        for name, t in (("prepend", prepend), ("append", append)):
            if t is not None and not isinstance(t, RearrangeOps):
                raise TypeError(f"diff(): argument '{name}' must be Tensor, not {type(t).__name__}")
            if t is not None and t.ndim != self.ndim:
                raise RuntimeError("diff expects prepend or append to be the same dimension as input")
            for k in range(self.ndim):
                if t is not None and k != d and t.shape[k] != self.shape[k]:
                    raise RuntimeError("diff expects the shape of tensor to prepend or append to match that of input "
                                       f"except along the differencing dimension; input.size({k}) = {self.shape[k]}, "
                                       f"but got tensor.size({k}) = {t.shape[k]}")
        from distgrad.joining import cat
        out = cat(parts, d) if len(parts) > 1 else self
        for _ in range(n):
            m = max(out.shape[d] - 1, 0)
            later, earlier = out.narrow(d, min(1, out.shape[d]), m), out.narrow(d, 0, m)
            out = later != earlier if out.dtype is bool_ else later - earlier
        return out

    def cross(self, other: Any, dim: int | None = None) -> Any:
        """Cross product of 3-vectors along dim; no dim takes the first dim of size 3 (deprecated, as in PyTorch)."""
        if dim is None:
            warnings.warn(_CROSS_NO_DIM, UserWarning, stacklevel=2)
            shape = broadcast_shapes(self._view.shape, other._view.shape) if self.ndim == other.ndim else self.shape
            dim = next((d for d, n in enumerate(shape) if n == 3), None)
            if dim is None:
                raise RuntimeError("no dimension of size 3 in input")
        from distgrad.linalg import cross
        return cross(self, other, dim=dim)

    def take_along_dim(self, indices: Any, dim: int | None = None) -> Any:
        """Pick values at indices along dim, broadcasting self and indices in the other dims; no dim works on the
        flattened tensor."""
        if indices.dtype is not int64:
            raise RuntimeError(f"torch.take_along_dim(): dtype of indices should be Long but got "
                               f"{scalar_type_name(indices.dtype)}")
        if dim is None:
            return self.reshape(-1).gather(0, indices.reshape(-1))
        if self.ndim != indices.ndim:
            raise RuntimeError(f"torch.take_along_dim(): input and indices should have the same number of dimensions, "
                               f"but got {self.ndim} dimensions for input, and {indices.ndim} dimensions for indices")
        d = wrap_dim(dim, self.ndim)
        shape = broadcast_shapes(tuple(self.shape[:d]) + (1,) + tuple(self.shape[d + 1:]),
                                 tuple(indices.shape[:d]) + (1,) + tuple(indices.shape[d + 1:]))
        x = self.expand(shape[:d] + (self.shape[d],) + shape[d + 1:])
        return x.gather(d, indices.expand(shape[:d] + (indices.shape[d],) + shape[d + 1:]))

    def index_add(self, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Any:
        """self with alpha * source's slices along dim added at the positions index names (repeats accumulate)."""
        if not self.ndim or not source.ndim:
            raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
        d = wrap_dim(dim, self.ndim)
        if index.ndim > 1:
            raise IndexError(f"index_add_(): Index is supposed to be a vector, but got dim: {index.ndim} with type: "
                             f"{scalar_type_name(index.dtype)} and size: {list(index.shape)}")
        if index.dtype.is_floating_point or index.dtype.name not in ("int32", "int64"):
            raise RuntimeError(f"index_add_(): Expected dtype int32/int64 for index but got: "
                               f"{scalar_type_name(index.dtype)}")
        if source.dtype is not self.dtype:
            raise RuntimeError(f"index_add_(): self ({scalar_type_name(self.dtype)}) and source "
                               f"({scalar_type_name(source.dtype)}) must have the same scalar type")
        if source.ndim != self.ndim or any(a != b for k, (a, b) in enumerate(zip(self.shape, source.shape)) if k != d):
            raise RuntimeError(f"source tensor shape must match self tensor shape, excluding the specified dimension. "
                               f"Got self.shape = {list(self.shape)} source.shape = {list(source.shape)}")
        if index.numel() != source.shape[d]:
            raise RuntimeError(f"index_add_(): Number of indices ({index.numel()}) should be equal to "
                               f"source.size(dim): ({source.shape[d]}), for dim: {d}")
        position = index.to(int64).reshape([-1 if k == d else 1 for k in range(self.ndim)]).expand(source.shape)
        return self.scatter_add(d, position, source * alpha if alpha != 1 else source)

    def index_add_(self, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Any:
        return self._write(self.index_add(dim, index, source, alpha=alpha), inputs=(index, source), same_ok=False)
