"""einsum, lerp/addcmul/addcdiv, mv/addmv/baddbmm/addbmm: values against NumPy, float64 gradcheck, PyTorch 2.13's
errors (messages written down from torch 2.13.0 by hand)."""
import math
import re

import numpy as np
import pytest

import distgrad as dg
from distgrad.autograd import gradcheck

RNG = np.random.default_rng(0)


def _arrays(*shapes):
    return [RNG.uniform(-2, 2, s) for s in shapes]


def _on(device, *arrays, dtype=dg.float32, requires_grad=False):
    return [dg.tensor(a, dtype=dtype, device=device, requires_grad=requires_grad) for a in arrays]


def _close(t, expected, tol=1e-5):
    np.testing.assert_allclose(t.detach().cpu().numpy(), expected, rtol=tol, atol=tol)


# ---------------------------------------------------------------------------------------------------- einsum

EINSUM = [  # equation, operand shapes, NumPy's equation for the same result (None: the same)
    ("ij,jk->ik", [(2, 3), (3, 4)], None), ("ij,jk", [(2, 3), (3, 4)], None), ("ij->ji", [(2, 3)], None),
    ("ii", [(3, 3)], None), ("ii->i", [(3, 3)], None), ("iji->j", [(3, 2, 3)], None), ("ij->", [(2, 3)], None),
    ("bA,ba", [(5, 2), (5, 3)], None), ("i,i", [(3,), (3,)], None), ("i,j->ij", [(3,), (4,)], None),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)], None), ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)], None),
    ("ij,ij,ij->i", [(2, 3)] * 3, None), ("i,ij,j->", [(2,), (2, 3), (3,)], None),
    ("ab,cd->", [(2, 3), (4, 5)], None), ("...ij,...jk", [(5, 2, 3), (3, 4)], None),
    ("...,...->...", [(2, 1, 3), (4, 1)], None), ("...ij->ij", [(5, 2, 3)], "kij->ij"), ("ij->...", [(2, 3)], "ij->"),
    ("i j , j k -> i k", [(2, 3), (3, 4)], "ij,jk->ik"), ("ij,jk->ik", [(2, 3), (1, 4)], None), ("", [()], None),
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)], None),
]


@pytest.mark.parametrize("equation, shapes, np_equation", EINSUM, ids=[c[0] or "scalar" for c in EINSUM])
def test_einsum_matches_numpy(equation, shapes, np_equation, device):
    xs = _arrays(*shapes)
    _close(dg.einsum(equation, *_on(device, *xs)), np.einsum(np_equation or equation, *xs))


def test_einsum_operand_list_and_sublist_forms(device):
    a, b = _arrays((2, 3), (3, 4))
    ta, tb = _on(device, a, b)
    _close(dg.einsum("ij,jk->ik", [ta, tb]), a @ b)
    _close(dg.einsum(ta, [0, 1], tb, [1, 2], [0, 2]), a @ b)
    _close(dg.einsum(ta, [0, 1], tb, [1, 2]), a @ b)
    _close(dg.einsum(ta, [0, Ellipsis]), a.T)       # implicit output: the ellipsis first


