"""Start the server(s) and the workers of one node, relay their output, stop everything when one fails."""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import selectors
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import IO, Any

from . import server as _server
from . import wire

TAIL_LINES = 20


def die_with_parent() -> None:
    """Linux: SIGKILL this child when the launcher dies, so that not even `kill -9 launcher` leaves orphans."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _serve(*args: Any, **kwargs: Any) -> None:
    die_with_parent()
    _server.run(*args, **kwargs)


@dataclass
class Worker:
    """One worker process and what the launcher keeps of its output."""
    rank: int
    proc: subprocess.Popen
    log: IO[str] | None
    tail: deque = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    partial: dict[int, bytes] = field(default_factory=dict)


def describe_exit(code: int) -> str:
    """'exit code 3' or 'signal SIGKILL' for a Popen returncode."""
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


# NOTE [ Launcher shutdown ]
# Workers run in their own sessions (process groups), so a terminal's Ctrl-C reaches only the launcher, which
# forwards it: SIGINT/SIGTERM go to every worker's process group (their DataLoader children included), and whatever is
# still alive after the grace period gets SIGKILL. When a worker exits non-zero or by a signal, the others get
# SIGTERM, then SIGKILL after the grace period, well inside the 10 s promise. Children also carry PR_SET_PDEATHSIG, so
# even a launcher killed with SIGKILL leaves no orphan holding a port. Servers stop last, after the workers.
class Supervisor:
    """Runs one attempt after another (up to 1 + max_restarts) of the servers plus nproc workers."""

    def __init__(self, args: Any, command: list[str], secret: str) -> None:
        self.args, self.command, self.secret = args, command, secret
        self.grace = float(os.environ.get("DISTGRAD_STOP_GRACE", "3"))
        self.signal_received: int | None = None
        self.multi_node = args.nnodes > 1
        self.bind_host = args.master_addr if self.multi_node else "127.0.0.1"
        self.curve = wire.use_curve(self.bind_host)

    def run(self) -> int:
        """Run the job; return the launcher's exit code."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        code = 1
        for attempt in range(self.args.max_restarts + 1):
            code = self.attempt(attempt)
            if code == 0 or self.signal_received is not None:
                break
            if attempt < self.args.max_restarts:
                self.say(f"restarting the workers ({attempt + 1} of {self.args.max_restarts} restarts)")
        return code

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.signal_received = signum

    def say(self, message: str) -> None:
        print(f"distgrad-launch: {message}", file=sys.stderr, flush=True)

    def start_servers(self) -> tuple[list[multiprocessing.Process], list[str]]:
        if self.args.node_rank != 0:  # other nodes use node 0's servers; rendezvous tells workers the shard list
            return [], [f"tcp://{self.args.master_addr}:{self.args.master_port}"]
        fork = multiprocessing.get_context("fork")
        hb = float(os.environ.get("DISTGRAD_HEARTBEAT_TIMEOUT", "10"))
        servers, pipes, addrs = [], [], []
        for i in range(self.args.nservers):
            mine, theirs = fork.Pipe()
            port = self.args.master_port if i == 0 else 0
            proc = fork.Process(target=_serve, args=(self.bind_host, port, self.secret, self.curve, theirs, i, hb),
                                name=f"distgrad-server-{i}", daemon=False)
            proc.start()
            theirs.close()
            servers.append(proc)
            pipes.append(mine)
        for i, pipe in enumerate(pipes):
            if not pipe.poll(10.0):
                self.stop_servers(servers)
                raise RuntimeError(f"parameter server {i} did not start within 10 s (port in use?)")
            addrs.append(pipe.recv())
        pipes[0].send(addrs)
        return servers, addrs

    def stop_servers(self, servers: list[multiprocessing.Process]) -> None:
        for proc in servers:
            if proc.is_alive():
                proc.terminate()
        for proc in servers:
            proc.join(self.grace)
            if proc.is_alive():
                proc.kill()
                proc.join(5.0)

    def worker_env(self, local_rank: int, addrs: list[str], attempt: int) -> dict[str, str]:
        a = self.args
        master_port = addrs[0].rsplit(":", 1)[1]
        env = {**os.environ, "RANK": str(a.node_rank * a.nproc + local_rank), "LOCAL_RANK": str(local_rank),
               "WORLD_SIZE": str(a.nnodes * a.nproc), "LOCAL_WORLD_SIZE": str(a.nproc), "NODE_RANK": str(a.node_rank),
               "GROUP_RANK": str(a.node_rank), "MASTER_ADDR": a.master_addr if self.multi_node else "127.0.0.1",
               "MASTER_PORT": master_port, "DISTGRAD_ROLE": "worker", "DISTGRAD_PS_ADDR": ",".join(addrs),
               "DISTGRAD_SECRET": self.secret, "DISTGRAD_RESTART_COUNT": str(attempt),
               "TORCHELASTIC_RESTART_COUNT": str(attempt), "PYTHONUNBUFFERED": "1"}
        if a.timeout is not None:
            env["DISTGRAD_TIMEOUT"] = str(a.timeout)
        if a.devices:
            devices = a.devices.split(",")
            env["DISTGRAD_DEVICE"] = devices[local_rank % len(devices)]
        return env

    def attempt(self, attempt: int) -> int:
        servers, addrs = self.start_servers()
        workers: list[Worker] = []
        selector = selectors.DefaultSelector()
        try:
            for local_rank in range(self.args.nproc):
                env = self.worker_env(local_rank, addrs, attempt)
                rank = int(env["RANK"])
                log = None
                if self.args.log_dir:
                    os.makedirs(self.args.log_dir, exist_ok=True)
                    log = open(os.path.join(self.args.log_dir, f"rank_{rank}.log"), "a")  # noqa: SIM115
                    log.write(f"==== attempt {attempt} ====\n")
                proc = subprocess.Popen(self.command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        stdin=subprocess.DEVNULL, start_new_session=True,
                                        preexec_fn=die_with_parent)  # noqa: PLW1509 -- launcher has no threads
                worker = Worker(rank, proc, log)
                workers.append(worker)
                for stream, out in ((proc.stdout, sys.stdout), (proc.stderr, sys.stderr)):
                    os.set_blocking(stream.fileno(), False)
                    selector.register(stream, selectors.EVENT_READ, (worker, out))
            return self.supervise(workers, servers, selector)
        finally:
            self.kill_all(workers, signal.SIGTERM)
            self.drain(selector, deadline=time.monotonic() + 1.0)
            self.stop_servers(servers)
            for w in workers:
                if w.log is not None:
                    w.log.close()

    def supervise(self, workers: list[Worker], servers: list, selector: selectors.BaseSelector) -> int:
        while True:
            self.drain(selector, deadline=time.monotonic() + 0.05)
            if self.signal_received is not None:
                self.say(f"received {signal.Signals(self.signal_received).name}; forwarding it to the workers")
                self.kill_all(workers, self.signal_received)
                return 128 + self.signal_received
            for w in workers:
                code = w.proc.poll()
                if code is not None and code != 0:
                    self.drain(selector, deadline=time.monotonic() + 0.3)  # the failed rank's last words
                    self.report(w, code, workers)
                    return code if code > 0 else 128 - code
            dead = [i for i, s in enumerate(servers) if not s.is_alive()]
            if dead:
                self.say(f"parameter server {dead[0]} exited ({describe_exit(servers[dead[0]].exitcode)}); "
                         f"stopping the workers")
                return 1
            if all(w.proc.poll() == 0 for w in workers):
                return 0

    def report(self, failed: Worker, code: int, workers: list[Worker]) -> None:
        others = sum(1 for w in workers if w.proc.poll() is None)
        self.say(f"rank {failed.rank} (pid {failed.proc.pid}) failed with {describe_exit(code)}; "
                 f"stopping the other {others} worker(s)")
        if failed.tail:
            self.say(f"last {len(failed.tail)} lines of rank {failed.rank}'s output:\n"
                     + "\n".join(f"    {line}" for line in failed.tail))

    def kill_all(self, workers: list[Worker], first: int) -> None:
        """Signal every live worker's process group, then SIGKILL what is left after the grace period."""
        for sig, wait in ((first, self.grace), (signal.SIGKILL, 5.0)):
            alive = [w for w in workers if w.proc.poll() is None]
            for w in alive:
                try:
                    os.killpg(w.proc.pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while alive and time.monotonic() < deadline:
                alive = [w for w in alive if w.proc.poll() is None]
                time.sleep(0.02)
            if not alive:
                return

    def drain(self, selector: selectors.BaseSelector, deadline: float) -> None:
        while selector.get_map() and (left := deadline - time.monotonic()) > 0:
            events = selector.select(left)
            if not events:
                return
            for key, _ in events:
                worker, out = key.data
                self.read(selector, key.fileobj, worker, out)

    def read(self, selector: selectors.BaseSelector, stream: Any, worker: Worker, out: IO[str]) -> None:
        fd = stream.fileno()
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        data = worker.partial.pop(fd, b"") + chunk
        lines = data.split(b"\n")
        if chunk:
            worker.partial[fd] = lines.pop()
        else:
            selector.unregister(stream)
            stream.close()
        for raw in lines if (chunk or data) else []:
            line = raw.decode(errors="replace")
            worker.tail.append(line)
            out.write(f"[rank {worker.rank}] {line}\n")
            if worker.log is not None:
                worker.log.write(line + "\n")
        out.flush()
