"""The distgrad server: rendezvous, key-value store, heartbeats and parameter shards on one ZeroMQ ROUTER socket."""
from __future__ import annotations

import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zmq
import zmq.utils.monitor

from . import wire

log = logging.getLogger("distgrad.server")


@dataclass
class Waiter:
    """A request answered later: when ready() turns true, or with an error at the deadline."""
    ident: bytes
    request_id: int
    deadline: float
    ready: Callable[[], bool]
    answer: Callable[[], tuple[dict, list]]
    on_timeout: Callable[[], str]


@dataclass
class Shard:
    """One parameter on this server; see NOTE [ Parameter-server modes ]."""
    value: np.ndarray
    mode: str
    world_size: int
    staleness: int
    version: int = 0
    pending: np.ndarray | None = None
    pushed: set[int] = field(default_factory=set)
    clocks: dict[int, int] = field(default_factory=dict)


# NOTE [ Parameter-server modes ]
# Workers push deltas (new - old parameters after a local optimizer step), as ps-lite's default handle does
# (`store[key] += vals`), so any optimizer can be wrapped and the server only adds.
#  * sync: the server collects exactly one push per rank for step `version`, adds their mean, bumps version; a pull
#    asking for version v is answered once version >= v. With SGD (with or without momentum) this is exactly
#    data-parallel SGD on the averaged gradient.
#  * async: each push is added on arrival and bumps its rank's clock. Stale-synchronous bound s: a pull from a rank at
#    clock c is answered only when the slowest rank's clock is >= c - s (s = 0 gives lock-step, large s gives Hogwild).
# A dead rank (heartbeats stopped) fails every waiting pull instead of blocking it forever.

