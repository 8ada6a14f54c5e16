"""Tensor indexing: basic indices (ints, slices, None, Ellipsis) make views; advanced indices (integer tensors or
lists, bool masks) become one gather (getitem) or one scatter (setitem) at computed flat positions.

NOTE [ Advanced indexing ]
Basic items are applied first, as a view y, keeping a full slice where each advanced index sits. The advanced index
tensors are broadcast together to shape B. Their result dims replace the indexed dims in place when those dims are
adjacent, else they go first (NumPy's rule, which PyTorch follows). The flat position of every result element is
    base + sum_j index_j * stride_j + sum_r arange(size_r) * stride_r
over indexed dims j and remaining dims r. When autograd records, y is flattened (contiguous strides, base 0) so the
backward is a scatter-add into a tensor shaped like y; otherwise the strides and offset of y's storage are used and
nothing is copied.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from distgrad import ops
from distgrad import prims as P
from distgrad import views as V
from distgrad.backends.base import bool_, contiguous_strides, int64
from distgrad.dims import broadcast_shapes, check_same_device
from distgrad.function import is_grad_enabled
from distgrad.inplace import check_overlap
from distgrad.tensor import Tensor


def _as_index_tensor(item: Any, device: Any) -> Tensor:
    from distgrad.creation import tensor
    t = item if isinstance(item, Tensor) else tensor(item, device=device)
    if t.dtype is not bool_ and t.dtype.is_floating_point:
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    if t.device != device:
        if t.device.type != "cpu":     # PyTorch moves a cpu index to the indexed tensor's device, and only that
            raise RuntimeError("indices should be either on cpu or on the same device as the indexed tensor "
                               f"({device})")
        t = t.to(device)
    return t


def _plan(x: Tensor, index: Any) -> tuple[tuple, list[tuple[int, Tensor]]]:
    """Split an index into a basic-view spec (views.index) and [(dim of the view, int64 index tensor)]."""
    items = list(index) if isinstance(index, tuple) else [index]
    for i, it in enumerate(items):
        if isinstance(it, Tensor) and it.ndim == 0 and it.dtype is not bool_:
            items[i] = int(it.item())
        elif isinstance(it, (list, Tensor)) or type(it).__module__ == "numpy" and hasattr(it, "shape") and it.shape:
            items[i] = _as_index_tensor(it, x.device)
        elif hasattr(it, "__index__") and not isinstance(it, (slice, bool)):
            items[i] = it.__index__()

    def consumed(it: Any) -> int:
        if it is None or it is Ellipsis:
            return 0
        return it.ndim if isinstance(it, Tensor) and it.dtype is bool_ else 1
    used = sum(consumed(it) for it in items)
    ellipses = [k for k, it in enumerate(items) if it is Ellipsis]   # by identity: == on a Tensor is elementwise
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if ellipses:
        k = ellipses[0]
        items[k:k + 1] = [slice(None)] * (x.ndim - used)
    elif used > x.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x.ndim}")
    shape = x._view.shape
    spec: list[tuple] = []
    adv: list[tuple[int, Tensor]] = []
    d = out_d = 0
    for it in items:
        if it is None:
            spec.append(("new",))
            out_d += 1
        elif isinstance(it, bool):
            raise IndexError("indexing with a Python bool is not supported")
        elif isinstance(it, int):
            n = shape[d]
            if not -n <= it < n:
                raise IndexError(f"index {it} is out of bounds for dimension {d} with size {n}")
            spec.append(("int", it % n))
            d += 1
        elif isinstance(it, slice):
            start, stop, step = it.indices(shape[d])
            if step <= 0:
                raise ValueError("step must be greater than zero")
            spec.append(("slice", start, max(0, -(-(stop - start) // step)), step))
            d += 1
            out_d += 1
        elif isinstance(it, Tensor) and it.dtype is bool_:
            k = it.ndim
            if tuple(it.shape) != shape[d:d + k]:
                _mask_mismatch(items, shape, it, d)
            if k == 0:          # a 0-d mask adds a dim of size 1 (True) or 0 (False), as PyTorch
                spec.append(("new",))
                adv.append((out_d, Tensor._make(P.nonzero(it.reshape(1)._view))[:, 0]))
                out_d += 1
                continue
            coords = Tensor._make(P.nonzero(it._view))
            for j in range(k):
                spec.append(("slice", 0, shape[d + j], 1))
                adv.append((out_d + j, coords[:, j]))
            d += k
            out_d += k
        elif isinstance(it, Tensor):
            n = shape[d]
            if it.numel():
                P.check_index(it._view, -n, n, _out_of_bounds(d, n))   # on a device: at its next read
                if it.device.type != "cpu" or int(it.amin().item()) < 0:    # never ask a device whether any is
                    it = it.where(it >= 0, it + n)                         # negative: count those from the end
            spec.append(("slice", 0, n, 1))
            adv.append((out_d, it.to(int64)))
            d += 1
            out_d += 1
        else:
            raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are "
                             f"valid indices (got {type(it).__name__})")
    return tuple(spec), adv


def _out_of_bounds(d: int, n: int) -> Callable[[int, int], None]:
    def raise_for(lo: int, hi: int) -> None:
        raise IndexError(f"index {hi if hi >= n else lo} is out of bounds for dimension {d} with size {n}")
    return raise_for


def _mask_mismatch(items: list, shape: tuple[int, ...], mask: Tensor, d: int) -> None:
    """PyTorch's error: it applies integer indices first, so it names the shape without the int-indexed dims."""
    dims, pos, skipped = [], 0, 0
    for it in items:
        if it is None:
            continue
        n = it.ndim if isinstance(it, Tensor) and it.dtype is bool_ else 1
        if isinstance(it, int) and not isinstance(it, bool):
            skipped += pos < d
        else:
            dims += range(pos, pos + n)
        pos += n
    dims += range(pos, len(shape))
    j = next(j for j in range(mask.ndim) if d + j >= len(shape) or mask.shape[j] != shape[d + j])
    raise IndexError(f"The shape of the mask {list(mask.shape)} at index {j} does not match the shape of the indexed "
                     f"tensor {[shape[i] for i in dims]} at index {d - skipped + j}")


