"""Bitwise ops on integer and bool tensors: & | ^ ~ << >>, the bitwise_* methods and their in-place forms. A mixin of
Tensor; each op is one backend primitive after PyTorch's type promotion. No gradients: integer tensors have none."""
from __future__ import annotations

from typing import Any

from distgrad import prims as P
from distgrad.backends.base import DType, bool_


def _check(op: str, dtype: DType, device: Any) -> None:
    """PyTorch's error for a dtype its kernel lacks: floating point for all of them, bool for the shifts."""
    if dtype.is_floating_point or (dtype is bool_ and op in ("lshift", "rshift")):
        raise NotImplementedError(f"\"{op}_{device.type}\" not implemented for '{dtype.legacy_name[:-6]}'")


class BitwiseOps:
    """Tensor's bitwise methods (the class body only uses Tensor's _broadcast, _make and _inplace_binary)."""

    __slots__ = ()

    def _bitwise(self, op: str, other: Any, reflected: bool = False) -> Any:
        a, b = self._broadcast(other)
        if reflected:
            a, b = b, a
        _check(op, a.dtype, a.device)
        return self._make(P.binary(op, a._view, b._view))

    def _bitwise_(self, op: str, other: Any) -> Any:
        _check(op, self.dtype, self.device)
        return self._inplace_binary(op, other, lambda: self._bitwise(op, other))

    def bitwise_and(self, other: Any) -> Any:
        return self._bitwise("bitwise_and", other)

    def bitwise_or(self, other: Any) -> Any:
        return self._bitwise("bitwise_or", other)

    def bitwise_xor(self, other: Any) -> Any:
        return self._bitwise("bitwise_xor", other)

    def bitwise_left_shift(self, other: Any) -> Any:
        return self._bitwise("lshift", other)

    def bitwise_right_shift(self, other: Any) -> Any:
        return self._bitwise("rshift", other)

    def bitwise_not(self) -> Any:
        _check("bitwise_not", self.dtype, self.device)
        return self._make(P.unary("bitwise_not", self._view))

    def bitwise_and_(self, other: Any) -> Any:
        return self._bitwise_("bitwise_and", other)

    def bitwise_or_(self, other: Any) -> Any:
        return self._bitwise_("bitwise_or", other)

    def bitwise_xor_(self, other: Any) -> Any:
        return self._bitwise_("bitwise_xor", other)

    def bitwise_left_shift_(self, other: Any) -> Any:
        return self._bitwise_("lshift", other)

    def bitwise_right_shift_(self, other: Any) -> Any:
        return self._bitwise_("rshift", other)

    def bitwise_not_(self) -> Any:
        return self._write(self.bitwise_not())

    def __invert__(self) -> Any:
        if self.dtype.is_floating_point:
            raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type tensors")
        return self.bitwise_not()

    def __rand__(self, other: Any) -> Any:
        return self._bitwise("bitwise_and", other, reflected=True)

    def __ror__(self, other: Any) -> Any:
        return self._bitwise("bitwise_or", other, reflected=True)

    def __rxor__(self, other: Any) -> Any:
        return self._bitwise("bitwise_xor", other, reflected=True)

    def __rlshift__(self, other: Any) -> Any:
        return self._bitwise("lshift", other, reflected=True)

    def __rrshift__(self, other: Any) -> Any:
        return self._bitwise("rshift", other, reflected=True)

    __and__, __or__, __xor__ = bitwise_and, bitwise_or, bitwise_xor
    __lshift__, __rshift__ = bitwise_left_shift, bitwise_right_shift
    __iand__, __ior__, __ixor__ = bitwise_and_, bitwise_or_, bitwise_xor_
    __ilshift__, __irshift__ = bitwise_left_shift_, bitwise_right_shift_
