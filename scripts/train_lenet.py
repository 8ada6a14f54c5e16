"""The seed's LeNet (conv-pool-conv-pool-fc-fc-fc) with the 60-minute-blitz steps, on random 32x32 inputs."""
import argparse

import distgrad as torch
import distgrad.nn.functional as F
from distgrad import nn, optim


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def main(argv=None) -> list[float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    net = Net().to(args.device)
    print(net)
    params = list(net.parameters())
    print(len(params), params[0].size())
    input = torch.randn(1, 1, 32, 32, device=args.device)
    out = net(input)
    print(out)
    net.zero_grad()
    out.backward(torch.randn(1, 10, device=args.device))
    target = torch.randn(10, device=args.device).view(1, -1)
    criterion = nn.MSELoss()
    loss = criterion(net(input), target)
    print(loss, loss.grad_fn)
    net.zero_grad()
    print("conv1.bias.grad before backward", net.conv1.bias.grad)
    loss.backward()
    print("conv1.bias.grad after backward", net.conv1.bias.grad)
    optimizer = optim.SGD(net.parameters(), lr=0.01)
    losses = []
    for _ in range(args.steps):
        optimizer.zero_grad()
        loss = criterion(net(input), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    print("losses", [round(v, 4) for v in losses])
    return losses


if __name__ == "__main__":
    main()
