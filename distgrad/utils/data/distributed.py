"""DistributedSampler: each of num_replicas ranks reads its own share of the dataset."""
from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import distgrad

from .sampler import Sampler


def _from_process_group(getter: str) -> int:
    from distgrad import distributed as dist  # imported on use: it loads ZeroMQ, which plain data loading never needs
    if not dist.is_available():
        raise RuntimeError("Requires distributed package to be available")
    return getattr(dist, getter)()  # raises, as in PyTorch, while no process group is initialised


class DistributedSampler(Sampler[int]):
    """Yield this rank's indices: every rank gets num_samples, padded by repeating indices (or trimmed by drop_last)."""

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None:
            num_replicas = _from_process_group("get_world_size")
        if rank is None:
            rank = _from_process_group("get_rank")
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset, self.num_replicas, self.rank, self.epoch = dataset, num_replicas, rank, 0
        self.drop_last = drop_last
        if drop_last and len(dataset) % num_replicas != 0:
            self.num_samples = math.ceil((len(dataset) - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(len(dataset) / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle, self.seed = shuffle, seed

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:  # the same permutation on every rank: seeded by seed + epoch only
            g = distgrad.Generator()
            g.manual_seed(self.seed + self.epoch)
            indices = distgrad.randperm(len(self.dataset), generator=g).tolist()
        else:
            indices = list(range(len(self.dataset)))
        if self.drop_last:
            indices = indices[:self.total_size]
        else:
            padding_size = self.total_size - len(indices)
            if padding_size <= len(indices):
                indices += indices[:padding_size]
            else:
                indices += (indices * math.ceil(padding_size / len(indices)))[:padding_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use epoch in the shuffling seed, so each epoch has another order (the same on every rank)."""
        self.epoch = epoch
