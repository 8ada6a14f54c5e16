"""nn.Bilinear, F.interpolate / nn.Upsample ('nearest', 'linear', 'bilinear') against NumPy loop references written
from PyTorch's documented sampling rules, PyTorch 2.13 literals, and gradcheck."""
import math

import numpy as np
import pytest

import distgrad as dg
import distgrad.nn.functional as F
from distgrad import nn
from distgrad.autograd import gradcheck

X = np.sin(np.arange(2 * 3 * 4 * 5, dtype=np.float64)).reshape(2, 3, 4, 5)


def np_nearest(x, sizes, scales):
    """Output j of a spatial dim reads input floor(j * in / out), or floor(j / scale_factor) when one is given."""
    for d, (n_out, scale) in enumerate(zip(sizes, scales)):
        n_in = x.shape[2 + d]
        step = 1 / scale if scale else n_in / n_out
        x = np.take(x, [min(math.floor(j * step), n_in - 1) for j in range(n_out)], axis=2 + d)
    return x


def np_linear(x, sizes, scales, align_corners):
    """Output j samples input position (j + 0.5) * in / out - 0.5 (clamped at 0), or j * (in - 1) / (out - 1) with
    align_corners, blending the two neighbours."""
    for d, (n_out, scale) in enumerate(zip(sizes, scales)):
        n_in, out = x.shape[2 + d], []
        for j in range(n_out):
            if align_corners:
                src = j * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
            else:
                src = max((j + 0.5) * (1 / scale if scale else n_in / n_out) - 0.5, 0.0)
            lo = min(int(src), n_in - 1)
            hi, t = min(lo + 1, n_in - 1), src - lo
            out.append(np.take(x, lo, axis=2 + d) * (1 - t) + np.take(x, hi, axis=2 + d) * t)
        x = np.stack(out, axis=2 + d)
    return x


CASES = [  # id, interpolate kwargs, output spatial size, reference
    ("nearest_size", {"size": (3, 7)}, (3, 7), lambda x: np_nearest(x, (3, 7), (None, None))),
    ("nearest_scale", {"scale_factor": 1.7}, (6, 8), lambda x: np_nearest(x, (6, 8), (1.7, 1.7))),
    ("nearest_scales", {"scale_factor": (0.6, 1.5)}, (2, 7), lambda x: np_nearest(x, (2, 7), (0.6, 1.5))),
    ("bilinear_size", {"size": (3, 7), "mode": "bilinear"}, (3, 7),
     lambda x: np_linear(x, (3, 7), (None, None), False)),
    ("bilinear_align", {"size": (6, 3), "mode": "bilinear", "align_corners": True}, (6, 3),
     lambda x: np_linear(x, (6, 3), (None, None), True)),
    ("bilinear_scale", {"scale_factor": 1.5, "mode": "bilinear"}, (6, 7),
     lambda x: np_linear(x, (6, 7), (1.5, 1.5), False)),
]


@pytest.mark.parametrize("kw, size, ref", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_interpolate_matches_reference(kw, size, ref, device):
    out = F.interpolate(dg.tensor(X, dtype=dg.float32, device=device), **kw)
    assert out.shape == (2, 3, *size)
    np.testing.assert_allclose(out.cpu().numpy(), ref(X), rtol=1e-5, atol=1e-6)


def test_interpolate_literals_from_pytorch():
    x = dg.tensor(X)
    assert F.interpolate(x, scale_factor=1.5, mode="bilinear")[0, 0, 1, :3].tolist() == pytest.approx(
        [-0.47946213733156917, -0.09921719701354194, 0.3647134548824436], rel=1e-12)
    x3 = x[:, :, 0]
    assert F.interpolate(x3, size=8, mode="linear")[0, 0, :3].tolist() == pytest.approx(
        [0.0, 0.3681435558534547, 0.8457101374340081], rel=1e-12)
    assert F.interpolate(x3, size=8)[0, 0].tolist() == pytest.approx(
        [0.0, 0.0, 0.8414709848078965, 0.8414709848078965, 0.9092974268256817, 0.1411200080598672,
         0.1411200080598672, -0.7568024953079282], rel=1e-12)


R = np.random.default_rng(2)
GRAD_CASES = [  # id, fn of float64 inputs, input shapes
    ("nearest", lambda x: F.interpolate(x, scale_factor=(1.5, 2)), [(1, 2, 3, 3)]),
    ("bilinear", lambda x: F.interpolate(x, size=(5, 2), mode="bilinear"), [(1, 2, 3, 4)]),
    ("linear_align", lambda x: F.interpolate(x, size=7, mode="linear", align_corners=True), [(2, 1, 4)]),
    ("bilinear_fn", lambda a, b, w, bias: F.bilinear(a, b, w, bias), [(2, 3, 4), (2, 3, 2), (5, 4, 2), (5,)]),
]


@pytest.mark.parametrize("fn, shapes", [c[1:] for c in GRAD_CASES], ids=[c[0] for c in GRAD_CASES])
def test_gradcheck(fn, shapes):
    assert gradcheck(fn, tuple(dg.tensor(R.normal(size=s), dtype=dg.float64, requires_grad=True) for s in shapes))


def test_bilinear_layer(device):
    layer = nn.Bilinear(5, 3, 2).to(device)
    assert repr(layer) == "Bilinear(in1_features=5, in2_features=3, out_features=2, bias=True)"
    assert layer.weight.shape == (2, 5, 3) and layer.weight.detach().cpu().numpy().max() <= 1 / math.sqrt(5)
    x1, x2 = R.normal(size=(4, 5)), R.normal(size=(4, 3))
    out = layer(dg.tensor(x1, dtype=dg.float32, device=device), dg.tensor(x2, dtype=dg.float32, device=device))
    w, b = layer.weight.detach().cpu().numpy(), layer.bias.detach().cpu().numpy()
    np.testing.assert_allclose(out.detach().cpu().numpy(), np.einsum("ni,oij,nj->no", x1, w, x2) + b, rtol=1e-5,
                               atol=1e-6)
    assert type(out.grad_fn).__name__ == "AddBackward0"
    with pytest.raises(RuntimeError, match="bilinear\\(\\): input1 size does not match weight size: got 4 but "
                                           "expected 5"):
        layer(dg.zeros(4, 4, device=device), dg.zeros(4, 3, device=device))


def test_upsample_repr_and_errors():
    assert repr(nn.Upsample(scale_factor=2)) == "Upsample(scale_factor=2.0, mode='nearest')"
    assert repr(nn.Upsample(size=(3, 4), mode="bilinear")) == "Upsample(size=(3, 4), mode='bilinear')"
    assert repr(nn.Upsample(scale_factor=(2, 3))) == "Upsample(scale_factor=(2.0, 3.0), mode='nearest')"
    assert nn.Upsample(scale_factor=2)(dg.ones(1, 1, 2, 3)).shape == (1, 1, 4, 6)
    x = dg.tensor(X)
    with pytest.raises(ValueError, match="only one of size or scale_factor should be defined"):
        F.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(ValueError, match="either size or scale_factor should be defined"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="align_corners option can only be set with the interpolating modes"):
        F.interpolate(x, size=3, align_corners=True)
    with pytest.raises(NotImplementedError, match="Got 3D input, but bilinear mode needs 4D input"):
        F.interpolate(x[:, :, 0], size=3, mode="bilinear")
    with pytest.raises(ValueError, match="Input and output must have the same number of spatial dimensions"):
        F.interpolate(x, size=(3, 4, 5))
