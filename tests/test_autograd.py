"""The autograd API: leaves, .grad accumulation, backward arguments and errors, grad modes, hooks, grad_fn names,
user Functions, autograd.grad, and version counters."""
import numpy as np
import pytest

import distgrad as dg
from distgrad import autograd


def _leaf(values, device, dtype=dg.float32):
    return dg.tensor(values, dtype=dtype, device=device, requires_grad=True)


def test_leaves_and_requires_grad(device):
    x = _leaf([1.0, 2.0], device)
    y = dg.ones(2, device=device)
    assert x.is_leaf and y.is_leaf and x.grad_fn is None and x.grad is None
    z = x * 2
    assert z.requires_grad and not z.is_leaf and z.grad_fn is not None
    assert not (y * 2).requires_grad and (y * 2).is_leaf
    assert y.requires_grad_() is y and y.requires_grad
    y.requires_grad = False
    assert not y.requires_grad
    with pytest.raises(RuntimeError, match="you can only change requires_grad flags of leaf variables"):
        z.requires_grad = False


def test_grad_accumulates_across_backward_calls(device):
    x = _leaf([1.0, 2.0, 3.0], device)
    (x * x).sum().backward()
    assert x.grad.tolist() == [2, 4, 6]
    (3 * x).sum().backward()
    assert x.grad.tolist() == [5, 7, 9]
    x.grad.zero_()
    x.sum().backward()
    assert x.grad.tolist() == [1, 1, 1]
    x.grad = None
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2, 2, 2]


def test_grad_is_not_shared_between_leaves_or_outputs(device):
    a, b = _leaf([1.0, 2.0], device), _leaf([3.0, 4.0], device)
    (a + b).sum().backward()
    a.grad.add_(10)
    assert b.grad.tolist() == [1, 1]
    x = _leaf([1.0, 2.0], device)
    g = dg.tensor([1.0, 1.0], device=device)
    x.backward(g)
    x.grad.add_(1)
    assert g.tolist() == [1, 1]


def test_backward_with_gradient_and_retain_graph(device):
    x = _leaf([1.0, 2.0], device)
    y = x * x
    y.backward(dg.tensor([1.0, 0.5], device=device), retain_graph=True)
    assert x.grad.tolist() == [2, 2]
    y.backward(gradient=dg.tensor([1.0, 1.0], device=device))
    assert x.grad.tolist() == [4, 6]
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward(dg.tensor([1.0, 1.0], device=device))


def test_backward_errors(device):
    x = _leaf([1.0, 2.0], device)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad and does not have a grad_fn"):
        dg.ones(2, device=device).sum().backward()
    s = (x * x).sum()
    s.backward()
    with pytest.raises(RuntimeError, match=r"Trying to backward through the graph a second time \(or directly access "
                                           r"saved tensors after they have already been freed\)"):
        s.backward()


def test_detach(device):
    x = _leaf([1.0, 2.0], device)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    d[0] = 100
    assert y[0].item() == 100          # shares memory
    z = x * 3
    assert z.detach_() is z and not z.requires_grad and z.grad_fn is None
    w = x.detach() * 2
    assert not w.requires_grad
    assert x.data.requires_grad is False


def test_no_grad_enable_grad_set_grad_enabled(device):
    x = _leaf([1.0], device)
    with dg.no_grad():
        assert not dg.is_grad_enabled()
        y = x * 2
        with dg.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
    assert not y.requires_grad and y.grad_fn is None and dg.is_grad_enabled()

    @dg.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad and dg.is_grad_enabled()

    @dg.enable_grad()
    def g(t):
        return t * 2
    with dg.no_grad():
        assert g(x).requires_grad

    with dg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert dg.is_grad_enabled()
    dg.set_grad_enabled(False)           # as a plain function
    try:
        assert not (x * 2).requires_grad
    finally:
        dg.set_grad_enabled(True)

    @dg.set_grad_enabled(False)
    def h(t):
        return t * 2
    assert dg.is_grad_enabled() and not h(x).requires_grad and (x * 2).requires_grad


