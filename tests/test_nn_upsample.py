"""nn.Bilinear, F.interpolate / nn.Upsample (every mode but 'lanczos') against NumPy loop references written from
PyTorch's documented sampling rules, PyTorch 2.13 literals, and gradcheck."""
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


def source_position(j, n_in, n_out, scale, align_corners):
    """The input position output j samples: (j + 0.5) * in / out - 0.5, or j * (in - 1) / (out - 1) with
    align_corners."""
    if align_corners:
        return j * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    return (j + 0.5) * (1 / scale if scale else n_in / n_out) - 0.5


def np_linear(x, sizes, scales, align_corners):
    """Output j blends the two neighbours of its source position, clamped at 0."""
    for d, (n_out, scale) in enumerate(zip(sizes, scales)):
        n_in, out = x.shape[2 + d], []
        for j in range(n_out):
            src = max(source_position(j, n_in, n_out, scale, align_corners), 0.0)
            lo = min(int(src), n_in - 1)
            hi, t = min(lo + 1, n_in - 1), src - lo
            out.append(np.take(x, lo, axis=2 + d) * (1 - t) + np.take(x, hi, axis=2 + d) * t)
        x = np.stack(out, axis=2 + d)
    return x


def np_cubic(x, sizes, scales, align_corners, a=-0.75):
    """Output j blends inputs floor(p) - 1 .. floor(p) + 2 (clamped to the border) of its unclamped source position
    p with Keys' cubic convolution weights W(p - i), a = -0.75."""
    def weight(d):
        d = abs(d)
        return (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1 if d <= 1 else a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a
    for d, (n_out, scale) in enumerate(zip(sizes, scales)):
        n_in, out = x.shape[2 + d], []
        for j in range(n_out):
            src = source_position(j, n_in, n_out, scale, align_corners)
            base = math.floor(src)
            out.append(sum(weight(src - i) * np.take(x, min(max(i, 0), n_in - 1), axis=2 + d)
                           for i in range(base - 1, base + 3)))
        x = np.stack(out, axis=2 + d)
    return x


def np_area(x, sizes):
    """Output j of a spatial dim averages inputs floor(j * in / out) .. ceil((j + 1) * in / out) - 1."""
    for d, n_out in enumerate(sizes):
        n_in = x.shape[2 + d]
        x = np.stack([np.take(x, range(j * n_in // n_out, -(-(j + 1) * n_in // n_out)), axis=2 + d).mean(axis=2 + d)
                      for j in range(n_out)], axis=2 + d)
    return x


X5 = X.reshape(2, 3, 2, 2, 5)
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
    ("bicubic_size", {"size": (7, 3), "mode": "bicubic"}, (7, 3), lambda x: np_cubic(x, (7, 3), (None, None), False)),
    ("bicubic_align", {"size": (3, 9), "mode": "bicubic", "align_corners": True}, (3, 9),
     lambda x: np_cubic(x, (3, 9), (None, None), True)),
    ("bicubic_scales", {"scale_factor": (0.6, 2.5), "mode": "bicubic"}, (2, 12),
     lambda x: np_cubic(x, (2, 12), (0.6, 2.5), False)),
    ("area_size", {"size": (3, 2), "mode": "area"}, (3, 2), lambda x: np_area(x, (3, 2))),
    ("area_scale", {"scale_factor": 1.5, "mode": "area"}, (6, 7), lambda x: np_area(x, (6, 7))),
]


@pytest.mark.parametrize("kw, size, ref", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_interpolate_matches_reference(kw, size, ref, device):
    out = F.interpolate(dg.tensor(X, dtype=dg.float32, device=device), **kw)
    assert out.shape == (2, 3, *size)
    np.testing.assert_allclose(out.cpu().numpy(), ref(X), rtol=1e-5, atol=1e-6)


CASES_5D = [  # id, interpolate kwargs on X5 (2, 3, 2, 2, 5), output spatial size, reference
    ("trilinear", {"size": (3, 3, 4), "mode": "trilinear"}, (3, 3, 4),
     lambda x: np_linear(x, (3, 3, 4), (None,) * 3, False)),
    ("trilinear_align", {"scale_factor": (1.5, 2, 0.8), "mode": "trilinear", "align_corners": True}, (3, 4, 4),
     lambda x: np_linear(x, (3, 4, 4), (1.5, 2, 0.8), True)),
    ("nearest_3d", {"scale_factor": (1.5, 1, 0.6)}, (3, 2, 3), lambda x: np_nearest(x, (3, 2, 3), (1.5, 1, 0.6))),
    ("area_3d", {"size": (1, 2, 3), "mode": "area"}, (1, 2, 3), lambda x: np_area(x, (1, 2, 3))),
]


@pytest.mark.parametrize("kw, size, ref", [c[1:] for c in CASES_5D], ids=[c[0] for c in CASES_5D])
def test_interpolate_5d_matches_reference(kw, size, ref, device):
    out = F.interpolate(dg.tensor(X5, dtype=dg.float32, device=device), **kw)
    assert out.shape == (2, 3, *size)
    np.testing.assert_allclose(out.cpu().numpy(), ref(X5), rtol=1e-5, atol=1e-6)


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
    assert F.interpolate(x3, size=8, mode="nearest-exact")[0, 0].tolist() == pytest.approx(
        [0.0, 0.0, 0.8414709848078965, 0.9092974268256817, 0.9092974268256817, 0.1411200080598672,
         -0.7568024953079282, -0.7568024953079282], rel=1e-12)
    assert F.interpolate(x, scale_factor=1.5, mode="bicubic")[0, 0, 1, :4].tolist() == pytest.approx(
        [-0.5936145980974975, -0.13611914916634138, 0.5070628130231458, 0.8556589376281922], rel=1e-12)
    assert F.interpolate(x, size=(3, 7), mode="bicubic", align_corners=True)[0, 0, 1, :4].tolist() == pytest.approx(
        [-0.9533383076865315, -0.9548412558594951, -0.5616853464258731, 0.07638000402532358], rel=1e-12)
    assert F.interpolate(x, size=(3, 3), mode="area")[0, 0, 1].tolist() == pytest.approx(
        [-0.6955877725755344, 0.041755543236457936, 0.7030627810966624], rel=1e-12)
    # PyTorch computes nearest indices in float32: output 23 reads floor(23 * float32(14 / 46)) = floor(6.9999995)
    assert F.interpolate(dg.arange(14.0).reshape(1, 1, 14), size=46)[0, 0, 20:27].tolist() == [6.0] * 4 + [7.0] * 3
    x5 = dg.tensor(X5)
    assert F.interpolate(x5, size=(3, 3, 4), mode="trilinear")[0, 0, 1, 1].tolist() == pytest.approx(
        [-0.2092012766992043, -0.10700779175126723, 0.13135097095889087, 0.19907068536811778], rel=1e-12)
    assert F.interpolate(x5, scale_factor=(1.5, 2, 0.8), mode="trilinear", align_corners=True)[0, 0, 2, 1].tolist() \
        == pytest.approx([-0.14591812720720762, -0.7344789763792635, -0.20620551934635734, 0.7103639736842311],
                         rel=1e-12)
    assert F.interpolate(x5, size=(1, 2, 3), mode="area")[0, 0, 0, 1].tolist() == pytest.approx(
        [-0.21898881234250323, -0.10555978469550885, 0.2000916736891037], rel=1e-12)


GRAD_FN_CASES = [  # input shape, interpolate kwargs, PyTorch 2.13's grad_fn name
    ((1, 2, 4), {"size": 7}, "UpsampleNearest1DBackward0"),
    ((1, 2, 3, 4), {"scale_factor": 2}, "UpsampleNearest2DBackward0"),
    ((1, 1, 2, 3, 4), {"size": (3, 3, 3)}, "UpsampleNearest3DBackward0"),
    ((1, 2, 4), {"size": 7, "mode": "nearest-exact"}, "UpsampleNearestExact1DBackward0"),
    ((1, 2, 3, 4), {"size": 7, "mode": "nearest-exact"}, "UpsampleNearestExact2DBackward0"),
    ((1, 1, 2, 3, 4), {"size": 3, "mode": "nearest-exact"}, "UpsampleNearestExact3DBackward0"),
    ((1, 2, 4), {"size": 7, "mode": "linear"}, "UpsampleLinear1DBackward0"),
    ((1, 2, 3, 4), {"size": 7, "mode": "bilinear"}, "UpsampleBilinear2DBackward0"),
    ((1, 2, 3, 4), {"size": 7, "mode": "bicubic"}, "UpsampleBicubic2DBackward0"),
    ((1, 1, 2, 3, 4), {"size": 3, "mode": "trilinear"}, "UpsampleTrilinear3DBackward0"),
    ((1, 2, 3, 4), {"size": 2, "mode": "area"}, "AdaptiveAvgPool2DBackward0"),
    ((1, 1, 2, 3, 4), {"size": 2, "mode": "area"}, "AdaptiveAvgPool3DBackward0"),
    ((1, 2, 4), {"size": 3, "mode": "area"}, "SqueezeBackward1"),
]


@pytest.mark.parametrize("shape, kw, name", GRAD_FN_CASES)
def test_interpolate_grad_fn_names_as_pytorch(shape, kw, name):
    out = F.interpolate(dg.zeros(*shape, requires_grad=True), **kw)
    assert type(out.grad_fn).__name__ == name
    assert F.interpolate(dg.zeros(*shape), **kw).grad_fn is None


R = np.random.default_rng(2)
GRAD_CASES = [  # id, fn of float64 inputs, input shapes
    ("nearest", lambda x: F.interpolate(x, scale_factor=(1.5, 2)), [(1, 2, 3, 3)]),
    ("bilinear", lambda x: F.interpolate(x, size=(5, 2), mode="bilinear"), [(1, 2, 3, 4)]),
    ("linear_align", lambda x: F.interpolate(x, size=7, mode="linear", align_corners=True), [(2, 1, 4)]),
    ("bicubic", lambda x: F.interpolate(x, size=(5, 2), mode="bicubic"), [(1, 1, 3, 4)]),
    ("bicubic_align", lambda x: F.interpolate(x, scale_factor=1.5, mode="bicubic", align_corners=True),
     [(1, 1, 3, 3)]),
    ("trilinear", lambda x: F.interpolate(x, size=(3, 2, 3), mode="trilinear"), [(1, 1, 2, 3, 2)]),
    ("area", lambda x: F.interpolate(x, size=(2, 3), mode="area"), [(1, 2, 3, 5)]),
    ("nearest_exact", lambda x: F.interpolate(x, size=5, mode="nearest-exact"), [(1, 2, 3)]),
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
    with pytest.raises(ValueError, match="Input and scale_factor must have the same number of spatial dimensions"):
        F.interpolate(x, scale_factor=(2, 2, 2))
    with pytest.raises(ValueError, match="recompute_scale_factor is not meaningful with an explicit size."):
        F.interpolate(x, size=3, recompute_scale_factor=True)
    with pytest.raises(ValueError, match="align_corners option can only be set with the interpolating modes"):
        F.interpolate(x, size=3, mode="area", align_corners=False)
    with pytest.raises(ValueError, match="Anti-alias option is restricted to bilinear, bicubic, and lanczos modes"):
        F.interpolate(x, size=3, antialias=True)
    with pytest.raises(RuntimeError, match=r"Input and output sizes should be greater than 0, but got input "
                                           r"\(D: 2, H: 2, W: 5\) output \(D: 0, H: 0, W: 1\)"):
        F.interpolate(dg.tensor(X5), scale_factor=0.3, mode="trilinear")
    with pytest.raises(RuntimeError, match=r"got input \(W: 5\) and output \(W: 0\)"):
        F.interpolate(x[:, :, 0], scale_factor=0.1)
    assert F.interpolate(x, size=(0, 3), mode="area").shape == (2, 3, 0, 3)      # adaptive pooling allows it
    with pytest.raises(NotImplementedError, match=r"Input Error: Only 3D, 4D and 5D input Tensors supported \(got 3D\) "
                                                  r"for the modes: .* \(got bicubic\)"):
        F.interpolate(x[:, :, 0], size=3, mode="bicubic")
