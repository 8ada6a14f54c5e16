"""Train the digits classifier with asynchronous parameter-server training (stale-synchronous, bound --staleness).

    distgrad-launch --nproc 4 --nservers 2 scripts/train_ps.py --epochs 10

Each rank trains on its DistributedSampler share with a local SGD; ParameterServerOptimizer pushes every local update to
the parameter shards and pulls the current weights, never more than --staleness steps ahead of the slowest rank.
"""
from __future__ import annotations

from digits_distributed import FullyConnectedNetwork, digits, parser, report, shard, train_epoch

import distgrad as torch
import distgrad.distributed as dist
from distgrad.distributed import ParameterServerOptimizer


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--mode", choices=["sync", "async"], default="async")
    p.add_argument("--staleness", type=int, default=2, help="async: steps a rank may run ahead of the slowest")
    args = p.parse_args()

    dist.init_process_group()
    rank, world = dist.get_rank(), dist.get_world_size()
    train, test = digits()
    sampler, loader = shard(train, args, rank, world)
    torch.manual_seed(args.seed)
    model = FullyConnectedNetwork(64)
    # Async: every rank's update lands on the shared weights, so each rank steps with lr / world.
    lr = args.lr / world if args.mode == "async" else args.lr
    optimizer = ParameterServerOptimizer(torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9), mode=args.mode,
                                         staleness=args.staleness, named_parameters=model.named_parameters())
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        loss = train_epoch(model, optimizer, loader)
        if rank == 0:
            report(epoch, loss, model, test)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
