"""Full backward hooks: identity nodes around a module's tensor inputs and outputs capture their gradients."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from distgrad.backends.base import View
from distgrad.function import Function, is_grad_enabled
from distgrad.tensor import Tensor


class _GradTap(Function):
    grad_fn_name = "BackwardHookFunctionBackward"

    @staticmethod
    def forward(ctx: Any, x: View, on_grad: Callable[[View], View] | None = None) -> View:
        ctx.on_grad = on_grad
        return x

    @staticmethod
    def backward(ctx: Any, grad: View) -> tuple[View]:
        return (ctx.on_grad(grad),)


class BackwardHook:
    """Calls a module's hooks as hook(module, grad_input, grad_output) once the inputs' gradients are known.

    Differs from PyTorch: with several tensor inputs, a hook's replacement gradients reach only the input whose
    gradient arrived last (the others have been passed on by then)."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self.n_inputs = 0
        self.grad_inputs: dict[int, Tensor] = {}
        self.grad_outputs: tuple = ()
        self.tapped: list[int] = []

    def setup_inputs(self, args: tuple) -> tuple:
        self.n_inputs = sum(isinstance(a, Tensor) for a in args)
        if not is_grad_enabled():
            return args
        out, i = [], 0
        for a in args:
            if isinstance(a, Tensor):
                if a.requires_grad:
                    self.tapped.append(i)
                    a = _GradTap.apply(a, on_grad=self._input_grad(i))
                i += 1
            out.append(a)
        return tuple(out)

    def setup_outputs(self, out: Any) -> Any:
        if not is_grad_enabled():
            return out
        if isinstance(out, Tensor):
            return _GradTap.apply(out, on_grad=self._output_grad) if out.requires_grad else out
        return out

    def _output_grad(self, grad: View) -> View:
        self.grad_outputs = (Tensor._make(grad),)
        if not self.tapped:
            self._call((None,) * self.n_inputs)
        return grad

    def _input_grad(self, i: int) -> Callable[[View], View]:
        def on_grad(grad: View) -> View:
            self.grad_inputs[i] = Tensor._make(grad)
            if len(self.grad_inputs) < len(self.tapped):
                return grad
            result = self._call(tuple(self.grad_inputs.get(j) for j in range(self.n_inputs)))
            return grad if result is None or result[i] is None else result[i]._view
        return on_grad

    def _call(self, grad_input: tuple) -> tuple | None:
        for hook in list(self.module._backward_hooks.values()):
            result = hook(self.module, grad_input, self.grad_outputs)
            if result is not None:
                grad_input = tuple(result)
        return grad_input
