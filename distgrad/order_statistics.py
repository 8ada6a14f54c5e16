"""Order statistics along a dim: median, kthvalue, mode, cummax, cummin. A mixin of Tensor: each finds indices
without gradient (sort, comparisons) and gathers the values, so the gradient goes to the element each index names."""
from __future__ import annotations

from typing import Any

from distgrad.backends.base import int64
from distgrad.dims import wrap_dim


class OrderStatisticsOps:
    """Tensor's median, kthvalue, mode, cummax, cummin (the class body only uses Tensor's public methods)."""

    __slots__ = ()

    def _select_sorted(self, name: str, position: Any, dim: int, keepdim: bool) -> Any:
        """(values, indices) of the element at position(n) of the stably sorted dim; a NaN in the dim wins, as in
        PyTorch's median (a NaN sorts last, which kthvalue's positions already respect)."""
        from distgrad import return_types
        if not self.ndim:
            position(1)                                      # kthvalue checks its k against the one element
            return getattr(return_types, name)((self.clone(), self.new_zeros((), dtype=int64)))
        d = wrap_dim(dim, self.ndim)
        self._check_nonempty(name, (d,))
        x = self.detach()
        index = x.argsort(d, stable=True).narrow(d, position(x.shape[d]), 1)
        if name == "median" and x.dtype.is_floating_point:
            nan = x.isnan()
            index = nan.to(int64).argmax(d, keepdim=True).where(nan.any(d, keepdim=True), index)
        values = self.gather(d, index)
        return getattr(return_types, name)((values, index) if keepdim else (values.squeeze(d), index.squeeze(d)))

    def median(self, dim: int | None = None, keepdim: bool = False) -> Any:
        """The lower median: of all elements, or (values, indices) along dim. NaN if a NaN is present."""
        if dim is not None:
            return self._select_sorted("median", lambda n: (n - 1) // 2, dim, keepdim)
        if not self.numel():
            return self.new_full((), float("nan"))
        return self.reshape(-1)._select_sorted("median", lambda n: (n - 1) // 2, 0, False).values

    def kthvalue(self, k: int, dim: int = -1, keepdim: bool = False) -> Any:
        """(values, indices) of the k-th smallest element along dim (k from 1)."""
        def position(n: int) -> int:
            if not 1 <= k <= n:
                raise RuntimeError(f"kthvalue(): selected number k out of range for dimension "
                                   f"{wrap_dim(dim, self.ndim)}")
            return k - 1
        return self._select_sorted("kthvalue", position, dim, keepdim)

    def mode(self, dim: int = -1, keepdim: bool = False) -> Any:
        """(values, indices) of the most frequent value along dim: the smallest of equally frequent ones, at its last
        position (as PyTorch)."""
        from distgrad import return_types
        from distgrad.creation import arange
        if not self.ndim:
            return return_types.mode((self.clone(), self.new_zeros((), dtype=int64)))
        d = wrap_dim(dim, self.ndim)
        self._check_nonempty("mode", (d,))
        x, n = self.detach(), self.shape[d]
        ordered = x.sort(d, stable=True).values
        position = arange(n, device=self.device).reshape([-1 if k == d else 1 for k in range(self.ndim)])
        # each position's run of equal values starts at the last change before it (position 0 counts as 0 anyway)
        run_start = (position * (ordered != ordered.roll(1, d)).to(int64)).cummax(d).values
        longest = (position - run_start).argmax(d, keepdim=True)       # the first longest run: the smallest value
        value = ordered.gather(d, longest)
        index = (x == value).to(int64).mul(position + 1).argmax(d, keepdim=True)   # its last position
        values = self.gather(d, index)
        return return_types.mode((values, index) if keepdim else (values.squeeze(d), index.squeeze(d)))

    def _cumulative_extreme(self, name: str, dim: int) -> Any:
        """(values, indices) of the running max or min: log2(n) steps that merge each position with the one 2^k
        before it; a later equal value or NaN wins, as in PyTorch."""
        from distgrad import return_types
        from distgrad.creation import arange
        from distgrad.joining import cat
        if not self.ndim:
            return getattr(return_types, name)((self.clone(), self.new_zeros((), dtype=int64)))
        d = wrap_dim(dim, self.ndim)
        x, n = self.detach(), self.shape[d]
        best = x
        index = arange(n, device=self.device).reshape([-1 if k == d else 1 for k in range(self.ndim)]).expand(x.shape)
        step = 1
        while step < n:
            earlier, later = best.narrow(d, 0, n - step), best.narrow(d, step, n - step)
            take_later = ((later >= earlier) if name == "cummax" else (later <= earlier)) | later.isnan()
            best = cat([best.narrow(d, 0, step), later.where(take_later, earlier)], d)
            index = cat([index.narrow(d, 0, step),
                         index.narrow(d, step, n - step).where(take_later, index.narrow(d, 0, n - step))], d)
            step *= 2
        return getattr(return_types, name)((self.gather(d, index), index))

    def cummax(self, dim: int) -> Any:
        """(values, indices) of the running maximum along dim."""
        return self._cumulative_extreme("cummax", dim)

    def cummin(self, dim: int) -> Any:
        """(values, indices) of the running minimum along dim."""
        return self._cumulative_extreme("cummin", dim)
