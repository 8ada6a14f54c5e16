"""Regression tests for core bugs found while building nn/optim (each fixed in a `core:` commit)."""
import distgrad as dg


def test_index_with_integer_tensor_does_not_compare_it_to_ellipsis():
    w = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    picked = w[dg.tensor([2, 0])]
    assert picked.tolist() == [3.0, 1.0]
    picked.sum().backward()
    assert w.grad.tolist() == [1.0, 0.0, 1.0]
    assert dg.arange(6).reshape(2, 3)[..., dg.tensor([1])].tolist() == [[1], [4]]


def test_cat_along_a_later_dim_with_unequal_leading_sizes():
    a = dg.zeros(1, 2, 3, 1, requires_grad=True)
    b = dg.ones(1, 2, 3, 2)
    out = dg.cat([a, b], 3)
    assert out.shape == (1, 2, 3, 3) and out.sum().item() == 12.0
    (out * dg.arange(3.0)).sum().backward()
    assert a.grad.sum().item() == 0.0
