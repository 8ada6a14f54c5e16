"""Seed 000, the "60-minute blitz": tensors, the NumPy bridge, devices and autograd, cell by cell."""
# ruff: noqa: UP010  (the seed's code, kept as users type it)
from __future__ import print_function

import numpy as np

import distgrad as torch

torch.manual_seed(0)  # not in the seed: a fixed seed keeps the layout of random tensors the same run to run

dir(torch.cuda)
# Left out: `assert(torch.cuda.is_available())`; the device cell below falls back to the cpu instead.

x = torch.empty(5, 3)
print(x)

x = torch.rand(5, 3)
print(x)

x = torch.zeros(5, 3, dtype=torch.long)
print(x)

x = torch.tensor([5.5, 3.0])
print(x)

x = x.new_ones(5, 3, dtype=torch.double)
print(x)

x = torch.randn_like(x, dtype=torch.float)
print(x)

print(x.size())
print(x.size()[0])

x = torch.ones(5, 3)
y = torch.zeros(5, 3)
print(x + y)
print(torch.add(x, y))

result = torch.empty(5, 3)
torch.add(x, y, out=result)
print(result)

y.add_(x)
print(y)

print(x[:, 1])
print(x[1, :])

x = torch.randn(4, 4)
y = x.view(16)
z = x.view(-1, 2)
print(x, y, z)

a = torch.ones(5)
b = a.numpy()
print(a, b)

a.add_(a)
print(b)

b += 1
print(a)

a = np.ones(5)
b = torch.from_numpy(a)
np.add(a, 1, out=a)
print(a)
print(b)

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
y = torch.ones_like(x, device=device)
x = x.to(device)
z = x + y
print(z)
print(z.to("cpu", torch.int))

x = torch.ones(2, 2, requires_grad=True)
print(x)

y = x + 2
print(y)

z = y * y * 3
out = z.mean()
print(z, out)

a = torch.randn(2, 2)
a = ((a * 3) / (a - 1))
print(a.requires_grad)
print(a.grad_fn)
a.requires_grad_(True)
print(a.requires_grad)
print(a.grad_fn)
b = (a * a).sum()
print(b.grad_fn)

out.backward()
print(x.grad)

x = torch.randn(3, requires_grad=True)
y = x * 2
while y.data.norm() < 1000:
    y = y * 2
print(y)

v = torch.tensor([0.1, 1.0, 0.0001], dtype=torch.float)
y.backward(v)
print(x.grad)

print(x.requires_grad)
print((x ** 2).requires_grad)
with torch.no_grad():
    print((x ** 2).requires_grad)

print(x.requires_grad)
y = x.detach()
print(y.requires_grad)
print(x.eq(y).all())
