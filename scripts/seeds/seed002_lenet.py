"""Seed 002, nn cells: LeNet (conv2d, max_pool2d, relu, fc), zero_grad/backward/SGD, CrossEntropyLoss vs softmax."""
# ruff: noqa: PLR0402, UP008  (the seed's code, kept as users type it)
import math  # noqa: F401  (imported by the seed's cell)

import numpy as np

import distgrad as torch
import distgrad.nn as nn
import distgrad.nn.functional as F
import distgrad.optim as optim

torch.manual_seed(0)  # not in the seed: a fixed seed keeps the layout of random tensors the same run to run


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(-1, self.num_flat_features(x))
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x

    def num_flat_features(self, x):
        size = x.size()[1:]
        num_features = 1
        for s in size:
            num_features *= s
        return num_features


# The seed leaves out how net, input, target, criterion and loss are made; these lines are the official tutorial's.
net = Net()
input = torch.randn(1, 1, 32, 32)
output = net(input)
target = torch.randn(10).view(1, -1)
criterion = nn.MSELoss()
loss = criterion(output, target)

net.zero_grad()

print('conv1.bias.grad before backward')
print(net.conv1.bias.grad)

loss.backward()

print('conv1.bias.grad after backward')
print(net.conv1.bias.grad)

optimizer = optim.SGD(net.parameters(), lr=0.01)

optimizer.zero_grad()
output = net(input)
loss = criterion(output, target)
loss.backward()
optimizer.step()

criterion = nn.CrossEntropyLoss()
input = torch.Tensor([[-0.7715, -0.6205, -0.2562]])
target = torch.tensor([0])
loss = criterion(input, target)
print(loss)

m = nn.Softmax()
input = m(input)
print(-np.log(0.2606))
