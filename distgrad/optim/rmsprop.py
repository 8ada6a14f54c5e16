"""RMSprop, optionally centered and with momentum."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from distgrad.creation import zeros_like
from distgrad.optim.optimizer import Optimizer, fused, step_count, weight_decayed
from distgrad.tensor import Tensor


class RMSprop(Optimizer):
    """RMSprop: steps scaled by a running root mean square of the gradients."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, capturable: bool = False,
                 foreach: Any = None, maximize: bool = False, differentiable: bool = False) -> None:
        super().__init__(params, {
            "lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
            "weight_decay": weight_decay, "capturable": capturable, "foreach": foreach, "maximize": maximize,
            "differentiable": differentiable})

    def _update(self, p: Tensor, g: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, alpha, eps, wd, mu = group["lr"], group["alpha"], group["eps"], group["weight_decay"], group["momentum"]
        if not state:
            state["square_avg"] = zeros_like(p)
            if mu > 0:
                state["momentum_buffer"] = zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = zeros_like(p)
        step_count(state)
        decayed = weight_decayed(wd)
        sq = fused(state["square_avg"], lambda s, g, p: s * alpha + decayed(g, p) * decayed(g, p) * (1 - alpha),
                   state["square_avg"], g, p)
        ga = state.get("grad_avg")
        if ga is None:
            stats, rms = (sq,), lambda s: s.sqrt() + eps
        else:       # centered: the variance is the mean of g^2 less the square of the mean of g
            fused(ga, lambda a, g, p: a + (decayed(g, p) - a) * (1 - alpha), ga, g, p)
            stats, rms = (sq, ga), lambda s, a: (s - a * a).sqrt() + eps
        if mu > 0:
            buf = fused(state["momentum_buffer"], lambda b, g, p, *s: b * mu + decayed(g, p) / rms(*s),
                        state["momentum_buffer"], g, p, *stats)
            fused(p, lambda p, b: p - b * lr, p, buf)
        else:
            fused(p, lambda p, g, *s: p - decayed(g, p) / rms(*s) * lr, p, g, *stats)
