"""2-d padding layers: ZeroPad2d, ConstantPad2d, ReflectionPad2d, ReplicationPad2d (F.pad with a fixed mode)."""
from __future__ import annotations

from typing import Any

from distgrad.nn import functional as F
from distgrad.nn.module import Module
from distgrad.tensor import Tensor


def _quadruple(padding: Any) -> tuple[int, ...]:
    return (padding,) * 4 if isinstance(padding, int) else tuple(padding)


class _Pad2d(Module):
    mode = ""

    def __init__(self, padding: Any) -> None:
        super().__init__()
        self.padding = _quadruple(padding)

    def forward(self, input: Tensor) -> Tensor:
        return F.pad(input, self.padding, self.mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad2d(_Pad2d):
    """Pads (left, right, top, bottom) with the reflection of the input about its edges."""

    mode = "reflect"


class ReplicationPad2d(_Pad2d):
    """Pads (left, right, top, bottom) with copies of the input's edge values."""

    mode = "replicate"


class ConstantPad2d(Module):
    """Pads (left, right, top, bottom) with a constant value."""

    def __init__(self, padding: Any, value: float) -> None:
        super().__init__()
        self.padding, self.value = _quadruple(padding), value

    def forward(self, input: Tensor) -> Tensor:
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ZeroPad2d(ConstantPad2d):
    """Pads (left, right, top, bottom) with zeros."""

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"
