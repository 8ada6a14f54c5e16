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
from distgrad.utils.data import DataLoader, TensorDataset


class FullyConnectedNetwork(nn.Module):
    def __init__(self, in_features: int, hidden: int = 128):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 10))

    def forward(self, x):
        return self.linear_relu_stack(self.flatten(x))


def read_idx(path, ndim):
    """An IDX file of unsigned bytes (magic 0x0000 08 ndim, then ndim big-endian uint32 sizes), as a NumPy array."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:      # gzip raises BadGzipFile (an OSError) or EOFError on a broken .gz
        raise ValueError(f"{path}: cannot read: {e}") from e
    if len(data) < 4 + 4 * ndim or data[:4] != bytes([0, 0, 8, ndim]):
        raise ValueError(f"{path}: not an IDX file of {ndim}-d unsigned bytes: expected magic 00 00 08 {ndim:02x}, "
                         f"got {data[:4].hex(' ') or 'an empty file'}")
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    expected = 4 + 4 * ndim + int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(f"{path}: header says shape {shape}, so {expected} bytes, but the file has {len(data)}")
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_data(mnist_dir):
    """(x_train, y_train, x_test, y_test) as float32 images in [0, 1] and int64 labels."""
    if mnist_dir:
        def find(stem):
            for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
                if os.path.exists(os.path.join(mnist_dir, name)):
                    return read_idx(os.path.join(mnist_dir, name), 3 if "images" in stem else 1)
            raise FileNotFoundError(f"{stem}(.gz) not found in {mnist_dir}")
        parts = [find(s) for s in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                                   "t10k-labels-idx1-ubyte")]
        for images, labels in (parts[0:2], parts[2:4]):
            if len(images) != len(labels):
                raise ValueError(f"{mnist_dir}: {len(images)} images but {len(labels)} labels")
        xs = [p.astype(np.float32) / 255.0 for p in parts[0::2]]
        return xs[0], parts[1].astype(np.int64), xs[1], parts[3].astype(np.int64)
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    return x_train, y_train, x_test, y_test


def train_one_epoch(loader, model, loss_fn, optimizer, epoch, device):
    model.train()
    size, losses = len(loader.dataset), []
    bar = tqdm(loader, desc=f"epoch {epoch}", leave=False)
    for batch, (x, y) in enumerate(bar):
        x, y = x.to(device), y.to(device)
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
        if batch % 10 == 0:
            tqdm.write(f"loss: {losses[-1]:>7f}  [{min((batch + 1) * loader.batch_size, size):>5d}/{size:>5d}]")
    return sum(losses) / len(losses)


def test_one_epoch(loader, model, loss_fn, device):
    model.eval()
    test_loss, correct = 0.0, 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            pred = model(x)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).sum().item()
    accuracy = correct / len(loader.dataset)
    print(f"Test Error: \n Accuracy: {(100 * accuracy):>0.1f}%, Avg loss: {test_loss / len(loader):>8f} \n")
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
    x_train, y_train, x_test, y_test = (torch.from_numpy(a) for a in load_data(args.mnist))
    train_loader = DataLoader(TensorDataset(x_train, y_train), batch_size=args.batch_size, shuffle=True,
                              generator=torch.Generator().manual_seed(args.seed))
    test_loader = DataLoader(TensorDataset(x_test, y_test), batch_size=256)
    dev = args.device
    model = FullyConnectedNetwork(x_train[0].numel()).to(dev)
    print(model)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    history = []
    for epoch in range(args.epochs):
        print(f"Epoch {epoch + 1}\n-------------------------------")
        history.append(train_one_epoch(train_loader, model, loss_fn, optimizer, epoch + 1, dev))
        accuracy = test_one_epoch(test_loader, model, loss_fn, dev)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.pth")
        torch.save(model, path)
        reloaded = torch.load(path)
    print("Reloaded model:")
    reloaded_accuracy = test_one_epoch(test_loader, reloaded, loss_fn, dev)
    print("Done!")
    return history, accuracy, reloaded_accuracy


if __name__ == "__main__":
    main()
