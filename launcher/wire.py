"""Wire format and authentication shared by the server and the workers (their side of a connection is
distgrad/distributed/connection.py); imports no backend."""
from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import socket
import threading
from typing import Any

import msgpack
import zmq
import zmq.utils.z85

log = logging.getLogger("distgrad.wire")

# NOTE [ Wire protocol ]
# Every message is one ZeroMQ multipart message: a msgpack header frame, then zero or more raw buffer frames (tensor
# bytes, C order, dtype and shape named in the header). The header is a map with at least "v" (PROTOCOL_VERSION) and
# "op" (the message type); requests carry "id", echoed by the reply so that a late reply to a timed-out request is
# recognised and dropped. Errors come back as {"op": "error", "type": "ValueError", "error": "..."} and are re-raised
# with that type by the client side (connect, request: distgrad/distributed/connection.py). Authentication happens
# once per connection, during the ZeroMQ handshake, not per message: see NOTE [ Authentication ]. docs/protocol.md
# lists every message type and its fields.
PROTOCOL_VERSION = 1
MAX_HEADER_BYTES = 1 << 16
MAX_MESSAGE_BYTES = int(os.environ.get("DISTGRAD_MAX_MESSAGE_BYTES", str(1 << 31)))


class ProtocolError(ValueError):
    """A message that does not follow NOTE [ Wire protocol ]; the receiver drops it."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def pack(header: dict[str, Any], buffers: tuple | list = ()) -> list:
    """Header frame plus buffer frames, ready for send_multipart."""
    return [msgpack.packb({"v": PROTOCOL_VERSION, **header}), *buffers]


def unpack(frames: list) -> tuple[dict[str, Any], list]:
    """Validate and decode a header frame; raise ProtocolError(reason) for anything malformed."""
    if not frames:
        raise ProtocolError("malformed", "empty message")
    raw = frames[0].bytes if isinstance(frames[0], zmq.Frame) else frames[0]
    if len(raw) > MAX_HEADER_BYTES:
        raise ProtocolError("oversized", f"header of {len(raw)} bytes, limit {MAX_HEADER_BYTES}")
    if sum(len(f) for f in frames) > MAX_MESSAGE_BYTES:
        raise ProtocolError("oversized", f"message over {MAX_MESSAGE_BYTES} bytes")
    try:
        header = msgpack.unpackb(raw, strict_map_key=False)
    except (ValueError, TypeError, msgpack.UnpackException) as e:
        raise ProtocolError("malformed", f"header is not msgpack ({type(e).__name__})") from None
    if not isinstance(header, dict) or not isinstance(header.get("op"), str):
        raise ProtocolError("malformed", "header is not a map with a string 'op'")
    if header.get("v") != PROTOCOL_VERSION:
        raise ProtocolError("version", f"expected protocol version {PROTOCOL_VERSION}, got {header.get('v')!r}")
    return header, frames[1:]


# NOTE [ Authentication ]
# The launcher draws a random secret per job and hands it to workers in DISTGRAD_SECRET (never argv, which `ps` shows).
# Every bound socket (server ROUTER, each worker's peer inbox) requires a ZeroMQ security mechanism, so each connection
# is checked by a ZAP handler thread before any message is delivered:
#  * loopback: PLAIN, password = the secret (cleartext is fine where nobody else can sniff);
#  * beyond loopback: CURVE, on by default. Both key pairs derive from the secret (sha256 of role + secret), so only
#    holders of the secret can authenticate and clients also know they talk to the real server. CURVE encrypts every
#    byte (about 5x slower), so a trusted cluster network may opt out with DISTGRAD_CURVE=off (--no-curve);
#    DISTGRAD_CURVE=on forces it even on loopback (to measure its cost).
# A client that fails authentication sees EVENT_HANDSHAKE_FAILED_* on its socket monitor and raises at once; the
# server sees the same event on its own monitor, counts it as "unauthenticated" and keeps serving.
ZAP_ENDPOINT = "inproc://zeromq.zap.01"
PLAIN_USER = b"distgrad"


def is_loopback(host: str) -> bool:
    """True when host resolves to a loopback address."""
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def use_curve(host: str) -> bool:
    """The one rule both sides apply: DISTGRAD_CURVE=on/off, or (auto, the default) CURVE beyond loopback."""
    setting = os.environ.get("DISTGRAD_CURVE", "auto")
    if setting not in ("auto", "on", "off"):
        raise ValueError(f"DISTGRAD_CURVE must be auto, on or off, got {setting!r}")
    return setting == "on" or (setting == "auto" and not is_loopback(host))


def _curve_pair(secret: str, role: str) -> tuple[bytes, bytes]:
    private = zmq.utils.z85.encode(hashlib.sha256(f"{role}:{secret}".encode()).digest())
    return zmq.curve_public(private), private


def secure_server(sock: zmq.Socket, secret: str, curve: bool) -> None:
    """Require PLAIN (loopback) or CURVE authentication on a socket before it binds."""
    sock.zap_domain = b"distgrad"
    if curve:
        sock.curve_server = True
        sock.curve_secretkey = _curve_pair(secret, "server")[1]
    else:
        sock.plain_server = True


def secure_client(sock: zmq.Socket, secret: str, curve: bool) -> None:
    """Set the credentials that secure_server's ZAP handler accepts, before the socket connects."""
    if curve:
        sock.curve_publickey, sock.curve_secretkey = _curve_pair(secret, "client")
        sock.curve_serverkey = _curve_pair(secret, "server")[0]
    else:
        sock.plain_username, sock.plain_password = PLAIN_USER, secret.encode()


_zap_threads: dict[zmq.Context, threading.Thread] = {}


def start_zap(ctx: zmq.Context, secret: str) -> threading.Thread:
    """Start the ZAP handler thread of a context (idempotent per context); it accepts only the job's secret."""
    if ctx in _zap_threads:
        return _zap_threads[ctx]
    rep = ctx.socket(zmq.REP)
    rep.linger = 0
    rep.bind(ZAP_ENDPOINT)
    client_key = _curve_pair(secret, "client")[0]
    refused = [0]

    def serve() -> None:
        while True:
            try:
                msg = rep.recv_multipart()
            except zmq.ContextTerminated:
                rep.close()
                return
            version, request_id, _domain, address, _identity, mechanism, *creds = msg
            ok = ((mechanism == b"PLAIN" and creds[:2] == [PLAIN_USER, secret.encode()])
                  or (mechanism == b"CURVE" and creds and zmq.utils.z85.encode(creds[0]) == client_key))
            if not ok:
                refused[0] += 1
                if refused[0] <= 10 or refused[0] % 1000 == 0:  # a flood of intruders must not flood the logs
                    log.warning("refused %s connection #%d from %s: wrong job secret", mechanism.decode(),
                                refused[0], address.decode())
            rep.send_multipart([version, request_id, b"200" if ok else b"400",
                                b"OK" if ok else b"wrong job secret", b"", b""])

    thread = threading.Thread(target=serve, name="distgrad-zap", daemon=True)
    thread.start()
    _zap_threads[ctx] = thread
    return thread


HANDSHAKE_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
