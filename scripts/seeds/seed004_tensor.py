"""Seed 004, tensor cells: creation, dtypes and .type(), the NumPy bridge, devices, views and reshaping,
elementwise ops, reductions, indexing (gather, advanced), comparisons and max(dim), linear algebra, contiguity."""
import numpy as np

import distgrad as torch

torch.manual_seed(0)  # not in the seed: a fixed seed keeps the layout of random tensors the same run to run

data = [[1, 2], [3, 4]]
x_list = torch.tensor(data)
print(x_list)

np_array = np.array(data, dtype=float)
x_np = torch.from_numpy(np_array)
print(x_np)

x_ones = torch.ones(2, 3)
x_zeros = torch.zeros(2, 3)
x_rand = torch.rand(2, 3)
x_randn = torch.randn(2, 3)
print(x_ones)
print(x_zeros)
print(x_rand)
print(x_randn)

x_ones_like = torch.ones_like(x_list)
x_zeros_like = torch.zeros_like(x_list)
x_rand_like = torch.rand_like(x_list, dtype=torch.float)
x_randn_like = torch.randn_like(x_list, dtype=torch.float)

x_full = torch.full([3, 4], 3.14)
print(x_full)

x_arange = torch.arange(1, 10, 1)
print(x_arange)

x_linspace = torch.linspace(0, 10, 21)
print(x_linspace)

x_ones = torch.ones(2, 3)
x_ones_8bit_int = x_ones.type(torch.CharTensor)
x_ones_32bit_int = x_ones.type(torch.IntTensor)
print(x_ones_8bit_int)
print(x_ones_32bit_int)

x_ones_int8 = torch.ones(2, 3, dtype=torch.int8)
x_ones_int16 = torch.ones(2, 3, dtype=torch.int16)
x_ones_int32 = torch.ones(2, 3, dtype=torch.int32)
x_ones_int64 = torch.ones(2, 3, dtype=torch.int64)
x_ones_float16 = torch.ones(2, 3, dtype=torch.float16)
x_ones_float32 = torch.ones(2, 3, dtype=torch.float32)
x_ones_float64 = torch.ones(2, 3, dtype=torch.float64)
print(x_ones_int8.type())
print(x_ones_int16.type())
print(x_ones_int32.type())
print(x_ones_int64.type())
print(x_ones_float16.type())
print(x_ones_float32.type())
print(x_ones_float64.type())

a = np.ones([3, 2], dtype=np.float32)
print(a)

b = torch.from_numpy(a)
print(b)
b = torch.Tensor(a)
print(b)

c = b.numpy()
print(c)

a[0, 1] = 10
print(b)
print(c)

a = torch.randn(2, 3)
print(a.device)

if torch.cuda.is_available():
    a = torch.randn(2, 3, device=torch.device('cuda:0'))
print(a.device)

device = torch.device('cpu')
b = a.to(device)
print(b.device)
# The seed moves b to 'cuda:0' unguarded; on a machine without a GPU the script stays on the cpu.
device = torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')
c = b.to(device)
print(c.device)

a = torch.arange(0, 8)
print(a.view(2, 4))

b = a.view(-1, 4)
print(b)
print(b.shape)

a[1] = 10
print(b)

c = b.clone()
b[1] = 1
print(c)

c = b.unsqueeze(dim=1)
print(c.shape)
d = b.unsqueeze(-1)
print(d.shape)

c = b.unsqueeze(dim=1)
c = b.view(1, 1, 1, 2, 4)
print(c)
d = c.squeeze(0)
print(d)
d = c.squeeze()
print(d)

c = b.resize_(1, 4)
print(c)
c = b.resize_(3, 4)
print(c)

a = torch.arange(0, 3).view(3, 1)
print(a.shape)
b = a.repeat(3, 4)
c = a.repeat(2, 3, 4)
print(b.shape)
print(c.shape)

a = torch.arange(0, 6).view(2, 1, 3)
b = torch.transpose(a, 0, 1)
c = a.permute(2, 0, 1)
print(a.shape)
print(b.shape)
print(c.shape)

c[0, 1] = 100
print(a)
print(b)
print(c)

a = torch.arange(0, 6).float()
print(torch.cos(a))
print(a % 2)
print(a ** 3)

b = torch.ones(3, 2)
c = b.sum(dim=0, keepdim=True)
print(c)
c = b.sum(dim=0, keepdim=False)
print(c)

a = torch.arange(0, 6).view(2, 3)
print(a)
b = a.cumsum(dim=1)
print(b)

a = torch.randn(3, 4)
print(a)
print(a[0])
print(a[:, 0])
print(a[0][2])
print(a[0, -1])
print(a[:2])
print(a[:2, 0:2])
print(a[0:1, :2])
print(a[0, :2])

a = torch.randn(3, 4)
print(a[None].shape)
print(a[None].shape)
print(a[:, None, :].shape)
print(a[:, None, :, None, None].shape)
print(a > 1)
print(a[a > 1])
print(a[torch.LongTensor([0, 1])])

a = torch.arange(0, 16).view(4, 4)
index1 = torch.LongTensor([[0, 1, 2, 3]])
index2 = torch.LongTensor([[3, 2, 1, 0]]).t()
index3 = torch.LongTensor([[3, 2, 1, 0]])
index4 = torch.LongTensor([[0, 1, 2, 3], [3, 2, 1, 0]]).t()
print(a)
print(a.gather(0, index1))
print(a.gather(1, index2))
print(a.gather(0, index3))
print(a.gather(1, index4))

a = torch.arange(0, 16).view(4, 4)
d = a[0:1, 0:1, None]
print(a[0, 0])
print(a[0, 0].item())
print(d.shape)
print(d.item())

x = torch.arange(0, 27).view(3, 3, 3)
print(x)
print(x[[1, 2], [1, 2], [2, 0]])
print(x[[2, 1, 0], [0], [1]])
print(x[[0, 2], ...])

a = torch.linspace(0, 15, 6).view(2, 3)
b = torch.linspace(15, 0, 6).view(2, 3)
print(a)
print(b)
print(a > b)
print(a[a > b])
print(torch.max(a))
print(torch.max(b, dim=1))
print(torch.max(a, b))
print(torch.clamp(a, min=10))

a = torch.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
print(a)
print(torch.trace(a))
print(torch.diag(a))
print(torch.triu(a))
print(torch.triu(a, diagonal=1))
print(torch.tril(a))
print(torch.tril(a, diagonal=-1))

c = torch.randn((2, 2, 5))
d = torch.reshape(c, (2, 5, 2))
print(c)
print(d)
print(torch.bmm(c, d))

t = torch.tensor([[2, 1, 3], [4, 5, 9]])
t1 = t.t()
print(t)
print(t.view(1, 6))
print(t1)
try:  # the seed shows this line failing; the script prints the error and goes on
    print(t1.view(1, 6))
except RuntimeError as e:
    print(f"RuntimeError: {e}")

t2 = t1.contiguous()
print(t2)
print(t2.view(1, 6))
