"""Per-call overhead of distgrad next to raw NumPy doing the same work, as ratios (issue 2's targets).

    python scripts/bench_ops.py [--repeats 15]

Timings are CPU time of this process (time.process_time), the minimum over interleaved repeats, so a busy machine
inflates them far less than wall time. Run with OPENBLAS_NUM_THREADS=1 on a shared machine: spinning BLAS threads
add CPU time at random. The matmul baseline keeps its two gradients alive until the next step, as `.grad` does
(allocation reuse differs otherwise); the discard-everything figure is printed too. Targets: tiny add <= 8x np.add; 64x784 @ 784x512 forward+backward <= 1.15x
NumPy's three matmuls.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import distgrad as dg


def per_call(fn, number: int) -> float:
    start = time.process_time()
    for _ in range(number):
        fn()
    return (time.process_time() - start) / number


def compare(cases: dict, number: int, repeats: int) -> dict:
    """Interleave the cases repeat by repeat; keep each one's minimum."""
    best = {name: float("inf") for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            best[name] = min(best[name], per_call(fn, number))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    a, b = np.ones(4, np.float32), np.ones(4, np.float32)
    ta, tb = dg.ones(4), dg.ones(4)
    tg = dg.ones(4, requires_grad=True)
    tiny = compare({"numpy add": lambda: np.add(a, b), "distgrad add": lambda: ta + tb,
                    "distgrad add (requires_grad)": lambda: tg + tb}, 20000, args.repeats)

    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((64, 784), np.float32), rng.standard_normal((784, 512), np.float32)
    g = rng.standard_normal((64, 512), np.float32)
    tx, tw, tgr = dg.tensor(x, requires_grad=True), dg.tensor(w, requires_grad=True), dg.tensor(g)

    held: list = [None, None]

    def numpy_three():
        x @ w
        g @ w.T
        x.T @ g

    def numpy_three_held():      # keeps the two gradients alive until the next step, as .grad does
        held[0] = held[1] = None
        x @ w
        held[0], held[1] = g @ w.T, x.T @ g

    def distgrad_fwd_bwd():
        tx.grad = tw.grad = None
        (tx @ tw).backward(tgr)

    mm = compare({"numpy 3 matmuls (grads held)": numpy_three_held, "numpy 3 matmuls (discarded)": numpy_three,
                  "distgrad matmul fwd+bwd": distgrad_fwd_bwd}, 20, args.repeats)

    print(f"{'case':34s} {'time':>12s} {'ratio':>8s} {'target':>8s}")
    base = tiny["numpy add"]
    for name, t in tiny.items():
        target = "<= 8" if name == "distgrad add" else ""
        print(f"{name:34s} {t * 1e6:10.2f}us {t / base:8.2f} {target:>8s}")
    base = mm["numpy 3 matmuls (grads held)"]
    for name, t in mm.items():
        target = "<= 1.15" if name.startswith("distgrad") else ""
        print(f"{name:34s} {t * 1e3:10.3f}ms {t / base:8.3f} {target:>8s}")


if __name__ == "__main__":
    main()
