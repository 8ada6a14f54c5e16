"""GroupNorm and the 2-d padding layers (figures are PyTorch 2.13 literals; references are NumPy formulas)."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.nn.functional as F
from distgrad import nn
from distgrad.autograd import gradcheck

R = np.random.default_rng(3)
IMG = np.arange(12.0).reshape(1, 1, 3, 4)


def _group_norm_ref(x, g, w, b, eps=1e-5):
    n, c = x.shape[:2]
    groups = x.reshape(n, g, -1)
    y = ((groups - groups.mean(-1, keepdims=True)) / np.sqrt(groups.var(-1, keepdims=True) + eps)).reshape(x.shape)
    shape = (c,) + (1,) * (x.ndim - 2)
    return y * w.reshape(shape) + b.reshape(shape)


def test_group_norm_against_numpy(device, require_dtype):
    require_dtype(dg.float64)
    x, w, b = R.normal(size=(2, 6, 2, 3)), R.normal(size=6), R.normal(size=6)
    t = lambda a: dg.tensor(a, dtype=dg.float64, device=device)
    np.testing.assert_allclose(F.group_norm(t(x), 3, t(w), t(b)).tolist(), _group_norm_ref(x, 3, w, b), rtol=1e-10)
    x3 = np.sin(np.arange(48.0)).reshape(2, 6, 4)
    out = F.group_norm(t(x3), 3, dg.linspace(0.5, 2, 6, dtype=dg.float64, device=device),
                       dg.linspace(-1, 1, 6, dtype=dg.float64, device=device))
    np.testing.assert_allclose(out[1, 4].tolist(), [2.2567723479766317, -0.034079122665987754, -1.9552531046526311,
                                                    -1.740431098892531], rtol=1e-12)


def test_group_norm_module(device):
    m = nn.GroupNorm(3, 6).to(device)
    assert repr(m) == "GroupNorm(3, 6, eps=1e-05, affine=True, bias=True)"
    assert repr(nn.GroupNorm(2, 4, affine=False, eps=1e-3)) == "GroupNorm(2, 4, eps=0.001, affine=False, bias=False)"
    assert list(m.state_dict()) == ["weight", "bias"] and nn.GroupNorm(3, 6, bias=False).bias is None
    assert m.weight.tolist() == [1.0] * 6 and m.bias.tolist() == [0.0] * 6
    x = R.normal(size=(4, 6, 5)).astype(np.float32)
    y = m(dg.tensor(x, device=device))
    np.testing.assert_allclose(y.tolist(), _group_norm_ref(x, 3, np.ones(6), np.zeros(6)), rtol=1e-4, atol=1e-5)
    y.pow(2).sum().backward()
    assert m.weight.grad.shape == (6,) and m.bias.grad.device == dg.device(device)


def test_group_norm_errors():
    with pytest.raises(RuntimeError, match=r"^Expected number of channels in input to be divisible by num_groups, but "
                       r"got input of shape \[2, 6, 3\] and num_groups=4$"):
        F.group_norm(dg.ones(2, 6, 3), 4)
    with pytest.raises(RuntimeError, match="^Expected at least 2 dimensions for input tensor but received 1$"):
        F.group_norm(dg.ones(6), 3)
    with pytest.raises(ValueError, match=r"^Expected more than 1 value per channel when training, got input size "
                       r"\[1, 2\]$"):
        F.group_norm(dg.ones(1, 2), 2)
    with pytest.raises(RuntimeError, match=r"^Expected weight to be a vector of size equal to the number of channels "
                       r"in input, but got weight of shape \[4\] and input of shape \[2, 6, 3\]$"):
        F.group_norm(dg.ones(2, 6, 3), 3, dg.ones(4))
    with pytest.raises(ValueError, match=r"^num_channels \(6\) must be divisible by num_groups \(4\)$"):
        nn.GroupNorm(4, 6)


PADS = [  # module, PyTorch 2.13's output for IMG
    (nn.ZeroPad2d((1, 0, 2, -1)), "ZeroPad2d((1, 0, 2, -1))",
     [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 1, 2, 3], [0, 4, 5, 6, 7]]),
    (nn.ConstantPad2d((0, 1, 1, 0), -1), "ConstantPad2d(padding=(0, 1, 1, 0), value=-1)",
     [[-1, -1, -1, -1, -1], [0, 1, 2, 3, -1], [4, 5, 6, 7, -1], [8, 9, 10, 11, -1]]),
    (nn.ReflectionPad2d((1, 0, 2, 1)), "ReflectionPad2d((1, 0, 2, 1))",
     [[9, 8, 9, 10, 11], [5, 4, 5, 6, 7], [1, 0, 1, 2, 3], [5, 4, 5, 6, 7], [9, 8, 9, 10, 11], [5, 4, 5, 6, 7]]),
    (nn.ReplicationPad2d((2, 0, 0, 1)), "ReplicationPad2d((2, 0, 0, 1))",
     [[0, 0, 0, 1, 2, 3], [4, 4, 4, 5, 6, 7], [8, 8, 8, 9, 10, 11], [8, 8, 8, 9, 10, 11]]),
]


@pytest.mark.parametrize("module, text, expected", PADS, ids=[p[1].split("(")[0] for p in PADS])
def test_padding_layers(device, module, text, expected):
    assert repr(module) == text
    out = module(dg.tensor(IMG, dtype=dg.float32, device=device))
    assert out.shape == (1, 1, len(expected), len(expected[0])) and out[0, 0].tolist() == expected


def test_padding_layers_expand_an_int_and_pad_unbatched_inputs():
    assert nn.ZeroPad2d(1).padding == (1, 1, 1, 1) and repr(nn.ZeroPad2d(1)) == "ZeroPad2d((1, 1, 1, 1))"
    assert repr(nn.ConstantPad2d(1, 3.5)) == "ConstantPad2d(padding=(1, 1, 1, 1), value=3.5)"
    assert repr(nn.ReflectionPad2d(2)) == "ReflectionPad2d((2, 2, 2, 2))"
    assert nn.ZeroPad2d(1)(dg.ones(3, 4)).shape == (5, 6) and nn.ReflectionPad2d(1)(dg.ones(2, 3, 4)).shape == (2, 5, 6)
    assert nn.ConstantPad2d(1, 3.5)(dg.zeros(1, 1)).tolist() == [[3.5] * 3, [3.5, 0.0, 3.5], [3.5] * 3]
    np.testing.assert_array_equal(nn.ReflectionPad2d(2)(dg.tensor(IMG)).numpy(),
                                  np.pad(IMG, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect"))
    np.testing.assert_array_equal(nn.ReplicationPad2d(1)(dg.tensor(IMG)).numpy(),
                                  np.pad(IMG, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge"))


def test_pad_errors_match_pytorch():
    with pytest.raises(RuntimeError, match=r"^Argument #6: Padding size should be less than the corresponding input "
                       r"dimension, but got: padding \(3, 3\) at dimension 2 of input \[1, 1, 3, 4\]$"):
        nn.ReflectionPad2d(3)(dg.tensor(IMG))
    with pytest.raises(RuntimeError, match="^Padding length must be divisible by 2$"):
        nn.ZeroPad2d((1, 2, 3))(dg.tensor(IMG))
    with pytest.raises(RuntimeError, match="^Padding length should be less than or equal to two times the input "
                       "dimension but got padding length 4 and input of dimension 1$"):
        nn.ReplicationPad2d(1)(dg.ones(4))
    with pytest.raises(NotImplementedError, match="^Padding size 2 is not supported for 4D input tensor.\n"):
        F.pad(dg.tensor(IMG), (4, 4), "reflect")


GRAD_CASES = [
    ("group_norm", lambda x, w, b: F.group_norm(x, 2, w, b), [R.normal(size=(2, 4, 3)), R.normal(size=4),
                                                              R.normal(size=4)]),
    ("group_norm_plain", lambda x: F.group_norm(x, 3, eps=1e-3), [R.normal(size=(3, 6, 2, 2))]),
    ("replication_pad2d", nn.ReplicationPad2d((2, 0, 1, 1)), [R.normal(size=(1, 2, 3, 3))]),
    ("reflection_pad2d", nn.ReflectionPad2d((1, 2, 0, 2)), [R.normal(size=(2, 3, 3))]),
]


@pytest.mark.parametrize("fn, arrays", [c[1:] for c in GRAD_CASES], ids=[c[0] for c in GRAD_CASES])
def test_gradcheck(fn, arrays):
    assert gradcheck(fn, tuple(dg.tensor(a, dtype=dg.float64, requires_grad=True) for a in arrays))
