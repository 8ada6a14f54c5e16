"""One Function per differentiable op: forward and backward written once, on Views, calling prims (P) and view
arithmetic (V). Inputs arrive with equal shapes and dtypes where the op is elementwise (tensor.py broadcasts and
promotes). Composites that PyTorch also composes live in tensor.py and get their gradients for free."""
from __future__ import annotations

import math

from distgrad import prims as P
from distgrad import views as V
from distgrad.backends.base import View, int64
from distgrad.function import Function, ViewFunction


def _c(like: View, value: float) -> View:
    """The constant value, broadcast to like's shape, in like's dtype."""
    return V.expand(P.scalar(value, like.storage.dtype, like.storage.backend), like.shape)


def _where_zero(mask: View, x: View) -> View:
    """x where mask is False, 0 where it is True."""
    return P.where(mask, _c(x, 0), x)


def _contiguous(v: View) -> View:
    return v if v.is_contiguous() else P.copy(v)


def _reshape(v: View, shape: tuple[int, ...]) -> View:
    return V.reshape(v, shape) or V.reshape(P.copy(v), shape)


# ------------------------------------------------------------------------------------------------ elementwise binary

# NOTE [ Activation epilogues ] (in distgrad/nn/fusion.py): activations a bias add can apply in its own kernel. Each
# one's backward reads only its output, so its node can be recorded on a result computed by the add (applied=True).
EPILOGUES = {"relu": lambda e: ("max", e, ("const", 0)), "sigmoid": lambda e: ("sigmoid", e),
             "tanh": lambda e: ("tanh", e)}


def _add_then(epilogue: str, a: View, b: View, out: View | None = None) -> View:
    """epilogue(a + b) as one fused kernel."""
    return P.fused(EPILOGUES[epilogue](("add", ("in", 0), ("in", 1))), [a, b], out)


def _alias(v: View) -> View:
    return View(v.storage, v.shape, v.strides, v.offset)


class Add(Function):
    @staticmethod
    def forward(ctx, a: View, b: View, epilogue: str | None = None) -> View:
        if epilogue is not None:
            return _add_then(epilogue, a, b)
        return a.storage.backend.binary("add", a, b)

    @staticmethod
    def backward(ctx, g: View):
        return g, g


class Sub(Function):
    @staticmethod
    def forward(ctx, a: View, b: View) -> View:
        return a.storage.backend.binary("sub", a, b)

    @staticmethod
    def backward(ctx, g: View):
        return g, P.neg(g) if ctx.needs_input_grad[1] else None


class Mul(Function):
    @staticmethod
    def forward(ctx, a: View, b: View) -> View:
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            ctx.save_for_backward(b if ctx.needs_input_grad[0] else None, a if ctx.needs_input_grad[1] else None)
        return a.storage.backend.binary("mul", a, b)

    @staticmethod
    def backward(ctx, g: View):
        b, a = ctx.saved_tensors
        return P.mul(g, b) if b is not None else None, P.mul(g, a) if a is not None else None


class Div(Function):
    @staticmethod
    def forward(ctx, a: View, b: View) -> View:
        out = P.binary("div", a, b)
        ctx.save_for_backward(b, out if ctx.needs_input_grad[1] else None)
        return out

    @staticmethod
    def backward(ctx, g: View):
        b, out = ctx.saved_tensors
        ga = P.div(g, b)
        return ga, P.neg(P.mul(ga, out)) if out is not None else None


class Pow(Function):
    @staticmethod
    def forward(ctx, a: View, b: View) -> View:
        out = P.binary("pow", a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g: View):
        a, b, out = ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:   # b * a ** (b - 1), written so a = 0 with b = 0 gives 0, not nan
            ga = P.mul(g, P.mul(b, P.binary("pow", a, P.sub(b, _c(b, 1)))))
            ga = _where_zero(P.binary("eq", b, _c(b, 0)), ga)
        if ctx.needs_input_grad[1]:   # a ** b * log(a), 0 where a = 0 and b >= 0
            gb = P.mul(g, P.mul(out, P.unary("log", a)))
            gb = _where_zero(P.mul(P.binary("eq", a, _c(a, 0)), P.binary("le", _c(b, 0), b)), gb)
        return ga, gb


class PowTensor(Pow):
    grad_fn_name = "PowBackward1"      # PyTorch names pow by a tensor exponent apart from pow by a scalar


class _MinMax(Function):
    """maximum/minimum: the gradient goes to the chosen input, split in half on ties (as PyTorch)."""
    op = ""

    @classmethod
    def forward(cls, ctx, a: View, b: View) -> View:
        ctx.save_for_backward(a, b)
        return P.binary(cls.op, a, b)

    @staticmethod
    def backward(ctx, g: View):
        a, b = ctx.saved_tensors
        chosen = P.binary("lt", b, a) if ctx.fn.op == "max" else P.binary("lt", a, b)
        w = P.add(P.copy(chosen, dtype=g.storage.dtype), P.mul(P.copy(P.binary("eq", a, b), dtype=g.storage.dtype),
                                                                _c(g, 0.5)))
        ga = P.mul(g, w)
        return ga, P.sub(g, ga)


