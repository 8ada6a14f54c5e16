"""DataLoader: batches from a dataset, loaded in the main process or in worker processes."""
from __future__ import annotations

import collections
import itertools
import math
import multiprocessing
import multiprocessing.context
import os
import queue
import signal
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from . import shm
from .collate import default_collate, default_convert
from .dataset import IterableDataset
from .fetch import create_fetcher
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, new_seed
from .worker import ExceptionWrapper, _IterableDatasetStopIteration, _ResumeIteration, _worker_loop

# NOTE [ DataLoader worker protocol ]
#
# Processes and queues, as in PyTorch: worker w reads index_queues[w]; every worker writes to one result_queue; one
# done_event. Messages:
#   main -> worker   (send_idx, index, returned)  fetch and collate batch number send_idx; `returned` lists segments
#                                                 the main process no longer maps (see shared memory below)
#                    _ResumeIteration()           persistent workers, each epoch after the first: rebuild the fetcher
#                                                 (a fresh iter() of an IterableDataset) and echo the message back
#                    None                         exit
#   worker -> main   (send_idx, bytes)            the batch, pickled by shm.dumps
#                    (send_idx, ExceptionWrapper) the worker's exception with its formatted traceback; the main process
#                                                 re-raises it as "Caught <type> in DataLoader worker process <id>"
#                    (send_idx, _IterableDatasetStopIteration(worker_id))   this worker's iterator is exhausted
#
# Order. The sampler runs in the main process only. Batch send_idx goes to the next worker round-robin that still has
# data; at most prefetch_factor * num_workers batches are outstanding. Results arrive in any order and wait in
# task_info until every earlier batch has been yielded, so batches come out in sampler order; with in_order=False a
# batch is yielded as soon as it arrives, and a worker gets a new index only while it has fewer than its share
# (prefetch_factor * num_workers // active workers) outstanding, so one slow worker cannot hold every slot. An
# IterableDataset worker that runs dry answers _IterableDatasetStopIteration; it gets no more work this epoch, and the
# epoch ends when every batch sent has been answered and the sampler (or every worker) is exhausted.
#
# Seeds. Each epoch the main process draws base_seed from loader.generator (or distgrad's default generator) whatever
# num_workers is, so the sampler's random stream, hence the batch order, does not depend on num_workers. Worker w
# seeds distgrad and Python's random with base_seed + w, and NumPy's global RNG with PyTorch's
# SeedSequence([w, base_seed & 0xFFFFFFFF, base_seed >> 32, 0]) state (worker.seed_worker). Persistent workers are
# seeded once, when they start; base_seed is drawn every epoch all the same, so the stream stays the same.
#
# Shared memory. A worker writes each tensor (and each NumPy array of at least shm.MIN_SHARED_NBYTES) of a batch into a
# POSIX shared-memory segment named dg<main pid>_<iterator id>_<worker id>_<n>: default_collate stacks straight into
# one, anything else is copied there while pickling. The pickle carries only the segment's name, shape and dtype. The
# main process maps the segment and wraps it with distgrad.from_numpy, without a copy; the mapping lives as long as any
# tensor or view over it. When the last one dies, a weakref finalizer queues the name, and the next index message to
# that worker returns it: the worker keeps up to shm.FREE_SEGMENTS of them mapped and reuses one for the next batch of
# that size (rewriting mapped pages runs at memcpy speed; a fresh segment faults in and zeroes every page first), unless
# the worker itself still holds that batch, in which case it unlinks it. Each worker unlinks all its segments when it
# exits; mappings in the main process stay valid. After the workers are joined, the main process unlinks whatever still
# has the iterator's prefix (segments of a worker that was killed, or results never read), so /dev/shm keeps nothing.
# Every segment is unlinked by exactly one of these.
#
# Failure and shutdown. The main process waits for results POLL_INTERVAL_S at a time and after each wait checks its
# workers: one that exited unexpectedly raises RuntimeError "DataLoader worker (pid(s) ...) exited unexpectedly" or,
# when a signal killed it, "DataLoader worker (pid N) is killed by signal: ...", after the other workers are stopped.
# loader.timeout > 0 bounds each wait ("DataLoader timed out after N seconds"). Workers ignore SIGINT (Ctrl-C reaches
# the whole process group; the main process gets KeyboardInterrupt and stops them), exit when the main process dies
# (checked every PARENT_CHECK_S), and never wait at exit to flush results into a pipe nobody reads.
# Shutdown (end of epoch without persistent workers, garbage collection of the iterator, or interpreter exit, through
# weakref.finalize): set done_event, send None to every worker, join for up to SHUTDOWN_JOIN_S, terminate then kill
# what is left, and join each one, so no process is left orphaned or a zombie; then unlink leftover segments.

