"""Faults and hostile input: fuzzing every server socket during a run, a worker dying mid-run, two hosts in netns."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time

import msgpack
import numpy as np
import pytest
import zmq

from distgrad.distributed import connection
from distgrad.launcher import wire

LAUNCH = [sys.executable, "-m", "distgrad.launcher.cli"]

TRAIN = """
    g = np.random.default_rng(0)
    data = [(g.normal(size=(4 * n, 5)).astype(np.float32), g.normal(size=(4 * n, 3)).astype(np.float32))
            for _ in range(STEPS)]
    def model():
        h = np.random.default_rng(1)
        return [torch.tensor(h.normal(size=s).astype(np.float32), requires_grad=True) for s in ((5, 3), (3,))]
    def loss(params, x, y):
        return ((torch.tensor(x) @ params[0] + params[1] - torch.tensor(y)) ** 2).mean()
    params = model()
    opt = ParameterServerOptimizer(PlainSGD(params, 0.05), mode="sync")
    for step, (x, y) in enumerate(data):
        opt.zero_grad()
        loss(params, x[4 * r:4 * r + 4], y[4 * r:4 * r + 4]).backward()
        opt.step()
        check = np.full(50_000, float(r + step))  # the ring path too
        dist.all_reduce(check)
        assert (check == sum(range(n)) + n * step).all()
    print("PASS", worst_gap_to_plain_sgd(params, model(), data, loss, 0.05))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fuzz_frames(rng: np.random.Generator) -> list[bytes]:
    """Random bytes, or msgpack that looks like our protocol with wrong, missing or mistyped fields."""
    kind = rng.integers(4)
    if kind == 0:
        return [rng.bytes(int(rng.integers(0, 300)))]
    ops = ["set", "get", "add", "wait", "check", "delete", "heartbeat", "rendezvous", "status", "ps_init", "push",
           "pull", "bye", "hello", "nope", ""]
    values = [None, -1, 2**63 - 1, 1e308, float("nan"), "", "x" * 100, [1, "a"], {"k": 1}, b"\x00" * 8, True, 7]
    header = {"v": [1, 1, 1, 0, 2, "1"][rng.integers(6)], "op": ops[rng.integers(len(ops))]}
    for field in rng.choice(["key", "rank", "keys", "amount", "timeout", "dtype", "shape", "step", "version", "mode",
                             "world_size", "staleness", "addr", "seq", "id"], size=int(rng.integers(0, 6))):
        header[str(field)] = values[rng.integers(len(values))]
    if header.get("key") is not None:
        header["key"] = f"fuzz-{header['key']}"  # never a real parameter or store key of the run
    frames = [msgpack.packb(header)]
    if kind == 2:
        frames.append(rng.bytes(int(rng.integers(0, 64))))
    if kind == 3:
        frames = [msgpack.packb([header]), *frames]
    return frames


def test_fuzzing_every_server_socket_during_a_run_leaves_the_weights_right(ps_job):
    secret, port = "fuzz-secret-" + os.urandom(8).hex(), free_port()
    script = ps_job(TRAIN.replace("STEPS", "40"), timeout=30)
    run = subprocess.Popen([*LAUNCH, "--nproc", "3", "--nservers", "2", "--master-port", str(port), str(script)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "DISTGRAD_SECRET": secret, "DISTGRAD_STOP_GRACE": "1"})
    sent, dropped, stop = [0], {}, threading.Event()

    def fuzz() -> None:
        ctx = zmq.Context()  # this thread's own: destroying a context from another thread aborts libzmq
        try:
            rng = np.random.default_rng(42)
            admin = connection.connect(ctx, zmq.DEALER, f"tcp://127.0.0.1:{port}", secret, False, timeout=20)
            status = {}
            while not stop.is_set() and not status.get("peers"):
                status = connection.request(admin, {"op": "status"}, timeout=5)[0]
                time.sleep(0.05)
            shards = status.get("ps") or [f"tcp://127.0.0.1:{port}"]
            inboxes = [peer[1] for peer in status.get("peers") or []]
            socks = []
            for a in shards:   # a stop between connects ends the thread within one connect's timeout
                if stop.is_set():
                    return
                socks.append(connection.connect(ctx, zmq.DEALER, a, secret, False, timeout=20))
            intruders: list[zmq.Socket] = []
            rounds = 0
            while not stop.is_set():
                for sock in socks:  # authenticated: the messages themselves must be rejected
                    try:  # never blocks: a server too busy to drain its queue (or gone) just misses this one
                        sock.send_multipart(fuzz_frames(rng), flags=zmq.NOBLOCK)
                        sent[0] += 1
                    except zmq.Again:
                        pass
                for target in [f"127.0.0.1:{port}", *(a.removeprefix("tcp://") for a in inboxes)]:
                    host, p = target.rsplit(":", 1)
                    try:  # unauthenticated raw bytes at the server and every worker's tcp inbox
                        with socket.create_connection((host, int(p)), timeout=1) as raw:
                            raw.sendall(rng.bytes(512))
                    except OSError:
                        pass
                if rounds % 50 == 0:  # a real ZeroMQ peer with the wrong secret
                    intruder = ctx.socket(zmq.DEALER)
                    wire.secure_client(intruder, "wrong-" + secret, curve=False)
                    intruder.connect(shards[0])
                    try:
                        intruder.send_multipart(wire.pack({"op": "get", "key": "fuzz"}), flags=zmq.NOBLOCK)
                    except zmq.Again:
                        pass
                    intruders.append(intruder)
                rounds += 1
                if rounds % 100 == 0:
                    try:
                        dropped.update(connection.request(admin, {"op": "status"}, timeout=5)[0]["dropped"])
                    except TimeoutError:  # the run ended and took its server with it
                        break
                time.sleep(0.002)
        finally:
            ctx.destroy(linger=0)

    fuzzer = threading.Thread(target=fuzz, daemon=True)
    fuzzer.start()
    try:
        out, err = run.communicate(timeout=90)
    finally:
        run.kill()
        stop.set()
        fuzzer.join(45)  # it checks stop between its waits, each bounded (connect 20 s, request 5 s)
    assert not fuzzer.is_alive()
    assert run.returncode == 0, out + err
    assert out.count("PASS") == 3 and sent[0] > 200
    assert dropped.get("malformed", 0) > 0 and dropped.get("unauthenticated", 0) > 0, dropped