class Maximum(_MinMax):
    op = "max"


class Minimum(_MinMax):
    op = "min"


class Fmod(Function):
    @staticmethod
    def forward(ctx, a: View, b: View) -> View:
        ctx.save_for_backward(a, b)
        return P.binary("fmod", a, b)

    @staticmethod
    def backward(ctx, g: View):
        a, b = ctx.saved_tensors
        if not ctx.needs_input_grad[1]:
            return g, None
        q = P.div(a, b)       # trunc(a / b) = q - fmod(q, 1)
        trunc = P.sub(q, P.binary("fmod", q, _c(q, 1)))
        return g, P.neg(P.mul(g, trunc))


# ------------------------------------------------------------------------------------------------- elementwise unary

def _unary(name: str, op: str, saves: str, grad) -> type[Function]:
    """A Function for y = op(x) whose gradient is grad(g, saved) with saved = x or y."""
    def forward(ctx, x: View, applied: bool = False) -> View:
        out = _alias(x) if applied else x.storage.backend.unary(op, x)   # applied: only for saves == "out"
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(x if saves == "x" else out)
        return out

    def backward(ctx, g: View):
        (s,) = ctx.saved_tensors
        return grad(g, s)

    return type(name, (Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward),
                                    "__module__": __name__})


def _one_minus_sq(y: View) -> View:
    return P.sub(_c(y, 1), P.mul(y, y))


Exp = _unary("Exp", "exp", "out", lambda g, y: P.mul(g, y))
Log = _unary("Log", "log", "x", lambda g, x: P.div(g, x))
Sqrt = _unary("Sqrt", "sqrt", "out", lambda g, y: P.div(g, P.mul(y, _c(y, 2))))
Sin = _unary("Sin", "sin", "x", lambda g, x: P.mul(g, P.unary("cos", x)))
Cos = _unary("Cos", "cos", "x", lambda g, x: P.neg(P.mul(g, P.unary("sin", x))))
Tan = _unary("Tan", "tan", "out", lambda g, y: P.mul(g, P.add(_c(y, 1), P.mul(y, y))))
Tanh = _unary("Tanh", "tanh", "out", lambda g, y: P.mul(g, _one_minus_sq(y)))
Sigmoid = _unary("Sigmoid", "sigmoid", "out", lambda g, y: P.mul(g, P.mul(y, P.sub(_c(y, 1), y))))
Abs = _unary("Abs", "abs", "x", lambda g, x: P.mul(g, P.unary("sign", x)))
Log1P = _unary("Log1P", "log1p", "x", lambda g, x: P.div(g, P.add(x, _c(x, 1))))
Expm1 = _unary("Expm1", "expm1", "out", lambda g, y: P.mul(g, P.add(y, _c(y, 1))))
Erf = _unary("Erf", "erf", "x",
             lambda g, x: P.mul(g, P.mul(_c(x, 2 / math.sqrt(math.pi)), P.unary("exp", P.neg(P.mul(x, x))))))
Neg = _unary("Neg", "neg", "out", lambda g, y: P.neg(g))
Floor = _unary("Floor", "floor", "out", lambda g, y: P.zeros_like(g))
Ceil = _unary("Ceil", "ceil", "out", lambda g, y: P.zeros_like(g))
Round = _unary("Round", "round", "out", lambda g, y: P.zeros_like(g))
Sign = _unary("Sign", "sign", "out", lambda g, y: P.zeros_like(g))


class Reciprocal(Function):
    @staticmethod
    def forward(ctx, x: View) -> View:
        out = P.div(_c(x, 1), x)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g: View):
        (y,) = ctx.saved_tensors
        return P.neg(P.mul(g, P.mul(y, y)))


class Relu(Function):
    @staticmethod
    def forward(ctx, x: View, applied: bool = False) -> View:
        out = _alias(x) if applied else P.binary("max", x, _c(x, 0))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g: View):
        (y,) = ctx.saved_tensors
        return _where_zero(P.binary("le", y, _c(y, 0)), g)


class Clamp(Function):
    grad_fn_name = "ClampBackward1"

    @staticmethod
    def forward(ctx, x: View, min: float | None = None, max: float | None = None) -> View:
        ctx.save_for_backward(x)
        ctx.bounds = (min, max)
        out = x
        if min is not None:
            out = P.binary("max", out, _c(x, min))
        if max is not None:
            out = P.binary("min", out, _c(x, max))
        return out if out is not x else P.copy(x)

    @staticmethod
    def backward(ctx, g: View):
        (x,) = ctx.saved_tensors
        lo, hi = ctx.bounds
        if lo is not None:
            g = _where_zero(P.binary("lt", x, _c(x, lo)), g)
        if hi is not None:
            g = _where_zero(P.binary("lt", _c(x, hi), x), g)
        return g


