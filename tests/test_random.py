"""Random creation: reproducibility under manual_seed, ranges, dtypes, distributions."""
import numpy as np
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


def _chi_square(counts: np.ndarray, p: np.ndarray) -> float:
    expected = counts.sum() * p / p.sum()
    nz = expected > 0
    return float((((counts - expected) ** 2)[nz] / expected[nz]).sum())


# chi-square critical values at the 0.001 level: a correct sampler fails one run in a thousand (the seed is fixed)
CHI2_999 = {2: 13.82, 3: 16.27}


def test_multinomial_with_replacement_follows_the_weights(device):
    dg.manual_seed(0)
    p = np.array([0.1, 0.0, 0.2, 0.3, 0.4])
    draws = dg.multinomial(dg.tensor(p, dtype=dg.float32, device=device), 20000, replacement=True)
    assert draws.dtype == dg.int64 and tuple(draws.shape) == (20000,) and draws.device == dg.device(device)
    counts = np.bincount(draws.cpu().numpy(), minlength=5)
    assert counts[1] == 0 and _chi_square(counts, p) < CHI2_999[3]
    rows = dg.tensor([[1.0, 3.0, 0.0], [0.0, 2.0, 2.0]], device=device)
    two = rows.multinomial(6000, replacement=True).cpu().numpy()
    assert two.shape == (2, 6000)
    for r in range(2):
        counts = np.bincount(two[r], minlength=3)
        assert _chi_square(counts, rows[r].cpu().numpy()) < CHI2_999[2]


def test_multinomial_without_replacement(device):
    dg.manual_seed(1)
    p = np.array([0.1, 0.0, 0.2, 0.3, 0.4])
    rows = dg.tensor(p, dtype=dg.float32, device=device).expand(4000, 5)
    draws = dg.multinomial(rows, 2).cpu().numpy()
    assert (draws[:, 0] != draws[:, 1]).all() and (draws != 1).all()
    assert _chi_square(np.bincount(draws[:, 0], minlength=5), p) < CHI2_999[3]    # the first pick follows p
    full = dg.multinomial(dg.tensor(p, device=device), 5).tolist()
    assert sorted(full) == [0, 1, 2, 3, 4] and full[-1] == 1       # weight 0 comes last, as PyTorch


def test_multinomial_reproducible_from_seed_and_generator(device):
    w = dg.tensor([1.0, 2.0, 3.0, 4.0], device=device)
    dg.manual_seed(7)
    a = dg.multinomial(w, 8, True).tolist()
    b = w.multinomial(3).tolist()
    dg.manual_seed(7)
    assert dg.multinomial(w, 8, True).tolist() == a and w.multinomial(3).tolist() == b
    g1, g2 = dg.Generator().manual_seed(5), dg.Generator().manual_seed(5)
    assert dg.multinomial(w, 8, True, generator=g1).tolist() == dg.multinomial(w, 8, True, generator=g2).tolist()


@pytest.mark.parametrize("make, num_samples, replacement, error, message", [
    (lambda d: dg.tensor([1.0, -1.0], device=d), 1, True, RuntimeError, "element < 0"),
    (lambda d: dg.tensor([1.0, float("inf")], device=d), 1, False, RuntimeError, "contains either `inf`, `nan`"),
    (lambda d: dg.tensor([1.0, float("nan")], device=d), 1, True, RuntimeError, "contains either `inf`, `nan`"),
    (lambda d: dg.tensor([[1.0, 2.0], [0.0, 0.0]], device=d), 1, True, RuntimeError,
     r"invalid multinomial distribution \(sum of probabilities <= 0\)"),
    (lambda d: dg.tensor([1.0, 2.0], device=d), 3, False, RuntimeError,
     r"cannot sample n_sample > prob_dist.size\(-1\) samples without replacement"),
    (lambda d: dg.tensor([1.0, 2.0], device=d), 0, True, RuntimeError, "cannot sample n_sample <= 0 samples"),
    (lambda d: dg.ones(2, 2, 2, device=d), 1, True, RuntimeError, "prob_dist must be 1 or 2 dim"),
    (lambda d: dg.tensor([1, 2], device=d), 1, True, RuntimeError,
     "multinomial only supports floating-point dtypes for input, got: Long")])
def test_multinomial_errors(make, num_samples, replacement, error, message, device):
    with pytest.raises(error, match=message):
        dg.multinomial(make(device), num_samples, replacement)


def test_uniform_and_normal_refuse_bad_bounds_with_pytorch_text(device):
    x = dg.zeros(3, device=device)
    with pytest.raises(RuntimeError, match=r"^uniform_ expects to return a \[from, to\) range, but found from=2 > "
                                           r"to=1$"):
        x.uniform_(2.0, 1.0)
    with pytest.raises(RuntimeError, match=r"^uniform_ expects to return a \[from, to\) range, but found from=2.5 > "
                                           r"to=1.25$"):
        x.uniform_(2.5, 1.25)
    with pytest.raises(RuntimeError, match="^normal expects std >= 0.0, but found std -0.5$"):
        x.normal_(0.0, -0.5)
    assert x.tolist() == [0.0, 0.0, 0.0]
    assert x.uniform_(1.0, 1.0).tolist() == [1.0, 1.0, 1.0] and x.normal_(3.0, 0.0).tolist() == [3.0, 3.0, 3.0]


# Random123's known-answer vectors for philox4x32_10: (counter, key) -> the four output words
PHILOX_KAT = [((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
              ((0xFFFFFFFF,) * 4, (0xFFFFFFFF, 0xFFFFFFFF), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
              ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
               (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1))]


def test_cpu_philox_matches_random123_known_answers_on_ints_and_arrays():
    from distgrad.backends.cpu import philox_rounds
    for counter, key, want in PHILOX_KAT:
        assert philox_rounds(*counter, *key) == want
        arrays = [np.full(3, c, np.uint64) for c in counter]
        assert [w.tolist() for w in philox_rounds(*arrays, *key)] == [[w] * 3 for w in want]


def test_cpu_philox_words_are_the_same_stream_for_few_and_many_blocks():
    from distgrad.backends.cpu import philox_words
    assert tuple(philox_words(0, 0, 4)) == PHILOX_KAT[0][2]          # block 0 of seed 0: counter 0, key 0
    offset = 2**32 - 5                                                  # crosses into the counter's high word
    many = philox_words(2**40 + 7, offset, 4 * 20)                      # the array path
    few = np.concatenate([philox_words(2**40 + 7, offset + b, 4) for b in range(20)])   # one block at a time
    np.testing.assert_array_equal(many, few)
