"""Benchmark the NumPy backend and each OpenCL device: GEMM, fused elementwise, sums, launch overhead, start-up time.

    python scripts/bench_backends.py [--sizes 256,512,1024,2048] [--json out.json]

Each throughput figure is the best of a few runs (the machine may be shared: rerun when it is quiet). Launch costs are
medians over interleaved batches in three child processes; an empty kernel's launch is measured beside ours, so the
driver's own floor at that moment is in the same run. Start-up is measured in child processes: the first with empty
program caches (distgrad's and PoCL's), the second reusing what the first wrote.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from distgrad.backends import opencl
from distgrad.backends.base import float32

RELU_FMA = ("max", ("add", ("mul", ("in", 0), ("in", 1)), ("in", 2)), ("const", 0.0))
FUSED_N = 1 << 24
# sums over 16M floats: (shape, reduced dims, what they stand for)
SUMS = [((FUSED_N,), (0,), "all"), ((4096, 4096), (0,), "dim 0 of 4096x4096 (a bias gradient)"),
        ((4096, 4096), (1,), "dim 1 of 4096x4096"), ((64, 64, 64, 64), (0, 2, 3), "N,H,W of 64^4 (batch norm)")]


def best(fn, repeat: int) -> float:
    """The fastest of `repeat` timed calls of fn (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def gemm_numpy(n: int) -> float:
    a, b = np.random.rand(n, n).astype(np.float32), np.random.rand(n, n).astype(np.float32)
    return 2 * n**3 / best(lambda: a @ b, 3 if n <= 1024 else 2) / 1e9


def gemm_opencl(be, n: int, path: str) -> float:
    a = be.from_numpy(np.random.rand(1, n, n).astype(np.float32))
    b = be.from_numpy(np.random.rand(1, n, n).astype(np.float32))
    out = be.alloc((1, n, n), float32)
    be.matmul_path = path

    def run():
        be.matmul(a, b, out=out)
        be.synchronize()
    return 2 * n**3 / best(run, 3 if n <= 1024 else 2) / 1e9


def fused_numpy() -> float:
    a, b, c = (np.random.rand(FUSED_N).astype(np.float32) for _ in range(3))
    return 16 * FUSED_N / best(lambda: np.maximum(a * b + c, 0), 3) / 1e9


def fused_opencl(be) -> float:
    ins = [be.from_numpy(np.random.rand(FUSED_N).astype(np.float32)) for _ in range(3)]
    out = be.alloc((FUSED_N,), float32)

    def run():
        be.fused(RELU_FMA, ins, out=out)
        be.synchronize()
    return 16 * FUSED_N / best(run, 5) / 1e9


def sum_numpy(shape: tuple, axes: tuple) -> float:
    a = np.random.rand(*shape).astype(np.float32)
    return 4 * FUSED_N / best(lambda: a.sum(axes), 5) / 1e9


def sum_opencl(be, shape: tuple, axes: tuple) -> float:
    x = be.from_numpy(np.random.rand(*shape).astype(np.float32))

    def run():
        be.reduce("sum", x, axes, False)
        be.synchronize()
    return 4 * FUSED_N / best(run, 5) / 1e9


LAUNCH_CHILD = """
import statistics, sys, time
import numpy as np
import pyopencl as cl
from distgrad.backends import opencl
be = opencl.open_device({index})
x = be.from_numpy(np.ones(4, np.float32))
be.binary("add", x, x, out=x)
be.synchronize()
(plan,) = be._ew_plans.values()   # the add's launch plan: its kernel object has the add's arguments set
knl = plan.knl
empty = cl.Program(be.ctx, "__kernel void empty(__global float *a) {{}}").build().empty
empty.set_arg(0, x.storage.buf)
calls = {{"prebuilt kernel": lambda: cl.enqueue_nd_range_kernel(be.queue, knl, (64,), None),
          "empty kernel (the driver's floor)": lambda: cl.enqueue_nd_range_kernel(be.queue, empty, (64,), None),
          "binary() primitive": lambda: be.binary("add", x, x, out=x),
          "binary() primitive, new output": lambda: be.binary("add", x, x),
          "fill() primitive (a constant)": lambda: be.fill(x, 0.5)}}
MODES = ("device held", "device running")
queued = {{(mode, what): [] for mode in MODES for what in calls}}
drained = []
for _ in range({batches}):          # interleaved batches: a quiet or busy moment hits every row alike
    for mode in MODES:
        for what, fn in calls.items():
            be.synchronize()
            if mode == "device held":   # the launches wait behind a gate, as behind a busy device's earlier work
                gate = cl.UserEvent(be.ctx)
                cl.enqueue_barrier(be.queue, wait_for=[gate])
            t = time.perf_counter()
            for _ in range({per_batch}):
                fn()
            be.flush()              # batched launches count when they reach the queue (NOTE [ Launch batching ])
            t1 = time.perf_counter()
            if mode == "device held":
                gate.set_status(cl.command_execution_status.COMPLETE)
            be.synchronize()
            queued[mode, what].append((t1 - t) / {per_batch} * 1e6)
            if mode == "device running" and what == "prebuilt kernel":
                drained.append((time.perf_counter() - t) / {per_batch} * 1e6)
sync = []
for _ in range(200):
    t = time.perf_counter()
    cl.enqueue_nd_range_kernel(be.queue, knl, (64,), None)
    be.synchronize()
    sync.append((time.perf_counter() - t) * 1e6)
for mode, what in queued:
    print(f"queued launch ({{mode}}), {{what}}", statistics.median(queued[mode, what]), sep="\t")
print("queued launches incl. the device's run, prebuilt", statistics.median(drained), sep="\t")
print("synchronous launch (enqueue + wait), prebuilt", statistics.median(sync), sep="\t")
"""


def launch_overhead(index: int, children: int = 3, batches: int = 15, per_batch: int = 500) -> dict[str, float]:
    """Microseconds per launch: the median over `children` fresh child processes (so the GEMM runs' BLAS threads and
    buffers do not compete, and one process's unlucky placement does not decide) of each child's median over
    interleaved batches. Rows: the host's cost of a queued launch of a prebuilt kernel, of an empty kernel (what the
    driver itself costs) and of whole primitive calls (what ops pay), each in two modes: "device held", queued behind a
    gate as behind a busy device's earlier work, so the cost is the launch's alone; and "device running", where the
    device runs the launches as they come (on a CPU device its threads then share the host's cores with the caller).
    Then the same queued launches until the device has run them, and a synchronous launch."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    code = LAUNCH_CHILD.format(index=index, batches=batches, per_batch=per_batch)
    runs: dict[str, list[float]] = {}
    for _ in range(children):
        out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True,
                             timeout=300).stdout
        for what, us in (line.split("\t") for line in out.strip().splitlines()):
            runs.setdefault(what, []).append(float(us))
    return {what: statistics.median(us) for what, us in runs.items()}


STARTUP_CHILD = """
import time
t = time.perf_counter()
import numpy as np
from distgrad.backends import opencl
from distgrad.backends.base import View
be = opencl.open_device({index})
x = be.from_numpy(np.ones((64, 64), np.float32))
be.binary("add", x, x)
be.unary("exp", x)
be.reduce("sum", x, (1,), False)
be.fused({expr!r}, [x, x, x])
be.matmul_path = "tiled"
m = View(x.storage, (1, 64, 64), (0, 64, 1))
be.matmul(m, m)
be.to_numpy(x)
print(time.perf_counter() - t)
"""


def startup(index: int) -> tuple[float, float]:
    """Seconds for a child process to open the device and run five primitives: first with empty caches, then again."""
    with tempfile.TemporaryDirectory() as tmp:
        # The drivers' own caches start empty too (PoCL's, and NVIDIA's compute cache), or "cold" would not be.
        env = {**os.environ, "DISTGRAD_OPENCL_CACHE_DIR": os.path.join(tmp, "distgrad"),
               "POCL_CACHE_DIR": os.path.join(tmp, "pocl"), "CUDA_CACHE_PATH": os.path.join(tmp, "nv")}
        code = STARTUP_CHILD.format(index=index, expr=RELU_FMA)
        runs = [float(subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True,
                                     text=True, timeout=300).stdout.split()[-1]) for _ in range(2)]
    return runs[0], runs[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512,1024,2048")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows: list[tuple[str, str, float, str]] = []   # (device, figure, value, unit)
    np_gemm = {n: gemm_numpy(n) for n in sizes}
    rows += [("cpu (NumPy)", f"GEMM {n}", g, "GFLOPS") for n, g in np_gemm.items()]
    np_fused = fused_numpy()
    rows.append(("cpu (NumPy)", "relu(a*b+c) 16M, 3 ops", np_fused, "GB/s"))
    np_sums = [sum_numpy(shape, axes) for shape, axes, _ in SUMS]
    rows += [("cpu (NumPy)", f"sum over {what}", g, "GB/s") for (_, _, what), g in zip(SUMS, np_sums)]
    for info in opencl.devices():
        if info.platform == "Oclgrind":
            continue   # a simulator: correctness, not speed
        be = opencl.open_device(info.index)
        name = f"{be.device} {info.name[:24]}"
        paths = (["blas"] if be.host_memory else []) + ["tiled" if info.kind == "cpu" else "local"]
        for path in paths:
            for n in sizes:
                g = gemm_opencl(be, n, path)
                rows.append((name, f"GEMM {n} ({path})", g, f"GFLOPS  {g / np_gemm[n]:.2f}x NumPy"))
        f = fused_opencl(be)
        rows.append((name, "relu(a*b+c) 16M, fused", f, f"GB/s  {f / np_fused:.2f}x NumPy"))
        for (shape, axes, what), ref in zip(SUMS, np_sums):
            g = sum_opencl(be, shape, axes)
            rows.append((name, f"sum over {what}", g, f"GB/s  {g / ref:.2f}x NumPy"))
        launches = launch_overhead(info.index)
        for what, us in launches.items():
            mode = what.partition("(")[2].partition(")")[0]   # each queued row against the floor in its own mode
            floor = launches.get(f"queued launch ({mode}), empty kernel (the driver's floor)")
            rows.append((name, what, us, f"us  {us / floor:.2f}x the floor" if floor else "us"))
        cold, warm = startup(info.index)
        rows.append((name, "start-up, 1st process (cold)", cold, "s"))
        rows.append((name, "start-up, 2nd process (cached)", warm, f"s  {cold / warm:.1f}x faster"))
    width, what_width = (max(len(r[k]) for r in rows) for k in (0, 1))
    for dev, what, value, unit in rows:
        print(f"{dev:<{width}}  {what:<{what_width}} {value:>9.2f} {unit}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"device": d, "figure": w, "value": v, "unit": u} for d, w, v, u in rows], f, indent=1)


if __name__ == "__main__":
    main()