POLL_INTERVAL_S = 0.1  # how often the main process, waiting for a batch, checks that its workers are alive
SHUTDOWN_JOIN_S = 5.0  # how long shutdown lets workers finish the sample in hand before terminating them
_iterator_ids = itertools.count()


def _default_context() -> multiprocessing.context.BaseContext:
    """The start method set with multiprocessing.set_start_method, else fork where the platform has it (workers start
    in milliseconds), else the platform's default."""
    if multiprocessing.get_start_method(allow_none=True) is None and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


class _InfiniteConstantSampler(Sampler[None]):
    """The sampler of an IterableDataset: the dataset, not indices, decides what comes next."""

    def __iter__(self) -> Iterator[None]:
        while True:
            yield None


class DataLoader:
    """Iterate over a dataset in batches, optionally shuffled and loaded by worker processes.

    Differs from PyTorch: pin_memory and pin_memory_device are accepted and ignored (a no-op on the cpu device)."""

    _initialized = False

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Sampler | Iterable | None = None, batch_sampler: Sampler | Iterable | None = None,
                 num_workers: int = 0, collate_fn: Callable | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn: Callable[[int], None] | None = None,
                 multiprocessing_context: str | multiprocessing.context.BaseContext | None = None,
                 generator: Any = None, *, prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing.let num_workers > 0 "
                             "to enable multiprocessing, otherwise set prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        self.dataset, self.num_workers, self.prefetch_factor = dataset, num_workers, prefetch_factor
        self.pin_memory, self.timeout, self.worker_init_fn = pin_memory, timeout, worker_init_fn
        self.pin_memory_device, self.in_order = pin_memory_device, in_order
        self.multiprocessing_context = multiprocessing_context

        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle not in {False, None}:
                raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle option, "
                                 f"but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler option, "
                                 f"but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified batch_sampler option, "
                                 f"but got batch_sampler={batch_sampler}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")
        if sampler is None:
            if self._iterable:
                sampler = _InfiniteConstantSampler()
            else:
                sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size, self.drop_last, self.sampler = batch_size, drop_last, sampler
        self.batch_sampler = batch_sampler
        self.generator, self.persistent_workers = generator, persistent_workers
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._iterator: _MultiProcessingDataLoaderIter | None = None
        self._IterableDataset_len_called: int | None = None  # what len(self) said, for the warning in __next__
        self._initialized = True

    @property
    def multiprocessing_context(self) -> multiprocessing.context.BaseContext | None:
        """The multiprocessing context workers start from; None: the one set_start_method chose, else fork."""
        return self._multiprocessing_context

    @multiprocessing_context.setter
    def multiprocessing_context(self, context: str | multiprocessing.context.BaseContext | None) -> None:
        if context is not None:
            if self.num_workers == 0:
                raise ValueError("multiprocessing_context can only be used with multi-process loading "
                                 f"(num_workers > 0), but got num_workers={self.num_workers}")
            if isinstance(context, str):
                valid_start_methods = multiprocessing.get_all_start_methods()
                if context not in valid_start_methods:
                    raise ValueError("multiprocessing_context option should specify a valid start method in "
                                     f"{valid_start_methods!r}, but got multiprocessing_context={context!r}")
                context = multiprocessing.get_context(context)
            if not isinstance(context, multiprocessing.context.BaseContext):
                raise TypeError("multiprocessing_context option should be a valid context object or a string "
                                f"specifying the start method, but got multiprocessing_context={context}")
        self._multiprocessing_context = context

    def __setattr__(self, attr: str, val: Any) -> None:
        if self._initialized and attr in ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset",
                                          "persistent_workers"):
            raise ValueError(f"{attr} attribute should not be set after {type(self).__name__} is initialized")
        super().__setattr__(attr, val)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self) -> Sampler | Iterable:
        return self.batch_sampler if self._auto_collation else self.sampler

    def __iter__(self) -> _BaseDataLoaderIter:
        if self.num_workers == 0:
            return _SingleProcessDataLoaderIter(self)
        if not self.persistent_workers:
            return _MultiProcessingDataLoaderIter(self)
        if self._iterator is None:
            self._iterator = _MultiProcessingDataLoaderIter(self)
        else:
            self._iterator._reset(self)
        return self._iterator

    def __len__(self) -> int:
        if not self._iterable:
            return len(self._index_sampler)
        length = len(self.dataset)  # the dataset's own claim; with workers it is each replica's business to split
        if self.batch_size is not None:
            length = length // self.batch_size if self.drop_last else math.ceil(length / self.batch_size)
        self._IterableDataset_len_called = length
        return length


