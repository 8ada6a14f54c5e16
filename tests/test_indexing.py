"""Advanced indexing, setitem, and the copying index ops (gather, scatter, index_select, masked_*, where, cat...)."""
import numpy as np
import pytest

import distgrad as dg

REF = np.arange(24).reshape(2, 3, 4)


def _x(device, dtype=dg.int64):
    return dg.tensor(REF, dtype=dtype, device=device)


def _conv(idx, device):
    """The same index with numpy arrays turned into tensors."""
    if isinstance(idx, tuple):
        return tuple(_conv(i, device) for i in idx)
    if isinstance(idx, np.ndarray):
        return dg.tensor(idx, device=device)
    return idx


ADV = [
    np.array([1, 0, 1]), [1, 0], np.array([[0], [1]]), (slice(None), [0, 2], [1, 3]), ([0, 1], slice(None), [1, 3]),
    ([[0], [1]], [[0, 1, 2]]), (Ellipsis, [0, 1]), (None, [0, 1], slice(1, None), [0, 2]),
    (0, [0, 1], None, [0, 2]), np.array([[True, False, True], [False, False, True]]), (np.array([True, False]),
                                                                                       slice(1, None)),
    (1, np.array([True, False, True]), 2), np.array([-1, -2]), (slice(None), np.array([2, -3, 0])),
    (np.array([1, 0]), np.array([2, 1]), np.array([3, 0])), (slice(None), slice(None), np.array([[0, 1], [3, 2]])),
    (np.array([0, 1]), 1), (slice(None, None, 2), np.array([0, 2]), slice(1, 3)), np.array([], dtype=np.int64),
    (Ellipsis, np.array([True, False, False, True])), np.array(1),
]


@pytest.mark.parametrize("idx", ADV, ids=[str(i) for i in range(len(ADV))])
def test_advanced_getitem_matches_numpy(idx, device):
    x = _x(device)
    y = x[_conv(idx, device)]
    expected = REF[idx]
    assert tuple(y.shape) == expected.shape
    assert y.tolist() == expected.tolist()


def test_advanced_indexing_copies(device):
    x = _x(device)
    y = x[[0, 1]]
    y.fill_(-1)
    assert x.tolist() == REF.tolist()
    m = x[x > 10]
    m.fill_(0)
    assert x.tolist() == REF.tolist()


def test_zero_dim_bool_index(device):
    x = _x(device)
    assert x[dg.tensor(True, device=device)].shape == (1, 2, 3, 4)
    assert x[dg.tensor(False, device=device)].shape == (0, 2, 3, 4)


def test_index_errors(device):
    x = _x(device)
    with pytest.raises(IndexError, match="index 2 is out of bounds for dimension 0 with size 2"):
        x[dg.tensor([0, 2], device=device)].tolist()   # on a device, raised at the next read
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 0 with size 2"):
        x[[0, 3]].tolist()
    with pytest.raises(IndexError, match="tensors used as indices must be long, int, byte or bool tensors"):
        x[dg.tensor([0.0], device=device)]
    with pytest.raises(IndexError, match=r"The shape of the mask \[3\] at index 0 does not match the shape of the "
                                         r"indexed tensor \[2, 3, 4\] at index 0"):
        x[dg.tensor([True, False, True], device=device)]
    with pytest.raises(IndexError, match=r"shape mismatch: indexing tensors could not be broadcast together with "
                                         r"shapes \[2\], \[3\]"):
        x[[0, 1], [0, 1, 2]]


SET = [
    (1, 5), ((0, 1), -1), ((slice(None), 0), 7), ((Ellipsis, 1), 3), (np.array([1, 0]), 9),
    ((slice(None), [0, 2], [1, 3]), 4), (np.array([[True, False, True], [False, False, True]]), 0),
    ((slice(None), slice(1, None, 2)), np.arange(8).reshape(2, 1, 4)), ((0, [0, 2]), np.array([[1, 2, 3, 4]])),
    (([0, 1], slice(None), [1, 3]), np.arange(6).reshape(2, 3)), (np.array(1), 8),
]