def test_no_grad_restores_mode_after_exception(device):
    with pytest.raises(ValueError), dg.no_grad():
        raise ValueError
    assert dg.is_grad_enabled()


def test_retain_grad(device):
    x = _leaf([1.0, 2.0], device)
    y = x * 2
    y.retain_grad()
    assert y.retains_grad and not x.retains_grad
    z = y * y
    z.sum().backward()
    assert y.grad.tolist() == [4, 8] and x.grad.tolist() == [8, 16]
    w = x * 3
    (w * 1).sum().backward()
    assert w.grad is None


@pytest.mark.parametrize("fn, name", [
    (lambda x: x + 1, "AddBackward0"), (lambda x: x * 2, "MulBackward0"), (lambda x: x.mean(), "MeanBackward0"),
    (lambda x: x.sum(), "SumBackward0"), (lambda x: x.relu(), "ReluBackward0"),
    (lambda x: dg.addmm(x, x, x), "AddmmBackward0"), (lambda x: x - 1, "SubBackward0"),
    (lambda x: x / 2, "DivBackward0"), (lambda x: 2 / x, "MulBackward0"), (lambda x: x.exp(), "ExpBackward0"),
    (lambda x: x.reciprocal(), "ReciprocalBackward0"), (lambda x: dg.ones(2, 2, device=x.device) / x, "DivBackward0"),
    (lambda x: x.view(4), "ViewBackward0"),
    (lambda x: x.t(), "TBackward0"), (lambda x: x[0], "SelectBackward0"), (lambda x: x[:, 1:], "SliceBackward0"),
    (lambda x: x.sigmoid(), "SigmoidBackward0"), (lambda x: x.tanh(), "TanhBackward0"), (lambda x: x @ x, "MmBackward0"),
    (lambda x: x.pow(2), "PowBackward0"), (lambda x: -x, "NegBackward0"), (lambda x: x.clone(), "CloneBackward0"),
    (lambda x: x.reshape(4), "ViewBackward0"), (lambda x: x.expand(3, 2, 2), "ExpandBackward0"),
    (lambda x: x.permute(1, 0), "PermuteBackward0"), (lambda x: x.transpose(0, 1), "TransposeBackward0"),
    (lambda x: x.unsqueeze(0), "UnsqueezeBackward0"), (lambda x: x.squeeze(), "SqueezeBackward0"),
    (lambda x: x.squeeze(0), "SqueezeBackward1"), (lambda x: x.squeeze((0, 1)), "SqueezeBackward2"),
    (lambda x: dg.squeeze(x, [-1]), "SqueezeBackward2"),
    (lambda x: dg.cat([x, x]), "CatBackward0"), (lambda x: x.log_softmax(0), "LogSoftmaxBackward0"),
    (lambda x: x.softmax(0), "SoftmaxBackward0"), (lambda x: x[[0]], "IndexBackward0"), (lambda x: x.abs(), "AbsBackward0"),
    (lambda x: x.clamp(0, 1), "ClampBackward1"), (lambda x: x.sqrt(), "SqrtBackward0"), (lambda x: x.log(), "LogBackward0"),
    (lambda x: x.sum(0), "SumBackward1"), (lambda x: x.mean(0), "MeanBackward1"), (lambda x: x.double(), "ToCopyBackward0"),
    (lambda x: x.amax(0), "AmaxBackward0"), (lambda x: x.norm(), "LinalgVectorNormBackward0"),
    (lambda x: x.cumsum(0), "CumsumBackward0"), (lambda x: x.prod(), "ProdBackward0"),
    (lambda x: x.gather(0, dg.zeros(1, 2, dtype=dg.int64, device=x.device)), "GatherBackward0"),
    (lambda x: dg.where(x > 0, x, 0.0), "WhereBackward0"), (lambda x: x.mm(x), "MmBackward0"),
    (lambda x: x.maximum(x), "MaximumBackward0"), (lambda x: x.sin(), "SinBackward0"), (lambda x: x + x, "AddBackward0"),
    (lambda x: x.bmm(x[None].expand(1, 2, 2)[0][None]) if False else x[None].bmm(x[None]), "BmmBackward0"),
])
def test_grad_fn_names(fn, name, device):
    x = dg.ones(2, 2, device=device, requires_grad=True)
    assert type(fn(x).grad_fn).__name__ == name
    assert fn(x).grad_fn.name() == name


