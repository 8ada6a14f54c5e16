"""NamedFunction: the base of nn's Functions written with Tensor ops."""
from __future__ import annotations

from typing import Any

from distgrad import autograd


class NamedFunction(autograd.Function):
    """A Function written with Tensor ops whose graph node carries PyTorch's name (`NllLossBackward0`)."""

    grad_fn_name: str | None = None       # PyTorch's node name when it is not f"{cls.__name__}Backward0"

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        cls._Node.__name__ = cls._Node.__qualname__ = cls.__dict__.get("grad_fn_name") or f"{cls.__name__}Backward0"
