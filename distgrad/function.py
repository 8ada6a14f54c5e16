"""Autograd machinery: grad mode, Function (one per differentiable op), graph nodes and the backward engine.

NOTE [ Graph ]
Function.apply runs `forward` on Views. When grad mode is on and an input requires grad, it creates a node, an
instance of the Function's `Node` subclass named like PyTorch's (`MulBackward0`); the node is the output's grad_fn.
A node keeps `next_functions` (one (node, 0) pair per input: the input's grad_fn, an AccumulateGrad for a leaf that
requires grad, or None) and what forward saved. Every Function has exactly one differentiable output.
The engine (run_backward) orders nodes topologically from the roots, sums the gradients arriving at each node, runs
tensor hooks, then the node's backward, and AccumulateGrad nodes add into leaves' `.grad`. Views and in-place writes
rewrite the graph as NOTE [ Views and in-place ] (distgrad/inplace.py) describes.

NOTE [ Saved tensors and versions ]
save_for_backward records each View with its Storage.version; every in-place write bumps the version, so a backward
that would read overwritten data raises PyTorch's "modified by an inplace operation" RuntimeError instead of giving a
wrong gradient. Without retain_graph, a node drops its saved Views after its backward has run.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from distgrad import prims as P
from distgrad.backends.base import View

_grad_enabled = [True]


def is_grad_enabled() -> bool:
    """True when operations are being recorded for autograd."""
    return _grad_enabled[0]


class set_grad_enabled:
    """Context manager and decorator that turns gradient recording on or off."""

    def __init__(self, mode: bool) -> None:
        self.prev = _grad_enabled[0]
        self.mode = bool(mode)
        _grad_enabled[0] = self.mode          # PyTorch sets the mode at construction, so it works as a function too

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        _grad_enabled[0] = self.prev

    def __call__(self, fn: Callable) -> Callable:
        _grad_enabled[0] = self.prev          # used as a decorator: the mode applies only inside calls

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(self.mode):
                return fn(*args, **kwargs)
        return wrapper


class _GradMode:
    mode = True

    def __init__(self) -> None:
        self.prev = True

    def __enter__(self) -> None:
        self.prev = _grad_enabled[0]
        _grad_enabled[0] = self.mode

    def __exit__(self, *exc: object) -> None:
        _grad_enabled[0] = self.prev

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Context manager and decorator that disables gradient recording."""
    mode = False


class enable_grad(_GradMode):
    """Context manager and decorator that enables gradient recording."""
    mode = True


class _NeverNeeded:
    def __getitem__(self, i: int) -> bool:
        return False


class _NoGradContext:
    """The ctx forward gets when nothing is recorded: saving is a no-op."""
    needs_input_grad = _NeverNeeded()

    def save_for_backward(self, *xs: View) -> None:
        pass


NO_GRAD_CTX = _NoGradContext()


class Node:
    """A node of the backward graph (a Function's ctx); subclasses are named like PyTorch's grad_fn classes."""

    fn: type[Function]

    def __init__(self, inputs: tuple, needs_input_grad: tuple[bool, ...]) -> None:
        self.next_functions = tuple((_edge(t), 0) if need else (None, 0) for t, need in zip(inputs, needs_input_grad))
        self.needs_input_grad = needs_input_grad
        self._saved: list[tuple[View, int]] | None = []
        self._freed = False
        self._hooks: list[Callable] = []            # tensor hooks of the output (register_hook on a non-leaf)
        self._retained: Any = None                  # weakref to the output when it called retain_grad()
        self.metadata: dict = {}

    def save_for_backward(self, *xs: View | None) -> None:
        self._saved = [(x, -1 if x is None else x.storage.version) for x in xs]

    @property
    def saved_tensors(self) -> tuple[View | None, ...]:
        if self._freed:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved tensors after they "
                "have already been freed). Saved intermediate values of the graph are freed when you call "
                ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the graph "
                "a second time or if you need to access saved tensors after calling backward.")
        for x, version in self._saved:
            if x is not None and x.storage.version != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an inplace operation: "
                    f"[torch.{x.storage.dtype.legacy_name} {list(x.shape)}], which is output 0 of "
                    f"{type(self).__name__}, is at version {x.storage.version}; expected version {version} instead. "
                    "Hint: the backtrace further above can point to the operation that failed to compute its "
                    "gradient. The variable in question was changed in there or anywhere later. Good luck!")
        return tuple(x for x, _ in self._saved)

    def release(self) -> None:
        if self._saved:
            self._saved = None
            self._freed = True

    def apply_backward(self, grad: View) -> tuple[View | None, ...]:
        grads = self.fn.backward(self, grad)
        return grads if isinstance(grads, tuple) else (grads,)

    def name(self) -> str:
        return type(self).__name__

    def register_hook(self, fn: Callable) -> None:
        self._hooks.append(fn)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {id(self):#x}>"


class AccumulateGrad:
    """The graph node of a leaf tensor that requires grad: adds incoming gradients into `variable.grad`."""

    next_functions: tuple = ()

    def __init__(self, variable: Any) -> None:
        self.variable = variable
        self._hooks: list[Callable] = []
        self._post_hooks: list[Callable] = []

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {id(self):#x}>"


def _edge(t: Any) -> Node | AccumulateGrad | None:
    fn = t._grad_fn if t._base is None else t.grad_fn       # a view's grad_fn may need regenerating
    if fn is not None:
        return fn
    if t._requires_grad:
        acc = t._accumulator
        if acc is None:
            acc = t._accumulator = AccumulateGrad(t)
        return acc
    return None


class Function:
    """A differentiable op: `forward(ctx, *views, **args) -> View` and `backward(ctx, grad) -> grads` on Views."""

    grad_fn_name: str | None = None       # PyTorch's node name when it is not f"{cls.__name__}Backward0"
    Node: type[Node]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        name = cls.__dict__.get("grad_fn_name") or f"{cls.__name__}Backward0"
        cls.Node = type(name, (Node,), {"fn": cls, "__module__": "distgrad.autograd"})

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> View:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Any, grad: View) -> tuple[View | None, ...] | View | None:
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Any, **kwargs: Any) -> Any:
        if _grad_enabled[0]:
            for t in inputs:
                if t._requires_grad:
                    needs = tuple(t._requires_grad for t in inputs)
                    node = cls.Node(inputs, needs)
                    out = _make_tensor(cls.forward(node, *[t._view for t in inputs], **kwargs))
                    out._requires_grad = True
                    out._grad_fn = node
                    return out
        return _make_tensor(cls.forward(NO_GRAD_CTX, *[t._view for t in inputs], **kwargs))


