"""SGD with momentum, dampening, Nesterov, weight decay and maximize."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from distgrad.optim.optimizer import Optimizer, check, fused
from distgrad.tensor import Tensor


class SGD(Optimizer):
    """Stochastic gradient descent (PyTorch's update: the first momentum buffer is the gradient itself)."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False, foreach: Any = None,
                 differentiable: bool = False, fused: Any = None) -> None:
        check(lr >= 0, f"Invalid learning rate: {lr}")
        check(momentum >= 0, f"Invalid momentum value: {momentum}")
        check(weight_decay >= 0, f"Invalid weight_decay value: {weight_decay}")
        check(not nesterov or (momentum > 0 and dampening == 0), "Nesterov momentum requires a momentum and zero "
              "dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    def _update(self, p: Tensor, g: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, mu, damp, wd = group["lr"], group["momentum"], group["dampening"], group["weight_decay"]
        if wd != 0:
            g = g + p * wd
        if mu != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.clone()
            else:
                fused(buf, lambda b, g: b * mu + g * (1 - damp), buf, g)
            if group["nesterov"]:
                fused(p, lambda p, g, b: p - (g + b * mu) * lr, p, g, buf)
                return
            g = buf
        fused(p, lambda p, g: p - g * lr, p, g)
