"""Training throughput (samples/s) of the 784-512-512-10 MLP, batch 64, SGD, on one device, single process."""
import argparse
import time

import distgrad as torch
from distgrad import nn


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10)).to(args.device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(args.batch_size, 1, 28, 28, device=args.device)
    y = torch.randint(0, 10, (args.batch_size,), device=args.device)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    for _ in range(5):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    loss.item()          # waits for the device
    rate = args.steps * args.batch_size / (time.perf_counter() - start)
    print(f"{args.device}: {rate:.0f} samples/s")
    return rate


if __name__ == "__main__":
    main()
