"""Test configuration: `--device=cpu|opencl:N|all` picks where tests that take the `device` fixture run."""
import pathlib
import textwrap

import pytest


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu",
                     help="cpu (default), opencl:N, cuda:N, or all (cpu plus every OpenCL device found but oclgrind)")


def _selected_devices(config) -> list[str]:
    choice = config.getoption("--device")
    if choice != "all":
        return [d.strip() for d in choice.split(",")]
    from distgrad.backends import opencl
    # The oclgrind simulator (listed with DISTGRAD_OPENCL_OCLGRIND=1) is far too slow for the whole suite; it runs the
    # tests marked `oclgrind` (tests/test_oclgrind.py).
    return ["cpu"] + [f"opencl:{i.index}" for i in opencl.devices() if i.platform != "Oclgrind"]


def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", _selected_devices(metafunc.config))


@pytest.fixture
def require_dtype(device):
    """Call with a dtype: skips the test, saying why, when `device` lacks it (float16 without cl_khr_fp16)."""
    def require(dtype) -> None:
        import distgrad as dg
        d = dg.device(device)
        ext = {"float16": "fp16", "float64": "fp64"}.get(dtype.name)
        if d.type == "cpu" or ext is None:
            return
        from distgrad.backends import opencl
        if not getattr(opencl.open_device(d.index, gpu_only=d.type == "cuda").info, ext):
            pytest.skip(f"{d} lacks cl_khr_{ext}")
    return require


@pytest.fixture
def count_primitives(device, monkeypatch):
    """Call to start counting: returns the list that the primitive calls made from then on are appended to, by name,
    on `device` and cpu. prims.fused counts once as "fused", whether the backend runs it as one kernel or replays it."""
    def start() -> list[str]:
        from distgrad import prims as P
        from distgrad.device import backend_for
        launched, depth = [], [0]

        def counting(what, f):
            def wrapper(*args, **kwargs):
                if depth[0] == 0:        # the primitives a backend without fused() replays belong to the P.fused call
                    launched.append(what)
                depth[0] += 1
                try:
                    return f(*args, **kwargs)
                finally:
                    depth[0] -= 1
            return wrapper
        monkeypatch.setattr(P, "fused", counting("fused", P.fused))
        for backend in {backend_for(device), backend_for("cpu")}:
            for prim in ("copy", "fill", "unary", "binary", "where", "reduce", "matmul", "gather", "scatter", "random"):
                monkeypatch.setattr(backend, prim, counting(prim, getattr(backend, prim)))
        return launched
    return start


# ---- parameter-server jobs (tests/test_distributed_ps.py, tests/test_distributed_faults.py)

PS_JOB_PRELUDE = """
import numpy as np
import distgrad as torch
import distgrad.distributed as dist
from distgrad.distributed import ParameterServerOptimizer

class PlainSGD:
    def __init__(self, params, lr):
        self.param_groups = [{"params": list(params), "lr": lr}]
    def step(self):
        with torch.no_grad():
            for p in self.param_groups[0]["params"]:
                p.sub_(self.param_groups[0]["lr"] * p.grad)
    def zero_grad(self, set_to_none=True):
        for p in self.param_groups[0]["params"]:
            p.grad = None

def worst_gap_to_plain_sgd(params, ref, data, loss, lr):
    # ref trained on the whole batches with PlainSGD; the largest difference to params, asserted below 1e-5
    sgd = PlainSGD(ref, lr)
    for x, y in data:
        sgd.zero_grad()
        loss(ref, x, y).backward()
        sgd.step()
    worst = max(float((p - q).abs().max()) for p, q in zip(params, ref))
    assert worst < 1e-5, worst
    return worst

dist.init_process_group(timeout=INIT_TIMEOUT)
r, n = dist.get_rank(), dist.get_world_size()
"""


@pytest.fixture
def ps_job(tmp_path):
    """ps_job(body, timeout) writes tmp_path/job.py: a rank of a parameter-server job (group joined with that timeout,
    rank r of n) that runs body. PlainSGD is a test double with PyTorch's optimizer API (param_groups, step,
    zero_grad), so these jobs do not wait for distgrad.optim."""
    def write(body: str, timeout: float = 20) -> pathlib.Path:
        script = tmp_path / "job.py"
        script.write_text(PS_JOB_PRELUDE.replace("INIT_TIMEOUT", str(timeout)) + textwrap.dedent(body))
        return script
    return write
