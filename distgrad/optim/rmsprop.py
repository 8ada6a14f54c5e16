"""RMSprop, optionally centered and with momentum."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from distgrad.creation import zeros_like
from distgrad.optim.optimizer import Optimizer, check, fused, step_count
from distgrad.tensor import Tensor


class RMSprop(Optimizer):
    """RMSprop: steps scaled by a running root mean square of the gradients."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, capturable: bool = False,
                 foreach: Any = None, maximize: bool = False, differentiable: bool = False) -> None:
        check(lr >= 0, f"Invalid learning rate: {lr}")
        check(eps >= 0, f"Invalid epsilon value: {eps}")
        check(momentum >= 0, f"Invalid momentum value: {momentum}")
        check(weight_decay >= 0, f"Invalid weight_decay value: {weight_decay}")
        check(alpha >= 0, f"Invalid alpha value: {alpha}")
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                                      weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable))

    def _update(self, p: Tensor, g: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, alpha, eps, wd, mu = group["lr"], group["alpha"], group["eps"], group["weight_decay"], group["momentum"]
        if not state:
            state["square_avg"] = zeros_like(p)
            if mu > 0:
                state["momentum_buffer"] = zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = zeros_like(p)
        step_count(state, p)
        if wd != 0:
            g = g + p * wd
        sq = fused(state["square_avg"], lambda s, g: s * alpha + g * g * (1 - alpha), state["square_avg"], g)
        if group["centered"]:
            ga = fused(state["grad_avg"], lambda a, g: a + (g - a) * (1 - alpha), state["grad_avg"], g)
            avg = (sq - ga * ga).sqrt() + eps
        else:
            avg = sq.sqrt() + eps
        if mu > 0:
            buf = fused(state["momentum_buffer"], lambda b, g, a: b * mu + g / a, state["momentum_buffer"], g, avg)
            fused(p, lambda p, b: p - b * lr, p, buf)
        else:
            fused(p, lambda p, g, a: p - g / a * lr, p, g, avg)