@pytest.mark.parametrize("idx, value", SET, ids=[str(i) for i in range(len(SET))])
def test_setitem_matches_numpy(idx, value, device):
    x = _x(device)
    ref = REF.copy()
    ref[idx] = value
    x[_conv(idx, device)] = _conv(value, device)
    assert x.tolist() == ref.tolist()


def test_setitem_with_mask_from_comparison(device):
    x = dg.tensor([[1.0, -2.0], [-3.0, 4.0]], device=device)
    x[x < 0] = 0
    assert x.tolist() == [[1, 0], [0, 4]]
    x[x > 2] = dg.tensor([9.0], device=device)
    assert x.tolist() == [[1, 0], [0, 9]]


def test_setitem_casts_value_and_bumps_version(device):
    x = dg.zeros(3, dtype=dg.int64, device=device)
    x[1] = 2.7
    assert x.tolist() == [0, 2, 0]
    y = dg.zeros(3, device=device)
    y[:] = dg.tensor([1, 2, 3], device=device)
    assert y.tolist() == [1.0, 2.0, 3.0] and y.dtype == dg.float32


def test_setitem_shape_mismatch_error(device):
    x = dg.zeros(2, 3, device=device)
    with pytest.raises(RuntimeError, match=r"shape mismatch: value tensor of shape \[2\] cannot be broadcast to "
                                           r"indexing result of shape \[2, 3\]|The expanded size"):
        x[:] = dg.ones(2, device=device)


def test_setitem_duplicate_indices_and_index_put_accumulate(device):
    x = dg.zeros(3, device=device)
    x.index_put_((dg.tensor([0, 0, 2], device=device),), dg.tensor(1.0, device=device), accumulate=True)
    assert x.tolist() == [2.0, 0.0, 1.0]
    y = dg.zeros(3, device=device).index_put((dg.tensor([1], device=device),), dg.tensor([5.0], device=device))
    assert y.tolist() == [0, 5, 0]


def test_gather(device):
    x = dg.tensor([[1, 2, 3], [4, 5, 6]], device=device)
    idx = dg.tensor([[2, 0], [1, 1]], device=device)
    assert x.gather(1, idx).tolist() == [[3, 1], [5, 5]]
    assert x.gather(0, dg.tensor([[1, 0, 1]], device=device)).tolist() == [[4, 2, 6]]
    assert dg.gather(x, -1, idx).tolist() == [[3, 1], [5, 5]]
    with pytest.raises(RuntimeError, match="index 5 is out of bounds for dimension 1 with size 3"):
        x.gather(1, dg.tensor([[0], [5]], device=device)).tolist()   # on a device, raised at the next read
    with pytest.raises(RuntimeError, match=r"gather\(\): Expected dtype int32/int64 for index"):
        x.gather(1, dg.tensor([[0.0]], device=device))


def test_scatter_and_scatter_add(device):
    z = dg.zeros(2, 4, device=device)
    idx = dg.tensor([[0, 3], [1, 1]], device=device)
    src = dg.tensor([[1.0, 2.0], [3.0, 4.0]], device=device)
    assert z.scatter(1, idx, src).tolist() == [[1, 0, 0, 2], [0, 3, 0, 0]] or \
        z.scatter(1, idx, src).tolist() == [[1, 0, 0, 2], [0, 4, 0, 0]]
    assert z.scatter_add(1, idx, src).tolist() == [[1, 0, 0, 2], [0, 7, 0, 0]]
    assert z.scatter(1, idx, 5.0).tolist() == [[5, 0, 0, 5], [0, 5, 0, 0]]
    assert z.tolist() == [[0] * 4] * 2               # out of place
    z.scatter_(0, dg.tensor([[1, 0, 1, 0]], device=device), dg.ones(1, 4, device=device))
    assert z.tolist() == [[0, 1, 0, 1], [1, 0, 1, 0]]
    z.scatter_add_(1, dg.tensor([[0, 0]], device=device), dg.ones(1, 2, device=device))
    assert z[0].tolist() == [2, 1, 0, 1]
    assert dg.zeros(3, device=device).scatter(0, dg.tensor([0, 2], device=device), dg.ones(2, device=device),
                                              reduce="add").tolist() == [1, 0, 1]
    with pytest.raises(RuntimeError, match="index 3 is out of bounds for dimension 1 with size 3"):
        dg.zeros(2, 3, device=device).scatter(1, dg.tensor([[3]], device=device), 1.0).tolist()


