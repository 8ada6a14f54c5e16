"""Seeds 002 and 003, autograd cells (the same in both): requires_grad, grad_fn names, backward of a mean."""
import distgrad as torch

x = torch.ones(2, 2, requires_grad=True)

y = x + 2
print(y)

z = y * y * 3
out = z.mean()
print(z, out)

out.backward()
print(x.grad)
