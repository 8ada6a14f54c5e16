"""`distgrad.Size`: the tuple of a tensor's dimensions, printed as PyTorch prints `torch.Size`."""
from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Self, SupportsIndex


class Size(tuple):
    """A tensor's shape: a tuple of ints that prints as `torch.Size([5, 3])`."""

    __slots__ = ()

    def __new__(cls, sizes: Iterable[SupportsIndex] = ()) -> Self:
        dims = []
        for i, d in enumerate(sizes):
            try:
                dims.append(operator.index(d))
            except TypeError:
                raise TypeError(f"torch.Size() takes an iterable of 'int' (item {i} is '{type(d).__name__}')") from None
        return super().__new__(cls, dims)

    def numel(self) -> int:
        """The number of elements a tensor of this shape holds."""
        n = 1
        for d in self:
            n *= d
        return n

    def __repr__(self) -> str:
        return f"torch.Size({list(self)})"

    __str__ = __repr__

    def __getitem__(self, key):
        out = super().__getitem__(key)
        return Size(out) if isinstance(key, slice) else out

    def __add__(self, other: tuple) -> Size:
        if not isinstance(other, tuple):
            raise TypeError(f"can only concatenate tuple (not {type(other).__name__}) to torch.Size")
        return Size(tuple(self) + other)

    def __radd__(self, other: tuple) -> Size:
        return Size(other + tuple(self))

    def __mul__(self, n: SupportsIndex) -> Size:
        return Size(tuple(self) * n)

    __rmul__ = __mul__

    def __reduce__(self) -> tuple:
        return Size, (tuple(self),)
