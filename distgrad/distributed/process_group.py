"""The process group: rendezvous, heartbeats and the peer-to-peer collective engine, on NumPy arrays."""
from __future__ import annotations

import atexit
import logging
import os
import pickle
import queue
import secrets
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from enum import Enum
from typing import Any

import numpy as np
import zmq

from distgrad.launcher import wire

from . import connection
from .store import DistBackendError, TCPStore, seconds

log = logging.getLogger("distgrad.distributed")


class ReduceOp(Enum):
    """Reduction operations, as torch.distributed.ReduceOp."""
    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"


UFUNCS = {ReduceOp.SUM: np.add, ReduceOp.AVG: np.add, ReduceOp.PRODUCT: np.multiply, ReduceOp.MIN: np.minimum,
          ReduceOp.MAX: np.maximum}
# Tensors up to this many bytes take the one-round direct algorithm; larger ones the ring (NOTE [ all_reduce ]).
DIRECT_MAX_BYTES = int(os.environ.get("DISTGRAD_DIRECT_MAX_BYTES", str(256 << 10)))
SEGMENT_BYTES = int(os.environ.get("DISTGRAD_SEGMENT_BYTES", str(1 << 20)))
FLUSH_SECONDS = 10.0  # the longest close() waits for a peer to take what we still owe it


class Work:
    """Handle of an asynchronous collective, as torch.distributed.Work."""

    def __init__(self, finish: Callable[[], Any] | None = None) -> None:
        self._done, self._exc, self._finish, self._result = threading.Event(), None, finish, None

    def _set(self, result: Any = None, exc: BaseException | None = None) -> None:
        self._result, self._exc = result, exc
        self._done.set()

    def is_completed(self) -> bool:
        """True once the collective finished (successfully or not)."""
        return self._done.is_set()

    def wait(self, timeout: timedelta | float | None = None) -> bool:
        """Block until done; re-raise the collective's error here, in the caller's thread."""
        if not self._done.wait(None if timeout is None else seconds(timeout, 0.0)):
            raise DistBackendError(f"Work.wait timed out after {timeout} s; the collective is still running")
        if self._exc is not None:
            raise self._exc
        if self._finish is not None:
            finish, self._finish = self._finish, None
            finish()
        return True

    def result(self) -> Any:
        """The collective's output (after wait)."""
        self.wait()
        return self._result


