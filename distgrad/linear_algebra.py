"""Matrix products and triangular/diagonal parts: a mixin of Tensor (its methods only use Tensor's)."""
from __future__ import annotations

from typing import Any

from distgrad import ops
from distgrad import views as V
from distgrad.dims import broadcast_shapes, check_same_device, numel, wrap_dim

# PyTorch 2.13's messages: mm names the C++ types, the others the scalar types
DTYPE_MISMATCH = {"mm": "expected m1 and m2 to have the same dtype, but got: {a_cpp} != {b_cpp}",
                  "bmm": "expected scalar type {a} but found {b}",
                  "addmm": "mat1 and mat2 must have the same dtype, but got {a} and {b}",
                  "dot": "dot : expected both vectors to have same dtype, but found {a} and {b}"}
_CPP_NAME = {"Double": "double", "Float": "float", "Half": "c10::Half", "Long": "long int", "Int": "int",
             "Short": "short int", "Char": "signed char", "Byte": "unsigned char", "Bool": "bool"}


def scalar_type_name(dtype: Any) -> str:
    """PyTorch's ScalarType name: Float, Long, ..."""
    return dtype.legacy_name.removesuffix("Tensor")


def cpp_type_name(dtype: Any) -> str:
    """The C++ type PyTorch names in some messages: float, long int, c10::Half, ..."""
    return _CPP_NAME[scalar_type_name(dtype)]


