"""Adam and AdamW (decoupled weight decay), with amsgrad."""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from distgrad.creation import zeros_like
from distgrad.optim.optimizer import Optimizer, check, fused, step_count, weight_decayed
from distgrad.tensor import Tensor


class Adam(Optimizer):
    """Adam: bias-corrected first and second moment estimates (PyTorch's update formula)."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: Any = None, capturable: bool = False, differentiable: bool = False, fused: Any = None,
                 decoupled_weight_decay: bool = False) -> None:
        check(0 <= betas[0] < 1, f"Invalid beta parameter at index 0: {betas[0]}")
        check(0 <= betas[1] < 1, f"Invalid beta parameter at index 1: {betas[1]}")
        super().__init__(params, {
            "lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad,
            "maximize": maximize, "foreach": foreach, "capturable": capturable, "differentiable": differentiable,
            "fused": fused, "decoupled_weight_decay": decoupled_weight_decay})

    def _update(self, p: Tensor, g: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state["exp_avg"], state["exp_avg_sq"] = zeros_like(p), zeros_like(p)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = zeros_like(p)
        step = step_count(state)
        decoupled = group["decoupled_weight_decay"]
        decayed = weight_decayed(0 if decoupled else wd)
        shrunk = (lambda p: p * (1 - lr * wd)) if wd != 0 and decoupled else (lambda p: p)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        fused(m, lambda m, g, p: m + (decayed(g, p) - m) * (1 - b1), m, g, p)
        fused(v, lambda v, g, p: v * b2 + decayed(g, p) * decayed(g, p) * (1 - b2), v, g, p)
        if group["amsgrad"]:
            v = fused(state["max_exp_avg_sq"], lambda mx, v: mx.maximum(v), state["max_exp_avg_sq"], v)
        step_size = lr / (1 - b1 ** step)
        root = math.sqrt(1 - b2 ** step)
        fused(p, lambda p, m, v: shrunk(p) - m / (v.sqrt() / root + eps) * step_size, p, m, v)


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay before the Adam step."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: Any = None, capturable: bool = False, differentiable: bool = False,
                 fused: Any = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, foreach=foreach,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
