"""Sliding windows over the last two dims, and the window ops of conv2d and max_pool2d, which add their gradients
once per kernel offset.

NOTE [ Kernel offsets ]
windows(x) is a view (..., OH, OW, kh, kw). Its slice at one kernel offset (i, j), windows(x)[..., i, j], is a plain
strided view of x of shape (..., OH, OW): distinct windows read distinct elements there, even when the windows
overlap. So a gradient for all windows at one offset goes in with one elementwise add into that slice, and kh * kw
such adds give the whole gradient, where Tensor.unfold's generic backward scatter-adds through an index map
(ops.Window). Im2Col is conv2d's unfold with that backward (col2im): a 3x3 conv2d's forward and backward on a
(64, 32, 16, 16) input took 35-41 ms instead of 131 on the NumPy backend, 38 instead of 98-138 on PoCL. Max pooling
keeps a running maximum over the offsets, in PyTorch's order, and sends each gradient to its offset with a masked
add, where it took an argmax, a gather and a scatter-add before.
"""
from __future__ import annotations

from typing import Any

from distgrad import ops
from distgrad import prims as P
from distgrad import views as V
from distgrad.backends.base import View
from distgrad.nn.named_function import NamedFunction
from distgrad.tensor import Tensor


def windows(x: Tensor, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]) -> Tensor:
    """The (..., OH, OW, kh, kw) view of x's windows over its last two dims (no padding), with autograd."""
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    overlapping = any(s < span for s, span in zip(stride, spans))     # or may: the backward then scatter-adds
    return ops.Window.apply(x, layout=lambda v: V.windows(v, kernel, stride, dilation), overlapping=overlapping)


def _offsets(kernel: tuple[int, int]) -> list[tuple[int, int]]:
    """Kernel offsets in PyTorch's loop order: rows, then columns."""
    return [(i, j) for i in range(kernel[0]) for j in range(kernel[1])]


class Im2Col(NamedFunction):
    """x (N, C, H, W) as the (C * kh * kw, N * OH * OW) matrix of its windows: a row per channel and kernel offset, a
    column per image and output position, the right operand of conv2d's matmul. The backward adds each offset's rows
    into x's shape (NOTE [ Kernel offsets ])."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, kernel: tuple[int, int], stride: tuple[int, int],
                dilation: tuple[int, int]) -> Tensor:
        win = V.windows(x._view, kernel, stride, dilation)                # N, C, OH, OW, kh, kw
        n, c, oh, ow = win.shape[:4]
        ctx.shape, ctx.geometry, ctx.out_hw = x.shape, (kernel, stride, dilation), (oh, ow)
        cols = P.copy(V.permute(win, (1, 4, 5, 0, 2, 3)))
        return Tensor._make(V.reshape(cols, (c * kernel[0] * kernel[1], n * oh * ow)))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        kernel = ctx.geometry[0]
        n, c = ctx.shape[:2]
        g = grad._view if grad._view.is_contiguous() else P.copy(grad._view)
        rows = V.permute(V.reshape(g, (c, *kernel, n, *ctx.out_hw)), (3, 0, 4, 5, 1, 2))   # N, C, OH, OW, kh, kw
        gx = P.full(ctx.shape, 0, grad.dtype, g.storage.backend)
        win = V.windows(gx, *ctx.geometry)
        for i, j in _offsets(kernel):
            at = V.at_last_two(win, i, j)
            P.binary("add", at, V.at_last_two(rows, i, j), out=at)
        return Tensor._make(gx), None, None, None


# a running maximum's step and a gradient's masked add, each one kernel where the backend fuses (prims.fused)
_TAKE = ("bitwise_or", ("lt", ("in", 1), ("in", 0)), ("ne", ("in", 0), ("in", 0)))   # value > best, or value is NaN
_NEXT_INDEX = ("where", _TAKE, ("in", 2), ("in", 3))         # inputs: value, best, plane number, index
_NEXT_BEST = ("where", _TAKE, ("in", 0), ("in", 1))
_ADD_WHERE_TAKEN = ("add", ("in", 0), ("where", ("eq", ("in", 1), ("in", 2)), ("in", 3), ("const", 0.0)))


def max_over_windows(win: View, plane: View) -> tuple[View, View]:
    """Each window's maximum and the `plane` number (the flat (H, W) index) of the element it took, as PyTorch's CPU
    kernel chooses: the first maximum in row-major order, except that a NaN wins over anything before it. win is the
    (..., OH, OW, kh, kw) windows view, plane the (OH, OW, kh, kw) plane numbers at the same places."""
    offsets = _offsets(win.shape[-2:])
    best = V.at_last_two(win, 0, 0)
    index = V.expand(V.at_last_two(plane, 0, 0), best.shape)
    if len(offsets) == 1:       # 1x1 windows: copies, not views of the input
        return P.copy(best), P.copy(index)
    for i, j in offsets[1:]:
        step = [V.at_last_two(win, i, j), best, V.expand(V.at_last_two(plane, i, j), best.shape), index]
        best, index = P.fused(_NEXT_BEST, step[:2]), P.fused(_NEXT_INDEX, step)
    return best, index


class MaxPool2DWithIndices(NamedFunction):
    """Pooled values whose gradient goes to the elements they were taken from, named by plane numbers (flat (H, W)
    indices): at each kernel offset, a masked add of the windows that took the element there (NOTE [ Kernel offsets
    ]). `plane` holds the plane numbers in the windows of the input padded to `padded_shape` (-1 on padding), with
    the input's top-left corner at `top_left` and `geometry` the windows' (kernel, stride, dilation); a window over
    padding only took no element."""

    @staticmethod
    def forward(ctx: Any, input: Tensor, values: Tensor, taken: Tensor, plane: View, padded_shape: tuple,
                top_left: tuple[int, int], geometry: tuple) -> Tensor:
        ctx.shape, ctx.taken, ctx.plane = input.shape, taken._view, plane
        ctx.padded_shape, ctx.top_left, ctx.geometry = padded_shape, top_left, geometry
        return values

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        g = grad._view
        gx = P.full(ctx.padded_shape, 0, grad.dtype, g.storage.backend)
        win = V.windows(gx, *ctx.geometry)
        for i, j in _offsets(ctx.geometry[0]):
            at = V.at_last_two(win, i, j)
            plane = V.expand(V.at_last_two(ctx.plane, i, j), g.shape)
            P.fused(_ADD_WHERE_TAKEN, [at, ctx.taken, plane, g], out=at)
        (top, left), (row, col) = ctx.top_left, gx.strides[-2:]
        return (Tensor._make(View(gx.storage, ctx.shape, gx.strides, top * row + left * col)),) + (None,) * 6
