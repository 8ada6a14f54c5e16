"""PReLU, Hardtanh, Mish, GLU, Dropout2d (figures are PyTorch 2.13 literals; references are NumPy formulas)."""
import warnings

import numpy as np
import pytest

import distgrad as dg
import distgrad.nn.functional as F
from distgrad import nn
from distgrad.autograd import gradcheck

X = [[0.2, -1.3, 0.7, 2.1], [1.5, 0.3, -0.4, -2.2], [-0.6, 0.9, 0.1, 0.4]]
R = np.random.default_rng(2)
MISH_X = [[0.13259900186215923, -0.3073824647494959, 0.561148377643852, 2.0505990865628005],
          [1.4033782663958028, 0.20800137234811503, -0.18891648239351466, -0.23033609787797707],
          [-0.24693602830583658, 0.7612059289525154, 0.06317941749148973, 0.2890305340723631]]


def _t(a, device, grad=False, dtype=dg.float64):
    return dg.tensor(a, dtype=dtype, device=device, requires_grad=grad)


def _d(a):
    return dg.tensor(a, dtype=dg.float64, requires_grad=True)


def test_prelu_per_channel_and_shared_slopes(device, require_dtype):
    require_dtype(dg.float64)
    x = _t(X, device)
    assert F.prelu(x, _t([0.1, 0.2, 0.3, 0.4], device)).tolist() == \
        [[0.2, -0.26, 0.7, 2.1], [1.5, 0.3, -0.12, -0.8800000000000001], [-0.06, 0.9, 0.1, 0.4]]
    assert F.prelu(x, _t([0.25], device)).tolist() == \
        [[0.2, -0.325, 0.7, 2.1], [1.5, 0.3, -0.1, -0.55], [-0.15, 0.9, 0.1, 0.4]]
    img = R.normal(size=(2, 3, 2, 2))
    w = np.array([0.1, -0.5, 2.0])
    ref = np.where(img > 0, img, w.reshape(3, 1, 1) * img)
    np.testing.assert_allclose(F.prelu(_t(img, device), _t(w, device)).tolist(), ref, rtol=1e-12)


def test_prelu_module_learns_its_slopes(device):
    m = nn.PReLU(3, 0.1).to(device)
    assert repr(m) == "PReLU(num_parameters=3)" and repr(nn.PReLU()) == "PReLU(num_parameters=1)"
    assert m.weight.tolist() == pytest.approx([0.1] * 3) and list(m.state_dict()) == ["weight"]
    assert nn.PReLU(dtype=dg.float64).weight.dtype == dg.float64
    x = dg.tensor([[1.0, -2.0, -3.0], [-1.0, 2.0, 0.5]], device=device)
    m(x).sum().backward()
    assert m.weight.grad.tolist() == [-1.0, -2.0, -3.0]          # the sum of the negative inputs per channel


def test_prelu_errors():
    with pytest.raises(RuntimeError, match=r"^Mismatch of parameter numbers and input channel size. Found parameter "
                       r"numbers = 3 and channel size = 4.$"):
        F.prelu(dg.tensor(X), dg.ones(3))
    with pytest.raises(RuntimeError, match="^prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = 2$"):
        F.prelu(dg.tensor(X), dg.ones(2, 2))
    with pytest.raises(RuntimeError, match="^Not allow zero-dim input tensor.$"):
        F.prelu(dg.tensor(1.0), dg.ones(2))
    with pytest.raises(RuntimeError, match="parameter numbers = 4 and channel size = 1.$"):
        F.prelu(dg.ones(4), dg.ones(4))


def test_hardtanh(device):
    x = _t(X, device, dtype=dg.float32)
    assert nn.Hardtanh(-0.5, 0.5)(x).tolist() == \
        [[pytest.approx(v) for v in row] for row in np.clip(np.array(X), -0.5, 0.5).tolist()]
    assert repr(nn.Hardtanh()) == "Hardtanh(min_val=-1.0, max_val=1.0)"
    assert repr(nn.Hardtanh(-2, 3.0, True)) == "Hardtanh(min_val=-2, max_val=3.0, inplace=True)"
    y = x.clone()
    assert nn.Hardtanh(inplace=True)(y) is y and max(max(r) for r in y.tolist()) == 1.0


def test_hardtanh_errors_and_deprecated_keywords():
    with pytest.warns(FutureWarning) as record:
        h = nn.Hardtanh(min_value=-0.5, max_value=0.5)
    assert [str(w.message) for w in record] == ["keyword argument `min_value` is deprecated and renamed to `min_val`",
                                                "keyword argument `max_value` is deprecated and renamed to `max_val`"]
    assert repr(h) == "Hardtanh(min_val=-0.5, max_val=0.5)"
    with pytest.raises(AssertionError, match=r"^max_val \(1\) must be greater than min_val \(1\)$"):
        nn.Hardtanh(1, 1)
    with pytest.raises(ValueError, match="^min_val cannot be greater than max_val$"):
        F.hardtanh(dg.tensor(X), 1, 0)


