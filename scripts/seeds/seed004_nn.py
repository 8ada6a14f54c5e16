"""Seed 004, nn cells: a dynamic graph with binary_cross_entropy_with_logits, Flatten/Linear/ReLU/Sequential,
a 3-layer fully connected network with its loss, optimizer and train/test loops, and save/load of the whole model.

Left out: the MNIST cells (torchvision downloads the data set), so the train/test loops are defined but not run.
"""
# ruff: noqa: PLR0402, UP008, UP031  (the seed's code, kept as users type it)
import distgrad as torch
import distgrad.nn as nn

torch.manual_seed(0)  # not in the seed: a fixed seed keeps the layout of random tensors the same run to run

x = torch.ones(5)
y = torch.zeros(3)
w = torch.randn(5, 3, requires_grad=True)
b = torch.randn(3, requires_grad=True)
z = torch.matmul(x, w) + b
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)

print(f"Gradient function for z = {z.grad_fn}")
print(f"Gradient function for loss = {loss.grad_fn}")
print(f"Gradient function for w = {w.grad_fn}")
print(f"Gradient function for b = {b.grad_fn}")

loss.backward()
print(w.grad)
print(b.grad)

input_image = torch.rand(3, 128, 128)
flatten = torch.nn.Flatten()
flat_image = flatten(input_image)
print(flat_image.shape)

fc = torch.nn.Linear(128 * 128, 20)
output = fc(flat_image)
print(output.size())

relu = torch.nn.ReLU()
output = relu(output)
print(output)

seq_modules = torch.nn.Sequential(
    torch.nn.Flatten(),
    torch.nn.Linear(128 * 128, 20),
    torch.nn.ReLU(),
)
input_image = torch.rand(3, 128, 128)
output = seq_modules(input_image)
print(output.shape)


class FullyConnectedNetwork(nn.Module):
    def __init__(self):
        super(FullyConnectedNetwork, self).__init__()
        self.flatten = nn.Flatten()
        self.linear_layers = nn.Sequential(
            nn.Linear(28 * 28, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10),
        )

    def forward(self, x):
        x = self.flatten(x)
        outputs = self.linear_layers(x)
        return outputs


model = FullyConnectedNetwork()

epochs = 5
learning_rate = 1e-3
batch_size = 64

loss_fn = nn.CrossEntropyLoss()

optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)


def train_one_epoch(dataloader, model, loss_fn, optimizer):
    size = len(dataloader.dataset)
    for batch, (X, y) in enumerate(dataloader):
        pred = model(X)
        loss = loss_fn(pred, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if batch % 100 == 0:
            loss, current = loss.item(), batch * len(X)
            print("loss: %.5f  [%d/%d]" % (loss, current, size))


def test_one_epoch(dataloader, model, loss_fn):
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in dataloader:
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    test_loss /= num_batches
    correct /= size
    print("Accuracy: %.2f, Avg loss: %.5f \n" % (correct, test_loss))


torch.save(model, 'model.pth')

# Differs from PyTorch: since 2.6 torch.load defaults to weights_only=True and refuses a whole pickled model;
# the seed, written earlier, expects it to load.
model_new = torch.load('model.pth')
