"""DistributedDataParallel: equivalence with one big batch, no_sync, join, shape mismatch, unused parameters."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from distgrad import nn

needs_module = pytest.mark.skipif(not hasattr(nn, "Module") or not hasattr(nn, "Parameter"),
                                  reason="needs distgrad.nn.Module and nn.Parameter (nn/optim issue), not on main yet")

LAUNCH = [sys.executable, "-m", "distgrad.launcher.cli"]

# A model and a plain SGD loop written with core ops only, so these tests depend on nn.Module and nn.Parameter alone.
PRELUDE = """
    import numpy as np
    import distgrad as torch
    import distgrad.distributed as dist
    from distgrad import nn
    from distgrad.nn.parallel import DistributedDataParallel as DDP

    class MLP(nn.Module):
        def __init__(self, seed, hidden=16):
            super().__init__()
            g = np.random.default_rng(seed)
            self.w1 = nn.Parameter(torch.tensor(g.normal(0, 0.5, (8, hidden)).astype(np.float32)))
            self.b1 = nn.Parameter(torch.zeros(hidden))
            self.w2 = nn.Parameter(torch.tensor(g.normal(0, 0.5, (hidden, 4)).astype(np.float32)))
            self.b2 = nn.Parameter(torch.zeros(4))
        def forward(self, x):
            return (x @ self.w1 + self.b1).relu() @ self.w2 + self.b2

    def sgd(params, lr=0.1):
        with torch.no_grad():
            for p in params:
                p.sub_(lr * p.grad)
                p.grad = None

    def loss_of(model, x, y):
        return ((model(torch.tensor(x)) - torch.tensor(y)) ** 2).mean()

    dist.init_process_group(timeout=30)
    r, n, b = dist.get_rank(), dist.get_world_size(), 4
    g = np.random.default_rng(123)
    data = [(g.normal(size=(n * b, 8)).astype(np.float32), g.normal(size=(n * b, 4)).astype(np.float32))
            for _ in range(20)]
    mine = lambda a: a[r * b:(r + 1) * b]
    def worst(model_a, model_b):
        return max(float((p - q).abs().max()) for p, q in zip(model_a.parameters(), model_b.parameters()))