@pytest.mark.parametrize("fn, name", [
    (lambda x: x ** x, "PowBackward1"), (lambda x: x.max(), "MaxBackward1"), (lambda x: x.max(0)[0], "MaxBackward0"),
    (lambda x: dg.stack([x, x]), "StackBackward0"), (lambda x: x.var(), "VarBackward0"),
    (lambda x: x.std(), "StdBackward0"), (lambda x: x.masked_fill(x > 0, 0.0), "MaskedFillBackward0"),
    (lambda x: x.logsumexp(0), "LogsumexpBackward0"), (lambda x: x.min(), "MinBackward1"),
    (lambda x: x.min(1).values, "MinBackward0"), (lambda x: x.pow(x[0, 0]), "PowBackward1"),
    (lambda x: x.masked_fill(x > 0, x[0, 0]), "MaskedFillBackward1")])
def test_grad_fn_names_of_composites(fn, name, device):
    x = dg.ones(2, 2, device=device, requires_grad=True)
    assert type(fn(x).grad_fn).__name__ == name


def test_next_functions(device):
    a = _leaf([1.0, 2.0], device)
    b = dg.ones(2, device=device)
    y = a * b
    (fa, ia), (fb, _) = y.grad_fn.next_functions
    assert type(fa).__name__ == "AccumulateGrad" and fa.variable is a and ia == 0
    assert fb is None
    z = (y + 1).sum()
    assert type(z.grad_fn.next_functions[0][0]).__name__ == "AddBackward0"
    assert z.grad_fn.next_functions[0][0].next_functions[0][0] is y.grad_fn


def test_diamond_graph_and_reused_leaf(device):
    x = _leaf([2.0], device)
    y = x * x
    z = y * x + y + x.exp()
    z.backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), [3 * 4 + 2 * 2 + np.exp(2)], rtol=1e-6)


def test_backward_through_views_and_setitem(device):
    x = _leaf([[1.0, 2.0], [3.0, 4.0]], device)
    y = x.t()[0] * dg.tensor([10.0, 100.0], device=device)
    y.sum().backward()
    assert x.grad.tolist() == [[10, 0], [100, 0]]
    a = _leaf([1.0, 2.0, 3.0], device)
    b = a.clone()
    b[1] = 0
    (b * a).sum().backward()
    assert a.grad.tolist() == [2, 0, 6]


def test_scalar_divided_by_tensor_is_reciprocal_times_scalar(device):
    # PyTorch's __rdiv__ is self.reciprocal() * other: the graph is MulBackward0 over ReciprocalBackward0
    x = _leaf([0.5, 4.0], device)
    y = 2 / x
    assert [type(n).__name__ for n, _ in y.grad_fn.next_functions] == ["ReciprocalBackward0", "NoneType"]
    y.sum().backward()
    assert y.tolist() == [4.0, 0.5] and x.grad.tolist() == [-8.0, -0.125]
    k = dg.tensor([1, 4], device=device)
    assert (2 / k).dtype == dg.float32 and (2 / k).tolist() == [2.0, 0.5] and k.reciprocal().tolist() == [1.0, 0.25]


def test_integer_and_non_requires_grad_inputs_get_no_grad(device):
    x = _leaf([1.0, 2.0], device)
    i = dg.tensor([1, 2], device=device)
    (x * i).sum().backward()
    assert x.grad.tolist() == [1, 2] and i.grad is None


def test_inplace_on_leaf_requiring_grad_raises(device):
    x = _leaf([1.0, 2.0], device)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation."):
        x.add_(1)
    with dg.no_grad():
        x.add_(1)
    assert x.tolist() == [2, 3]


LEAF = "^a leaf Variable that requires grad is being used in an in-place operation.$"
FILLS = {"uniform_": lambda t: t.uniform_(), "normal_": lambda t: t.normal_(), "bernoulli_": lambda t: t.bernoulli_(),
         "fill_": lambda t: t.fill_(1.0), "zero_": lambda t: t.zero_(), "copy_": lambda t: t.copy_(t.detach() * 2)}