class Server:
    """One server process or thread; shard 0 also does rendezvous, store and heartbeats."""

    def __init__(self, ctx: zmq.Context, host: str, port: int, secret: str, curve: bool,
                 heartbeat_timeout: float = 10.0) -> None:
        self.ctx, self.secret, self.hb_timeout = ctx, secret, heartbeat_timeout
        wire.start_zap(ctx, secret)
        self.sock = ctx.socket(zmq.ROUTER)
        self.sock.linger = 0
        self.sock.maxmsgsize = wire.MAX_MESSAGE_BYTES
        wire.secure_server(self.sock, secret, curve)
        self.monitor = self.sock.get_monitor_socket(wire.HANDSHAKE_FAILED)
        endpoint = f"tcp://{host}:{port}"
        self.sock.bind(endpoint)
        self.port = int(self.sock.last_endpoint.decode().rsplit(":", 1)[1])
        self.address = f"tcp://{host}:{self.port}"
        self.dropped: Counter[str] = Counter()
        self.store: dict[str, bytes] = {}
        self.waiters: list[Waiter] = []
        self.registered: dict[int, tuple[bytes, int, Any]] = {}
        self.world_size = 0
        self.peers: list[Any] | None = None
        self.ps_addrs: list[str] = []
        self.last_seen: dict[int, float] = {}
        self.progress: dict[int, int] = {}
        self.dead: set[int] = set()
        self.shards: dict[str, Shard] = {}
        self.handlers = {"hello": self.on_hello, "rendezvous": self.on_rendezvous, "set": self.on_set,
                         "get": self.on_get, "add": self.on_add, "wait": self.on_wait, "check": self.on_check,
                         "delete": self.on_delete, "num_keys": self.on_num_keys, "heartbeat": self.on_heartbeat,
                         "bye": self.on_bye, "status": self.on_status, "ps_init": self.on_ps_init, "push": self.on_push,
                         "pull": self.on_pull}

    # ---- loop
    def serve(self, stop: threading.Event) -> None:
        """Serve until stop is set; a bad message is dropped, counted and logged, never fatal."""
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        poller.register(self.monitor, zmq.POLLIN)
        while not stop.is_set():
            deadline = min((w.deadline for w in self.waiters), default=time.monotonic() + 0.1)
            timeout_ms = max(0, min(100, int((deadline - time.monotonic()) * 1000) + 1))
            for sock, _ in poller.poll(timeout_ms):
                if sock is self.monitor:
                    event = zmq.utils.monitor.recv_monitor_message(self.monitor)
                    self.drop("unauthenticated", f"handshake failed from a peer (event {event['event']:#x})")
                else:
                    self.handle(self.sock.recv_multipart(copy=False))
            self.check_heartbeats()
            self.flush_waiters()
        self.sock.disable_monitor()
        self.monitor.close()
        self.sock.close()

    def drop(self, reason: str, detail: str) -> None:
        self.dropped[reason] += 1
        count = self.dropped[reason]
        if count <= 10 or count % 1000 == 0:  # log the first few, then every thousandth: a flood must not flood logs
            log.warning("dropped %s message #%d: %s", reason, count, detail)

    def handle(self, frames: list) -> None:
        ident, frames = frames[0].bytes, frames[1:]
        try:
            header, buffers = wire.unpack(frames)
        except wire.ProtocolError as e:
            self.drop(e.reason, str(e))
            if e.reason == "version":  # a real client of another release deserves to know why nobody answers
                self.reply(ident, {}, {"op": "error", "type": "RuntimeError", "error": f"distgrad server: {e}"})
            return
        handler = self.handlers.get(header["op"])
        if handler is None:
            self.drop("malformed", f"unknown op {header['op']!r}")
            return
        try:
            handler(ident, header, buffers)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            # A well-formed header with wrong fields: tell the sender, count it, keep serving.
            self.drop("malformed", f"{header['op']}: {type(e).__name__}: {e}")
            self.error(ident, header, "ValueError", f"bad {header['op']!r} request: {type(e).__name__}: {e}")

    def reply(self, ident: bytes, request: dict, header: dict, buffers: list | tuple = ()) -> None:
        self.sock.send_multipart([ident, *wire.pack({**header, "id": request.get("id")}, buffers)], copy=False)

    def error(self, ident: bytes, request: dict, kind: str, message: str) -> None:
        self.reply(ident, request, {"op": "error", "type": kind, "error": message})

    def defer(self, ident: bytes, request: dict, ready: Callable[[], bool], answer: Callable[[], tuple[dict, list]],
              on_timeout: Callable[[], str]) -> None:
        if ready():
            self.reply(ident, request, *answer())
            return
        timeout = float(request.get("timeout", 30.0))
        if not 0 <= timeout <= 7 * 86400:  # also rejects NaN
            raise ValueError(f"timeout must be between 0 and 7 days in seconds, got {timeout}")
        deadline = time.monotonic() + timeout
        self.waiters.append(Waiter(ident, request.get("id"), deadline, ready, answer, on_timeout))

    def flush_waiters(self) -> None:
        now, keep = time.monotonic(), []
        for w in self.waiters:
            if w.ready():
                self.reply(w.ident, {"id": w.request_id}, *w.answer())
            elif now >= w.deadline or self.dead:
                kind = "TimeoutError" if now >= w.deadline else "RuntimeError"
                self.error(w.ident, {"id": w.request_id}, kind, w.on_timeout() + self.dead_note())
            else:
                keep.append(w)
        self.waiters = keep

    def dead_note(self) -> str:
        return f"; ranks {sorted(self.dead)} stopped sending heartbeats (dead)" if self.dead else ""

    def check_heartbeats(self) -> None:
        now = time.monotonic()
        for rank, seen in self.last_seen.items():
            if rank not in self.dead and now - seen > self.hb_timeout:
                self.dead.add(rank)
                log.error("rank %d sent no heartbeat for %.1f s: considered dead", rank, now - seen)

    # ---- rendezvous, heartbeats
    def on_hello(self, ident: bytes, req: dict, _: list) -> None:
        self.reply(ident, req, {"op": "hello", "server": self.address})

    def on_rendezvous(self, ident: bytes, req: dict, _: list) -> None:
        rank, world_size = int(req["rank"]), int(req["world_size"])
        if self.peers is not None:  # that group formed already: this is a new one (init after destroy)
            self.registered, self.peers = {}, None
        known = {r for r in self.registered if r not in self.dead}
        if self.registered and world_size != self.world_size:
            raise ValueError(f"rank {rank} says world_size={world_size}, earlier ranks said {self.world_size}")
        if not 0 <= rank < world_size or rank in known:
            raise ValueError(f"rank {rank} invalid or already registered (world_size={world_size}); check RANK")
        self.world_size = world_size
        self.registered[rank] = (ident, req.get("id"), req["addr"])
        self.last_seen[rank] = time.monotonic()
        self.dead.discard(rank)
        if len(self.registered) == world_size:
            self.peers = [self.registered[r][2] for r in range(world_size)]
            for (who, request_id, _) in self.registered.values():
                self.reply(who, {"id": request_id}, {"op": "rendezvous", "peers": self.peers,
                                                     "ps": self.ps_addrs or [self.address]})
            return
        missing = lambda: sorted(set(range(world_size)) - set(self.registered))
        self.defer(ident, req, lambda: self.peers is not None,
                   lambda: ({"op": "rendezvous", "peers": self.peers, "ps": self.ps_addrs or [self.address]}, []),
                   lambda: f"rendezvous timed out: ranks {missing()} of {world_size} never registered")

    def on_heartbeat(self, ident: bytes, req: dict, _: list) -> None:
        rank = int(req["rank"])
        if rank not in self.registered:  # only ranks that joined the rendezvous can later be declared dead
            raise ValueError(f"heartbeat from rank {rank}, which never registered")
        self.last_seen[rank] = time.monotonic()
        self.progress[rank] = int(req.get("seq", 0))
        if rank in self.dead:
            self.dead.discard(rank)
            log.warning("rank %d is sending heartbeats again", rank)

    def on_bye(self, ident: bytes, req: dict, _: list) -> None:
        self.last_seen.pop(int(req["rank"]), None)  # a clean exit is no death
        self.reply(ident, req, {"op": "ok"})

    def on_status(self, ident: bytes, req: dict, _: list) -> None:
        self.reply(ident, req, {"op": "status", "progress": self.progress, "dead": sorted(self.dead),
                                "registered": sorted(self.registered), "peers": self.peers, "ps": self.ps_addrs,
                                "dropped": dict(self.dropped)})

    # ---- store (PyTorch's TCPStore semantics: get waits for the key; add counts)
    def on_set(self, ident: bytes, req: dict, bufs: list) -> None:
        self.store[str(req["key"])] = bufs[0].bytes if bufs else b""
        self.reply(ident, req, {"op": "ok"})

    def on_get(self, ident: bytes, req: dict, _: list) -> None:
        key = str(req["key"])
        self.defer(ident, req, lambda: key in self.store, lambda: ({"op": "value"}, [self.store[key]]),
                   lambda: f"wait timeout after {req.get('timeout')} s, keys: [{key!r}]")

    def on_add(self, ident: bytes, req: dict, _: list) -> None:
        key = str(req["key"])
        value = int(self.store.get(key, b"0")) + int(req["amount"])
        self.store[key] = str(value).encode()
        self.reply(ident, req, {"op": "value", "value": value})

    def on_wait(self, ident: bytes, req: dict, _: list) -> None:
        keys = [str(k) for k in req["keys"]]
        missing = lambda: [k for k in keys if k not in self.store]
        self.defer(ident, req, lambda: not missing(), lambda: ({"op": "ok"}, []),
                   lambda: f"wait timeout after {req.get('timeout')} s, keys: {missing()}")

    def on_check(self, ident: bytes, req: dict, _: list) -> None:
        self.reply(ident, req, {"op": "value", "value": all(str(k) in self.store for k in req["keys"])})

    def on_delete(self, ident: bytes, req: dict, _: list) -> None:
        self.reply(ident, req, {"op": "value", "value": self.store.pop(str(req["key"]), None) is not None})

    def on_num_keys(self, ident: bytes, req: dict, _: list) -> None:
        self.reply(ident, req, {"op": "value", "value": len(self.store)})

    # ---- parameter shards (NOTE [ Parameter-server modes ])
    def on_ps_init(self, ident: bytes, req: dict, bufs: list) -> None:
        key, dtype, shape = str(req["key"]), np.dtype(req["dtype"]), tuple(req["shape"])
        if req["mode"] not in ("sync", "async"):
            raise ValueError(f"mode must be 'sync' or 'async', got {req['mode']!r}")
        shard = self.shards.get(key)
        if shard is None:
            value = np.frombuffer(bufs[0].buffer, dtype).reshape(shape).copy()
            self.shards[key] = shard = Shard(value, req["mode"], int(req["world_size"]), int(req["staleness"]))
        self.check_shape("init", key, int(req["rank"]), shard, dtype, shape)
        self.reply(ident, req, self.describe(shard), [shard.value.copy()])

    def check_shape(self, what: str, key: str, rank: int, shard: Shard, dtype: np.dtype, shape: tuple) -> None:
        if (dtype, shape) != (shard.value.dtype, shard.value.shape):
            raise ValueError(f"{what} for {key!r} from worker {rank}: expected shape {shard.value.shape} "
                             f"{shard.value.dtype}, got {shape} {dtype}")

    def on_push(self, ident: bytes, req: dict, bufs: list) -> None:
        key, rank = str(req["key"]), int(req["rank"])
        shard = self.shards[key]
        self.check_shape("push", key, rank, shard, np.dtype(req["dtype"]), tuple(req["shape"]))
        delta = np.frombuffer(bufs[0].buffer, shard.value.dtype).reshape(shard.value.shape)
        if shard.mode == "async":
            shard.value += delta
            shard.version += 1
            shard.clocks[rank] = shard.clocks.get(rank, 0) + 1
        else:
            step = int(req["step"])
            if step != shard.version or rank in shard.pushed:
                raise ValueError(f"push for {key!r} from worker {rank}: expected step {shard.version} and one push "
                                 f"per rank, got step {step}{' again' if rank in shard.pushed else ''}")
            shard.pending = delta.copy() if shard.pending is None else shard.pending + delta
            shard.pushed.add(rank)
            if len(shard.pushed) == shard.world_size:
                shard.value += shard.pending / shard.world_size
                shard.pending, shard.pushed, shard.version = None, set(), shard.version + 1
        self.reply(ident, req, {"op": "ok", "version": shard.version})

    def on_pull(self, ident: bytes, req: dict, _: list) -> None:
        key, rank = str(req["key"]), int(req["rank"])
        shard = self.shards[key]
        if shard.mode == "sync":
            need = int(req.get("version", 0))
            ready = lambda: shard.version >= need
            why = lambda: (f"pull of {key!r} by rank {rank}: step {need} not complete, "
                           f"waiting for pushes from ranks {sorted(set(range(shard.world_size)) - shard.pushed)}")
        else:
            clock = shard.clocks.get(rank, 0)
            slow = lambda: [r for r in range(shard.world_size)
                            if shard.clocks.get(r, 0) < clock - shard.staleness]
            ready = lambda: not slow()
            why = lambda: f"pull of {key!r} by rank {rank} at clock {clock}: ranks {slow()} beyond staleness bound"
        self.defer(ident, req, ready, lambda: (self.describe(shard), [shard.value.copy()]), why)

    @staticmethod
    def describe(shard: Shard) -> dict:
        return {"op": "value", "version": shard.version, "dtype": shard.value.dtype.str,
                "shape": list(shard.value.shape)}


def run(host: str, port: int, secret: str, curve: bool, conn: Any = None, index: int = 0,
        heartbeat_timeout: float = 10.0) -> None:
    """Process entry point: bind, report the address on conn, serve until SIGTERM/SIGINT."""
    logging.basicConfig(level=logging.INFO, format=f"[server {index}] %(levelname)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    ctx = zmq.Context()
    server = Server(ctx, host, port, secret, curve, heartbeat_timeout)
    if conn is not None:
        conn.send(server.address)
        if index == 0:
            server.ps_addrs = conn.recv()
        conn.close()
    server.serve(stop)
    ctx.term()  # not destroy(): that would close the ZAP thread's socket under its feet