class Where(Function):
    @staticmethod
    def forward(ctx, cond: View, a: View, b: View) -> View:
        ctx.save_for_backward(cond)
        return P.where(cond, a, b)

    @staticmethod
    def backward(ctx, g: View):
        (cond,) = ctx.saved_tensors
        zero = _c(g, 0)
        return (None, P.where(cond, g, zero) if ctx.needs_input_grad[1] else None,
                P.where(cond, zero, g) if ctx.needs_input_grad[2] else None)


class MaskedFill(Where):
    """where(mask, value, x) under PyTorch's name for x.masked_fill(mask, value)."""
    grad_fn_name = "MaskedFillBackward0"


class MaskedFillTensor(MaskedFill):
    grad_fn_name = "MaskedFillBackward1"      # the value is a tensor


# -------------------------------------------------------------------------------------------------------- reductions

def _keepdim_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if d in axes else s for d, s in enumerate(shape))


def _spread(g: View, shape: tuple[int, ...], axes: tuple[int, ...]) -> View:
    """A reduced gradient broadcast back over the reduced axes (a stride-0 view, no copy)."""
    return V.expand(_reshape(g, _keepdim_shape(shape, axes)), shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, x: View, axes: tuple[int, ...], keepdim: bool = False) -> View:
        ctx.shape, ctx.axes = x.shape, axes
        return P.reduce("sum", x, axes, keepdim) if axes else P.copy(x)

    @staticmethod
    def backward(ctx, g: View):
        return _spread(g, ctx.shape, ctx.axes)


class SumDim(Sum):
    grad_fn_name = "SumBackward1"      # PyTorch names sum(dim) and sum() differently


class Mean(Function):
    @staticmethod
    def forward(ctx, x: View, axes: tuple[int, ...], keepdim: bool = False) -> View:
        ctx.shape, ctx.axes = x.shape, axes
        n = 1
        for a in axes:
            n *= x.shape[a]
        ctx.n = n
        s = P.reduce("sum", x, axes, keepdim) if axes else P.copy(x)
        return P.binary("div", s, _c(s, n), out=s)

    @staticmethod
    def backward(ctx, g: View):
        return _spread(P.div(g, _c(g, ctx.n)), ctx.shape, ctx.axes)


class MeanDim(Mean):
    grad_fn_name = "MeanBackward1"


class Prod(Function):
    @staticmethod
    def forward(ctx, x: View, axes: tuple[int, ...], keepdim: bool = False) -> View:
        ctx.axes = axes
        ctx.save_for_backward(x)
        return P.reduce("prod", x, axes, keepdim)

    @staticmethod
    def backward(ctx, g: View):
        # Exact with zeros: where x = 0 the gradient is the product of the others if that zero is the only one.
        (x,) = ctx.saved_tensors
        axes, shape = ctx.axes, x.shape
        is_zero = P.binary("eq", x, _c(x, 0))
        n_zero = _spread(P.reduce("sum", P.copy(is_zero, dtype=int64), axes, True), shape, axes)
        others = _spread(P.reduce("prod", P.where(is_zero, _c(x, 1), x), axes, True), shape, axes)
        no_zero = P.copy(P.binary("eq", n_zero, _c(n_zero, 0)), dtype=x.storage.dtype)
        one_zero = P.binary("eq", n_zero, _c(n_zero, 1))
        at_nonzero = P.div(P.mul(others, no_zero), P.where(is_zero, _c(x, 1), x))
        at_zero = _where_zero(P.binary("eq", one_zero, _c(one_zero, False)), others)
        return P.mul(_spread(g, shape, axes), P.where(is_zero, at_zero, at_nonzero))


class _Extreme(Function):
    """amax/amin (and max()/min() without dim): the gradient is shared evenly among tied extremes."""
    op = ""

    @classmethod
    def forward(cls, ctx, x: View, axes: tuple[int, ...], keepdim: bool = False) -> View:
        out = P.reduce(cls.op, x, axes, keepdim)
        ctx.axes = axes
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g: View):
        x, out = ctx.saved_tensors
        hit = P.copy(P.binary("eq", x, _spread(out, x.shape, ctx.axes)), dtype=x.storage.dtype)
        count = P.reduce("sum", hit, ctx.axes, True)
        return P.mul(hit, _spread(P.div(_reshape(g, count.shape), count), x.shape, ctx.axes))


class Amax(_Extreme):
    op = "max"


class Amin(_Extreme):
    op = "min"


class MaxAll(Amax):
    grad_fn_name = "MaxBackward1"      # max() of all elements


class MinAll(Amin):
    grad_fn_name = "MinBackward1"


def _sum(x: View, axes: tuple[int, ...], keepdim: bool) -> View:
    return P.reduce("sum", x, axes, keepdim) if axes else P.copy(x)