@pytest.mark.parametrize("name", FILLS)
def test_random_and_fill_inplace_on_leaf_requiring_grad_raise(name, device):
    fill = FILLS[name]
    x = _leaf([1.0, 2.0], device)
    with pytest.raises(RuntimeError, match=LEAF):
        fill(x)
    with pytest.raises(RuntimeError, match="^a view of a leaf Variable that requires grad is being used in an in-place "
                                           "operation.$"):
        fill(x[:1])
    assert x.tolist() == [1.0, 2.0] and x._version == 0
    with dg.no_grad():                         # how nn.init fills parameters
        assert fill(x) is x
    assert x.requires_grad and x.grad_fn is None and x._version == 1


def test_random_fill_of_nonleaf_gives_its_old_value_a_zero_gradient(device):
    x = _leaf([1.0, 2.0, 3.0], device)
    y = x * 2
    dg.manual_seed(5)
    assert y.uniform_(-1.0, 1.0) is y and y.grad_fn is not None
    dg.manual_seed(5)
    assert y.tolist() == dg.empty(3, device=device).uniform_(-1.0, 1.0).tolist()    # the same draw as untracked
    (y * 3).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]


def test_inplace_on_view_of_leaf_raises(device):
    x = _leaf([1.0, 2.0], device)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad is being used in an in-place "
                                           "operation."):
        x[0].fill_(1)


def test_inplace_on_view_of_nonleaf_rebases_base(device):
    x = _leaf([1.0, 2.0, 3.0], device)
    y = x * 2
    y[0].mul_(3)
    y.sum().backward()
    assert x.grad.tolist() == [6, 2, 2]


def test_setitem_on_nonleaf_gradients(device):
    x = _leaf([1.0, 2.0, 3.0], device)
    y = x * 2
    y[1:] = x[:2] * 10
    y.sum().backward()
    assert x.grad.tolist() == [12, 10, 0]


def test_inplace_on_saved_tensor_raises(device):
    x = _leaf([1.0, 2.0], device)
    y = x.exp()
    z = y * 2          # Mul does not need y for x's gradient... but exp saved its output y
    y.add_(1)
    with pytest.raises(RuntimeError, match="one of the variables needed for gradient computation has been modified by "
                                           "an inplace operation"):
        z.sum().backward()
    a = _leaf([1.0, 2.0], device)
    b = a * 1
    c = b * b
    b.mul_(2)
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation: \[torch.FloatTensor \[2\]\], which is "
                                           r"output 0 of MulBackward0, is at version 1; expected version 0 instead"):
        c.sum().backward()


def test_inplace_not_saved_is_fine_and_grads_flow(device):
    x = _leaf([1.0, 2.0], device)
    y = x * 2
    y.add_(1)               # Add does not save its inputs
    assert type(y.grad_fn).__name__ == "AddBackward0"
    (y * 3).sum().backward()
    assert x.grad.tolist() == [6, 6]
    a = _leaf([1.0, -1.0], device)
    b = a * 1
    b.relu_()
    b.sum().backward()
    assert a.grad.tolist() == [1, 0]


def test_version_counter(device):
    x = dg.ones(2, device=device)
    v = x._version
    x.add_(1)
    assert x._version == v + 1
    x[0] = 3
    assert x._version == v + 2
    x.view(2).mul_(2)
    assert x._version == v + 3


def test_tensor_hooks(device):
    x = _leaf([1.0, 2.0], device)
    seen = []
    h = x.register_hook(lambda g: seen.append(g.tolist()))
    (x * 3).sum().backward()
    assert seen == [[3, 3]]
    h.remove()
    (x * 3).sum().backward()
    assert seen == [[3, 3]]
    y = x * 2
    y.register_hook(lambda g: g * 10)
    x.grad = None
    y.sum().backward()
    assert x.grad.tolist() == [20, 20]
    with pytest.raises(RuntimeError, match="cannot register a hook on a tensor that doesn't require gradient"):
        dg.ones(1, device=device).register_hook(lambda g: g)


