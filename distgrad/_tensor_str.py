"""Tensor printing: `repr(tensor)` text identical to PyTorch's, computed from a NumPy copy of the values.

The layout rules (precision, integer mode, scientific mode, summarisation, wrapping, suffixes) follow PyTorch's
torch/_tensor_str.py step by step, quirks included, because users compare printed output character by character.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np


@dataclasses.dataclass
class _PrintOptions:
    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: bool | None = None


PRINT_OPTS = _PrintOptions()
_PROFILES = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}


def set_printoptions(precision: int | None = None, threshold: float | None = None, edgeitems: int | None = None,
                     linewidth: int | None = None, profile: str | None = None, sci_mode: bool | None = None) -> None:
    """Set the options for printing tensors; `profile` is one of 'default', 'short', 'full'."""
    for name, value in _PROFILES.get(profile, {}).items():
        setattr(PRINT_OPTS, name, value)
    for name, value in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                        ("linewidth", linewidth)):
        if value is not None:
            setattr(PRINT_OPTS, name, value)
    # As in PyTorch, every call resets sci_mode: None means "choose per tensor".
    PRINT_OPTS.sci_mode = sci_mode


def get_printoptions() -> dict[str, Any]:
    """The current print options, as keyword arguments for set_printoptions()."""
    return dataclasses.asdict(PRINT_OPTS)


class _Formatter:
    """Chooses integer/fixed/scientific mode and the common element width from the values that will be shown."""

    def __init__(self, values: np.ndarray, floating: bool) -> None:
        self.floating = floating
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        if not floating:
            self.max_width = max([1] + [len(f"{v}") for v in values.ravel().tolist()])
            return
        flat = values.ravel()
        shown = flat[np.isfinite(flat) & (flat != 0)].astype(np.float64)
        if shown.size == 0:
            return
        lo, hi = float(np.abs(shown).min()), float(np.abs(shown).max())
        self.int_mode = bool(np.all(shown == np.ceil(shown)))
        if PRINT_OPTS.sci_mode is None:
            self.sci_mode = bool(hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4)
        else:
            self.sci_mode = PRINT_OPTS.sci_mode
        p = PRINT_OPTS.precision
        if self.sci_mode:
            widths = [len(f"{v:.{p}e}") for v in shown.tolist()]
        elif self.int_mode:
            widths = [len(f"{v:.0f}") + 1 for v in shown.tolist()]   # + 1 for the trailing "."
        else:
            widths = [len(f"{v:.{p}f}") for v in shown.tolist()]
        self.max_width = max(widths)

    def format(self, value: float) -> str:
        if not self.floating:
            text = f"{value}"
        elif self.sci_mode:
            text = f"{value:{self.max_width}.{PRINT_OPTS.precision}e}"
        elif self.int_mode:
            text = f"{value:.0f}" + ("" if math.isinf(value) or math.isnan(value) else ".")
        else:
            text = f"{value:.{PRINT_OPTS.precision}f}"
        return text.rjust(self.max_width)


def _summarized(values: np.ndarray) -> np.ndarray:
    """The elements a summarised print shows: the first and last `edgeitems` along every long dimension."""
    e = PRINT_OPTS.edgeitems
    if values.ndim == 0:
        return values
    if not e:
        return values[:0]
    for axis, n in enumerate(values.shape):
        if n > 2 * e:
            values = np.take(values, list(range(e)) + list(range(n - e, n)), axis=axis)
    return values


def _vector_str(values: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    per_line = max(1, (PRINT_OPTS.linewidth - indent) // (fmt.max_width + 2))   # ", " between elements
    e = PRINT_OPTS.edgeitems
    if summarize and not e:
        items = ["..."]
    elif summarize and values.shape[0] > 2 * e:
        items = ([fmt.format(v) for v in values[:e].tolist()] + [" ..."]
                 + [fmt.format(v) for v in values[-e:].tolist()])
    else:
        items = [fmt.format(v) for v in values.tolist()]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nested_str(values: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    if values.ndim == 0:
        return fmt.format(values.item())
    if values.ndim == 1:
        return _vector_str(values, indent, summarize, fmt)
    e, n = PRINT_OPTS.edgeitems, values.shape[0]
    if summarize and n > 2 * e:
        rows = list(range(e)) + [None] + list(range(n - e, n))
    else:
        rows = list(range(n))
    slices = ["..." if i is None else _nested_str(values[i], indent + 1, summarize, fmt) for i in rows]
    return "[" + ("," + "\n" * (values.ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def _add_suffixes(text: str, suffixes: Sequence[str], indent: int) -> str:
    parts = [text]
    # PyTorch's own arithmetic, off by a few characters for one-line texts; kept so that wrapping matches exactly.
    last_line_len = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > PRINT_OPTS.linewidth:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_len += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def tensor_repr(values: np.ndarray, dtype: Any, *, device: str | None = None, default_dtype: Any,
                suffixes: Sequence[str] = ()) -> str:
    """PyTorch's `repr(tensor)` for a tensor holding `values` with `dtype`.

    `device` is shown as `device='cuda:0'` unless it is None or 'cpu'; `suffixes` (`requires_grad=True`,
    `grad_fn=<MulBackward0>`) come last, wrapped onto new lines as PyTorch wraps them.
    """
    prefix = "tensor("
    indent = len(prefix)
    extra = [] if device is None or device == "cpu" else [f"device='{device}'"]
    if values.size == 0:
        if values.ndim != 1:
            extra.append(f"size={tuple(values.shape)}")
        # With no elements to read the type from, even int64 and bool are spelled out.
        if dtype.name != default_dtype.name:
            extra.append(f"dtype={dtype!r}")
        body = "[]"
    else:
        if not PRINT_OPTS.edgeitems:
            extra.append(f"size={tuple(values.shape)}")
        if dtype.name not in (default_dtype.name, "int64", "bool"):
            extra.append(f"dtype={dtype!r}")
        summarize = values.size > PRINT_OPTS.threshold
        fmt = _Formatter(_summarized(values) if summarize else values, dtype.is_floating_point)
        body = _nested_str(values, indent, summarize, fmt)
    return _add_suffixes(prefix + body, [*extra, *suffixes], indent)
