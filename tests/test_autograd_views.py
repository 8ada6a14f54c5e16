"""Views and in-place ops under autograd (NOTE [ Views and in-place ] in distgrad/inplace.py): `_base`, the leaf
checks, CopySlices rebasing a base's history, regenerated view grad_fns, and the saved original of an overwritten
tensor. Expected gradients are derived by hand or from NumPy views of a mask."""
import numpy as np
import pytest

import distgrad as dg
from distgrad.autograd import gradcheck

NO_GRAD_VIEW = "A view was created in no_grad mode and is being modified inplace with grad mode enabled"


def _leaf(values, device, dtype=dg.float32):
    return dg.tensor(values, dtype=dtype, device=device, requires_grad=True)


def test_views_know_their_base(device):
    x = dg.ones(2, 3, device=device, requires_grad=True)
    y = x * 1
    for v in (y[0], y[:, ::2], y.t(), y.transpose(0, 1), y.view(6), y.reshape(3, 2), y.unsqueeze(0), y.squeeze(),
              y.expand(4, 2, 3), y.diagonal(), y.narrow(1, 1, 2), y.permute(1, 0), y.unfold(1, 2, 1)):
        assert v._is_view() and v._base is y
    chain = y[1:][:, ::2][0]
    assert chain._base is y and chain.requires_grad
    assert not y._is_view() and y._base is None
    assert not y.detach()._is_view() and not y.data._is_view() and not (y + 0)._is_view()
    assert not y.t().reshape(6)._is_view()          # a reshape that has to copy makes no view
    with dg.no_grad():
        nv = x[0]
    assert nv._base is x and nv.requires_grad and nv.grad_fn is None      # as PyTorch reports it


def test_inplace_on_view_of_leaf_allowed_under_no_grad(device):
    x = _leaf([1.0, 2.0, 3.0], device)
    with dg.no_grad():
        x[1:].mul_(10)
    assert x.tolist() == [1, 20, 30] and x.is_leaf and x.grad_fn is None
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2, 2, 2]


def test_view_made_under_no_grad_refuses_recorded_inplace(device):
    x = _leaf([1.0, 2.0, 3.0], device)
    with dg.no_grad():
        v = x[:2]
    with pytest.raises(RuntimeError, match=NO_GRAD_VIEW):
        v.mul_(2)                               # the base requires grad, so this would be recorded
    z = dg.ones(3, device=device)
    with dg.no_grad():
        w = z[:2]
    w.mul_(2)                                   # nothing requires grad: allowed
    with pytest.raises(RuntimeError, match=NO_GRAD_VIEW):
        w.mul_(_leaf([1.0, 1.0], device))
    assert z.tolist() == [2, 2, 1]


# id, view of a (3, 4) tensor, the same window as a NumPy view (to mark the expected region)
VIEWS = [
    ("select", lambda t: t[1], lambda m: m[1]),
    ("slice_step", lambda t: t[:, ::2], lambda m: m[:, ::2]),
    ("transpose", lambda t: t.t()[1:], lambda m: m.T[1:]),
    ("view", lambda t: t.view(12)[3:7], lambda m: m.reshape(12)[3:7]),
    ("reshape_chain", lambda t: t.reshape(2, 6)[1][::3], lambda m: m.reshape(2, 6)[1][::3]),
    ("diagonal", lambda t: t.diagonal(1), lambda m: np.lib.stride_tricks.as_strided(m[:, 1:], (3,), (40,))),
    ("view_of_view_of_view", lambda t: t[1:][:, ::2][0], lambda m: m[1:][:, ::2][0]),
]


@pytest.mark.parametrize("view, np_view", [c[1:] for c in VIEWS], ids=[c[0] for c in VIEWS])
def test_inplace_on_view_of_nonleaf_rewrites_base_history(view, np_view, device):
    c = np.arange(1.0, 13.0).reshape(3, 4)            # y = x * c, then the view's window is multiplied by 3
    r = np.linspace(0.5, 2.0, 12).reshape(3, 4)       # loss = sum(y * r)
    region = np.zeros((3, 4))
    np_view(region)[...] = 1
    assert 0 < region.sum() < 12
    x = dg.ones(3, 4, device=device, requires_grad=True)
    y = x * dg.tensor(c, dtype=dg.float32, device=device)
    v = view(y)
    assert v.mul_(3) is v
    assert type(y.grad_fn).__name__ == "CopySlices" and type(v.grad_fn).__name__ == "AsStridedBackward0"
    assert v.grad_fn.next_functions[0][0] is y.grad_fn and not y.is_leaf
    np.testing.assert_allclose(y.detach().cpu().numpy(), c * np.where(region == 1, 3, 1))
    (y * dg.tensor(r, dtype=dg.float32, device=device)).sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), c * r * np.where(region == 1, 3, 1), rtol=1e-6)