def test_post_accumulate_grad_hook(device):
    x = _leaf([1.0], device)
    calls = []
    x.register_post_accumulate_grad_hook(lambda t: calls.append(t.grad.item()))
    (x * 5).sum().backward()
    assert calls == [5.0]


def test_autograd_grad(device):
    x = _leaf([1.0, 2.0], device)
    y = _leaf([3.0], device)
    out = (x * x).sum() * y
    gx, gy = autograd.grad(out, (x, y))
    assert gx.tolist() == [6, 12] and gy.tolist() == [5]
    assert x.grad is None and y.grad is None
    (g,) = autograd.grad(x * 2, x, grad_outputs=dg.ones(2, device=device))
    assert g.tolist() == [2, 2]
    z = (x * x).sum()
    autograd.grad(z, x, retain_graph=True)
    (g2,) = autograd.grad(z, [x])
    assert g2.tolist() == [2, 4]
    with pytest.raises(RuntimeError, match="One of the differentiated Tensors appears to not have been used in the "
                                           "graph. Set allow_unused=True if this is the desired behavior."):
        autograd.grad((x * 2).sum(), [x, y])
    gx, gy = autograd.grad((x * 2).sum(), [x, y], allow_unused=True)
    assert gy is None and gx.tolist() == [2, 2]


def test_autograd_backward_function(device):
    x = _leaf([1.0, 2.0], device)
    autograd.backward([(x * 2).sum(), (x * x).sum()])
    assert x.grad.tolist() == [4, 6]


class Cube(autograd.Function):
    @staticmethod
    def forward(ctx, x, k):
        ctx.save_for_backward(x)
        ctx.k = k
        return x ** 3 * k

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x ** 2 * ctx.k, None


class TwoIn(autograd.Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        ctx.flags = tuple(ctx.needs_input_grad)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return (grad * b if ctx.needs_input_grad[0] else None, grad * a if ctx.needs_input_grad[1] else None)


def test_user_function(device):
    x = _leaf([1.0, 2.0], device)
    y = Cube.apply(x, 2.0)
    assert y.tolist() == [2, 16] and y.requires_grad
    assert type(y.grad_fn).__name__ == "CubeBackward"
    y.sum().backward()
    assert x.grad.tolist() == [6, 24]
    a, b = _leaf([2.0], device), dg.tensor([5.0], device=device)
    out = TwoIn.apply(a, b)
    assert out.grad_fn.flags == (True, False)
    out.backward()
    assert a.grad.tolist() == [5] and b.grad is None
    with dg.no_grad():
        assert not Cube.apply(x, 1.0).requires_grad
    assert autograd.gradcheck(lambda t: Cube.apply(t, 1.5), (dg.tensor([0.5, -1.2], dtype=dg.float64,
                                                                         requires_grad=True),))


def test_user_function_saved_tensor_version_check(device):
    x = _leaf([1.0, 2.0], device)
    h = x * 1
    y = Cube.apply(h, 1.0)
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_gradcheck_detects_wrong_gradient():
    class Wrong(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, grad):
            return grad          # should be 2x * grad

    x = dg.tensor([0.3, 0.7], dtype=dg.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        autograd.gradcheck(Wrong.apply, (x,))
    assert autograd.gradcheck(Wrong.apply, (x,), raise_exception=False) is False


def test_backward_on_float64_and_mixed_dtypes(device):
    x = _leaf([1.0, 2.0], device, dg.float64)
    w = _leaf([3.0, 4.0], device)
    (x * w).sum().backward()
    assert x.grad.dtype == dg.float64 and w.grad.dtype == dg.float32
    assert x.grad.tolist() == [3, 4] and w.grad.tolist() == [1, 2]


def test_broadcast_gradients_sum_back(device):
    a = _leaf([[1.0], [2.0]], device)
    b = _leaf([1.0, 2.0, 3.0], device)
    (a * b).sum().backward()
    assert a.grad.tolist() == [[6], [6]] and b.grad.tolist() == [3, 3, 3]
    s = _leaf(2.0, device)
    (s * dg.ones(3, 2, device=device)).sum().backward()
    assert s.grad.shape == () and s.grad.item() == 6
