"""nn.Module: registration, traversal names and order, state_dict, modes, hooks, repr (layouts as PyTorch's)."""
from collections import OrderedDict

import numpy as np
import pytest

import distgrad as dg
from distgrad import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.act = nn.ReLU()
        self.block = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
        self.register_buffer("scale", dg.ones(1))
        self.register_buffer("cache", dg.zeros(1), persistent=False)
        self.head = nn.Linear(3, 2, bias=False)

    def forward(self, x):
        return self.head(self.block(self.act(self.fc1(x)))) * self.scale


def test_names_and_order_match_pytorch():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "fc1.weight", "fc1.bias", "block.0.weight", "block.0.bias", "block.1.weight", "block.1.bias", "head.weight"]
    assert list(net.state_dict()) == [
        "scale", "fc1.weight", "fc1.bias", "block.0.weight", "block.0.bias", "block.1.weight", "block.1.bias",
        "block.1.running_mean", "block.1.running_var", "block.1.num_batches_tracked", "head.weight"]
    assert [n for n, _ in net.named_modules()] == ["", "fc1", "act", "block", "block.0", "block.1", "head"]
    assert [n for n, _ in net.named_children()] == ["fc1", "act", "block", "head"]
    assert [n for n, _ in net.named_buffers()] == ["scale", "cache", "block.1.running_mean", "block.1.running_var",
                                                   "block.1.num_batches_tracked"]
    assert net.get_parameter("block.0.bias") is net.block[0].bias
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())


def test_shared_parameters_are_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, lin)
    assert len(list(seq.parameters())) == 2 and len(list(seq.modules())) == 2


def test_reassigning_and_deleting_unregisters():
    net = Net()
    net.fc1 = None
    assert "fc1.weight" not in dict(net.named_parameters())
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'weight'"):
        net.head.weight = dg.ones(2, 3)
    del net.head
    assert "head" not in dict(net.named_children())
    with pytest.raises(AttributeError, match="cannot assign parameters before Module.__init__"):
        class Bad(nn.Module):
            def __init__(self):
                self.w = nn.Parameter(dg.ones(1))
        Bad()


def test_load_state_dict_strict_errors_list_every_problem():
    net = Net()
    sd = net.state_dict()
    del sd["fc1.bias"]
    sd["extra"] = dg.ones(1)
    sd["head.weight"] = dg.ones(3, 3)
    with pytest.raises(RuntimeError) as e:
        net.load_state_dict(sd)
    assert str(e.value) == (
        'Error(s) in loading state_dict for Net:\n\tMissing key(s) in state_dict: "fc1.bias". \n\t'
        'Unexpected key(s) in state_dict: "extra". \n\tsize mismatch for head.weight: copying a param with shape '
        "torch.Size([3, 3]) from checkpoint, the shape in current model is torch.Size([2, 3]).")
    sd["head.weight"] = dg.ones(2, 3)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["fc1.bias"] and result.unexpected_keys == ["extra"]
    assert net.head.weight.tolist() == [[1.0] * 3] * 2


def test_state_dict_round_trip_copies_values(device):
    a, b = Net().to(device), Net().to(device)
    b.load_state_dict(a.state_dict())
    x = dg.randn(5, 4, device=device)
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x).detach().cpu().numpy(), b(x).detach().cpu().numpy())
    assert a.state_dict()["fc1.weight"].grad_fn is None and not a.state_dict()["fc1.weight"].requires_grad


def test_train_eval_zero_grad_requires_grad_apply():
    net = Net()
    assert net.eval() is net and not net.block[1].training
    net.train()
    assert all(m.training for m in net.modules())
    net(dg.randn(3, 4)).sum().backward()
    assert net.fc1.weight.grad is not None
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "ReLU", "Linear", "BatchNorm1d", "Sequential", "Linear", "Net"]


def test_to_dtype_keeps_parameter_identity_and_integer_buffers():
    net = Net()
    w = net.fc1.weight
    net.to(dg.float64)
    assert net.fc1.weight is w and w.dtype == dg.float64 and isinstance(w, nn.Parameter)
    assert net.block[1].num_batches_tracked.dtype == dg.int64
    assert net.double().scale.dtype == dg.float64 and net.float().scale.dtype == dg.float32


