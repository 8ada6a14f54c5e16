"""distgrad-launch: env contract, output relay, failures, signals, restarts; real processes, bounded by timeouts."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

LAUNCH = [sys.executable, "-m", "distgrad.launcher.cli"]
TIMEOUT = 40  # seconds for any one launcher run; a hang fails the test instead of blocking the suite


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=TIMEOUT, **kwargs)


def launch(tmp_path: Path, body: str, *options: str, env: dict | None = None) -> subprocess.CompletedProcess:
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(body))
    return run([*LAUNCH, *options, str(script)], env={**os.environ, "DISTGRAD_STOP_GRACE": "1", **(env or {})},
               cwd=tmp_path)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is dead for our purposes
        return f.read().split(")")[-1].split()[0] != "Z"


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_env_contract_and_secret_not_in_argv(tmp_path):
    body = """
        import json, os
        keys = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT",
                "DISTGRAD_ROLE", "DISTGRAD_PS_ADDR", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"]
        cmdline = open("/proc/self/cmdline", "rb").read() + open(f"/proc/{os.getppid()}/cmdline", "rb").read()
        info = {k: os.environ[k] for k in keys}
        info["secret_in_argv"] = os.environ["DISTGRAD_SECRET"].encode() in cmdline
        info["secret_len"] = len(os.environ["DISTGRAD_SECRET"])
        print(json.dumps(info))
    """
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    (tmp_path / "job.py").write_text(textwrap.dedent(body))
    r = run([*LAUNCH, "--nproc", "2", "--nservers", "2", str(tmp_path / "job.py")], env=env)
    assert r.returncode == 0, r.stderr
    infos = sorted((json.loads(line.split("] ", 1)[1]) for line in r.stdout.splitlines()), key=lambda i: i["RANK"])
    cores = len(os.sched_getaffinity(0))
    assert [i["RANK"] for i in infos] == ["0", "1"] and [i["LOCAL_RANK"] for i in infos] == ["0", "1"]
    for i in infos:
        assert (i["WORLD_SIZE"], i["LOCAL_WORLD_SIZE"], i["NODE_RANK"], i["MASTER_ADDR"]) == ("2", "2", "0",
                                                                                              "127.0.0.1")
        assert i["DISTGRAD_ROLE"] == "worker" and len(i["DISTGRAD_PS_ADDR"].split(",")) == 2
        assert i["OMP_NUM_THREADS"] == i["OPENBLAS_NUM_THREADS"] == str(max(1, cores // 2))
        assert not i["secret_in_argv"] and i["secret_len"] >= 32
    assert port_free(int(infos[0]["MASTER_PORT"])), "the server's port is still bound after the launcher exited"


def test_output_prefixed_and_logged(tmp_path):
    r = launch(tmp_path, """
        import os, sys
        print("hello from", os.environ["RANK"])
        print("oops", file=sys.stderr)
    """, "--nproc", "2", "--log-dir", str(tmp_path / "logs"))
    assert r.returncode == 0, r.stderr
    assert "[rank 0] hello from 0" in r.stdout and "[rank 1] hello from 1" in r.stdout
    assert "[rank 1] oops" in r.stderr
    log = (tmp_path / "logs" / "rank_1.log").read_text()
    assert "hello from 1" in log and "oops" in log


def test_devices_map_local_ranks_round_robin(tmp_path):
    r = launch(tmp_path, """
        import os
        print(os.environ["DISTGRAD_DEVICE"], os.environ.get("DISTGRAD_OPENCL_DEVICE"))
    """, "--nproc", "3", "--devices", "opencl:1,cpu")
    assert r.returncode == 0, r.stderr
    assert "[rank 0] opencl:1 1" in r.stdout and "[rank 1] cpu None" in r.stdout and "[rank 2] opencl:1 1" in r.stdout
    assert "--devices must be" in launch(tmp_path, "pass\n", "--devices", "gpu0").stderr


def test_oversubscription_warns(tmp_path):
    cores = len(os.sched_getaffinity(0))       # 3 processes x `cores` threads oversubscribe any machine
    r = launch(tmp_path, "pass\n", "--nproc", "3", env={"OMP_NUM_THREADS": str(cores)})
    assert r.returncode == 0 and f"3 processes x {cores} threads = {3 * cores} > {cores} cores" in r.stderr
    assert "oversubscription" not in launch(tmp_path, "pass\n", "--nproc", "1", env={"OMP_NUM_THREADS": "1"}).stderr


def test_failed_worker_stops_the_rest_with_its_code_and_tail(tmp_path):
    r = launch(tmp_path, """
        import os, sys, time
        open(f"pid{os.environ['RANK']}", "w").write(str(os.getpid()))
        if os.environ["RANK"] == "1":
            time.sleep(0.5)
            print("last words before failing")
            sys.exit(3)
        time.sleep(60)
    """, "--nproc", "3")
    assert r.returncode == 3
    assert "rank 1" in r.stderr and "exit code 3" in r.stderr and "last words before failing" in r.stderr
    assert not any(alive(int((tmp_path / f"pid{i}").read_text())) for i in range(3))


def test_worker_killed_by_signal_is_reported(tmp_path):
    r = launch(tmp_path, """
        import os, signal, time
        if os.environ["RANK"] == "0":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)
    """, "--nproc", "2")
    assert r.returncode == 128 + signal.SIGKILL and "signal SIGKILL" in r.stderr


def test_sigterm_is_forwarded_then_escalated(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent("""
        import os, signal, time
        if os.environ["RANK"] == "1":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stubborn: needs the SIGKILL escalation
        open(f"pid{os.environ['RANK']}", "w").write(str(os.getpid()))
        time.sleep(60)
    """))
    proc = subprocess.Popen([*LAUNCH, "--nproc", "2", str(script)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "DISTGRAD_STOP_GRACE": "1"})
    try:
        for _ in range(200):
            if all((tmp_path / f"pid{i}").exists() for i in range(2)):
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM and "SIGTERM" in err
    assert not any(alive(int((tmp_path / f"pid{i}").read_text())) for i in range(2))


def test_max_restarts_reruns_the_group(tmp_path):
    r = launch(tmp_path, """
        import os, sys
        print("attempt", os.environ["DISTGRAD_RESTART_COUNT"])
        sys.exit(1 if os.environ["DISTGRAD_RESTART_COUNT"] == "0" and os.environ["RANK"] == "0" else 0)
    """, "--nproc", "2", "--max-restarts", "1")
    assert r.returncode == 0, r.stderr
    assert "[rank 0] attempt 1" in r.stdout and "restarting" in r.stderr


def test_module_mode_and_script_args(tmp_path):
    (tmp_path / "mymod.py").write_text("import sys\nprint('args', sys.argv[1:])\n")
    r = run([*LAUNCH, "--nproc", "1", "-m", "mymod", "--epochs", "3"], cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert "[rank 0] args ['--epochs', '3']" in r.stdout


def test_bad_options_are_rejected():
    r = run([*LAUNCH, "--nnodes", "2", "x.py"], env={k: v for k, v in os.environ.items() if k != "DISTGRAD_SECRET"})
    assert r.returncode == 2 and "--master-port" in r.stderr


@pytest.mark.parametrize("option", ["--nproc", "--nservers"])
def test_counts_must_be_positive(option):
    r = run([*LAUNCH, option, "0", "x.py"])
    assert r.returncode == 2 and "must be at least 1" in r.stderr
