"""Creation functions: values, shapes, default dtypes, memory sharing with NumPy, requires_grad."""
import re

import numpy as np
import pytest

import distgrad as dg


def test_tensor_infers_default_dtypes(device):
    assert dg.tensor([1.0, 2.0], device=device).dtype == dg.float32
    assert dg.tensor([1, 2], device=device).dtype == dg.int64
    assert dg.tensor([True, False], device=device).dtype == dg.bool
    assert dg.tensor([1, 2.5], device=device).dtype == dg.float32
    assert dg.tensor([True, 2], device=device).dtype == dg.int64
    assert dg.tensor(3.0, device=device).dtype == dg.float32
    assert dg.tensor(3, device=device).shape == ()


def test_tensor_from_numpy_keeps_numpy_dtype_and_copies(device):
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = dg.tensor(a, device=device)
    assert t.dtype == dg.float64 and t.shape == (2, 3)
    a[0, 0] = 100
    assert t[0, 0].item() == 0.0           # tensor() copies
    assert dg.tensor(np.arange(3, dtype=np.int32), device=device).dtype == dg.int32


def test_tensor_nested_and_explicit_dtype(device):
    t = dg.tensor([[1, 2], [3, 4]], dtype=dg.float64, device=device)
    assert t.dtype == dg.float64 and t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert dg.tensor([], device=device).shape == (0,)
    assert dg.tensor([], device=device).dtype == dg.float32


def test_tensor_of_tensors_and_ragged_error(device):
    with pytest.raises(ValueError):
        dg.tensor([[1, 2], [3]], device=device)


@pytest.mark.parametrize("fn, value", [(dg.zeros, 0.0), (dg.ones, 1.0)])
def test_zeros_ones_shapes_and_dtypes(fn, value, device):
    for args in [(2, 3), ((2, 3),), ([2, 3],), (dg.Size([2, 3]),)]:
        t = fn(*args, device=device)
        assert t.shape == (2, 3) and t.dtype == dg.float32
        np.testing.assert_array_equal(t.cpu().numpy(), np.full((2, 3), value, np.float32))
    assert fn(4, dtype=dg.int32, device=device).dtype == dg.int32
    assert fn((), device=device).shape == ()
    assert fn(0, 3, device=device).numel() == 0


def test_empty_has_shape_and_dtype(device):
    t = dg.empty(3, 4, dtype=dg.float64, device=device)
    assert t.shape == (3, 4) and t.dtype == dg.float64


def test_full_infers_dtype_from_fill_value(device):
    assert dg.full((2, 2), 1.5, device=device).dtype == dg.float32
    assert dg.full((2, 2), 7, device=device).dtype == dg.int64
    assert dg.full((2, 2), True, device=device).dtype == dg.bool
    np.testing.assert_array_equal(dg.full((2, 3), 7, device=device).cpu().numpy(), np.full((2, 3), 7))
    assert dg.full((2,), 2, dtype=dg.float64, device=device).tolist() == [2.0, 2.0]


def test_like_functions_follow_input(device):
    x = dg.ones(2, 3, dtype=dg.float64, device=device)
    for fn in (dg.zeros_like, dg.ones_like, dg.empty_like, dg.rand_like, dg.randn_like):
        y = fn(x)
        assert y.shape == (2, 3) and y.dtype == dg.float64 and not y.requires_grad
    assert dg.full_like(x, 4).tolist() == [[4.0] * 3] * 2
    assert dg.zeros_like(x, dtype=dg.int32).dtype == dg.int32
    assert dg.ones_like(x, requires_grad=True).requires_grad
    r = dg.randint_like(x, 5)
    assert r.dtype == dg.float64 and ((r >= 0) & (r < 5)).all()


