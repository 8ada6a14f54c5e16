"""HuberLoss, KLDivLoss, normalize, cosine_similarity, pairwise_distance (figures are PyTorch 2.13 literals)."""
import math
import warnings

import numpy as np
import pytest

import distgrad as dg
import distgrad.nn.functional as F
from distgrad import nn
from distgrad.autograd import gradcheck

X = [[0.2, -1.3, 0.7, 2.1], [1.5, 0.3, -0.4, -2.2], [-0.6, 0.9, 0.1, 0.4]]
Y = [[1.0, 0, 1, 0], [0, 1, 1, 0], [1, 1, 0, 0]]
A = [[0.2, -1.3, 0.7], [0.0, 0.0, 0.0]]
B = [[1.5, 0.3, -0.4], [1.0, 2.0, 3.0]]
R = np.random.default_rng(1)
MEAN_WARNING = ("reduction: 'mean' divides the total loss by both the batch size and the support size.'batchmean' "
                "divides only by the batch size, and aligns with the KL div math definition.'mean' will be changed "
                "to behave the same as 'batchmean' in the next major release.")


def _t(a, device, grad=False, dtype=dg.float64):
    return dg.tensor(a, dtype=dtype, device=device, requires_grad=grad)


def _d(a):
    return dg.tensor(a, dtype=dg.float64, requires_grad=True)


@pytest.mark.parametrize("delta, mean, total", [(1.0, 0.65, 7.8), (0.5, 0.41125, 4.935), (2.0, 0.7941666666666668,
                                                                                            9.53)])
def test_huber_loss_values_and_gradient(device, require_dtype, delta, mean, total):
    require_dtype(dg.float64)
    d = np.array(X) - np.array(Y)
    ref = np.where(np.abs(d) < delta, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta))
    x = _t(X, device, grad=True)
    np.testing.assert_allclose(F.huber_loss(x, _t(Y, device), reduction="none", delta=delta).tolist(), ref, rtol=1e-12)
    assert F.huber_loss(x, _t(Y, device), delta=delta).item() == pytest.approx(mean, rel=1e-12)
    loss = nn.HuberLoss(reduction="sum", delta=delta)(x, _t(Y, device))
    assert loss.item() == pytest.approx(total, rel=1e-12)
    loss.backward()
    np.testing.assert_allclose(x.grad.tolist(), np.where(np.abs(d) < delta, d, delta * np.sign(d)), rtol=1e-12)


def test_huber_loss_weight_errors_and_warning():
    x, y, w = _d(X), dg.tensor(Y, dtype=dg.float64), dg.tensor(R.uniform(size=(3, 4)))
    unweighted = F.huber_loss(x, y, reduction="none", delta=0.5)
    assert F.huber_loss(x, y, delta=0.5, weight=w).item() == pytest.approx((unweighted * w).mean().item())
    with pytest.raises(RuntimeError, match="^huber_loss does not support non-positive values for delta.$"):
        F.huber_loss(x, y, delta=0)
    with pytest.raises(ValueError, match="^bad is not a valid value for reduction$"):
        F.huber_loss(x, y, reduction="bad")
    with pytest.raises(ValueError, match="^Weights and input must have the same size.$"):
        F.huber_loss(x, y, weight=w[0])
    with pytest.warns(UserWarning, match=r"^Using a target size \(torch.Size\(\[4\]\)\) that is different to the input "
                      r"size \(torch.Size\(\[3, 4\]\)\). This will likely lead to incorrect results due to "
                      r"broadcasting. Please ensure they have the same size.$"):
        F.huber_loss(x, y[0])
    assert repr(nn.HuberLoss(delta=0.5)) == "HuberLoss()"


