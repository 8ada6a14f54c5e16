"""SGD with momentum, dampening, Nesterov, weight decay and maximize."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from distgrad.creation import empty_like
from distgrad.optim.optimizer import Optimizer, check, fused, weight_decayed
from distgrad.tensor import Tensor


class SGD(Optimizer):
    """Stochastic gradient descent (PyTorch's update: the first momentum buffer is the gradient itself)."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False, foreach: Any = None,
                 differentiable: bool = False, fused: Any = None) -> None:
        check(not nesterov or (momentum > 0 and dampening == 0), "Nesterov momentum requires a momentum and zero "
              "dampening")
        super().__init__(params, {
            "lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay, "nesterov": nesterov,
            "maximize": maximize, "foreach": foreach, "differentiable": differentiable, "fused": fused})

    def _update(self, p: Tensor, g: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, mu, damp, wd = group["lr"], group["momentum"], group["dampening"], group["weight_decay"]
        decayed = weight_decayed(wd)
        if mu == 0:
            fused(p, lambda p, g: p - decayed(g, p) * lr, p, g)
            return
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = fused(empty_like(p), decayed, g, p)
        else:
            fused(buf, lambda b, g, p: b * mu + decayed(g, p) * (1 - damp), buf, g, p)
        if group["nesterov"]:
            fused(p, lambda p, g, b: p - (decayed(g, p) + b * mu) * lr, p, g, buf)
        else:
            fused(p, lambda p, b: p - b * lr, p, buf)