# NOTE [ all_reduce ]
# Collectives run in call order on one communication thread per process, so async_op=True overlaps them with compute
# (DDP's buckets) while every rank still sees the same sequence. Call number `seq` and a signature (op name, bytes,
# dtype, reduce op, tag such as DDP's step and bucket) ride in every message header; a message with our seq but another
# signature means the ranks issued different collectives, and we raise at once naming the other rank instead of
# deadlocking. Any failure (timeout, mismatch) is broadcast to all peers as an "abort" so that they fail fast too.
#  * direct (latency-optimal: small tensors, and any size with 2 ranks, where it sends as many bytes as the ring in one
#    round instead of two): every rank sends its whole tensor to every other rank, segment by segment, and reduces
#    each segment's N contributions in rank order 0..N-1 as they arrive, so every rank computes the same bits.
#  * ring (bandwidth-optimal, large tensors): reduce-scatter then all-gather over N chunks, each rank sending
#    2(N-1)/N of the tensor. Chunks are split into segments that are forwarded as soon as they are reduced, so the
#    send of one segment overlaps the reduction of the next. Chunk c is reduced by one rank only and then copied to
#    the others, so results are bit-identical.
# Sends of 64 KiB and more are zero-copy (the frame points into the tensor) and tracked: a segment is overwritten, and
# a collective completes, only after ZeroMQ has released every frame that points into the caller's memory.
class ProcessGroup:
    """A group of world_size ranks, connected peer to peer; all methods run on the communication thread."""

    def __init__(self, rank: int, world_size: int, store: TCPStore, timeout: float) -> None:
        self.rank, self.size, self.store, self.timeout = rank, world_size, store, timeout
        secret, curve = store.secret, store.curve
        self.ctx = zmq.Context()  # peer sockets only, so that close() can flush them with ctx.term()
        self.seq, self.sig, self.broken, self.stash = 0, None, None, {}
        self.inflight: list[zmq.MessageTracker] = []
        self.inbox = self.ctx.socket(zmq.PULL)
        self.inbox.linger = 0
        self.inbox.rcvhwm = 0  # no message cap: a collective's own segments must never block each other
        self.inbox.maxmsgsize = wire.MAX_MESSAGE_BYTES
        wire.start_zap(self.ctx, secret)
        wire.secure_server(self.inbox, secret, curve)
        self.inbox.bind(f"tcp://{local_address(store.host)}:0")
        me = [host_id(), self.inbox.last_endpoint.decode(), f"ipc://@distgrad-{os.getpid()}-{secrets.token_hex(8)}"]
        self.inbox.bind(me[2])
        reply, _ = store.request({"op": "rendezvous", "rank": rank, "world_size": world_size, "addr": me})
        self.peer_addrs, self.ps_addrs = reply["peers"], reply["ps"]
        same_host_ipc = os.environ.get("DISTGRAD_TRANSPORT", "ipc") == "ipc"
        self.out: list[zmq.Socket | None] = [
            None if p == rank else connection.connect(self.ctx, zmq.PUSH, ipc if host == me[0] and same_host_ipc else tcp,
                                                secret, curve, timeout, f"rank {p}'s inbox")
            for p, (host, tcp, ipc) in enumerate(self.peer_addrs)]
        for sock in self.out:
            if sock is not None:  # queued frames point into the caller's tensor (zero-copy), so no cap is needed
                sock.sndhwm, sock.sndtimeo = 0, int(timeout * 1000)
        self.queue: queue.Queue = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="distgrad-comm", daemon=True)
        self.thread.start()
        self.heartbeat = threading.Thread(target=self._beat, args=(secret, curve), name="distgrad-heartbeat",
                                          daemon=True)
        self.heartbeat.start()
        # Scripts that never call destroy_process_group still deliver their last sends; bounded, so that Ctrl-C
        # during a long collective does not keep the process for the whole collective timeout.
        atexit.register(self.close, FLUSH_SECONDS + 5.0)

    # ---- threads
    def submit(self, fn: Callable[..., Any], *args: Any, finish: Callable[[], Any] | None = None) -> Work:
        """Queue fn(*args) on the communication thread; its return value becomes the Work's result."""
        if self.stop.is_set():
            raise RuntimeError("the process group was destroyed; call init_process_group again")
        work = Work(finish)
        self.queue.put((work, fn, args))
        return work

    def _loop(self) -> None:
        while (item := self.queue.get()) is not None:
            work, fn, args = item
            try:
                if self.broken is not None:
                    raise DistBackendError(f"the process group is unusable after an earlier failure: {self.broken}")
                result = fn(*args)
                deadline = time.monotonic() + self.timeout
                for tracker in self.inflight:  # callers may reuse their buffers once the Work completes
                    self._release(tracker, deadline)
                self.inflight.clear()
                work._set(result)
            except Exception as e:  # noqa: BLE001 -- handed to the caller's wait(), never lost
                self.inflight.clear()
                self.broken = self.broken or e
                self._abort(e)
                work._set(exc=e)
        # A peer may still be reading our last collective's frames: ZeroMQ drops queued messages of a closed socket
        # when its context ends (at the latest when the process exits), so linger and wait in term() until they
        # are out, unless the group already failed.
        self.inbox.close(linger=0)
        linger = 0 if self.broken is not None else int(min(self.timeout, FLUSH_SECONDS) * 1000)
        for sock in self.out:
            if sock is not None:
                sock.close(linger=linger)
        self.ctx.term()

    def _beat(self, secret: str, curve: bool) -> None:
        interval = float(os.environ.get("DISTGRAD_HEARTBEAT_INTERVAL", "1"))
        try:
            sock = connection.connect(self.store.ctx, zmq.DEALER, self.store.endpoint, secret, curve, self.timeout)
        except (TimeoutError, PermissionError) as e:  # the store connection just worked; say so, do not crash
            log.error("rank %d sends no heartbeats: %s", self.rank, e)
            return
        while not self.stop.wait(interval):
            sock.send_multipart(wire.pack({"op": "heartbeat", "rank": self.rank, "seq": self.seq}))
        try:
            connection.request(sock, {"op": "bye", "rank": self.rank}, timeout=2.0)
        except TimeoutError:
            log.debug("rank %d: the server left before our goodbye", self.rank)
        sock.close(linger=0)

    def close(self, wait: float | None = None) -> None:
        """Stop the threads, deliver what is still queued for peers, close the sockets; idempotent."""
        if self.stop.is_set():
            return
        self.stop.set()
        self.queue.put(None)
        self.thread.join(timeout=self.timeout if wait is None else wait)
        self.heartbeat.join(timeout=5.0)

    # ---- messaging
    def _send(self, dst: int, header: dict, buffer: Any = None) -> zmq.MessageTracker | None:
        """Send one message; a large buffer goes zero-copy and is tracked until the collective ends."""
        frames = wire.pack({"src": self.rank, "seq": self.seq, **header}, () if buffer is None else (buffer,))
        zero_copy = buffer is not None and buffer.nbytes >= zmq.COPY_THRESHOLD
        try:
            tracker = self.out[dst].send_multipart(frames, copy=not zero_copy, track=zero_copy)
            if zero_copy:
                self.inflight.append(tracker)
            return tracker
        except zmq.Again:
            raise DistBackendError(f"rank {self.rank} could not send to rank {dst} for {self.timeout:.1f} s in "
                                   f"{describe(self.sig)} (call #{self.seq}): its queue is full; is it alive?"
                                   ) from None

    def _abort(self, exc: BaseException) -> None:
        for dst, sock in enumerate(self.out):
            if sock is not None:
                try:
                    sock.send_multipart(wire.pack({"op": "abort", "src": self.rank, "seq": self.seq,
                                                   "error": str(exc)[:2000]}), flags=zmq.NOBLOCK)
                except zmq.ZMQError:
                    log.debug("could not tell rank %d about the abort", dst)

    def _recv(self, src: int, key: Any, deadline: float) -> Any:
        """The buffer that rank src sent us under key in the current collective; raise on mismatch or timeout."""
        while (self.seq, src, key) not in self.stash:
            left = deadline - time.monotonic()
            if left <= 0 or not self.inbox.poll(int(left * 1000) + 1):
                raise self._timeout_error(src)
            try:
                header, bufs = wire.unpack(self.inbox.recv_multipart(copy=False))
                seq, sender, their_key = int(header["seq"]), int(header["src"]), header.get("key")
            except (wire.ProtocolError, KeyError, TypeError, ValueError) as e:
                log.warning("rank %d dropped a malformed peer message: %s", self.rank, e)
                continue
            if header["op"] == "abort":
                raise DistBackendError(f"rank {sender} aborted collective #{seq}: {header.get('error')}")
            if seq >= self.seq:  # earlier seqs are leftovers of a collective that already failed
                self.stash[(seq, sender, their_key)] = (header.get("sig"), bufs[0] if bufs else b"")
                self._check(seq, sender, header.get("sig"))
        return self.stash.pop((self.seq, src, key))[1]

    def _check(self, seq: int, sender: int, sig: Any) -> None:
        if seq == self.seq and sig != self.sig:
            raise DistBackendError(
                f"collective mismatch at call #{seq}: rank {self.rank} called {describe(self.sig)} but rank {sender} "
                f"called {describe(sig)}; every rank must issue the same collectives in the same order "
                f"(check rank-dependent branches around collectives)")

    def _timeout_error(self, src: int) -> DistBackendError:
        late, note = [src], ""
        try:
            status, _ = self.store.request({"op": "status"}, timeout=2.0)
            late = sorted(int(r) for r, s in status["progress"].items() if s < self.seq) or late
            note = f"; dead (no heartbeat): {status['dead']}" if status["dead"] else ""
        except (TimeoutError, RuntimeError) as e:
            note = f"; the server did not answer a status query either ({e})"
        return DistBackendError(
            f"Timed out after {self.timeout:.1f} s in {describe(self.sig)} (call #{self.seq}) on rank {self.rank}: "
            f"waiting for rank {src}. Ranks that did not arrive at this collective: {late}{note}")

    def _begin(self, sig: list) -> float:
        self.seq, self.sig = self.seq + 1, sig
        for seq, sender, _ in list(self.stash):  # messages that arrived before this rank got here
            self._check(seq, sender, self.stash[(seq, sender, _)][0])
        return time.monotonic() + self.timeout

    # ---- collectives on flat contiguous arrays (called on the communication thread)
    def all_reduce(self, flat: np.ndarray, op: ReduceOp, tag: str = "") -> np.ndarray:
        """Reduce flat in place over all ranks (NOTE [ all_reduce ])."""
        sig = ["all_reduce", flat.nbytes, flat.dtype.str, op.value, tag]
        deadline = self._begin(sig)
        if self.size > 1:
            if self.size == 2 or flat.nbytes <= DIRECT_MAX_BYTES or flat.size < self.size:
                self._direct_reduce(flat, UFUNCS[op], deadline)
            else:
                self._ring(flat, UFUNCS[op], sig, deadline)
        if op is ReduceOp.AVG:
            np.divide(flat, self.size, out=flat, casting="unsafe")
        return flat

    def _direct_reduce(self, flat: np.ndarray, ufunc: np.ufunc, deadline: float, dst: int | None = None) -> None:
        n, r = self.size, self.rank
        targets = [p for p in range(n) if p != r] if dst is None else [dst] if dst != r else []
        segs = segments(0, flat.size, flat.itemsize) or [(0, 0)]
        sent = {(p, j): self._send(p, {"op": "c", "sig": self.sig, "key": j}, flat[a:b])
                for j, (a, b) in enumerate(segs) for p in targets}
        if dst is not None and dst != r:
            return
        for j, (a, b) in enumerate(segs):
            parts = [flat[a:b] if p == r else np.frombuffer(self._recv(p, j, deadline), flat.dtype) for p in range(n)]
            for p in targets:  # flat[a:b] is about to change: ZeroMQ must be done reading it
                self._release(sent[(p, j)], deadline)
            if n == 2:
                ufunc(parts[0], parts[1], out=flat[a:b])
            else:
                acc = ufunc(parts[0], parts[1])
                for part in parts[2:]:
                    ufunc(acc, part, out=acc)
                flat[a:b] = acc

    def _ring(self, flat: np.ndarray, ufunc: np.ufunc, sig: list, deadline: float) -> None:
        n, r = self.size, self.rank
        left, right = (r - 1) % n, (r + 1) % n
        bounds = np.linspace(0, flat.size, n + 1).astype(np.int64)
        segs = [segments(int(bounds[c]), int(bounds[c + 1]), flat.itemsize) for c in range(n)]
        trackers: dict[tuple[int, int], zmq.MessageTracker | None] = {}

        def send(step: int, c: int, j: int) -> None:
            a, b = segs[c][j]
            trackers[(c, j)] = self._send(right, {"op": "c", "sig": sig, "key": step << 20 | j}, flat[a:b])

        for j in range(len(segs[r])):
            send(0, r, j)
        for step in range(2 * n - 2):
            c = (r - step - 1) % n
            for j, (a, b) in enumerate(segs[c]):
                data = np.frombuffer(self._recv(left, step << 20 | j, deadline), flat.dtype)
                if step < n - 1:
                    ufunc(flat[a:b], data, out=flat[a:b])
                else:
                    self._release(trackers.pop((c, j), None), deadline)
                    flat[a:b] = data
                if step < 2 * n - 3:
                    send(step + 1, c, j)

    def _release(self, tracker: zmq.MessageTracker | None, deadline: float) -> None:
        """Wait until ZeroMQ no longer reads the buffer behind a zero-copy frame."""
        if tracker is not None and not tracker.done:
            try:
                tracker.wait(max(0.001, deadline - time.monotonic()))
            except zmq.NotDone:
                raise DistBackendError(f"rank {self.rank}: ZeroMQ did not finish sending in {describe(self.sig)} "
                                       f"(call #{self.seq}) within {self.timeout:.1f} s; is the receiver alive?"
                                       ) from None

    def broadcast(self, flat: np.ndarray, src: int, tag: str = "") -> np.ndarray:
        """Copy rank src's flat into every rank's flat."""
        sig = ["broadcast", flat.nbytes, flat.dtype.str, src, tag]
        deadline = self._begin(sig)
        if self.rank == src:
            for p in range(self.size):
                if p != src:
                    self._send(p, {"op": "c", "sig": sig, "key": "b"}, flat)
        else:
            flat[...] = np.frombuffer(self._recv(src, "b", deadline), flat.dtype)
        return flat

    def reduce(self, flat: np.ndarray, dst: int, op: ReduceOp, tag: str = "") -> np.ndarray:
        """Reduce into rank dst's flat; other ranks' flat is left unchanged."""
        sig = ["reduce", flat.nbytes, flat.dtype.str, [dst, op.value], tag]
        deadline = self._begin(sig)
        self._direct_reduce(flat, UFUNCS[op], deadline, dst)
        if op is ReduceOp.AVG and self.rank == dst:
            np.divide(flat, self.size, out=flat, casting="unsafe")
        return flat

    def all_gather(self, flat: np.ndarray, tag: str = "") -> list[np.ndarray]:
        """Every rank's flat, in rank order."""
        sig = ["all_gather", flat.nbytes, flat.dtype.str, None, tag]
        deadline = self._begin(sig)
        for p in range(self.size):
            if p != self.rank:
                self._send(p, {"op": "c", "sig": sig, "key": "g"}, flat)
        return [flat.copy() if p == self.rank else np.frombuffer(self._recv(p, "g", deadline), flat.dtype)
                for p in range(self.size)]

    def reduce_scatter(self, out: np.ndarray, parts: list[np.ndarray], op: ReduceOp, tag: str = "") -> np.ndarray:
        """out = reduction over ranks of their parts[self.rank], in rank order."""
        sig = ["reduce_scatter", out.nbytes, out.dtype.str, op.value, tag]
        deadline = self._begin(sig)
        for p in range(self.size):
            if p != self.rank:
                self._send(p, {"op": "c", "sig": sig, "key": "s"}, np.ascontiguousarray(parts[p]))
        contributions = [parts[p] if p == self.rank else np.frombuffer(self._recv(p, "s", deadline), out.dtype)
                         for p in range(self.size)]
        acc = contributions[0].reshape(-1).astype(out.dtype, copy=True)
        for part in contributions[1:]:
            UFUNCS[op](acc, part.reshape(-1), out=acc)
        if op is ReduceOp.AVG:
            np.divide(acc, self.size, out=acc, casting="unsafe")
        out.reshape(-1)[...] = acc
        return out

    def all_gather_bytes(self, data: bytes, tag: str = "") -> list[bytes]:
        """Every rank's bytes (of any length), in rank order."""
        sig = ["all_gather_object", None, None, None, tag]
        deadline = self._begin(sig)
        for p in range(self.size):
            if p != self.rank:
                self._send(p, {"op": "c", "sig": sig, "key": "o"}, np.frombuffer(data, np.uint8))
        return [data if p == self.rank else bytes(self._recv(p, "o", deadline)) for p in range(self.size)]

    def broadcast_bytes(self, data: bytes, src: int, tag: str = "") -> bytes:
        """Rank src's bytes, on every rank."""
        sig = ["broadcast_object_list", None, None, src, tag]
        deadline = self._begin(sig)
        if self.rank == src:
            for p in range(self.size):
                if p != src:
                    self._send(p, {"op": "c", "sig": sig, "key": "o"}, np.frombuffer(data, np.uint8))
            return data
        return bytes(self._recv(src, "o", deadline))

    def barrier(self) -> None:
        """Return once every rank has entered the barrier."""
        self.all_gather_bytes(b"", tag="barrier")


