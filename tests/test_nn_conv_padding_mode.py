"""Conv1d/Conv2d padding_mode 'reflect', 'replicate', 'circular': F.pad in that mode, then a convolution with no
padding, as PyTorch does. References: NumPy's np.pad modes 'reflect', 'edge', 'wrap' and a direct sliding-window sum."""
import re

import numpy as np
import pytest

import distgrad as dg
import distgrad.nn.functional as F
from distgrad import nn
from distgrad.autograd import gradcheck

NUMPY_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _np_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, pads: list[tuple[int, int]], mode: str,
             stride: tuple[int, ...], dilation: tuple[int, ...]) -> np.ndarray:
    """Cross-correlation of (N, C, *spatial) x with (O, C, *kernel) w after np.pad of the spatial dims."""
    x = np.pad(x, [(0, 0), (0, 0), *pads], mode=NUMPY_MODE[mode])
    k = w.shape[2:]
    span = [d * (n - 1) + 1 for d, n in zip(dilation, k)]
    windows = np.lib.stride_tricks.sliding_window_view(x, span, axis=tuple(range(2, x.ndim)))
    windows = windows[(Ellipsis, *(slice(None, None, d) for d in dilation))]            # dilation: every d-th tap
    windows = windows[(slice(None), slice(None), *(slice(None, None, s) for s in stride))]
    letters = "hw"[:len(k)]
    out = np.einsum(f"nc{letters.upper()}{letters},oc{letters}->no{letters.upper()}", windows, w)
    return out + b.reshape(1, -1, *[1] * len(k))


@pytest.mark.parametrize("mode", NUMPY_MODE)
def test_conv2d_padding_modes_match_numpy(mode, device):
    rng = np.random.default_rng(0)
    conv = nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(2, 1), dilation=(1, 2), padding_mode=mode).to(device)
    x = rng.standard_normal((2, 2, 5, 6)).astype(np.float32)
    got = conv(dg.tensor(x, device=device)).detach().cpu().numpy()
    w, b = conv.weight.detach().cpu().numpy(), conv.bias.detach().cpu().numpy()
    want = _np_conv(x, w, b, [(2, 2), (1, 1)], mode, (2, 1), (1, 2))
    assert got.shape == want.shape == (2, 3, 4, 6)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", NUMPY_MODE)