def _var(x: View, axes: tuple[int, ...], correction: float, keepdim: bool) -> tuple[View, View, float]:
    """(variance, x - mean, the divisor: the count minus correction, at least 0)."""
    n = 1
    for a in axes:
        n *= x.shape[a]
    mean = _sum(x, axes, True)
    P.binary("div", mean, _c(mean, n), out=mean)
    centered = P.sub(x, V.expand(mean, x.shape))
    divisor = max(0, n - correction)
    var = _sum(P.mul(centered, centered), axes, keepdim)
    return P.binary("div", var, _c(var, divisor), out=var), centered, divisor


class Var(Function):
    """Variance over axes with `correction` subtracted from the count (Bessel's correction is 1)."""

    @staticmethod
    def forward(ctx, x: View, axes: tuple[int, ...], correction: float, keepdim: bool = False) -> View:
        var, centered, ctx.divisor = _var(x, axes, correction, keepdim)
        ctx.axes = axes
        ctx.save_for_backward(centered)
        return var

    @staticmethod
    def backward(ctx, g: View):
        centered = ctx.saved_tensors[0]
        two_g = P.mul(_spread(g, centered.shape, ctx.axes), _c(centered, 2))
        return P.div(P.mul(two_g, centered), _c(centered, ctx.divisor))


class Std(Var):
    """The square root of Var; d std = d var / (2 std)."""

    @staticmethod
    def forward(ctx, x: View, axes: tuple[int, ...], correction: float, keepdim: bool = False) -> View:
        var, centered, ctx.divisor = _var(x, axes, correction, keepdim)
        out = P.unary("sqrt", var, out=var)
        ctx.axes = axes
        ctx.save_for_backward(centered, out)
        return out

    @staticmethod
    def backward(ctx, g: View):
        out = ctx.saved_tensors[1]
        return Var.backward(ctx, P.div(g, P.mul(out, _c(out, 2))))


class Logsumexp(Function):
    """log(sum(exp(x))) over axes, shifted by the maximum (0 where that is infinite) so exp cannot overflow."""

    @staticmethod
    def forward(ctx, x: View, axes: tuple[int, ...], keepdim: bool = False) -> View:
        m = P.reduce("max", x, axes, True)
        m = _where_zero(P.binary("eq", P.unary("abs", m), _c(m, math.inf)), m)
        out = P.unary("log", P.reduce("sum", P.unary("exp", P.sub(x, V.expand(m, x.shape))), axes, True))
        P.binary("add", out, m, out=out)
        ctx.axes = axes
        ctx.save_for_backward(x, out)
        return out if keepdim else _reshape(out, tuple(s for d, s in enumerate(x.shape) if d not in axes))

    @staticmethod
    def backward(ctx, g: View):
        x, out = ctx.saved_tensors
        return P.mul(_spread(g, x.shape, ctx.axes), P.unary("exp", P.sub(x, V.expand(out, x.shape))))


class Cumsum(Function):
    @staticmethod
    def forward(ctx, x: View, axis: int) -> View:
        ctx.axis = axis
        return P.scan("cumsum", x, axis)

    @staticmethod
    def backward(ctx, g: View):
        # reversed cumsum without a flip: sum(g) - cumsum(g) + g
        total = V.expand(P.reduce("sum", g, (ctx.axis,), True), g.shape)
        return P.add(P.sub(total, P.scan("cumsum", g, ctx.axis)), g)


class Cumprod(Function):
    @staticmethod
    def forward(ctx, x: View, axis: int) -> View:
        out = P.scan("cumprod", x, axis)
        ctx.axis = axis
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g: View):
        # Differs from PyTorch: assumes x has no zeros along the axis (PyTorch handles them exactly).
        x, out = ctx.saved_tensors
        go = P.mul(g, out)
        total = V.expand(P.reduce("sum", go, (ctx.axis,), True), g.shape)
        return P.div(P.add(P.sub(total, P.scan("cumsum", go, ctx.axis)), go), x)


class Norm(Function):
    """The 2-norm; its subgradient at 0 is 0, as PyTorch's."""
    grad_fn_name = "LinalgVectorNormBackward0"

    @staticmethod
    def forward(ctx, x: View, axes: tuple[int, ...], keepdim: bool = False) -> View:
        out = P.unary("sqrt", P.reduce("sum", P.mul(x, x), axes, keepdim))
        ctx.axes = axes
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g: View):
        x, out = ctx.saved_tensors
        out_s = _spread(out, x.shape, ctx.axes)
        scaled = P.div(x, P.where(P.binary("eq", out_s, _c(out_s, 0)), _c(out_s, 1), out_s))
        return P.mul(scaled, _spread(g, x.shape, ctx.axes))


