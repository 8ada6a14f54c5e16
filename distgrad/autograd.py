"""distgrad.autograd: backward, grad, user-defined Functions, and gradcheck (finite differences in float64)."""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

from distgrad import prims as P
from distgrad.backends.base import View
from distgrad.function import Function as _CoreFunction
from distgrad.function import Node, _edge, enable_grad, is_grad_enabled, no_grad, run_backward, set_grad_enabled
from distgrad.tensor import Tensor


def _roots(tensors: Sequence[Tensor], grads: Sequence[Tensor | None]) -> list[tuple[Any, View]]:
    roots = []
    for t, g in zip(tensors, grads):
        if not t._requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if t.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g = P.full(t._view.shape, 1, t.dtype, t._view.storage.backend)
        else:
            if tuple(g.shape) != tuple(t.shape):
                raise RuntimeError(f"Mismatch in shape: grad_output[0] has a shape of {g.shape} and output[0] has a "
                                   f"shape of {t.shape}.")
            g = g._view
        roots.append((_edge(t), g))
    return roots


def _as_list(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
             inputs: Any = None) -> None:
    """Accumulate gradients of tensors into the leaves' .grad (torch.autograd.backward)."""
    if create_graph:
        raise NotImplementedError("create_graph=True (higher-order gradients) is not supported yet")
    tensors = _as_list(tensors)
    grads = _as_list(grad_tensors) if grad_tensors is not None else [None] * len(tensors)
    if inputs is not None:
        for t, g in zip(_as_list(inputs), grad(tensors, _as_list(inputs), grads, retain_graph, allow_unused=True)):
            if g is not None:
                t.grad = g if t.grad is None else t.grad + g
        return
    run_backward(_roots(tensors, grads), retain_graph=bool(retain_graph))


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool | None = None, materialize_grads: bool = False) -> tuple:
    """The gradients of outputs with respect to inputs, returned instead of accumulated (torch.autograd.grad)."""
    if create_graph:
        raise NotImplementedError("create_graph=True (higher-order gradients) is not supported yet")
    outputs, inputs = _as_list(outputs), _as_list(inputs)
    for t in inputs:
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    grads = _as_list(grad_outputs) if grad_outputs is not None else [None] * len(outputs)
    results = run_backward(_roots(outputs, grads), retain_graph=bool(retain_graph), inputs=inputs)
    for i, r in enumerate(results):
        if r is None:
            if materialize_grads:
                results[i] = inputs[i].new_zeros(inputs[i].shape)
            elif not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the graph. "
                                   "Set allow_unused=True if this is the desired behavior.")
    return tuple(results)


class FunctionCtx:
    """The ctx of a user-defined Function: save_for_backward, saved_tensors, needs_input_grad, and attributes."""

    def __init__(self, node: Node | None, needs: tuple[bool, ...]) -> None:
        self._node = node
        self.needs_input_grad = needs
        self._saved: tuple = ()
        self._non_differentiable: set = set()

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        self._saved = tensors
        if self._node is not None:
            self._node.save_for_backward(*(None if t is None else t._view for t in tensors))

    @property
    def saved_tensors(self) -> tuple:
        if self._node is not None:
            _ = self._node.saved_tensors    # raises if freed or modified in place
        return self._saved

    def mark_non_differentiable(self, *tensors: Tensor) -> None:
        self._non_differentiable.update(id(t) for t in tensors)

    def mark_dirty(self, *tensors: Tensor) -> None:
        pass

    def set_materialize_grads(self, value: bool) -> None:
        pass


class _UserNode(Node):
    user_fn: type

    def __getattr__(self, name: str) -> Any:
        # In PyTorch ctx *is* y.grad_fn, so attributes forward() set on ctx are readable on grad_fn.
        if name == "ctx":
            raise AttributeError(name)
        return getattr(self.ctx, name)

    def apply_backward(self, grad: View) -> tuple:
        with no_grad():
            grads = self.user_fn.backward(self.ctx, Tensor._make(grad))
        grads = grads if isinstance(grads, tuple) else (grads,)
        if len(grads) != len(self.needs_input_grad):
            raise RuntimeError(f"function {type(self).__name__} returned an incorrect number of gradients (expected "
                               f"{len(self.needs_input_grad)}, got {len(grads)})")
        return tuple(g._view if isinstance(g, Tensor) else None for g in grads)


