"""Tensor: a View plus autograd fields. Broadcasting, type promotion and composites live here; each differentiable op
is one Function in ops.py. Method families are mixins in their own modules: shaping.py (views and rearranging copies),
reductions.py, linear_algebra.py, bitwise.py."""
from __future__ import annotations

import builtins
import math
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from distgrad import function, inplace, ops
from distgrad import prims as P
from distgrad import views as V
from distgrad.backends.base import DType, View, bool_, contiguous_strides, int64
from distgrad.bitwise import BitwiseOps
from distgrad.device import as_device, backend_for
from distgrad.dims import broadcast_shapes, check_same_device, numel, shape_arg, wrap_dim
from distgrad.dtypes import BY_NAME, LEGACY, get_default_dtype, result_type
from distgrad.function import AccumulateGrad, is_grad_enabled
from distgrad.linear_algebra import LinearAlgebraOps
from distgrad.order_statistics import OrderStatisticsOps
from distgrad.pointwise import PointwiseOps
from distgrad.rearranging import RearrangeOps
from distgrad.reductions import ReductionOps
from distgrad.shaping import ShapeOps
from distgrad.size import Size

_new = object.__new__


class Tensor(ShapeOps, ReductionOps, OrderStatisticsOps, LinearAlgebraOps, PointwiseOps, RearrangeOps, BitwiseOps):
    """A multi-dimensional array on a device, with autograd (PyTorch's torch.Tensor)."""

    # Only _view is a slot; the autograd fields default to these class attributes, so making a tensor on the hot
    # path is one attribute write. A tensor that gets a grad or grad_fn stores it in its __dict__.
    __slots__ = ("__dict__", "__weakref__", "_view")
    __array_priority__ = 1000      # ndarray op Tensor defers to Tensor's reflected operator
    _requires_grad = False
    grad: Tensor | None = None
    _grad_fn: Any = None
    _accumulator: AccumulateGrad | None = None
    _base: Tensor | None = None      # a view's base, whose memory it shares (NOTE [ Views and in-place ])
    _attr_version = 0                # the storage version when a view's grad_fn was set
    _view_no_grad = False            # a view made under no_grad

    # ---------------------------------------------------------------------------------------------- construction

    @staticmethod
    def _make(v: View) -> Tensor:
        t = _new(Tensor)
        t._view = v
        return t

    def __init__(self, *args: Any, device: Any = None) -> None:
        """Legacy constructor: Tensor(2, 3) is uninitialised float32, Tensor([1, 2]) / Tensor(ndarray) copies."""
        from distgrad.creation import empty, from_numpy, tensor
        if len(args) == 1 and type(args[0]).__name__ == "ndarray" and args[0].dtype == get_default_dtype().np:
            src = from_numpy(args[0])          # PyTorch's legacy constructor shares a matching array's memory
        elif len(args) == 1 and not isinstance(args[0], int):
            src = tensor(args[0], dtype=get_default_dtype(), device=device)
        else:
            src = empty(*args, device=device)
        self._view = src._view

    # ---------------------------------------------------------------------------------------------- properties

    @property
    def shape(self) -> Size:
        return Size(self._view.shape)

    def size(self, dim: int | None = None) -> Size | int:
        """The shape, or the size of one dim."""
        if dim is None:
            return Size(self._view.shape)
        return self._view.shape[wrap_dim(dim, len(self._view.shape))]

    @property
    def dtype(self) -> DType:
        return self._view.storage.dtype

    @property
    def device(self):
        return self._view.storage.backend.device

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def ndim(self) -> int:
        return len(self._view.shape)

    def dim(self) -> int:
        return len(self._view.shape)

    ndimension = dim

    def numel(self) -> int:
        return numel(self._view.shape)

    nelement = numel

    def element_size(self) -> int:
        return self.dtype.itemsize

    def stride(self, dim: int | None = None) -> tuple[int, ...] | int:
        if dim is None:
            return self._view.strides
        return self._view.strides[wrap_dim(dim, self.ndim)]

    def storage_offset(self) -> int:
        return self._view.offset

    def data_ptr(self) -> int:
        """The address of the first element (cpu), or a stable per-buffer id plus offset on other devices."""
        buf = self._view.storage.buf
        base = buf.ctypes.data if hasattr(buf, "ctypes") else id(buf)
        return base + self._view.offset * self.dtype.itemsize

    def is_contiguous(self, memory_format: Any = None) -> bool:
        return self._view.is_contiguous()

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def is_complex(self) -> bool:
        return False

    @property
    def grad_fn(self) -> Any:
        """The graph node that made this tensor (None for leaves)."""
        if self._base is not None and self._attr_version != self._view.storage.version:
            return inplace.view_grad_fn(self)
        return self._grad_fn

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def _is_view(self) -> bool:
        """True when this tensor shares its base's memory (PyTorch's Tensor._is_view)."""
        return self._base is not None

    @property
    def _version(self) -> int:
        """The storage's version counter, bumped by every in-place write (PyTorch's Tensor._version)."""
        return self._view.storage.version

    @property
    def requires_grad(self) -> bool:
        """True when autograd records ops on this tensor (for a view, also when its base requires grad)."""
        return self._requires_grad or (self._base is not None and self._base._requires_grad)

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self.grad_fn is not None and not value:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If you want to use a "
                               "computed variable in a subgraph that doesn't require differentiation use "
                               "var_no_grad = var.detach().")
        if value and not self.dtype.is_floating_point:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    @property
    def data(self) -> Tensor:
        return Tensor._make(self._view)

    @data.setter
    def data(self, other: Tensor) -> None:
        self._view = other._view

    @property
    def T(self) -> Tensor:
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self) -> Tensor:
        return self.transpose(-2, -1)

    # ---------------------------------------------------------------------------------------------- autograd

    def backward(self, gradient: Tensor | None = None, retain_graph: bool | None = None, create_graph: bool = False,
                 inputs: Any = None) -> None:
        """Accumulate d(self)/d(leaf) into each leaf's .grad (PyTorch's Tensor.backward)."""
        from distgrad.autograd import backward
        backward(self, gradient, retain_graph, create_graph, inputs)

    def detach(self) -> Tensor:
        return Tensor._make(self._view)

    def detach_(self) -> Tensor:
        self._grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self) -> None:
        """Keep .grad for this non-leaf tensor after backward."""
        if self.grad_fn is None:
            if not self._requires_grad:
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
            return
        self.grad_fn._retained = weakref.ref(self)

    @property
    def retains_grad(self) -> bool:
        return self.grad_fn is not None and self.grad_fn._retained is not None

    def _graph_node(self):
        if self.grad_fn is not None:
            return self.grad_fn
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._accumulator is None:
            self._accumulator = AccumulateGrad(self)
        return self._accumulator

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> _RemovableHandle:
        """Call hook(grad) when this tensor's gradient is computed; a returned tensor replaces the gradient."""
        hooks = self._graph_node()._hooks
        hooks.append(hook)
        return _RemovableHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> _RemovableHandle:
        """Call hook(tensor) after a leaf's .grad has been updated."""
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        hooks = self._graph_node()._post_hooks
        hooks.append(hook)
        return _RemovableHandle(hooks, hook)

    # ---------------------------------------------------------------------------------------------- conversion

    def numpy(self, *, force: bool = False):
        """An ndarray sharing this tensor's memory (cpu only, as PyTorch)."""
        if self.device.type != "cpu":
            if force:
                return self.cpu().numpy()
            raise TypeError(f"can't convert {self.device} device type tensor to numpy. Use Tensor.cpu() to copy the "
                            "tensor to host memory first.")
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return self._view.storage.backend.to_numpy(self._view)

    def _host(self):
        """The values as an ndarray on the host (a copy for device tensors)."""
        return self._view.storage.backend.to_numpy(self._view)

    def __array__(self, dtype: Any = None, copy: Any = None):
        arr = self._host()
        return arr if dtype is None else arr.astype(dtype)

    def item(self) -> int | float | bool:
        n = self.numel()
        if n != 1:
            raise RuntimeError(f"a Tensor with {n} elements cannot be converted to Scalar")
        return self._host().reshape(()).item()

    def tolist(self) -> Any:
        return self._host().tolist()

    def _scalar(self, kind: type) -> Any:
        if self.numel() != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return kind(self.item())

    def __float__(self) -> float:
        return self._scalar(float)

    def __int__(self) -> int:
        return self._scalar(int)

    def __index__(self) -> int:
        if self.dtype.is_floating_point or self.dtype is bool_ or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return builtins.bool(self.item())

    def __format__(self, spec: str) -> str:
        if self.ndim == 0:
            return self.item().__format__(spec)
        return builtins.format(repr(self), spec)

    def __len__(self) -> int:
        if not self._view.shape:
            raise TypeError("len() of a 0-d tensor")
        return self._view.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if not self._view.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self.select(0, i) for i in range(self._view.shape[0]))

    def __hash__(self) -> int:
        return id(self)

    def __reduce_ex__(self, protocol: int):
        # DataLoader workers and multiprocessing pickle tensors as (values, dtype, requires_grad)
        return (_rebuild, (self.detach().cpu()._host().copy(), self.dtype.name, str(self.device),
                           self._requires_grad))

    def __repr__(self, *, tensor_contents: Any = None) -> str:
        from distgrad._tensor_str import tensor_repr
        suffixes = []
        if self.grad_fn is not None:
            suffixes.append(f"grad_fn=<{type(self.grad_fn).__name__}>")
        elif self._requires_grad:
            suffixes.append("requires_grad=True")
        device = None if self.device.type == "cpu" else str(self.device)
        return tensor_repr(self._host(), self.dtype, device=device, default_dtype=get_default_dtype(),
                           suffixes=suffixes)

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """Move and/or cast: to(device), to(dtype), to(device, dtype), to(other), with copy= and non_blocking=."""
        dtype, device, copy = kwargs.pop("dtype", None), kwargs.pop("device", None), kwargs.pop("copy", False)
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, DType):
                dtype = a
            elif isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            elif isinstance(a, builtins.bool) or a is None:
                continue
            else:
                device = a
        backend = None if device is None else backend_for(as_device(device))
        if backend is self._view.storage.backend:
            backend = None
        if dtype is self.dtype:
            dtype = None
        if backend is None and dtype is None:
            return self.clone() if copy else self
        if dtype is not None and backend is not None:
            return ops.ToCopy.apply(self, backend=backend).to(dtype)
        return ops.ToCopy.apply(self, dtype=dtype, backend=backend)

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self, device: Any = None, non_blocking: bool = False) -> Tensor:
        return self.to(as_device(device) if isinstance(device, int) else as_device(device or "cuda"))

    def opencl(self, device: Any = None) -> Tensor:
        return self.to(f"opencl:{device}" if isinstance(device, int) else (device or "opencl"))

    def type(self, dtype: Any = None, non_blocking: bool = False) -> str | Tensor:
        """With no argument the legacy type name (`torch.FloatTensor`); else a cast to a dtype or legacy type.

        As in PyTorch, a legacy type also names the device type: `torch.FloatTensor` is a cpu type, so a device tensor
        comes back to the cpu, and `'torch.opencl.FloatTensor'` moves a cpu tensor to the device.
        """
        if dtype is None:
            prefix = "torch." if self.device.type == "cpu" else f"torch.{self.device.type}."
            return prefix + self.dtype.legacy_name
        kind = self.device.type
        if isinstance(dtype, str):
            module, _, name = dtype.rpartition(".")
            if name not in LEGACY:
                raise ValueError(f"invalid type: '{dtype}'")
            dtype, kind = LEGACY[name], module.partition(".")[2] or "cpu"     # "torch.cuda" -> "cuda"
        elif not isinstance(dtype, DType):   # a legacy constructor such as torch.FloatTensor: a cpu type
            dtype, kind = getattr(dtype, "dtype", dtype), "cpu"
        return self.to(self.device if kind == self.device.type else kind, dtype)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    def float(self) -> Tensor:
        return self.to(BY_NAME["float32"])

    def double(self) -> Tensor:
        return self.to(BY_NAME["float64"])

    def half(self) -> Tensor:
        return self.to(BY_NAME["float16"])

    def long(self) -> Tensor:
        return self.to(int64)

    def int(self) -> Tensor:
        return self.to(BY_NAME["int32"])

    def short(self) -> Tensor:
        return self.to(BY_NAME["int16"])

    def char(self) -> Tensor:
        return self.to(BY_NAME["int8"])

    def byte(self) -> Tensor:
        return self.to(BY_NAME["uint8"])

    def bool(self) -> Tensor:
        return self.to(bool_)

    # ---------------------------------------------------------------------------------------------- operands

    def _operand(self, other: Any) -> Tensor:
        """other as a Tensor on self's device (Python scalars become a cached 0-d tensor)."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (int, float)):
            dtype = result_type((self.dtype, self.ndim), other)
            return Tensor._make(P.scalar(other, dtype, self._view.storage.backend))
        from distgrad.creation import tensor
        return tensor(other, device=self.device)

    def _broadcast(self, other: Any, dtype: DType | None = None) -> tuple[Tensor, Tensor]:
        """self and other with one dtype (promoted, or `dtype`) and one broadcast shape."""
        if isinstance(other, Tensor):
            va, vb = self._view, other._view
            if (va.shape == vb.shape and va.storage.dtype is vb.storage.dtype and dtype in (None, va.storage.dtype)
                    and va.storage.backend is vb.storage.backend):
                return self, other
            check_same_device(va, vb)
            target = dtype or result_type((va.storage.dtype, len(va.shape)), (vb.storage.dtype, len(vb.shape)))
        elif isinstance(other, (int, float)):
            target = dtype or result_type((self.dtype, self.ndim), other)
            b = Tensor._make(V.expand(P.scalar(other, target, self._view.storage.backend), self._view.shape))
            a = self if self.dtype is target else self.to(target)
            return a, b
        else:
            return self._broadcast(self._operand(other), dtype)
        a = self if self.dtype is target else self.to(target)
        b = other if other.dtype is target else other.to(target)
        shape = broadcast_shapes(a._view.shape, b._view.shape)
        if a._view.shape != shape:
            a = ops.Expand.apply(a, shape=shape)
        if b._view.shape != shape:
            b = ops.Expand.apply(b, shape=shape)
        return a, b

    def _float_operands(self, other: Any) -> tuple[Tensor, Tensor]:
        a, b = self._broadcast(other)
        if not a.dtype.is_floating_point:
            return a.to(get_default_dtype()), b.to(get_default_dtype())
        return a, b

    def _compare(self, op: str, other: Any, swap: bool = False) -> Tensor:
        if other is None or isinstance(other, (str, type(Ellipsis))):
            return NotImplemented          # Python then compares by identity, as PyTorch answers `t == None`
        a, b = self._broadcast(other)
        if swap:
            a, b = b, a
        return Tensor._make(P.binary(op, a._view, b._view))

    # ---------------------------------------------------------------------------------------------- arithmetic

    def __add__(self, other: Any) -> Tensor:
        return ops.Add.apply(*self._broadcast(other))

    __radd__ = __add__

    def __sub__(self, other: Any) -> Tensor:
        return ops.Sub.apply(*self._broadcast(other))

    def __rsub__(self, other: Any) -> Tensor:
        return ops.Sub.apply(*reversed(self._broadcast(other)))

    def __mul__(self, other: Any) -> Tensor:
        return ops.Mul.apply(*self._broadcast(other))

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Tensor:
        return ops.Div.apply(*self._float_operands(other))

    def __rtruediv__(self, other: Any) -> Tensor:
        return self.reciprocal() * other       # as PyTorch: (2 / x).grad_fn is MulBackward0

    def __floordiv__(self, other: Any) -> Tensor:
        return self.floor_divide(other)

    def __rfloordiv__(self, other: Any) -> Tensor:
        b, a = self._broadcast(other)
        return a.floor_divide(b)

    def __mod__(self, other: Any) -> Tensor:
        return self.remainder(other)

    def __rmod__(self, other: Any) -> Tensor:
        b, a = self._broadcast(other)
        return a.remainder(b)

    def __pow__(self, exponent: Any) -> Tensor:
        return self.pow(exponent)

    def __rpow__(self, base: Any) -> Tensor:
        b, a = self._broadcast(base)
        return a.pow(b)

    def __matmul__(self, other: Tensor) -> Tensor:
        return self.matmul(other)

    def __rmatmul__(self, other: Tensor) -> Tensor:
        return self._operand(other).matmul(self)

    def __neg__(self) -> Tensor:
        if self.dtype is bool_:
            raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If you are trying to "
                               "invert a mask, use the `~` or `logical_not()` operator instead.")
        return ops.Neg.apply(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return self.abs()

    def __eq__(self, other: object) -> Tensor:  # type: ignore[override]
        return self._compare("eq", other)

    def __ne__(self, other: object) -> Tensor:  # type: ignore[override]
        return self._compare("ne", other)

    def __lt__(self, other: Any) -> Tensor:
        return self._compare("lt", other)

    def __le__(self, other: Any) -> Tensor:
        return self._compare("le", other)

    def __gt__(self, other: Any) -> Tensor:
        return self._compare("lt", other, swap=True)

    def __ge__(self, other: Any) -> Tensor:
        return self._compare("le", other, swap=True)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__
    less, less_equal, greater, greater_equal, not_equal = lt, le, gt, ge, ne

    def add(self, other: Any, *, alpha: float = 1) -> Tensor:
        return self + (other * alpha if alpha != 1 else other)

    def sub(self, other: Any, *, alpha: float = 1) -> Tensor:
        return self - (other * alpha if alpha != 1 else other)

    subtract = sub

    def mul(self, other: Any) -> Tensor:
        return self * other

    multiply = mul

    def div(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        if rounding_mode is None:
            return self / other
        if rounding_mode == "floor":
            return self.floor_divide(other)
        if rounding_mode == "trunc":
            a, b = self._broadcast(other)
            if a.dtype.is_floating_point:
                return (a / b).trunc()
            return a.sub(a.fmod(b)).floor_divide(b)
        raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                         f"'{rounding_mode}'")

    divide = true_divide = div

    def floor_divide(self, other: Any) -> Tensor:
        a, b = self._broadcast(other)
        if a.dtype.is_floating_point:
            return (a / b).floor()
        return Tensor._make(P.binary("floordiv", a._view, b._view))

    def remainder(self, other: Any) -> Tensor:
        """Python's modulo: the result has the sign of the divisor."""
        a, b = self._broadcast(other)
        return a - a.floor_divide(b) * b

    def fmod(self, other: Any) -> Tensor:
        """C's fmod: the result has the sign of the dividend."""
        return ops.Fmod.apply(*self._broadcast(other))

    def pow(self, exponent: Any) -> Tensor:
        a, b = self._broadcast(exponent)
        if not a.dtype.is_floating_point and isinstance(exponent, (int, float)) and exponent < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        return (ops.PowTensor if isinstance(exponent, Tensor) else ops.Pow).apply(a, b)

    def maximum(self, other: Tensor) -> Tensor:
        return ops.Maximum.apply(*self._broadcast(other))

    def minimum(self, other: Tensor) -> Tensor:
        return ops.Minimum.apply(*self._broadcast(other))

    def logical_not(self) -> Tensor:
        return Tensor._make(P.binary("eq", self._view, V.expand(P.scalar(0, self.dtype, self._view.storage.backend),
                                                                 self._view.shape)))

    def _logical(self, op: str, other: Any) -> Tensor:
        a, b = self._broadcast(other, dtype=bool_)
        if a.dtype is not bool_:
            a, b = a != 0, b != 0
        return Tensor._make(P.binary(op, a._view, b._view))

    def logical_and(self, other: Any) -> Tensor:
        return self.bool()._logical("min", other.bool() if isinstance(other, Tensor) else other)

    def logical_or(self, other: Any) -> Tensor:
        return self.bool()._logical("max", other.bool() if isinstance(other, Tensor) else other)

    def logical_xor(self, other: Any) -> Tensor:
        return self.bool()._logical("ne", other.bool() if isinstance(other, Tensor) else other)

    # ---------------------------------------------------------------------------------------------- unary

    def _floating(self) -> Tensor:
        return self if self.dtype.is_floating_point else self.to(get_default_dtype())

    def exp(self) -> Tensor:
        return ops.Exp.apply(self._floating())

    def log(self) -> Tensor:
        return ops.Log.apply(self._floating())

    def log2(self) -> Tensor:
        return self.log() / math.log(2)

    def log10(self) -> Tensor:
        return self.log() / math.log(10)

    def log1p(self) -> Tensor:
        return ops.Log1P.apply(self._floating())

    def expm1(self) -> Tensor:
        return ops.Expm1.apply(self._floating())

    def sqrt(self) -> Tensor:
        return ops.Sqrt.apply(self._floating())

    def rsqrt(self) -> Tensor:
        return self.sqrt().reciprocal()

    def square(self) -> Tensor:
        return self * self

    def sin(self) -> Tensor:
        return ops.Sin.apply(self._floating())

    def cos(self) -> Tensor:
        return ops.Cos.apply(self._floating())

    def tan(self) -> Tensor:
        return ops.Tan.apply(self._floating())

    def tanh(self) -> Tensor:
        return ops.Tanh.apply(self._floating())

    def sigmoid(self) -> Tensor:
        return ops.Sigmoid.apply(self._floating())

    def erf(self) -> Tensor:
        return ops.Erf.apply(self._floating())

    def reciprocal(self) -> Tensor:
        return ops.Reciprocal.apply(self._floating())

    def abs(self) -> Tensor:
        return ops.Abs.apply(self)

    absolute = abs

    def sign(self) -> Tensor:
        return ops.Sign.apply(self)

    def neg(self) -> Tensor:
        return -self

    negative = neg

    def _rounding(self, fn: type) -> Tensor:
        return fn.apply(self) if self.dtype.is_floating_point else self.clone()

    def floor(self) -> Tensor:
        return self._rounding(ops.Floor)

    def ceil(self) -> Tensor:
        return self._rounding(ops.Ceil)

    def round(self, decimals: int = 0) -> Tensor:
        if decimals:
            scale = 10.0 ** decimals
            return (self * scale).round() / scale
        return self._rounding(ops.Round)

    def trunc(self) -> Tensor:
        return self.sign() * self.abs().floor() if self.dtype.is_floating_point else self.clone()

    def frac(self) -> Tensor:
        return self - self.trunc()

    def relu(self) -> Tensor:
        return ops.Relu.apply(self)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:
        if min is None and max is None:
            raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            out = self
            if min is not None:
                out = out.maximum(min)
            if max is not None:
                out = out.minimum(max)
            return out
        dtype = result_type((self.dtype, self.ndim), *(v for v in (min, max) if v is not None))
        return ops.Clamp.apply(self.to(dtype), min=min, max=max)

    clip = clamp

    def clamp_min(self, min: Any) -> Tensor:
        return self.clamp(min=min)

    def clamp_max(self, max: Any) -> Tensor:
        return self.clamp(max=max)

    def isnan(self) -> Tensor:
        return self != self   # noqa: PLR0124 (NaN is the one value unequal to itself)

    def isinf(self) -> Tensor:
        return self.abs() == math.inf if self.dtype.is_floating_point else self.new_zeros(self.shape, dtype=bool_)

    def isfinite(self) -> Tensor:
        return (self - self) == 0 if self.dtype.is_floating_point else self.new_ones(self.shape, dtype=bool_)

    def where(self, condition: Tensor, other: Any) -> Tensor:
        from distgrad.joining import where
        return where(condition, self, other)

    def masked_fill(self, mask: Tensor, value: Any) -> Tensor:
        if mask.dtype is not bool_:
            c_name = {"int64": "long int", "int32": "int", "int16": "short int", "int8": "signed char",
                      "uint8": "unsigned char", "float32": "float", "float64": "double"}.get(mask.dtype.name)
            raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                               f"{c_name or mask.dtype.name}")
        if isinstance(value, Tensor) and value.ndim:
            raise RuntimeError("masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        if mask.device != self.device:
            raise RuntimeError(f"expected self and mask to be on the same device, but got mask on {mask.device} and "
                               f"self on {self.device}")
        shape = broadcast_shapes(self._view.shape, mask._view.shape)
        fn = ops.MaskedFillTensor if isinstance(value, Tensor) else ops.MaskedFill
        if isinstance(value, Tensor):
            if value.device != self.device and self.device.type == "cpu":    # a 0-d cpu value may fill a device tensor
                raise RuntimeError("masked_fill_: Expected inputs to be on same device")
            value = value.to(self.dtype, device=self.device).expand(shape)
        else:
            value = Tensor._make(V.expand(P.scalar(value, self.dtype, self._view.storage.backend), shape))
        return fn.apply(mask.expand(shape), value, self.expand(shape))

    def softmax(self, dim: int, dtype: DType | None = None) -> Tensor:
        x = self._floating() if dtype is None else self.to(dtype)
        return ops.Softmax.apply(x, dim=wrap_dim(dim, max(1, self.ndim)) if self.ndim else 0) if self.ndim else x / x

    def log_softmax(self, dim: int, dtype: DType | None = None) -> Tensor:
        x = self._floating() if dtype is None else self.to(dtype)
        return ops.LogSoftmax.apply(x, dim=wrap_dim(dim, self.ndim)) if self.ndim else x - x

    # ---------------------------------------------------------------------------------------------- indexing

    def __getitem__(self, index: Any) -> Tensor:
        from distgrad.indexing import getitem
        return getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        from distgrad.indexing import setitem
        setitem(self, index, value)

    def gather(self, dim: int, index: Tensor) -> Tensor:
        d = wrap_dim(dim, self.ndim)
        _check_index_tensor(self, index, d, "gather")
        return ops.Gather.apply(self, index, dim=d)

    def scatter(self, dim: int, index: Tensor, src: Any, *, reduce: str | None = None) -> Tensor:
        return self._scatter(dim, index, src, "add" if reduce == "add" else "set")

    def scatter_add(self, dim: int, index: Tensor, src: Tensor) -> Tensor:
        return self._scatter(dim, index, src, "add")

    def _scatter(self, dim: int, index: Tensor, src: Any, mode: str) -> Tensor:
        d = wrap_dim(dim, self.ndim)
        _check_index_tensor(self, index, d, "scatter")
        if not isinstance(src, Tensor):
            src = self.new_full(index.shape, src)
        check_same_device(self._view, src._view)
        return ops.Scatter.apply(self, index, src.to(self.dtype), dim=d, mode=mode)

    def index_select(self, dim: int, index: Tensor) -> Tensor:
        d = wrap_dim(dim, max(1, self.ndim))
        check_same_device(self._view, index._view)     # stricter than indexing, which moves a cpu index over
        if index.ndim > 1:
            raise IndexError("index_select(): Index is supposed to be a vector")
        return self[(slice(None),) * d + (index.reshape(-1),)]

    def masked_select(self, mask: Tensor) -> Tensor:
        check_same_device(self._view, mask._view)
        if mask.dtype is not bool_:
            raise RuntimeError("masked_select: expected BoolTensor for mask")
        if mask.shape != self.shape:       # broadcast shapes only: _broadcast would also promote the mask's dtype
            shape = broadcast_shapes(self._view.shape, mask._view.shape)
            return self.expand(shape)[mask.expand(shape)]
        return self[mask]

    def nonzero(self, *, as_tuple: bool = False) -> Any:
        idx = Tensor._make(P.nonzero(self._view))
        return tuple(idx[:, i] for i in range(self.ndim)) if as_tuple else idx

    def argwhere(self) -> Tensor:
        return self.nonzero()

    # ---------------------------------------------------------------------------------------------- in-place

    def _write(self, result: Tensor, overlap: str = "refuse", inputs: tuple = (), same_ok: bool = True) -> Tensor:
        """Make result this tensor's new value in place (the slow, general path; autograd rebases onto it). inputs: the
        op's other arguments, checked for memory shared with self (inplace.check_overlap)."""
        return inplace.write(self, result, overlap, inputs, same_ok)

    def _inplace_binary(self, op: str, other: Any, fallback: Callable[[], Tensor], alpha: float = 1) -> Tensor:
        """self = self (op) alpha * other, straight into self's memory when nothing needs recording. fallback computes
        the same out of place."""
        inputs = (other,)
        if is_grad_enabled() and (self.requires_grad or (isinstance(other, Tensor) and other._requires_grad)):
            return self._write(fallback(), inputs=inputs)
        a, b = self._broadcast(other if alpha == 1 else other * alpha)
        if a is not self or a._view.shape != self._view.shape or b.dtype is not self.dtype:
            return self._write(fallback(), inputs=inputs)
        inplace.check_overlap(self._view, inputs=inputs)
        P.binary(op, self._view, b._view, out=self._view)
        self._view.storage.version += 1
        return self

    def add_(self, other: Any, *, alpha: float = 1) -> Tensor:
        return self._inplace_binary("add", other, lambda: self.add(other, alpha=alpha), alpha)

    def sub_(self, other: Any, *, alpha: float = 1) -> Tensor:
        return self._inplace_binary("sub", other, lambda: self.sub(other, alpha=alpha), alpha)

    def mul_(self, other: Any) -> Tensor:
        return self._inplace_binary("mul", other, lambda: self * other)

    def div_(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        if rounding_mode is None and self.dtype.is_floating_point:
            return self._inplace_binary("div", other, lambda: self / other)
        return self._write(self.div(other, rounding_mode=rounding_mode), inputs=(other,))

    def pow_(self, exponent: Any) -> Tensor:
        return self._write(self.pow(exponent), inputs=(exponent,))

    def floor_divide_(self, other: Any) -> Tensor:
        return self._write(self.floor_divide(other), inputs=(other,))

    def remainder_(self, other: Any) -> Tensor:
        return self._write(self.remainder(other), inputs=(other,))

    # x op= y acts in place (same object, version bump), as PyTorch's Tensor does
    __iadd__, __isub__, __imul__, __itruediv__ = add_, sub_, mul_, div_
    __ifloordiv__, __imod__, __ipow__ = floor_divide_, remainder_, pow_

    def copy_(self, src: Any, non_blocking: bool = False) -> Tensor:
        """Copy src (broadcast, cast, moved across devices) into self."""
        inputs = (src,)
        src = self._operand(src)
        if src.device != self.device:
            src = src.to(self.device)
        src = src.expand(self.shape) if src.shape != self.shape else src
        if is_grad_enabled() and (src._requires_grad or self.requires_grad):
            return self._write(src.to(self.dtype), inputs=inputs)
        inplace.check_overlap(self._view, inputs=inputs)
        P.copy(src._view, out=self._view)
        self._view.storage.version += 1
        return self

    def fill_(self, value: Any) -> Tensor:
        if isinstance(value, Tensor):      # PyTorch refuses a tensor value on overlapping memory, not a number
            inplace.check_overlap(self._view)
            value = value.item()
        if is_grad_enabled() and self.requires_grad:
            return self._write(self.new_full(self.shape, value), "allow")
        P.fill(self._view, value)
        self._view.storage.version += 1
        return self

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        return self._write(self.clamp(min, max), inputs=(min, max))

    clip_ = clamp_

    def masked_fill_(self, mask: Tensor, value: Any) -> Tensor:
        return self._write(self.masked_fill(mask, value), "masked_fill_", (mask,))

    def scatter_(self, dim: int, index: Tensor, src: Any, *, reduce: str | None = None) -> Tensor:
        return self._write(self.scatter(dim, index, src, reduce=reduce), inputs=(index, src), same_ok=False)

    def scatter_add_(self, dim: int, index: Tensor, src: Tensor) -> Tensor:
        return self._write(self.scatter_add(dim, index, src), inputs=(index, src), same_ok=False)

    def index_put_(self, indices: tuple, values: Any, accumulate: bool = False) -> Tensor:
        from distgrad.indexing import index_put
        return index_put(self, indices, values, accumulate, inplace=True)

    def index_put(self, indices: tuple, values: Any, accumulate: bool = False) -> Tensor:
        from distgrad.indexing import index_put
        return index_put(self, indices, values, accumulate, inplace=False)

    def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator: Any = None) -> Tensor:
        from distgrad.random import fill_random
        return fill_random(self, "uniform", a, b, generator)

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Tensor:
        from distgrad.random import fill_random
        return fill_random(self, "normal", mean, std, generator)

    def multinomial(self, num_samples: int, replacement: bool = False, *, generator: Any = None) -> Tensor:
        from distgrad.random import multinomial
        return multinomial(self, num_samples, replacement, generator=generator)

    def bernoulli_(self, p: float = 0.5, *, generator: Any = None) -> Tensor:
        noise = self.new_empty(self.shape, dtype=get_default_dtype()).uniform_(generator=generator)
        return self._write((noise < p).to(self.dtype))

    def resize_(self, *sizes: Any) -> Tensor:
        """Change the shape in place, growing the storage when needed.

        Differs from PyTorch: elements beyond the old storage are zero, not uninitialised memory."""
        shape = shape_arg(sizes)
        n = numel(shape)
        v, st = self._view, self._view.storage
        if v.offset + n > st.size:
            bigger = P.full((v.offset + n,), 0, st.dtype, st.backend)
            old = View(st, (st.size,), (1,), 0)
            P.copy(old, out=View(bigger.storage, (st.size,), (1,), 0))
            st = bigger.storage
        self._view = View(st, shape, contiguous_strides(shape), v.offset)
        return self

    def resize_as_(self, other: Tensor) -> Tensor:
        return self.resize_(other.shape)

    # ---------------------------------------------------------------------------------------------- new_*

    def new_tensor(self, data: Any, dtype: DType | None = None, device: Any = None,
                   requires_grad: bool = False) -> Tensor:
        from distgrad.creation import tensor
        return tensor(data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def _new(self, fn_name: str, args: tuple, kwargs: dict) -> Tensor:
        from distgrad import creation
        kwargs.setdefault("dtype", self.dtype)
        kwargs.setdefault("device", self.device)
        return getattr(creation, fn_name)(*args, **kwargs)

    def new_zeros(self, *size: Any, **kwargs: Any) -> Tensor:
        return self._new("zeros", size, kwargs)

    def new_ones(self, *size: Any, **kwargs: Any) -> Tensor:
        return self._new("ones", size, kwargs)

    def new_empty(self, *size: Any, **kwargs: Any) -> Tensor:
        return self._new("empty", size, kwargs)

    def new_full(self, size: Any, fill_value: Any, **kwargs: Any) -> Tensor:
        return self._new("full", (size, fill_value), kwargs)


function._make_tensor = Tensor._make


def _inplace_unary(name: str) -> Callable[[Tensor], Tensor]:
    """Tensor.<name>_: the out-of-place op's result written into self. Under autograd the op reads a copy, which
    keeps what composites such as log2 save for backward intact (PyTorch saves the "original self" the same way)."""
    def method(self: Tensor) -> Tensor:
        source = self.clone() if is_grad_enabled() and self.requires_grad else self
        return self._write(getattr(Tensor, name)(source))
    method.__name__ = method.__qualname__ = name + "_"
    method.__doc__ = f"In-place version of :meth:`{name}`."
    return method


for _name in ("neg", "abs", "exp", "log", "log2", "log10", "log1p", "expm1", "sqrt", "rsqrt", "square", "reciprocal",
              "relu", "sigmoid", "tanh", "sin", "cos", "tan", "erf", "sign", "floor", "ceil", "trunc", "frac", "round"):
    setattr(Tensor, _name + "_", _inplace_unary(_name))


class _RemovableHandle:
    """What register_*hook returns: remove() unregisters the hook."""

    def __init__(self, hooks: list, hook: Callable) -> None:
        self.hooks, self.hook = hooks, hook

    def remove(self) -> None:
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


def _rebuild(values: Any, dtype_name: str, device: str, requires_grad: bool) -> Tensor:
    from distgrad.creation import from_numpy
    t = from_numpy(values).to(device)
    t._requires_grad = requires_grad
    return t


def _check_index_tensor(x: Tensor, index: Tensor, d: int, name: str) -> None:
    check_same_device(x._view, index._view)
    if index.dtype is not int64:
        raise RuntimeError(f"{name}(): Expected dtype int{'32/int' if name == 'gather' else ''}64 for index")
    if index.ndim != x.ndim and not (index.ndim <= 1 and x.ndim <= 1):
        raise RuntimeError(f"Index tensor must have the same number of dimensions as {'input' if name == 'gather' else 'self'} tensor")
    n = x._view.shape[d] if x.ndim else 1

    def raise_for(lo: int, hi: int) -> None:
        raise RuntimeError(f"index {hi if hi >= n else lo} is out of bounds for dimension {d} with size {n}")
    P.check_index(index._view, 0, n, raise_for)   # on a device: at its next read (NOTE [ Deferred index checks ])