"""


def launch(tmp_path, body: str, nproc: int = 2) -> subprocess.CompletedProcess:
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(PRELUDE) + textwrap.dedent(body))
    return subprocess.run([*LAUNCH, "--nproc", str(nproc), str(script)], check=False, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "DISTGRAD_STOP_GRACE": "1"})


@needs_module
def test_n_ranks_match_one_process_with_the_whole_batch(tmp_path):
    r = launch(tmp_path, """
        ddp = DDP(MLP(seed=r), bucket_cap_mb=64 / 2**20)  # 16 floats per bucket: several buckets in flight
        assert len(ddp._buckets) > 2
        for x, y in data:
            loss_of(ddp, mine(x), mine(y)).backward()
            sgd(ddp.module.parameters())
        ref = MLP(seed=0)  # rank 0's initial weights, which DDP broadcast
        for x, y in data:
            loss_of(ref, x, y).backward()
            sgd(ref.parameters())
        assert worst(ddp.module, ref) < 1e-5, worst(ddp.module, ref)
        print("PASS")
    """, nproc=3)
    assert r.returncode == 0 and r.stdout.count("PASS") == 3, r.stdout + r.stderr


@needs_module
def test_no_sync_accumulates_then_syncs_the_sum(tmp_path):
    r = launch(tmp_path, """
        ddp, ref = DDP(MLP(seed=r)), MLP(seed=0)
        for x, y in data[:6:2]:
            with ddp.no_sync():
                loss_of(ddp, mine(x), mine(y)).backward()
            loss_of(ddp, mine(x) * 2, mine(y)).backward()  # this backward averages both micro-batches' sum
            sgd(ddp.module.parameters())
            loss_of(ref, x, y).backward()
            loss_of(ref, x * 2, y).backward()
            sgd(ref.parameters())
        assert worst(ddp.module, ref) < 1e-5, worst(ddp.module, ref)
        print("PASS")
    """)
    assert r.returncode == 0 and r.stdout.count("PASS") == 2, r.stdout + r.stderr


@needs_module
def test_join_lets_ranks_with_fewer_batches_finish(tmp_path):
    r = launch(tmp_path, """
        ddp = DDP(MLP(seed=r))
        with ddp.join():
            for x, y in data[:3 + 2 * r]:  # rank 0: 3 batches, rank 1: 5
                loss_of(ddp, mine(x), mine(y)).backward()
                sgd(ddp.module.parameters())
        everyone = [None] * n
        dist.all_gather_object(everyone, [p.detach().numpy().tobytes() for p in ddp.module.parameters()])
        assert everyone[0] == everyone[1], "ranks hold different weights after join()"
        print("PASS")
    """)
    assert r.returncode == 0 and r.stdout.count("PASS") == 2, r.stdout + r.stderr


@needs_module
def test_different_models_raise_naming_the_rank_and_parameter(tmp_path):
    r = launch(tmp_path, "DDP(MLP(seed=0, hidden=16 + r))\n")
    assert r.returncode != 0
    assert "rank 1's model differs from rank 0's: expected ('w1', (8, 16), " in r.stderr and "(8, 17)" in r.stderr


@needs_module
def test_unused_parameters_need_find_unused_parameters(tmp_path):
    r = launch(tmp_path, """
        class Branchy(MLP):
            def forward(self, x):
                return (x @ self.w1 + self.b1).relu().sum(1, keepdim=True) * self.b2  # w2 unused
        ddp = DDP(Branchy(seed=0), find_unused_parameters=True)
        for x, y in data[:3]:
            loss_of(ddp, mine(x), mine(y)).backward()
            assert float(ddp.module.w2.grad.abs().max()) == 0.0
            sgd(ddp.module.parameters())
        strict = DDP(Branchy(seed=0))
        loss_of(strict, mine(data[0][0]), mine(data[0][1])).backward()
        try:
            strict(torch.tensor(mine(data[1][0])))
        except RuntimeError as e:
            assert "find_unused_parameters=True" in str(e)
            print("PASS")
    """)
    assert r.returncode == 0 and r.stdout.count("PASS") == 2, r.stdout + r.stderr


def _training_stack_missing() -> str | None:
    import importlib.util

    import distgrad
    data = importlib.import_module("distgrad.utils.data")
    if importlib.util.find_spec("sklearn") is None:
        return "scikit-learn is not installed (digits data set)"
    if not hasattr(nn, "Sequential") or not hasattr(distgrad.optim, "SGD") or not hasattr(data, "DistributedSampler"):
        return "needs nn.Sequential, optim.SGD and utils.data.DistributedSampler (nn/optim and data issues)"
    return None


SCRIPT = str(Path(__file__).parent.parent / "scripts" / "train_ddp.py")


@pytest.mark.skipif(_training_stack_missing() is not None, reason=str(_training_stack_missing()))
def test_restart_resumes_from_the_checkpoint_with_the_same_weights(tmp_path):
    import distgrad
    env = {**os.environ, "DISTGRAD_STOP_GRACE": "1"}
    plain = subprocess.run([*LAUNCH, "--nproc", "2", SCRIPT, "--epochs", "3", "--checkpoint", str(tmp_path / "a.pt")],
                           check=False, capture_output=True, text=True, timeout=120, env=env)
    assert plain.returncode == 0, plain.stderr
    crashed = subprocess.Popen([*LAUNCH, "--nproc", "2", "--max-restarts", "1", SCRIPT, "--epochs", "3",
                                "--checkpoint", str(tmp_path / "b.pt")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "b.pt").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        victim = next(pid for pid in _children(crashed.pid) if SCRIPT in _cmdline(pid))
        os.kill(victim, signal.SIGKILL)  # mid-training, after the first epoch's checkpoint
        out, err = crashed.communicate(timeout=120)
    finally:
        crashed.kill()
    assert crashed.returncode == 0 and "resumed from" in out and "signal SIGKILL" in err, out + err
    a, b = (distgrad.load(str(tmp_path / f"{name}.pt"))["model"] for name in "ab")
    assert all(distgrad.equal(a[k], b[k]) for k in a), "the resumed run ended with other weights"


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@needs_module
def test_buffers_follow_rank_0_at_every_forward(tmp_path):
    r = launch(tmp_path, """
        model = nn.Sequential(nn.Linear(8, 4), nn.BatchNorm1d(4))
        ddp = DDP(model)
        x, y = data[0]
        loss_of(ddp, mine(x), mine(y)).backward()  # running statistics now differ between ranks
        ddp.eval()
        with torch.no_grad():
            ddp(torch.tensor(mine(x)))  # eval: no update after the broadcast at the start of forward
        everyone = [None] * n
        dist.all_gather_object(everyone, [b.numpy().tobytes() for b in model.buffers()])
        assert everyone[0] == everyone[1], "buffers differ between ranks"
        print("PASS")
    """)
    assert r.returncode == 0 and r.stdout.count("PASS") == 2, r.stdout + r.stderr