class Function:
    """Base class for user-defined differentiable ops: static forward(ctx, ...) and backward(ctx, *grads)."""

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        cls._Node = type(f"{cls.__name__}Backward", (_UserNode,), {"user_fn": cls, "fn": _CoreFunction,
                                                                   "__module__": cls.__module__})

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Any) -> Any:
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:

        needs = tuple(isinstance(a, Tensor) and a._requires_grad for a in args)
        record = is_grad_enabled() and any(needs)
        node = None
        if record:
            node = cls._Node.__new__(cls._Node)
            Node.__init__(node, tuple(args), needs)
        ctx = FunctionCtx(node, needs)
        with no_grad():
            out = cls.forward(ctx, *args, **kwargs)
        if node is None or not isinstance(out, Tensor):
            return out
        node.ctx = ctx
        result = Tensor._make(out._view)
        if id(out) not in ctx._non_differentiable:
            result._requires_grad, result._grad_fn = True, node

        return result


class GradcheckError(RuntimeError):
    """Raised by gradcheck when analytical and numerical gradients differ."""


def _flat_values(t: Tensor):
    return t.detach().cpu()._host().reshape(-1)


def gradcheck(func: Callable, inputs: Any, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, **_: Any) -> bool:
    """Compare backward's gradients with central finite differences (b - a) / (2 eps), input by input."""
    inputs = tuple(inputs) if isinstance(inputs, (list, tuple)) else (inputs,)
    diff = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    for t in diff:
        if t.dtype.name != "float64":
            warnings.warn("Input #0 requires gradient and is not a double precision floating point. This check will "
                          "likely fail if all the inputs are not of double precision floating point. ")
    out0 = func(*inputs)
    outs = [o for o in (out0 if isinstance(out0, (tuple, list)) else (out0,)) if isinstance(o, Tensor)]
    for k, out in enumerate(outs):
        n_out = out.numel()
        for j, x in enumerate(diff):
            numerical = []
            values = _flat_values(x)
            for i in range(x.numel()):
                orig = float(values[i])
                with no_grad():
                    _set_flat(x, i, orig + eps)
                    plus = _flat_values(_pick(func(*inputs), k)).copy()
                    _set_flat(x, i, orig - eps)
                    minus = _flat_values(_pick(func(*inputs), k)).copy()
                    _set_flat(x, i, orig)
                numerical.append((plus - minus) / (2 * eps))
            analytical = []
            for r in range(n_out):
                seed = out.new_zeros(out.shape)
                seed.reshape(-1)[r] = 1
                g = grad(_pick(func(*inputs), k), [x], [seed], allow_unused=True)[0]
                analytical.append(_flat_values(g) if g is not None else values * 0)
            for i in range(x.numel()):
                for r in range(n_out):
                    a, n = float(analytical[r][i]), float(numerical[i][r])
                    if abs(a - n) > atol + rtol * abs(n):
                        if not raise_exception:
                            return False
                        raise GradcheckError(f"Jacobian mismatch for output {k} with respect to input {j}: element "
                                             f"({r}, {i}) numerical {n:.6g} vs analytical {a:.6g}")
    return True


def _pick(out: Any, k: int) -> Tensor:
    return [o for o in (out if isinstance(out, (tuple, list)) else (out,)) if isinstance(o, Tensor)][k]


def _set_flat(t: Tensor, i: int, value: float) -> None:
    idx = []
    for s in reversed(t.shape):
        idx.append(i % s)
        i //= s
    t.data[tuple(reversed(idx))] = value


__all__ = [
    "Function",
    "FunctionCtx",
    "GradcheckError",
    "backward",
    "enable_grad",
    "grad",
    "gradcheck",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
]

