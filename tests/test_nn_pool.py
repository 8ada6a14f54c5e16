"""nn pooling: max_pool2d (indices, ceil_mode, dilation), max_unpool2d, avg_pool2d (ceil_mode, count_include_pad,
divisor_override) against a NumPy loop reference written from PyTorch's documented rules; gradients by gradcheck."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.nn.functional as F
from distgrad import nn
from distgrad.autograd import gradcheck


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _out_size(n, k, s, p, d, ceil_mode):
    out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    return out - 1 if ceil_mode and (out - 1) * s >= n + p else out


def np_pool(x, kind, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, count_include_pad=True,
            divisor_override=None):
    """Loops over windows: (values, flat indices) for 'max', values for 'avg'."""
    (kh, kw), (ph, pw), (dh, dw) = _pair(kernel_size), _pair(padding), _pair(dilation)
    sh, sw = _pair(stride if stride is not None else kernel_size)
    h, w = x.shape[-2:]
    oh, ow = _out_size(h, kh, sh, ph, dh, ceil_mode), _out_size(w, kw, sw, pw, dw, ceil_mode)
    vals, idx = np.zeros(x.shape[:-2] + (oh, ow)), np.zeros(x.shape[:-2] + (oh, ow), dtype=np.int64)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * sh - ph, j * sw - pw
            rows = [r for r in range(r0, r0 + dh * (kh - 1) + 1, dh) if 0 <= r < h]
            cols = [c for c in range(c0, c0 + dw * (kw - 1) + 1, dw) if 0 <= c < w]
            flat = [r * w + c for r in rows for c in cols]
            win = x.reshape(x.shape[:-2] + (h * w,))[..., flat]
            if kind == "max":
                first = win.argmax(-1)
                vals[..., i, j] = np.take_along_axis(win, first[..., None], -1)[..., 0]
                idx[..., i, j] = np.take(flat, first)
                continue
            if divisor_override:
                div = divisor_override
            elif count_include_pad:      # padding counts, the ceil_mode overhang past it does not
                div = (min(r0 + kh, h + ph) - r0) * (min(c0 + kw, w + pw) - c0)
            else:
                div = len(flat)
            vals[..., i, j] = win.sum(-1) / div
    return (vals, idx) if kind == "max" else vals


X = np.sin(np.arange(2 * 3 * 7 * 6, dtype=np.float64)).reshape(2, 3, 7, 6)

MAX_CASES = [  # id, kwargs, output shape from PyTorch 2.13
    ("k3s2p1_ceil", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, (2, 3, 4, 4)),
    ("k2_ceil", {"kernel_size": 2, "stride": 2, "ceil_mode": True}, (2, 3, 4, 3)),
    ("k3s2p1_dil2", {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2}, (2, 3, 3, 2)),
    ("rect_dil_ceil", {"kernel_size": (2, 3), "stride": (3, 2), "padding": (1, 1), "dilation": (2, 1),
                       "ceil_mode": True}, (2, 3, 3, 4)),
    ("k2s1", {"kernel_size": 2, "stride": 1}, (2, 3, 6, 5)),
]


@pytest.mark.parametrize("kw, shape", [c[1:] for c in MAX_CASES], ids=[c[0] for c in MAX_CASES])
def test_max_pool2d_values_and_indices(kw, shape, device):
    out, idx = F.max_pool2d(dg.tensor(X, dtype=dg.float32, device=device), return_indices=True, **kw)
    ref, ref_idx = np_pool(X.astype(np.float32), "max", **kw)
    assert out.shape == shape and idx.shape == shape and idx.dtype == dg.int64
    np.testing.assert_allclose(out.cpu().numpy(), ref, rtol=1e-6)
    np.testing.assert_array_equal(idx.cpu().numpy(), ref_idx)


def test_max_pool2d_indices_literal_from_pytorch():
    _, idx = F.max_pool2d(dg.tensor(X), 3, 2, 1, ceil_mode=True, return_indices=True)
    assert idx[0, 0].tolist() == [[1, 8, 9, 5], [7, 14, 21, 23], [19, 33, 33, 35], [31, 33, 33, 41]]


AVG_CASES = [  # id, kwargs, output shape from PyTorch 2.13, PyTorch's out[0, 0, 0]
    ("ceil_include_pad", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, (2, 3, 4, 4),
     [0.1354491205919733, 0.4389279722530414, -0.3007221771232796, -0.32648574686897364]),
    ("ceil_exclude_pad", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False},
     (2, 3, 4, 4), [0.3047605213319399, 0.6583919583795621, -0.45108326568491935, -0.979457240606921]),
    ("ceil_no_pad", {"kernel_size": 2, "stride": 2, "ceil_mode": True}, (2, 3, 4, 3),
     [0.3047605213319399, 0.6129735416876718, -0.8149345218527849]),
    ("divisor_override", {"kernel_size": (3, 2), "stride": 2, "padding": 1, "divisor_override": 5, "ceil_mode": True},
     (2, 3, 4, 4), [-0.055883099639785175, 0.6794226513951498, -0.14951702257913482, -0.3917828962427684]),
    ("exclude_pad", {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}, (2, 3, 4, 3), None),
]


@pytest.mark.parametrize("kw, shape, row", [c[1:] for c in AVG_CASES], ids=[c[0] for c in AVG_CASES])
def test_avg_pool2d_values(kw, shape, row, device):
    out = F.avg_pool2d(dg.tensor(X, dtype=dg.float32, device=device), **kw)
    ref = np_pool(X, "avg", **kw)
    assert out.shape == shape
    np.testing.assert_allclose(out.cpu().numpy(), ref, rtol=1e-5, atol=1e-6)
    if row is not None:
        np.testing.assert_allclose(ref[0, 0, 0], row, rtol=1e-12)     # the reference agrees with PyTorch


R = np.random.default_rng(1)
GRAD_CASES = [  # id, fn of a float64 input, input shape
    ("max_ceil_dil", lambda x: F.max_pool2d(x, (2, 3), (3, 2), (1, 1), (2, 1), ceil_mode=True), (2, 2, 7, 6)),
    ("max_overlap", lambda x: F.max_pool2d(x, 3, 1, 1), (1, 2, 4, 5)),
    ("avg_ceil", lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True), (1, 2, 6, 5)),
    ("avg_ceil_exclude", lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), (1, 2, 6, 5)),
    ("avg_divisor", lambda x: F.avg_pool2d(x, 2, ceil_mode=True, divisor_override=3), (2, 5, 5)),
    ("adaptive_3d", lambda x: F.adaptive_avg_pool3d(x, (2, 1, 3)), (1, 3, 2, 5)),
    ("adaptive_1d", lambda x: F.adaptive_avg_pool1d(x, 3), (2, 2, 5)),
    ("unpool", lambda x: F.max_unpool2d(x, dg.tensor([[[[0, 3], [9, 14]]]]), 2, output_size=(4, 4)), (1, 1, 2, 2)),
]


@pytest.mark.parametrize("fn, shape", [c[1:] for c in GRAD_CASES], ids=[c[0] for c in GRAD_CASES])
def test_pool_gradcheck(fn, shape):
    assert gradcheck(fn, (dg.tensor(R.normal(size=shape), dtype=dg.float64, requires_grad=True),))


def test_max_pool_gradient_goes_to_first_maximum_as_pytorch(device):
    x = dg.ones(1, 1, 2, 2, device=device, requires_grad=True)
    out, idx = F.max_pool2d(x, 2, return_indices=True)
    out.sum().backward()
    assert idx.tolist() == [[[[0]]]] and x.grad.tolist() == [[[[1.0, 0.0], [0.0, 0.0]]]]
    assert type(out.grad_fn).__name__ == "MaxPool2DWithIndicesBackward0"


NAN = float("nan")


@pytest.mark.parametrize("x, kw, idx", [
    ([[1.0, NAN], [NAN, 2.0]], {"kernel_size": 2}, [[2]]),      # PyTorch 2.13: the last NaN of the window
    ([[0.0, 1.0, 2.0, 3.0], [4.0, NAN, 6.0, 7.0], [8.0, 9.0, NAN, 11.0], [12.0, 13.0, 14.0, 15.0]],
     {"kernel_size": 3, "stride": 1}, [[10, 10], [10, 10]]),
], ids=["one_window", "overlapping"])
def test_max_pool2d_nan_takes_the_last_nan_as_pytorch(x, kw, idx, device):
    x = dg.tensor([[x]], device=device, requires_grad=True)
    o, i = F.max_pool2d(x, return_indices=True, **kw)
    assert np.isnan(o.detach().cpu().numpy()).all() and i[0, 0].tolist() == idx
    o.sum().backward()
    grad = np.zeros(x.shape[-2:])
    np.add.at(grad.reshape(-1), np.array(idx).reshape(-1), 1.0)
    assert x.grad[0, 0].tolist() == grad.tolist()


@pytest.mark.parametrize("kw", [{"stride": 2, "padding": 1, "dilation": 2, "groups": 2}, {"padding": 1}])
def test_conv_and_max_pool_gradients_on_the_device_match_cpu(kw, device):
    """The window ops' backward (col2im, per-offset masked adds) on the device against cpu's float64 gradients, which
    test_nn's gradcheck cases check by finite differences."""
    x, w = R.normal(size=(2, 4, 9, 8)), R.normal(size=(6, 4 // kw.get("groups", 1), 3, 3))
    grads = []
    for dev, dt in (("cpu", dg.float64), (device, dg.float32)):
        xt, wt = (dg.tensor(a, dtype=dt, device=dev, requires_grad=True) for a in (x, w))
        out = F.max_pool2d(F.conv2d(xt, wt, **kw), 2, 1)
        out.backward(dg.tensor(np.cos(np.arange(out.numel())).reshape(out.shape), dtype=dt, device=dev))
        grads.append([t.grad.cpu().numpy() for t in (xt, wt)])
    for ref, got in zip(*grads):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


INF = float("inf")
MINUS_INF_CASES = [  # id, input, kwargs, PyTorch 2.13's output, indices, and input gradient for upstream 1, 2, 3, ...
    ("padded", [[-INF, -INF, 1.0], [-INF, -INF, 2.0], [0.0, 3.0, -INF]], {"kernel_size": 2, "stride": 1, "padding": 1},
     [[-INF, -INF, 1.0, 1.0], [-INF, -INF, 2.0, 2.0], [0.0, 3.0, 3.0, 2.0], [0.0, 3.0, 3.0, -INF]],
     [[0, 0, 2, 2], [0, 0, 5, 5], [6, 7, 7, 5], [6, 7, 7, 8]], [[14.0, 0.0, 7.0], [0.0, 0.0, 27.0], [22.0, 50.0, 16.0]]),
    ("dilated", [[-INF, 5.0, -INF], [1.0, -INF, -INF]],
     {"kernel_size": 2, "stride": 1, "padding": 1, "dilation": (1, 3)},
     [[-INF, -INF], [-INF, 1.0], [-INF, 1.0]], [[2, 0], [2, 3], [5, 3]], [[2.0, 0.0, 4.0], [10.0, 0.0, 5.0]]),
    ("all_minus_inf_ceil", [[-INF] * 3] * 3, {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
     [[-INF, -INF], [-INF, -INF]], [[0, 1], [3, 4]], [[1.0, 2.0, 0.0], [3.0, 4.0, 0.0], [0.0, 0.0, 0.0]]),
    # windows over padding only: PyTorch's index is its first grid element past the padding, outside the row here;
    # PyTorch's backward sends the first window's gradient to flat index 2 (input [1, 0]), distgrad to no element
    ("padding_only", [[1.0, 2.0], [3.0, 4.0]], {"kernel_size": (1, 2), "padding": (0, 1), "dilation": (1, 3)},
     [[-INF], [-INF]], [[2], [4]], [[0.0, 0.0], [0.0, 0.0]]),
]


@pytest.mark.parametrize("x, kw, out, idx, grad", [c[1:] for c in MINUS_INF_CASES],
                         ids=[c[0] for c in MINUS_INF_CASES])
def test_max_pool2d_windows_without_a_finite_maximum_as_pytorch(x, kw, out, idx, grad, device):
    """A window whose maximum is -inf reports (and takes the gradient at) its first in-bounds element, as PyTorch."""
    x = dg.tensor([[x]], dtype=dg.float64, device=device, requires_grad=True)
    o, i = F.max_pool2d(x, return_indices=True, **kw)
    assert o[0, 0].tolist() == out and i[0, 0].tolist() == idx
    o.backward(dg.arange(1.0, o.numel() + 1, dtype=dg.float64, device=device).reshape(o.shape))
    assert x.grad[0, 0].tolist() == grad


def test_adaptive_avg_pool_1d_3d_match_the_2d_windows(device):
    """Adaptive windows are products of one interval per dim: 3-d pooling of a depth-1 volume is 2-d pooling, and 1-d
    pooling of rows is 2-d pooling with output height 1. The 2-d windows against PyTorch 2.13's literals in test_nn."""
    x = dg.tensor(X, device=device)
    np.testing.assert_allclose(F.adaptive_avg_pool3d(x.unsqueeze(2), (1, 3, 4)).squeeze(2).cpu().numpy(),
                               np_pool_adaptive(X, (3, 4)), rtol=1e-12)
    np.testing.assert_allclose(F.adaptive_avg_pool1d(x.flatten(0, 1), 4).cpu().numpy(),
                               np_pool_adaptive(X.reshape(6, 1, 7, 6), (7, 4)).reshape(6, 7, 4), rtol=1e-12)
    assert F.adaptive_avg_pool3d(x, (None, 2, 5)).shape == (2, 3, 2, 5)


def np_pool_adaptive(x, sizes):
    """Output (i, j) averages rows floor(i * h / oh) .. ceil((i + 1) * h / oh) - 1 and the same for columns."""
    (h, w), (oh, ow) = x.shape[-2:], sizes
    out = np.zeros(x.shape[:-2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[..., i, j] = x[..., i * h // oh:-(-(i + 1) * h // oh), j * w // ow:-(-(j + 1) * w // ow)].mean((-2, -1))
    return out


def test_pool_grad_fn_names_and_a_second_backward_as_pytorch(device):
    x = dg.tensor(X[:1, :1, :4, :4], device=device, requires_grad=True)
    names = {"AvgPool2DBackward0": F.avg_pool2d(x, 2), "AdaptiveAvgPool2DBackward0": F.adaptive_avg_pool2d(x, 3),
             "MaxPool2DWithIndicesBackward0": F.max_pool2d(x, 2)}
    assert {type(out.grad_fn).__name__ for out in names.values()} == set(names)
    out = names["AvgPool2DBackward0"]
    out.sum().backward(retain_graph=True)
    out.sum().backward()          # the named node let its composite's graph go, and rebuilds it (it is linear)
    assert x.grad.tolist() == [[[[0.5] * 4] * 4]]
    up = F.interpolate(x, scale_factor=1.5, mode="bicubic")
    first = dg.autograd.grad(up.sum(), x, retain_graph=True)[0]
    assert dg.autograd.grad(up.sum(), x)[0].tolist() == first.tolist()


def test_max_unpool2d_inverts_max_pool2d(device):
    x = dg.tensor(X, dtype=dg.float32, device=device)
    pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
    out, idx = pool(x)
    restored = unpool(out, idx, output_size=x.shape)
    flat, ref_idx = X.reshape(6, -1), np_pool(X, "max", 2)[1].reshape(6, -1)
    ref = np.zeros_like(flat)
    np.put_along_axis(ref, ref_idx, np.take_along_axis(flat, ref_idx, 1), 1)
    assert restored.shape == (2, 3, 7, 6) and unpool(out, idx).shape == (2, 3, 6, 6)
    np.testing.assert_allclose(restored.cpu().numpy(), ref.reshape(X.shape).astype(np.float32))
    assert repr(unpool) == "MaxUnpool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))"


def test_max_unpool2d_repeated_indices_write_once(device):
    """A repeated index holds one input, not a sum: the last in plane order, as PyTorch on one thread (its docs call
    repeated indices nondeterministic); the gradient reaches every input that wrote there, as PyTorch's."""
    x = dg.tensor(np.arange(1.0, 10.0).reshape(1, 1, 3, 3), device=device, requires_grad=True)
    out = F.max_unpool2d(x, dg.tensor([[[[7, 2, 7], [2, 7, 2], [0, 7, 1]]]], device=device), 2, output_size=(5, 5))
    assert out[0, 0, :2].tolist() == [[7.0, 9.0, 6.0, 0.0, 0.0], [0.0, 0.0, 8.0, 0.0, 0.0]]
    assert out.sum().item() == 30.0
    out.backward(dg.arange(25.0, dtype=dg.float64, device=device).reshape(1, 1, 5, 5))
    assert x.grad[0, 0].tolist() == [[7.0, 2.0, 7.0], [2.0, 7.0, 2.0], [0.0, 7.0, 1.0]]


def test_pool_errors_match_pytorch():
    x = dg.tensor(X)
    with pytest.raises(RuntimeError, match=r"pad should be at most half of effective kernel size, but got pad=2, "
                                           r"kernel_size=3 and dilation=1"):
        F.max_pool2d(x, 3, padding=2)
    with pytest.raises(RuntimeError, match="pad should be smaller than or equal to half of kernel size, but got "
                                           "padW = 2, padH = 2, kW = 3, kH = 3"):
        F.max_pool2d(x, 3, padding=2, dilation=2)
    with pytest.raises(RuntimeError, match=r"Given input size: \(3x7x6\). Calculated output size: \(3x0x0\). "
                                           "Output size is too small"):
        F.avg_pool2d(x, 9)
    with pytest.raises(ValueError, match=r'invalid output_size "\(3, 3\)" \(dim 0 must be between 12 and 16\)'):
        F.max_unpool2d(x, dg.zeros(2, 3, 7, 6, dtype=dg.int64), 2, output_size=(3, 3))
