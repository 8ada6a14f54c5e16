"""List every OpenCL platform/device, run the test suite once per device, and tabulate pass/fail per test file.

    python scripts/device_matrix.py [--out matrix] [--with-cpu] [--oclgrind] [-- extra pytest args]

Writes <out>.md and <out>.json (attach them to a bug report) and prints the same table. Each device runs
`pytest --device=opencl:N` in its own process, with test_backend_contract.py (which runs every backend) kept to that
device; --oclgrind adds the oclgrind simulator and runs only the tests marked `oclgrind` on it (the simulator is slow),
where oclgrind's reports fail the tests.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def list_devices(env: dict) -> list[dict]:
    """The devices as distgrad orders them, read in a child process so that `env` (the ICD list) applies."""
    code = ("import json; from distgrad.backends import opencl as o; print(json.dumps([dict(index=i.index, kind=i.kind,"
            " name=i.name, platform=i.platform, vendor=i.vendor, driver=i.driver_version, opencl=i.opencl_version,"
            " fp64=i.fp64, fp16=i.fp16, memory_gib=round(i.global_mem_bytes / 2**30, 2)) for i in o.devices()]))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


def pytest_args(dev: str, grind: bool) -> list[str]:
    """What restricts one run to its device: test_backend_contract.py runs every backend, so keep this device's part
    (cpu also keeps the tests that take no backend); the oclgrind simulator runs only its marked subset."""
    if grind:
        return ["-m", "oclgrind", "-k", "oclgrind:", "tests/test_backend_contract.py"]
    if dev == "cpu":
        return ["-k", "not (test_backend_contract.py and (opencl: or oclgrind:))", "tests"]
    return ["-k", f"not test_backend_contract.py or {dev}", "--deselect", "tests/test_oclgrind.py", "tests"]


OUTCOMES = ("passed", "failed", "skipped", "xfailed")


def junit_counts(xml: Path) -> dict[str, dict[str, int]]:
    """{test file: {passed, failed, skipped, xfailed}} from a pytest JUnit XML report (errors count as failed)."""
    groups: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    for case in ET.parse(xml).getroot().iter("testcase"):
        module = case.get("classname", "?").split(".")
        group = module[1] if module[0] == "tests" and len(module) > 1 else module[0]
        skipped = case.find("skipped")
        outcome = ("failed" if case.find("failure") is not None or case.find("error") is not None else
                   "passed" if skipped is None else
                   "xfailed" if skipped.get("type") == "pytest.xfail" else "skipped")
        groups[group + ".py"][outcome] += 1
    return dict(groups)


def run_suite(device: str, env: dict, args: list[str]) -> dict[str, dict[str, int]]:
    """Run pytest on one device; returns {test file: {passed, failed, skipped}}."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        subprocess.run([sys.executable, "-m", "pytest", f"--device={device}", "-q", "-p", "no:cacheprovider",
                        f"--junitxml={xml}", *args], cwd=ROOT, env=env, timeout=3600, check=False)
        if not xml.exists():
            return {"(pytest did not run)": {**dict.fromkeys(OUTCOMES, 0), "failed": 1}}
        return junit_counts(xml)


def markdown(devices: list[dict], results: dict[str, dict[str, dict[str, int]]]) -> tuple[str, str]:
    """(the passed/failed/skipped/xfailed table per test file and device, the whole markdown report)."""
    files = sorted({f for r in results.values() for f in r})
    lines = ["| test file | " + " | ".join(results) + " |", "|" + "---|" * (len(results) + 1)]
    for f in files:
        cells = []
        for groups in results.values():
            c = groups.get(f)
            cells.append("-" if c is None else
                         f"{'FAIL' if c['failed'] else 'ok'} " + "/".join(str(c[k]) for k in OUTCOMES))
        lines.append(f"| {f} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    report = "# distgrad device matrix\n\n" + "\n".join(
        f"- opencl:{d['index']}: {d['name']} ({d['platform']}, driver {d['driver']}, {d['opencl']}, "
        f"fp64={d['fp64']}, fp16={d['fp16']}, {d['memory_gib']} GiB)" for d in devices) \
        + "\n\nCells: passed/failed/skipped/xfailed.\n\n" + table + "\n"
    return table, report


def write_report(out: str, devices: list[dict], results: dict[str, dict[str, dict[str, int]]]) -> str:
    """Write OUT.md and OUT.json; returns the table."""
    table, report = markdown(devices, results)
    Path(f"{out}.md").write_text(report)
    Path(f"{out}.json").write_text(json.dumps({"devices": devices, "results": results}, indent=1))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="device_matrix", help="writes OUT.md and OUT.json")
    parser.add_argument("--with-cpu", action="store_true", help="also run the suite on the NumPy backend")
    parser.add_argument("--oclgrind", action="store_true", help="add the oclgrind simulator (tests marked oclgrind)")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest after --")
    args = parser.parse_args()
    env = {**os.environ, **({"DISTGRAD_OPENCL_OCLGRIND": "1"} if args.oclgrind else {})}
    devices = list_devices(env)
    print(f"{'device':<10} {'kind':<11} {'name':<34} {'platform':<30} {'driver':<14} fp64  fp16  GiB")
    for d in devices:
        print(f"opencl:{d['index']:<3} {d['kind']:<11} {d['name'][:34]:<34} {d['platform'][:30]:<30} "
              f"{d['driver'][:14]:<14} {'yes' if d['fp64'] else 'no':<5} {'yes' if d['fp16'] else 'no':<5} "
              f"{d['memory_gib']}")
    grinds = {f"opencl:{d['index']}" for d in devices if d["platform"] == "Oclgrind"}
    runs = (["cpu"] if args.with_cpu else []) + [f"opencl:{d['index']}" for d in devices]
    results = {}
    for dev in runs:
        run_args = args.pytest_args + pytest_args(dev, dev in grinds)
        run_env = {**env, "DISTGRAD_TEST_OCLGRIND": "1"} if dev in grinds else env
        print(f"\n== {dev}: pytest --device={dev} {' '.join(run_args)}", flush=True)
        results[dev] = run_suite(dev, run_env, run_args)
    print("\n(passed/failed/skipped/xfailed)\n" + write_report(args.out, devices, results))
    print(f"\nwrote {args.out}.md and {args.out}.json")
    sys.exit(1 if any(c["failed"] for r in results.values() for c in r.values()) else 0)


if __name__ == "__main__":
    main()
