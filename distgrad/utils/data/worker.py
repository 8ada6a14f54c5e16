"""DataLoader worker processes: the loop each one runs, its seeds, and get_worker_info()."""
from __future__ import annotations

import os
import queue
import random
import signal
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import distgrad

from . import shm
from .fetch import create_fetcher

# How often an idle worker checks that the main process is alive.
PARENT_CHECK_S = 1.0

_worker_info: WorkerInfo | None = None
_arena: shm.WorkerArena | None = None  # set in a worker: default_collate writes batches straight into its segments


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """What a DataLoader worker process knows about itself: id, num_workers, seed and its copy of the dataset."""
    id: int
    num_workers: int
    seed: int
    dataset: Any


def get_worker_info() -> WorkerInfo | None:
    """The current DataLoader worker's WorkerInfo, or None in the main process."""
    return _worker_info


def seed_worker(base_seed: int, worker_id: int) -> int:
    """Seed distgrad, Python's random and NumPy's global RNG in worker worker_id; return base_seed + worker_id."""
    seed = base_seed + worker_id
    random.seed(seed)
    distgrad.manual_seed(seed)
    # PyTorch's _generate_state(base_seed, worker_id), which is this SeedSequence: the 128-bit NumPy seed differs
    # from the one given to `random`, so the two generators never run the same stream.
    np.random.seed(np.random.SeedSequence([worker_id, base_seed & 0xFFFFFFFF, base_seed >> 32, 0]).generate_state(4))
    return seed


class KeyErrorMessage(str):
    """A str whose repr is itself, so a re-raised KeyError prints its traceback readably."""

    def __repr__(self) -> str:
        return self


class ExceptionWrapper:
    """An exception and its formatted traceback, to re-raise in another process."""

    def __init__(self, where: str) -> None:
        exc_type, exc, tb = sys.exc_info()
        self.exc_type, self.where = exc_type, where
        self.exc_msg = "".join(traceback.format_exception(exc_type, exc, tb))

    def reraise(self) -> None:
        """Raise the wrapped exception type with the original traceback as its message."""
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = KeyErrorMessage(msg)
        try:
            exception = self.exc_type(msg)
        except Exception:  # noqa: BLE001 the type needs other arguments: keep the message, lose the type
            raise RuntimeError(msg) from None
        raise exception


@dataclass(frozen=True)
class _IterableDatasetStopIteration:
    worker_id: int


class _ResumeIteration:
    """Sent to persistent workers at the start of each epoch after the first; echoed back as an acknowledgement."""


def _worker_loop(iterable: bool, dataset: Any, index_queue: Any, result_queue: Any, done_event: Any,
                 auto_collation: bool, collate_fn: Callable, drop_last: bool, base_seed: int,
                 init_fn: Callable | None, worker_id: int, num_workers: int, shm_prefix: str, parent_pid: int) -> None:
    # See NOTE [ DataLoader worker protocol ] in dataloader.py.
    global _worker_info, _arena
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the main process stops us
    seed = seed_worker(base_seed, worker_id)
    _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
    _arena = shm.WorkerArena(worker_id, f"{shm_prefix}{worker_id}_")
    where = f"in DataLoader worker process {worker_id}"
    init_error = None
    try:
        if init_fn is not None:
            init_fn(worker_id)
        fetcher = create_fetcher(iterable, dataset, auto_collation, collate_fn, drop_last)
    except Exception:  # noqa: BLE001 any error of the user's code is re-raised in the main process
        init_error = ExceptionWrapper(where)
    iteration_end = False
    try:
        while os.getppid() == parent_pid:  # the parent's pid, not our first getppid(): it may die while we start
            try:
                r = index_queue.get(timeout=PARENT_CHECK_S)
            except queue.Empty:
                continue
            if isinstance(r, _ResumeIteration):
                result_queue.put((r, None))
                iteration_end = False
                fetcher = create_fetcher(iterable, dataset, auto_collation, collate_fn, drop_last)
                continue
            if r is None:
                break
            idx, index, returned = r
            _arena.take_back(returned)
            if done_event.is_set() or iteration_end:
                continue
            if init_error is not None:
                data, init_error = init_error, None
            else:
                try:
                    data = shm.dumps(fetcher.fetch(index), _arena)
                except Exception as e:  # noqa: BLE001 as above
                    if iterable and isinstance(e, StopIteration):
                        data, iteration_end = _IterableDatasetStopIteration(worker_id), True
                    else:
                        data = ExceptionWrapper(where)
                finally:
                    _arena.end_batch()
            result_queue.put((idx, data))
    finally:
        _arena.close()
        if done_event.is_set() or os.getppid() != parent_pid:
            # The whole pool is shutting down or the parent died: nobody drains the pipe, so exit without flushing.
            result_queue.cancel_join_thread()
        # Otherwise (one worker stopped mid-epoch, e.g. its IterableDataset share ran dry) exit only after the
        # feeder thread has flushed and released the queue's writer lock, which the other workers share: a process
        # that exits while holding it leaves them blocked forever (as PyTorch's worker loop does).