class Softmax(Function):
    @staticmethod
    def forward(ctx, x: View, dim: int) -> View:
        shifted = P.sub(x, V.expand(P.reduce("max", x, (dim,), True), x.shape))
        e = P.unary("exp", shifted)
        out = P.binary("div", e, V.expand(P.reduce("sum", e, (dim,), True), x.shape), out=e)
        ctx.dim = dim
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g: View):
        (y,) = ctx.saved_tensors
        s = V.expand(P.reduce("sum", P.mul(g, y), (ctx.dim,), True), y.shape)
        return P.mul(y, P.sub(g, s))


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x: View, dim: int) -> View:
        shifted = P.sub(x, V.expand(P.reduce("max", x, (dim,), True), x.shape))
        lse = P.unary("log", P.reduce("sum", P.unary("exp", shifted), (dim,), True))
        out = P.binary("sub", shifted, V.expand(lse, x.shape), out=shifted)
        ctx.dim = dim
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g: View):
        (y,) = ctx.saved_tensors
        s = V.expand(P.reduce("sum", g, (ctx.dim,), True), y.shape)
        return P.sub(g, P.mul(P.unary("exp", y), s))


# ---------------------------------------------------------------------------------------------------- linear algebra

def _batch_of_one(v: View) -> View:
    """v with a leading batch dim of 1, keeping the backend's cached host array (cpu: an ndarray) so that it is not
    rebuilt on every call."""
    return View(v.storage, (1, *v.shape), (v.strides[0] * v.shape[0], *v.strides), v.offset,
                None if v.cache is None else v.cache[None])


def _mm(a: View, b: View) -> View:
    """(M, K) @ (K, N) as one batched primitive call with a batch of one."""
    out = P.matmul(_batch_of_one(a), _batch_of_one(b))
    return View(out.storage, out.shape[1:], out.strides[1:], out.offset, None if out.cache is None else out.cache[0])


def _t(v: View) -> View:
    return V.permute(v, (1, 0))


def _column_major(v: View) -> bool:
    """A transposed contiguous matrix, such as weight.t() in nn.Linear."""
    return v.strides == (1, v.shape[0]) and v.shape[0] > 1 and v.shape[1] > 1


def _mm_grads(ctx, g: View) -> tuple[View | None, View | None]:
    """The gradients of a and b in a @ b, each in its input's memory layout: a column-major input's gradient is
    computed as (x.T @ y.T).T, so the gradient of a transposed weight lands contiguous in the weight's own layout
    and .grad takes it without a transposing copy (as PyTorch's mm_mat1_backward / mm_mat2_backward)."""
    b, a = ctx.saved_tensors
    a_col, b_col = ctx.column_major
    ga = gb = None
    if b is not None:
        ga = _t(_mm(b, _t(g))) if a_col else _mm(g, _t(b))
    if a is not None:
        gb = _t(_mm(_t(g), a)) if b_col else _mm(_t(a), g)
    return ga, gb


class Mm(Function):
    @staticmethod
    def forward(ctx, a: View, b: View) -> View:
        ctx.save_for_backward(b if ctx.needs_input_grad[0] else None, a if ctx.needs_input_grad[1] else None)
        ctx.column_major = (_column_major(a), _column_major(b))
        return _mm(a, b)

    @staticmethod
    def backward(ctx, g: View):
        return _mm_grads(ctx, g)


class Addmm(Function):
    """bias + x @ w (nn.Linear's op), bias broadcast over rows."""

    @staticmethod
    def forward(ctx, bias: View, a: View, b: View, epilogue: str | None = None) -> View:
        ctx.bias_shape = bias.shape
        ctx.save_for_backward(b if ctx.needs_input_grad[1] else None, a if ctx.needs_input_grad[2] else None)
        ctx.column_major = (_column_major(a), _column_major(b))
        out = _mm(a, b)
        if epilogue is not None:
            return _add_then(epilogue, out, V.expand(bias, out.shape), out=out)
        return P.binary("add", out, V.expand(bias, out.shape), out=out)

    @staticmethod
    def backward(ctx, g: View):
        return (P.sum_to(g, ctx.bias_shape) if ctx.needs_input_grad[0] else None, *_mm_grads(ctx, g))


class Bmm(Function):
    @staticmethod
    def forward(ctx, a: View, b: View) -> View:
        ctx.save_for_backward(b if ctx.needs_input_grad[0] else None, a if ctx.needs_input_grad[1] else None)
        return P.matmul(a, b)

    @staticmethod
    def backward(ctx, g: View):
        b, a = ctx.saved_tensors
        tr = (0, 2, 1)
        ga = P.matmul(g, V.permute(b, tr)) if b is not None else None
        gb = P.matmul(V.permute(a, tr), g) if a is not None else None
        return ga, gb


class Dot(Function):
    @staticmethod
    def forward(ctx, a: View, b: View) -> View:
        ctx.save_for_backward(b, a)
        return _reshape(_mm(V.unsqueeze(a, 0), V.unsqueeze(b, 1)), ())

    @staticmethod
    def backward(ctx, g: View):
        b, a = ctx.saved_tensors
        return P.mul(V.expand(g, b.shape), b), P.mul(V.expand(g, a.shape), a)