def test_new_functions_keep_dtype_and_device(device):
    x = dg.ones(2, dtype=dg.float64, device=device)
    assert x.new_ones(3).dtype == dg.float64 and x.new_ones(3).tolist() == [1.0] * 3
    assert x.new_zeros((2, 2)).shape == (2, 2)
    assert x.new_full((2,), 3).tolist() == [3.0, 3.0] and x.new_full((2,), 3).dtype == dg.float64
    assert x.new_empty(4).shape == (4,)
    t = x.new_tensor([1, 2])
    assert t.dtype == dg.float64 and t.tolist() == [1.0, 2.0]
    assert x.new_zeros(2, dtype=dg.int64).dtype == dg.int64


def test_arange(device):
    assert dg.arange(5, device=device).tolist() == [0, 1, 2, 3, 4]
    assert dg.arange(5, device=device).dtype == dg.int64
    assert dg.arange(1, 4, device=device).tolist() == [1, 2, 3]
    assert dg.arange(0, 1, 0.25, device=device).dtype == dg.float32
    np.testing.assert_allclose(dg.arange(0, 1, 0.25, device=device).cpu().numpy(), [0, 0.25, 0.5, 0.75])
    assert dg.arange(5, 0, -2, device=device).tolist() == [5, 3, 1]
    assert dg.arange(3.0, device=device).dtype == dg.float32
    assert dg.arange(3, dtype=dg.float64, device=device).dtype == dg.float64


def test_linspace_and_eye(device):
    t = dg.linspace(0, 1, 5, device=device)
    assert t.dtype == dg.float32
    np.testing.assert_allclose(t.cpu().numpy(), np.linspace(0, 1, 5), rtol=1e-6)
    assert dg.linspace(-1, 1, 1, device=device).tolist() == [-1.0]
    np.testing.assert_array_equal(dg.eye(3, device=device).cpu().numpy(), np.eye(3, dtype=np.float32))
    np.testing.assert_array_equal(dg.eye(2, 3, device=device).cpu().numpy(), np.eye(2, 3))
    assert dg.eye(2, dtype=dg.int64, device=device).dtype == dg.int64


def test_from_numpy_shares_memory_both_ways():
    a = np.zeros((2, 3), dtype=np.float32)
    t = dg.from_numpy(a)
    assert t.dtype == dg.float32
    a[0, 1] = 5
    assert t[0, 1].item() == 5.0
    t[1, 2] = 7
    assert a[1, 2] == 7
    t.add_(1)
    assert a[0, 0] == 1
    assert dg.from_numpy(np.arange(3)).dtype == dg.int64
    assert dg.from_numpy(np.array([True])).dtype == dg.bool


def test_from_numpy_noncontiguous_array_shares_memory():
    a = np.arange(12, dtype=np.float64).reshape(3, 4)[:, ::2]
    t = dg.from_numpy(a)
    assert t.shape == (3, 2) and t.tolist() == a.tolist()
    t[0, 1] = -1
    assert a[0, 1] == -1


def test_numpy_shares_memory_both_ways():
    t = dg.zeros(2, 2)
    a = t.numpy()
    a[0, 0] = 3
    assert t[0, 0].item() == 3
    t[1, 1] = 4
    assert a[1, 1] == 4


def test_numpy_needs_a_cpu_tensor(device):
    t = dg.ones(2, device=device)
    if t.device.type == "cpu":
        assert t.numpy().tolist() == [1.0, 1.0]
    else:
        with pytest.raises(TypeError, match=f"can't convert {device} device type tensor to numpy. Use Tensor.cpu\\(\\) "
                                            "to copy the tensor to host memory first."):
            t.numpy()
    assert t.cpu().numpy().tolist() == [1.0, 1.0]


def test_numpy_on_requires_grad_raises():
    t = dg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="Can't call numpy\\(\\) on Tensor that requires grad"):
        t.numpy()
    assert t.detach().numpy().tolist() == [1.0, 1.0]


def test_as_tensor_shares_numpy_memory_when_possible():
    a = np.arange(3, dtype=np.float32)
    t = dg.as_tensor(a)
    a[0] = 9
    assert t[0].item() == 9
    t2 = dg.as_tensor(a, dtype=dg.float64)
    a[1] = 9
    assert t2[1].item() == 1.0            # a dtype change copies
    x = dg.ones(2)
    assert dg.as_tensor(x) is x
    assert dg.as_tensor([1, 2]).dtype == dg.int64


