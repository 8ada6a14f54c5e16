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

from distgrad import prims as P
from distgrad import views as V
from distgrad.creation import zeros
from distgrad.nn.named_function import NamedFunction
from distgrad.tensor import Tensor


def windows(x: Tensor, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]) -> Tensor:
    """The (..., OH, OW, kh, kw) view of x's windows over its last two dims (no padding)."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    h = x.ndim - 2     # unfold appends a dim, so the width dim is named from the front
    win = x.unfold(h, dh * (kh - 1) + 1, sh).unfold(h + 1, dw * (kw - 1) + 1, sw)
    return win[..., ::dh, ::dw] if dh > 1 or dw > 1 else win


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
        win = windows(x, kernel, stride, dilation)                       # N, C, OH, OW, kh, kw
        n, c, oh, ow = win.shape[:4]
        ctx.shape, ctx.geometry, ctx.out_hw = x.shape, (kernel, stride, dilation), (oh, ow)
        return win.permute(1, 4, 5, 0, 2, 3).reshape(c * kernel[0] * kernel[1], n * oh * ow)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        kernel = ctx.geometry[0]
        n, c = ctx.shape[:2]
        rows = grad.reshape(c, *kernel, n, *ctx.out_hw)
        gx = zeros(ctx.shape, dtype=grad.dtype, device=grad.device)
        win = windows(gx, *ctx.geometry)
        for i, j in _offsets(kernel):
            win[..., i, j].add_(rows[:, i, j].transpose(0, 1))
        return gx, None, None, None


# a running maximum's step and a gradient's masked add, each one kernel where the backend fuses (prims.fused)
_TAKE = ("bitwise_or", ("lt", ("in", 1), ("in", 0)), ("ne", ("in", 0), ("in", 0)))   # value > best, or value is NaN
_NEXT_INDEX = ("where", _TAKE, ("in", 2), ("in", 3))         # inputs: value, best, plane number, index
_NEXT_BEST = ("where", _TAKE, ("in", 0), ("in", 1))
_ADD_WHERE_TAKEN = ("add", ("in", 0), ("where", ("eq", ("in", 1), ("in", 2)), ("in", 3), ("const", 0.0)))


def max_over_windows(win: Tensor, plane: Tensor) -> tuple[Tensor, Tensor]:
    """Each window's maximum and the `plane` number (the flat (H, W) index) of the element it took, as PyTorch's CPU
    kernel chooses: the first maximum in row-major order, except that a NaN wins over anything before it. win is the
    (..., OH, OW, kh, kw) windows view, plane the (OH, OW, kh, kw) plane numbers at the same places."""
    offsets = _offsets(tuple(win.shape[-2:]))
    best, index = win[..., 0, 0]._view, plane[..., 0, 0].expand(win.shape[:-2])._view
    if len(offsets) == 1:       # 1x1 windows: copies, not views of the input
        return Tensor._make(P.copy(best)), Tensor._make(P.copy(index))
    for i, j in offsets[1:]:
        step = [win[..., i, j]._view, best, V.expand(plane[..., i, j]._view, best.shape), index]
        best, index = P.fused(_NEXT_BEST, step[:2]), P.fused(_NEXT_INDEX, step)
    return Tensor._make(best), Tensor._make(index)


class MaxPool2DWithIndices(NamedFunction):
    """Pooled values whose gradient goes to the elements they were taken from, named by plane numbers (flat (H, W)
    indices): at each kernel offset, a masked add of the windows that took the element there (NOTE [ Kernel offsets
    ]). `plane` holds the plane numbers in the windows of the input padded to `padded_shape` (-1 on padding), with
    the input's top-left corner at `top_left` and `geometry` the windows' (kernel, stride, dilation); a window over
    padding only took no element."""

    @staticmethod
    def forward(ctx: Any, input: Tensor, values: Tensor, taken: Tensor, plane: Tensor, padded_shape: tuple,
                top_left: tuple[int, int], geometry: tuple) -> Tensor:
        ctx.shape, ctx.taken, ctx.plane = input.shape, taken, plane
        ctx.padded_shape, ctx.top_left, ctx.geometry = padded_shape, top_left, geometry
        return values

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        gx = zeros(ctx.padded_shape, dtype=grad.dtype, device=grad.device)
        win = windows(gx, *ctx.geometry)
        taken, g = ctx.taken._view, grad._view
        for i, j in _offsets(ctx.geometry[0]):
            at = win[..., i, j]._view
            P.fused(_ADD_WHERE_TAKEN, [at, taken, V.expand(ctx.plane[..., i, j]._view, g.shape), g], out=at)
        (top, left), (h, w) = ctx.top_left, ctx.shape[-2:]
        return (gx[..., top:top + h, left:left + w],) + (None,) * 6
