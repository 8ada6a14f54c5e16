"""In-place writes under autograd: the leaf checks, views that share their base's memory, and rewriting history.

NOTE [ Views and in-place ]
A view (the output of a ViewFunction: view, reshape without a copy, permute, transpose, expand, basic indexing,
diagonal, unfold...) records `_base`, the non-view tensor owning the memory (a view of a view records the same base),
and `_attr_version`, the shared storage version when its grad_fn was set. An in-place op computes its result out of
place, then `write` copies it into the tensor. When grad mode is on and the tensor or the result requires grad:
- a leaf that requires grad, a view of one, and a view made under no_grad refuse, with PyTorch's errors;
- a non-view takes the result's grad_fn;
- a view rewrites its base's history: base.grad_fn becomes CopySlices(base's old history, result). Its backward sends
  the gradient outside the view's window to the old history, and the window's gradient through the result's graph,
  which reaches the view's old value and, through the view's old grad_fn, the old history again.
A view's grad_fn is regenerated when read after the shared version moved (an in-place write to the view, its base or
another view of it) and the base requires grad: it becomes AsStridedBackward0 from the base's current grad_fn, as in
PyTorch. A recorded op that saved the very tensor being overwritten gets a copy of its old value instead (PyTorch's
"original self"), so `y.mul_(w)` still has a gradient for w.
Every in-place write, general or fast path, first passes check_overlap on the memory it writes: PyTorch refuses an
output with a dim of stride 0 and size > 1 (an expand), warns for masked_fill_ and index_put_, allows fill_ of a number.
It also refuses an input that shares memory with the output without being the very same view (x[1:].add_(x[:-1])),
since the kernel would read elements it has already written; scatter_, index_add_ and index_put_ refuse even the same
view. Like PyTorch, inputs or outputs that are not dense (x[::2]) are too hard to judge and pass.
Random fills and fills of a tensor that autograd records go through write, so leaves refuse them too.
"""
from __future__ import annotations

import warnings
from typing import Any

from distgrad import ops
from distgrad import prims as P
from distgrad.backends.base import bool_, contiguous_strides
from distgrad.dtypes import promote_types
from distgrad.function import enable_grad, is_grad_enabled

_NO_GRAD_VIEW = ("A view was created in no_grad mode and is being modified inplace with grad mode enabled. Given that "
                 "this use case is ambiguous and error-prone, it is forbidden. You can clarify your code by moving "
                 "both the view and the inplace either both inside the no_grad block (if you don't want the inplace "
                 "to be tracked) or both outside (if you want the inplace to be tracked).")


_OVERLAP = ("unsupported operation: more than one element of the written-to tensor refers to a single memory location. "
            "Please clone() the tensor before performing the operation.")


_INPUT_OVERLAP = ("unsupported operation: some elements of the input tensor and the written-to tensor refer to a single "
                  "memory location. Please clone() the tensor before performing the operation.")


def check_overlap(v: Any, overlap: str = "refuse", inputs: tuple = (), same_ok: bool = True) -> None:
    """PyTorch's cheap tests on an in-place op's output v before it is written.

    Internal overlap: a dim of stride 0 and size > 1 (an expand) makes several elements share one memory location.
    overlap: "refuse" (PyTorch's error), "allow" (fill_: filling is idempotent), or the name of an op PyTorch only warns
    about (masked_fill_, index_put_).
    Input overlap: each Tensor in inputs (other arguments are ignored) may share memory with v only as the very same
    view (assert_no_partial_overlap), or not at all when same_ok is False (assert_no_overlap)."""
    if 0 in v.strides and overlap != "allow" and 0 not in v.shape and any(
            s == 0 and n > 1 for n, s in zip(v.shape, v.strides)):
        if overlap == "refuse":
            raise RuntimeError(_OVERLAP)
        example = "tensor[mask] = scalar" if overlap == "masked_fill_" else "tensor[indices] = tensor"
        warnings.warn(f"Use of {overlap} on expanded tensors is deprecated. Please clone() the tensor before "
                      f"performing this operation. This also applies to advanced indexing e.g. {example}", UserWarning,
                      stacklevel=5)           # the user's line, through write or _put
    for x in inputs:
        w = getattr(x, "_view", None)
        if w is not None and w.storage is v.storage and _shares_memory(v, w, same_ok):
            raise RuntimeError(_INPUT_OVERLAP)