# ------------------------------------------------------------------------------------------------------------ losses

class NllLoss(Function):
    """-logp[i, target[i]] * w[i] over rows of (N, C) log-probabilities, w[i] = weight[target[i]] (1 without weight)
    and 0 where target[i] == ignore_index; summed, averaged by sum(w) ('mean'), or kept with target's shape."""

    @staticmethod
    def forward(ctx, logp: View, target: View, weight: View | None = None, ignore_index: int = -100,
                reduction: str = "mean", target_shape: tuple[int, ...] = ()) -> View:
        be, n, c = logp.storage.backend, logp.shape[0], logp.shape[1]
        keep = P.binary("ne", target, V.expand(P.scalar(ignore_index, int64, be), target.shape))
        safe = P.where(keep, target, V.expand(P.scalar(0, int64, be), target.shape))
        if n:
            _check_class_index(safe, c)
        w = P.copy(keep, dtype=logp.storage.dtype)
        if weight is not None:
            w = P.binary("mul", P.gather(weight, 0, safe), w, out=w)
        safe = V.reshape(safe, (n, 1))
        loss = P.binary("mul", V.reshape(P.gather(logp, 1, safe), (n,)), w)
        ctx.safe, ctx.w, ctx.c, ctx.reduction = safe, w, c, reduction
        if reduction == "none":
            return V.reshape(P.neg(loss), target_shape)
        total = P.reduce("sum", loss, (0,))
        if reduction == "mean":
            ctx.total = P.reduce("sum", w, (0,))
            return P.binary("div", P.neg(total), ctx.total)
        return P.neg(total)

    @staticmethod
    def backward(ctx, g: View):
        w, n = ctx.w, ctx.w.shape[0]
        if ctx.reduction == "none":
            g = V.reshape(g, (n,))
        else:
            g = V.expand(P.div(g, ctx.total) if ctx.reduction == "mean" else g, (n,))
        coef = P.neg(P.mul(w, g))
        out = P.full((n, ctx.c), 0, w.storage.dtype, w.storage.backend)
        return P.scatter("set", out, 1, ctx.safe, V.reshape(coef, (n, 1))), None


def _check_class_index(index: View, c: int) -> None:
    """PyTorch's IndexError for a class index outside [0, c), naming the first; on a device, at its next read."""
    def raise_for(lo: int, hi: int) -> None:
        bad = next(t for t in index.storage.backend.to_numpy(index).tolist() if not 0 <= t < c)
        raise IndexError(f"Target {bad} is out of bounds.")
    P.check_index(index, 0, c, raise_for)


# ------------------------------------------------------------------------------------------- views (metadata only)

class Reshape(ViewFunction):
    grad_fn_name = "ViewBackward0"

    @staticmethod
    def forward(ctx, x: View, shape: tuple[int, ...]) -> View:
        ctx.shape = x.shape
        return _reshape(x, shape)

    @staticmethod
    def backward(ctx, g: View):
        return _reshape(g, ctx.shape)


class Unsqueeze(Reshape):
    grad_fn_name = "UnsqueezeBackward0"


class Squeeze(Reshape):
    grad_fn_name = "SqueezeBackward0"     # squeeze(): every size-1 dim


class SqueezeDim(Reshape):
    grad_fn_name = "SqueezeBackward1"     # squeeze(dim)


class SqueezeDims(Reshape):
    grad_fn_name = "SqueezeBackward2"     # squeeze((dims, ...))


class Permute(ViewFunction):
    @staticmethod
    def forward(ctx, x: View, dims: tuple[int, ...]) -> View:
        ctx.dims = dims
        return V.permute(x, dims)

    @staticmethod
    def backward(ctx, g: View):
        inverse = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inverse[d] = i
        return V.permute(g, tuple(inverse))


class Transpose(Permute):
    grad_fn_name = "TransposeBackward0"


class T(Permute):
    grad_fn_name = "TBackward0"


class Expand(ViewFunction):
    @staticmethod
    def forward(ctx, x: View, shape: tuple[int, ...]) -> View:
        ctx.shape = x.shape
        return V.expand(x, shape)

    @staticmethod
    def backward(ctx, g: View):
        return P.sum_to(g, ctx.shape)


class Window(ViewFunction):
    """A view made by a layout function f(View) -> View (basic indexing, diagonal, unfold). The backward writes the
    gradient into f(zeros): a copy when windows do not overlap, a scatter-add through an index map when they do."""
    grad_fn_name = "AsStridedBackward0"

    @staticmethod
    def forward(ctx, x: View, layout, overlapping: bool = False) -> View:
        ctx.shape, ctx.layout, ctx.overlapping = x.shape, layout, overlapping
        ctx.dtype, ctx.backend = x.storage.dtype, x.storage.backend
        return layout(x)

    @staticmethod
    def backward(ctx, g: View):
        zeros = P.full(ctx.shape, 0, ctx.dtype, ctx.backend)
        if not ctx.overlapping:
            P.copy(g, out=ctx.layout(zeros))
            return zeros
        n = zeros.numel
        _scatter_add(V.reshape(zeros, (n,)), ctx.layout(V.reshape(P.arange(n, ctx.backend), ctx.shape)), g)
        return zeros


