"""Train train_digits.py's classifier with DistributedDataParallel; resumes from its checkpoint after a restart.

    python scripts/train_ddp.py                                  # one process
    distgrad-launch --nproc 4 scripts/train_ddp.py               # four ranks, same global batch and accuracy
    distgrad-launch --nproc 4 --max-restarts 2 scripts/train_ddp.py --checkpoint run.pt   # survives a crash

--batch-size is the global batch: each of N ranks takes batch-size / N samples, so every N gives the same steps.
Data order comes from DistributedSampler(seed, epoch) alone, so a run resumed at an epoch boundary ends with the same
weights as one that never stopped.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import distgrad as torch
import distgrad.distributed as dist
import distgrad.nn.functional as F
from distgrad import nn
from distgrad.nn.parallel import DistributedDataParallel as DDP
from distgrad.utils.data import DataLoader, DistributedSampler, TensorDataset

sys.path.insert(0, str(Path(__file__).parent))
from train_digits import FullyConnectedNetwork, load_data  # the single-process example's model and data split


def digits() -> tuple[TensorDataset, tuple[torch.Tensor, torch.Tensor]]:
    """train_digits.py's split: a TensorDataset of 1437 training images and the 360 test images and labels."""
    x_train, y_train, x_test, y_test = load_data(None)
    return (TensorDataset(torch.tensor(x_train), torch.tensor(y_train)),
            (torch.tensor(x_test), torch.tensor(y_test)))


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of x classified as y."""
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32, help="global batch, split over the ranks")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", default="digits_ddp.pt", help="saved by rank 0 after every epoch; resumed from")
    args = p.parse_args()

    distributed = "WORLD_SIZE" in os.environ
    if distributed:
        dist.init_process_group()
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    if args.batch_size % world:
        raise SystemExit(f"--batch-size {args.batch_size} must be divisible by the {world} ranks")

    torch.manual_seed(args.seed)
    model = FullyConnectedNetwork(64)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    start = 0
    if os.path.exists(args.checkpoint):
        state = torch.load(args.checkpoint)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = state["epoch"] + 1
        if rank == 0:
            print(f"resumed from {args.checkpoint} after epoch {state['epoch']}", flush=True)
    net = DDP(model) if distributed else model

    train, (x_test, y_test) = digits()
    sampler = DistributedSampler(train, num_replicas=world, rank=rank, seed=args.seed, drop_last=True)
    loader = DataLoader(train, batch_size=args.batch_size // world, sampler=sampler, drop_last=True)
    for epoch in range(start, args.epochs):
        sampler.set_epoch(epoch)
        for x, y in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            optimizer.step()
        if rank == 0:
            print(f"epoch {epoch}: loss {loss.item():.4f}, test accuracy {accuracy(model, x_test, y_test):.3f}",
                  flush=True)
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch},
                       args.checkpoint + ".tmp")
            os.replace(args.checkpoint + ".tmp", args.checkpoint)  # a crash never leaves half a checkpoint
        if distributed:
            dist.barrier()
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