def test_forward_hooks_and_removal():
    lin = nn.Linear(2, 2)
    calls = []
    h1 = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    h2 = lin.register_forward_hook(lambda m, args, out: calls.append(out.shape) or out + 1)
    out = lin(dg.ones(1, 2))
    np.testing.assert_allclose(out.detach().numpy(), lin.bias.detach().numpy()[None] + 1, rtol=1e-6)
    assert calls == [(1, 2)]
    h1.remove(), h2.remove()
    lin(dg.ones(1, 2))
    assert len(calls) == 1


def test_full_backward_hook_sees_and_replaces_grads():
    lin = nn.Linear(2, 3)
    seen = {}

    def hook(module, grad_input, grad_output):
        seen["in"], seen["out"] = grad_input, grad_output
        return (grad_input[0] * 10,)
    lin.register_full_backward_hook(hook)
    x = dg.ones(1, 2, requires_grad=True)
    lin(x).sum().backward()
    assert seen["out"][0].tolist() == [[1.0, 1.0, 1.0]]
    expected = lin.weight.detach().sum(0).numpy()
    np.testing.assert_allclose(seen["in"][0].numpy()[0], expected, rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy()[0], expected * 10, rtol=1e-6)


def test_repr_layout_matches_pytorch():
    net = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 6, 5)), ("pool", nn.MaxPool2d(2)),
                                     ("flat", nn.Flatten()), ("fc", nn.Linear(6, 2, bias=False)),
                                     ("drop", nn.Dropout()), ("bn", nn.BatchNorm2d(3)), ("ln", nn.LayerNorm(4)),
                                     ("gelu", nn.GELU()), ("th", nn.Threshold(0.1, 20)),
                                     ("list", nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.Tanh()]))]))
    assert repr(net) == """Sequential(
  (conv): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))
  (pool): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (flat): Flatten(start_dim=1, end_dim=-1)
  (fc): Linear(in_features=6, out_features=2, bias=False)
  (drop): Dropout(p=0.5, inplace=False)
  (bn): BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
  (ln): LayerNorm((4,), eps=1e-05, elementwise_affine=True, bias=True)
  (gelu): GELU(approximate='none')
  (th): Threshold(threshold=0.1, value=20)
  (list): ModuleList(
    (0-1): 2 x ReLU()
    (2): Tanh()
  )
)"""
    assert repr(nn.Conv2d(2, 4, 3, padding="same", groups=2, bias=False)) == \
        "Conv2d(2, 4, kernel_size=(3, 3), stride=(1, 1), padding=same, groups=2, bias=False)"
    assert repr(nn.Parameter(dg.ones(2))) == "Parameter containing:\ntensor([1., 1.], requires_grad=True)"


def test_containers():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    seq.append(nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and isinstance(seq[:2], nn.Sequential)
    assert seq(dg.ones(4, 2)).shape == (4, 1)
    del seq[1]
    assert [n for n, _ in seq.named_children()] == ["0", "1"]
    ml = nn.ModuleList([nn.Linear(1, 1)])
    ml += [nn.ReLU()]
    assert len(ml) == 2 and [n for n, _ in ml.named_parameters()] == ["0.weight", "0.bias"]
    md = nn.ModuleDict({"a": nn.ReLU()})
    md["b"] = nn.Linear(1, 1)
    assert list(md.keys()) == ["a", "b"] and "b" in md and len(md) == 2
    with pytest.raises(IndexError, match="index 5 is out of range"):
        seq[5]


def test_to_device_keeps_parameter_identity_and_moves_grads_and_buffers(device):
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    w = net[0].weight
    net(dg.randn(5, 3)).sum().backward()
    grad = w.grad.clone()
    assert net.to(device) is net and net[0].weight is w and isinstance(w, nn.Parameter)
    assert {str(t.device) for t in [*net.parameters(), *net.buffers(), w.grad]} == {str(dg.device(device))}
    assert net[1].num_batches_tracked.dtype == dg.int64
    np.testing.assert_array_equal(w.grad.cpu().numpy(), grad.numpy())
    net.cpu()
    assert str(w.device) == "cpu" and str(w.grad.device) == "cpu"
