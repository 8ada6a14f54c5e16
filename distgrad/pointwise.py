"""Pointwise ops that combine three tensors: lerp, addcmul, addcdiv and their in-place forms. A mixin of Tensor,
composed from Tensor's arithmetic (gradients come with it)."""
from __future__ import annotations

from typing import Any

from distgrad.linear_algebra import cpp_type_name, scalar_type_name

_ADDCDIV_INTEGER = ("Integer division with addcdiv is no longer supported, and in a future  release addcdiv will "
                    "perform a true division of tensor1 and tensor2. The historic addcdiv behavior can be implemented "
                    "as (input + value * torch.trunc(tensor1 / tensor2)).to(input.dtype) for integer inputs and as "
                    "(input + value * tensor1 / tensor2) for float inputs. The future addcdiv behavior is just the "
                    "latter implementation: (input + value * tensor1 / tensor2), for all dtypes.")


class PointwiseOps:
    """Tensor's lerp, addcmul, addcdiv (the class body only uses Tensor's public methods and _write)."""

    __slots__ = ()

    def lerp(self, end: Any, weight: Any) -> Any:
        """self + weight * (end - self), computed from end's side for weight >= 0.5, as PyTorch does."""
        tensor_weight = isinstance(weight, PointwiseOps)
        if not self.dtype.is_floating_point:
            kernel = "lerp_kernel_tensor" if tensor_weight else "lerp_kernel_scalar"
            raise NotImplementedError(f"\"{kernel}\" not implemented for '{scalar_type_name(self.dtype)}'")
        for name, other in (("end", end), ("weight", weight)):
            if isinstance(other, PointwiseOps) and other.dtype is not self.dtype and (name == "end" or other.ndim):
                raise RuntimeError(f"expected dtype {cpp_type_name(self.dtype)} for `{name}` but got dtype "
                                   f"{cpp_type_name(other.dtype)}")
        diff = end - self
        if not tensor_weight:
            return self + diff * weight if abs(weight) < 0.5 else end - diff * (1 - weight)
        from distgrad.joining import where
        return where(weight.abs() < 0.5, self + diff * weight, end - diff * (1 - weight))

    def addcmul(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Any:
        """self + value * tensor1 * tensor2."""
        product = tensor1 * tensor2
        return self + (product if value == 1 else product * value)

    def addcdiv(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Any:
        """self + value * tensor1 / tensor2; integer tensor1 and tensor2 are refused, as PyTorch does."""
        if not tensor1.dtype.is_floating_point and not tensor2.dtype.is_floating_point:
            raise RuntimeError(_ADDCDIV_INTEGER)
        quotient = tensor1 / tensor2
        return self + (quotient if value == 1 else quotient * value)

    def lerp_(self, end: Any, weight: Any) -> Any:
        return self._write(self.lerp(end, weight), inputs=(end, weight))

    def addcmul_(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Any:
        return self._write(self.addcmul(tensor1, tensor2, value=value), inputs=(tensor1, tensor2))

    def addcdiv_(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Any:
        return self._write(self.addcdiv(tensor1, tensor2, value=value), inputs=(tensor1, tensor2))
