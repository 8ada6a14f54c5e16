"""The seed's DummyModel: Linear(5, 6) fitted to two random samples with MSELoss and SGD(momentum=0.9)."""
import argparse

import distgrad as torch
from distgrad import nn, optim


class DummyModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(5, 6)

    def forward(self, input):
        return self.linear(input)


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.manual_seed(1)
    model = DummyModel().to(args.device)
    print("model =", model)
    loss_fn = nn.MSELoss()
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    input, label = torch.randn(2, 5, device=args.device), torch.randn(2, 6, device=args.device)
    for epoch in range(args.epochs):
        pred = model(input)
        loss = loss_fn(pred, label)
        print(f"epoch: {epoch}, loss: {round(float(loss), 5)}")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print("pred =", pred)
    return float(loss)


if __name__ == "__main__":
    main()