class LinearAlgebraOps:
    """mm, bmm, addmm, mv, addmv, baddbmm, addbmm, dot, outer, matmul (@), trace, diagonal, diag, triu, tril."""

    __slots__ = ()

    def _check_matmul_dtype(self, other: Any, name: str) -> None:
        check_same_device(self._view, other._view)
        if self.dtype is not other.dtype:
            a, b = scalar_type_name(self.dtype), scalar_type_name(other.dtype)
            raise RuntimeError(DTYPE_MISMATCH[name].format(a=a, b=b, a_cpp=_CPP_NAME[a], b_cpp=_CPP_NAME[b]))

    def mm(self, mat2: Any) -> Any:
        if self.ndim != 2 or mat2.ndim != 2:
            raise RuntimeError(f"{'self' if self.ndim != 2 else 'mat2'} must be a matrix")
        if self._view.shape[1] != mat2._view.shape[0]:
            raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({self.shape[0]}x{self.shape[1]} and "
                               f"{mat2.shape[0]}x{mat2.shape[1]})")
        self._check_matmul_dtype(mat2, "mm")
        return ops.Mm.apply(self, mat2)

    def bmm(self, mat2: Any) -> Any:
        if self.ndim != 3 or mat2.ndim != 3:
            raise RuntimeError("batch1 must be a 3D tensor" if self.ndim != 3 else "batch2 must be a 3D tensor")
        a, b = self._view.shape, mat2._view.shape
        if a[0] != b[0] or a[2] != b[1]:
            raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: [{a[0]}, {a[2]}] but "
                               f"got: [{b[0]}, {b[1]}].")
        self._check_matmul_dtype(mat2, "bmm")
        return ops.Bmm.apply(self, mat2)

    def _add_scaled(self, product: Any, beta: Any, alpha: Any) -> Any:
        """beta * self + alpha * product, self broadcast to product's shape; beta=0 ignores self (its nan and inf do not
        propagate), as PyTorch does."""
        scaled = product if alpha == 1 else product * alpha
        base = self.expand(product.shape)
        return scaled if beta == 0 else base + scaled if beta == 1 else base * beta + scaled

    def addmm(self, mat1: Any, mat2: Any, *, beta: float = 1, alpha: float = 1) -> Any:
        """beta * self + alpha * (mat1 @ mat2)."""
        if beta != 1 or alpha != 1:
            return self._add_scaled(mat1.mm(mat2), beta, alpha)
        if mat1.ndim != 2 or mat2.ndim != 2 or mat1.shape[1] != mat2.shape[0]:
            return self + mat1.mm(mat2)        # mm raises PyTorch's error for the bad shapes
        broadcast_shapes(self._view.shape, (mat1.shape[0], mat2.shape[1]))
        mat1._check_matmul_dtype(mat2, "addmm")
        check_same_device(self._view, mat1._view)
        if self.dtype is not mat2.dtype:
            raise RuntimeError(f"self and mat2 must have the same dtype, but got {scalar_type_name(self.dtype)} and "
                               f"{scalar_type_name(mat2.dtype)}")
        return ops.Addmm.apply(self, mat1, mat2)

    def addmv(self, mat: Any, vec: Any, *, beta: float = 1, alpha: float = 1) -> Any:
        """beta * self + alpha * (mat @ vec)."""
        if mat.ndim != 2 or vec.ndim != 1 or self.ndim > 1:
            raise RuntimeError(f"vector + matrix @ vector expected, got {self.ndim}, {mat.ndim}, {vec.ndim}")
        n, m = mat.shape
        if vec.shape[0] != m or self.numel() not in (1, n):
            raise RuntimeError(f"size mismatch, got input ({self.numel()}), mat ({n}x{m}), vec ({vec.shape[0]})")
        if not (self.dtype is mat.dtype is vec.dtype):
            raise RuntimeError(f"addmv input tensors must have the same dtype, but got {scalar_type_name(self.dtype)}, "
                               f"{scalar_type_name(mat.dtype)}, and {scalar_type_name(vec.dtype)}")
        return self._add_scaled(mat.mm(vec.unsqueeze(1)).squeeze(1), beta, alpha)

    def mv(self, vec: Any) -> Any:
        """Matrix @ vector."""
        # PyTorch checks mv as addmv into a result of vec's dtype, which its messages name
        return vec.new_zeros(self.shape[:1] if self.ndim else (1,)).addmv(self, vec, beta=0)

    def baddbmm(self, batch1: Any, batch2: Any, *, beta: float = 1, alpha: float = 1) -> Any:
        """beta * self + alpha * (batch1 @ batch2), per batch."""
        product = batch1.bmm(batch2)
        if self.dtype is not batch1.dtype:
            raise RuntimeError(f"Input dtypes must be the same, got: input {cpp_type_name(self.dtype)}, batch1: "
                               f"{cpp_type_name(batch1.dtype)}, batch2: {cpp_type_name(batch2.dtype)}")
        return self._add_scaled(product, beta, alpha)

    def addbmm(self, batch1: Any, batch2: Any, *, beta: float = 1, alpha: float = 1) -> Any:
        """beta * self + alpha * the sum over the batch of batch1[i] @ batch2[i], as one mm."""
        for name, t in (("batch1", batch1), ("batch2", batch2)):
            if t.ndim != 3:
                raise RuntimeError(f"{name} must be a 3D tensor")
        (b, n, m), (b2, m2, p) = batch1.shape, batch2.shape
        if b != b2:
            raise RuntimeError(f"batch1 and batch2 must have same number of batches, got {b} and {b2}")
        if m != m2:
            raise RuntimeError(f"Incompatible matrix sizes for bmm ({n}x{m} and {m2}x{p})")
        if self.dtype is not batch2.dtype:
            raise RuntimeError(f"self and mat2 must have the same dtype, but got {scalar_type_name(self.dtype)} and "
                               f"{scalar_type_name(batch2.dtype)}")
        product = batch1.permute(1, 0, 2).reshape(n, b * m).mm(batch2.reshape(b * m, p))
        return self._add_scaled(product, beta, alpha)

    def addmv_(self, mat: Any, vec: Any, *, beta: float = 1, alpha: float = 1) -> Any:
        return self._write(self.addmv(mat, vec, beta=beta, alpha=alpha))

    def baddbmm_(self, batch1: Any, batch2: Any, *, beta: float = 1, alpha: float = 1) -> Any:
        return self._write(self.baddbmm(batch1, batch2, beta=beta, alpha=alpha))

    def addbmm_(self, batch1: Any, batch2: Any, *, beta: float = 1, alpha: float = 1) -> Any:
        return self._write(self.addbmm(batch1, batch2, beta=beta, alpha=alpha))

    def dot(self, other: Any) -> Any:
        if self.ndim != 1 or other.ndim != 1:
            raise RuntimeError(f"1D tensors expected, but got {self.ndim}D and {other.ndim}D tensors")
        if self.numel() != other.numel():
            n, m = self.numel(), other.numel()
            raise RuntimeError(f"inconsistent tensor size, expected tensor [{n}] and src [{m}] to have the same number "
                               f"of elements, but got {n} and {m} elements respectively")
        self._check_matmul_dtype(other, "dot")
        return ops.Dot.apply(self, other)

    inner = dot

    def outer(self, other: Any) -> Any:
        return self.unsqueeze(1) * other.unsqueeze(0)

    ger = outer

    def matmul(self, other: Any) -> Any:
        """PyTorch's matmul: dot, mm, matrix-vector, and batched with broadcast batch dims."""
        if not isinstance(other, LinearAlgebraOps):
            raise TypeError(f"matmul(): argument 'other' must be Tensor, not {type(other).__name__}")
        a, b = self, other
        if a.ndim == 0 or b.ndim == 0:
            raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and "
                               f"{b.ndim}D")
        if a.ndim == 1 and b.ndim == 1:
            return a.dot(b)
        if a.ndim <= 2 and b.ndim <= 2:
            a2 = a.unsqueeze(0) if a.ndim == 1 else a
            b2 = b.unsqueeze(1) if b.ndim == 1 else b
            if a2.shape[1] != b2.shape[0]:
                raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({a2.shape[0]}x{a2.shape[1]} and "
                                   f"{b2.shape[0]}x{b2.shape[1]})")
            out = a2.mm(b2)
            return out.squeeze(0) if a.ndim == 1 else out.squeeze(1) if b.ndim == 1 else out
        a3 = a.unsqueeze(0) if a.ndim == 1 else a
        b3 = b.unsqueeze(1) if b.ndim == 1 else b
        if a3.shape[-1] != b3.shape[-2]:
            raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                               f"[{a3.shape[-1]}, {b3.shape[-2]}] but got: [{b3.shape[-2]}, {b3.shape[-1]}].")
        batch = broadcast_shapes(a3.shape[:-2], b3.shape[:-2])
        nb = numel(batch)
        x = a3.expand(*batch, *a3.shape[-2:]).reshape(nb, *a3.shape[-2:])
        y = b3.expand(*batch, *b3.shape[-2:]).reshape(nb, *b3.shape[-2:])
        out = x.bmm(y).reshape(*batch, a3.shape[-2], b3.shape[-1])
        if a.ndim == 1:
            out = out.squeeze(-2)
        if b.ndim == 1:
            out = out.squeeze(-1)
        return out

    def trace(self) -> Any:
        if self.ndim != 2:
            raise RuntimeError("trace: expected a matrix, but got tensor with dim " + str(self.ndim))
        return self.diagonal().sum()

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Any:
        d1, d2 = wrap_dim(dim1, self.ndim), wrap_dim(dim2, self.ndim)
        if d1 == d2:
            raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
        return ops.Diagonal.apply(self, layout=lambda v: V.diagonal(v, offset, d1, d2))

    def diag(self, diagonal: int = 0) -> Any:
        """The diagonal of a matrix, or a matrix with the vector on its diagonal."""
        if self.ndim == 2:
            return self.diagonal(diagonal)
        if self.ndim != 1:
            raise RuntimeError("diag(): Supports 1D or 2D tensors. Got " + f"{self.ndim}D")
        n = self.shape[0] + abs(diagonal)
        return _diag_embed(self, self.new_zeros((n, n)), diagonal)

    def triu(self, diagonal: int = 0) -> Any:
        return self.masked_fill(_tri_mask(self, diagonal, upper=False), 0)

    def tril(self, diagonal: int = 0) -> Any:
        return self.masked_fill(_tri_mask(self, diagonal, upper=True), 0)


def _tri_mask(x: Any, diagonal: int, upper: bool) -> Any:
    """True where triu/tril zero an element: (col - row) < diagonal for triu, > diagonal for tril."""
    from distgrad.creation import arange
    if x.ndim < 2:
        raise RuntimeError("tril/triu: input tensor must have at least 2 dimensions")
    rows = arange(x.shape[-2], device=x.device).unsqueeze(1)
    cols = arange(x.shape[-1], device=x.device).unsqueeze(0)
    offset = cols - rows
    return (offset > diagonal) if upper else (offset < diagonal)


def _diag_embed(v: Any, out: Any, diagonal: int) -> Any:
    """A matrix holding v on a diagonal (differentiable through where)."""
    from distgrad.creation import arange
    from distgrad.joining import where
    n = out.shape[0]
    rows = arange(n, device=v.device).unsqueeze(1)
    cols = arange(n, device=v.device).unsqueeze(0)
    on = (cols - rows) == diagonal
    k = rows if diagonal >= 0 else cols          # position along the diagonal
    padded = v.reshape(-1)
    idx = k.expand(n, n).clamp(max=max(0, v.numel() - 1))
    picked = padded[idx]
    return where(on, picked, out)
