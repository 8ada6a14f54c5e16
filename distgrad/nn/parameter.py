"""nn.Parameter: a leaf Tensor that a Module registers as one of its parameters."""
from __future__ import annotations

from typing import Any, Self

from distgrad.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a module parameter: a leaf with requires_grad=True by default."""

    __slots__ = ()

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Self:
        if data is None:
            from distgrad.creation import empty
            data = empty(0)
        p = object.__new__(cls)
        p._view = data._view
        p._requires_grad = False
        p.grad = None
        p._accumulator = None
        p.requires_grad = requires_grad
        return p

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass                     # Tensor.__init__ is the legacy constructor; __new__ did the work

    def __repr__(self, **kwargs: Any) -> str:
        return "Parameter containing:\n" + super().__repr__(**kwargs)

    def __reduce_ex__(self, protocol: int):
        return (Parameter, (self.detach(), self._requires_grad))
