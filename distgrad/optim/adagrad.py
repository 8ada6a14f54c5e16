"""Adagrad."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from distgrad.creation import full_like
from distgrad.optim.optimizer import Optimizer, check, fused, step_count
from distgrad.tensor import Tensor


class Adagrad(Optimizer):
    """Adagrad: steps scaled by the root of the summed squared gradients."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach: Any = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: Any = None) -> None:
        check(lr >= 0, f"Invalid learning rate: {lr}")
        check(lr_decay >= 0, f"Invalid lr_decay value: {lr_decay}")
        check(weight_decay >= 0, f"Invalid weight_decay value: {weight_decay}")
        check(initial_accumulator_value >= 0, f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        check(eps >= 0, f"Invalid epsilon value: {eps}")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, fused=fused))
        for group in self.param_groups:      # PyTorch creates Adagrad's state eagerly
            for p in group["params"]:
                self.state[p]["sum"] = full_like(p, group["initial_accumulator_value"]).detach()

    def _update(self, p: Tensor, g: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        step = step_count(state, p)
        wd, eps = group["weight_decay"], group["eps"]
        if wd != 0:
            g = g + p * wd
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        s = fused(state["sum"], lambda s, g: s + g * g, state["sum"], g)
        fused(p, lambda p, g, s: p - g / (s.sqrt() + eps) * clr, p, g, s)
