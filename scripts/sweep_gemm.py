"""Time the GEMM kernel's tile sizes on one OpenCL device, each checked against NumPy first.

    python scripts/sweep_gemm.py --device opencl:0 --path local --sizes 1024,2048,4096 \
        "{}" "{'TM': 8, 'TN': 8, 'TK': 16}" "{'TM': 16, 'TN': 8, 'TK': 8, 'LY': 8}"

Each argument is a dict of tile macros laid over the path's TILES entry in backends/opencl/backend.py ("{}" is the
current one). For every size it prints GFLOPS of the NN, NT (b = W.t(), as nn.Linear) and TN (a = X.t(), as a weight
gradient) layouts, each the median of 5 timed batches after a checked run into a NaN-poisoned output. Used to pick
the local (GPU) tiles on an NVIDIA H100 (see the comment on TILES); run it on your GPU before changing them.
"""
from __future__ import annotations

import argparse
import ast
import statistics
import time

import numpy as np

import distgrad as dg
from distgrad.backends.opencl import backend as ocl_backend
from distgrad.device import backend_for


def layouts(a, b, an, bn):
    """(name, left, right, float64 reference) for the three layouts."""
    a64, b64 = an.astype(np.float64), bn.astype(np.float64)
    return (("NN", a, b, a64 @ b64), ("NT", a, b.t(), a64 @ b64.T), ("TN", a.t(), b, a64.T @ b64))


def time_layout(device: str, x, y, out, n: int) -> float:
    """Seconds per product: the median of 5 batches, each long enough to hide the launch."""
    reps = max(2, min(200, int(2e10 // n**3)))
    times = []
    for _ in range(5):
        dg.opencl.synchronize(device)
        start = time.perf_counter()
        for _ in range(reps):
            dg.matmul(x, y, out=out)
        dg.opencl.synchronize(device)
        times.append((time.perf_counter() - start) / reps)
    return statistics.median(times)


def sweep(device: str, path: str, sizes: list[int], configs: list[dict]) -> None:
    backend = backend_for(dg.device(device))
    saved_path, backend.matmul_path = backend.matmul_path, path
    base = dict(ocl_backend.TILES[path])
    rng = np.random.default_rng(0)
    try:
        for config in configs:
            ocl_backend.TILES[path].clear()
            ocl_backend.TILES[path].update({**base, **config})
            cells = []
            for n in sizes:
                an, bn = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
                a, b = dg.from_numpy(an).to(device), dg.from_numpy(bn).to(device)
                for name, x, y, ref in layouts(a, b, an, bn):
                    out = dg.full((n, n), float("nan"), device=device)
                    dg.matmul(x, y, out=out)
                    err = np.linalg.norm(out.cpu().numpy() - ref) / np.linalg.norm(ref)
                    gflops = 2 * n**3 / time_layout(device, x, y, out, n) / 1e9
                    cells.append(f"{name}{n} {gflops:6.0f}" + ("" if err < 1e-5 else f" (error {err:.1e})"))
            print(f"{config!s:48} " + "  ".join(cells), flush=True)
    finally:
        backend.matmul_path = saved_path
        ocl_backend.TILES[path].clear()
        ocl_backend.TILES[path].update(base)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="opencl:0")
    parser.add_argument("--path", default="local", choices=("local", "tiled"))
    parser.add_argument("--sizes", default="1024,2048,4096")
    parser.add_argument("configs", nargs="*", default=["{}"], help="dicts of tile macros, e.g. \"{'TK': 32}\"")
    args = parser.parse_args()
    print(f"GFLOPS on {args.device}, {args.path} path")
    sweep(args.device, args.path, [int(s) for s in args.sizes.split(",")], [ast.literal_eval(c) for c in args.configs])


if __name__ == "__main__":
    main()
