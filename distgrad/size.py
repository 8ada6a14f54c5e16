"""Size: the shape tuple, printed as PyTorch prints it."""
from __future__ import annotations


class Size(tuple):
    """A tuple of dimension sizes (torch.Size)."""

    def __repr__(self) -> str:
        return f"torch.Size({list(self)})"

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n