def test_requires_grad_at_creation(device):
    t = dg.zeros(2, requires_grad=True, device=device)
    assert t.requires_grad and t.is_leaf and t.grad_fn is None
    assert dg.tensor([1.0], requires_grad=True, device=device).requires_grad
    with pytest.raises(RuntimeError, match="Only Tensors of floating point"):
        dg.tensor([1, 2], requires_grad=True, device=device)


def test_default_device_and_dtype():
    assert dg.get_default_device() == dg.device("cpu")
    assert dg.get_default_dtype() == dg.float32
    dg.set_default_dtype(dg.float64)
    try:
        assert dg.tensor([1.0]).dtype == dg.float64
        assert dg.zeros(1).dtype == dg.float64
        assert dg.tensor([1]).dtype == dg.int64
    finally:
        dg.set_default_dtype(dg.float32)
    assert dg.zeros(1).dtype == dg.float32
    dg.set_default_device("cpu")
    assert dg.zeros(1).device.type == "cpu"


def test_requires_grad_on_int_tensor_error_texts(device):
    with pytest.raises(RuntimeError, match="^Only Tensors of floating point and complex dtype can require gradients"):
        dg.zeros(2, dtype=dg.int64, requires_grad=True, device=device)
    with pytest.raises(RuntimeError, match="^only Tensors of floating point dtype can require gradients"):
        dg.tensor([1, 2], device=device).requires_grad_()


@pytest.mark.parametrize("data, message", [
    ([[1, 2], [3]], "expected sequence of length 2 at dim 1 (got 1)"),
    ([[1], [2, 3]], "expected sequence of length 1 at dim 1 (got 2)"),
    ([[[1, 2], [3, 4]], [[1, 2], [3]]], "expected sequence of length 2 at dim 2 (got 1)"),
    ([[1.5, 2.0], (3.0,)], "expected sequence of length 2 at dim 1 (got 1)")])
def test_ragged_nested_sequences_raise_like_pytorch(data, message, device):
    with pytest.raises(ValueError, match=re.escape(message)):
        dg.tensor(data, device=device)


@pytest.mark.parametrize("data, error, message", [    # PyTorch 2.13 names the first element it cannot type
    (None, RuntimeError, "Could not infer dtype of NoneType"),
    ([1, None], RuntimeError, "Could not infer dtype of NoneType"),
    ([[1], [None, "a"]], RuntimeError, "Could not infer dtype of NoneType"),
    ([{1: 2}], RuntimeError, "Could not infer dtype of dict"),
    ([1, "a"], TypeError, "new(): invalid data type 'str'"),
    ([[1], [b"a"]], TypeError, "new(): invalid data type 'bytes'")])
def test_data_of_no_tensor_dtype_names_the_offending_element(data, error, message, device):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        dg.tensor(data, device=device)


@pytest.mark.parametrize("data, dtype, message", [    # PyTorch 2.13's texts: its store expects a number there
    ([1, [2]], None, "'list' object cannot be interpreted as an integer"),
    ([1.0, [2]], None, "must be real number, not list"),
    ([1, [2]], dg.float16, "must be real number, not list"),
    ([1, [2]], dg.bool, "'list' object cannot be interpreted as an integer"),
    ([1, (2,)], None, "'tuple' object cannot be interpreted as an integer"),
    ([1, []], None, "must be real number, not list"),                   # an empty list infers the default dtype
    ([[1, 2], [3, [4]]], None, "'list' object cannot be interpreted as an integer"),
    ([[1.5], [[2]]], None, "must be real number, not list"),
    ([[1], 2], None, "not a sequence"),
    ([[[1]], [2]], None, "not a sequence")])
def test_number_and_sequence_mixed_at_one_depth_raise_like_pytorch(data, dtype, message, device):
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        dg.tensor(data, dtype=dtype, device=device)
