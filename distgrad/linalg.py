"""torch.linalg: the functions distgrad has of it."""
from __future__ import annotations

from typing import Any

from distgrad.dims import wrap_dim


def cross(input: Any, other: Any, *, dim: int = -1, out: Any = None) -> Any:
    """Cross product of 3-vectors along dim, input and other broadcast: c_i = a_(i+1) b_(i+2) - a_(i+2) b_(i+1)."""
    if input.ndim != other.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    input._check_matmul_dtype(other, "bmm")       # PyTorch names the scalar types as bmm does
    a, b = input._broadcast(other)
    d = wrap_dim(dim, a.ndim)
    if input.shape[d] != 3 or other.shape[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got {input.shape[d]} and "
                           f"{other.shape[d]}")
    result = a.roll(-1, d) * b.roll(-2, d) - a.roll(-2, d) * b.roll(-1, d)
    return result if out is None else out.resize_(result.shape).copy_(result)