def test_a_killed_worker_makes_the_others_fail_not_hang(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent("""
        import os, signal, numpy as np
        import distgrad.distributed as dist
        dist.init_process_group(timeout=120)
        for step in range(1000):
            if step == 5 and dist.get_rank() == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            dist.all_reduce(np.ones(100_000))
    """))
    start = time.monotonic()
    r = subprocess.run([*LAUNCH, "--nproc", "3", str(script)], check=False, capture_output=True, text=True,
                       timeout=60, env={**os.environ, "DISTGRAD_STOP_GRACE": "1"})
    assert r.returncode == 128 + 9 and "rank 2" in r.stderr and "signal SIGKILL" in r.stderr
    assert time.monotonic() - start < 30  # the others were stopped, not left waiting for their 120 s timeout


# ---- two hosts on one machine: network namespaces joined by a veth pair
def netns_unavailable() -> str | None:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return "needs root and iproute2 to create network namespaces"
    probe = f"dgprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], check=False, capture_output=True, text=True)
    subprocess.run(["ip", "netns", "del", probe], check=False, capture_output=True)
    return None if made.returncode == 0 else f"cannot create network namespaces here: {made.stderr.strip()}"


@pytest.fixture
def two_hosts():
    """Namespaces A (10.77.0.1) and B (10.77.0.2) joined by a veth pair; yields (nsA, nsB, vethA)."""
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    tag = f"{os.getpid() % 100000}"
    ns, veth = [f"dgA{tag}", f"dgB{tag}"], [f"dgva{tag}", f"dgvb{tag}"]
    commands = [["ip", "netns", "add", ns[0]], ["ip", "netns", "add", ns[1]],
                ["ip", "link", "add", veth[0], "type", "veth", "peer", "name", veth[1]]]
    for i in range(2):
        commands += [["ip", "link", "set", veth[i], "netns", ns[i]],
                     ["ip", "-n", ns[i], "addr", "add", f"10.77.0.{i + 1}/24", "dev", veth[i]],
                     ["ip", "-n", ns[i], "link", "set", veth[i], "up"], ["ip", "-n", ns[i], "link", "set", "lo", "up"]]
    try:
        for command in commands:
            subprocess.run(command, check=True, capture_output=True, timeout=10)
        yield ns[0], ns[1], veth[0]
    finally:
        for name in ns:
            subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True, timeout=10)


def test_two_nodes_in_network_namespaces_train_then_fail_cleanly_when_cut(tmp_path, two_hosts):
    ns_a, ns_b, veth_a = two_hosts
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent("""
        import os, sys, time, numpy as np
        import distgrad.distributed as dist
        dist.init_process_group(timeout=5)
        r, n = dist.get_rank(), dist.get_world_size()
        for step in range(100000):
            x = np.full(100_000, float(r))
            dist.all_reduce(x)
            assert (x == sum(range(n))).all()
            if step == 10:
                print("TRAINED", flush=True)
            time.sleep(0.01)
    """))
    env = {**os.environ, "DISTGRAD_SECRET": "netns-" + os.urandom(8).hex(), "DISTGRAD_STOP_GRACE": "1",
           "DISTGRAD_HEARTBEAT_TIMEOUT": "3"}

    def node(ns: str, rank: int) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", ns, *LAUNCH, "--nnodes", "2", "--node-rank", str(rank),
                                 "--nproc", "2", "--master-addr", "10.77.0.1", "--master-port", "29611",
                                 str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    nodes = [node(ns_a, 0), node(ns_b, 1)]
    results = []
    try:
        deadline, seen = time.monotonic() + 40, ""
        fd = nodes[1].stdout.fileno()
        os.set_blocking(fd, False)
        while "TRAINED" not in seen and time.monotonic() < deadline and nodes[1].poll() is None:
            try:
                seen += os.read(fd, 65536).decode()
            except BlockingIOError:
                time.sleep(0.1)
        assert "TRAINED" in seen, seen + (nodes[1].stderr.read() if nodes[1].poll() is not None else "")
        subprocess.run(["ip", "-n", ns_a, "link", "set", veth_a, "down"], check=True, timeout=10)  # cut the link
        results = [p.communicate(timeout=60) for p in nodes]
    finally:
        for p in nodes:
            p.kill()
    for p, (_, err) in zip(nodes, results, strict=True):
        assert p.returncode != 0
        assert "Timed out" in err or "aborted" in err or "did not answer" in err, err[-3000:]
