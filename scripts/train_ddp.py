"""Train train_digits.py's classifier with DistributedDataParallel; resumes from its checkpoint after a restart.

    python scripts/train_ddp.py                                  # one process
    distgrad-launch --nproc 4 scripts/train_ddp.py               # four ranks, same global batch and accuracy
    distgrad-launch --nproc 4 --max-restarts 2 scripts/train_ddp.py --checkpoint run.pth   # survives a crash

--batch-size is the global batch: each of N ranks takes batch-size / N samples, so every N gives the same steps.
Data order comes from DistributedSampler(seed, epoch) alone, so a run resumed at an epoch boundary ends with the same
weights as one that never stopped.
"""
from __future__ import annotations

import os

from digits_distributed import FullyConnectedNetwork, accuracy, digits, parser, report, shard, train_epoch

import distgrad as torch
import distgrad.distributed as dist
from distgrad.nn.parallel import DistributedDataParallel as DDP


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--checkpoint", default="digits_ddp.pth", help="saved by rank 0 after every epoch; resumed from")
    args = p.parse_args()

    distributed = "WORLD_SIZE" in os.environ
    if distributed:
        dist.init_process_group()
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    train, test = digits()
    sampler, loader = shard(train, args, rank, world)

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

    for epoch in range(start, args.epochs):
        sampler.set_epoch(epoch)
        loss = train_epoch(net, optimizer, loader)
        if rank == 0:
            report(epoch, loss, model, test)
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch},
                       args.checkpoint + ".tmp")
            os.replace(args.checkpoint + ".tmp", args.checkpoint)  # a crash never leaves half a checkpoint
        if distributed:
            dist.barrier()
    if rank == 0:
        print(f"test accuracy {accuracy(model, *test):.3f} after {args.epochs} epochs on {world} rank(s); "
              f"checkpoint {args.checkpoint}", flush=True)
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
