"""Random creation: reproducibility under manual_seed, ranges, dtypes, distributions."""
import pytest

import distgrad as dg


@pytest.mark.parametrize("make", [lambda d: dg.rand(3, 4, device=d), lambda d: dg.randn(5, device=d),
                                  lambda d: dg.randint(0, 10, (6,), device=d), lambda d: dg.randperm(8, device=d)],
                         ids=["rand", "randn", "randint", "randperm"])
def test_manual_seed_reproduces(make, device):
    dg.manual_seed(123)
    a = make(device).tolist()
    b = make(device).tolist()
    dg.manual_seed(123)
    assert make(device).tolist() == a
    assert make(device).tolist() == b
    assert a != b


def test_different_seeds_differ(device):
    dg.manual_seed(0)
    a = dg.rand(16, device=device).tolist()
    dg.manual_seed(1)
    assert dg.rand(16, device=device).tolist() != a


def test_rand_range_and_dtype(device):
    dg.manual_seed(0)
    x = dg.rand(10000, device=device)
    assert x.dtype == dg.float32 and x.shape == (10000,)
    a = x.cpu().numpy()
    assert a.min() >= 0 and a.max() < 1
    assert abs(a.mean() - 0.5) < 0.02
    assert dg.rand(2, 2, dtype=dg.float64, device=device).dtype == dg.float64
    assert dg.rand((2, 3), device=device).shape == (2, 3)


def test_randn_moments(device):
    dg.manual_seed(0)
    a = dg.randn(20000, device=device).cpu().numpy()
    assert abs(a.mean()) < 0.03 and abs(a.std() - 1) < 0.03


def test_randint_forms_and_bounds(device):
    dg.manual_seed(0)
    x = dg.randint(10, (1000,), device=device)
    assert x.dtype == dg.int64
    assert x.min().item() >= 0 and x.max().item() <= 9
    assert len(set(x.tolist())) == 10
    y = dg.randint(-3, 3, (2, 500), device=device)
    assert y.shape == (2, 500) and y.min().item() >= -3 and y.max().item() <= 2
    assert dg.randint(0, 5, (3,), dtype=dg.int32, device=device).dtype == dg.int32


def test_randperm_is_permutation(device):
    dg.manual_seed(0)
    p = dg.randperm(50, device=device)
    assert p.dtype == dg.int64 and sorted(p.tolist()) == list(range(50))


def test_generator_object_is_independent(device):
    g = dg.Generator().manual_seed(7)
    a = dg.rand(5, generator=g, device=device).tolist()
    g2 = dg.Generator().manual_seed(7)
    dg.rand(3, device=device)                     # the global generator does not disturb g2
    assert dg.rand(5, generator=g2, device=device).tolist() == a


def test_rng_state_roundtrip(device):
    dg.manual_seed(3)
    state = dg.get_rng_state()
    a = dg.randn(4, device=device).tolist()
    dg.set_rng_state(state)
    assert dg.randn(4, device=device).tolist() == a
    assert dg.initial_seed() == 3


def test_inplace_random_fills(device):
    dg.manual_seed(0)
    x = dg.empty(1000, device=device).uniform_(-2, 2)
    assert x.min().item() >= -2 and x.max().item() < 2
    y = dg.empty(5000, device=device).normal_(3, 0.5)
    assert abs(y.mean().item() - 3) < 0.05
    z = dg.empty(2000, device=device).bernoulli_(0.25)
    assert set(z.tolist()) <= {0.0, 1.0} and abs(z.mean().item() - 0.25) < 0.05


def test_normal_and_bernoulli_functions(device):
    dg.manual_seed(0)
    n = dg.normal(2.0, 3.0, size=(4000,))
    assert abs(n.mean().item() - 2) < 0.2 and abs(n.std().item() - 3) < 0.2
    p = dg.full((1000,), 0.7, device=device)
    b = dg.bernoulli(p)
    assert b.dtype == dg.float32 and abs(b.mean().item() - 0.7) < 0.06
