"""DataLoader worker processes: order, seeds, shared-memory transport, failures and shutdown (real processes)."""
import collections
import faulthandler
import gc
import mmap
import os
import random
import resource
import signal
import subprocess
import sys
import textwrap
import time
from itertools import chain
from pathlib import Path

import numpy as np
import pytest

import distgrad
from distgrad.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info, shm
from distgrad.utils.data.dataloader import SHUTDOWN_JOIN_S

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.isdir("/proc") or not os.path.isdir(shm.SHM_DIR),
                       reason="checks the process table in /proc and segments in /dev/shm (Linux)"),
]
WATCHDOG_S = 30  # no test may hang: a blocked test fails with TimeoutError instead


@pytest.fixture(autouse=True)
def watchdog():
    def expire(signum, frame):
        raise TimeoutError(f"test still running after {WATCHDOG_S} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(WATCHDOG_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def segments(pid: int) -> list[str]:
    """Shared-memory segments left by DataLoaders of process pid."""
    return [name for name in os.listdir(shm.SHM_DIR) if name.startswith(f"dg{pid}_")]


def gone(pid: int) -> bool:
    """True once pid is neither running nor a zombie (reaped by its parent)."""
    return not os.path.exists(f"/proc/{pid}")


def exited(pid: int) -> bool:
    """True once pid has exited, reaped or not."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_until(condition, pids, timeout_s: float = SHUTDOWN_JOIN_S + 5) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not all(condition(p) for p in pids):
        time.sleep(0.05)
    return all(condition(p) for p in pids)


def wait_gone(pids) -> bool:
    return wait_until(gone, pids)


def wait_exited(pid: int) -> bool:
    return wait_until(exited, [pid])


class Probe(Dataset):
    """Sample i: (i, worker pid); sleeps in the samples listed, fails on request."""

    def __init__(self, n: int, sleep: dict | None = None, fail_at: int = -1, exc: type = ValueError) -> None:
        self.n, self.sleep, self.fail_at, self.exc = n, sleep or {}, fail_at, exc

    def __getitem__(self, i: int):
        time.sleep(self.sleep.get(i, 0))
        if i == self.fail_at:
            raise self.exc(f"bad sample {i}")
        return i, os.getpid()

    def __len__(self) -> int:
        return self.n


class Big(Dataset):
    """Sample i: a 256 KiB float32 array filled with i (large enough for shared memory), and the worker's pid."""

    def __init__(self, n: int, kill_at: int = -1, exit_at: int = -1, sig: int = signal.SIGKILL) -> None:
        self.n, self.kill_at, self.exit_at, self.sig = n, kill_at, exit_at, sig

    def __getitem__(self, i: int):
        if i == self.kill_at:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGBUS would dump core
            faulthandler.disable()  # and pytest's handler would print its report
            os.kill(os.getpid(), self.sig)
        if i == self.exit_at:
            os._exit(3)
        return np.full((256, 256), i, np.float32), os.getpid()

    def __len__(self) -> int:
        return self.n


def worker_pids(batches) -> set[int]:
    return {p for _, pids in batches for p in pids.tolist()}


def test_batches_come_back_in_sampler_order_when_workers_finish_out_of_order():
    ds = Probe(12, sleep={0: 0.3, 1: 0.3})  # worker 0's first batch is the slowest
    batches = list(DataLoader(ds, batch_size=2, num_workers=2))
    assert [b[0].tolist() for b in batches] == [[2 * k, 2 * k + 1] for k in range(6)]
    assert len(worker_pids(batches)) == 2 and os.getpid() not in worker_pids(batches)


class AfterBatchOne(Dataset):
    """Sample i is i; sample 0 waits until sample 3 (batch 1 at batch_size 2) was loaded, then 0.2 s more, so worker
    0's first batch is the last of the first two whatever the machine's load."""

    def __init__(self, n: int, marker: Path) -> None:
        self.n, self.marker = n, marker

    def __getitem__(self, i: int) -> int:
        if i == 3:
            self.marker.touch()
        if i == 0:
            deadline = time.monotonic() + WATCHDOG_S
            while not self.marker.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            self.marker.unlink()  # the next epoch waits again
            time.sleep(0.2)
        return i

    def __len__(self) -> int:
        return self.n


def test_in_order_false_yields_batches_as_workers_finish_them(tmp_path):
    loader = DataLoader(AfterBatchOne(12, tmp_path / "batch1"), batch_size=2, num_workers=2, in_order=False,
                        persistent_workers=True)
    for _ in range(2):  # the second epoch reuses the workers: per-worker task counts start again from zero
        batches = [b.tolist() for b in loader]
        assert batches.index([0, 1]) > batches.index([2, 3])
        assert sorted(batches) == [[2 * k, 2 * k + 1] for k in range(6)]


def test_batch_order_is_the_same_whatever_num_workers():
    def run(num_workers: int, seed_generator: bool = False, **kwargs) -> list[list[int]]:
        distgrad.manual_seed(123)
        generator = distgrad.Generator().manual_seed(7) if seed_generator else None
        loader = DataLoader(Probe(23), batch_size=4, shuffle=True, num_workers=num_workers, generator=generator,
                            **kwargs)
        return [[b[0].tolist() for b in loader] for _ in range(2)]
    reference = run(0)
    assert reference[0] != reference[1] and sorted(chain(*reference[0])) == list(range(23))
    assert run(1) == run(2) == run(2, persistent_workers=True) == run(2, prefetch_factor=1) == reference
    assert run(0, seed_generator=True) == run(2, seed_generator=True) != reference


def test_spawned_workers_share_memory_reraise_and_clean_up():
    loader = DataLoader(Big(6), batch_size=2, num_workers=2, multiprocessing_context="spawn")
    batches = list(loader)
    assert [b[0][:, 0, 0].tolist() for b in batches] == [[0, 1], [2, 3], [4, 5]] and len(worker_pids(batches)) == 2
    with pytest.raises(ValueError, match="Caught ValueError in DataLoader worker process 1"):
        list(DataLoader(Probe(4, fail_at=1), num_workers=2, multiprocessing_context="spawn"))
    assert wait_gone(worker_pids(batches)) and segments(os.getpid()) == []


def test_worker_seeds_and_worker_info():
    class Seeds(Dataset):
        def __getitem__(self, i):
            info = get_worker_info()
            return (info.id, info.num_workers, info.seed, info.dataset is self, random.random(), np.random.random(),
                    distgrad.rand(1).item())

        def __len__(self):
            return 2

    g = distgrad.Generator()
    g.manual_seed(99)
    rows = list(DataLoader(Seeds(), batch_size=None, num_workers=2, generator=g))
    assert [r[:2] for r in rows] == [[0, 2], [1, 2]] and all(r[3] for r in rows)  # tuples come back as lists
    base_seed = rows[0][2]
    assert rows[1][2] == base_seed + 1
    assert [r[4] for r in rows] == [random.Random(base_seed + w).random() for w in range(2)]
    assert len({r[5] for r in rows}) == 2 and len({r[6] for r in rows}) == 2
    g.manual_seed(99)
    assert list(DataLoader(Seeds(), batch_size=None, num_workers=2, generator=g)) == rows


def test_worker_init_fn_runs_in_each_worker_with_its_id():
    def init(worker_id):
        os.environ["DG_TEST_WORKER"] = str(worker_id)

    class Env(Dataset):
        def __getitem__(self, i):
            return int(os.environ["DG_TEST_WORKER"]) == get_worker_info().id

        def __len__(self):
            return 4

    assert list(DataLoader(Env(), batch_size=None, num_workers=2, worker_init_fn=init)) == [True] * 4


def test_worker_exception_reraises_with_worker_id_and_original_traceback():
    loader = DataLoader(Probe(8, fail_at=5), batch_size=2, num_workers=2)
    it = iter(loader)
    assert next(it)[0].tolist() == [0, 1] and next(it)[0].tolist() == [2, 3]
    with pytest.raises(ValueError, match=r"Caught ValueError in DataLoader worker process 0\.\nOriginal Traceback") \
            as info:
        next(it)
    assert "in __getitem__" in str(info.value) and "bad sample 5" in str(info.value)
    assert next(it)[0].tolist() == [6, 7]  # the other batches still arrive, as in PyTorch


def test_tensors_keep_requires_grad_across_processes_and_non_leaves_are_refused():
    class Params(Dataset):
        def __getitem__(self, i):
            w = distgrad.ones(3, requires_grad=True)
            return w if i == 0 else w * 2

        def __len__(self):
            return 2

    it = iter(DataLoader(Params(), batch_size=None, num_workers=1))
    w = next(it)
    assert w.requires_grad and w.is_leaf and w.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(RuntimeError, match="Cowardly refusing to serialize non-leaf tensor which requires_grad"):
        next(it)


def test_worker_key_error_message_stays_readable():
    with pytest.raises(KeyError, match="Caught KeyError in DataLoader worker process 0") as info:
        list(DataLoader(Probe(2, fail_at=0, exc=KeyError), num_workers=1))
    assert "\\n" not in str(info.value)


def test_worker_init_fn_exception_reraises():
    def init(worker_id):
        raise RuntimeError(f"no setup for {worker_id}")
    with pytest.raises(RuntimeError, match="Caught RuntimeError in DataLoader worker process 0") as info:
        list(DataLoader(Probe(4), num_workers=2, worker_init_fn=init))
    assert "no setup for 0" in str(info.value)


@pytest.mark.parametrize("sig, text, hint", [
    (signal.SIGKILL, "Killed", "worker 0 received SIGKILL"),
    (signal.SIGBUS, "Bus error", "worker 0 received SIGBUS (/dev/shm may be full"),
])
def test_worker_killed_by_signal_raises_and_leaves_nothing_behind(sig, text, hint):
    loader = DataLoader(Big(40, kill_at=9, sig=sig), batch_size=2, num_workers=2)
    seen = []
    with pytest.raises(RuntimeError, match=rf"DataLoader worker \(pid \d+\) is killed by signal: {text}\.") as info:
        seen.extend(loader)
    assert hint in str(info.value)
    assert wait_gone(worker_pids(seen)) and segments(os.getpid()) == []


def test_worker_exiting_raises_and_leaves_nothing_behind():
    seen = []
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited unexpectedly") as info:
        seen.extend(DataLoader(Big(40, exit_at=2), batch_size=2, num_workers=2))
    assert "worker 1 exit code 3" in str(info.value)
    assert wait_gone(worker_pids(seen)) and segments(os.getpid()) == []


def test_timeout_raises():
    loader = DataLoader(Probe(4, sleep={0: 2.0}), num_workers=1, timeout=0.2)
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0\.2 seconds"):
        next(iter(loader))


def test_breaking_out_and_gc_leave_no_process_and_no_segment():
    loader = DataLoader(Big(64), batch_size=4, num_workers=2)
    batches = []
    for batch in loader:
        batches.append(batch)
        if len(batches) == 3:
            break
    pids = worker_pids(batches)
    del batch
    gc.collect()
    assert len(pids) == 2 and wait_gone(pids) and segments(os.getpid()) == []
    assert [b[0][1, 0, 0].item() for b in batches] == [1.0, 5.0, 9.0]  # batches outlive their segments' names


def test_persistent_workers_survive_epochs_and_go_with_the_loader():
    loader = DataLoader(Big(10), batch_size=4, num_workers=2, persistent_workers=True)
    first = list(loader)
    partial = next(iter(loader))  # an epoch left early: its batches in flight are dropped at the next one
    second = list(loader)
    assert [b[0][:, 0, 0].tolist() for b in second] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    pids = worker_pids(first)
    assert len(pids) == 2 and worker_pids([partial, *second]) == pids
    del loader, first, partial, second
    gc.collect()
    assert wait_gone(pids) and segments(os.getpid()) == []


def test_shared_memory_batches_are_mapped_without_a_copy_and_recycled():
    loader = DataLoader(Big(6), batch_size=2, num_workers=1, persistent_workers=True)
    it = iter(loader)
    images, _ = next(it)
    writes = 0
    for name in segments(os.getpid()):  # the worker keeps its segments linked while it lives
        fd = os.open(os.path.join(shm.SHM_DIR, name), os.O_RDWR)
        with mmap.mmap(fd, 0) as other_mapping:
            os.close(fd)
            other = np.ndarray((2, 256, 256), np.float32, buffer=other_mapping)
            if other[0, 0, 0] == 0 and other[1, 0, 0] == 1:  # the segment of the first batch
                other[1, 0, 0] = -7.0
                writes += 1
            del other
    assert writes == 1 and images[1, 0, 0].item() == -7.0  # the tensor reads the segment itself
    del images
    gc.collect()
    rest = [b[0][:, 0, 0].tolist() for b in it]
    assert rest == [[2, 3], [4, 5]] and len(segments(os.getpid())) <= 2 + shm.FREE_SEGMENTS


def test_iterable_dataset_each_worker_iterates_its_share():
    class Shards(IterableDataset):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            info = get_worker_info()
            per_worker = -(-self.n // info.num_workers)  # worker 0 gets 7 of 10, worker 1 gets 3
            start = info.id * per_worker
            return iter(range(start, min(start + per_worker, self.n)))

    for batch_size in (2, None):
        for persistent in (False, True):
            loader = DataLoader(Shards(10), batch_size=batch_size, num_workers=2, persistent_workers=persistent)
            for _ in range(2):
                out = [v for b in loader for v in (b.tolist() if batch_size else [b])]
                assert sorted(out) == list(range(10))


def test_transport_of_nested_batches_with_large_and_small_arrays():
    class Mixed(Dataset):
        def __getitem__(self, i):
            return {"big": np.full(20000, i, np.int64), "small": np.arange(3) + i, "text": f"#{i}"}

        def __len__(self):
            return 5

    def keep_numpy(samples):
        return {"big": np.stack([s["big"] for s in samples]), "text": [s["text"] for s in samples],
                "small": distgrad.from_numpy(np.stack([s["small"] for s in samples]))}

    batches = list(DataLoader(Mixed(), batch_size=2, num_workers=2, collate_fn=keep_numpy))
    assert [b["big"][:, -1].tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    assert isinstance(batches[0]["big"], np.ndarray) and batches[2]["small"].tolist() == [[4, 5, 6]]
    assert batches[1]["text"] == ["#2", "#3"]


STOPPED_SCRIPT = textwrap.dedent("""\
    import os, sys, time
    import numpy as np
    from distgrad.utils.data import DataLoader, Dataset

    class Slow(Dataset):
        def __getitem__(self, i):
            time.sleep(0.02)
            return np.zeros((128, 256), np.float32), os.getpid()

        def __len__(self):
            return 10 ** 6

    if __name__ == "__main__":
        pids = set()
        for images, worker in DataLoader(Slow(), batch_size=2, num_workers=2):
            pids.update(worker.tolist())
            if len(pids) == 2 and sys.argv[1] == "report":
                print(*pids, flush=True)
                sys.argv[1] = "reported"
    """)


@pytest.mark.parametrize("how", ["ctrl-c", "sigkill"])
def test_stopping_the_main_process_leaves_no_process_and_no_segment(tmp_path, how):
    script = tmp_path / "stopped.py"
    script.write_text(STOPPED_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), "report"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2
        if how == "ctrl-c":  # what a terminal does: SIGINT to the whole foreground process group
            for pid in (proc.pid, *pids):
                os.kill(pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    if how == "ctrl-c":
        assert "KeyboardInterrupt" in err and proc.returncode != 0
        assert wait_gone(pids)  # joined by the main process: neither orphans nor zombies
    else:
        assert proc.returncode == -signal.SIGKILL
        assert wait_until(exited, pids)  # orphans notice within PARENT_CHECK_S (init may leave them zombies)
    assert segments(proc.pid) == []


def test_arena_recycles_returned_segments_and_unlinks_each_once():
    arena = shm.WorkerArena(0, f"dg{os.getpid()}_arena_")
    returned = [collections.deque()]
    try:
        batch = distgrad.from_numpy(np.stack([np.full(shm.MIN_SHARED_NBYTES // 8, i, np.float32) for i in range(2)],
                                             out=arena.empty((2, shm.MIN_SHARED_NBYTES // 8), np.dtype(np.float32))))
        payload = shm.dumps({"x": batch, "small": np.arange(3)}, arena)
        [first] = segments(os.getpid())
        del batch  # the worker drops its batch once sent
        received = shm.loads(payload, returned)
        assert received["x"][1, 0].item() == 1.0 and received["small"].tolist() == [0, 1, 2]
        assert returned[0] == collections.deque()  # mapped while the batch lives
        del received
        gc.collect()
        assert list(returned[0]) == [first]
        arena.take_back([returned[0].popleft()])
        assert [name for name, _ in arena.free] == [first] and segments(os.getpid()) == [first]
        copied = np.ones(shm.MIN_SHARED_NBYTES // 4, np.float32)  # not in a segment: copied into the free one
        assert shm.loads(shm.dumps(copied, arena), returned).sum() == copied.size and arena.free == collections.deque()
        gc.collect()
        held = arena.empty((shm.MIN_SHARED_NBYTES,), np.dtype(np.uint8))  # the worker still holds this one
        shm.dumps(held, arena)
        arena.take_back([returned[0].popleft(), *(name for name in arena.lent if name != first)])
        assert [name for name, _ in arena.free] == [first] and segments(os.getpid()) == [first]
        arena.empty((3, shm.MIN_SHARED_NBYTES), np.dtype(np.uint8))  # written, never sent
        arena.end_batch()
        assert segments(os.getpid()) == [first]
    finally:
        arena.close()
    assert segments(os.getpid()) == []


def test_worker_that_runs_dry_exits_and_unlinks_its_segments():
    class Uneven(IterableDataset):
        def __iter__(self):
            n = 1 if get_worker_info().id == 1 else 40
            return ((np.full((256, 256), get_worker_info().id, np.float32), os.getpid()) for _ in range(n))

    it = iter(DataLoader(Uneven(), batch_size=None, num_workers=2))
    _, pid0 = next(it)
    held, pid1 = next(it)  # worker 1's only sample
    for _ in range(3):  # reading on, the main process learns that worker 1 ran dry and tells it to exit
        next(it)
    assert wait_exited(pid1) and not exited(pid0)  # a zombie until the iterator's shutdown joins it, as in PyTorch
    assert [name for name in segments(os.getpid()) if name.split("_")[2] == "1"] == []
    assert held[0, 0].item() == 1.0  # its batch outlives the name


class _RecordingQueue:
    """Stands in for the worker's result queue: records puts and whether the feeder flush was cancelled."""

    def __init__(self):
        self.items, self.cancelled = [], False

    def put(self, item):
        self.items.append(item)

    def cancel_join_thread(self):
        self.cancelled = True


class _Stop:
    def get(self, timeout=None):
        return None


@pytest.mark.parametrize("shutting_down", [False, True])
def test_a_worker_stopped_mid_epoch_flushes_its_queue_before_exiting(shutting_down, monkeypatch):
    """A worker stopped alone (its IterableDataset share ran dry) must exit only after its feeder thread released the
    result queue's writer lock, which its siblings share; one that exited holding it hung them (seen in CI). Only a
    pool shutdown (done_event set) may skip the flush."""
    import multiprocessing

    from distgrad.utils.data import worker
    done = multiprocessing.Event()
    if shutting_down:
        done.set()
    results = _RecordingQueue()
    monkeypatch.setattr(worker, "_worker_info", None)  # the loop runs in this process: undo what it sets up
    monkeypatch.setattr(worker, "_arena", None)
    sigint = signal.getsignal(signal.SIGINT)
    try:
        worker._worker_loop(True, [], _Stop(), results, done, False, None, False, 0, None, 0, 2,
                            f"dgtest{os.getpid()}_", os.getppid())
    finally:
        signal.signal(signal.SIGINT, sigint)
    assert results.cancelled is shutting_down and results.items == []
