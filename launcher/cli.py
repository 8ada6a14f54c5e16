"""distgrad-launch: run a training script as N workers plus the distgrad server(s), like torchrun.

    distgrad-launch --nproc 4 train.py --epochs 3
    distgrad-launch --nnodes 2 --node-rank 0 --master-addr 10.0.0.1 --master-port 29500 --nproc 2 -m mypkg.train

Each worker gets torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, NODE_RANK, MASTER_ADDR,
MASTER_PORT) plus DISTGRAD_ROLE, DISTGRAD_PS_ADDR (server addresses) and DISTGRAD_SECRET (the job's secret, never on
the command line). Output is relayed live with a "[rank N]" prefix. When one worker fails, the others are stopped and
the launcher exits with the failed worker's code (128 + signal for a signal). Multi-node jobs share one secret: export
DISTGRAD_SECRET with the same value on every node.
"""
from __future__ import annotations

import argparse
import os
import secrets
import sys

from .supervisor import Supervisor


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, as torchrun spells it where torchrun has the option."""
    p = argparse.ArgumentParser(prog="distgrad-launch", description=__doc__.split("\n")[0])
    p.add_argument("--nproc", "--nproc-per-node", "--nproc_per_node", type=int, default=1, dest="nproc",
                   help="workers on this node")
    p.add_argument("--nnodes", type=int, default=1, help="number of nodes (one launcher per node)")
    p.add_argument("--node-rank", "--node_rank", type=int, default=0, dest="node_rank", help="this node's index")
    p.add_argument("--master-addr", "--master_addr", default="127.0.0.1", dest="master_addr",
                   help="address of node 0, where the servers listen")
    p.add_argument("--master-port", "--master_port", type=int, default=0, dest="master_port",
                   help="port of server 0 (0 picks a free one; single node only)")
    p.add_argument("--nservers", type=int, default=1, help="parameter-server shards")
    p.add_argument("--max-restarts", "--max_restarts", type=int, default=0, dest="max_restarts",
                   help="restart all workers up to K times after a failure")
    p.add_argument("--log-dir", "--log_dir", default=None, dest="log_dir", help="write rank_N.log files here")
    p.add_argument("--devices", default=None, help="devices of local ranks, round robin: opencl:0,opencl:1 or auto")
    p.add_argument("--timeout", type=float, default=None, help="collective and store timeout in seconds")
    p.add_argument("--no-curve", action="store_true", dest="no_curve",
                   help="no CURVE encryption beyond loopback (only on a trusted cluster network)")
    p.add_argument("-m", "--module", action="store_true", help="run the target as a module, like python -m")
    p.add_argument("script", help="training script (or module with -m)")
    p.add_argument("script_args", nargs=argparse.REMAINDER, help="arguments passed to the script")
    args = p.parse_args(argv)
    for name in ("nproc", "nnodes", "nservers"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if not 0 <= args.node_rank < args.nnodes:
        p.error(f"--node-rank must be in [0, {args.nnodes}), got {args.node_rank}")
    if args.nnodes > 1 and (args.master_port == 0 or "DISTGRAD_SECRET" not in os.environ):
        p.error("multi-node jobs need an explicit --master-port and the same DISTGRAD_SECRET exported on every node")
    return args


def thread_env(nproc: int) -> None:
    """Set OMP/OpenBLAS/MKL threads to cores // nproc unless set; warn when processes x threads exceed the cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = str(max(1, cores // nproc))
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, threads)
    total = nproc * int(os.environ["OMP_NUM_THREADS"])
    if total > cores:
        fix = f"--nproc {cores} or fewer" if total == nproc else f"OMP_NUM_THREADS={max(1, cores // nproc)}"
        print(f"distgrad-launch: warning: {nproc} processes x {os.environ['OMP_NUM_THREADS']} threads = {total} > "
              f"{cores} cores; oversubscription ran 4.5-8x slower on our machines; use {fix}.", file=sys.stderr,
              flush=True)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    args = parse_args(argv)
    thread_env(args.nproc)
    if args.no_curve:
        os.environ["DISTGRAD_CURVE"] = "off"  # before the servers start; workers inherit it
    secret = os.environ.get("DISTGRAD_SECRET") or secrets.token_hex(32)
    target = ["-m", args.script] if args.module else [args.script]
    sys.exit(Supervisor(args, [sys.executable, "-u", *target, *args.script_args], secret).run())


if __name__ == "__main__":
    main()
