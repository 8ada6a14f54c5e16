"""The client side of the wire protocol (launcher/wire.py): authenticated connections and request/reply."""
from __future__ import annotations

import itertools
import time
from typing import Any

import zmq
import zmq.utils.monitor

from distgrad.launcher.wire import HANDSHAKE_FAILED, pack, secure_client, unpack

ERROR_TYPES = {"ValueError": ValueError, "RuntimeError": RuntimeError, "TimeoutError": TimeoutError,
               "KeyError": KeyError}
_monitor_ids = itertools.count()
_request_ids = itertools.count(1)


def connect(ctx: zmq.Context, kind: int, endpoint: str, secret: str, curve: bool, timeout: float,
            what: str = "the distgrad server") -> zmq.Socket:
    """Connect an authenticated socket and wait for its handshake; raise a clear error on refusal or silence."""
    sock = ctx.socket(kind)
    sock.linger = 0
    secure_client(sock, secret, curve)
    # A unique address: pyzmq's default names it after the socket's fd, which a closed socket's lingering
    # monitor may still hold when the next socket reuses the fd ("Address already in use").
    monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | HANDSHAKE_FAILED,
                                      addr=f"inproc://distgrad-monitor-{next(_monitor_ids)}")
    sock.connect(endpoint)
    deadline = time.monotonic() + timeout
    event = None
    try:
        while event is None and (left := deadline - time.monotonic()) > 0 and monitor.poll(int(left * 1000) + 1):
            event = zmq.utils.monitor.recv_monitor_message(monitor)["event"]
    finally:
        sock.disable_monitor()
        monitor.close()
    if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
        return sock
    sock.close()
    if event is None:
        raise TimeoutError(f"could not connect to {what} at {endpoint} within {timeout:.1f} s: nothing answered. "
                           f"Check MASTER_ADDR/MASTER_PORT and that the launcher (or rank 0) is running.")
    mode = "CURVE" if curve else "PLAIN"
    raise PermissionError(
        f"authentication failed connecting to {what} at {endpoint} ({mode}): the server refused this job's "
        f"secret. Workers must run with the DISTGRAD_SECRET of the launcher that started the server; "
        f"a CURVE/PLAIN mismatch (DISTGRAD_CURVE differs between nodes) fails the same way.")


def request(sock: zmq.Socket, header: dict[str, Any], buffers: tuple | list = (), timeout: float = 30.0,
            what: str = "the distgrad server") -> tuple[dict[str, Any], list]:
    """Send one request on a DEALER and wait for the reply with the same id; raise TimeoutError when none comes."""
    request_id = next(_request_ids)
    sock.send_multipart(pack({**header, "id": request_id}, buffers), copy=False)
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        if not sock.poll(int(left * 1000) + 1):
            break
        reply, frames = unpack(sock.recv_multipart(copy=False))
        if reply.get("id") == request_id:
            return raise_if_error(reply), frames
    raise TimeoutError(f"no reply to {header['op']!r} from {what} within {timeout:.1f} s")


def raise_if_error(header: dict[str, Any]) -> dict[str, Any]:
    """Re-raise an error reply with its exception type; return any other header."""
    if header["op"] == "error":
        raise ERROR_TYPES.get(header.get("type"), RuntimeError)(header.get("error", "unknown server error"))
    return header