def _scatter_add(flat: View, index: View, g: View) -> None:
    """flat[index] += g, duplicate positions accumulating (index and g have one shape)."""
    P.scatter("add", flat, 0, _reshape(_contiguous(index), (index.numel,)), _reshape(_contiguous(g), (g.numel,)))


def _same_layout(like: View, storage) -> View:
    """like's shape, strides and offset over another storage."""
    return View(storage, like.shape, like.strides, like.offset)


class AsStrided(Function):
    """The view `view` (a window onto base's storage) taken from base: how a view's grad_fn is regenerated after an
    in-place write (NOTE [ Views and in-place ]). The backward adds the gradient into a buffer laid out like base's
    storage, so any base and view geometry (overlapping too) works."""

    @staticmethod
    def forward(ctx, base: View, view: View) -> View:
        ctx.base, ctx.view = base, view
        return _same_layout(view, base.storage)

    @staticmethod
    def backward(ctx, g: View):
        size, backend = ctx.base.storage.size, g.storage.backend
        flat = P.full((size,), 0, g.storage.dtype, backend)
        _scatter_add(flat, _same_layout(ctx.view, P.arange(size, backend).storage), g)
        return _same_layout(ctx.base, flat.storage)


class CopySlices(Function):
    """Writes result into base's window `view` (an in-place op on a view) and becomes base's grad_fn: the gradient
    outside the window goes to base's old history, the window's to result's (PyTorch's CopySlices)."""
    grad_fn_name = "CopySlices"

    @staticmethod
    def forward(ctx, base: View, result: View, view: View) -> View:
        ctx.base, ctx.view, ctx.dtype = base, view, result.storage.dtype
        P.copy(result, out=view)
        return base

    @staticmethod
    def backward(ctx, g: View):
        buf = P.alloc((ctx.base.storage.size,), g.storage.dtype, g.storage.backend).storage
        g_base = P.copy(g, out=_same_layout(ctx.base, buf))
        window = _same_layout(ctx.view, buf)
        g_result = P.copy(window, dtype=ctx.dtype) if ctx.needs_input_grad[1] else None
        if not ctx.needs_input_grad[0]:
            return None, g_result
        P.fill(window, 0)
        return g_base, g_result


class Slice(Window):
    grad_fn_name = "SliceBackward0"


class Select(Window):
    grad_fn_name = "SelectBackward0"


class Diagonal(Window):
    grad_fn_name = "DiagonalBackward0"


class Unfold(Window):
    grad_fn_name = "UnfoldBackward0"


# ------------------------------------------------------------------------------------------------------------ copies

class Clone(Function):
    @staticmethod
    def forward(ctx, x: View) -> View:
        return P.copy(x)

    @staticmethod
    def backward(ctx, g: View):
        return g


class ToCopy(Function):
    """A dtype cast and/or a move to another backend."""

    @staticmethod
    def forward(ctx, x: View, dtype=None, backend=None) -> View:
        ctx.dtype, ctx.backend = x.storage.dtype, x.storage.backend
        if backend is not None and backend is not x.storage.backend:
            x = backend.from_numpy(x.storage.backend.to_numpy(x).copy())
            if dtype is None or dtype is x.storage.dtype:
                return x
        return P.copy(x, dtype=dtype)

    @staticmethod
    def backward(ctx, g: View):
        if g.storage.backend is not ctx.backend:
            g = ctx.backend.from_numpy(g.storage.backend.to_numpy(g).copy())
        return g if g.storage.dtype is ctx.dtype else P.copy(g, dtype=ctx.dtype)


class Cat(Function):
    @staticmethod
    def forward(ctx, *xs: View, dim: int = 0) -> View:
        sizes = [x.shape[dim] for x in xs]
        shape = xs[0].shape[:dim] + (sum(sizes),) + xs[0].shape[dim + 1:]
        out = P.alloc(shape, xs[0].storage.dtype, xs[0].storage.backend)
        ctx.dim, ctx.sizes = dim, sizes
        start = 0
        for x, n in zip(xs, sizes):
            if n:
                P.copy(x, out=_narrow(out, dim, start, n))
            start += n
        return out

    @staticmethod
    def backward(ctx, g: View):
        grads, start = [], 0
        for n in ctx.sizes:
            grads.append(_narrow(g, ctx.dim, start, n))
            start += n
        return tuple(grads)