@pytest.mark.parametrize("equation, shapes", [("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
                                              ("i,ij,j->", [(2,), (2, 3), (3,)]), ("ij,jk->ki", [(2, 3), (3, 4)])])
def test_einsum_gradients(equation, shapes, device):
    xs = _arrays(*shapes)
    assert gradcheck(lambda *ts: dg.einsum(equation, *ts), _on("cpu", *xs, dtype=dg.float64, requires_grad=True))
    ts = _on(device, *xs, requires_grad=True)
    dg.einsum(equation, *ts).sum().backward()
    inputs, output = equation.split("->")
    subscripts, ones = inputs.split(","), np.ones(np.einsum(equation, *xs).shape)
    for i, t in enumerate(ts):   # d sum / d x_i: the other operands and ones in the output's place, onto x_i's labels
        others = [j for j in range(len(xs)) if j != i]
        grad = np.einsum(",".join([subscripts[j] for j in others] + [output]) + "->" + subscripts[i],
                         *[xs[j] for j in others], ones)
        _close(t.grad, grad, 1e-4)


@pytest.mark.parametrize("equation, shapes", [("iji->j", [(3, 2, 3)]), ("...ij,...jk", [(2, 2, 3), (3, 1)]),
                                              ("ij,jk->ik", [(2, 3), (1, 4)]), ("bii,bi->b", [(2, 3, 3), (1, 3)])])
def test_einsum_gradcheck_diagonals_ellipsis_broadcast(equation, shapes):
    xs = _arrays(*shapes)
    assert gradcheck(lambda *ts: dg.einsum(equation, *ts), _on("cpu", *xs, dtype=dg.float64, requires_grad=True))


EINSUM_ERRORS = [  # equation, operand shapes, exception, PyTorch 2.13's message
    ("ij,jk", [(2, 3)], RuntimeError, "einsum(): fewer operands were provided than specified in the equation"),
    ("ij", [(2, 3), (3, 4)], RuntimeError, "einsum(): more operands were provided than specified in the equation"),
    ("i1", [(2, 3)], RuntimeError,
     "einsum(): invalid subscript given at index 1 in the equation string, subscripts must be in [a-zA-Z]"),
    ("i->i->i", [(2,)], RuntimeError,
     "einsum(): invalid subscript given at index 4 in the equation string, subscripts must be in [a-zA-Z]"),
    ("i.j", [(2, 3)], RuntimeError, "einsum(): found '.' for operand 0 that is not part of any ellipsis"),
    ("...i...", [(2, 3)], RuntimeError, "einsum(): found '.' for operand 0 for which an ellipsis was already found"),
    ("ij->..", [(2, 3)], RuntimeError, "einsum(): found '.' for output that is not part of any ellipsis (...)"),
    ("...ij->......", [(2, 3)], RuntimeError,
     "einsum(): found '.' for output but an ellipsis (...) was already found"),
    ("ijk", [(2, 3)], RuntimeError, ("einsum(): the number of subscripts in the equation (3) does not match the number "
     "of dimensions (2) for operand 0 and no ellipsis was given")),
    ("i...j", [(2,)], RuntimeError,
     "einsum(): the number of subscripts in the equation (2) is more than the number of dimensions (1) for operand 0"),
    ("ij->ii", [(2, 3)], RuntimeError, "einsum(): output subscript i appears more than once in the output"),
    ("ij->z", [(2, 3)], RuntimeError,
     "einsum(): output subscript z does not appear in the equation for any input operand"),
    ("ij,jk->ik", [(2, 3), (4, 4)], RuntimeError,
     "einsum(): subscript j has size 4 for operand 1 which does not broadcast with previously seen size 3"),
    ("ii->i", [(2, 3)], RuntimeError,
     "einsum(): subscript i is repeated for operand 0 but the sizes don't match, 3 != 2"),
    ("...ij,...jk", [(2, 5, 2, 3), (4, 3, 4)], RuntimeError,
     ("einsum(): dimension 0 covered by ellipsis in operand 1has size 4 which does not broadcast with previously seen "
     "ellipsis with size 5 for the respective dimension")),
]


@pytest.mark.parametrize("equation, shapes, exc, message", EINSUM_ERRORS, ids=[c[0] for c in EINSUM_ERRORS])
def test_einsum_errors(equation, shapes, exc, message):
    with pytest.raises(exc, match=re.escape(message) + "$"):
        dg.einsum(equation, *[dg.zeros(s) for s in shapes])


def test_einsum_argument_errors():
    with pytest.raises(ValueError, match=re.escape("einsum(): must specify the equation string and at least one "
                                                   "operand, or at least one operand and its subscripts list")):
        dg.einsum("ij,jk")
    with pytest.raises(ValueError, match=re.escape("einsum(): subscript in subscript list is not within the valid "
                                                   "range [0, 52)")):
        dg.einsum(dg.zeros(2, 3), [0, 52])
    with pytest.raises(TypeError, match="expected Tensor as element 1 in argument 1, but got int"):
        dg.einsum("ij,jk->ik", dg.zeros(2, 3), 3)
    with pytest.raises(RuntimeError, match="expected scalar type Float but found Double"):
        dg.einsum("ij,jk->ik", dg.zeros(2, 3), dg.zeros(3, 4, dtype=dg.float64))


# ---------------------------------------------------------------------------------------------------- lerp, addcmul

def test_lerp_scalar_and_tensor_weight(device):
    start, end, w = _arrays((2, 3), (3,), (2, 1))
    ts, te, tw = _on(device, start, end, w)
    for weight in (0.25, 0.75, 2.0):
        _close(dg.lerp(ts, te, weight), start + weight * (end - start))
        _close(ts.lerp(te, weight), start + weight * (end - start))
    _close(dg.lerp(ts, te, tw), start + w * (end - start))
    x = ts.clone()
    assert x.lerp_(te, tw) is x
    _close(x, start + w * (end - start))


def test_addcmul_addcdiv(device):
    x, a, b = _arrays((2, 3), (3,), (2, 1))
    tx, ta, tb = _on(device, x, a, b)
    _close(dg.addcmul(tx, ta, tb), x + a * b)
    _close(tx.addcmul(ta, tb, value=-0.5), x - 0.5 * a * b)
    _close(dg.addcdiv(tx, ta, tb, value=2), x + 2 * a / b)
    _close(tx.addcdiv(ta, tb), x + a / b)
    y = tx.clone()
    assert y.addcmul_(ta, tb, value=3) is y and y.addcdiv_(ta, tb, value=0.5) is y
    _close(y, x + 3 * a * b + 0.5 * a / b)


@pytest.mark.parametrize("name, fn", [
    ("lerp", lambda s, e, w: s.lerp(e, w)), ("lerp_scalar_low", lambda s, e, w: dg.lerp(s, e, 0.3) * w),
    ("lerp_scalar_high", lambda s, e, w: dg.lerp(s, e, 0.8) * w), ("addcmul", lambda s, e, w: s.addcmul(e, w, value=3)),
    ("addcdiv", lambda s, e, w: dg.addcdiv(s, e, w + 5, value=-2))])
def test_pointwise_gradients(name, fn, device):
    xs = _arrays((2, 3), (2, 3), (2, 3))
    assert gradcheck(fn, _on("cpu", *xs, dtype=dg.float64, requires_grad=True))
    ts = _on(device, *xs, requires_grad=True)
    fn(*ts).sum().backward()
    s, e, w = xs
    expected = {"lerp": (1 - w, w, e - s), "lerp_scalar_low": (0.7 * w, 0.3 * w, s + 0.3 * (e - s)),
                "lerp_scalar_high": (0.2 * w, 0.8 * w, s + 0.8 * (e - s)), "addcmul": (np.ones_like(s), 3 * w, 3 * e),
                "addcdiv": (np.ones_like(s), -2 / (w + 5), 2 * e / (w + 5) ** 2)}[name]
    for t, g in zip(ts, expected):
        _close(t.grad, g, 1e-4)


def test_pointwise_errors():
    f, d, i = dg.zeros(2, 3), dg.zeros(2, 3, dtype=dg.float64), dg.zeros(2, 3, dtype=dg.int64)
    with pytest.raises(RuntimeError, match="^expected dtype float for `end` but got dtype double$"):
        dg.lerp(f, d, 0.5)
    with pytest.raises(RuntimeError, match="^expected dtype float for `weight` but got dtype double$"):
        dg.lerp(f, f, d)
    assert dg.lerp(f, f, dg.tensor(0.5, dtype=dg.float64)).dtype is dg.float32     # a 0-d weight may differ
    with pytest.raises(NotImplementedError, match="^\"lerp_kernel_scalar\" not implemented for 'Long'$"):
        dg.lerp(i, i, 0.5)
    with pytest.raises(NotImplementedError, match="^\"lerp_kernel_tensor\" not implemented for 'Long'$"):
        dg.lerp(i, i, i)
    with pytest.raises(RuntimeError, match=re.escape("output with shape [3] doesn't match the broadcast shape [2, 3]")):
        dg.zeros(3).lerp_(f, 0.5)
    with pytest.raises(RuntimeError, match="^Integer division with addcdiv is no longer supported, and in a future  "
                       r"release addcdiv will perform a true division of tensor1 and tensor2\. The historic"):
        dg.addcdiv(f, i, i)


# ---------------------------------------------------------------------------------------------------- mv, addmv, *bmm

def test_mv_addmv(device):
    x, m, v = _arrays((2,), (2, 3), (3,))
    tx, tm, tv = _on(device, x, m, v)
    _close(dg.mv(tm, tv), m @ v)
    _close(tm.mv(tv), m @ v)
    _close(dg.addmv(tx, tm, tv), x + m @ v)
    _close(tx.addmv(tm, tv, beta=2, alpha=-3), 2 * x + -3 * (m @ v))
    _close(dg.addmv(tx[:1], tm, tv), x[0] + m @ v)
    y = tx.clone()
    assert y.addmv_(tm, tv, alpha=0.5) is y
    _close(y, x + 0.5 * (m @ v))


def test_baddbmm_addbmm(device):
    x, x2, b1, b2 = _arrays((5, 2, 4), (2, 4), (5, 2, 3), (5, 3, 4))
    tx, tx2, tb1, tb2 = _on(device, x, x2, b1, b2)
    _close(dg.baddbmm(tx, tb1, tb2), x + b1 @ b2)
    _close(tx2.baddbmm(tb1, tb2, beta=0.5, alpha=2), 0.5 * x2 + 2 * (b1 @ b2))    # input broadcasts
    _close(dg.addbmm(tx2, tb1, tb2), x2 + (b1 @ b2).sum(0))
    _close(tx2.addbmm(tb1, tb2, beta=-1, alpha=3), -x2 + 3 * (b1 @ b2).sum(0))
    _close(dg.addbmm(tx2[0], tb1, tb2), x2[0] + (b1 @ b2).sum(0))
    y, z = tx.clone(), tx2.clone()
    assert y.baddbmm_(tb1, tb2, alpha=2) is y and z.addbmm_(tb1, tb2, beta=3) is z
    _close(y, x + 2 * (b1 @ b2))
    _close(z, 3 * x2 + (b1 @ b2).sum(0))


def test_beta_zero_ignores_input(device):
    # PyTorch: with beta=0 the input is not read, so its nan does not reach the result
    m, v, b1, b2 = _arrays((2, 3), (3,), (5, 2, 3), (5, 3, 4))
    tm, tv, tb1, tb2 = _on(device, m, v, b1, b2)
    nan = math.nan
    _close(dg.addmv(dg.full((2,), nan, device=device), tm, tv, beta=0), m @ v)
    _close(dg.addmm(dg.full((2, 4), nan, device=device), tm, tb2[0], beta=0), m @ b2[0])
    _close(dg.baddbmm(dg.full((5, 2, 4), nan, device=device), tb1, tb2, beta=0, alpha=2), 2 * (b1 @ b2))
    _close(dg.addbmm(dg.full((2, 4), nan, device=device), tb1, tb2, beta=0), (b1 @ b2).sum(0))


@pytest.mark.parametrize("name, fn, shapes", [
    ("mv", lambda m, v: m.mv(v), [(2, 3), (3,)]),
    ("addmv", lambda x, m, v: x.addmv(m, v, beta=2, alpha=3), [(2,), (2, 3), (3,)]),
    ("baddbmm", lambda x, a, b: x.baddbmm(a, b, beta=0.5, alpha=2), [(2, 2), (3, 2, 4), (3, 4, 2)]),
    ("addbmm", lambda x, a, b: x.addbmm(a, b, beta=-1, alpha=2), [(2, 2), (3, 2, 4), (3, 4, 2)])])
def test_matrix_product_gradients(name, fn, shapes, device):
    xs = _arrays(*shapes)
    assert gradcheck(fn, _on("cpu", *xs, dtype=dg.float64, requires_grad=True))
    ts = _on(device, *xs, requires_grad=True)
    fn(*ts).sum().backward()
    if name == "mv":
        m, v = xs
        expected = (np.broadcast_to(v, m.shape), m.sum(0))
    elif name == "addmv":
        x, m, v = xs
        expected = (np.full_like(x, 2), 3 * np.broadcast_to(v, m.shape), 3 * m.sum(0))
    else:
        x, a, b = xs
        beta, alpha, n = (0.5, 2, 3) if name == "baddbmm" else (-1, 2, 1)
        ga = alpha * np.broadcast_to(b.sum(2)[:, None, :], a.shape)      # d sum(a@b) / d a[k,i,j] = sum_l b[k,j,l]
        gb = alpha * np.broadcast_to(a.sum(1)[:, :, None], b.shape)
        expected = (np.full_like(x, beta * n), ga, gb)
    for t, g in zip(ts, expected):
        _close(t.grad, g, 1e-4)


MATRIX_ERRORS = [  # call, PyTorch 2.13's message
    (lambda: dg.mv(dg.zeros(2, 3), dg.zeros(2)), "size mismatch, got input (2), mat (2x3), vec (2)"),
    (lambda: dg.mv(dg.zeros(3), dg.zeros(3)), "vector + matrix @ vector expected, got 1, 1, 1"),
    (lambda: dg.mv(dg.zeros(2, 3), dg.zeros(3, 1)), "vector + matrix @ vector expected, got 1, 2, 2"),
    (lambda: dg.mv(dg.zeros(2, 3), dg.zeros(3, dtype=dg.float64)),
     "addmv input tensors must have the same dtype, but got Double, Float, and Double"),
    (lambda: dg.addmv(dg.zeros(3), dg.zeros(2, 3), dg.zeros(3)), "size mismatch, got input (3), mat (2x3), vec (3)"),
    (lambda: dg.addmv(dg.zeros(2, dtype=dg.int64), dg.zeros(2, 3), dg.zeros(3)),
     "addmv input tensors must have the same dtype, but got Long, Float, and Float"),
    (lambda: dg.baddbmm(dg.zeros(3, 4), dg.zeros(5, 2, 3), dg.zeros(5, 3, 4)),
     ("The expanded size of the tensor (2) must match the existing size (3) at non-singleton dimension 1.  Target "
     "sizes: [5, 2, 4].  Tensor sizes: [3, 4]")),
    (lambda: dg.baddbmm(dg.zeros(5, 2, 4), dg.zeros(5, 2, 3), dg.zeros(4, 3, 4)),
     "Expected size for first two dimensions of batch2 tensor to be: [5, 3] but got: [4, 3]."),
    (lambda: dg.baddbmm(dg.zeros(5, 2, 4), dg.zeros(5, 2, 3), dg.zeros(5, 3, 4, dtype=dg.float64)),
     "expected scalar type Float but found Double"),
    (lambda: dg.baddbmm(dg.zeros(5, 2, 4, dtype=dg.float64), dg.zeros(5, 2, 3), dg.zeros(5, 3, 4)),
     "Input dtypes must be the same, got: input double, batch1: float, batch2: float"),
    (lambda: dg.addbmm(dg.zeros(3, 4), dg.zeros(5, 2, 3), dg.zeros(5, 3, 4)),
     ("The expanded size of the tensor (2) must match the existing size (3) at non-singleton dimension 0.  Target "
     "sizes: [2, 4].  Tensor sizes: [3, 4]")),
    (lambda: dg.addbmm(dg.zeros(2, 4), dg.zeros(5, 2, 3), dg.zeros(4, 3, 4)),
     "batch1 and batch2 must have same number of batches, got 5 and 4"),
    (lambda: dg.addbmm(dg.zeros(2, 4), dg.zeros(5, 2, 3), dg.zeros(5, 2, 4)),
     "Incompatible matrix sizes for bmm (2x3 and 2x4)"),
    (lambda: dg.addbmm(dg.zeros(2, 4), dg.zeros(5, 2, 3), dg.zeros(5, 3, 4, dtype=dg.float64)),
     "self and mat2 must have the same dtype, but got Float and Double"),
]


@pytest.mark.parametrize("call, message", MATRIX_ERRORS, ids=range(len(MATRIX_ERRORS)))
def test_matrix_product_errors(call, message):
    with pytest.raises(RuntimeError, match="^" + re.escape(message) + "$"):
        call()


# ---------------------------------------------------------------------------------------------------- rearranging

def test_tile(device):
    x = np.arange(6.0).reshape(2, 3)
    (t,) = _on(device, x)
    for reps in [(2,), (2, 1, 2), (), (0, 1), (1, 3)]:
        _close(t.tile(reps), np.tile(x, reps))
    _close(dg.tile(t, (2, 2)), np.tile(x, (2, 2)))
    _close(t.tile(2, 1, 2), np.tile(x, (2, 1, 2)))
    with pytest.raises(RuntimeError, match=re.escape("Trying to create tensor with negative dimension -3: [2, -3]")):
        t.tile((-1,))


def test_repeat_interleave(device):
    x = np.arange(6.0).reshape(2, 3)
    (t,) = _on(device, x)
    _close(t.repeat_interleave(2), np.repeat(x, 2))
    _close(dg.repeat_interleave(t, 2, 1), np.repeat(x, 2, 1))
    _close(t.repeat_interleave(dg.tensor([1, 0, 3], device=device), dim=1), np.repeat(x, [1, 0, 3], 1))
    _close(t.repeat_interleave(dg.tensor([1, 2], device=device), dim=0, output_size=3), np.repeat(x, [1, 2], 0))
    _close(t.repeat_interleave(dg.tensor(2), dim=0), np.repeat(x, 2, 0))         # 0-d repeats act as a number
    _close(t.repeat_interleave(dg.tensor([3]), dim=-1), np.repeat(x, 3, 1))      # so does one repeat
    counts = dg.repeat_interleave(dg.tensor([1, 2, 0, 1], device=device))         # repeats the positions
    assert counts.dtype is dg.int64 and counts.tolist() == [0, 1, 1, 3]


@pytest.mark.parametrize("call, exc, message", [
    (lambda t: t.repeat_interleave(-1), RuntimeError, "Repeats must be non-negative"),
    (lambda t: t.repeat_interleave(dg.tensor([1, -2]), dim=0), RuntimeError, "repeats can not be negative"),
    (lambda t: t.repeat_interleave(dg.tensor([[1, 2]]), dim=0), RuntimeError, "repeats must be 0-dim or 1-dim tensor"),
    (lambda t: t.repeat_interleave(dg.tensor([1, 2, 3])), RuntimeError,
     "repeats must have the same size as input along dim, but got repeats.size(0) = 3 and input.size(0) = 6"),
    (lambda t: t.repeat_interleave(dg.tensor([1.0, 2.0]), dim=0), NotImplementedError,
     "\"repeat_interleave_cpu\" not implemented for 'Float'"),
    (lambda t: t.repeat_interleave(dg.tensor([1, 2]), dim=0, output_size=4), RuntimeError,
     "allocated size does not match required size"),
], ids=range(6))
def test_repeat_interleave_errors(call, exc, message):
    with pytest.raises(exc, match="^" + re.escape(message) + "$"):
        call(dg.zeros(2, 3))


def test_roll(device):
    x = np.arange(12.0).reshape(3, 4)
    (t,) = _on(device, x)
    _close(t.roll(1), np.roll(x, 1))
    _close(t.roll(-5, 1), np.roll(x, -5, 1))
    _close(dg.roll(t, shifts=(1, -1), dims=(0, 1)), np.roll(x, (1, -1), (0, 1)))
    _close(t.roll((7,)), np.roll(x, 7))
    _close(t.roll(4, -1), x)
    assert dg.tensor(3.0).roll(1).item() == 3.0
    for call, message in [(lambda: t.roll((1, -1), 0), "shifts and dimensions must align. shifts: 2, dims:1"),
                          (lambda: t.roll((1, 2)), "shifts and dimensions must align. shifts: 2, dims:0"),
                          (lambda: t.roll((), ()), "`shifts` required")]:
        with pytest.raises(RuntimeError, match="^" + re.escape(message) + "$"):
            call()
    with pytest.raises(IndexError, match="^Dimension specified as 0 but tensor has no dimensions$"):
        dg.tensor(3.0).roll(1, 0)


def test_rot90(device):
    x = np.arange(24.0).reshape(2, 3, 4)
    (t,) = _on(device, x)
    for k in (-1, 0, 1, 2, 3, 5):
        for dims in ((0, 1), (1, 0), (1, 2), (-1, 0)):
            _close(t.rot90(k, dims), np.rot90(x, k, dims))
    _close(dg.rot90(t), np.rot90(x))
    for call, message in [(lambda: t.rot90(1, (0,)), "expected total rotation dims == 2, but got dims = 1"),
                          (lambda: t.rot90(1, (0, -3)), ("expected rotation dims to be different, but got dim0 = 0 and "
                           "dim1 = -3")),
                          (lambda: t[0, 0].rot90(), "expected total dims >= 2, but got total dims = 1")]:
        with pytest.raises(RuntimeError, match="^" + re.escape(message) + "$"):
            call()


def test_meshgrid(device):
    a, b, c = np.array([1, 2, 3]), np.array([4, 5]), np.array([6, 7, 8, 9])
    ta, tb, tc = (dg.tensor(v, device=device) for v in (a, b, c))
    for indexing in ("ij", "xy"):
        for got, expected in zip(dg.meshgrid(ta, tb, tc, indexing=indexing), np.meshgrid(a, b, c, indexing=indexing)):
            assert got.dtype is dg.int64 and got.cpu().numpy().tolist() == expected.tolist()
        for got, expected in zip(dg.meshgrid([ta, tb], indexing=indexing), np.meshgrid(a, b, indexing=indexing)):
            assert got.cpu().numpy().tolist() == expected.tolist()
    assert dg.meshgrid(ta, dg.tensor(5, device=device), indexing="ij")[1].shape == (3, 1)
    with pytest.warns(UserWarning, match=r"^torch\.meshgrid: in an upcoming release, it will be required to pass the "
                      r"indexing argument\.$"):
        grids = dg.meshgrid(ta, tb)
    assert grids[0].cpu().numpy().tolist() == np.meshgrid(a, b, indexing="ij")[0].tolist()


@pytest.mark.parametrize("call, message", [
    (lambda: dg.meshgrid(dg.ones(2), indexing="foo"),
     'torch.meshgrid: indexing must be one of "xy" or "ij", but received: foo'),
    (lambda: dg.meshgrid(dg.ones(2), dg.ones(2, dtype=dg.float64), indexing="ij"),
     "meshgrid expects all tensors to have the same dtype"),
    (lambda: dg.meshgrid(indexing="ij"), "meshgrid expects a non-empty TensorList"),
], ids=range(3))
def test_meshgrid_errors(call, message):
    with pytest.raises(RuntimeError, match="^" + re.escape(message) + "$"):
        call()
    with pytest.raises(RuntimeError, match=re.escape("torch.meshgrid: Expected 0D or 1D tensor in the tensor list but "
                                                     "got:")):  # PyTorch then prints the tensor the C++ way
        dg.meshgrid(dg.ones(2), dg.ones(2, 2), indexing="ij")


def test_diff(device):
    x = RNG.uniform(-2, 2, (3, 4))
    pre, app = RNG.uniform(-2, 2, (3, 1)), RNG.uniform(-2, 2, (3, 2))
    t, tp, ta = _on(device, x, pre, app)
    _close(t.diff(), np.diff(x))
    _close(dg.diff(t, n=2, dim=0), np.diff(x, 2, 0))
    _close(t.diff(n=0), x)
    _close(t.diff(n=6), np.diff(x, 6))                    # more differences than elements: empty
    _close(t.diff(prepend=tp, append=ta), np.diff(x, prepend=pre, append=app))
    _close(t.diff(2, -1, tp), np.diff(x, 2, -1, prepend=pre))
    ints = dg.tensor([1, 5, 2], device=device)
    assert ints.diff().dtype is dg.int64 and ints.diff().tolist() == [4, -3]
    assert dg.tensor([True, False, False], device=device).diff().tolist() == [True, False]


@pytest.mark.parametrize("call, exc, message", [
    (lambda t: dg.tensor(1.0).diff(), RuntimeError, "diff expects input to be at least one-dimensional"),
    (lambda t: t.diff(n=-1), RuntimeError, "order must be non-negative but got -1"),
    (lambda t: t.diff(prepend=dg.zeros(3)), RuntimeError, ("diff expects prepend or append to be the same dimension as "
     "input")),
    (lambda t: t.diff(prepend=dg.zeros(3, 1)), RuntimeError, ("diff expects the shape of tensor to prepend or append "
     "to match that of input except along the differencing dimension; input.size(0) = 2, but got tensor.size(0) = 3")),
    (lambda t: t.diff(prepend=2.0), TypeError, "diff(): argument 'prepend' must be Tensor, not float"),
], ids=range(5))
def test_diff_errors(call, exc, message):
    with pytest.raises(exc, match="^" + re.escape(message) + "$"):
        call(dg.zeros(2, 3))


def test_cross(device):
    a, b = _arrays((4, 3), (4, 3))
    ta, tb = _on(device, a, b)
    _close(dg.linalg.cross(ta, tb), np.cross(a, b))
    _close(ta.cross(tb, dim=1), np.cross(a, b))
    _close(dg.cross(ta.T, tb.T, dim=0), np.cross(a, b).T)
    _close(dg.linalg.cross(ta[:1], tb), np.cross(a[:1], b))          # broadcasts
    with pytest.warns(UserWarning, match="^Using torch.cross without specifying the dim arg is deprecated.\nPlease"):
        _close(dg.cross(ta.T, tb.T), np.cross(a, b).T)              # the first dim of size 3
    for call, message in [
            (lambda: dg.linalg.cross(ta, tb, dim=0),
             "linalg.cross: inputs dimension 0 must have length 3. Got 4 and 4"),
            (lambda: dg.linalg.cross(ta, tb[0]), "linalg.cross: inputs must have the same number of dimensions."),
            (lambda: dg.linalg.cross(ta, tb.double()), "expected scalar type Float but found Double")]:
        with pytest.raises(RuntimeError, match="^" + re.escape(message) + "$"):
            call()


def test_take_along_dim(device):
    x = RNG.uniform(-2, 2, (3, 4))
    idx = np.array([[0, 3], [2, 2], [1, 0]])
    (t,) = _on(device, x)
    ti = dg.tensor(idx, device=device)
    _close(t.take_along_dim(ti, dim=1), np.take_along_axis(x, idx, 1))
    _close(dg.take_along_dim(t, ti[:1], -1), np.take_along_axis(x, np.broadcast_to(idx[:1], (3, 2)), 1))  # broadcast
    _close(t.take_along_dim(dg.tensor([[2], [0]], device=device)), x.reshape(-1)[[2, 0]])                  # flattened
    with pytest.raises(RuntimeError, match="^" + re.escape(
            "torch.take_along_dim(): input and indices should have the same number of dimensions, but got 2 "
            "dimensions for input, and 1 dimensions for indices") + "$"):
        t.take_along_dim(dg.tensor([0, 1], device=device), dim=0)
    with pytest.raises(RuntimeError, match=r"^torch\.take_along_dim\(\): dtype of indices should be Long but got Int$"):
        t.take_along_dim(dg.tensor([[0]], dtype=dg.int32, device=device), dim=0)


def test_index_add(device):
    x, src = RNG.uniform(-2, 2, (3, 2)), RNG.uniform(-2, 2, (4, 2))
    idx = np.array([0, 2, 0, 0])
    t, ts = _on(device, x, src)
    ti = dg.tensor(idx, device=device)
    expected = x.copy()
    np.add.at(expected, idx, 2 * src)
    _close(t.index_add(0, ti, ts, alpha=2), expected)
    _close(dg.index_add(t.T, 1, ti, ts.T, alpha=2), expected.T)
    y = t.clone()
    assert y.index_add_(0, ti, ts, alpha=2) is y
    _close(y, expected)


@pytest.mark.parametrize("call, exc, message", [
    (lambda t, i: t.index_add(0, i, dg.ones(2, 2)), RuntimeError,
     "index_add_(): Number of indices (3) should be equal to source.size(dim): (2), for dim: 0"),
    (lambda t, i: t.index_add(0, i.view(3, 1), dg.ones(3, 2)), IndexError,
     "index_add_(): Index is supposed to be a vector, but got dim: 2 with type: Long and size: [3, 1]"),
    (lambda t, i: t.index_add(0, i.float(), dg.ones(3, 2)), RuntimeError,
     "index_add_(): Expected dtype int32/int64 for index but got: Float"),
    (lambda t, i: t.index_add(0, i, dg.ones(3, 2, dtype=dg.float64)), RuntimeError,
     "index_add_(): self (Float) and source (Double) must have the same scalar type"),
    (lambda t, i: t.index_add(0, i, dg.ones(3, 3)), RuntimeError, ("source tensor shape must match self tensor shape, "
     "excluding the specified dimension. Got self.shape = [3, 2] source.shape = [3, 3]")),
    (lambda t, i: t.index_add(0, dg.tensor([0, 3, 0]), dg.ones(3, 2)), RuntimeError,
     "index 3 is out of bounds for dimension 0 with size 3"),
], ids=range(6))
def test_index_add_errors(call, exc, message):
    with pytest.raises(exc, match="^" + re.escape(message) + "$"):
        call(dg.zeros(3, 2), dg.tensor([0, 2, 0]))


IDX = np.array([[1, 0], [2, 2]])
# name, fn on tensors, the same map on NumPy arrays, input shapes: linear maps, so the NumPy Jacobian is exact
LINEAR = [
    ("tile", lambda x: x.tile(2, 1), lambda x: np.tile(x, (2, 1)), [(2, 3)]),
    ("repeat_interleave", lambda x: x.repeat_interleave(dg.tensor([2, 0, 1]), dim=1),
     lambda x: np.repeat(x, [2, 0, 1], 1), [(2, 3)]),
    ("roll", lambda x: x.roll((1, -2), (0, 1)), lambda x: np.roll(x, (1, -2), (0, 1)), [(2, 3)]),
    ("rot90", lambda x: x.rot90(3), lambda x: np.rot90(x, 3), [(2, 3)]),
    ("diff", lambda x, p: x.diff(2, 0, prepend=p), lambda x, p: np.diff(x, 2, 0, prepend=p), [(3, 2), (1, 2)]),
    ("take_along_dim", lambda x: x.take_along_dim(dg.tensor(IDX, device=x.device), 1),
     lambda x: np.take_along_axis(x, IDX, 1), [(2, 3)]),
    ("index_add", lambda x, s: x.index_add(0, dg.tensor([1, 1, 0], device=x.device), s, alpha=3),
     lambda x, s: x + 3 * np.stack([s[2], s[0] + s[1]]), [(2, 2), (3, 2)]),
]


@pytest.mark.parametrize("fn, ref, shapes", [c[1:] for c in LINEAR], ids=[c[0] for c in LINEAR])
def test_rearranging_gradients(fn, ref, shapes, device):
    xs = _arrays(*shapes)
    assert gradcheck(fn, _on("cpu", *xs, dtype=dg.float64, requires_grad=True))
    weights = RNG.uniform(-1, 1, ref(*xs).shape)
    ts = _on(device, *xs, requires_grad=True)
    (fn(*ts) * dg.tensor(weights, dtype=dg.float32, device=device)).sum().backward()
    for i, (t, x) in enumerate(zip(ts, xs)):
        # d sum(w * f(x)) / d x[k] = sum(w * f(e_k)) with the other inputs at zero (f is linear in all of them)
        grad = np.array([(weights * ref(*[e.reshape(x.shape) if j == i else np.zeros_like(y)
                                          for j, y in enumerate(xs)])).sum() for e in np.eye(x.size)])
        _close(t.grad, grad.reshape(x.shape), 1e-4)


def test_cross_gradients(device):
    a, b, w = _arrays((2, 3), (2, 3), (2, 3))
    assert gradcheck(lambda x, y: dg.linalg.cross(x, y), _on("cpu", a, b, dtype=dg.float64, requires_grad=True))
    ta, tb = _on(device, a, b, requires_grad=True)
    (dg.linalg.cross(ta, tb) * dg.tensor(w, dtype=dg.float32, device=device)).sum().backward()
    _close(ta.grad, np.cross(b, w), 1e-4)        # w . (a x b) = a . (b x w) = b . (w x a)
    _close(tb.grad, np.cross(w, a), 1e-4)


# ---------------------------------------------------------------------------------------------------- order statistics

TIES = np.array([[3.0, 1, 2, 2], [5, 4, 4, 0], [1, 1, 9, 9]])


def _lower_median(x, axis):
    return np.take(np.sort(x, axis), (x.shape[axis] - 1) // 2, axis)


def test_median(device):
    x = RNG.uniform(-2, 2, (3, 5))
    (t,) = _on(device, x)
    assert t.median().item() == pytest.approx(_lower_median(x.reshape(-1), 0), rel=1e-6)
    for dim in (0, 1, -1):
        values, indices = dg.median(t, dim)
        _close(values, _lower_median(x, dim % 2))
        assert indices.cpu().numpy().tolist() == np.argsort(x, dim % 2).take((x.shape[dim] - 1) // 2, dim).tolist()
    kept = t.median(0, keepdim=True)
    assert kept.values.shape == (1, 5) and kept.indices.shape == (1, 5)
    # ties: PyTorch 2.13's indices, and the lower median of an even count
    (tied,) = _on(device, TIES)
    assert tied.median(1).values.tolist() == [2, 4, 1] and tied.median(1).indices.tolist() == [2, 1, 1]
    assert tied.median().item() == 2
    assert dg.tensor([3, 1, 2]).median().dtype is dg.int64


def test_median_nan_and_empty(device):
    t = dg.tensor([1.0, math.nan, 3.0, math.nan], device=device)
    assert math.isnan(t.median().item())
    values, indices = t.median(0)
    assert math.isnan(values.item()) and indices.item() == 1            # the first NaN
    assert math.isnan(dg.tensor([]).median().item())
    assert dg.tensor(3.0).median(0).values.item() == 3 and dg.tensor(3.0).median(0).indices.item() == 0
    assert dg.zeros(2, 0).median(0).values.shape == (0,)
    with pytest.raises(IndexError, match=r"^median\(\): Expected reduction dim 1 to have non-zero size\.$"):
        dg.zeros(2, 0).median(1)


def test_kthvalue(device):
    x = RNG.uniform(-2, 2, (3, 5))
    (t,) = _on(device, x)
    for k, dim in ((1, 1), (3, -1), (5, 1), (2, 0)):
        values, indices = dg.kthvalue(t, k, dim)
        _close(values, np.take(np.sort(x, dim), k - 1, dim))
        assert indices.cpu().numpy().tolist() == np.argsort(x, dim).take(k - 1, dim).tolist()
    assert t.kthvalue(2, 0, True).values.shape == (1, 5)
    (tied,) = _on(device, TIES)
    values, indices = tied.kthvalue(2)
    assert values.tolist() == [2, 4, 1]          # PyTorch's indices among ties are its quickselect's: [3, 1, 0]
    assert tied.gather(1, indices.unsqueeze(1)).squeeze(1).tolist() == values.tolist()
    assert dg.tensor(3.0).kthvalue(1).values.item() == 3
    for call, message in [(lambda: tied.kthvalue(5), "kthvalue(): selected number k out of range for dimension 1"),
                          (lambda: tied.kthvalue(0), "kthvalue(): selected number k out of range for dimension 1"),
                          (lambda: dg.tensor(3.0).kthvalue(2),
                           "kthvalue(): selected number k out of range for dimension 0")]:
        with pytest.raises(RuntimeError, match="^" + re.escape(message) + "$"):
            call()


def test_mode(device):
    (tied,) = _on(device, TIES)
    # PyTorch 2.13: the smallest of the most frequent values, at its last position
    assert tied.mode().values.tolist() == [2, 4, 1] and tied.mode().indices.tolist() == [3, 2, 1]
    assert dg.mode(tied, 0).values.tolist() == [1, 1, 2, 0] and dg.mode(tied, 0).indices.tolist() == [2, 2, 0, 1]
    assert tied.mode(1, True).values.shape == (3, 1)
    ints = dg.tensor([1, 2, 2, 1, 3, 1, 2], device=device).mode()
    assert ints.values.item() == 1 and ints.indices.item() == 5
    x = RNG.integers(0, 4, (4, 9)).astype(np.float64)
    values, indices = _on(device, x)[0].mode(1)
    for row, v, i in zip(x, values.tolist(), indices.tolist()):
        counts = {u: (row == u).sum() for u in row}
        assert v == min(u for u in counts if counts[u] == max(counts.values())) and i == np.flatnonzero(row == v)[-1]
    with pytest.raises(IndexError, match=r"^mode\(\): Expected reduction dim 1 to have non-zero size\.$"):
        dg.zeros(2, 0).mode()


def _running(x, better):
    """NumPy reference for cummax/cummin along the last axis: a later equal value or NaN takes over."""
    values, indices = np.empty_like(x), np.empty(x.shape, dtype=np.int64)
    for row in np.ndindex(x.shape[:-1]):
        best = 0
        for j in range(x.shape[-1]):
            a, b = x[row + (j,)], x[row + (best,)]
            if np.isnan(a) or (not np.isnan(b) and (a == b or better(a, b))):
                best = j
            values[row + (j,)], indices[row + (j,)] = x[row + (best,)], best
    return values, indices


@pytest.mark.parametrize("name, better", [("cummax", np.greater), ("cummin", np.less)])
def test_cummax_cummin(name, better, device):
    x = RNG.integers(-3, 3, (3, 11)).astype(np.float64)
    x[1, 4], x[2, [2, 7]] = math.nan, math.nan
    (t,) = _on(device, x)
    values, indices = getattr(t, name)(1)
    expected_values, expected_indices = _running(x, better)
    np.testing.assert_array_equal(values.cpu().numpy(), expected_values)
    assert indices.cpu().numpy().tolist() == expected_indices.tolist()
    values0, indices0 = getattr(dg, name)(t, 0)
    ev0, ei0 = _running(x.T, better)
    np.testing.assert_array_equal(values0.cpu().numpy(), ev0.T)
    assert indices0.cpu().numpy().tolist() == ei0.T.tolist()
    ints = getattr(dg.tensor([3, 1, 4], device=device), name)(0)
    assert ints.values.dtype is dg.int64 and ints.values.tolist() == ([3, 3, 4] if name == "cummax" else [3, 1, 1])
    assert getattr(dg.tensor(2.0), name)(0).indices.item() == 0


@pytest.mark.parametrize("fn, grad", [
    (lambda x: x.cummax(0).values, [1.0, 1, 2, 0]), (lambda x: x.cummin(0).values, [4.0, 0, 0, 0]),
    (lambda x: x.median(), [0.0, 0, 0, 1]), (lambda x: x.median(0).values, [0.0, 0, 0, 1]),
    (lambda x: x.kthvalue(2).values, [0.0, 0, 0, 1]), (lambda x: x.mode().values, [0.0, 0, 1, 0])])
def test_order_statistics_gradients(fn, grad, device):
    # the gradient goes to the element the index names (PyTorch 2.13's figures)
    x = dg.tensor([1.0, 3, 3, 2], device=device, requires_grad=True)
    fn(x).sum().backward()
    assert x.grad.tolist() == grad
    assert gradcheck(lambda y: fn(y), _on("cpu", np.array([0.5, -1.0, 2.0, 1.5]), dtype=dg.float64,
                                          requires_grad=True))


def test_std_mean_var_mean(device):
    x = RNG.uniform(-2, 2, (3, 4))
    (t,) = _on(device, x)
    std, mean = dg.std_mean(t)
    _close(std, x.std(ddof=1))
    _close(mean, x.mean())
    var, mean = dg.var_mean(t, 1, keepdim=True)
    _close(var, x.var(1, ddof=1, keepdims=True))
    _close(mean, x.mean(1, keepdims=True))
    var, _ = dg.var_mean(t, 1, False)               # the third positional argument is unbiased
    _close(var, x.var(1))
    _close(dg.std_mean(t, dim=(0, 1), correction=0)[0], x.std())
    assert type(dg.std_mean(t)) is tuple
    with pytest.raises(RuntimeError, match="^std_mean only support floating point and complex dtypes$"):
        dg.std_mean(dg.tensor([1, 2]))
    assert gradcheck(lambda y: dg.var_mean(y, 0), _on("cpu", x, dtype=dg.float64, requires_grad=True))