def test_gather_scatter_operands_on_another_device_raise(device):
    # regression: a cpu index reached the OpenCL kernel and failed there with CL_INVALID_ARG_SIZE
    other = "cpu" if device != "cpu" else "opencl:0" if dg.opencl.is_available() else None
    if other is None:
        pytest.skip("needs a second device: no OpenCL device found")
    x = dg.zeros(2, 3, device=device)
    same = f"Expected all tensors to be on the same device, but found at least two devices, {x.device} and "
    with pytest.raises(RuntimeError, match=same):
        x.gather(1, dg.tensor([[0]], device=other))
    with pytest.raises(RuntimeError, match=same):
        x.scatter(1, dg.tensor([[0]], device=other), 1.0)
    with pytest.raises(RuntimeError, match=same):
        x.scatter_add_(1, dg.tensor([[0]], device=device), dg.ones(1, 1, device=other))


SAME = "Expected all tensors to be on the same device, but found at least two devices, {} and {}!"


def _needs_two_devices(device):
    if device == "cpu":
        pytest.skip("needs two devices: runs under a non-cpu --device (opencl:0, all), with cpu as the other")


def test_index_select_and_masked_ops_refuse_operands_on_another_device(device):
    _needs_two_devices(device)
    x, xc = dg.zeros(2, 3, device=device), dg.zeros(2, 3)
    i, mask = dg.tensor([1, 0]), dg.tensor([True, False, True])
    with pytest.raises(RuntimeError, match=f"^{SAME.format(device, 'cpu')}$"):
        x.index_select(1, i)
    with pytest.raises(RuntimeError, match=f"^{SAME.format('cpu', device)}$"):
        xc.index_select(1, i.to(device))
    with pytest.raises(RuntimeError, match=f"^{SAME.format(device, 'cpu')}$"):
        x.masked_select(mask)
    with pytest.raises(RuntimeError, match=f"^expected self and mask to be on the same device, but got mask on cpu and "
                                           f"self on {device}$"):
        x.masked_fill(mask, 1.0)
    with pytest.raises(RuntimeError, match="^expected self and mask to be on the same device, but got mask on "
                                           f"{device} and self on cpu$"):
        xc.masked_fill_(mask.to(device), 1.0)
    with pytest.raises(RuntimeError, match="^masked_fill_: Expected inputs to be on same device$"):
        xc.masked_fill(mask, dg.tensor(1.0, device=device))
    assert x.masked_fill(mask.to(device), dg.tensor(5.0)).tolist() == [[5.0, 0.0, 5.0]] * 2    # a 0-d cpu value is fine