def _is_identity(spec: tuple, shape: tuple[int, ...]) -> bool:
    return all(it[0] == "slice" and it[1] == 0 and it[2] == n and it[3] == 1 for it, n in zip(spec, shape))


def _basic(x: Tensor, spec: tuple) -> Tensor:
    fn = ops.Select if any(it[0] == "int" for it in spec) else ops.Slice
    return fn.apply(x, layout=lambda v: V.index(v, spec))


def _positions(y_shape: tuple[int, ...], strides: tuple[int, ...], base: int, adv: list[tuple[int, Tensor]],
               device: Any) -> Tensor:
    """The flat position of every advanced-indexing result element (NOTE [ Advanced indexing ])."""
    from distgrad.creation import arange
    dims = [p for p, _ in adv]
    batch = tuple(adv[0][1].shape)
    try:
        for _, t in adv[1:]:
            batch = broadcast_shapes(batch, tuple(t.shape))
    except RuntimeError:
        raise IndexError("shape mismatch: indexing tensors could not be broadcast together with shapes "
                         + ", ".join(str(list(t.shape)) for _, t in adv)) from None
    adjacent = dims == list(range(dims[0], dims[0] + len(dims)))
    others = [r for r in range(len(y_shape)) if r not in dims]
    before = [r for r in others if r < dims[0]] if adjacent else []
    after = [r for r in others if r not in before]
    nd = len(before) + len(batch) + len(after)
    lead = len(before)
    lin = None
    for p, t in adv:
        term = t.expand(batch) * strides[p]
        lin = term if lin is None else lin + term
    lin = lin.reshape((1,) * lead + batch + (1,) * len(after))
    if base:
        lin = lin + base
    for q, r in enumerate(before + after):
        pos = q if q < lead else q + len(batch)
        ar = arange(y_shape[r], device=device) * strides[r]
        lin = lin + ar.reshape((1,) * pos + (y_shape[r],) + (1,) * (nd - pos - 1))
    return lin


def getitem(x: Tensor, index: Any) -> Tensor:
    """x[index], PyTorch's semantics."""
    spec, adv = _plan(x, index)
    y = x if _is_identity(spec, x._view.shape) and not any(it[0] == "new" for it in spec) and adv else _basic(x, spec)
    if not adv:
        return y
    if is_grad_enabled() and y._requires_grad:
        flat, strides, base = y.reshape(-1), contiguous_strides(y._view.shape), 0
    else:
        flat = Tensor._make(V.flat_storage(y._view))
        strides, base = y._view.strides, y._view.offset
    return ops.Take.apply(flat, _positions(y._view.shape, strides, base, adv, x.device))


