"""torch.einsum, composed from diagonal, sum, expand, permute, reshape and bmm (autograd needs nothing new).

Subscripts become integer labels: letters in PyTorch's order (A-Z then a-z, the order of an implicit output) 0-51,
the dimensions an ellipsis covers labels from 52 up, aligned to the right across operands as broadcasting aligns them
(an operand's last such dimension always has the highest label).
"""
from __future__ import annotations

import string
from typing import Any

from distgrad.dims import numel

_LETTERS = string.ascii_uppercase + string.ascii_lowercase
_ELLIPSIS = len(_LETTERS)           # first label of the dimensions an ellipsis covers
_MAX_DIMS = 64                      # more dimensions than any operand's ellipsis covers


def einsum(*args: Any) -> Any:
    """einsum(equation, *operands), einsum(equation, [operands]) or einsum(op0, sublist0, op1, ..., [out_sublist])."""
    from distgrad.tensor import Tensor
    if len(args) < 2:
        raise ValueError("einsum(): must specify the equation string and at least one operand, or at least one "
                         "operand and its subscripts list")
    if isinstance(args[0], str):
        equation, operands = args[0], args[1:]
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = tuple(operands[0])
    else:
        equation, operands = _sublist_equation(args), args[0:len(args) - len(args) % 2:2]
    for i, op in enumerate(operands):
        if not isinstance(op, Tensor):
            raise TypeError(f"expected Tensor as element {i} in argument 1, but got {type(op).__name__}")
    subscripts, output = _parse(equation, len(operands))
    labelled = [_label(op, subs, i) for i, (op, subs) in enumerate(zip(operands, subscripts))]
    n_ellipsis = max([sum(label >= _ELLIPSIS for label in labels) for _, labels in labelled], default=0)
    if output is None:
        once = sorted(c for c in set().union(*subscripts) - {"..."} if sum(s.count(c) for s in subscripts) == 1)
        output = list(_ellipsis_labels(n_ellipsis)) + once
    else:
        output = [x for c in output for x in (_ellipsis_labels(n_ellipsis) if c == "..." else [c])]
    _check_sizes(labelled)
    result, labels = labelled[0]
    for i, (op, op_labels) in enumerate(labelled[1:], start=1):
        keep = set(output).union(*(ls for _, ls in labelled[i + 1:]))
        result, labels = _contract(result, labels, op, op_labels, keep)
    summed = [d for d, label in enumerate(labels) if label not in output]
    if summed:
        result, labels = result.sum(summed), [label for label in labels if label in output]
    return result.permute([labels.index(label) for label in output])     # a new tensor even for einsum("ij", x)


def _sublist_equation(args: tuple) -> str:
    """The equation a sublist call means: einsum(a, [0, 1], b, [1, 2], [0, 2]) is einsum('AB,BC->AC', a, b)."""
    def subscripts(sublist: Any) -> str:
        out = []
        for s in sublist:
            if s is Ellipsis:
                out.append("...")
            elif not 0 <= s < _ELLIPSIS:
                raise ValueError("einsum(): subscript in subscript list is not within the valid range [0, 52)")
            else:
                out.append(_LETTERS[s])
        return "".join(out)
    inputs = ",".join(subscripts(s) for s in args[1::2])
    return inputs + ("->" + subscripts(args[-1]) if len(args) % 2 else "")


def _parse(equation: str, n_operands: int) -> tuple[list[list[Any]], list[Any] | None]:
    """Each operand's subscripts and the output's (None when implicit): letters as labels, "..." for an ellipsis."""
    arrow = equation.find("->")
    lhs_end = arrow if arrow >= 0 else len(equation)
    subscripts: list[list[Any]] = [[]]
    i = 0
    while i < lhs_end:
        c = equation[i]
        if c == ",":
            if len(subscripts) == n_operands:
                raise RuntimeError("einsum(): fewer operands were provided than specified in the equation")
            subscripts.append([])
        elif c == ".":
            if "..." in subscripts[-1]:
                raise RuntimeError(f"einsum(): found '.' for operand {len(subscripts) - 1} for which an ellipsis was "
                                   "already found")
            if equation[i:i + 3] != "...":
                raise RuntimeError(f"einsum(): found '.' for operand {len(subscripts) - 1} that is not part of any "
                                   "ellipsis")
            subscripts[-1].append("...")
            i += 2
        elif c != " ":
            subscripts[-1].append(_letter(equation, i))
        i += 1
    if len(subscripts) < n_operands:
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")
    return subscripts, None if arrow < 0 else _parse_output(equation, arrow + 2, subscripts)