def test_advanced_indexing_takes_a_cpu_index_and_refuses_other_devices(device):
    # PyTorch moves a cpu index to the indexed tensor's device; an index on any other device is an error
    _needs_two_devices(device)
    x = _x(device)
    assert x[dg.tensor([1, 0])].tolist() == REF[[1, 0]].tolist()
    assert x[dg.tensor(REF > 20)].tolist() == REF[REF > 20].tolist()
    with pytest.raises(RuntimeError, match=r"^indices should be either on cpu or on the same device as the indexed "
                                           r"tensor \(cpu\)$"):
        _x("cpu")[dg.tensor([0], device=device)]
    y = x.clone()
    y[dg.tensor([0])] = 7
    y[dg.tensor([1]), 0] = dg.tensor(8)                  # a 0-d value on another device is moved, as PyTorch
    y[1, 1] = dg.tensor([9, 9, 9, 9])                    # a basic-index write copies across devices (copy_)
    want = REF.copy()
    want[0], want[1, 0], want[1, 1] = 7, 8, 9
    assert y.tolist() == want.tolist()
    with pytest.raises(RuntimeError, match=f"^{SAME.format(device, 'cpu')}$"):
        y[dg.tensor([0])] = dg.zeros(3, 4, dtype=dg.int64)
    with pytest.raises(RuntimeError, match=f"^{SAME.format(device, 'cpu')}$"):     # used to crash the process
        y.index_put_((dg.tensor([0], device=device),), dg.zeros(4, dtype=dg.int64), accumulate=True)
    assert y.tolist() == want.tolist()


def test_index_select(device):
    x = dg.tensor(REF, device=device)
    i = dg.tensor([2, 0], device=device)
    assert x.index_select(1, i).tolist() == REF[:, [2, 0]].tolist()
    assert x.index_select(-1, i).tolist() == REF[..., [2, 0]].tolist()
    assert dg.index_select(x, 0, dg.tensor([1], device=device)).tolist() == REF[[1]].tolist()
    with pytest.raises(IndexError, match=r"index_select\(\): Index is supposed to be a vector"):
        x.index_select(1, dg.tensor([[1]], device=device))
    with pytest.raises((IndexError, RuntimeError), match="out of"):
        x.index_select(1, dg.tensor([3], device=device)).tolist()   # on a device, raised at the next read


def test_masked_select_and_masked_fill(device):
    x = dg.arange(6, device=device).view(2, 3)
    m = dg.tensor([True, False, True], device=device)
    assert x.masked_select(m).tolist() == [0, 2, 3, 5]
    assert dg.masked_select(x, x > 2).tolist() == [3, 4, 5]
    with pytest.raises(RuntimeError, match="masked_select: expected BoolTensor for mask"):
        x.masked_select(dg.tensor([1, 0, 1], device=device))
    f = x.float()
    assert f.masked_fill(m, -1.0).tolist() == [[-1, 1, -1], [-1, 4, -1]]
    assert f.masked_fill(f > 3, dg.tensor(0.5, device=device)).tolist() == [[0, 1, 2], [3, 0.5, 0.5]]
    assert f.tolist() == [[0, 1, 2], [3, 4, 5]]
    f.masked_fill_(m, 9)
    assert f.tolist() == [[9, 1, 9], [9, 4, 9]]
    with pytest.raises(RuntimeError, match="masked_fill_ only supports boolean masks, but got mask with dtype long"):
        f.masked_fill(dg.tensor([1, 0, 1], device=device), 0)


def test_where(device):
    c = dg.tensor([True, False, True], device=device)
    a = dg.tensor([1.0, 2.0, 3.0], device=device)
    assert dg.where(c, a, dg.zeros(3, device=device)).tolist() == [1, 0, 3]
    assert dg.where(c, a, -1.0).tolist() == [1, -1, 3]
    assert dg.where(c, dg.tensor([1, 2, 3], device=device), 0.5).dtype == dg.float32
    assert dg.where(c, 1, 0).dtype == dg.int64
    assert dg.where(c, 1.0, 0).dtype == dg.float32
    assert a.where(c, dg.tensor(0.0, device=device)).tolist() == [1, 0, 3]
    assert dg.where(dg.tensor([[True], [False]], device=device), a, -a).tolist() == [[1, 2, 3], [-1, -2, -3]]
    idx = dg.where(dg.tensor([[0, 1], [1, 0]], device=device) > 0)
    assert [t.tolist() for t in idx] == [[0, 1], [1, 0]]
    with pytest.raises(RuntimeError, match="where expected condition to be a boolean tensor, but got a tensor with "
                                           "dtype Long"):
        dg.where(dg.tensor([1, 0, 1], device=device), a, a)


