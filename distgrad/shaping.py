"""Shape ops: views that change metadata only (view, reshape, permute, transpose, squeeze, expand, narrow, select,
unfold...) and the copies that rearrange elements (repeat, split, chunk, flip). A mixin of Tensor."""
from __future__ import annotations

import builtins
from typing import Any

from distgrad import ops
from distgrad import views as V
from distgrad.backends.base import DType
from distgrad.dims import numel, shape_arg, wrap_dim, wrap_dims


class ShapeOps:
    """Tensor's shape methods (the class body only uses Tensor's own methods)."""

    __slots__ = ()

    def _resolve(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        n = self.numel()
        if shape.count(-1) > 1:
            raise RuntimeError("only one dimension can be inferred")
        known = numel(tuple(s for s in shape if s != -1))
        if -1 in shape:
            if known == 0 or n % known:
                raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {n}")
            shape = tuple(n // known if s == -1 else s for s in shape)
        elif known != n or any(s < 0 for s in shape):
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {n}")
        return shape

    def view(self, *shape: Any) -> Any:
        if len(shape) == 1 and isinstance(shape[0], DType):
            raise NotImplementedError("view(dtype) is not supported; use .to(dtype)")
        shape = self._resolve(shape_arg(shape))
        if V.reshape(self._view, shape) is None:
            raise RuntimeError("view size is not compatible with input tensor's size and stride (at least one "
                               "dimension spans across two contiguous subspaces). Use .reshape(...) instead.")
        return ops.Reshape.apply(self, shape=shape)

    def reshape(self, *shape: Any) -> Any:
        shape = self._resolve(shape_arg(shape))
        return ops.Reshape.apply(self, shape=shape)      # a new view even for the same shape, as PyTorch

    def view_as(self, other: Any) -> Any:
        return self.view(other.shape)

    def reshape_as(self, other: Any) -> Any:
        return self.reshape(other.shape)

    def contiguous(self, memory_format: Any = None) -> Any:
        return self if self._view.is_contiguous() else self.clone()

    def clone(self, memory_format: Any = None) -> Any:
        return ops.Clone.apply(self)

    def squeeze(self, dim: Any = None) -> Any:
        dims = wrap_dims(dim, self.ndim) if self.ndim else ()
        shape = tuple(s for d, s in enumerate(self._view.shape) if not (d in dims and s == 1))
        fn = ops.Squeeze if dim is None else ops.SqueezeDims if isinstance(dim, (tuple, list)) else ops.SqueezeDim
        return fn.apply(self, shape=shape)      # a new view even when nothing is squeezed

    def unsqueeze(self, dim: int) -> Any:
        d = wrap_dim(dim, self.ndim + 1)
        return ops.Unsqueeze.apply(self, shape=self._view.shape[:d] + (1,) + self._view.shape[d:])

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Any:
        if not self.ndim:
            return self.reshape(1)
        s, e = wrap_dim(start_dim, self.ndim), wrap_dim(end_dim, self.ndim)
        if s > e:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        shape = self._view.shape
        return self.reshape(shape[:s] + (numel(shape[s:e + 1]),) + shape[e + 1:])

    def ravel(self) -> Any:
        return self.reshape(-1)

    def unflatten(self, dim: int, sizes: Any) -> Any:
        d = wrap_dim(dim, self.ndim)
        given = sizes = tuple(sizes)
        n = self._view.shape[d]
        if -1 in sizes:
            known = numel(tuple(s for s in sizes if s != -1))
            sizes = tuple(n // known if s == -1 else s for s in sizes)
        if numel(sizes) != n:
            raise RuntimeError(f"unflatten: Provided sizes {list(given)} don't multiply up to the size of dim {dim} "
                               f"({n}) in the input tensor")
        return self.reshape(self._view.shape[:d] + sizes + self._view.shape[d + 1:])

    def permute(self, *dims: Any) -> Any:
        dims = tuple(wrap_dim(d, self.ndim) for d in shape_arg(dims))
        if sorted(dims) != list(range(self.ndim)):
            raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
                               f"length of the desired ordering of dimensions i.e. input.dim() = {self.ndim} is not "
                               f"equal to len(dims) = {len(dims)}" if len(dims) != self.ndim else
                               "permute(): duplicate dims are not allowed.")
        return ops.Permute.apply(self, dims=dims)

    def transpose(self, dim0: int, dim1: int) -> Any:
        if not self.ndim:
            return self
        d0, d1 = wrap_dim(dim0, self.ndim), wrap_dim(dim1, self.ndim)
        dims = list(range(self.ndim))
        dims[d0], dims[d1] = d1, d0
        return ops.Transpose.apply(self, dims=tuple(dims))

    swapaxes = swapdims = transpose

    def t(self) -> Any:
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return ops.T.apply(self, dims=(1, 0) if self.ndim == 2 else tuple(range(self.ndim)))

    def t_(self) -> Any:
        if self.ndim > 2:
            raise RuntimeError(f"t_() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self._set_layout(self.t())

    def transpose_(self, dim0: int, dim1: int) -> Any:
        return self._set_layout(self.transpose(dim0, dim1))

    def _set_layout(self, other: Any) -> Any:
        self._view, self._grad_fn = other._view, other.grad_fn if self.grad_fn is not None else None
        return self

    def movedim(self, source: int, destination: int) -> Any:
        s, d = wrap_dim(source, self.ndim), wrap_dim(destination, self.ndim)
        order = [i for i in range(self.ndim) if i != s]
        order.insert(d, s)
        return self.permute(*order)

    def expand(self, *sizes: Any) -> Any:
        sizes = shape_arg(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError(f"expand(torch.{self.dtype.legacy_name}{{{list(self.shape)}}}, size={list(sizes)}): "
                               "the number of sizes provided (" + str(len(sizes)) + ") must be greater or equal to "
                               "the number of dimensions in the tensor (" + str(self.ndim) + ")")
        pad = len(sizes) - self.ndim
        shape = []
        for i, s in enumerate(sizes):
            old = self._view.shape[i - pad] if i >= pad else None
            if s == -1:
                if old is None:
                    raise RuntimeError(f"The expanded size of the tensor (-1) isn't allowed in a leading, "
                                       f"non-existing dimension {i}")
                s = old
            elif old is not None and old != 1 and old != s:
                raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing size ({old}) at "
                                   f"non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                                   f"{list(self.shape)}")
            shape.append(s)
        shape = tuple(shape)
        return self if shape == self._view.shape else ops.Expand.apply(self, shape=shape)

    def expand_as(self, other: Any) -> Any:
        return self.expand(other.shape)

    def broadcast_to(self, shape: Any) -> Any:
        return self.expand(shape_arg((shape,)))

    def narrow(self, dim: int, start: int, length: int) -> Any:
        d = wrap_dim(dim, self.ndim)
        n = self._view.shape[d]
        if start < 0:
            start += n
        if start < 0 or length < 0 or start + length > n:
            raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
        spec = (("slice", 0, s, 1) for s in self._view.shape[:d])
        spec = tuple(spec) + (("slice", start, length, 1),)
        return ops.Slice.apply(self, layout=lambda v: V.index(v, spec))

    def select(self, dim: int, index: int) -> Any:
        d = wrap_dim(dim, self.ndim)
        n = self._view.shape[d]
        if not -n <= index < n:
            raise IndexError(f"select(): index {index} out of range for tensor of size {list(self.shape)} at "
                             f"dimension {d}")
        spec = tuple(("slice", 0, s, 1) for s in self._view.shape[:d]) + (("int", index % n),)
        return ops.Select.apply(self, layout=lambda v: V.index(v, spec))

    def unbind(self, dim: int = 0) -> tuple[Any, ...]:
        d = wrap_dim(dim, self.ndim)
        return tuple(self.select(d, i) for i in range(self._view.shape[d]))

    def split(self, split_size: Any, dim: int = 0) -> tuple[Any, ...]:
        d = wrap_dim(dim, self.ndim)
        n = self._view.shape[d]
        if isinstance(split_size, int):
            if split_size <= 0 and n:
                raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
            sizes = [min(split_size, n - i) for i in range(0, n, split_size)] if n else [0]
        else:
            sizes = list(split_size)
            if builtins.sum(sizes) != n:
                raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size "
                                   f"at dimension {d}), but got split_sizes={sizes}")
        out, start = [], 0
        for s in sizes:
            out.append(self.narrow(d, start, s))
            start += s
        return tuple(out)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Any, ...]:
        if chunks <= 0:
            raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
        n = self._view.shape[wrap_dim(dim, self.ndim)]
        return self.split(max(1, -(-n // chunks)), dim)

    def repeat(self, *sizes: Any) -> Any:
        reps = shape_arg(sizes)
        if len(reps) < self.ndim:
            raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of "
                               "tensor")
        shape = (1,) * (len(reps) - self.ndim) + self._view.shape
        result_shape = [r * s for r, s in zip(reps, shape)]
        negative = [n for n in result_shape if n < 0]
        if negative:
            raise RuntimeError(f"Trying to create tensor with negative dimension {negative[0]}: {result_shape}")
        x = self.reshape(tuple(d for s in shape for d in (1, s)))
        x = x.expand(tuple(d for r, s in zip(reps, shape) for d in (r, s)))
        return x.reshape(result_shape)

    def unfold(self, dimension: int, size: int, step: int) -> Any:
        d = wrap_dim(dimension, max(1, self.ndim))
        if size > self._view.shape[d]:
            raise RuntimeError(f"maximum size for tensor at dimension {d} is {self._view.shape[d]} but size is {size}")
        return ops.Unfold.apply(self, layout=lambda v: V.unfold(v, d, size, step), overlapping=step < size)

    def flip(self, *dims: Any) -> Any:
        out = self
        for d in wrap_dims(shape_arg(dims), self.ndim):
            n = self._view.shape[d]
            from distgrad.creation import arange
            out = out.index_select(d, arange(n - 1, -1, -1, device=self.device))
        return out
