"""Seed 001, tensor cells: expand, item/tolist, in-place ops under no_grad."""
import distgrad as torch

x = torch.tensor([1, 2, 3, 4])
print(x)
print(x.shape)

x1 = x.expand(2, 4)
print(x1)
print(x1.shape)

x = torch.tensor([1.0])
print(x)
print(x.item())

x = torch.tensor([1.0, 2.0])
try:  # the seed shows this line failing; the script prints the error and goes on
    print(x.item())
except (RuntimeError, ValueError) as e:
    print(f"{type(e).__name__}: {e}")
print(x.tolist())

a = torch.tensor([1.1], requires_grad=True)
b = a * 2
print(b.add_(2))
with torch.no_grad():
    print(b.mul_(2))