def test_nonzero(device):
    x = dg.tensor([[0, 1], [2, 0]], device=device)
    assert x.nonzero().tolist() == [[0, 1], [1, 0]]
    assert [t.tolist() for t in x.nonzero(as_tuple=True)] == [[0, 1], [1, 0]]
    assert dg.argwhere(x).tolist() == [[0, 1], [1, 0]]


def test_cat_stack(device):
    a = dg.ones(2, 3, device=device)
    b = dg.zeros(1, 3, device=device)
    assert dg.cat([a, b]).shape == (3, 3) and dg.cat([a, b]).tolist()[2] == [0, 0, 0]
    assert dg.cat((a, a), dim=1).shape == (2, 6)
    assert dg.cat([a, a], -1).shape == (2, 6)
    assert dg.cat([dg.ones(2, dtype=dg.int64, device=device), dg.ones(2, device=device)]).dtype == dg.float32
    assert dg.concat([a, b]).shape == (3, 3)
    c = dg.cat([a, b])
    c.fill_(5)
    assert a.tolist() == [[1] * 3] * 2           # a copy
    with pytest.raises(RuntimeError, match="Sizes of tensors must match except in dimension 1. Expected size 2 but "
                                           "got size 1 for tensor number 1 in the list."):
        dg.cat([a, b], 1)
    with pytest.raises(RuntimeError, match="Tensors must have same number of dimensions: got 2 and 1"):
        dg.cat([a, dg.ones(2, device=device)])
    with pytest.raises(ValueError, match=r"expected a non-empty list of Tensors"):
        dg.cat([])
    s = dg.stack([a, a + 1])
    assert s.shape == (2, 2, 3) and s[1, 0, 0].item() == 2
    assert dg.stack([a, a], dim=2).shape == (2, 3, 2)
    assert dg.stack([a, a], dim=-1).shape == (2, 3, 2)
    with pytest.raises(RuntimeError, match=r"stack expects each tensor to be equal size, but got \[2, 3\] at entry 0 "
                                           r"and \[1, 3\] at entry 1"):
        dg.stack([a, b])
    assert dg.hstack([dg.ones(2, device=device), dg.zeros(3, device=device)]).shape == (5,)
    assert dg.vstack([dg.ones(2, device=device), dg.zeros(2, device=device)]).shape == (2, 2)