def test_view_grad_fn_regenerated_after_inplace_elsewhere(device):
    x = _leaf([1.0, 2.0, 3.0, 4.0], device)
    y = x * 1
    a, b = y[1:], y[:2]
    assert type(a.grad_fn).__name__ == "SliceBackward0"
    b.mul_(10)                                 # a sibling view writes: a now reads y's new history
    assert type(a.grad_fn).__name__ == "AsStridedBackward0"
    a.sum().backward()
    assert x.grad.tolist() == [0, 10, 1, 1]
    x.grad = None
    y2 = x * 1
    v = y2[2:]
    with dg.no_grad():
        y2.mul_(5)                             # unrecorded write to the base: same gradient, new node
    assert type(v.grad_fn).__name__ == "AsStridedBackward0"
    (v * v).sum().backward()
    assert x.grad.tolist() == [0, 0, 2 * 15 * 1, 2 * 20 * 1]


def test_inplace_on_view_with_operand_requiring_grad(device):
    z = dg.ones(3, device=device)              # a leaf that does not require grad becomes part of the graph
    w = _leaf(2.0, device)
    z[1:].mul_(w)
    assert type(z.grad_fn).__name__ == "CopySlices" and z.requires_grad and not z.is_leaf
    (z * dg.tensor([1.0, 10.0, 100.0], device=device)).sum().backward()
    assert z.tolist() == [1, 2, 2] and w.grad.item() == 110
    x = _leaf([1.0, 2.0, 3.0], device)
    w = _leaf([5.0, 7.0], device)
    y = x * 2
    y[1:].mul_(w)                              # Mul saved the view's old value: it is kept before the write
    y.sum().backward()
    assert x.grad.tolist() == [2, 10, 14] and w.grad.tolist() == [4, 6]


def test_inplace_mul_by_tensor_on_nonleaf_keeps_original(device):
    x = _leaf([1.0, 2.0, 3.0], device)
    w = _leaf([4.0, 5.0, 6.0], device)
    y = x * 2
    y.mul_(w)
    y.sum().backward()
    assert x.grad.tolist() == [8, 10, 12] and w.grad.tolist() == [2, 4, 6]
    a = _leaf([1.0, 2.0], device)
    b = a * 1
    c = b * b                                  # saved b before the write: still refused
    b.pow_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        c.sum().backward()


def test_fill_and_copy_into_view_cut_the_old_history(device):
    x = _leaf([1.0, 0.0, 2.0], device)
    y = x.log()                                # y[1] = -inf: the filled value must not become nan
    y[1:].fill_(5)
    assert y.tolist() == [0, 5, 5]
    y.sum().backward()
    np.testing.assert_equal(x.grad.tolist(), [1, np.nan, 0])     # 0 / 0 at x = 0 in log's backward, as PyTorch
    x = _leaf([1.0, 2.0, 3.0], device)
    src = _leaf([7.0, 8.0], device)
    y = x * 2
    y[:2].copy_(src)
    (y * 3).sum().backward()
    assert y.tolist() == [7, 8, 6] and x.grad.tolist() == [0, 0, 6] and src.grad.tolist() == [3, 3]
    x.grad = None
    y = x * 2
    y.copy_(dg.zeros(3, device=device))        # a constant: the old history gets a zero gradient
    y.sum().backward()
    assert x.grad.tolist() == [0, 0, 0]


def test_setitem_on_view_of_nonleaf(device):
    x = _leaf([1.0, 2.0, 3.0], device)
    w = _leaf(4.0, device)
    y = x * 2
    v = y[1:]
    v[0] = w * 3
    assert y.tolist() == [2, 12, 6] and type(y.grad_fn).__name__ == "CopySlices"
    y.sum().backward()
    assert x.grad.tolist() == [2, 0, 2] and w.grad.item() == 3


def test_inplace_on_views_gradcheck():
    def f(x, w):
        y = x.sin()
        y[:, ::2].mul_(w)
        y.view(12)[1:5].pow_(2)                # pow saves the view's old value
        y.t()[1].add_(w[:, 1])
        return y

    rng = np.random.default_rng(0)
    x = dg.tensor(rng.uniform(-1, 1, (3, 4)), dtype=dg.float64, requires_grad=True)
    w = dg.tensor(rng.uniform(-1, 1, (3, 2)), dtype=dg.float64, requires_grad=True)
    assert gradcheck(f, (x, w))
