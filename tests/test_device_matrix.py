"""scripts/device_matrix.py's report: JUnit XML counted per test file, the markdown table and the per-run filters."""
import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "device_matrix.py"
_spec = importlib.util.spec_from_file_location("device_matrix", SCRIPT)
device_matrix = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(device_matrix)

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.test_nn" name="test_a[opencl:0]"/>
<testcase classname="tests.test_nn" name="test_b[opencl:0]"><failure message="boom"/></testcase>
<testcase classname="tests.test_nn" name="test_c[opencl:0]"><skipped message="opencl:0 lacks cl_khr_fp16"/></testcase>
<testcase classname="tests.test_nn" name="test_x[opencl:0]"><skipped type="pytest.xfail" message="bug"/></testcase>
<testcase classname="tests.test_data" name="test_d"><error message="fixture"/></testcase>
<testcase classname="tests.test_data" name="test_e"/>
</testsuite></testsuites>"""

DEVICE = {"index": 0, "kind": "cpu", "name": "pthread", "platform": "Portable Computing Language", "vendor": "AMD",
          "driver": "3.1", "opencl": "OpenCL 3.0", "fp64": True, "fp16": False, "memory_gib": 6.21}


def test_junit_counts_per_file(tmp_path):
    xml = tmp_path / "junit.xml"
    xml.write_text(JUNIT)
    assert device_matrix.junit_counts(xml) == {
        "test_nn.py": {"passed": 1, "failed": 1, "skipped": 1, "xfailed": 1},
        "test_data.py": {"passed": 1, "failed": 1, "skipped": 0, "xfailed": 0}}


def test_markdown_and_json_report(tmp_path):
    results = {"cpu": {"test_nn.py": {"passed": 3, "failed": 0, "skipped": 0, "xfailed": 1}},
               "opencl:0": {"test_nn.py": {"passed": 1, "failed": 1, "skipped": 1, "xfailed": 0},
                            "test_data.py": {"passed": 2, "failed": 0, "skipped": 0, "xfailed": 0}}}
    table = device_matrix.write_report(str(tmp_path / "m"), [DEVICE], results)
    report = (tmp_path / "m.md").read_text()
    assert json.loads((tmp_path / "m.json").read_text()) == {"devices": [DEVICE], "results": results}
    assert table.splitlines() == ["| test file | cpu | opencl:0 |", "|---|---|---|",
                                  "| test_data.py | - | ok 2/0/0/0 |", "| test_nn.py | ok 3/0/0/1 | FAIL 1/1/1/0 |"]
    assert report.startswith(
        "# distgrad device matrix\n\n- opencl:0: pthread (Portable Computing Language, driver 3.1, OpenCL 3.0, "
        "fp64=True, fp16=False, 6.21 GiB)\n\nCells: passed/failed/skipped/xfailed.\n\n")
    assert report.endswith(table + "\n")


def test_each_run_keeps_its_own_backend():
    assert device_matrix.pytest_args("opencl:1", grind=True) == [
        "-m", "oclgrind", "-k", "oclgrind:", "tests/test_backend_contract.py"]
    assert device_matrix.pytest_args("cpu", grind=False)[:2] == [
        "-k", "not (test_backend_contract.py and (opencl: or oclgrind:))"]
    assert device_matrix.pytest_args("opencl:0", grind=False)[:2] == ["-k", "not test_backend_contract.py or opencl:0"]
