"""Tensor printing (a minimal stand-in; the full PyTorch-compatible formatter replaces it)."""
from __future__ import annotations

import numpy as np


def tensor_repr(values: np.ndarray, dtype, *, device: str | None, default_dtype, suffixes: list[str]) -> str:
    body = np.array2string(values, separator=", ", precision=4, prefix="tensor(")
    extra = list(suffixes)
    if device:
        extra.insert(0, f"device='{device}'")
    if dtype is not default_dtype and dtype.name not in ("int64", "bool"):
        extra.append(f"dtype={dtype!r}")
    return "tensor(" + body + "".join(", " + e for e in extra) + ")"
