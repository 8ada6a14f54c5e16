"""View arithmetic (V.*): new shape/strides/offset over the same Storage. No data moves, no autograd."""
from __future__ import annotations

from distgrad.backends.base import View, contiguous_strides


def expand(v: View, shape: tuple[int, ...]) -> View:
    """Broadcast v to shape with stride 0 along new or size-1 dims (the caller checked compatibility)."""
    pad = len(shape) - len(v.shape)
    strides = [0] * pad
    for size, old, st in zip(shape[pad:], v.shape, v.strides):
        strides.append(st if size == old else 0)
    return View(v.storage, tuple(shape), tuple(strides), v.offset)


def permute(v: View, dims: tuple[int, ...]) -> View:
    return View(v.storage, tuple(v.shape[d] for d in dims), tuple(v.strides[d] for d in dims), v.offset)


def reshape(v: View, shape: tuple[int, ...]) -> View | None:
    """v with a new shape and no copy, or None when the strides cannot express it (PyTorch's computeStride)."""
    if v.shape == shape:
        return v
    if not v.shape or v.numel == 0 or v.is_contiguous():
        return View(v.storage, shape, contiguous_strides(shape), v.offset)
    new_strides = [0] * len(shape)
    view_d = len(shape) - 1
    chunk_base_stride = v.strides[-1]
    tensor_numel = view_numel = 1
    for tensor_d in range(len(v.shape) - 1, -1, -1):
        tensor_numel *= v.shape[tensor_d]
        if tensor_d == 0 or (v.shape[tensor_d - 1] != 1 and
                             v.strides[tensor_d - 1] != tensor_numel * chunk_base_stride):
            while view_d >= 0 and (view_numel < tensor_numel or shape[view_d] == 1):
                new_strides[view_d] = view_numel * chunk_base_stride
                view_numel *= shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if tensor_d > 0:
                chunk_base_stride = v.strides[tensor_d - 1]
                tensor_numel = view_numel = 1
    if view_d != -1:
        return None
    return View(v.storage, shape, tuple(new_strides), v.offset)


def unsqueeze(v: View, dim: int) -> View:
    stride = v.strides[dim] * v.shape[dim] if dim < len(v.shape) else 1
    return View(v.storage, v.shape[:dim] + (1,) + v.shape[dim:], v.strides[:dim] + (stride,) + v.strides[dim:],
                v.offset)


def squeeze(v: View, dims: tuple[int, ...]) -> View:
    keep = [d for d in range(len(v.shape)) if not (d in dims and v.shape[d] == 1)]
    return View(v.storage, tuple(v.shape[d] for d in keep), tuple(v.strides[d] for d in keep), v.offset)


def index(v: View, spec: tuple) -> View:
    """Basic indexing. spec items, consumed left to right over v's dims: ("int", i) drops a dim, ("slice", start,
    length, step) keeps one, ("new",) inserts a size-1 dim; trailing dims are kept. Indices are already in range."""
    shape, strides, offset, d = [], [], v.offset, 0
    for item in spec:
        kind = item[0]
        if kind == "int":
            offset += item[1] * v.strides[d]
            d += 1
        elif kind == "slice":
            _, start, length, step = item
            offset += start * v.strides[d] if length else 0
            shape.append(length)
            strides.append(v.strides[d] * step)
            d += 1
        else:
            shape.append(1)
            strides.append(0)
    return View(v.storage, tuple(shape) + v.shape[d:], tuple(strides) + v.strides[d:], offset)


def diagonal(v: View, offset: int, dim1: int, dim2: int) -> View:
    """The diagonal of dims dim1, dim2 as a new last dim (torch.diagonal)."""
    n1, n2 = v.shape[dim1], v.shape[dim2]
    length = max(0, min(n1, n2 - offset) if offset >= 0 else min(n1 + offset, n2))
    start = v.offset + (offset * v.strides[dim2] if offset >= 0 else -offset * v.strides[dim1])
    keep = [d for d in range(len(v.shape)) if d not in (dim1, dim2)]
    return View(v.storage, tuple(v.shape[d] for d in keep) + (length,),
                tuple(v.strides[d] for d in keep) + (v.strides[dim1] + v.strides[dim2],), start if length else v.offset)


def unfold(v: View, dim: int, size: int, step: int) -> View:
    """Windows of `size` every `step` along dim, as a new last dim (Tensor.unfold); windows may overlap."""
    count = (v.shape[dim] - size) // step + 1
    shape = v.shape[:dim] + (count,) + v.shape[dim + 1:] + (size,)
    strides = v.strides[:dim] + (v.strides[dim] * step,) + v.strides[dim + 1:] + (v.strides[dim],)
    return View(v.storage, shape, strides, v.offset)


def windows(v: View, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]) -> View:
    """The (..., OH, OW, kh, kw) windows over v's last two dims (no padding); windows may overlap."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    (h, w), (th, tw) = v.shape[-2:], v.strides[-2:]
    oh, ow = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
    return View(v.storage, v.shape[:-2] + (oh, ow, kh, kw), v.strides[:-2] + (th * sh, tw * sw, th * dh, tw * dw),
                v.offset)


def at_last_two(v: View, i: int, j: int) -> View:
    """v[..., i, j]: for windows, every window's element at kernel offset (i, j)."""
    return View(v.storage, v.shape[:-2], v.strides[:-2], v.offset + i * v.strides[-2] + j * v.strides[-1])


def flat_storage(v: View) -> View:
    """The whole storage of v as a 1-D View (for scatters addressed in storage coordinates)."""
    return View(v.storage, (v.storage.size,), (1,), 0)
