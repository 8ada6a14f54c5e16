"""nn.utils: gradient clipping and parameter/vector conversion (figures are PyTorch 2.13 literals)."""
import math
import warnings

import numpy as np
import pytest

import distgrad as dg
from distgrad.nn.utils import (
    clip_grad_norm,
    clip_grad_norm_,
    clip_grad_value_,
    get_total_norm,
    parameters_to_vector,
    vector_to_parameters,
)

GA, GB = [[3.0, -4.0], [1.0, 2.0]], [0.5, -6.0, 2.0]


def _params(device, grads=True):
    a = dg.zeros(2, 2, device=device, requires_grad=True)
    b = dg.zeros(3, device=device, requires_grad=True)
    no_grad = dg.zeros(2, device=device, requires_grad=True)
    if grads:
        a.grad, b.grad = dg.tensor(GA, device=device), dg.tensor(GB, device=device)
    return a, b, no_grad


@pytest.mark.parametrize("norm_type, total", [(2.0, 8.3815), (1, 18.5), (math.inf, 6.0), ("inf", 6.0), (3, 6.8692)])
def test_clip_grad_norm_scales_by_max_norm_over_total_norm(device, norm_type, total):
    a, b, no_grad = _params(device)
    flat = np.concatenate([np.ravel(GA), GB])
    p = float(norm_type)
    ref = np.abs(flat).max() if math.isinf(p) else (np.abs(flat) ** p).sum() ** (1 / p)
    norm = clip_grad_norm_([a, b, no_grad], 5.0, norm_type=norm_type)
    assert norm.device == dg.device(device) and norm.shape == ()
    assert norm.item() == pytest.approx(ref, rel=1e-6) and norm.item() == pytest.approx(total, abs=1e-4)
    coef = 5.0 / (ref + 1e-6)
    np.testing.assert_allclose(a.grad.tolist(), np.array(GA) * coef, rtol=1e-6)
    np.testing.assert_allclose(b.grad.tolist(), np.array(GB) * coef, rtol=1e-6)
    assert no_grad.grad is None


def test_clip_grad_norm_leaves_small_gradients_alone_and_takes_one_tensor(device):
    a, _, _ = _params(device)
    assert clip_grad_norm_(a, 100).item() == pytest.approx(math.sqrt(30), rel=1e-6)    # PyTorch: tensor(5.4772)
    assert a.grad.tolist() == GA                                                           # coefficient clamped to 1


def test_clip_grad_norm_never_waits_for_the_device(device, monkeypatch):
    from distgrad.device import backend_for
    be = backend_for(dg.device(device))
    model = dg.nn.Linear(3, 2).to(device)
    model(dg.ones(4, 3, device=device)).pow(2).sum().backward()
    reads, real = [], be.to_numpy
    monkeypatch.setattr(be, "to_numpy", lambda v: reads.append(v.shape) or real(v))
    clip_grad_norm_(model.parameters(), 0.1)
    clip_grad_value_(model.parameters(), 0.05)
    assert reads == [] and all(p.grad.device == dg.device(device) for p in model.parameters())
    monkeypatch.undo()
    assert max(abs(g) for p in model.parameters() for g in p.grad.reshape(-1).tolist()) <= 0.05


def test_clip_grad_norm_of_a_non_finite_norm(device):
    a, _, _ = _params(device)
    a.grad[0, 0] = math.inf
    with pytest.raises(RuntimeError, match=r"^The total norm of order 2.0 for gradients from `parameters` is "
                       r"non-finite, so it cannot be clipped. To disable this error and scale the gradients by the "
                       r"non-finite norm anyway, set `error_if_nonfinite=False`$"):
        clip_grad_norm_(a, 1.0, error_if_nonfinite=True)
    assert a.grad.tolist()[0] == [math.inf, -4.0]                    # the error left the gradients alone
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)              # NumPy's inf * 0 on cpu
        assert clip_grad_norm_(a, 1.0).item() == math.inf
    g = a.grad.tolist()                                              # PyTorch: [[nan, -0.0], [0.0, 0.0]]
    assert math.isnan(g[0][0]) and g[0][1] == 0 and math.copysign(1, g[0][1]) == -1 and g[1] == [0.0, 0.0]


def test_clip_grad_norm_of_no_gradients_is_zero_and_warns_for_an_empty_generator():
    with pytest.warns(UserWarning, match="^`parameters` is an empty generator, no gradient clipping will occur.$"):
        assert clip_grad_norm_((p for p in []), 1.0).item() == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert clip_grad_norm_([], 1.0).item() == 0.0
        assert clip_grad_norm_(_params("cpu", grads=False), 1.0).item() == 0.0


def test_clip_grad_norm_without_underscore_is_deprecated():
    a, _, _ = _params("cpu")
    with pytest.warns(FutureWarning, match=r"^`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
                      r"`torch.nn.utils.clip_grad_norm_`.$"):
        assert clip_grad_norm(a, 1.0).item() == pytest.approx(math.sqrt(30), rel=1e-6)


def test_total_norm_promotes_mixed_dtypes_and_counts_nonzeros_for_norm_zero():
    a, _, _ = _params("cpu")
    d = dg.zeros(2, dtype=dg.float64, requires_grad=True)
    d.grad = dg.tensor([3.0, 4.0], dtype=dg.float64)
    total = clip_grad_norm_([a, d], 1.0)
    assert total.dtype == dg.float64 and total.item() == pytest.approx(math.sqrt(55))     # PyTorch: 7.4162
    assert get_total_norm([dg.tensor(GA)], 0).item() == 1.0      # one per-tensor count, itself nonzero


def test_clip_grad_value_clamps_to_plus_minus_clip_value(device):
    a, b, no_grad = _params(device)
    assert clip_grad_value_([a, b, no_grad], 2.5) is None
    assert a.grad.tolist() == [[2.5, -2.5], [1.0, 2.0]] and b.grad.tolist() == [0.5, -2.5, 2.0]
    assert no_grad.grad is None
    clip_grad_value_(b, 1)
    assert b.grad.tolist() == [0.5, -1.0, 1.0]


def test_parameters_to_vector_and_back(device):
    a = dg.tensor([[0.2, -1.3], [0.7, 2.1]], device=device, requires_grad=True)
    b = dg.tensor([1.5, 0.3, -0.4], device=device, requires_grad=True)
    vec = parameters_to_vector([a, b])
    np.testing.assert_allclose(vec.tolist(), [0.2, -1.3, 0.7, 2.1, 1.5, 0.3, -0.4], rtol=1e-6)
    assert vec.grad_fn.name() == "CatBackward0"
    v = dg.arange(7.0, device=device)
    vector_to_parameters(v, [a, b])
    assert a.tolist() == [[0.0, 1.0], [2.0, 3.0]] and b.tolist() == [4.0, 5.0, 6.0]
    assert a.requires_grad and isinstance(a, dg.Tensor)
    v[0] = 9.0                                                   # the parameters now view vec, as in PyTorch
    assert a.tolist()[0][0] == 9.0


def test_vector_to_parameters_rejects_a_non_tensor():
    with pytest.raises(TypeError, match="^expected torch.Tensor, but got: list$"):
        vector_to_parameters([1.0], [dg.zeros(1)])


def test_parameters_on_two_devices_are_refused(device):
    if device == "cpu":
        pytest.skip("needs a device besides cpu")
    with pytest.raises(TypeError, match="^Found two parameters on different devices, this is currently not supported."):
        parameters_to_vector([dg.zeros(1), dg.zeros(1, device=device)])
