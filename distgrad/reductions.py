"""Reductions, scans, sorting and comparisons of whole tensors: a mixin of Tensor (its methods only use Tensor's)."""
from __future__ import annotations

import builtins
import math
from typing import Any

from distgrad import ops
from distgrad import prims as P
from distgrad.backends.base import DType, bool_, int64
from distgrad.dims import wrap_dim, wrap_dims


class ReductionOps:
    """sum, mean, prod, amax/amin, max/min, arg*, sort/topk, cumsum/cumprod, norm, var/std, logsumexp, all/any,
    allclose/isclose/equal."""

    __slots__ = ()

    def sum(self, dim: Any = None, keepdim: bool = False, *, dtype: DType | None = None) -> Any:
        x = self.to(dtype) if dtype is not None else self.to(int64) if not self.dtype.is_floating_point else self
        return (ops.Sum if dim is None else ops.SumDim).apply(x, axes=wrap_dims(dim, x.ndim), keepdim=keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False, *, dtype: DType | None = None) -> Any:
        x = self.to(dtype) if dtype is not None else self
        if not x.dtype.is_floating_point:
            raise RuntimeError("mean(): could not infer output dtype. Input dtype must be either a floating point or "
                               f"complex dtype. Got: {x.dtype.legacy_name.replace('Tensor', '')}")
        return (ops.Mean if dim is None else ops.MeanDim).apply(x, axes=wrap_dims(dim, x.ndim), keepdim=keepdim)

    def nansum(self, dim: Any = None, keepdim: bool = False) -> Any:
        return self.masked_fill(self.isnan(), 0).sum(dim, keepdim)

    def prod(self, dim: int | None = None, keepdim: bool = False, *, dtype: DType | None = None) -> Any:
        x = self.to(dtype) if dtype is not None else self.to(int64) if not self.dtype.is_floating_point else self
        if dim is None:
            return ops.Prod.apply(x, axes=tuple(range(x.ndim)), keepdim=False) if x.ndim else x.clone()
        return ops.Prod.apply(x, axes=wrap_dims(dim, x.ndim), keepdim=keepdim) if x.ndim else x.clone()

    def _check_nonempty(self, name: str, dims: tuple[int, ...], all_dims: bool = False) -> None:
        # PyTorch: RuntimeError for a full reduction of an empty tensor, IndexError for an empty reduced dim
        if all_dims or not dims:
            if self.numel() == 0:
                if name.startswith("arg"):
                    raise IndexError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0.")
                raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                                   "Specify the reduction dim with the 'dim' argument.")
            return
        for d in dims:
            if self._view.shape[d] == 0:
                raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")

    def amax(self, dim: Any = (), keepdim: bool = False) -> Any:
        dims = wrap_dims(dim if dim != () else None, self.ndim)
        self._check_nonempty("amax", dims, dim in ((), None))
        return ops.Amax.apply(self, axes=dims, keepdim=keepdim) if dims else self.clone()

    def amin(self, dim: Any = (), keepdim: bool = False) -> Any:
        dims = wrap_dims(dim if dim != () else None, self.ndim)
        self._check_nonempty("amin", dims, dim in ((), None))
        return ops.Amin.apply(self, axes=dims, keepdim=keepdim) if dims else self.clone()

    def _extreme(self, name: str, dim: Any, keepdim: bool, other: Any) -> Any:
        from distgrad import return_types
        if isinstance(dim, ReductionOps):
            return self.maximum(dim) if name == "max" else self.minimum(dim)
        if dim is None:
            self._check_nonempty(name, (), True)
            fn = ops.MaxAll if name == "max" else ops.MinAll
            return fn.apply(self, axes=tuple(range(self.ndim)), keepdim=False) if self.ndim else self.clone()
        d = wrap_dim(dim, self.ndim)
        if not self.ndim:
            return getattr(return_types, name)((self.clone(), self.new_zeros((), dtype=int64)))
        self._check_nonempty(name, (d,))
        index = self._make(P.arg_reduce("arg" + name, self._view, d, keepdim=True))
        values = (ops.MaxDim if name == "max" else ops.MinDim).apply(self, index, dim=d, keepdim=keepdim)
        if not keepdim:
            index = index.squeeze(d)
        return getattr(return_types, name)((values, index))

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        """max() of all elements, max(dim) as (values, indices), or max(other) elementwise."""
        return self._extreme("max", dim, keepdim, None)

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        return self._extreme("min", dim, keepdim, None)

    def _arg(self, op: str, dim: int | None, keepdim: bool) -> Any:
        if dim is None:
            self._check_nonempty(op, ())
            return self._make(P.arg_reduce(op, self.reshape(-1)._view, 0, False))
        d = wrap_dim(dim, self.ndim)
        if not self.ndim:
            return self.new_zeros((), dtype=int64)
        return self._make(P.arg_reduce(op, self._view, d, keepdim))

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Any:
        return self._arg("argmax", dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Any:
        return self._arg("argmin", dim, keepdim)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
        if not self.ndim:
            return self.new_zeros((), dtype=int64)
        return self._make(P.argsort(self._view, wrap_dim(dim, self.ndim), descending))

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
        from distgrad import return_types
        index = self.argsort(dim, descending)
        return return_types.sort((self.gather(dim, index) if self.ndim else self.clone(), index))

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
        from distgrad import return_types
        values, index = self.sort(dim, descending=largest)
        return return_types.topk((values.narrow(dim, 0, k), index.narrow(dim, 0, k)))

    def _scan(self, fn: type, dim: int, dtype: DType | None) -> Any:
        x = self.to(dtype) if dtype is not None else self.to(int64) if not self.dtype.is_floating_point else self
        return fn.apply(x, axis=wrap_dim(dim, x.ndim)) if x.ndim else x.clone()

    def cumsum(self, dim: int, *, dtype: DType | None = None) -> Any:
        return self._scan(ops.Cumsum, dim, dtype)

    def cumprod(self, dim: int, *, dtype: DType | None = None) -> Any:
        return self._scan(ops.Cumprod, dim, dtype)

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: DType | None = None) -> Any:
        x = (self.to(dtype) if dtype is not None else self)._floating()
        dims = wrap_dims(dim, x.ndim)
        if p in ("fro", 2, 2.0):
            return ops.Norm.apply(x, axes=dims, keepdim=keepdim) if dims else x.abs()
        if p in (math.inf, "inf"):
            return x.abs().amax(dims, keepdim) if dims else x.abs()
        if p in (-math.inf,):
            return x.abs().amin(dims, keepdim) if dims else x.abs()
        if p == 1:
            return x.abs().sum(dims, keepdim)
        if p == 0:
            return (x != 0).to(x.dtype).sum(dims, keepdim)
        return (x.abs() ** p).sum(dims, keepdim) ** (1.0 / p)

    def var(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: int | None = None) -> Any:
        """Variance with Bessel's correction by default (correction=1), as PyTorch."""
        x = self._floating()
        return ops.Var.apply(x, axes=wrap_dims(dim, x.ndim), correction=_correction(unbiased, correction),
                             keepdim=keepdim)

    def std(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: int | None = None) -> Any:
        x = self._floating()
        return ops.Std.apply(x, axes=wrap_dims(dim, x.ndim), correction=_correction(unbiased, correction),
                             keepdim=keepdim)

    def logsumexp(self, dim: Any, keepdim: bool = False) -> Any:
        x = self._floating()
        dims = wrap_dims(dim, x.ndim)
        return ops.Logsumexp.apply(x, axes=dims, keepdim=keepdim) if dims else x.clone()

    def all(self, dim: Any = None, keepdim: bool = False) -> Any:
        return self._logical_reduce("min", True, dim, keepdim)

    def any(self, dim: Any = None, keepdim: bool = False) -> Any:
        return self._logical_reduce("max", False, dim, keepdim)

    def _logical_reduce(self, op: str, empty: bool, dim: Any, keepdim: bool) -> Any:
        """all (min) / any (max) over bools; an empty reduction gives `empty`, as PyTorch."""
        b = self if self.dtype is bool_ else self != 0
        if not b.ndim:
            return b.clone()
        if not b.numel():
            return self.new_full(() if dim is None else b.sum(dim, keepdim).shape, empty, dtype=bool_)
        return self._make(P.reduce(op, b._view, wrap_dims(dim, b.ndim), keepdim))

    def count_nonzero(self, dim: Any = None) -> Any:
        return (self != 0).sum(dim)

    def allclose(self, other: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
        return builtins.bool(self.isclose(other, rtol, atol, equal_nan).all())

    def isclose(self, other: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> Any:
        a, b = self._broadcast(other)
        close = (a - b).abs() <= atol + rtol * b.abs()
        close = close | (a == b)
        return close | (a.isnan() & b.isnan()) if equal_nan else close

    def equal(self, other: Any) -> bool:
        return self.shape == other.shape and builtins.bool((self == other).all())


def _moments(name: str, input: Any, dim: Any, unbiased: Any, keepdim: bool, correction: Any) -> tuple[Any, Any]:
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"{name} only support floating point and complex dtypes")
    spread = input.std if name == "std_mean" else input.var
    return spread(dim, unbiased, keepdim, correction=correction), input.mean(dim, keepdim)


def _correction(unbiased: bool | None, correction: int | None) -> int:
    """The degrees-of-freedom correction: `correction`, else 0 for unbiased=False, else Bessel's 1."""
    return (0 if unbiased is False else 1) if correction is None else correction


def std_mean(input: Any, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
             correction: int | None = None) -> tuple[Any, Any]:
    """(std, mean) over dim, Bessel-corrected by default as std."""
    return _moments("std_mean", input, dim, unbiased, keepdim, correction)


def var_mean(input: Any, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
             correction: int | None = None) -> tuple[Any, Any]:
    """(var, mean) over dim, Bessel-corrected by default as var."""
    return _moments("var_mean", input, dim, unbiased, keepdim, correction)
