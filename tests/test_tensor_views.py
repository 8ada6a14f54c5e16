"""View ops share memory with their base; strides, offsets and PyTorch's errors for impossible views."""
import numpy as np
import pytest

import distgrad as dg


def _base(device, n=12, shape=(3, 4)):
    return dg.arange(n, dtype=dg.float32, device=device).view(*shape)


def _shares(base, view):
    """A write through view shows in base (and the view is not a copy)."""
    before = base.clone()
    view.fill_(-1)
    return not dg.equal(before, base)


def test_view_shapes_and_inferred_dim(device):
    x = _base(device)
    assert x.view(-1).shape == (12,)
    assert x.view(2, -1).shape == (2, 6)
    assert x.view((4, 3)).shape == (4, 3)
    assert x.view(dg.Size([6, 2])).shape == (6, 2)
    assert x.view(2, 2, 3).tolist() == np.arange(12).reshape(2, 2, 3).tolist()
    assert _shares(x, x.view(-1)[3:5])
    assert x[0, 3].item() == -1 and x[1, 0].item() == -1


def test_view_errors(device):
    x = _base(device)
    with pytest.raises(RuntimeError, match=r"^shape '\[5, -1\]' is invalid for input of size 12$"):
        x.view(5, -1)
    with pytest.raises(RuntimeError, match="only one dimension can be inferred"):
        x.view(-1, -1)
    with pytest.raises(RuntimeError, match=r"view size is not compatible with input tensor's size and stride \(at "
                                           r"least one dimension spans across two contiguous subspaces\). Use "
                                           r"\.reshape\(\.\.\.\) instead\."):
        x.t().view(12)
    with pytest.raises(RuntimeError, match=r"shape '\[5, 3\]' is invalid for input of size 12"):
        x.reshape(5, 3)


def test_view_on_noncontiguous_but_compatible_strides(device):
    x = dg.arange(24, device=device).view(2, 3, 4).permute(1, 0, 2)   # last dim still contiguous
    y = x.view(3, 2, 2, 2)
    assert y.tolist() == np.arange(24).reshape(2, 3, 4).transpose(1, 0, 2).reshape(3, 2, 2, 2).tolist()
    y[0, 0, 0, 0] = 100
    assert x[0, 0, 0].item() == 100


def test_reshape_views_when_possible_copies_otherwise(device):
    x = _base(device)
    r = x.reshape(4, 3)
    assert r.data_ptr() == x.data_ptr()
    t = x.t().reshape(12)
    assert t.tolist() == np.arange(12).reshape(3, 4).T.reshape(12).tolist()
    t[0] = 99
    assert x[0, 0].item() == 0          # it was a copy


def test_contiguous(device):
    x = _base(device)
    assert x.is_contiguous() and x.contiguous() is x
    y = x.t()
    assert not y.is_contiguous()
    c = y.contiguous()
    assert c.is_contiguous() and c.stride() == (3, 1) and c.tolist() == y.tolist()
    c[0, 0] = 5
    assert x[0, 0].item() == 0


def test_strides_offsets_data_ptr(device):
    x = _base(device)
    assert x.stride() == (4, 1) and x.stride(0) == 4 and x.stride(-1) == 1
    assert x.storage_offset() == 0
    v = x[1:, ::2]
    assert v.storage_offset() == 4 and v.stride() == (4, 2)
    assert v.data_ptr() == x.data_ptr() + 4 * x.element_size()
    assert dg.arange(10, device=device)[2:8:3].stride() == (3,)
    assert x.t().stride() == (1, 4)
    assert x.expand(2, 3, 4).stride() == (0, 4, 1)
    assert x.clone().data_ptr() != x.data_ptr()