class _BaseDataLoaderIter:
    def __init__(self, loader: DataLoader) -> None:
        self._dataset, self._iterable, self._auto_collation = loader.dataset, loader._iterable, loader._auto_collation
        self._drop_last, self._collate_fn = loader.drop_last, loader.collate_fn
        self._index_sampler = loader._index_sampler
        self._start_epoch(loader)

    def _start_epoch(self, loader: DataLoader) -> None:
        if loader.pin_memory and loader.pin_memory_device:
            warnings.warn("pin_memory_device is deprecated, the current accelerator will be used as the device,"
                          f"ignore pin_memory_device='{loader.pin_memory_device}'.", stacklevel=3)
        self._sampler_iter = iter(self._index_sampler)
        self._base_seed = new_seed(loader.generator)  # drawn every epoch: see NOTE [ DataLoader worker protocol ]
        self._num_yielded, self._len_called = 0, loader._IterableDataset_len_called

    def __iter__(self) -> _BaseDataLoaderIter:
        return self

    def __next__(self) -> Any:
        data = self._next_data()
        self._num_yielded += 1
        if self._iterable and self._len_called is not None and self._num_yielded > self._len_called:
            # The classic cause: every worker iterates the whole IterableDataset (see get_worker_info).
            warnings.warn(f"Length of IterableDataset {self._dataset} was reported to be {self._len_called}(when "
                          f"accessing len(dataloader)), but {self._num_yielded} samples have been fetched. ",
                          stacklevel=2)
        return data

    def __len__(self) -> int:
        return len(self._index_sampler)

    def _next_data(self) -> Any:
        raise NotImplementedError


class _SingleProcessDataLoaderIter(_BaseDataLoaderIter):
    def __init__(self, loader: DataLoader) -> None:
        super().__init__(loader)
        if loader.timeout != 0:
            raise AssertionError("_SingleProcessDataLoaderIter requires timeout == 0")
        self._fetcher = create_fetcher(self._iterable, self._dataset, self._auto_collation, self._collate_fn,
                                       self._drop_last)

    def _next_data(self) -> Any:
        return self._fetcher.fetch(next(self._sampler_iter))  # either may raise StopIteration


class _WorkerPool:
    """The worker processes of one iterator and their queues; see NOTE [ DataLoader worker protocol ]."""

    def __init__(self, loader: DataLoader, base_seed: int) -> None:
        context = loader.multiprocessing_context or _default_context()
        n = loader.num_workers
        self.timeout = loader.timeout
        self.shm_prefix = f"dg{os.getpid()}_{next(_iterator_ids)}_"
        self.returned: list[collections.deque] = [collections.deque() for _ in range(n)]
        self.stopped = [False] * n  # sent None
        self.closed = False
        self.done_event = context.Event()
        self.result_queue = context.Queue()
        self.index_queues, self.workers = [], []
        for worker_id in range(n):
            index_queue = context.Queue()
            index_queue.cancel_join_thread()  # never block our exit on a dead worker's pipe
            w = context.Process(target=_worker_loop, daemon=True, args=(
                loader._iterable, loader.dataset, index_queue, self.result_queue, self.done_event,
                loader._auto_collation, loader.collate_fn, loader.drop_last, base_seed, loader.worker_init_fn,
                worker_id, n, self.shm_prefix, os.getpid()))
            w.start()
            self.index_queues.append(index_queue)
            self.workers.append(w)

    def send(self, worker_id: int, send_idx: int, index: Any) -> None:
        returned = self.returned[worker_id]
        names = [returned.popleft() for _ in range(len(returned))]
        self.index_queues[worker_id].put((send_idx, index, names))

    def stop(self, worker_id: int) -> None:
        """Tell one worker to exit; it is joined at shutdown."""
        if not self.stopped[worker_id]:
            self.stopped[worker_id] = True
            self.index_queues[worker_id].put(None)

    def get(self) -> tuple[Any, Any]:
        """The next (send_idx, data) from any worker; raises if a worker died or loader.timeout passed."""
        deadline = time.monotonic() + self.timeout if self.timeout > 0 else None
        while True:
            wait = POLL_INTERVAL_S if deadline is None else max(0.0, min(POLL_INTERVAL_S, deadline - time.monotonic()))
            try:
                idx, data = self.result_queue.get(timeout=wait)
            except queue.Empty:
                self._check_workers()
                if deadline is not None and time.monotonic() >= deadline:
                    raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds") from None
                continue
            return idx, shm.loads(data, self.returned) if isinstance(data, bytes) else data

    def _check_workers(self) -> None:
        failed = [(i, w) for i, w in enumerate(self.workers) if not self.stopped[i] and not w.is_alive()]
        if not failed:
            return
        self.shutdown()
        killed = [(i, w) for i, w in failed if w.exitcode is not None and w.exitcode < 0]
        if killed:
            i, w = killed[0]
            sig = signal.Signals(-w.exitcode)
            hint = f" ({shm.SHM_DIR} may be full: batches travel through it)" if sig == signal.SIGBUS else ""
            raise RuntimeError(f"DataLoader worker (pid {w.pid}) is killed by signal: {signal.strsignal(sig)}. "
                               f"\n  worker {i} received {sig.name}{hint}")
        raise RuntimeError(f"DataLoader worker (pid(s) {', '.join(str(w.pid) for _, w in failed)}) exited "
                           "unexpectedly\n  " + ", ".join(f"worker {i} exit code {w.exitcode}" for i, w in failed))

    def resume(self) -> None:
        """Start another epoch on persistent workers; results of the previous one still in flight are dropped."""
        for q in self.index_queues:
            q.put(_ResumeIteration())
        pending = len(self.workers)
        while pending:
            idx, _ = self.get()
            pending -= isinstance(idx, _ResumeIteration)

    def shutdown(self) -> None:
        """Stop and join every worker, then unlink segments nobody will read; idempotent."""
        if self.closed:
            return
        self.closed = True
        try:
            self.done_event.set()
            for worker_id in range(len(self.workers)):
                self.stop(worker_id)
            deadline = time.monotonic() + SHUTDOWN_JOIN_S
            for w in self.workers:
                w.join(timeout=max(0.0, deadline - time.monotonic()))
        finally:
            for w in self.workers:
                if w.is_alive():
                    w.terminate()
                    w.join(timeout=1.0)
                if w.is_alive():
                    w.kill()
                    w.join()
            for q in (*self.index_queues, self.result_queue):
                q.cancel_join_thread()
                q.close()
            shm.unlink_prefix(self.shm_prefix)