def _shares_memory(a: Any, b: Any, same_ok: bool) -> bool:
    """PyTorch's get_overlap_status on two views of one storage: Full (the same view), Partial, No, or TooHard (one is
    not dense: no verdict, no error)."""
    if a is b:
        return not same_ok
    n, m = a.numel, b.numel
    if not n or not m or not _dense(a) or not _dense(b):
        return False
    if a.offset == b.offset and n == m:
        return not same_ok or a.strides != b.strides
    return a.offset < b.offset + m and b.offset < a.offset + n


def _dense(v: Any) -> bool:
    """PyTorch's is_non_overlapping_and_dense: the elements fill offset..offset+numel exactly, in some dim order."""
    if v.strides == contiguous_strides(v.shape):
        return True
    expected = 1
    for size, stride in sorted(zip(v.shape, v.strides), key=lambda p: p[1]):
        if size != 1:
            if stride != expected:
                return False
            expected *= size
    return True


def _check(t: Any) -> None:
    """PyTorch's check_inplace, for a write that autograd records."""
    base = t._base
    if base is not None:
        if t._view_no_grad:
            raise RuntimeError(_NO_GRAD_VIEW)
        if base._requires_grad and base._grad_fn is None:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")
    elif t._requires_grad and t._grad_fn is None:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")


def _check_cast(t: Any, result: Any) -> None:
    a, b = result.dtype, t.dtype
    if a is not b and promote_types(a, b) is not b and not (a.is_floating_point and b.is_floating_point):
        raise RuntimeError(f"result type {a.legacy_name.replace('Tensor', '')} can't be cast to the desired output "
                           f"type {b.legacy_name.replace('Tensor', '')}")


def write(t: Any, result: Any, overlap: str = "refuse", inputs: tuple = (), same_ok: bool = True) -> Any:
    """Make result t's new value in place (NOTE [ Views and in-place ]); returns t. inputs: the op's arguments other
    than t, which the result was computed from; overlap, same_ok: see check_overlap."""
    recording = is_grad_enabled() and (t.requires_grad or result._requires_grad)
    if recording:
        _check(t)
    check_overlap(t._view, overlap, inputs, same_ok)
    if result._view.shape != t._view.shape:
        raise RuntimeError(f"output with shape {list(t.shape)} doesn't match the broadcast shape {list(result.shape)}")
    _check_cast(t, result)
    if recording and result.grad_fn is None:      # t's old value is gone: its history gets a zero gradient
        result = ops.Where.apply(t.new_ones(t.shape, dtype=bool_), result.to(t.dtype), t)
    node = result.grad_fn if recording else None
    if node is not None:
        _keep_original(node, t._view)
    if node is not None and t._base is not None:
        base = t._base
        base._grad_fn = ops.CopySlices.apply(base, result, view=t._view)._grad_fn
        base._requires_grad = t._requires_grad = True
    else:
        P.copy(result._view, out=t._view)
        if node is not None:
            t._grad_fn, t._requires_grad = node, True
    t._view.storage.version += 1
    return t


def _keep_original(node: Any, target: Any) -> None:
    """Replace the saved View that is exactly the one being overwritten by a copy of its current values (unless it was
    already modified since it was saved: backward must still raise then)."""
    saved = node._saved
    if saved and any(v is target for v, _ in saved):
        node._saved = [(P.copy(v), 0) if v is target and version == v.storage.version else (v, version)
                       for v, version in saved]


def view_grad_fn(t: Any) -> Any:
    """A view's grad_fn after the shared version moved: AsStridedBackward0 from the base's current history."""
    base = t._base
    if t._view_no_grad or (t._grad_fn is None and not base._requires_grad):
        return t._grad_fn
    with enable_grad():
        t._grad_fn = ops.AsStrided.apply(base, view=t._view)._grad_fn
    t._requires_grad = True
    t._attr_version = t._view.storage.version
    return t._grad_fn
