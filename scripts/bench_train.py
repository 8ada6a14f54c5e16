"""Training throughput (samples/s) of the 784-512-512-10 MLP (or a small CNN), batch 64, SGD, on one device, single
process.

    python scripts/bench_train.py                     # distgrad in this process
    python scripts/bench_train.py --threads 1 2 --torch-python /work/venvs/torch/bin/python --repeats 5
    python scripts/bench_train.py --model cnn --device opencl --steps 20
    python scripts/bench_train.py --model lenet --batch-size 1

--model cnn is conv-batchnorm-relu-maxpool twice (3->32->64 channels, 3x3, 32x32 images) and a linear layer: the
convolution and pooling paths (nn/windows.py), where the MLP is GEMMs and elementwise ops. --model lenet is the seed's
LeNet (5x5 convolutions); with --batch-size 1, as in the tutorial, it measures per-op overhead.

With --threads (or --torch-python), every measurement runs in a fresh subprocess with OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS and MKL_NUM_THREADS set to the thread count (PyTorch also gets torch.set_num_threads), distgrad and
PyTorch alternating repeat by repeat; the best of the repeats is reported, as the machine may be shared. PyTorch is
an optional peer (issue 4's target: distgrad >= 0.8x PyTorch on cpu): without it only distgrad is measured.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import subprocess
import sys
import time

HERE = os.path.abspath(__file__)
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


MODELS = {   # name: (model from an nn module, input shape of one sample)
    "mlp": (lambda nn: nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                                     nn.Linear(512, 10)), (1, 28, 28)),
    "cnn": (lambda nn: nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                                     nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                                     nn.Flatten(), nn.Linear(64 * 8 * 8, 10)), (3, 32, 32)),
    "lenet": (lambda nn: nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                                       nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
                                       nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10)), (1, 32, 32)),
}


def train_rate(lib_name: str, device: str, steps: int, batch_size: int, model_name: str = "mlp") -> tuple[float, float]:
    """Samples per second of wall time and per second of this process's CPU time (all its threads) of the model's
    training loop, written once for distgrad and PyTorch (same API)."""
    lib = importlib.import_module(lib_name)
    if lib_name == "torch" and os.environ.get("OMP_NUM_THREADS"):
        lib.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    nn = lib.nn
    lib.manual_seed(0)
    make, sample_shape = MODELS[model_name]
    model = make(nn).to(device)
    opt = lib.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    x = lib.randn(batch_size, *sample_shape, device=device)
    y = lib.randint(0, 10, (batch_size,), device=device)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    for _ in range(5):
        step()
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(steps):
        loss = step()
    loss.item()          # waits for the device
    samples = steps * batch_size
    return samples / (time.perf_counter() - start), samples / (time.process_time() - cpu_start)


def child_rate(python: str, lib_name: str, threads: int, args: argparse.Namespace) -> tuple[float, float]:
    """train_rate measured in a fresh process with `threads` threads everywhere."""
    env = dict(os.environ, **{var: str(threads) for var in THREAD_VARS})
    cmd = [python, HERE, "--lib", lib_name, "--device", args.device, "--steps", str(args.steps),
           "--batch-size", str(args.batch_size), "--model", args.model]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    words = out.split()
    return float(words[1]), float(words[3].lstrip("("))


def find_torch_python(given: str | None) -> str | None:
    if given:
        return given
    return sys.executable if importlib.util.find_spec("torch") is not None else None


def compare(args: argparse.Namespace) -> float:
    """Interleaved subprocess runs per thread count; prints the best samples/s of each and the ratio."""
    torch_python = find_torch_python(args.torch_python)
    if torch_python is None:
        print("torch is not importable here (give --torch-python): measuring distgrad only")
    print(f"best of {args.repeats}; samples/s of wall time, and per CPU-second in parentheses")
    print(f"{'threads':>7s} {'distgrad':>16s} {'torch':>16s} {'ratio':>13s}")
    first = 0.0
    for threads in args.threads or [1]:
        best = {"distgrad": (0.0, 0.0), "torch": (0.0, 0.0)}
        for _ in range(args.repeats):
            for lib, python in (("distgrad", sys.executable), ("torch", torch_python)):
                if python is not None:
                    wall, cpu = child_rate(python, lib, threads, args)
                    best[lib] = (max(best[lib][0], wall), max(best[lib][1], cpu))
        (dw, dc), (tw, tc) = best["distgrad"], best["torch"]
        peer = f"{tw:7.0f} ({tc:6.0f}) {dw / tw:5.2f} ({dc / tc:4.2f})" if tw else f"{'-':>16s}"
        print(f"{threads:7d} {dw:7.0f} ({dc:6.0f}) {peer}", flush=True)
        first = first or dw
    return first


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--model", default="mlp", choices=sorted(MODELS))
    parser.add_argument("--threads", type=int, nargs="+", help="compare in subprocesses with these thread counts")
    parser.add_argument("--torch-python", help="a python that imports torch, for the peer figure")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lib", default="distgrad", choices=("distgrad", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads or args.torch_python:
        return compare(args)
    rate, cpu_rate = train_rate(args.lib, args.device, args.steps, args.batch_size, args.model)
    print(f"{args.device}: {rate:.0f} samples/s ({cpu_rate:.0f} per CPU-second)")
    return rate


if __name__ == "__main__":
    main()
