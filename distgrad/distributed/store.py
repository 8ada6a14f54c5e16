"""Key-value store client (PyTorch's TCPStore API) on the distgrad server; see launcher/server.py."""
from __future__ import annotations

import os
import threading
from datetime import timedelta

import zmq

from distgrad.launcher import server as _server
from distgrad.launcher import wire

from . import connection


class DistError(RuntimeError):
    """Base of distributed errors, as torch.distributed.DistError."""


class DistStoreError(DistError):
    """A store operation failed or timed out, as torch.distributed.DistStoreError."""


class DistBackendError(DistError):
    """A collective failed or timed out, as torch.distributed.DistBackendError."""


def seconds(timeout: timedelta | float | None, default: float) -> float:
    """A timeout given as timedelta or seconds, as a float number of seconds."""
    if timeout is None:
        return default
    return timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)


def job_secret() -> str:
    """The job's secret from DISTGRAD_SECRET, or a ValueError saying how to set one."""
    secret = os.environ.get("DISTGRAD_SECRET")
    if not secret:
        raise ValueError("distgrad.distributed needs the job secret in DISTGRAD_SECRET: distgrad-launch sets it; "
                         "under srun/mpirun export one for the whole job, e.g. "
                         "export DISTGRAD_SECRET=$(python -c 'import secrets; print(secrets.token_hex(16))')")
    return secret


class TCPStore:
    """PyTorch's TCPStore API; is_master=True also hosts the server in a thread of this process."""

    def __init__(self, host_name: str, port: int, world_size: int | None = None, is_master: bool = False,
                 timeout: timedelta | float = timedelta(seconds=300), wait_for_workers: bool = True) -> None:
        self.host, self.timeout = host_name, seconds(timeout, 300.0)
        self.secret, self.curve = job_secret(), wire.use_curve(host_name)
        self.ctx = zmq.Context.instance()
        self._stop, self._thread, self._lock = threading.Event(), None, threading.Lock()
        if is_master:
            host = "127.0.0.1" if wire.is_loopback(host_name) else host_name
            srv = _server.Server(self.ctx, host, port, self.secret, self.curve,
                                 float(os.environ.get("DISTGRAD_HEARTBEAT_TIMEOUT", "10")))
            port = srv.port
            self._thread = threading.Thread(target=srv.serve, args=(self._stop,), name="distgrad-server", daemon=True)
            self._thread.start()
        self.port = port
        self.endpoint = f"tcp://{host_name}:{port}"
        self.sock = connection.connect(self.ctx, zmq.DEALER, self.endpoint, self.secret, self.curve, self.timeout)

    def request(self, header: dict, buffers: tuple = (), timeout: float | None = None) -> tuple[dict, list]:
        """One request/reply with the server; store timeouts become DistStoreError."""
        wait = self.timeout if timeout is None else timeout
        with self._lock:
            try:
                # The server answers at its deadline; the extra second lets its error (naming keys) arrive first.
                return connection.request(self.sock, {**header, "timeout": wait}, buffers, wait + 1.0)
            except TimeoutError as e:
                raise DistStoreError(str(e)) from None

    def set_timeout(self, timeout: timedelta | float) -> None:
        """Change the default timeout of later calls."""
        self.timeout = seconds(timeout, self.timeout)

    def set(self, key: str, value: str | bytes) -> None:
        """Store value under key, waking any get/wait on it."""
        self.request({"op": "set", "key": key}, (value.encode() if isinstance(value, str) else bytes(value),))

    def get(self, key: str) -> bytes:
        """The value of key, waiting up to the timeout for it to be set."""
        return self.request({"op": "get", "key": key})[1][0].bytes

    def add(self, key: str, amount: int) -> int:
        """Add amount to the integer under key (0 when absent) and return the new value."""
        return self.request({"op": "add", "key": key, "amount": int(amount)})[0]["value"]

    def wait(self, keys: list[str], timeout: timedelta | float | None = None) -> None:
        """Wait until every key is set, or raise DistStoreError naming those still missing."""
        self.request({"op": "wait", "keys": list(keys)}, timeout=seconds(timeout, self.timeout))

    def check(self, keys: list[str]) -> bool:
        """True when every key is set, without waiting."""
        return self.request({"op": "check", "keys": list(keys)})[0]["value"]

    def delete_key(self, key: str) -> bool:
        """Delete key; True when it existed."""
        return self.request({"op": "delete", "key": key})[0]["value"]

    def num_keys(self) -> int:
        """How many keys the store holds."""
        return self.request({"op": "num_keys"})[0]["value"]

    def close(self) -> None:
        """Close the connection and stop the hosted server, if any."""
        self.sock.close(linger=0)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
