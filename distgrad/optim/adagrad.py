"""Adagrad."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from distgrad.creation import full_like
from distgrad.optim.optimizer import Optimizer, fused, step_count, weight_decayed
from distgrad.tensor import Tensor


class Adagrad(Optimizer):
    """Adagrad: steps scaled by the root of the summed squared gradients."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach: Any = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: Any = None) -> None:
        super().__init__(params, {
            "lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value, "foreach": foreach, "maximize": maximize,
            "differentiable": differentiable, "fused": fused})
        for group in self.param_groups:      # PyTorch creates Adagrad's state eagerly
            for p in group["params"]:
                self.state[p]["sum"] = full_like(p, group["initial_accumulator_value"]).detach()

    def _update(self, p: Tensor, g: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        step = step_count(state)
        wd, eps = group["weight_decay"], group["eps"]
        decayed = weight_decayed(wd)
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        s = fused(state["sum"], lambda s, g, p: s + decayed(g, p) * decayed(g, p), state["sum"], g, p)
        fused(p, lambda p, g, s: p - decayed(g, p) / (s.sqrt() + eps) * clr, p, g, s)
