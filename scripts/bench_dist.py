"""Distributed benchmarks: all_reduce bus bandwidth, DDP samples/s, launcher start-up; optionally vs PyTorch gloo.

    python scripts/bench_dist.py            # distgrad only; reference figures below are literals measured here
    python scripts/bench_dist.py --torch    # also measure PyTorch (gloo, DDP) the same way, when torch is installed
    python scripts/bench_dist.py --torch-python /work/venvs/torch/bin/python   # PyTorch from another interpreter

Bus bandwidth is NCCL's definition: bytes * 2(N-1)/N / time, the traffic each link of a ring carries. Every process
runs with 1 thread (OMP_NUM_THREADS=1), like the reference gloo figures of issue 6.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

SIZES_MB = (1, 16, 64)
REFERENCE = "gloo, same method, this machine (issue 6): 64 MB bus bandwidth ~1.5 GB/s with 2 ranks, ~1.0 GB/s with 4"
HERE = os.path.abspath(__file__)


def worker(kind: str, reps: int) -> None:
    """Runs inside each rank; rank 0 prints one JSON line per measurement."""
    import numpy as np
    if kind.startswith("torch"):
        import torch
        import torch.distributed as dist
        dist.init_process_group("gloo")
        make, reduce = (lambda n: torch.ones(n)), dist.all_reduce
    else:
        import distgrad.distributed as dist
        dist.init_process_group("zmq")
        make, reduce = (lambda n: np.ones(n, np.float32)), dist.all_reduce
    rank, n = dist.get_rank(), dist.get_world_size()
    if kind.endswith("allreduce"):
        for mb in SIZES_MB:
            x = make(mb * (1 << 20) // 4)
            reduce(x)
            times = []
            for _ in range(reps):
                dist.barrier()
                t0 = time.perf_counter()
                reduce(x)
                times.append(time.perf_counter() - t0)
            t = sorted(times)[len(times) // 2]
            if rank == 0:
                algo = "gloo" if kind.startswith("torch") else algorithm(mb << 20, n)
                print(json.dumps({"mb": mb, "n": n, "algo": algo, "ms": t * 1e3,
                                  "busbw": (mb << 20) * 2 * (n - 1) / n / t / 1e9}), flush=True)
    else:
        print_ddp(kind, rank, n, reps)
    dist.destroy_process_group()


def algorithm(nbytes: int, n: int) -> str:
    from distgrad.distributed.process_group import DIRECT_MAX_BYTES
    return "direct" if n == 2 or nbytes <= DIRECT_MAX_BYTES else "ring"


def print_ddp(kind: str, rank: int, n: int, steps: int) -> None:
    """Samples/s of an MLP 64-512-512-10 (digits-sized input), batch 64 per rank, plain SGD."""
    import numpy as np
    g = np.random.default_rng(rank)
    x, y = g.normal(size=(64, 64)).astype(np.float32), g.normal(size=(64, 10)).astype(np.float32)
    if kind.startswith("torch"):
        import torch as lib
        from torch.nn.parallel import DistributedDataParallel as DDP
    else:
        import distgrad as lib
        from distgrad.nn.parallel import DistributedDataParallel as DDP
    nn = lib.nn
    model = nn.Sequential(nn.Linear(64, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    ddp = DDP(model)
    opt = lib.optim.SGD(ddp.parameters(), lr=0.01)
    xt, yt = lib.tensor(x), lib.tensor(y)
    for i in range(steps + 3):
        if i == 3:
            t0 = time.perf_counter()
        opt.zero_grad()
        ((ddp(xt) - yt) ** 2).mean().backward()
        opt.step()
    if rank == 0:
        print(json.dumps({"ddp": n, "samples_per_s": 64 * n * steps / (time.perf_counter() - t0)}), flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(kind: str, n: int, reps: int, torch_python: str = sys.executable, **extra_env: str) -> list[dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **extra_env}
    command = [HERE, "--worker", kind, "--reps", str(reps)]
    if kind.startswith("torch"):  # plain processes with torchrun's env, so that no launcher differs
        port = free_port()
        procs = [subprocess.Popen([torch_python, *command], stdout=subprocess.PIPE, text=True,
                                  env={**env, "RANK": str(r), "WORLD_SIZE": str(n), "MASTER_ADDR": "127.0.0.1",
                                       "MASTER_PORT": str(port)}) for r in range(n)]
        out = [p.communicate(timeout=600)[0] for p in procs][0]  # noqa: RUF015 -- wait for all, keep rank 0
    else:
        out = subprocess.run([sys.executable, "-m", "distgrad.launcher.cli", "--nproc", str(n), *command],
                             capture_output=True, text=True, timeout=600, env=env, check=True).stdout
    return [json.loads(line.split("] ", 1)[-1]) for line in out.splitlines() if "{" in line]


def startup(reps: int = 5) -> float:
    """Seconds from launching `--nproc 4` of an empty script to the launcher's exit; the median of reps."""
    with tempfile.NamedTemporaryFile("w", suffix=".py") as empty:
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "distgrad.launcher.cli", "--nproc", "4", empty.name], check=True,
                           capture_output=True, timeout=60)
            times.append(time.perf_counter() - t0)
    return sorted(times)[reps // 2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--reps", type=int, default=5, help="timed repetitions (median reported)")
    p.add_argument("--torch", action="store_true", help="also measure PyTorch gloo and DDP the same way")
    p.add_argument("--torch-python", metavar="PYTHON", help="the interpreter that has torch (implies --torch)")
    p.add_argument("--ranks", type=int, nargs="+", default=[2, 4], help="all_reduce world sizes")
    p.add_argument("--skip-ddp", action="store_true", help="all_reduce and start-up only")
    args = p.parse_args()
    if args.worker:
        worker(args.worker, args.reps)
        return
    torch_python = args.torch_python or sys.executable
    systems = ["distgrad"] + (["torch"] if args.torch or args.torch_python else [])
    print(f"all_reduce, float32, loopback, 1 thread per process (reference: {REFERENCE})")
    print(f"{'system':>9} {'ranks':>5} {'MB':>4} {'algorithm':>9} {'ms':>8} {'bus GB/s':>8}")
    for n in args.ranks:
        for system in systems:
            for row in run(f"{system}-allreduce", n, args.reps, torch_python):
                print(f"{system:>9} {n:>5} {row['mb']:>4} {row['algo']:>9} {row['ms']:>8.1f} {row['busbw']:>8.2f}")
    for row in run("distgrad-allreduce", 2, args.reps, DISTGRAD_CURVE="on"):  # what encryption costs
        print(f"{'+CURVE':>9} {2:>5} {row['mb']:>4} {row['algo']:>9} {row['ms']:>8.1f} {row['busbw']:>8.2f}")
    if not args.skip_ddp:
        print("DDP, MLP 64-512-512-10, batch 64 per rank, SGD")
        for n in (1, 2, 4):  # interleaved, so that both systems see the same machine load
            for system in systems:
                try:
                    rows = run(f"{system}-ddp", n, max(args.reps, 20), torch_python)
                    print(f"{system:>9} {n:>5} ranks {rows[0]['samples_per_s']:>10.0f} samples/s")
                except (subprocess.CalledProcessError, IndexError) as e:
                    print(f"{system:>9} {n:>5} ranks   failed ({type(e).__name__}; needs nn, optim on main)")
    print(f"launcher start-up, --nproc 4, empty script: {startup():.2f} s (target < 2 s)")


if __name__ == "__main__":
    main()