def setitem(x: Tensor, index: Any, value: Any) -> None:
    """x[index] = value, broadcasting value and casting it to x's dtype."""
    spec, adv = _plan(x, index)
    value = _value(x, value, bool(adv))
    recording = is_grad_enabled() and (x.requires_grad or value._requires_grad)
    if not adv:
        window = V.index(x._view, spec)
        src = _broadcast_value(value, window.shape)
        check_overlap(window, inputs=(src,))       # as PyTorch's setitem, a broadcast (not dense) value passes
        if not recording:
            P.copy(src._view, out=window)
            x._view.storage.version += 1
            return
    _put(x, spec, adv, value, accumulate=False, recording=recording)


def _value(x: Tensor, value: Any, advanced: bool) -> Tensor:
    """value as a tensor of x's dtype on x's device: a basic-index write copies across devices (copy_), an advanced one
    (index_put_) moves a 0-d value only, as PyTorch."""
    value = value if isinstance(value, Tensor) else x._operand(value)
    if value.device != x.device:
        if advanced and value.ndim:
            check_same_device(x._view, value._view)
        value = value.to(x.device)
    return value.to(x.dtype)


def _broadcast_value(value: Tensor, shape: tuple[int, ...]) -> Tensor:
    try:
        return value.expand(shape) if tuple(value.shape) != shape else value
    except RuntimeError:
        raise RuntimeError(f"shape mismatch: value tensor of shape {list(value.shape)} cannot be broadcast to "
                           f"indexing result of shape {list(shape)}") from None


def _put(x: Tensor, spec: tuple, adv: list, value: Tensor, accumulate: bool, recording: bool) -> Tensor:
    """Write (or add) value at the positions x[spec][adv] address; in place on x."""
    window = V.index(x._view, spec)
    if adv:            # PyTorch slices first, then index_put_ tests the slice (setitem tests a basic-only window)
        check_overlap(window, "index_put_", (value, *(i for _, i in adv)), same_ok=False)
    if recording:
        layout = V.index(_LayoutOnly(x._view.shape, contiguous_strides(x._view.shape)), spec)
        pos = _window_positions(layout, adv, x.device)
        result = ops.IndexPut.apply(x, _broadcast_value(value, tuple(pos.shape)), pos, accumulate=accumulate)
        return x._write(result, "allow")
    pos = _window_positions(window, adv, x.device)
    src = _broadcast_value(value, tuple(pos.shape)).contiguous().reshape(-1)
    P.scatter("add" if accumulate else "set", V.flat_storage(x._view), 0, pos.reshape(-1)._view, src._view)
    x._view.storage.version += 1
    return x


def _window_positions(window, adv: list, device: Any) -> Tensor:
    """Flat storage positions of the elements x[spec][adv] addresses, given the basic window's layout."""
    if adv:
        return _positions(window.shape, window.strides, window.offset, adv, device)
    from distgrad.creation import arange
    lin = None
    nd = len(window.shape)
    for r, (n, st) in enumerate(zip(window.shape, window.strides)):
        term = (arange(n, device=device) * st).reshape((1,) * r + (n,) + (1,) * (nd - r - 1))
        lin = term if lin is None else lin + term
    if lin is None:
        from distgrad.creation import tensor
        return tensor(window.offset, device=device)
    return lin + window.offset


class _LayoutOnly:
    """A stand-in View for layout arithmetic on contiguous coordinates (views.index reads only these fields)."""

    def __init__(self, shape: tuple[int, ...], strides: tuple[int, ...]) -> None:
        self.shape, self.strides, self.offset, self.storage = shape, strides, 0, None


def index_put(x: Tensor, indices: tuple, values: Any, accumulate: bool, inplace: bool) -> Tensor:
    """x.index_put_(indices, values, accumulate): indices are index tensors for x's leading dims."""
    target = x if inplace else x.clone()
    spec, adv = _plan(target, tuple(indices))
    value = _value(target, values, True)
    recording = is_grad_enabled() and (target.requires_grad or value._requires_grad)
    return _put(target, spec, adv, value, accumulate, recording)
