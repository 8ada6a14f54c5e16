"""Optimizer base: param_groups, per-parameter state and PyTorch's state_dict layout; fused elementwise updates.

NOTE [ Fused optimizer updates ]
Each optimizer writes its update as formulas over Expr objects (`fused(out, lambda m, g: m * b1 + g * (1 - b1),
m, g)`): the formula becomes one expression tree (NOTE [ Fused expressions ] in backends/base.py) evaluated by
P.fused straight into `out`, one kernel per formula on backends that fuse, primitive by primitive on the others.
Updates run under no_grad and bump the written storage's version, as every in-place write does."""
from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from distgrad import prims as P
from distgrad.function import no_grad
from distgrad.tensor import Tensor


class _Required:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


class Expr:
    """A node of an elementwise update formula (see NOTE [ Fused optimizer updates ])."""

    __slots__ = ("node",)

    def __init__(self, node: tuple) -> None:
        self.node = node

    @staticmethod
    def _lift(x: Expr | float) -> tuple:
        return x.node if isinstance(x, Expr) else ("const", float(x))

    def _bin(self, op: str, other: Expr | float, swap: bool = False) -> Expr:
        a, b = self.node, Expr._lift(other)
        return Expr((op, b, a) if swap else (op, a, b))

    def __add__(self, o: Expr | float) -> Expr: return self._bin("add", o)
    def __radd__(self, o: float) -> Expr: return self._bin("add", o, True)
    def __sub__(self, o: Expr | float) -> Expr: return self._bin("sub", o)
    def __rsub__(self, o: float) -> Expr: return self._bin("sub", o, True)
    def __mul__(self, o: Expr | float) -> Expr: return self._bin("mul", o)
    def __rmul__(self, o: float) -> Expr: return self._bin("mul", o, True)
    def __truediv__(self, o: Expr | float) -> Expr: return self._bin("div", o)
    def __rtruediv__(self, o: float) -> Expr: return self._bin("div", o, True)
    def __neg__(self) -> Expr: return Expr(("neg", self.node))

    def sqrt(self) -> Expr:
        return Expr(("sqrt", self.node))

    def maximum(self, o: Expr) -> Expr:
        return self._bin("max", o)


def fused(out: Tensor, formula: Callable[..., Expr], *inputs: Tensor) -> Tensor:
    """out = formula(*inputs), elementwise, in one fused kernel where the backend has one."""
    P.fused(formula(*(Expr(("in", i)) for i in range(len(inputs)))).node, [t._view for t in inputs], out._view)
    out._view.storage.version += 1
    return out


# hyper-parameters that must be >= 0, with the words of PyTorch's "Invalid ...: {value}" error
NON_NEGATIVE = {"lr": "learning rate", "lr_decay": "lr_decay value", "eps": "epsilon value",
                "momentum": "momentum value", "weight_decay": "weight_decay value", "alpha": "alpha value",
                "initial_accumulator_value": "initial_accumulator_value value"}


def weight_decayed(wd: float) -> Callable[[Expr, Expr], Expr]:
    """(g, p) -> g + wd * p, L2 weight decay as part of a fused update formula; g itself when wd is 0."""
    return (lambda g, p: g + p * wd) if wd != 0 else (lambda g, p: g)


class Optimizer:
    """Base class of optimizers (PyTorch's torch.optim.Optimizer)."""

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        for key, what in NON_NEGATIVE.items():
            check(defaults.get(key, 0) >= 0, f"Invalid {what}: {defaults.get(key)}")
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, but "
                            f"got {params.type()}")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (missing options take the defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering of "
                            "tensors in sets will change between runs. Please use a list instead.")
        param_group["params"] = params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every parameter (to None by default)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        p.grad = p.grad.detach()
                        p.grad.zero_()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; closure re-evaluates the loss first."""
        loss = None
        if closure is not None:
            from distgrad.function import enable_grad
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        g = -p.grad if group.get("maximize") else p.grad
                        self._update(p, g, self.state[p], group)
        return loss

    def _update(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}, parameters numbered in order."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: s for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore options and state saved by state_dict(); tensors move to each parameter's device."""
        state_dict = copy.copy(state_dict)
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(self.param_groups, saved)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of optimizer's "
                             "group")
        by_index = {i: p for g, s in zip(self.param_groups, saved) for i, p in zip(s["params"], g["params"])}
        self.state = defaultdict(dict)
        for i, values in state_dict["state"].items():
            p = by_index.get(int(i))
            if p is None:
                continue
            self.state[p] = {k: self._cast(p, k, v) for k, v in values.items()}
        for g, s in zip(self.param_groups, saved):
            g.update({k: v for k, v in s.items() if k != "params"})

    @staticmethod
    def _cast(p: Tensor, key: str, value: Any) -> Any:
        if not isinstance(value, Tensor):
            return value
        # 'step' stays a host tensor, as PyTorch's (not capturable); other state follows the parameter's dtype, device
        return (value if key == "step" else value.to(p.device, p.dtype)).clone()

    def __repr__(self) -> str:
        s = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    s += f"    {key}: {group[key]}\n"
        return s + ")"


def check(cond: bool, message: str) -> None:
    """Raise PyTorch's ValueError for an invalid hyper-parameter."""
    if not cond:
        raise ValueError(message)


def step_count(state: dict[str, Any]) -> float:
    """Advance the per-parameter step counter and return it: a 0-d float32 tensor on the host, as PyTorch keeps it
    (reading it back from a device would wait for the device every step)."""
    from distgrad.creation import tensor
    from distgrad.dtypes import float32
    if "step" not in state:
        state["step"] = tensor(0.0, dtype=float32)
    state["step"].add_(1)
    return state["step"].item()
