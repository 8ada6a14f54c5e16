"""nn.Sequential runs Linear/Conv2d + ReLU/Sigmoid/Tanh with the activation in the bias-add kernel
(NOTE [ Activation epilogues ] in distgrad/nn/fusion.py): same values, gradients and graph as unfused, fewer launches."""
import numpy as np
import pytest

import distgrad as torch
from distgrad import nn
from distgrad.autograd import gradcheck

ACTIVATIONS = {"ReLU": (nn.ReLU, lambda z: np.maximum(z, 0), lambda y: (y > 0).astype(y.dtype)),
               "Sigmoid": (nn.Sigmoid, lambda z: 1 / (1 + np.exp(-z)), lambda y: y * (1 - y)),
               "Tanh": (nn.Tanh, np.tanh, lambda y: 1 - y * y)}


def numpy_of(t):
    return t.detach().cpu().numpy()


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("lead", [(6,), (2, 3)], ids=["2-d input", "3-d input"])
def test_linear_pair_matches_hand_derived_values_and_gradients(device, act, lead):
    module, f, df_of_y = ACTIVATIONS[act]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), module()).to(device)
    x = torch.randn(*lead, 5, device=device, requires_grad=True)
    r = np.random.default_rng(0).standard_normal((*lead, 4)).astype(np.float32)
    y = model(x)
    (y * torch.tensor(r, device=device)).sum().backward()
    w, b, xv = numpy_of(model[0].weight), numpy_of(model[0].bias), numpy_of(x)
    y_ref = f(xv @ w.T + b)
    np.testing.assert_allclose(numpy_of(y), y_ref, rtol=1e-5, atol=1e-6)
    dz = (r * df_of_y(y_ref)).reshape(-1, 4)              # dL/d(pre-activation), from the output alone
    np.testing.assert_allclose(numpy_of(x.grad), (dz @ w).reshape(xv.shape), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(numpy_of(model[0].weight.grad), dz.T @ xv.reshape(-1, 5), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(numpy_of(model[0].bias.grad), dz.sum(0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_pairs_pass_gradcheck(device, act, require_dtype):
    require_dtype(torch.float64)
    torch.manual_seed(0)
    module = ACTIVATIONS[act][0]
    for layer, shape in ((nn.Linear(3, 2), (4, 3)), (nn.Conv2d(2, 3, 2, padding=1), (1, 2, 3, 3))):
        model = nn.Sequential(layer, module()).to(device, torch.float64)
        x = torch.randn(*shape, dtype=torch.float64, device=device, requires_grad=True)
        w, b = layer.weight, layer.bias
        assert gradcheck(lambda x, w, b, model=model: model(x), (x, w, b))   # w, b: perturbed in place


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("shape", [(2, 2, 6, 5), (2, 6, 5)], ids=["batched", "unbatched"])
def test_conv_pair_equals_the_modules_run_one_by_one(device, act, shape):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, stride=(1, 2), padding=1), ACTIVATIONS[act][0]()).to(device)
    x = torch.randn(*shape, device=device, requires_grad=True)
    r = torch.randn(*model(x).shape, device=device)
    (model(x) * r).sum().backward()
    fused = [numpy_of(t) for t in (model(x), x.grad, model[0].weight.grad, model[0].bias.grad)]
    model.zero_grad()
    x.grad = None
    y = model[1](model[0](x))                             # the modules called one by one: not fused
    (y * r).sum().backward()
    for got, want in zip(fused, (y, x.grad, model[0].weight.grad, model[0].bias.grad)):
        np.testing.assert_allclose(got, numpy_of(want), rtol=1e-5, atol=1e-6)


def test_graph_is_the_unfused_one(device):
    # PyTorch 2.13: Sequential(Linear(5, 4), ReLU())(x).grad_fn is ReluBackward0, fed by AddmmBackward0
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3), nn.Tanh()).to(device)
    y = model(torch.randn(2, 5, device=device))
    names = []
    node = y.grad_fn
    while node is not None:
        names.append(node.name())
        node = next((n for n, _ in node.next_functions if n is not None and n.name() != "TBackward0"
                     and "Accumulate" not in n.name()), None)
    assert names == ["TanhBackward0", "AddmmBackward0", "ReluBackward0", "AddmmBackward0"]


def test_a_pair_is_one_matmul_and_one_fused_kernel(device, count_primitives):
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU()).to(device)
    x = torch.randn(3, 5, device=device)
    launched = count_primitives()
    model(x)
    assert launched == ["matmul", "fused"]               # unfused: matmul, binary (bias), binary (max)


def test_hooks_see_the_unfused_values(device):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU()).to(device)
    seen = []
    model[0].register_forward_hook(lambda m, args, out: seen.append(numpy_of(out)))
    x = torch.randn(8, 5, device=device)
    y = model(x)
    pre = numpy_of(x) @ numpy_of(model[0].weight).T + numpy_of(model[0].bias)
    np.testing.assert_allclose(seen[0], pre, rtol=1e-5, atol=1e-6)   # the Linear's own output, negatives and all
    np.testing.assert_allclose(numpy_of(y), np.maximum(pre, 0), rtol=1e-5, atol=1e-6)


def test_no_bias_and_subclasses_run_unfused(device, count_primitives):
    class Shifted(nn.Linear):
        def forward(self, input):
            return super().forward(input) + 1

    model = nn.Sequential(nn.Linear(5, 4, bias=False), nn.ReLU(), Shifted(4, 3), nn.Sigmoid()).to(device)
    x = torch.randn(3, 5, device=device)
    launched = count_primitives()
    y = model(x)
    assert "fused" not in launched
    h = np.maximum(numpy_of(x) @ numpy_of(model[0].weight).T, 0)
    want = 1 / (1 + np.exp(-(h @ numpy_of(model[2].weight).T + numpy_of(model[2].bias) + 1)))
    np.testing.assert_allclose(numpy_of(y), want, rtol=1e-5, atol=1e-6)


def test_inputs_the_layer_refuses_get_the_layers_own_errors(device):
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU()).to(device)
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(3x6 and 5x4\)"):
        model(torch.randn(3, 6, device=device))
    with pytest.raises(RuntimeError, match="mat1 and mat2 must have the same dtype, but got Double and Float"):
        model(torch.randn(3, 5, dtype=torch.float64, device=device))
    y = model(torch.ones(5, device=device))                 # 1-d input: fused, shape (4,) as unfused
    want = np.maximum(numpy_of(model[0].weight).sum(1) + numpy_of(model[0].bias), 0)
    np.testing.assert_allclose(numpy_of(y), want, rtol=1e-5, atol=1e-6)