def test_mish(device, require_dtype):
    require_dtype(dg.float64)
    x = _t(X, device)
    np.testing.assert_allclose(nn.Mish()(x).tolist(), MISH_X, rtol=1e-12)
    ref = np.array(X) * np.tanh(np.log1p(np.exp(np.array(X))))
    np.testing.assert_allclose(F.mish(x).tolist(), ref, rtol=1e-12)
    y = x.clone()
    assert F.mish(y, inplace=True) is y and y.tolist() == F.mish(x).tolist()
    assert repr(nn.Mish()) == "Mish()" and repr(nn.Mish(True)) == "Mish(inplace=True)"


def test_glu(device):
    x = _t(X, device, dtype=dg.float32)
    np.testing.assert_allclose(nn.GLU()(x).tolist(), [[0.13363755443363323, -1.1581741324457033],
                                                      [0.601968509831322, 0.029925146735905538],
                                                      [-0.314987512487364, 0.5388188941012069]], rtol=1e-6)
    np.testing.assert_allclose(F.glu(dg.arange(8.0, device=device).reshape(2, 4), 0).tolist(),
                               [[0.0, 0.9933071732521057, 1.995054841041565, 2.997267007827759]], rtol=1e-6)
    assert repr(nn.GLU()) == "GLU(dim=-1)" and repr(nn.GLU(0)) == "GLU(dim=0)"


def test_glu_errors():
    with pytest.raises(RuntimeError, match="^Halving dimension must be even, but dimension 1 is size 5$"):
        F.glu(dg.ones(3, 5))
    with pytest.raises(RuntimeError, match="^Halving dimension must be even, but dimension 0 is size 3$"):
        F.glu(dg.ones(3, 4), 0)
    with pytest.raises(RuntimeError, match="^glu does not support scalars because halving size must be even$"):
        F.glu(dg.tensor(1.0))


def test_dropout2d_zeroes_whole_channels(device):
    dg.manual_seed(0)
    x = dg.ones(8, 16, 3, 3, device=device)
    out = nn.Dropout2d(0.25)(x).cpu().numpy()
    per_channel = out.reshape(8, 16, 9)
    assert set(np.unique(per_channel).tolist()) <= {0.0, float(np.float32(4 / 3))}
    assert (per_channel.min(-1) == per_channel.max(-1)).all()      # a channel is kept or dropped as a whole
    assert 0.1 < (per_channel[:, :, 0] == 0).mean() < 0.4              # 128 channels, p = 0.25
    m = nn.Dropout2d().eval()
    assert m(x) is x
    assert F.dropout2d(x, 1.0).abs().sum().item() == 0.0
    assert repr(nn.Dropout2d()) == "Dropout2d(p=0.5, inplace=False)" and \
        repr(nn.Dropout2d(0.2, True)) == "Dropout2d(p=0.2, inplace=True)"


def test_dropout2d_warnings_and_errors():
    with pytest.warns(UserWarning, match=r"^dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
                      r"1D dropout behavior is desired - input is interpreted as shape \(N, C, L\)"):
        out = F.dropout2d(dg.ones(2, 3, 4))
    assert (out.numpy().min(-1) == out.numpy().max(-1)).all()
    with pytest.warns(UserWarning, match=r"^dropout2d: Received a 2-D input to dropout2d, which is deprecated and will "
                      r"result in an error in a future release. To retain the behavior and silence this warning, "
                      r"please use dropout instead. Note that dropout2d exists to provide channel-wise dropout on "
                      r"inputs with 2 spatial dimensions, a channel dimension, and an optional batch dimension "
                      r"\(i.e. 3D or 4D inputs\).$"):
        F.dropout2d(dg.ones(3, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match="^Feature dropout requires at least 2 dimensions in the input$"):
            F.dropout2d(dg.ones(3))
    with pytest.raises(ValueError, match="^dropout probability has to be between 0 and 1, but got 2$"):
        F.dropout2d(dg.ones(3, 2, 2, 2), p=2)


GRAD_CASES = [
    ("prelu", lambda x, w: F.prelu(x, w), [R.normal(size=(2, 3, 2)), R.normal(size=3)]),
    ("prelu_shared", lambda x, w: F.prelu(x, w), [R.normal(size=(4, 5)), R.normal(size=1)]),
    ("hardtanh", lambda x: F.hardtanh(x, -0.5, 0.7), [R.uniform(-1, 1, size=(3, 4))]),
    ("mish", F.mish, [R.normal(size=(3, 4)) * 3]),
    ("glu", lambda x: F.glu(x, 1), [R.normal(size=(3, 4, 2))]),
]


@pytest.mark.parametrize("fn, arrays", [c[1:] for c in GRAD_CASES], ids=[c[0] for c in GRAD_CASES])
def test_gradcheck(fn, arrays):
    assert gradcheck(fn, tuple(_d(a) for a in arrays))
