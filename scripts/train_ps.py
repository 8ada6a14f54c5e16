"""Train the digits classifier with asynchronous parameter-server training (stale-synchronous, bound --staleness).

    distgrad-launch --nproc 4 --nservers 2 scripts/train_ps.py --epochs 10

Each rank trains on its DistributedSampler share with a local SGD; ParameterServerOptimizer pushes every local update to
the parameter shards and pulls the current weights, never more than --staleness steps ahead of the slowest rank.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import distgrad as torch
import distgrad.distributed as dist
import distgrad.nn.functional as F
from distgrad.distributed import ParameterServerOptimizer
from distgrad.utils.data import DataLoader, DistributedSampler

sys.path.insert(0, str(Path(__file__).parent))
from train_ddp import accuracy, digits  # the same data set and metric as the DDP example
from train_digits import FullyConnectedNetwork


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32, help="global batch, split over the ranks")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--mode", choices=["sync", "async"], default="async")
    p.add_argument("--staleness", type=int, default=2, help="async: steps a rank may run ahead of the slowest")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    dist.init_process_group()
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(args.seed)
    model = FullyConnectedNetwork(64)
    # Async: every rank's update lands on the shared weights, so each rank steps with lr / world.
    lr = args.lr / world if args.mode == "async" else args.lr
    optimizer = ParameterServerOptimizer(torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9), mode=args.mode,
                                         staleness=args.staleness, named_parameters=model.named_parameters())
    train, (x_test, y_test) = digits()
    sampler = DistributedSampler(train, seed=args.seed, drop_last=True)
    loader = DataLoader(train, batch_size=args.batch_size // world, sampler=sampler, drop_last=True)
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        for x, y in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
        if rank == 0:
            print(f"epoch {epoch}: loss {loss.item():.4f}, test accuracy {accuracy(model, x_test, y_test):.3f}",
                  flush=True)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
