"""Shared-memory transport of batches from DataLoader workers; see NOTE [ DataLoader worker protocol ]."""
from __future__ import annotations

import collections
import contextlib
import io
import mmap
import os
import pickle
import weakref
from typing import Any, NamedTuple

import numpy as np

import distgrad

# Smaller arrays travel inside the pickle: a segment costs a few system calls and at least one page.
MIN_SHARED_NBYTES = 64 * 1024
# Segments a worker keeps for reuse once the main process has dropped them. Writing into a fresh tmpfs segment
# faults in and zeroes every page (~1 GB/s here); rewriting a recycled one runs at memcpy speed.
FREE_SEGMENTS = 4
SHM_DIR = "/dev/shm"


class Segment(NamedTuple):
    """A named shared-memory segment holding one C-contiguous array, as it travels through the result queue."""
    worker_id: int
    name: str
    shape: tuple[int, ...]
    dtype: str


def _map(name: str, nbytes: int, create: bool) -> mmap.mmap:
    import _posixshmem  # POSIX only: imported here so that single-process loading works everywhere
    flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
    fd = _posixshmem.shm_open("/" + name, flags, mode=0o600)
    try:
        if create:
            os.ftruncate(fd, nbytes)
        return mmap.mmap(fd, nbytes)
    except OSError:
        if create:
            unlink(name)
        raise
    finally:
        os.close(fd)


def unlink(name: str) -> None:
    import _posixshmem
    with contextlib.suppress(FileNotFoundError):
        _posixshmem.shm_unlink("/" + name)


def unlink_prefix(prefix: str) -> None:
    """Unlink every segment whose name starts with prefix (segments of workers that died before handing them over)."""
    if os.path.isdir(SHM_DIR):  # Linux lists POSIX shared memory there; elsewhere only workers unlink their segments
        for name in os.listdir(SHM_DIR):
            if name.startswith(prefix):
                unlink(name)


class WorkerArena:
    """The segments one worker created: written (fresh), handed to the main process (lent), or returned (free).

    A worker keeps its mapping of each segment: rewriting mapped pages runs at memcpy speed, while the first write
    through a new mapping takes a page fault per 4 KiB (~20 ms for a 64x3x224x224 float32 batch here)."""

    def __init__(self, worker_id: int, prefix: str) -> None:
        self.worker_id, self.prefix, self.count = worker_id, prefix, 0
        # Each segment is (name, mapping, weak reference to the array created over it); every array this worker
        # derives from a batch (views, tensors) keeps that array alive, so a dead reference means nothing here
        # uses the segment.
        self.fresh: dict[int, tuple[str, mmap.mmap, weakref.ref]] = {}  # data address -> written for this batch
        self.lent: dict[str, tuple[mmap.mmap, weakref.ref]] = {}        # name -> handed to the main process
        self.free: collections.deque[tuple[str, mmap.mmap]] = collections.deque()  # oldest first

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialised C-contiguous array in a shared segment, reused when one of that size was returned."""
        nbytes = int(np.prod(shape)) * dtype.itemsize
        for i, (name, mm) in enumerate(self.free):
            if len(mm) == nbytes:
                del self.free[i]
                break
        else:
            name = f"{self.prefix}{self.count}"
            self.count += 1
            mm = _map(name, nbytes, create=True)
        out = np.ndarray(shape, dtype, buffer=mm)
        self.fresh[out.ctypes.data] = (name, mm, weakref.ref(out))
        return out

    def share(self, arr: np.ndarray) -> Segment | np.ndarray:
        """What to pickle for arr: a small array itself, else a segment (arr is copied there unless it is in one)."""
        if arr.nbytes < MIN_SHARED_NBYTES:
            return arr
        fresh = self.fresh.get(arr.ctypes.data) if arr.flags.c_contiguous else None
        if fresh is None or len(fresh[1]) != arr.nbytes:
            out = self.empty(arr.shape, arr.dtype)
            np.copyto(out, arr)
            arr = out
        name, mm, root = self.fresh.pop(arr.ctypes.data)
        self.lent[name] = (mm, root)
        return Segment(self.worker_id, name, arr.shape, arr.dtype.str)

    def end_batch(self) -> None:
        """Unlink segments written for the current batch but not sent (its collate or pickling failed)."""
        for name, _, _ in self.fresh.values():
            unlink(name)
        self.fresh.clear()

    def take_back(self, names: list[str]) -> None:
        """Segments the main process no longer maps: reuse them, unless this worker still holds that batch."""
        for name in names:
            mm, root = self.lent.pop(name)
            if root() is None:
                self.free.append((name, mm))
            else:
                unlink(name)
        while len(self.free) > FREE_SEGMENTS:
            unlink(self.free.popleft()[0])

    def close(self) -> None:
        """Unlink every segment; mappings the main process still holds stay valid."""
        self.end_batch()
        for name in [*self.lent, *(name for name, _ in self.free)]:
            unlink(name)
        self.lent.clear()
        self.free.clear()


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, arena: WorkerArena) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.arena = arena

    def persistent_id(self, obj: Any) -> tuple[str, Segment | np.ndarray, bool] | None:
        if isinstance(obj, distgrad.Tensor):
            if obj.requires_grad and not obj.is_leaf:
                raise RuntimeError("Cowardly refusing to serialize non-leaf tensor which requires_grad, since autograd "
                                   "does not support crossing process boundaries.  If you just want to transfer the "
                                   "data, call detach() on the tensor before serializing (e.g., putting it on the "
                                   "queue).")
            return ("tensor", self.arena.share(obj.detach().numpy()), obj.requires_grad)
        if type(obj) is np.ndarray and not obj.dtype.hasobject and obj.nbytes >= MIN_SHARED_NBYTES:
            return ("ndarray", self.arena.share(obj), False)
        return None


def dumps(data: Any, arena: WorkerArena) -> bytes:
    """Pickle a batch in a worker; tensors and large arrays go to shared segments, the rest into the bytes."""
    buf = io.BytesIO()
    _Pickler(buf, arena).dump(data)
    return buf.getvalue()


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, returned: list[collections.deque]) -> None:
        super().__init__(file)
        self.returned = returned

    def persistent_load(self, pid: tuple[str, Segment | np.ndarray, bool]) -> Any:
        kind, arr, requires_grad = pid
        if isinstance(arr, Segment):
            mm = _map(arr.name, int(np.prod(arr.shape)) * np.dtype(arr.dtype).itemsize, create=False)
            # The worker may reuse the segment once every array over this mapping is gone.
            weakref.finalize(mm, self.returned[arr.worker_id].append, arr.name).atexit = False
            arr = np.ndarray(arr.shape, arr.dtype, buffer=mm)
        return distgrad.from_numpy(arr).requires_grad_(requires_grad) if kind == "tensor" else arr


def loads(payload: bytes, returned: list[collections.deque]) -> Any:
    """Unpickle a batch in the main process, mapping its segments without a copy."""
    return _Unpickler(io.BytesIO(payload), returned).load()