class _MultiProcessingDataLoaderIter(_BaseDataLoaderIter):
    def __init__(self, loader: DataLoader) -> None:
        if loader.prefetch_factor <= 0:
            raise AssertionError("prefetch_factor must be greater than 0 for MultiProcessingDataLoaderIter")
        super().__init__(loader)
        self._num_workers, self._prefetch_factor = loader.num_workers, loader.prefetch_factor
        self._persistent_workers, self._in_order = loader.persistent_workers, loader.in_order
        self._pool = _WorkerPool(loader, self._base_seed)
        self._shutdown = weakref.finalize(self, self._pool.shutdown)
        self._start_tasks()

    def _reset(self, loader: DataLoader) -> None:
        """Start another epoch on the same (persistent) workers."""
        self._start_epoch(loader)
        self._pool.resume()
        self._start_tasks()

    def _start_tasks(self) -> None:
        self._send_idx = self._rcvd_idx = self._tasks_outstanding = 0
        # task_info[send_idx] is (worker_id,) while outstanding, (worker_id, data) once received out of order.
        self._task_info: dict[int, tuple] = {}
        self._workers_status = [True] * self._num_workers  # still has data this epoch
        self._workers_num_tasks = [0] * self._num_workers  # sent and not yet yielded
        self._worker_queue_idx_cycle = itertools.cycle(range(self._num_workers))
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    def _try_put_index(self) -> None:
        max_tasks = self._prefetch_factor * self._num_workers
        for _ in range(self._num_workers):
            worker_id = next(self._worker_queue_idx_cycle)
            if self._workers_status[worker_id] and (
                    self._in_order or self._workers_num_tasks[worker_id] < max_tasks // sum(self._workers_status)):
                break
        else:
            return
        try:
            index = next(self._sampler_iter)
        except StopIteration:
            return
        self._pool.send(worker_id, self._send_idx, index)
        self._task_info[self._send_idx] = (worker_id,)
        self._workers_num_tasks[worker_id] += 1
        self._tasks_outstanding += 1
        self._send_idx += 1

    def _next_data(self) -> Any:
        while True:
            # Skip batches already yielded out of order, and those of workers that ran dry before answering them.
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx)
                if info is not None and (len(info) == 2 or self._workers_status[info[0]]):
                    break
                self._task_info.pop(self._rcvd_idx, None)
                self._rcvd_idx += 1
            else:
                if not self._persistent_workers:
                    self._shutdown()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:
                worker_id, data = self._task_info.pop(self._rcvd_idx)
                self._rcvd_idx += 1
                return self._process_data(worker_id, data)
            idx, data = self._pool.get()
            self._tasks_outstanding -= 1
            if isinstance(data, _IterableDatasetStopIteration):
                self._workers_status[data.worker_id] = False
                if not self._persistent_workers:
                    self._pool.stop(data.worker_id)
                self._try_put_index()
            elif idx != self._rcvd_idx and self._in_order:
                self._task_info[idx] += (data,)
            else:
                if idx == self._rcvd_idx:
                    self._rcvd_idx += 1
                return self._process_data(self._task_info.pop(idx)[0], data)

    def _process_data(self, worker_id: int, data: Any) -> Any:
        self._workers_num_tasks[worker_id] -= 1
        self._try_put_index()
        if isinstance(data, ExceptionWrapper):
            data.reraise()
        return data
