"""Parameter-server training: sync equals data-parallel SGD, async applies every push, staleness, shapes, shards."""
from __future__ import annotations

import os
import subprocess
import sys

from distgrad.distributed.parameter_server import assign_shards

LAUNCH = [sys.executable, "-m", "distgrad.launcher.cli"]

def launch(script, nproc: int = 2, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([*LAUNCH, "--nproc", str(nproc), *options, str(script)], check=False, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "DISTGRAD_STOP_GRACE": "1"})


def test_sync_mode_equals_data_parallel_sgd_over_two_shards(ps_job):
    r = launch(ps_job("""
        g = np.random.default_rng(0)
        data = [(g.normal(size=(4 * n, 5)).astype(np.float32), g.normal(size=(4 * n, 3)).astype(np.float32))
                for _ in range(10)]
        def model(seed):
            h = np.random.default_rng(seed)
            return [torch.tensor(h.normal(size=s).astype(np.float32), requires_grad=True) for s in ((5, 3), (3,))]
        def loss(params, x, y):
            return ((torch.tensor(x) @ params[0] + params[1] - torch.tensor(y)) ** 2).mean()
        params = model(seed=r)  # PS registration gives every rank rank 0's weights
        opt = ParameterServerOptimizer(PlainSGD(params, 0.1), mode="sync", named_parameters=[("w", params[0]),
                                                                                              ("b", params[1])])
        assert sorted(set(opt.client.owner.values())) == [0, 1], opt.client.owner
        for x, y in data:
            opt.zero_grad()
            loss(params, x[4 * r:4 * r + 4], y[4 * r:4 * r + 4]).backward()
            opt.step()
        worst_gap_to_plain_sgd(params, model(seed=0), data, loss, 0.1)
        print("PASS")
    """), 2, "--nservers", "2")
    assert r.returncode == 0 and r.stdout.count("PASS") == 2, r.stdout + r.stderr


def test_async_mode_applies_every_push(ps_job):
    r = launch(ps_job("""
        class AddRank(PlainSGD):  # a constant update, so the final value does not depend on the interleaving
            def step(self):
                with torch.no_grad():
                    self.param_groups[0]["params"][0].add_(r + 1.0)
        w = torch.zeros(1000)
        opt = ParameterServerOptimizer(AddRank([w], 0.0), mode="async", staleness=2)
        for _ in range(10):
            opt.step()
        dist.barrier()
        final = opt.client.wait(opt.client.pull("param_groups[0][0]"))
        assert (final == 10 * sum(range(1, n + 1))).all(), final[:3]
        print("PASS")
    """), 3)
    assert r.returncode == 0 and r.stdout.count("PASS") == 3, r.stdout + r.stderr


def test_staleness_bound_holds_back_the_fast_worker(ps_job):
    r = launch(ps_job("""
        import time
        w = torch.zeros(4)
        client_timeout = 3
        opt = ParameterServerOptimizer(PlainSGD([w], 0.0), mode="async", staleness=1)
        opt.client.timeout = client_timeout
        if r == 1:
            time.sleep(30)  # never pushes
        w.grad = torch.zeros(4)
        opt.step()   # clock 1: within the bound of rank 1's clock 0
        opt.step()   # clock 2: 2 - 1 > 0, so this pull must wait for rank 1 and time out
    """))
    assert r.returncode != 0
    assert "ranks [1] beyond staleness bound" in r.stderr


def test_push_with_wrong_shape_names_key_and_worker(ps_job):
    r = launch(ps_job("""
        w = torch.zeros(3, 4)
        opt = ParameterServerOptimizer(PlainSGD([w], 0.1), mode="async", named_parameters=[("fc1.weight", w)])
        if r == 1:
            opt.client.wait(opt.client.push("fc1.weight", np.zeros((4, 3), np.float32), 0))
    """))
    assert r.returncode != 0
    assert ("ValueError: push for 'fc1.weight' from worker 1: expected shape (3, 4) float32, got (4, 3) float32"
            in r.stderr)


def test_shards_balance_by_size():
    owner = assign_shards({"big": 1000, "mid": 600, "small1": 300, "small2": 300}, 2)
    assert owner == {"big": 0, "mid": 1, "small1": 1, "small2": 1}  # loads 1000 and 1200