def test_conv1d_padding_modes_match_numpy_batched_and_unbatched(mode, device):
    rng = np.random.default_rng(1)
    conv = nn.Conv1d(2, 4, 3, padding=2, padding_mode=mode).to(device)
    x = rng.standard_normal((3, 2, 5)).astype(np.float32)
    w, b = conv.weight.detach().cpu().numpy()[:, :, None], conv.bias.detach().cpu().numpy()
    want = _np_conv(x[:, :, None], w, b, [(0, 0), (2, 2)], mode, (1, 1), (1, 1))[:, :, 0]
    np.testing.assert_allclose(conv(dg.tensor(x, device=device)).detach().cpu().numpy(), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(conv(dg.tensor(x[0], device=device)).detach().cpu().numpy(), want[0], rtol=1e-5,
                               atol=1e-5)


def test_same_padding_with_an_even_kernel_pads_more_on_the_right(device):
    # PyTorch 2.13: Conv2d(1, 1, (3, 4), padding='same', padding_mode='circular', dilation=(1, 2)) pads
    # _reversed_padding_repeated_twice == [3, 3, 1, 1] (width: total 6 split 3 + 3; height: 2 split 1 + 1)
    conv = nn.Conv2d(1, 1, (3, 4), padding="same", padding_mode="circular", dilation=(1, 2))
    assert conv._reversed_padding_repeated_twice == [3, 3, 1, 1]
    conv = nn.Conv1d(1, 1, 4, padding="same", padding_mode="reflect").to(device)
    x = np.arange(6, dtype=np.float32).reshape(1, 1, 6)
    got = conv(dg.tensor(x, device=device)).detach().cpu().numpy()
    w, b = conv.weight.detach().cpu().numpy()[:, :, None], conv.bias.detach().cpu().numpy()
    want = _np_conv(x[:, :, None], w, b, [(0, 0), (1, 2)], "reflect", (1, 1), (1, 1))[:, :, 0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert nn.Conv2d(1, 1, 3, padding="valid", padding_mode="reflect")._reversed_padding_repeated_twice == [0] * 4


@pytest.mark.parametrize("mode", NUMPY_MODE)
def test_padding_mode_gradcheck(mode, device):
    dg.manual_seed(0)
    conv = nn.Conv2d(2, 2, 3, padding=(1, 2), padding_mode=mode).to(device, dg.float64)
    x = dg.randn(1, 2, 3, 4, dtype=dg.float64, device=device, requires_grad=True)
    assert gradcheck(lambda x, w, b: conv(x), (x, conv.weight, conv.bias))      # w, b: perturbed in place


def test_repr_and_state_dict(device):
    # PyTorch 2.13 prints the mode unquoted: padding_mode=reflect
    for mode in NUMPY_MODE:
        assert repr(nn.Conv2d(2, 3, 3, padding=1, padding_mode=mode)) == (
            f"Conv2d(2, 3, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), padding_mode={mode})")
        assert repr(nn.Conv1d(2, 3, 3, padding=(2,), padding_mode=mode, bias=False)) == (
            f"Conv1d(2, 3, kernel_size=(3,), stride=(1,), padding=(2,), bias=False, padding_mode={mode})")
    assert repr(nn.Conv2d(2, 3, 3, padding=1)) == "Conv2d(2, 3, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    reflect, zeros = nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"), nn.Conv2d(2, 3, 3, padding=1)
    assert list(reflect.state_dict()) == ["weight", "bias"]
    reflect.load_state_dict(zeros.state_dict())
    assert reflect.weight.tolist() == zeros.weight.tolist()


def test_padding_mode_errors():
    modes = re.escape("{'zeros', 'reflect', 'replicate', 'circular'}")
    with pytest.raises(ValueError, match=f"^padding_mode must be one of {modes}, but got padding_mode='x'$"):
        nn.Conv2d(1, 1, 3, padding_mode="x")
    with pytest.raises(ValueError, match=f"^padding_mode must be one of {modes}, but got padding_mode='Zeros'$"):
        nn.Conv1d(1, 1, 3, padding_mode="Zeros")
    with pytest.raises(ValueError, match='^Only "zeros" padding mode is supported for ConvTranspose2d$'):
        nn.ConvTranspose2d(1, 1, 3, padding_mode="reflect")
    with pytest.raises(RuntimeError, match=re.escape("Argument #4: Padding size should be less than the corresponding "
                                                     "input dimension, but got: padding (5, 5) at dimension 3 of "
                                                     "input [1, 1, 4, 4]")):
        nn.Conv2d(1, 1, 3, padding=5, padding_mode="reflect")(dg.ones(1, 1, 4, 4))
    with pytest.raises(RuntimeError, match="^Padding value causes wrapping around more than once.$"):
        nn.Conv2d(1, 1, 3, padding=3, padding_mode="circular")(dg.ones(1, 1, 2, 2))
    assert F.pad(dg.tensor([[[0.0, 1.0]]]), (2, 2), mode="circular").tolist() == [[[0.0, 1.0] * 3]]


def test_circular_pad_with_negative_sides_crops_then_wraps(device):
    # PyTorch 2.13: a negative side crops first, and the positive side wraps around what is left
    x = dg.arange(5.0, device=device).reshape(1, 1, 5)
    assert F.pad(x[..., :2], (-1, 1), mode="circular").tolist() == [[[1.0, 1.0]]]
    assert F.pad(x, (-2, 1), mode="circular").tolist() == [[[2.0, 3.0, 4.0, 2.0]]]
    assert F.pad(x, (1, -2), mode="circular").tolist() == [[[2.0, 0.0, 1.0, 2.0]]]
    assert F.pad(x, (-1, -1), mode="circular").tolist() == [[[1.0, 2.0, 3.0]]]
    assert F.pad(x[..., :2], (-1, -1), mode="circular").shape == (1, 1, 0)
    grid = dg.arange(12.0, device=device).reshape(1, 1, 3, 4)
    assert F.pad(grid, (-1, 2, 1, -1), mode="circular").tolist() == [[[[5.0, 6.0, 7.0, 5.0, 6.0],
                                                                         [1.0, 2.0, 3.0, 1.0, 2.0],
                                                                         [5.0, 6.0, 7.0, 5.0, 6.0]]]]
    # torch reads memory it never wrote here (or refuses an overlapping copy): more than what is left wraps twice
    with pytest.raises(RuntimeError, match="^Padding value causes wrapping around more than once.$"):
        F.pad(x[..., :2], (-2, 1), mode="circular")


def test_fused_conv_relu_pads_in_the_mode(device):
    dg.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1, padding_mode="replicate")
    model = nn.Sequential(conv, nn.ReLU()).to(device)
    x = dg.randn(1, 2, 4, 5, device=device)
    want = F.relu(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), conv.weight, conv.bias))
    np.testing.assert_allclose(model(x).detach().cpu().numpy(), want.detach().cpu().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size, kw, message", [
    (2, {}, "(2 x 2). Kernel size: (3 x 3)"),
    (4, {"dilation": 2}, "(4 x 4). Kernel size: (5 x 5)"),
])
def test_conv2d_kernel_larger_than_input_raises_as_pytorch(size, kw, message):
    """PyTorch 2.13's words: 'Calculated padded input size per channel: (2 x 2). Kernel size: (3 x 3). Kernel size
    can't be greater than actual input size'."""
    with pytest.raises(RuntimeError, match=r"^Calculated padded input size per channel: " + re.escape(message) +
                       r"\. Kernel size can't be greater than actual input size$"):
        F.conv2d(dg.zeros(1, 1, size, size), dg.zeros(1, 1, 3, 3), **kw)
