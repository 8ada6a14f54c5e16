"""Seed 001, nn/optim cells: DummyModel trained with MSELoss and SGD, nn.Threshold, a warmup-cosine LR schedule,
and save/load of whole models and state_dicts."""
# ruff: noqa: PLR0402, UP032  (the seed's code, kept as users type it)
import random

import numpy as np

import distgrad as torch
import distgrad.nn as nn
import distgrad.optim as optim

random_seed = 1
torch.manual_seed(random_seed)
np.random.seed(random_seed)
random.seed(random_seed)


class DummyModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(5, 6)

    def forward(self, input):
        output = self.linear(input)
        return output


model = DummyModel()
print("model =", model)
print("模型各层的参数 model.parameters() =")
for i, param in enumerate(model.parameters()):
    print("===>", i, ", type:", type(param), ", size:", param.size(), ",", param)

loss_fn = nn.MSELoss()
optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

print("训练数据")
input = torch.randn(2, 5)
print("input =", input)
label = torch.randn(2, 6)
print("label =", label)

for epoch in range(100):
    pred = model(input)
    loss = loss_fn(pred, label)
    print("epoch: {}, loss: {}".format(epoch, round(float(loss), 5)))

    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print("pred =", pred)


class SchedulerCosineDecayWarmup:
    def __init__(self, optimizer, lr, warmup_len, total_iters):
        self.optimizer = optimizer
        self.lr = lr
        self.warmup_len = warmup_len
        self.total_iters = total_iters
        self.current_iter = 0

    def get_lr(self):
        if self.current_iter < self.warmup_len:
            lr = self.lr * (self.current_iter + 1) / self.warmup_len
        else:
            cur = self.current_iter - self.warmup_len
            total = self.total_iters - self.warmup_len
            lr = 0.5 * (1 + np.cos(np.pi * cur / total)) * self.lr
        return lr

    def step(self):
        lr = self.get_lr()
        for param in self.optimizer.param_groups:
            param['lr'] = lr
        self.current_iter += 1


# The seed passes an `opt` it never defines; the optimizer above stands in for it.
scheduler = SchedulerCosineDecayWarmup(optimizer, 0.2, 200, 2000)

net = model
torch.save(net, './model.pth')
torch.save(net.state_dict(), './model-dict.pth')

net = net.eval()
torch.save(net, './model.pth')
torch.save(net.state_dict(), './model-dict.pth')

# Differs from PyTorch: since 2.6 torch.load defaults to weights_only=True and refuses a whole pickled model;
# the seed, written earlier, expects it to load.
net_load1 = torch.load('./model.pth')
net_load1 = net_load1.eval()
net_load2 = DummyModel()  # the seed leaves net_load2 undefined; a fresh model of the same class takes the state_dict
net_load2.load_state_dict(torch.load('./model-dict.pth'))
net_load2 = net_load2.eval()

x = torch.tensor([[1, 2, 3, 4], [11, 22, 33, 4]])
t = torch.nn.Threshold(10, 0)
print(t(x))