def _parse_output(equation: str, start: int, subscripts: list[list[Any]]) -> list[Any]:
    output: list[Any] = []
    i = start
    while i < len(equation):
        c = equation[i]
        if c == ".":
            if "..." in output:
                raise RuntimeError("einsum(): found '.' for output but an ellipsis (...) was already found")
            if equation[i:i + 3] != "...":
                raise RuntimeError("einsum(): found '.' for output that is not part of any ellipsis (...)")
            output.append("...")
            i += 2
        elif c != " ":
            label = _letter(equation, i)
            if label in output:
                raise RuntimeError(f"einsum(): output subscript {c} appears more than once in the output")
            if not any(label in s for s in subscripts):
                raise RuntimeError(f"einsum(): output subscript {c} does not appear in the equation for any input "
                                   "operand")
            output.append(label)
        i += 1
    return output


def _letter(equation: str, i: int) -> int:
    c = equation[i]
    if c not in _LETTERS:
        raise RuntimeError(f"einsum(): invalid subscript given at index {i} in the equation string, subscripts must "
                           "be in [a-zA-Z]")
    return _LETTERS.index(c)


def _label(op: Any, subscripts: list[Any], index: int) -> tuple[Any, list[int]]:
    """The operand with one dimension per distinct label (a repeated label takes the diagonal), and its labels."""
    n = len(subscripts) - ("..." in subscripts)
    if "..." not in subscripts and n != op.ndim:
        raise RuntimeError(f"einsum(): the number of subscripts in the equation ({n}) does not match the number of "
                           f"dimensions ({op.ndim}) for operand {index} and no ellipsis was given")
    if n > op.ndim:
        raise RuntimeError(f"einsum(): the number of subscripts in the equation ({n}) is more than the number of "
                           f"dimensions ({op.ndim}) for operand {index}")
    labels = [x for s in subscripts for x in (_ellipsis_labels(op.ndim - n) if s == "..." else [s])]
    for label in sorted(set(labels), key=labels.index):
        while labels.count(label) > 1:
            first, second = [d for d, other in enumerate(labels) if other == label][:2]
            if op.shape[first] != op.shape[second]:
                raise RuntimeError(f"einsum(): subscript {_LETTERS[label]} is repeated for operand {index} but the "
                                   f"sizes don't match, {op.shape[second]} != {op.shape[first]}")
            op = op.diagonal(0, first, second)
            labels = [other for d, other in enumerate(labels) if d not in (first, second)] + [label]
    return op, labels


def _ellipsis_labels(n: int) -> range:
    """The labels of the last n of the dimensions ellipses cover (right-aligned, as broadcasting aligns them)."""
    return range(_ELLIPSIS + _MAX_DIMS - n, _ELLIPSIS + _MAX_DIMS)


def _check_sizes(labelled: list[tuple[Any, list[int]]]) -> None:
    """A label's sizes must agree across operands, where size 1 broadcasts."""
    seen: dict[int, int] = {}
    for i, (op, labels) in enumerate(labelled):
        for d, label in enumerate(labels):
            size, previous = op.shape[d], seen.get(label, 1)
            if size != 1 and previous not in (1, size):
                if label >= _ELLIPSIS:
                    raise RuntimeError(f"einsum(): dimension {d} covered by ellipsis in operand {i}has size {size} "
                                       f"which does not broadcast with previously seen ellipsis with size {previous} "
                                       "for the respective dimension")
                raise RuntimeError(f"einsum(): subscript {_LETTERS[label]} has size {size} for operand {i} which does "
                                   f"not broadcast with previously seen size {previous}")
            seen[label] = max(size, previous)


def _sum_out(t: Any, labels: list[int], needed: set[int]) -> tuple[Any, list[int]]:
    """Sum over the labels nothing else needs."""
    dims = [d for d, label in enumerate(labels) if label not in needed]
    return (t.sum(dims), [label for label in labels if label in needed]) if dims else (t, labels)


def _contract(a: Any, la: list[int], b: Any, lb: list[int], keep: set[int]) -> tuple[Any, list[int]]:
    """a and b multiplied and summed over the labels they share that keep lacks, as one bmm: the shared labels in keep
    are its batch, the others its inner dimension."""
    a, la = _sum_out(a, la, keep.union(lb))
    b, lb = _sum_out(b, lb, keep.union(la))
    batch = [label for label in la if label in lb and label in keep]
    inner = [label for label in la if label in lb and label not in keep]
    left, right = [label for label in la if label not in lb], [label for label in lb if label not in la]
    size = dict(zip(lb, b.shape))
    for label, n in zip(la, a.shape):
        size[label] = max(n, size.get(label, 1))

    def matrices(t: Any, labels: list[int], rows: list[int], columns: list[int]) -> Any:
        order = batch + rows + columns
        t = _permuted(t, labels, order).expand([size[label] for label in order])
        return t.reshape(numel([size[x] for x in batch]), numel([size[x] for x in rows]),
                         numel([size[x] for x in columns]))
    product = matrices(a, la, left, inner).bmm(matrices(b, lb, inner, right))
    return product.reshape([size[label] for label in batch + left + right]), batch + left + right


def _permuted(t: Any, labels: list[int], order: list[int]) -> Any:
    """t with its dimensions (named by labels) in the given order; t itself when they already are."""
    dims = [labels.index(label) for label in order]
    return t if dims == list(range(len(dims))) else t.permute(dims)
