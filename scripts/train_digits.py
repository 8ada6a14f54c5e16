"""The seed's FullyConnectedNetwork recipe on scikit-learn's handwritten digits (8x8), or MNIST IDX files with --mnist.

Trains with train_one_epoch / test_one_epoch as in the seed, shows a progress bar per epoch, then saves the whole
model, reloads it and prints the same test accuracy."""
import argparse
import gzip
import os
import tempfile

import numpy as np
from tqdm import tqdm

import distgrad as torch
from distgrad import nn


class FullyConnectedNetwork(nn.Module):
    def __init__(self, in_features: int, hidden: int = 128):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 10))

    def forward(self, x):
        return self.linear_relu_stack(self.flatten(x))


def batches(x, y, batch_size, shuffle):
    """(inputs, labels) batches over index permutations (stands in for DataLoader(TensorDataset(x, y)))."""
    n = x.shape[0]
    order = torch.randperm(n) if shuffle else torch.arange(n)
    for i in range(0, n, batch_size):
        idx = order[i:i + batch_size]
        yield x[idx], y[idx]


def _read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_data(mnist_dir):
    """(x_train, y_train, x_test, y_test) as float32 images in [0, 1] and int64 labels."""
    if mnist_dir:
        def find(stem):
            for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
                if os.path.exists(os.path.join(mnist_dir, name)):
                    return _read_idx(os.path.join(mnist_dir, name))
            raise FileNotFoundError(f"{stem}(.gz) not found in {mnist_dir}")
        parts = [find(s) for s in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                                   "t10k-labels-idx1-ubyte")]
        xs = [p.astype(np.float32) / 255.0 for p in parts[0::2]]
        return xs[0], parts[1].astype(np.int64), xs[1], parts[3].astype(np.int64)
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    return x_train, y_train, x_test, y_test


def train_one_epoch(data, size, model, loss_fn, optimizer, epoch):
    model.train()
    losses = []
    bar = tqdm(data, total=None, desc=f"epoch {epoch}", leave=False)
    for batch, (x, y) in enumerate(bar):
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
        if batch % 10 == 0:
            tqdm.write(f"loss: {losses[-1]:>7f}  [{min((batch + 1) * x.shape[0], size):>5d}/{size:>5d}]")
    return sum(losses) / len(losses)


def test_one_epoch(data, size, model, loss_fn):
    model.eval()
    test_loss, correct, n_batches = 0.0, 0, 0
    with torch.no_grad():
        for x, y in data:
            pred = model(x)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).sum().item()
            n_batches += 1
    accuracy = correct / size
    print(f"Test Error: \n Accuracy: {(100 * accuracy):>0.1f}%, Avg loss: {test_loss / n_batches:>8f} \n")
    return accuracy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--mnist", metavar="DIR", help="read the MNIST IDX files in DIR instead of the digits")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    x_train, y_train, x_test, y_test = load_data(args.mnist)
    dev = args.device
    x_train, y_train = torch.tensor(x_train, device=dev), torch.tensor(y_train, device=dev)
    x_test, y_test = torch.tensor(x_test, device=dev), torch.tensor(y_test, device=dev)
    model = FullyConnectedNetwork(x_train[0].numel()).to(dev)
    print(model)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    history = []
    for epoch in range(args.epochs):
        print(f"Epoch {epoch + 1}\n-------------------------------")
        history.append(train_one_epoch(batches(x_train, y_train, args.batch_size, True), x_train.shape[0], model,
                                       loss_fn, optimizer, epoch + 1))
        accuracy = test_one_epoch(batches(x_test, y_test, 256, False), x_test.shape[0], model, loss_fn)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.pth")
        torch.save(model, path)
        reloaded = torch.load(path)
    print("Reloaded model:")
    reloaded_accuracy = test_one_epoch(batches(x_test, y_test, 256, False), x_test.shape[0], reloaded, loss_fn)
    print("Done!")
    return history, accuracy, reloaded_accuracy


if __name__ == "__main__":
    main()