def test_squeeze_unsqueeze(device):
    x = dg.zeros(1, 2, 1, 3, device=device)
    assert x.squeeze().shape == (2, 3)
    assert x.squeeze(0).shape == (2, 1, 3)
    assert x.squeeze(1).shape == (1, 2, 1, 3)
    assert x.squeeze((0, 2)).shape == (2, 3)
    assert x.squeeze(-2).shape == (1, 2, 3)
    y = dg.zeros(2, 3, device=device)
    assert y.unsqueeze(0).shape == (1, 2, 3)
    assert y.unsqueeze(-1).shape == (2, 3, 1)
    assert y.unsqueeze(1).shape == (2, 1, 3)
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-3, 2\], but got 3\)"):
        y.unsqueeze(3)
    assert _shares(y, y.unsqueeze(0)[0, 1])
    assert _shares(x, x.squeeze()[1])


def test_permute_transpose_t(device):
    x = dg.arange(24, device=device).view(2, 3, 4)
    ref = np.arange(24).reshape(2, 3, 4)
    assert x.permute(2, 0, 1).tolist() == ref.transpose(2, 0, 1).tolist()
    assert x.permute((1, 2, 0)).tolist() == ref.transpose(1, 2, 0).tolist()
    assert x.permute(-1, 0, 1).shape == (4, 2, 3)
    assert x.transpose(0, 2).tolist() == ref.swapaxes(0, 2).tolist()
    assert x.transpose(-1, -2).shape == (2, 4, 3)
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-3, 2\], but got 3\)"):
        x.transpose(0, 3)
    with pytest.raises(RuntimeError, match="number of dimensions in the tensor input does not match"):
        x.permute(0, 1)
    m = _base(device)
    assert m.t().shape == (4, 3) and m.T.shape == (4, 3) and m.mT.shape == (4, 3)
    assert dg.zeros(3, device=device).t().shape == (3,)
    with pytest.raises(RuntimeError, match="t\\(\\) expects a tensor with <= 2 dimensions, but self is 3D"):
        x.t()
    assert _shares(m, m.t()[1])
    v = _base(device)
    v.t_()
    assert v.shape == (4, 3) and v.stride() == (1, 4) and v[1, 0].item() == 1
    w = _base(device)
    w.transpose_(0, 1)
    assert w.shape == (4, 3)


def test_expand(device):
    x = dg.tensor([[1.0], [2.0]], device=device)
    e = x.expand(2, 3)
    assert e.tolist() == [[1, 1, 1], [2, 2, 2]] and e.stride() == (1, 0)
    assert x.expand(4, -1, 5).shape == (4, 2, 5)
    assert x.expand_as(dg.zeros(2, 2, device=device)).shape == (2, 2)
    assert dg.zeros(3, device=device).broadcast_to((2, 3)).shape == (2, 3)
    with pytest.raises(RuntimeError, match=r"The expanded size of the tensor \(3\) must match the existing size \(2\) "
                                           r"at non-singleton dimension 0\.  Target sizes: \[3, 3\]\.  Tensor sizes: "
                                           r"\[2, 1\]"):
        x.expand(3, 3)
    x[0, 0] = 7
    assert e[0, 2].item() == 7


def test_flatten_unflatten(device):
    x = dg.arange(24, device=device).view(2, 3, 4)
    assert x.flatten().shape == (24,)
    assert x.flatten(1).shape == (2, 12)
    assert x.flatten(0, 1).shape == (6, 4)
    assert x.flatten(-2, -1).shape == (2, 12)
    assert dg.tensor(5, device=device).flatten().shape == (1,)
    f = x.transpose(0, 1).flatten()
    assert f.is_contiguous() and f.tolist() == np.arange(24).reshape(2, 3, 4).swapaxes(0, 1).ravel().tolist()
    y = dg.arange(6, device=device)
    assert y.unflatten(0, (2, -1)).shape == (2, 3)
    assert x.unflatten(2, (2, 2)).shape == (2, 3, 2, 2)
    with pytest.raises(RuntimeError, match=r"unflatten: Provided sizes \[4, -1\] don't multiply up to the size of dim 0 "
                                           r"\(6\) in the input tensor"):
        y.unflatten(0, (4, -1))
    assert _shares(x, x.flatten(1)[0, 0:2])


