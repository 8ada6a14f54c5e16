"""What train_ddp.py and train_ps.py share: train_digits.py's data split and model, the command line, a loader over
this rank's share of the data, one epoch of training and rank 0's progress line."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import distgrad as torch
import distgrad.nn.functional as F
from distgrad import nn
from distgrad.utils.data import DataLoader, DistributedSampler, TensorDataset

sys.path.insert(0, str(Path(__file__).parent))
from train_digits import FullyConnectedNetwork, load_data  # the single-process example's model and data split

__all__ = ["FullyConnectedNetwork", "accuracy", "digits", "parser", "report", "shard", "train_epoch"]


def parser(doc: str) -> argparse.ArgumentParser:
    """The options both examples take, with train_digits.py's defaults (20 epochs, batch 32, lr 0.1)."""
    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32, help="global batch, split over the ranks")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    return p


def digits() -> tuple[TensorDataset, tuple[torch.Tensor, torch.Tensor]]:
    """train_digits.py's split: a TensorDataset of 1437 training images and the 360 test images and labels."""
    x_train, y_train, x_test, y_test = load_data(None)
    return (TensorDataset(torch.tensor(x_train), torch.tensor(y_train)),
            (torch.tensor(x_test), torch.tensor(y_test)))


def shard(train: TensorDataset, args: argparse.Namespace, rank: int, world: int
          ) -> tuple[DistributedSampler, DataLoader]:
    """This rank's sampler (call set_epoch every epoch) and a loader of batch-size / world samples per step."""
    if args.batch_size % world:
        raise SystemExit(f"--batch-size {args.batch_size} must be divisible by the {world} ranks")
    sampler = DistributedSampler(train, num_replicas=world, rank=rank, seed=args.seed, drop_last=True)
    return sampler, DataLoader(train, batch_size=args.batch_size // world, sampler=sampler, drop_last=True)


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader) -> float:
    """One pass over loader; the last batch's loss."""
    for x, y in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    return loss.item()


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of x classified as y."""
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def report(epoch: int, loss: float, model: nn.Module, test: tuple[torch.Tensor, torch.Tensor]) -> None:
    """Rank 0's progress line."""
    print(f"epoch {epoch}: loss {loss:.4f}, test accuracy {accuracy(model, *test):.3f}", flush=True)
