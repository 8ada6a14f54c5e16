"""The kernels under oclgrind: the `oclgrind` subset of test_backend_contract.py on the simulator, in a subprocess (the
platform list is read once per process), where any out-of-bounds access or data race that oclgrind reports fails."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from distgrad.backends.opencl import oclgrind_library

ROOT = Path(__file__).resolve().parent.parent


def test_oclgrind_subset_reports_nothing(tmp_path):
    if oclgrind_library() is None:
        pytest.skip("oclgrind is not installed (scripts/setup.sh installs it: apt-get install oclgrind)")
    env = {**os.environ, "DISTGRAD_TEST_OCLGRIND": "1", "OCLGRIND_LOG": str(tmp_path / "oclgrind.log")}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "oclgrind",
                          "-k", "oclgrind:", "tests/test_backend_contract.py"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-2000:]
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in summary and "skipped" not in summary, summary