def test_kl_div_reductions_and_log_target(device, require_dtype):
    require_dtype(dg.float64)
    lp = F.log_softmax(_t(X, device), 1)
    t = F.softmax(_t(Y, device) * 2, 1)
    ref = t.cpu().numpy() * (np.log(t.cpu().numpy()) - lp.cpu().numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # only 'mean' warns
        np.testing.assert_allclose(F.kl_div(lp, t, reduction="none").tolist(), ref, rtol=1e-12)
        assert F.kl_div(lp, t, reduction="sum").item() == pytest.approx(2.374429472482683, rel=1e-12)
        assert F.kl_div(lp, t, reduction="batchmean").item() == pytest.approx(0.791476490827561, rel=1e-12)
        assert F.kl_div(lp, t.log(), reduction="batchmean", log_target=True).item() == \
            pytest.approx(0.791476490827561, rel=1e-12)
    with pytest.warns(UserWarning, match=f"^{MEAN_WARNING}$"):
        assert F.kl_div(lp, t).item() == pytest.approx(0.19786912270689025, rel=1e-12)
    with pytest.warns(UserWarning, match=r"^size_average and reduce args will be deprecated, please use "
                      r"reduction='sum' instead.$"):
        assert F.kl_div(lp, t, size_average=False).item() == pytest.approx(2.374429472482683, rel=1e-12)


def test_kl_div_zero_targets_add_nothing_and_stay_finite(device, require_dtype):
    require_dtype(dg.float64)
    lp = F.log_softmax(_t(X, device, grad=True), 1)
    t0 = _t([[0.5, 0.5, 0, 0]] * 3, device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # no NumPy warning for 0 * log(0)
        loss = F.kl_div(lp, t0, reduction="sum")
    assert loss.item() == pytest.approx(3.4906303072387774, rel=1e-12)
    lp.retain_grad()
    loss.backward()
    assert lp.grad.tolist() == [[-0.5, -0.5, 0.0, 0.0]] * 3        # d/d input = -target
    assert F.kl_div(dg.tensor(0.5), dg.tensor(0.3), reduction="batchmean").item() == \
        pytest.approx(-0.5111918449401855, rel=1e-6)              # a 0-d input is not divided by a batch size


def test_kl_div_loss_module():
    m = nn.KLDivLoss(reduction="batchmean", log_target=True)
    assert repr(m) == "KLDivLoss()" and m.log_target
    lp, lt = F.log_softmax(_d(X), 1), F.log_softmax(dg.tensor(Y, dtype=dg.float64) * 2, 1)
    assert m(lp, lt).item() == pytest.approx(0.791476490827561, rel=1e-12)
    with pytest.warns(UserWarning, match=r"reduction='none' instead.$"):
        assert nn.KLDivLoss(reduce=False).reduction == "none"


def test_normalize(device):
    a = _t(A, device, dtype=dg.float32)
    np.testing.assert_allclose(F.normalize(a).tolist(), [[0.13423121104280486, -0.8725028717782316, 0.469809238649817],
                                                        [0.0, 0.0, 0.0]], rtol=1e-6)
    assert F.normalize(a, p=1, dim=0).tolist() == [[1.0, -1.0, 1.0], [0.0, 0.0, 0.0]]
    out = dg.empty(0, device=device)
    assert F.normalize(a, out=out) is out and out.shape == (2, 3)


def test_cosine_similarity_and_its_gradient_at_a_zero_vector(device, require_dtype):
    require_dtype(dg.float64)
    a, b = _t(A, device, grad=True), _t(B, device, grad=True)
    c = nn.CosineSimilarity()(a, b)
    an, bn = np.array(A), np.array(B)
    ref = (an * bn).sum(1) / np.maximum(np.linalg.norm(an, axis=1), 1e-8) / np.linalg.norm(bn, axis=1)
    np.testing.assert_allclose(c.tolist(), ref, rtol=1e-12)
    c.sum().backward()
    # the norm is clamped without a gradient, as PyTorch does: d/da of a zero row is b / (|b| eps)
    np.testing.assert_allclose(a.grad.tolist(), [[0.6508637519662803, 0.03537302999816738, -0.12026830199376919],
                                                 [26726124.191242438, 53452248.382484876, 80178372.57372732]],
                               rtol=1e-9)
    assert b.grad.tolist()[1] == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(F.cosine_similarity(a, b[0], dim=-1).tolist(), [-0.15705625319186325, 0.0], rtol=1e-12)
    np.testing.assert_allclose(F.cosine_similarity(a, b, dim=0).tolist(),
                               [0.8320502943378437, -0.14834045293024462, -0.13216372009101796], rtol=1e-12)
    assert repr(nn.CosineSimilarity()) == "CosineSimilarity()"


def test_cosine_similarity_errors():
    with pytest.raises(RuntimeError, match="^expected common dtype to be floating point, yet common dtype is Long$"):
        F.cosine_similarity(dg.tensor([1, 2]), dg.tensor([1, 2]), dim=0)
    with pytest.raises(RuntimeError, match=r"The size of tensor a \(3\) must match the size of tensor b \(4\) at "
                       "non-singleton dimension 1"):
        F.cosine_similarity(_d(A), dg.zeros(4, dtype=dg.float64))


@pytest.mark.parametrize("p, ref", [(2.0, [2.3366635187812133, 3.741655783206547]), (1.0, [3.999999, 5.999997]),
                                    (3.0, [1.968161759349042, 3.301925964811858]), (math.inf, [1.599999, 2.999999])])
def test_pairwise_distance(device, require_dtype, p, ref):
    require_dtype(dg.float64)
    a, b = _t(A, device), _t(B, device)
    np.testing.assert_allclose(F.pairwise_distance(a, b, p=p).tolist(), ref, rtol=1e-12)
    out = nn.PairwiseDistance(p=p, keepdim=True)(a, b)
    assert out.shape == (2, 1)
    np.testing.assert_allclose(out.reshape(-1).tolist(), ref, rtol=1e-12)


def test_pairwise_distance_broadcasts_on_the_last_dim():
    a, b = _d(A), _d(B)
    assert F.pairwise_distance(a[0], b[0]).shape == ()
    np.testing.assert_allclose(F.pairwise_distance(a, b[0]).tolist(), [2.3366635187812133, 1.5811379446471456],
                               rtol=1e-12)
    assert repr(nn.PairwiseDistance(p=1.0, keepdim=True)) == "PairwiseDistance()"


GRAD_CASES = [
    ("huber", lambda x, y: F.huber_loss(x, y, delta=0.7), [R.normal(size=(3, 4)), R.normal(size=(3, 4))]),
    ("huber_weight", lambda x, w: F.huber_loss(x, dg.zeros(3, 4, dtype=dg.float64), reduction="sum", weight=w),
     [R.normal(size=(3, 4)), R.uniform(size=(3, 4))]),
    ("kl_div", lambda x, t: F.kl_div(x, t, reduction="batchmean"), [R.normal(size=(3, 4)), R.uniform(0.1, 1, (3, 4))]),
    ("kl_div_log_target", lambda x, t: F.kl_div(x, t, reduction="sum", log_target=True),
     [R.normal(size=(3, 4)), R.normal(size=(3, 4))]),
    ("normalize", lambda x: F.normalize(x, p=3, dim=0), [R.normal(size=(3, 4))]),
    ("cosine_similarity", lambda a, b: F.cosine_similarity(a, b, dim=-1), [R.normal(size=(3, 4)), R.normal(size=4)]),
    ("pairwise_distance", lambda a, b: F.pairwise_distance(a, b, p=1.5), [R.normal(size=(3, 4)), R.normal(size=(3, 4))]),
]


@pytest.mark.parametrize("fn, arrays", [c[1:] for c in GRAD_CASES], ids=[c[0] for c in GRAD_CASES])
def test_gradcheck(fn, arrays):
    assert gradcheck(fn, tuple(_d(a) for a in arrays))


XL, YL = [[1.0, -2.0], [0.5, 3.0]], [[0.0, 1.0], [1.0, 0.0]]
LEGACY = [  # loss(size_average, reduce), the reduction PyTorch names in its warning, PyTorch 2.13's value
    (lambda x, p, t, **kw: F.mse_loss(x, dg.zeros(2, 2), **kw), {"size_average": False}, "sum", 14.25),
    (lambda x, p, t, **kw: F.l1_loss(x, dg.zeros(2, 2), **kw), {"reduce": False}, "none", [[1.0, 2.0], [0.5, 3.0]]),
    (lambda x, p, t, **kw: F.smooth_l1_loss(x, dg.zeros(2, 2), **kw), {"size_average": False}, "sum", 4.625),
    (lambda x, p, t, **kw: F.nll_loss(x, dg.tensor([0, 1]), **kw), {"reduce": False}, "none", [-1.0, -3.0]),
    (lambda x, p, t, **kw: F.cross_entropy(x, dg.tensor([0, 1]), **kw), {"size_average": False}, "sum",
     0.12747707962989807),
    (lambda x, p, t, **kw: F.binary_cross_entropy(p, t, **kw), {"size_average": False}, "sum", 3.798694133758545),
    (lambda x, p, t, **kw: F.binary_cross_entropy_with_logits(x, t, **kw), {"reduce": False}, "none",
     [[1.3132617473602295, 2.1269280910491943], [0.4740769863128662, 3.0485873222351074]]),
]


@pytest.mark.parametrize("loss, legacy, reduction, expected", LEGACY,
                         ids=["mse", "l1", "smooth_l1", "nll", "cross_entropy", "bce", "bce_with_logits"])
def test_legacy_size_average_and_reduce_pick_the_reduction(loss, legacy, reduction, expected):
    x, p, t = dg.tensor(XL), dg.tensor([[0.2, 0.7], [0.4, 0.9]]), dg.tensor(YL)
    with pytest.warns(UserWarning, match=f"^size_average and reduce args will be deprecated, please use "
                      f"reduction='{reduction}' instead.$"):
        out = loss(x, p, t, **legacy)
    np.testing.assert_allclose(out.tolist(), expected, rtol=1e-6)
