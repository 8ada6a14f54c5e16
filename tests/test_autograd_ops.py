"""Every differentiable op: float64 gradcheck, then the float32 forward and d(sum(fn))/d(inputs) against NumPy
references derived by hand (DESIGN.md section 3)."""
import numpy as np
import pytest

import distgrad as dg
from distgrad.autograd import gradcheck


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _bcast_back(g, shape):
    """Sum a broadcast gradient back to an input's shape."""
    while g.ndim > len(shape):
        g = g.sum(0)
    for i, s in enumerate(shape):
        if s == 1 and g.shape[i] != 1:
            g = g.sum(i, keepdims=True)
    return g


def _softmax(x, d):
    e = np.exp(x - x.max(d, keepdims=True))
    return e / e.sum(d, keepdims=True)


def _onehot_max(x, axis):
    m = x == x.max(axis, keepdims=True)
    return m / m.sum(axis, keepdims=True)


IDX = np.array([[2, 0], [1, 1], [0, 2]])
I32 = np.array([0, 2, 2])

CASES = [  # id, distgrad fn, NumPy forward, NumPy d(sum(fn))/d(inputs), input shapes (uniform(-2, 2) unless noted)
    ("add", lambda a, b: a + b, lambda a, b: a + b, lambda a, b: (np.ones_like(a), np.ones_like(b)), [(3, 4), (3, 4)]),
    ("add_bcast", lambda a, b: a + b, lambda a, b: a + b,
     lambda a, b: (np.ones_like(a), np.full_like(b, 3)), [(3, 4), (4,)]),
    ("add_alpha", lambda a, b: a.add(b, alpha=2), lambda a, b: a + 2 * b,
     lambda a, b: (np.ones_like(a), np.full_like(b, 2)), [(3,), (3,)]),
    ("sub", lambda a, b: a - b, lambda a, b: a - b, lambda a, b: (np.ones_like(a), -np.ones_like(b)), [(2, 3), (2, 3)]),
    ("rsub", lambda a: 1 - a, lambda a: 1 - a, lambda a: (-np.ones_like(a),), [(4,)]),
    ("mul", lambda a, b: a * b, lambda a, b: a * b, lambda a, b: (b, a), [(3, 4), (3, 4)]),
    ("mul_bcast", lambda a, b: a * b, lambda a, b: a * b,
     lambda a, b: (np.broadcast_to(b.sum(1, keepdims=True), a.shape), _bcast_back(np.broadcast_to(a, (3, 4)), b.shape)),
     [(3, 1), (1, 4)]),
    ("mul_scalar", lambda a: a * 2.5, lambda a: a * 2.5, lambda a: (np.full_like(a, 2.5),), [(3,)]),
    ("div", lambda a, b: a / (b.abs() + 1), lambda a, b: a / (np.abs(b) + 1),
     lambda a, b: (1 / (np.abs(b) + 1), -a * np.sign(b) / (np.abs(b) + 1) ** 2), [(3, 2), (3, 2)]),
    ("rdiv", lambda a: 1 / (a.abs() + 1), lambda a: 1 / (np.abs(a) + 1),
     lambda a: (-np.sign(a) / (np.abs(a) + 1) ** 2,), [(4,)]),
    ("rdiv_scalar", lambda a: 2.5 / (a.abs() + 1), lambda a: 2.5 / (np.abs(a) + 1),
     lambda a: (-2.5 * np.sign(a) / (np.abs(a) + 1) ** 2,), [(2, 3)]),
    ("neg", lambda a: -a, np.negative, lambda a: (-np.ones_like(a),), [(3,)]),
    ("pow_scalar", lambda a: a ** 3, lambda a: a ** 3, lambda a: (3 * a ** 2,), [(2, 3)]),
    ("pow_tensor", lambda a, b: (a.abs() + 0.5) ** b, lambda a, b: (np.abs(a) + 0.5) ** b,
     lambda a, b: (b * (np.abs(a) + 0.5) ** (b - 1) * np.sign(a), (np.abs(a) + 0.5) ** b * np.log(np.abs(a) + 0.5)),
     [(3,), (3,)]),
    ("rpow", lambda a: 2 ** a, lambda a: 2 ** a, lambda a: (2 ** a * np.log(2),), [(3,)]),
    ("exp", lambda a: a.exp(), np.exp, lambda a: (np.exp(a),), [(2, 3)]),
    ("log", lambda a: (a.abs() + 0.1).log(), lambda a: np.log(np.abs(a) + 0.1),
     lambda a: (np.sign(a) / (np.abs(a) + 0.1),), [(4,)]),
    ("log1p", lambda a: (a.abs()).log1p(), lambda a: np.log1p(np.abs(a)), lambda a: (np.sign(a) / (1 + np.abs(a)),),
     [(4,)]),
    ("expm1", lambda a: a.expm1(), np.expm1, lambda a: (np.exp(a),), [(4,)]),
    ("sqrt", lambda a: (a.abs() + 0.1).sqrt(), lambda a: np.sqrt(np.abs(a) + 0.1),
     lambda a: (np.sign(a) * 0.5 / np.sqrt(np.abs(a) + 0.1),), [(4,)]),
    ("rsqrt", lambda a: (a.abs() + 0.1).rsqrt(), lambda a: (np.abs(a) + 0.1) ** -0.5,
     lambda a: (-0.5 * np.sign(a) * (np.abs(a) + 0.1) ** -1.5,), [(4,)]),
    ("square", lambda a: a.square(), np.square, lambda a: (2 * a,), [(4,)]),
    ("sin", lambda a: a.sin(), np.sin, lambda a: (np.cos(a),), [(4,)]),
    ("cos", lambda a: a.cos(), np.cos, lambda a: (-np.sin(a),), [(4,)]),
    ("tan", lambda a: (a / 2).tan(), lambda a: np.tan(a / 2), lambda a: (0.5 / np.cos(a / 2) ** 2,), [(4,)]),
    ("tanh", lambda a: a.tanh(), np.tanh, lambda a: (1 - np.tanh(a) ** 2,), [(2, 3)]),
    ("sigmoid", lambda a: a.sigmoid(), _sig, lambda a: (_sig(a) * (1 - _sig(a)),), [(2, 3)]),
    ("relu", lambda a: a.relu(), lambda a: np.maximum(a, 0), lambda a: ((a > 0).astype(float),), [(3, 4)]),
    ("abs", lambda a: a.abs(), np.abs, lambda a: (np.sign(a),), [(5,)]),
    ("erf", lambda a: a.erf(), None, lambda a: (2 / np.sqrt(np.pi) * np.exp(-a ** 2),), [(4,)]),
    ("reciprocal", lambda a: (a.abs() + 0.5).reciprocal(), lambda a: 1 / (np.abs(a) + 0.5),
     lambda a: (-np.sign(a) / (np.abs(a) + 0.5) ** 2,), [(4,)]),
    ("clamp", lambda a: a.clamp(-0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5),
     lambda a: (((a > -0.5) & (a < 0.5)).astype(float),), [(6,)]),
    ("clamp_min", lambda a: a.clamp(min=0.3), lambda a: np.maximum(a, 0.3), lambda a: ((a > 0.3).astype(float),),
     [(6,)]),
    ("maximum", lambda a, b: a.maximum(b), np.maximum, lambda a, b: ((a > b).astype(float), (b > a).astype(float)),
     [(5,), (5,)]),
    ("minimum", lambda a, b: dg.minimum(a, b), np.minimum,
     lambda a, b: ((a < b).astype(float), (b < a).astype(float)), [(5,), (5,)]),
    ("fmod", lambda a, b: dg.fmod(a, b.abs() + 0.3), lambda a, b: np.fmod(a, np.abs(b) + 0.3),
     lambda a, b: (np.ones_like(a), -np.trunc(a / (np.abs(b) + 0.3)) * np.sign(b)), [(5,), (5,)]),
    ("remainder", lambda a: a % 0.7, lambda a: np.mod(a, 0.7), lambda a: (np.ones_like(a),), [(5,)]),
    ("where", lambda a, b: dg.where(a > 0, a, b), lambda a, b: np.where(a > 0, a, b),
     lambda a, b: ((a > 0).astype(float), (a <= 0).astype(float)), [(3, 3), (3, 3)]),
    ("masked_fill", lambda a: a.masked_fill(a > 0.5, 0.0), lambda a: np.where(a > 0.5, 0, a),
     lambda a: ((a <= 0.5).astype(float),), [(3, 3)]),
    ("masked_fill_tensor", lambda a, b: a.masked_fill(a > 0.5, b.sum()), lambda a, b: np.where(a > 0.5, b.sum(), a),
     lambda a, b: ((a <= 0.5).astype(float), np.full_like(b, (a > 0.5).sum())), [(3, 3), (2,)]),
    ("sum", lambda a: a.sum(), np.sum, lambda a: (np.ones_like(a),), [(3, 4)]),
    ("sum_dim_keep", lambda a: a.sum((0, 2), keepdim=True), lambda a: a.sum((0, 2), keepdims=True),
     lambda a: (np.ones_like(a),), [(2, 3, 2)]),
    ("mean", lambda a: a.mean(1), lambda a: a.mean(1), lambda a: (np.full_like(a, 1 / 4),), [(3, 4)]),
    ("prod", lambda a: a.prod(1), lambda a: a.prod(1), lambda a: (a.prod(1, keepdims=True) / a,), [(3, 4)]),
    ("prod_all", lambda a: a.prod(), np.prod, lambda a: (np.prod(a) / a,), [(2, 2)]),
    ("amax", lambda a: a.amax(1), lambda a: a.max(1), lambda a: (_onehot_max(a, 1),), [(3, 4)]),
    ("amin", lambda a: a.amin(0, keepdim=True), lambda a: a.min(0, keepdims=True),
     lambda a: (_onehot_max(-a, 0),), [(3, 4)]),
    ("max_all", lambda a: a.max(), np.max, lambda a: (_onehot_max(a, None),), [(3, 4)]),
    ("max_dim", lambda a: a.max(1).values, lambda a: a.max(1), lambda a: (_onehot_max(a, 1),), [(3, 4)]),
    ("min_dim", lambda a: a.min(0)[0], lambda a: a.min(0), lambda a: (_onehot_max(-a, 0),), [(3, 4)]),
    ("cumsum", lambda a: a.cumsum(1), lambda a: a.cumsum(1),
     lambda a: (np.broadcast_to(np.arange(a.shape[1], 0, -1), a.shape).astype(float),), [(2, 4)]),
    ("cumprod", lambda a: a.cumprod(0), lambda a: a.cumprod(0),
     lambda a: (np.array([sum(np.prod(np.delete(a[:k + 1, j], i)) for k in range(i, a.shape[0]))
                          for i in range(a.shape[0]) for j in range(a.shape[1])]).reshape(a.shape),), [(4, 2)]),
    ("norm", lambda a: a.norm(), lambda a: np.sqrt((a ** 2).sum()), lambda a: (a / np.sqrt((a ** 2).sum()),), [(3, 4)]),
    ("norm_dim", lambda a: a.norm(dim=1), lambda a: np.sqrt((a ** 2).sum(1)),
     lambda a: (a / np.sqrt((a ** 2).sum(1, keepdims=True)),), [(3, 4)]),
    ("norm_p1", lambda a: a.norm(p=1), lambda a: np.abs(a).sum(), lambda a: (np.sign(a),), [(3, 4)]),
    ("var", lambda a: a.var(1), lambda a: a.var(1, ddof=1),
     lambda a: (2 * (a - a.mean(1, keepdims=True)) / (a.shape[1] - 1),), [(3, 4)]),
    ("std", lambda a: a.std(), lambda a: a.std(ddof=1),
     lambda a: ((a - a.mean()) / ((a.size - 1) * a.std(ddof=1)),), [(3, 4)]),
    ("logsumexp", lambda a: a.logsumexp(1), lambda a: np.log(np.exp(a).sum(1)), lambda a: (_softmax(a, 1),), [(3, 4)]),
    ("logsumexp_keep_big", lambda a: (a * 100).logsumexp((0, 1), keepdim=True),
     lambda a: np.log(np.exp(a * 100 - (a * 100).max()).sum(keepdims=True)) + (a * 100).max(),
     lambda a: (100 * np.exp(a * 100 - (a * 100).max()) / np.exp(a * 100 - (a * 100).max()).sum(),), [(2, 3)]),
    ("var_correction0_keep", lambda a: a.var(0, correction=0, keepdim=True), lambda a: a.var(0, keepdims=True),
     lambda a: (2 * (a - a.mean(0, keepdims=True)) / a.shape[0],), [(3, 4)]),
    ("std_dim", lambda a: a.std(1), lambda a: a.std(1, ddof=1),
     lambda a: ((a - a.mean(1, keepdims=True)) / ((a.shape[1] - 1) * a.std(1, ddof=1, keepdims=True)),), [(3, 4)]),
    ("stack", lambda a, b: dg.stack([a, b * 2], 1), lambda a, b: np.stack([a, b * 2], 1),
     lambda a, b: (np.ones_like(a), np.full_like(b, 2)), [(3, 2), (3, 2)]),
    ("softmax", lambda a: a.softmax(1) * dg.tensor([1.0, 2.0, 3.0, 4.0], dtype=a.dtype, device=a.device),
     lambda a: _softmax(a, 1) * np.array([1, 2, 3, 4]),
     lambda a: (_softmax(a, 1) * (np.array([1, 2, 3, 4]) - (_softmax(a, 1) * np.array([1, 2, 3, 4])).sum(1, keepdims=True)),),
     [(3, 4)]),
    ("log_softmax", lambda a: a.log_softmax(0), lambda a: np.log(_softmax(a, 0)),
     lambda a: (1 - a.shape[0] * _softmax(a, 0),), [(3, 4)]),
    ("mm", lambda a, b: a.mm(b), lambda a, b: a @ b,
     lambda a, b: (np.ones((2, 4)) @ b.T, a.T @ np.ones((2, 4))), [(2, 3), (3, 4)]),
    ("mm_transposed_operands",
     lambda a, b: a.t().mm(b.t()) * dg.arange(8, dtype=a.dtype, device=a.device).view(2, 4),
     lambda a, b: (a.T @ b.T) * np.arange(8).reshape(2, 4),
     lambda a, b: ((np.arange(8.0).reshape(2, 4) @ b).T, (a @ np.arange(8.0).reshape(2, 4)).T), [(3, 2), (4, 3)]),
    ("linear",
     lambda x, w, c: dg.nn.functional.linear(x, w, c) * dg.arange(8, dtype=x.dtype, device=x.device).view(2, 4),
     lambda x, w, c: (x @ w.T + c) * np.arange(8).reshape(2, 4),
     lambda x, w, c: (np.arange(8.0).reshape(2, 4) @ w, np.arange(8.0).reshape(2, 4).T @ x,
                      np.arange(8.0).reshape(2, 4).sum(0)), [(2, 3), (4, 3), (4,)]),
    ("matmul_batched_bcast", lambda a, b: a @ b, lambda a, b: a @ b,
     lambda a, b: (np.ones((2, 2, 4)) @ b.T, (np.swapaxes(a, 1, 2) @ np.ones((2, 2, 4))).sum(0)), [(2, 2, 3), (3, 4)]),
    ("matmul_vec", lambda a, b: a @ b, lambda a, b: a @ b, lambda a, b: (np.broadcast_to(b, a.shape), a.sum(0)),
     [(2, 3), (3,)]),
    ("bmm", lambda a, b: a.bmm(b), lambda a, b: a @ b,
     lambda a, b: (np.ones((2, 2, 4)) @ np.swapaxes(b, 1, 2), np.swapaxes(a, 1, 2) @ np.ones((2, 2, 4))),
     [(2, 2, 3), (2, 3, 4)]),
    ("addmm", lambda c, a, b: dg.addmm(c, a, b, beta=0.5, alpha=2), lambda c, a, b: 0.5 * c + 2 * (a @ b),
     lambda c, a, b: (np.full_like(c, 1.0), 2 * np.ones((2, 4)) @ b.T, 2 * a.T @ np.ones((2, 4))),
     [(4,), (2, 3), (3, 4)]),
    ("dot", lambda a, b: a.dot(b), np.dot, lambda a, b: (b, a), [(5,), (5,)]),
    ("outer", lambda a, b: dg.outer(a, b), np.outer, lambda a, b: (np.full_like(a, b.sum()), np.full_like(b, a.sum())),
     [(3,), (2,)]),
    ("trace", lambda a: a.trace(), np.trace, lambda a: (np.eye(3, 4),), [(3, 4)]),
    ("diag", lambda a: a.diag(1), lambda a: np.diag(a, 1), lambda a: (np.eye(3, 4, 1),), [(3, 4)]),
    ("diag_embed", lambda a: a.diag() * 2, lambda a: np.diag(a) * 2, lambda a: (np.full_like(a, 2),), [(3,)]),
    ("triu", lambda a: a.triu(1), lambda a: np.triu(a, 1), lambda a: (np.triu(np.ones_like(a), 1),), [(3, 4)]),
    ("tril", lambda a: a.tril(-1), lambda a: np.tril(a, -1), lambda a: (np.tril(np.ones_like(a), -1),), [(3, 4)]),
    ("view", lambda a: a.view(4, 3) * dg.arange(3, dtype=a.dtype, device=a.device),
     lambda a: a.reshape(4, 3) * np.arange(3),
     lambda a: (np.tile(np.arange(3.0), 4).reshape(3, 4),), [(3, 4)]),
    ("reshape_t", lambda a: a.t().reshape(-1) * dg.arange(12, dtype=a.dtype, device=a.device),
     lambda a: a.T.reshape(-1) * np.arange(12),
     lambda a: (np.arange(12.0).reshape(4, 3).T,), [(3, 4)]),
    ("permute", lambda a: a.permute(2, 0, 1) * dg.arange(2, dtype=a.dtype, device=a.device).view(2, 1, 1),
     lambda a: a.transpose(2, 0, 1) * np.arange(2).reshape(2, 1, 1),
     lambda a: (np.broadcast_to(np.arange(2.0), a.shape),), [(3, 2, 2)]),
    ("transpose", lambda a: a.transpose(0, 1).contiguous(), lambda a: a.T, lambda a: (np.ones_like(a),), [(3, 2)]),
    ("expand", lambda a: a.expand(2, 3, 4), lambda a: np.broadcast_to(a, (2, 3, 4)),
     lambda a: (np.full_like(a, 8),), [(3, 1)]),
    ("squeeze_unsqueeze", lambda a: a.unsqueeze(0).squeeze(2) * 3, lambda a: a[None, :, 0] * 3,
     lambda a: (np.full_like(a, 3),), [(3, 1)]),
    ("flatten", lambda a: a.flatten(1), lambda a: a.reshape(2, -1), lambda a: (np.ones_like(a),), [(2, 2, 3)]),
    ("unflatten", lambda a: a.unflatten(1, (2, 2)), lambda a: a.reshape(3, 2, 2), lambda a: (np.ones_like(a),),
     [(3, 4)]),
    ("narrow", lambda a: a.narrow(1, 1, 2), lambda a: a[:, 1:3],
     lambda a: (np.pad(np.ones((3, 2)), ((0, 0), (1, 1))),), [(3, 4)]),
    ("select", lambda a: a.select(0, 1) * 2, lambda a: a[1] * 2,
     lambda a: (np.pad(np.full((1, 4), 2.0), ((1, 1), (0, 0))),), [(3, 4)]),
    ("basic_index", lambda a: a[1:, ::2], lambda a: a[1:, ::2],
     lambda a: (np.array([[0, 0, 0, 0], [1, 0, 1, 0], [1, 0, 1, 0]], float),), [(3, 4)]),
    ("adv_index_dup", lambda a: a[[0, 2, 2]], lambda a: a[[0, 2, 2]],
     lambda a: (np.array([[1.0] * 4, [0] * 4, [2] * 4]),), [(3, 4)]),
    ("bool_mask", lambda a: a[a > 0], lambda a: a[a > 0], lambda a: ((a > 0).astype(float),), [(3, 4)]),
    ("mixed_index", lambda a: a[:, [1, 1, 3]], lambda a: a[:, [1, 1, 3]],
     lambda a: (np.tile([0.0, 2, 0, 1], (3, 1)),), [(3, 4)]),
    ("masked_select", lambda a: a.masked_select(a < 0), lambda a: a[a < 0], lambda a: ((a < 0).astype(float),),
     [(3, 4)]),
    ("gather", lambda a: a.gather(1, dg.tensor(IDX, device=a.device)), lambda a: np.take_along_axis(a, IDX, 1),
     lambda a: (np.array([[1.0, 0, 1], [0, 2, 0], [1, 0, 1]]),), [(3, 3)]),
    ("index_select", lambda a: a.index_select(0, dg.tensor(I32, device=a.device)), lambda a: a[I32],
     lambda a: (np.array([[1.0] * 3, [0] * 3, [2] * 3]),), [(3, 3)]),
    ("scatter", lambda a, s: a.scatter(1, dg.tensor([[0], [2], [1]], device=a.device), s), None,
     lambda a, s: (np.array([[0.0, 1, 1], [1, 1, 0], [1, 0, 1]]), np.ones_like(s)), [(3, 3), (3, 1)]),
    ("scatter_add", lambda a, s: a.scatter_add(0, dg.tensor([[0, 2, 0]], device=a.device), s), None,
     lambda a, s: (np.ones_like(a), np.ones_like(s)), [(3, 3), (1, 3)]),
    ("index_put", lambda a, v: a.index_put((dg.tensor([0, 2]),), v), None,
     lambda a, v: (np.array([[0.0] * 3, [1] * 3, [0] * 3]), np.full_like(v, 2)), [(3, 3), (3,)]),
    ("cat", lambda a, b: dg.cat([a, b * 2], 1), lambda a, b: np.concatenate([a, b * 2], 1),
     lambda a, b: (np.ones_like(a), np.full_like(b, 2)), [(2, 3), (2, 1)]),
    ("stack", lambda a, b: dg.stack([a, b * 3], 2), lambda a, b: np.stack([a, b * 3], 2),
     lambda a, b: (np.ones_like(a), np.full_like(b, 3)), [(2, 3), (2, 3)]),
    ("split", lambda a: a.split([1, 3], 1)[1] * 2, lambda a: a[:, 1:] * 2,
     lambda a: (np.array([[0.0, 2, 2, 2]] * 2),), [(2, 4)]),
    ("chunk", lambda a: a.chunk(2)[0] * 2, lambda a: a[:2] * 2, lambda a: (np.array([[2.0] * 2] * 2 + [[0, 0]] * 2),),
     [(4, 2)]),
    ("repeat", lambda a: a.repeat(2, 3), lambda a: np.tile(a, (2, 3)), lambda a: (np.full_like(a, 6),), [(2, 2)]),
    ("flip", lambda a: a.flip(0) * dg.arange(3, dtype=a.dtype, device=a.device).view(3, 1),
     lambda a: a[::-1] * np.arange(3)[:, None],
     lambda a: (np.broadcast_to(np.arange(3.0)[::-1, None], a.shape),), [(3, 2)]),
    ("clone", lambda a: a.clone(), lambda a: a.copy(), lambda a: (np.ones_like(a),), [(3,)]),
    ("to_dtype", lambda a: a.double() * 2, lambda a: a * 2, lambda a: (np.full_like(a, 2),), [(3,)]),  # float32 run
    ("unfold", lambda a: a.unfold(0, 2, 1), lambda a: np.stack([a[:-1], a[1:]], 1),
     lambda a: (np.array([1.0, 2, 2, 1]),), [(4,)]),
    ("unfold_gaps", lambda a: a.unfold(0, 2, 3), lambda a: np.stack([a[0:2], a[3:5]]),
     lambda a: (np.array([1.0, 1, 0, 1, 1, 0, 0]),), [(7,)]),
    ("unfold_overlap_step_2", lambda a: a.unfold(1, 3, 2), lambda a: np.stack([a[:, 0:3], a[:, 2:5], a[:, 4:7]], 1),
     lambda a: (np.array([[1.0, 1, 2, 1, 2, 1, 1]] * 2),), [(2, 7)]),
    ("div_floor_zero_grad", lambda a: a + a.floor() + a.ceil() + a.round() + a.sign(),
     lambda a: a + np.floor(a) + np.ceil(a) + np.round(a) + np.sign(a), lambda a: (np.ones_like(a),), [(5,)]),
]


