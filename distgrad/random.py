"""Random numbers: Generator (seed plus Philox counter offset), manual_seed, and device-side filling.

Every draw takes a fresh range of Philox blocks from its generator (NOTE [ Philox ] in backends/base.py), so the
same seed gives the same numbers on every run and every backend, whatever order kernels run in."""
from __future__ import annotations

import math
import os
from typing import Any

from distgrad import prims as P
from distgrad.backends.base import random_blocks
from distgrad.function import is_grad_enabled
from distgrad.inplace import check_overlap

DEFAULT_SEED = 67280421310721        # PyTorch's default CPU seed


class Generator:
    """A source of random numbers: `manual_seed`, `seed`, `initial_seed`, `get_state`/`set_state`."""

    def __init__(self, device: Any = "cpu") -> None:
        self.device = device
        self._seed = DEFAULT_SEED
        self._offset = 0

    def manual_seed(self, seed: int) -> Generator:
        seed = int(seed)
        if not -(1 << 63) <= seed < (1 << 64):
            raise RuntimeError(f"Overflow when unpacking long long; seed {seed} does not fit in 64 bits")
        self._seed = seed & ((1 << 64) - 1)
        self._offset = 0
        return self

    def seed(self) -> int:
        """Re-seed from the operating system's entropy and return the new seed."""
        s = int.from_bytes(os.urandom(8), "little") >> 1
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self):
        """The state as a uint8 tensor (seed and offset, 8 bytes each, little-endian)."""
        from distgrad.creation import tensor
        raw = self._seed.to_bytes(8, "little") + self._offset.to_bytes(8, "little")
        return tensor(list(raw), dtype=_uint8())

    def set_state(self, state: Any) -> Generator:
        raw = bytes(int(b) for b in state.tolist())
        if len(raw) != 16:
            raise RuntimeError(f"Expected a 16-byte generator state, got {len(raw)} bytes")
        self._seed, self._offset = int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:], "little")
        return self

    def take(self, blocks: int) -> tuple[int, int]:
        """Reserve `blocks` Philox blocks: returns (seed, first block)."""
        offset = self._offset
        self._offset += blocks
        return self._seed, offset


def _uint8():
    from distgrad.dtypes import uint8
    return uint8


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (every device draws from it)."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(state: Any) -> None:
    default_generator.set_state(state)


def fill_random(t: Any, op: str, a: float, b: float, generator: Generator | None = None) -> Any:
    """Fill t in place with uniform [a, b) or normal(a, b) numbers (Tensor.uniform_ / normal_)."""
    if not t.dtype.is_floating_point:
        raise RuntimeError(f"{op}_ expects a floating point tensor, got {t.dtype}")
    if op == "uniform" and a > b:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={a:g} > to={b:g}")
    if op == "normal" and b < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {b:g}")
    if is_grad_enabled() and t.requires_grad:      # recorded: leaves refuse, the old value gets a zero gradient
        return t._write(fill_random(t.new_empty(t.shape), op, a, b, generator))
    check_overlap(t._view)
    gen = generator or default_generator
    s, offset = gen.take(random_blocks(op, t.numel(), t.dtype))
    P.random(op, t._view, s, offset, a, b)
    t._view.storage.version += 1
    return t


def multinomial(input: Any, num_samples: int, replacement: bool = False, *, generator: Generator | None = None) -> Any:
    """Indices drawn from each row of input (1-D or 2-D, non-negative weights), as int64 (torch.multinomial).

    With replacement each draw inverts the row's cumulative weights at a uniform number (a searchsorted done with one
    sort); without, the num_samples largest keys log(u) / p win (Efraimidis and Spirakis), categories of weight 0
    last. Both run as tensor ops on input's device and draw from generator (default: the default generator)."""
    from distgrad.backends.base import int64
    from distgrad.creation import rand
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: "
                           f"{input.dtype.legacy_name[:-6]}")
    if input.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    n = input.shape[-1]
    if not replacement and num_samples > n:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    p = input.detach().reshape(-1, n)
    if not bool(((p >= 0) & (p < math.inf)).all()):
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if not bool((p.sum(1) > 0).all()):
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    u = rand(p.shape[0], num_samples if replacement else n, generator=generator, dtype=p.dtype, device=p.device)
    if replacement:
        cdf = p.cumsum(1)
        out = _count_at_most(cdf, u * cdf[:, -1:]).clamp(max=n - 1)
    else:
        keys = (u.log() / p).masked_fill(p == 0, -math.inf)
        out = (-keys).argsort(1, stable=True)[:, :num_samples]
    out = out.to(int64)
    return out.reshape(num_samples) if input.ndim == 1 else out


def _count_at_most(sorted_rows: Any, x: Any) -> Any:
    """For each x[r, j], how many of sorted_rows[r] are <= it (searchsorted, side='right'), by one stable sort of
    both together: an x's count is the number of row values placed before it."""
    from distgrad.backends.base import int64
    from distgrad.joining import cat
    n = sorted_rows.shape[1]
    order = cat([sorted_rows, x], 1).argsort(1, stable=True)     # row values come first among equals
    is_x = order >= n
    before = (~is_x).to(int64).cumsum(1)
    counts = x.new_zeros(x.shape, dtype=int64)
    counts.scatter_(1, (order - n).clamp(min=0), before.masked_fill(~is_x, 0), reduce="add")
    return counts