class ViewFunction(Function):
    """A Function whose output shares its input's memory: the output records its base (NOTE [ Views and in-place ]
    in distgrad/inplace.py). A forward that had to copy (reshape of a non-viewable layout) makes no view."""

    @classmethod
    def apply(cls, x: Any, **kwargs: Any) -> Any:
        out = super().apply(x, **kwargs)
        storage = out._view.storage
        if storage is x._view.storage:
            out._base = x if x._base is None else x._base
            out._attr_version = storage.version
            if x._view_no_grad or not _grad_enabled[0]:
                out._view_no_grad = True
        return out


def _make_tensor(v: View) -> Any:
    """Replaced by Tensor._make when distgrad.tensor loads (that module imports this one, not the reverse)."""
    raise RuntimeError("distgrad.tensor is not loaded")


# ---------------------------------------------------------------------------------------------------------------- engine

def _topological(roots: list) -> list:
    """Nodes reachable from roots, each after every node that feeds it a gradient (micrograd's build_topo)."""
    order, seen = [], set()
    for root in roots:
        stack = [(root, iter(root.next_functions))]
        seen.add(id(root))
        while stack:
            node, children = stack[-1]
            for child, _ in children:
                if child is not None and id(child) not in seen:
                    seen.add(id(child))
                    stack.append((child, iter(child.next_functions)))
                    break
            else:
                stack.pop()
                order.append(node)
    order.reverse()
    return order


def _call_hooks(hooks: list[Callable], grad: View) -> View:
    for hook in hooks:
        new = hook(_make_tensor(grad))
        if new is not None:
            grad = new._view
    return grad


def run_backward(roots: list[tuple[Any, View]], retain_graph: bool, inputs: list | None = None) -> list | None:
    """Backpropagate gradients from (node, grad) roots. With `inputs`, return their gradients instead of accumulating."""
    grads: dict[int, View] = {}
    handed = {id(g.storage) for _, g in roots}      # storages a leaf's .grad must not take over (see _accumulate)
    for node, g in roots:
        grads[id(node)] = g if id(node) not in grads else P.add(grads[id(node)], g)
    wanted = None if inputs is None else {id(_edge(t)): i for i, t in enumerate(inputs)}
    results: list = [None] * len(inputs) if inputs is not None else []
    with no_grad():
        for node in _topological([n for n, _ in roots]):
            grad = grads.pop(id(node), None)
            if grad is None:
                continue
            if wanted is not None and id(node) in wanted:
                i = wanted[id(node)]
                results[i] = _make_tensor(_call_hooks(node._hooks, grad))
                if isinstance(node, AccumulateGrad):
                    continue
            if isinstance(node, AccumulateGrad):
                if inputs is None:
                    _accumulate(node, _call_hooks(node._hooks, grad), handed)
                continue
            if node._hooks:
                grad = _call_hooks(node._hooks, grad)
            if node._retained is not None:
                out = node._retained()
                if out is not None:
                    handed.add(id(grad.storage))
                    out.grad = _make_tensor(grad) if out.grad is None else _make_tensor(P.add(out.grad._view, grad))
            in_grads = node.apply_backward(grad)
            if not retain_graph:
                node.release()
            for (child, _), g in zip(node.next_functions, in_grads):
                if child is None or g is None:
                    continue
                prev = grads.get(id(child))
                grads[id(child)] = g if prev is None else P.add(prev, g)
    return results if inputs is not None else None


def _accumulate(acc: AccumulateGrad, grad: View, handed: set[int]) -> None:
    """Add grad into the leaf's .grad. A fresh, whole, contiguous gradient buffer that no other .grad or root holds is
    taken over without a copy (as PyTorch steals it); anything else is copied, so two .grad never share memory."""
    var = acc.variable
    if var.grad is None:
        st = grad.storage
        whole = grad.offset == 0 and st.size == grad.numel and grad.is_contiguous()
        if not whole or id(st) in handed:
            grad = P.copy(grad)
        handed.add(id(grad.storage))
        var.grad = _make_tensor(grad)
    else:
        g = var.grad
        if g._view.shape != grad.shape:
            raise RuntimeError(f"Function AccumulateGrad returned an invalid gradient - got {list(grad.shape)} "
                               f"but expected shape compatible with {list(g._view.shape)}")
        P.binary("add", g._view, grad, out=g._view)
        g._view.storage.version += 1
    for hook in acc._post_hooks:
        hook(var)
