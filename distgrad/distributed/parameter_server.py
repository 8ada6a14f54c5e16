"""Parameter-server training: push/pull with tickets against the sharded servers, and an optimizer wrapper."""
from __future__ import annotations

from typing import Any

import numpy as np
import zmq

import distgrad
from distgrad.launcher import wire

from . import connection
from .distributed_c10d import _default, _host


def assign_shards(sizes: dict[str, int], nservers: int) -> dict[str, int]:
    """Greedy by size: the largest parameter goes to the least-loaded shard; the same answer on every rank."""
    load, owner = [0] * nservers, {}
    for key in sorted(sizes, key=lambda k: (-sizes[k], k)):
        shard = load.index(min(load))
        owner[key], load[shard] = shard, load[shard] + sizes[key]
    return owner


class ParameterServerClient:
    """push/pull return tickets; wait(ticket) blocks for the reply (NOTE [ Parameter-server modes ] in the server)."""

    def __init__(self, timeout: float | None = None) -> None:
        pg = _default()
        self.rank, self.size, self.timeout = pg.rank, pg.size, timeout or pg.timeout
        store = pg.store
        self.socks = [connection.connect(store.ctx, zmq.DEALER, a, store.secret, store.curve, self.timeout,
                                   f"parameter server {i}") for i, a in enumerate(pg.ps_addrs)]
        self.owner: dict[str, int] = {}
        self.tickets: dict[int, tuple[int, dict]] = {}
        self.replies: dict[int, tuple[dict, list]] = {}
        self.next_id = 0

    def _send(self, key: str, header: dict, buffer: np.ndarray | None = None) -> int:
        self.next_id += 1
        shard = self.owner[key]
        header = {**header, "key": key, "rank": self.rank, "id": self.next_id, "timeout": self.timeout}
        self.socks[shard].send_multipart(wire.pack(header, () if buffer is None else (buffer,)), copy=False)
        self.tickets[self.next_id] = (shard, header)
        return self.next_id

    def register(self, arrays: dict[str, np.ndarray], mode: str, staleness: int) -> None:
        """Place every parameter on a shard; rank 0's values become everyone's (copied into arrays)."""
        self.owner = assign_shards({k: a.nbytes for k, a in arrays.items()}, len(self.socks))
        store = _default().store
        if self.rank != 0:  # rank 0's initial values must reach the servers first
            store.wait(["distgrad/ps/ready"])
        tickets = {k: self._send(k, {"op": "ps_init", "dtype": a.dtype.str, "shape": list(a.shape), "mode": mode,
                                     "world_size": self.size, "staleness": staleness}, np.ascontiguousarray(a))
                   for k, a in arrays.items()}
        for k, t in tickets.items():
            arrays[k][...] = self.wait(t).reshape(arrays[k].shape)
        if self.rank == 0:
            store.set("distgrad/ps/ready", b"1")

    def push(self, key: str, delta: np.ndarray, step: int) -> int:
        """Send a delta (new - old parameter) for step; the ticket's wait returns the server's version."""
        return self._send(key, {"op": "push", "dtype": delta.dtype.str, "shape": list(delta.shape), "step": step},
                          np.ascontiguousarray(delta))

    def pull(self, key: str, version: int = 0) -> int:
        """Ask for the parameter (sync: once `version` steps are applied); wait returns the array."""
        return self._send(key, {"op": "pull", "version": version})

    def wait(self, ticket: int) -> Any:
        """Block until the ticket's reply arrives; return the pulled array, or the version for a push."""
        shard, request = self.tickets.pop(ticket)
        sock = self.socks[shard]
        while ticket not in self.replies:
            if not sock.poll(int((self.timeout + 1.0) * 1000)):
                raise TimeoutError(f"parameter server {shard} did not answer {request['op']} of {request['key']!r} "
                                   f"within {self.timeout:.1f} s")
            header, frames = wire.unpack(sock.recv_multipart(copy=False))
            self.replies[header.get("id")] = (header, frames)
        header, frames = self.replies.pop(ticket)
        connection.raise_if_error(header)
        if request["op"] == "push":
            return header["version"]
        return np.frombuffer(frames[0].buffer, np.dtype(header["dtype"])).reshape(header["shape"])

    def close(self) -> None:
        """Close the shard connections."""
        for sock in self.socks:
            sock.close(linger=0)


class ParameterServerOptimizer:
    """Wrap a distgrad optimizer: each step pushes the local update to the servers and pulls the global weights."""

    def __init__(self, optimizer: Any, mode: str = "sync", staleness: int = 0,
                 named_parameters: Any = None) -> None:
        if mode not in ("sync", "async"):
            raise ValueError(f"ParameterServerOptimizer: mode must be 'sync' or 'async', got {mode!r}")
        self.optimizer, self.mode, self.staleness = optimizer, mode, staleness
        names = {id(p): n for n, p in named_parameters or ()}
        self.params = {names.get(id(p), f"param_groups[{g}][{i}]"): p
                       for g, group in enumerate(optimizer.param_groups) for i, p in enumerate(group["params"])}
        self.client = ParameterServerClient()
        self.base = {k: _host(p)[0].reshape(tuple(p.shape)).copy() for k, p in self.params.items()}
        self.client.register(self.base, mode, staleness)
        self._write(self.base)
        self.step_count = 0

    @property
    def param_groups(self) -> list[dict]:
        """The wrapped optimizer's param_groups (change lr here, as usual)."""
        return self.optimizer.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        """The wrapped optimizer's zero_grad."""
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        """The wrapped optimizer's state_dict."""
        return self.optimizer.state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        """The wrapped optimizer's load_state_dict."""
        self.optimizer.load_state_dict(state_dict)

    def step(self, closure: Any = None) -> Any:
        """Local optimizer step, push new - old, pull the servers' weights (sync: after every rank's push)."""
        loss = self.optimizer.step(closure) if closure is not None else self.optimizer.step()
        pushes = [self.client.push(k, _host(p)[0].reshape(self.base[k].shape) - self.base[k], self.step_count)
                  for k, p in self.params.items()]
        for ticket in pushes:
            self.client.wait(ticket)
        self.step_count += 1
        version = self.step_count if self.mode == "sync" else 0
        pulls = {k: self.client.pull(k, version) for k in self.params}
        for k, ticket in pulls.items():
            self.base[k] = self.client.wait(ticket).reshape(self.base[k].shape).copy()
        self._write(self.base)
        return loss

    def _write(self, arrays: dict[str, np.ndarray]) -> None:
        with distgrad.no_grad():
            for k, p in self.params.items():
                p.copy_(distgrad.from_numpy(arrays[k]))