def segments(start: int, stop: int, itemsize: int) -> list[tuple[int, int]]:
    """[start, stop) in pieces of SEGMENT_BYTES, the unit that is sent while the previous one is reduced."""
    step = max(1, SEGMENT_BYTES // itemsize)
    return [(a, min(a + step, stop)) for a in range(start, stop, step)]


def describe(sig: Any) -> str:
    """A collective's signature for error messages: all_reduce(4000 bytes, <f4, sum)."""
    if not isinstance(sig, list) or len(sig) != 5:
        return repr(sig)
    name, nbytes, dtype, arg, tag = sig
    details = [f"{nbytes} bytes" if nbytes is not None else None, dtype and str(np.dtype(dtype)),
               None if arg is None else str(arg), tag or None]
    return f"{name}({', '.join(d for d in details if d)})"


def host_id() -> str:
    """Ranks with equal ids share a kernel and network namespace, so they can talk over abstract unix sockets."""
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f"{f.read().strip()}:{os.stat('/proc/self/ns/net').st_ino}"


def local_address(master: str) -> str:
    """The address peers reach this process at: loopback for a loopback master, else the route towards it."""
    if override := os.environ.get("DISTGRAD_BIND_ADDR"):
        return override
    if wire.is_loopback(master):
        return "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((socket.gethostbyname(master), 9))  # UDP connect sends nothing; it only picks the route
        return s.getsockname()[0]


def to_bytes(obj: Any) -> bytes:
    """Pickle for *_object collectives."""
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)