@pytest.mark.parametrize("fn, ref, dref, shapes", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_grad(fn, ref, dref, shapes, device):
    rng = np.random.default_rng(0)
    xs = [rng.uniform(-2, 2, s) for s in shapes]
    assert gradcheck(fn, tuple(dg.tensor(x, dtype=dg.float64, requires_grad=True) for x in xs))
    ts = [dg.tensor(x, dtype=dg.float32, device=device, requires_grad=True) for x in xs]
    out = fn(*ts)
    out.sum().backward()
    if ref is not None:
        np.testing.assert_allclose(out.detach().cpu().numpy(), ref(*xs), rtol=1e-5, atol=1e-5,
                                   err_msg=f"forward on {device}")
    for i, (t, g) in enumerate(zip(ts, dref(*xs))):
        assert t.grad is not None, f"input {i} got no gradient"
        assert t.grad.shape == t.shape
        np.testing.assert_allclose(t.grad.cpu().numpy(), g, rtol=1e-4, atol=1e-5, err_msg=f"grad {i} on {device}")


def test_max_ties_split_gradient_evenly(device):
    # PyTorch's max()/amax() give each tied maximum an equal share of the gradient
    x = dg.tensor([1.0, 3.0, 3.0], device=device, requires_grad=True)
    x.amax().backward()
    assert x.grad.tolist() == [0, 0.5, 0.5]


def test_relu_gradient_at_zero_is_zero(device):
    x = dg.tensor([0.0, 1.0], device=device, requires_grad=True)
    x.relu().sum().backward()
    assert x.grad.tolist() == [0, 1]
