"""Dtype singletons, PyTorch's aliases and legacy tensor-type names, the default dtype, and type promotion."""
from __future__ import annotations

import builtins

from distgrad.backends.base import (
    ALL_DTYPES,
    DTYPE_OF_NUMPY,
    DType,
    bool_,
    float16,
    float32,
    float64,
    int8,
    int16,
    int32,
    int64,
    uint8,
)

float = float32
double = float64
half = float16
short = int16
int = int32
long = int64
bool = bool_
__all__ = [
    "ALL_DTYPES",
    "BY_NAME",
    "DTYPE_OF_NUMPY",
    "LEGACY",
    "DType",
    "bool",
    "bool_",
    "double",
    "float",
    "float16",
    "float32",
    "float64",
    "get_default_dtype",
    "half",
    "int",
    "int8",
    "int16",
    "int32",
    "int64",
    "long",
    "promote_types",
    "result_type",
    "set_default_dtype",
    "short",
    "uint8",
]

BY_NAME = {d.name: d for d in ALL_DTYPES}
LEGACY = {d.legacy_name: d for d in ALL_DTYPES}      # "FloatTensor" -> float32, used by Tensor.type()
_default = [float32]


def get_default_dtype() -> DType:
    """The dtype of floating-point tensors created from Python floats (float32 unless changed)."""
    return _default[0]


def set_default_dtype(d: DType) -> None:
    """Set the default floating-point dtype (float32 or float64, as PyTorch allows)."""
    if d not in (float32, float64, float16):
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default[0] = d


def _category(d: DType) -> int:
    return 0 if d is bool_ else 2 if d.is_floating_point else 1


_ORDER = {bool_: 0, uint8: 1, int8: 2, int16: 3, int32: 4, int64: 5, float16: 6, float32: 7, float64: 8}


def promote_types(a: DType, b: DType) -> DType:
    """PyTorch's promote_types: the smallest dtype both can be cast to without losing their category."""
    if a is b:
        return a
    if {a, b} == {uint8, int8}:
        return int16
    return a if _ORDER[a] > _ORDER[b] else b


def scalar_dtype(value: object) -> DType:
    """The dtype a Python scalar would get as a tensor."""
    if isinstance(value, builtins.bool):
        return bool_
    if isinstance(value, builtins.int):
        return int64
    return get_default_dtype()


def result_type(*operands: tuple[DType, int] | object) -> DType:
    """PyTorch's result_type over (dtype, ndim) pairs and Python scalars.

    Dimensioned tensors win over 0-d tensors, which win over Python scalars, unless a lower group has a higher
    category (bool < integer < floating), in which case that group's dtype (for scalars: the default dtype) is used.
    """
    groups: list[DType | None] = [None, None, None]   # dimensioned, zero-dim, scalar
    for op in operands:
        if isinstance(op, tuple):
            d, ndim = op
            g = 0 if ndim > 0 else 1
        else:
            d, g = scalar_dtype(op), 2
        groups[g] = d if groups[g] is None else promote_types(groups[g], d)
    result = None
    for d in groups:
        if d is None:
            continue
        if result is None or _category(d) > _category(result):
            result = d
    return result
