"""The device-sensitive test files on opencl:1, the second of two PoCL devices (POCL_DEVICES="pthread pthread"), so
that a test or an op that quietly means "the current device" where it should mean its tensor's fails in CI, not
first on a machine with two GPUs. In a subprocess: the platform list is read once per process."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from distgrad.backends import opencl

ROOT = Path(__file__).resolve().parent.parent
FILES = ["test_dtypes.py", "test_indexing.py", "test_tensor_creation.py", "test_serialization.py",
         "test_nn_module.py", "test_tensor_print.py", "test_random.py"]


def test_device_sensitive_files_pass_on_a_second_device():
    if not any(i.platform == "Portable Computing Language" for i in opencl.devices()):
        pytest.skip("needs PoCL, whose POCL_DEVICES makes two devices of one CPU (apt-get install pocl-opencl-icd)")
    env = {k: v for k, v in os.environ.items() if k != "DISTGRAD_OPENCL_DEVICE"}
    env["POCL_DEVICES"] = "pthread pthread"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--device=opencl:1",
                          *(f"tests/{f}" for f in FILES)], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600, check=False)
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-2000:]
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in summary and " failed" not in summary, summary