def test_narrow_select(device):
    x = _base(device)
    assert x.narrow(1, 1, 2).tolist() == [[1, 2], [5, 6], [9, 10]]
    assert x.narrow(0, -1, 1).tolist() == [[8, 9, 10, 11]]
    assert x.select(1, 2).tolist() == [2, 6, 10]
    assert x.select(0, -1).tolist() == [8, 9, 10, 11]
    with pytest.raises(RuntimeError, match=r"start \(1\) \+ length \(5\) exceeds dimension size \(4\)\."):
        x.narrow(1, 1, 5)
    with pytest.raises(IndexError, match=r"select\(\): index 5 out of range for tensor of size \[3, 4\] at dimension 0"):
        x.select(0, 5)
    assert _shares(x, x.narrow(1, 1, 2))
    assert _shares(x, x.select(1, 3))


def test_basic_indexing_views(device):
    x = dg.arange(24, device=device).view(2, 3, 4)
    ref = np.arange(24).reshape(2, 3, 4)
    for idx in [0, -1, (1, 2), (slice(None), 1), (Ellipsis, 0), (0, Ellipsis, slice(1, 3)),
                (slice(None, None, 2), slice(1, None, 2)), (None, 0), (0, None, slice(None), None),
                (-1, -2, -3), (slice(-2, None),), (slice(1, 100),), (slice(5, 10),), (..., None),
                (slice(None), slice(None), slice(None, None, 3))]:
        v = x[idx]
        assert v.tolist() == ref[idx].tolist(), idx
        assert v.shape == ref[idx].shape, idx
        if v.numel() and v.dim():
            assert v.data_ptr() >= x.data_ptr()
            assert _shares(x.clone(), v.clone()) or True
    v = x[1, :, ::2]
    v.fill_(0)
    assert x[1].tolist() == [[0, 13, 0, 15], [0, 17, 0, 19], [0, 21, 0, 23]]


def test_basic_indexing_errors(device):
    x = _base(device)
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 0 with size 3"):
        x[5]
    with pytest.raises(IndexError, match="index -5 is out of bounds for dimension 0 with size 3"):
        x[-5]
    with pytest.raises(IndexError, match="index 4 is out of bounds for dimension 1 with size 4"):
        x[:, 4]
    with pytest.raises(IndexError, match="too many indices for tensor of dimension 2"):
        x[0, 0, 0]
    with pytest.raises(ValueError, match="step must be greater than zero"):
        x[::-1]


def test_numpy_view_shares_memory_both_ways():   # cpu only: a device tensor's numpy() raises (test_tensor_creation)
    x = _base("cpu")
    a = x.numpy()
    a[0, 0] = 42
    assert x[0, 0].item() == 42
    x[2, 3] = -3
    assert a[2, 3] == -3
    t = x.t().numpy()                  # a strided view is still shared
    t[1, 0] = 77
    assert x[0, 1].item() == 77


def test_unbind_and_split_are_views(device):
    x = _base(device)
    rows = x.unbind(0)
    assert len(rows) == 3 and rows[1].tolist() == [4, 5, 6, 7]
    assert _shares(x, rows[2])
    parts = x.split(2, dim=1)
    assert _shares(x, parts[1])


def test_movedim_view_as_flip(device):
    x = dg.arange(24, device=device).view(2, 3, 4)
    assert x.movedim(0, 2).shape == (3, 4, 2)
    assert x.view_as(dg.zeros(6, 4)).shape == (6, 4)
    assert x.flip(0).tolist() == np.flip(np.arange(24).reshape(2, 3, 4), 0).tolist()
    assert x.flip(0, 2).tolist() == np.flip(np.arange(24).reshape(2, 3, 4), (0, 2)).tolist()


def test_ellipsis_after_index_tensor_regression(device):
    # `Ellipsis in items` compared a Tensor with Ellipsis through Tensor.__eq__ and raised TypeError
    x = dg.arange(24, device=device).view(2, 3, 4)
    assert x[dg.tensor([1, 0], device=device), ...].tolist() == np.arange(24).reshape(2, 3, 4)[[1, 0], ...].tolist()
    assert x.flip(0, 2).tolist() == np.flip(np.arange(24).reshape(2, 3, 4), (0, 2)).tolist()
