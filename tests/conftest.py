"""Test configuration: `--device=cpu|opencl:N|all` picks where tests that take the `device` fixture run."""
import pathlib
import textwrap

import pytest


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu",
                     help="cpu (default), opencl:N, cuda:N, or all (cpu plus every OpenCL device found)")


def _selected_devices(config) -> list[str]:
    choice = config.getoption("--device")
    if choice != "all":
        return [d.strip() for d in choice.split(",")]
    from distgrad import opencl
    return ["cpu"] + [f"opencl:{i}" for i in range(opencl.device_count())] if opencl.is_available() else ["cpu"]


def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", _selected_devices(metafunc.config))


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