def test_split_chunk(device):
    x = dg.arange(10, device=device)
    assert [t.tolist() for t in x.split(4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [t.tolist() for t in x.split([3, 7])] == [[0, 1, 2], list(range(3, 10))]
    assert [t.tolist() for t in dg.arange(7, device=device).chunk(3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(dg.arange(6, device=device).chunk(4)) == 3
    m = dg.arange(6, device=device).view(2, 3)
    assert [t.shape for t in m.split([1, 2], dim=1)] == [(2, 1), (2, 2)]
    with pytest.raises(RuntimeError, match=r"split_with_sizes expects split_sizes to sum exactly to 3 \(input tensor's "
                                           r"size at dimension 1\), but got split_sizes=\[1, 1\]"):
        m.split([1, 1], dim=1)


def test_repeat_clone(device):
    x = dg.tensor([[1, 2], [3, 4]], device=device)
    assert x.repeat(2, 1).tolist() == np.tile([[1, 2], [3, 4]], (2, 1)).tolist()
    assert x.repeat(2, 1, 2).shape == (2, 2, 4)
    assert x.repeat(2, 1, 2).tolist() == np.tile([[1, 2], [3, 4]], (2, 1, 2)).tolist()
    with pytest.raises(RuntimeError, match="Number of dimensions of repeat dims can not be smaller than number of "
                                           "dimensions of tensor"):
        x.repeat(2)
    c = x.clone()
    c[0, 0] = 100
    assert x[0, 0].item() == 1
    assert x.t().clone().tolist() == [[1, 3], [2, 4]]


def test_resize_(device):
    x = dg.arange(6, device=device)
    x.resize_(2, 2)
    assert x.shape == (2, 2) and x.tolist() == [[0, 1], [2, 3]]
    y = dg.arange(4, device=device)
    y.resize_(3, 3)
    assert y.shape == (3, 3) and y.flatten()[:4].tolist() == [0, 1, 2, 3]
    z = dg.zeros(2, device=device).resize_as_(dg.zeros(1, 2, device=device))
    assert z.shape == (1, 2)


def test_cat_along_inner_dim_of_non_square_regression(device):
    # ops._narrow used shape[0] for every leading dim, so cat/stack on dim >= 2 of a (2, 3) tensor crashed in NumPy
    a = dg.arange(6, device=device).view(2, 3)
    assert dg.stack([a, a + 10], dim=2).tolist() == np.stack([np.arange(6).reshape(2, 3)] * 2, 2).__add__(
        np.array([0, 10])).tolist()
    b = dg.arange(24, device=device).view(2, 3, 4)
    assert dg.cat([b, b], 2).tolist() == np.concatenate([REF, REF], 2).tolist()


def test_mask_error_names_shape_after_int_indices(device):
    x = dg.zeros(2, 3, 4, device=device)
    with pytest.raises(IndexError, match=r"The shape of the mask \[2\] at index 0 does not match the shape of the "
                                         r"indexed tensor \[2, 3, 4\] at index 1"):
        x[:, dg.ones(2, dtype=dg.bool, device=device)]
    with pytest.raises(IndexError, match=r"The shape of the mask \[2, 4\] at index 0 does not match the shape of the "
                                         r"indexed tensor \[3, 4\] at index 0"):
        x[0, dg.ones(2, 4, dtype=dg.bool, device=device)]


def test_all_false_mask_regression(device):
    # an empty nonzero() result sliced per column gave a view past its buffer, and NumPy raised on it
    x = dg.zeros(1, 1, device=device)
    assert x[dg.tensor([[False]], device=device)].shape == (0,)
    x[dg.tensor([[False]], device=device)] = 1
    assert x.tolist() == [[0]]


def test_index_checks_on_a_device_never_wait_and_raise_at_the_next_read(device, monkeypatch):
    if device == "cpu":
        pytest.skip("cpu checks an index at once: there is no device to wait for")
    from distgrad.device import backend_for
    be = backend_for(dg.device(device))
    x = dg.arange(6.0, device=device).view(2, 3)
    logits, target = dg.randn(4, 3, device=device), dg.tensor([0, 2, 1, 1], device=device)
    reads = []
    real = be.to_numpy
    monkeypatch.setattr(be, "to_numpy", lambda v: reads.append(v.shape) or real(v))
    loss = dg.nn.functional.cross_entropy(logits, target)
    picked = x[dg.tensor([1, -1], device=device)]
    bad = x.gather(1, dg.tensor([[0], [5]], device=device))     # queued; the error waits for a read
    assert reads == []                                          # no op above waited for the device
    with pytest.raises(RuntimeError, match="index 5 is out of bounds for dimension 1 with size 3"):
        loss.item()
    assert picked.tolist() == [[3, 4, 5], [3, 4, 5]]             # raised once; later reads work
    assert bad.shape == (2, 1)
    dg.nn.functional.cross_entropy(logits, dg.tensor([0, 3, 1, 1], device=device))
    with pytest.raises(IndexError, match="Target 3 is out of bounds."):
        getattr(dg, x.device.type).synchronize(device)     # this device's queue, not the current device's
