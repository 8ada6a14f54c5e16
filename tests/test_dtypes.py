"""dtypes, aliases, .type() with dtypes and legacy names, conversions and PyTorch's type promotion."""
import numpy as np
import pytest

import distgrad as dg


def test_aliases_and_properties():
    assert dg.float is dg.float32 and dg.double is dg.float64 and dg.half is dg.float16
    assert dg.long is dg.int64 and dg.int is dg.int32 and dg.short is dg.int16
    assert str(dg.float32) == "torch.float32" and repr(dg.int64) == "torch.int64"
    assert dg.float32.is_floating_point and not dg.int64.is_floating_point and not dg.bool.is_floating_point
    assert dg.float32.itemsize == 4 and dg.float16.itemsize == 2 and dg.uint8.itemsize == 1
    assert isinstance(dg.float32, dg.dtype)


@pytest.mark.parametrize("dt, name, size", [
    (dg.float32, "torch.FloatTensor", 4), (dg.float64, "torch.DoubleTensor", 8), (dg.float16, "torch.HalfTensor", 2),
    (dg.int64, "torch.LongTensor", 8), (dg.int32, "torch.IntTensor", 4), (dg.int16, "torch.ShortTensor", 2),
    (dg.int8, "torch.CharTensor", 1), (dg.uint8, "torch.ByteTensor", 1), (dg.bool, "torch.BoolTensor", 1)])
def test_type_names_and_element_size(dt, name, size, device, require_dtype):
    require_dtype(dt)
    t = dg.zeros(3, dtype=dt, device=device)
    kind = dg.device(device).type     # as torch.cuda.FloatTensor: a device tensor's name says the device type
    assert t.type() == (name if kind == "cpu" else name.replace("torch.", f"torch.{kind}."))
    assert t.element_size() == size
    assert t.dtype == dt


@pytest.mark.parametrize("target, dt", [
    (dg.FloatTensor, dg.float32), (dg.IntTensor, dg.int32), (dg.CharTensor, dg.int8), (dg.LongTensor, dg.int64),
    (dg.ByteTensor, dg.uint8), (dg.DoubleTensor, dg.float64), ("torch.DoubleTensor", dg.float64),
    ("torch.IntTensor", dg.int32), (dg.int8, dg.int8), (dg.float16, dg.float16)])
def test_type_converts(target, dt, device, require_dtype):
    require_dtype(dt)
    x = dg.tensor([1.7, -2.2, 3.0], device=device)
    y = x.type(target)
    assert y.dtype == dt
    # a legacy type (torch.FloatTensor, "torch.IntTensor") is a cpu type, as in PyTorch; a dtype keeps the device
    assert y.device == (x.device if isinstance(target, dg.dtype) else dg.device("cpu"))
    np.testing.assert_array_equal(y.cpu().numpy(),
                                  np.array([1.7, -2.2, 3.0], np.float32).astype(dt.np if hasattr(dt, "np") else None))


def test_type_names_a_device_type(device):
    x = dg.ones(2, device=device)
    assert x.type(x.type()) is x       # its own legacy name: nothing to do
    if x.device.type != "cpu":     # the name has no index: like torch.cuda.FloatTensor, it means the current device
        current = getattr(dg, x.device.type).current_device()
        assert x.cpu().type(x.type()).device == dg.device(x.device.type, current)


def test_type_same_dtype_returns_self(device):
    x = dg.ones(2, device=device)
    assert x.type(dg.float32) is x
    assert x.to(dg.float32) is x


def test_legacy_constructors():
    t = dg.FloatTensor([1, 2])
    assert t.dtype == dg.float32 and t.tolist() == [1.0, 2.0]
    assert dg.LongTensor([1.9]).tolist() == [1]
    assert dg.FloatTensor(2, 3).shape == (2, 3)
    assert dg.ByteTensor([1]).dtype == dg.uint8


def test_conversions_truncate_and_wrap(device):
    x = dg.tensor([1.7, -1.7], device=device)
    assert x.long().tolist() == [1, -1] and x.long().dtype == dg.int64
    assert x.int().dtype == dg.int32 and x.int().tolist() == [1, -1]
    assert x.double().dtype == dg.float64
    assert dg.tensor([0.0, 2.0], device=device).bool().tolist() == [False, True]
    assert dg.tensor([True, False], device=device).float().tolist() == [1.0, 0.0]
    assert dg.tensor([300], device=device).to(dg.uint8).tolist() == [44]
    assert dg.tensor([1, 2], device=device).float().dtype == dg.float32


def test_half_conversions(device, require_dtype):
    require_dtype(dg.float16)
    x = dg.tensor([1.7, -1.7], device=device)
    assert x.half().dtype == dg.float16 and x.to(dtype=dg.float16).dtype == dg.float16
    assert x.half().tolist() == [1.7001953125, -1.7001953125]   # the nearest float16
    assert dg.ones(2, dtype=dg.float16, device=device).sum().dtype == dg.float16


