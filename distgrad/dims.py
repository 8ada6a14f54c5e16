"""Shape and dim arguments as PyTorch reads them: wrapping negative dims, size arguments, broadcasting, devices.
Shared by Tensor and the free functions (joining, creation) so that every op words its errors the same way."""
from __future__ import annotations

import builtins

from distgrad.backends.base import View


def numel(shape: tuple[int, ...]) -> int:
    """The number of elements of a shape."""
    n = 1
    for s in shape:
        n *= s
    return n


def wrap_dim(d: int, ndim: int) -> int:
    """Wrap a possibly negative dim, raising PyTorch's IndexError when out of range."""
    lo, hi = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    if not isinstance(d, int) or isinstance(d, builtins.bool):
        raise TypeError(f"dim must be an int, got {type(d).__name__}")
    if d < lo or d > hi:
        raise IndexError(f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {d})")
    return d % ndim if ndim else 0


def wrap_dims(dim: int | tuple[int, ...] | list[int] | None, ndim: int) -> tuple[int, ...]:
    """Sorted wrapped dims (all of them for None), refusing repeats as PyTorch."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = sorted({wrap_dim(d, ndim) for d in dims}) if ndim else []
    if ndim and len(out) != len(dims):
        raise RuntimeError(f"dim {dims} appears multiple times in the list of dims")
    return tuple(out)


def shape_arg(args: tuple) -> tuple[int, ...]:
    """Sizes given as f(2, 3), f((2, 3)), f([2, 3]) or f(Size([2, 3]))."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    for s in args:
        if not isinstance(s, int) or isinstance(s, builtins.bool):
            raise TypeError(f"expected a sequence of integers as sizes, got {type(s).__name__}")
    return tuple(int(s) for s in args)


def broadcast_shapes(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy-style broadcasting, with PyTorch's error text."""
    n = max(len(a), len(b))
    out = []
    for i in range(n):
        x = a[i - n + len(a)] if i - n + len(a) >= 0 else 1
        y = b[i - n + len(b)] if i - n + len(b) >= 0 else 1
        if x != y and x != 1 and y != 1:
            raise RuntimeError(f"The size of tensor a ({x}) must match the size of tensor b ({y}) at non-singleton "
                               f"dimension {i}")
        out.append(y if x == 1 else x)
    return tuple(out)


def check_same_device(a: View, b: View) -> None:
    """PyTorch's error when two operands live on different devices."""
    if a.storage.backend is not b.storage.backend:
        raise RuntimeError("Expected all tensors to be on the same device, but found at least two devices, "
                           f"{a.storage.device} and {b.storage.device}!")