class Stack(Cat):
    """Cat of the inputs, each with a new size-1 dim at `dim`."""

    @staticmethod
    def forward(ctx, *xs: View, dim: int = 0) -> View:
        return Cat.forward(ctx, *(V.unsqueeze(x, dim) for x in xs), dim=dim)

    @staticmethod
    def backward(ctx, g: View):
        return tuple(V.squeeze(gi, (ctx.dim,)) for gi in Cat.backward(ctx, g))


def _narrow(v: View, dim: int, start: int, length: int) -> View:
    return V.index(v, tuple(("slice", 0, v.shape[i], 1) for i in range(dim)) + (("slice", start, length, 1),))


class Take(Function):
    """x (1-D) at integer positions `index` (any shape): advanced indexing and masked_select."""
    grad_fn_name = "IndexBackward0"

    @staticmethod
    def forward(ctx, x: View, index: View) -> View:
        flat_index = _reshape(index, (index.numel,))
        ctx.n = x.shape[0]
        ctx.save_for_backward(flat_index)
        return _reshape(P.gather(x, 0, flat_index), index.shape)

    @staticmethod
    def backward(ctx, g: View):
        (flat_index,) = ctx.saved_tensors
        zeros = P.full((ctx.n,), 0, g.storage.dtype, g.storage.backend)
        return P.scatter("add", zeros, 0, flat_index, _reshape(g, (g.numel,))), None


class Gather(Function):
    @staticmethod
    def forward(ctx, x: View, index: View, dim: int) -> View:
        ctx.dim, ctx.shape = dim, x.shape
        ctx.save_for_backward(index)
        return P.gather(x, dim, index)

    @staticmethod
    def backward(ctx, g: View):
        (index,) = ctx.saved_tensors
        zeros = P.full(ctx.shape, 0, g.storage.dtype, g.storage.backend)
        return P.scatter("add", zeros, ctx.dim, index, g), None


class MaxDim(Gather):
    """max(dim)'s values: x gathered at the argmax `index` (keepdim's shape), then squeezed unless keepdim."""
    grad_fn_name = "MaxBackward0"

    @staticmethod
    def forward(ctx, x: View, index: View, dim: int, keepdim: bool = True) -> View:
        ctx.keepdim = keepdim
        out = Gather.forward(ctx, x, index, dim)
        return out if keepdim else V.squeeze(out, (dim,))

    @staticmethod
    def backward(ctx, g: View):
        return Gather.backward(ctx, g if ctx.keepdim else V.unsqueeze(g, ctx.dim))


class MinDim(MaxDim):
    grad_fn_name = "MinBackward0"


class Scatter(Function):
    """out = x with src written ('set') or added ('add') at index along dim."""

    @staticmethod
    def forward(ctx, x: View, index: View, src: View, dim: int, mode: str = "set") -> View:
        ctx.dim, ctx.mode = dim, mode
        ctx.save_for_backward(index)
        return P.scatter(mode, P.copy(x), dim, index, src)

    @staticmethod
    def backward(ctx, g: View):
        (index,) = ctx.saved_tensors
        gx = g
        if ctx.mode == "set" and ctx.needs_input_grad[0]:
            gx = P.scatter("set", P.copy(g), ctx.dim, index, P.full(index.shape, 0, g.storage.dtype, g.storage.backend))
        gsrc = P.gather(g, ctx.dim, index) if ctx.needs_input_grad[2] else None
        return gx, None, gsrc


class IndexPut(Function):
    """out = x (flattened positions `index`) set to, or accumulating, `values` broadcast to index's shape."""
    grad_fn_name = "IndexPutBackward0"

    @staticmethod
    def forward(ctx, x: View, values: View, index: View, accumulate: bool = False) -> View:
        ctx.shape, ctx.vshape, ctx.ishape, ctx.accumulate = x.shape, values.shape, index.shape, accumulate
        flat_index = _reshape(index, (index.numel,))
        ctx.save_for_backward(flat_index)
        out = P.copy(x)
        src = _reshape(P.copy(V.expand(values, index.shape)), (index.numel,))
        P.scatter("add" if accumulate else "set", V.reshape(out, (out.numel,)), 0, flat_index, src)
        return out

    @staticmethod
    def backward(ctx, g: View):
        (flat_index,) = ctx.saved_tensors
        flat = _reshape(_contiguous(g), (g.numel,))
        gx = g
        if not ctx.accumulate and ctx.needs_input_grad[0]:
            gx = P.copy(flat)
            P.scatter("set", gx, 0, flat_index, P.full(flat_index.shape, 0, g.storage.dtype, g.storage.backend))
            gx = V.reshape(gx, ctx.shape)
        gv = None
        if ctx.needs_input_grad[1]:
            gv = P.sum_to(V.reshape(P.gather(flat, 0, flat_index), ctx.ishape), ctx.vshape)
        return gx, gv, None


__all__ = [name for name, obj in list(globals().items()) if isinstance(obj, type) and issubclass(obj, Function)]