def test_to_forms(device):
    x = dg.ones(2, device=device)
    assert x.to(dg.int32).dtype == dg.int32
    assert x.to(device, dg.float64).dtype == dg.float64
    assert x.to(dtype=dg.int16).dtype == dg.int16
    assert x.to(dg.zeros(1, dtype=dg.int8)).dtype == dg.int8
    assert x.to("cpu").device.type == "cpu"
    y = x.to(dg.float64)
    y[0] = 5
    assert x[0].item() == 1.0          # a dtype change copies
    assert x.to(dg.float64, copy=True).dtype == dg.float64
    z = x.to(dg.float32, copy=True)
    z[0] = 3
    assert x[0].item() == 1.0


@pytest.mark.parametrize("a, b, expected", [
    ((dg.int64,), (dg.float32,), dg.float32),
    ((dg.int32,), 2.5, dg.float32),
    ((dg.float16,), 2.5, dg.float16),
    ((dg.int32,), (dg.int64, ()), dg.int32),         # a 0-d tensor of the same category does not promote
    ((dg.int32,), (dg.float32, ()), dg.float32),     # ...but a higher category does
    ((dg.float32,), (dg.float64, ()), dg.float32),
    ((dg.int64, ()), (dg.float64, ()), dg.float64),  # all 0-d: ordinary promotion
    ((dg.uint8,), (dg.int8,), dg.int16),
    ((dg.bool,), (dg.bool,), dg.bool),
    ((dg.bool,), 1, dg.int64),
    ((dg.bool,), 1.5, dg.float32),
    ((dg.uint8,), 1000, dg.uint8),
    ((dg.float32,), (dg.float64,), dg.float64),
    ((dg.int8,), (dg.int32,), dg.int32),
    ((dg.float32,), True, dg.float32),
    ((dg.int64,), 2, dg.int64),
])
def test_add_promotion(a, b, expected, device, require_dtype):
    for spec in (a, b):
        if isinstance(spec, tuple):
            require_dtype(spec[0])
    def make(spec):
        if not isinstance(spec, tuple):
            return spec
        dt, shape = spec[0], (spec[1] if len(spec) > 1 else (2,))
        return dg.ones(shape, dtype=dt, device=device)
    x, y = make(a), make(b)
    assert (x + y).dtype == expected
    if isinstance(y, dg.Tensor):
        assert (y + x).dtype == expected
    else:
        assert (y + x).dtype == expected     # __radd__


def test_promote_types():
    assert dg.promote_types(dg.int32, dg.float16) == dg.float16
    assert dg.promote_types(dg.uint8, dg.int8) == dg.int16
    assert dg.promote_types(dg.bool, dg.int8) == dg.int8
    assert dg.promote_types(dg.int64, dg.float32) == dg.float32


def test_division_and_power_result_dtypes(device):
    i = dg.tensor([5, 6], device=device)
    assert (i / 2).dtype == dg.float32 and (i / 2).tolist() == [2.5, 3.0]
    assert (i / dg.tensor([2, 4], device=device)).tolist() == [2.5, 1.5]
    assert (i // 2).dtype == dg.int64 and (dg.tensor([-7], device=device) // 2).tolist() == [-4]
    assert (i ** 2).dtype == dg.int64 and (i ** 2).tolist() == [25, 36]
    assert (i ** 0.5).dtype == dg.float32
    assert dg.tensor([1, 2], dtype=dg.int32, device=device).exp().dtype == dg.float32
    assert i.sqrt().dtype == dg.float32
    assert i.abs().dtype == dg.int64


def test_reduction_result_dtypes(device):
    assert dg.ones(2, dtype=dg.int32, device=device).sum().dtype == dg.int64
    assert dg.ones(2, dtype=dg.bool, device=device).sum().dtype == dg.int64
    assert dg.ones(2, dtype=dg.int32, device=device).prod().dtype == dg.int64
    assert dg.ones(2, dtype=dg.int32, device=device).cumsum(0).dtype == dg.int64
    assert dg.ones(2, device=device).sum(dtype=dg.float64).dtype == dg.float64
    with pytest.raises(RuntimeError, match="mean\\(\\): could not infer output dtype"):
        dg.ones(2, dtype=dg.int32, device=device).mean()


def test_inplace_result_cannot_be_cast_down(device):
    x = dg.ones(2, dtype=dg.int64, device=device)
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        x.add_(1.5)
    y = dg.ones(2, device=device)
    y.add_(dg.tensor([1, 2], device=device))
    assert y.dtype == dg.float32 and y.tolist() == [2.0, 3.0]


def test_integer_scalar_operands_wrap_like_c(device):
    assert (dg.ones(2, dtype=dg.uint8, device=device) + 1000).tolist() == [233, 233]
    assert (dg.tensor([1], dtype=dg.int8, device=device) * 300).tolist() == [44]
    assert (dg.tensor([1], dtype=dg.uint8, device=device) - 2).tolist() == [255]
