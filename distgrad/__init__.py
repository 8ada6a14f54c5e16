"""distgrad: a PyTorch-compatible training framework. `import distgrad as torch` runs PyTorch code on NumPy (cpu)
or any OpenCL device."""
from __future__ import annotations

import builtins
import importlib
from typing import Any

from distgrad._tensor_str import get_printoptions, set_printoptions
from distgrad.backends.base import DType as dtype
from distgrad.creation import (
    arange,
    as_tensor,
    bernoulli,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    logspace,
    normal,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from distgrad.device import device, get_default_device, set_default_device
from distgrad.dims import broadcast_shapes
from distgrad.dtypes import (
    bool,
    double,
    float,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int,
    int8,
    int16,
    int32,
    int64,
    long,
    promote_types,
    set_default_dtype,
    short,
    uint8,
)
from distgrad.einsum import einsum
from distgrad.function import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from distgrad.joining import broadcast_tensors, cat, concat, concatenate, hstack, meshgrid, stack, vstack, where
from distgrad.random import (
    Generator,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    multinomial,
    seed,
    set_rng_state,
)
from distgrad.reductions import std_mean, var_mean
from distgrad.size import Size
from distgrad.tensor import Tensor

__version__ = "0.1.0"
cfloat = None    # complex dtypes are not supported; the name exists so feature checks fail softly
_SUBMODULES = ("nn", "optim", "utils", "distributed", "autograd", "opencl", "cuda", "backends", "launcher",
               "return_types", "testing", "linalg")


def __getattr__(name: str) -> Any:
    # Submodules load on first use, so `import distgrad` stays fast and never needs OpenCL or ZeroMQ.
    if name in _SUBMODULES:
        return importlib.import_module(f"distgrad.{name}")
    raise AttributeError(f"module 'distgrad' has no attribute '{name}'")


def _method(name: str):
    method = getattr(Tensor, name)

    def fn(input: Tensor, *args: Any, out: Tensor | None = None, **kwargs: Any) -> Any:
        if not isinstance(input, Tensor):
            input = tensor(input)
        result = method(input, *args, **kwargs)
        if out is None:
            return result
        return out.resize_(result.shape).copy_(result) if tuple(out.shape) != tuple(result.shape) else \
            out.copy_(result)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"torch.{name}(input, ...) is input.{name}(...)."
    return fn


# torch.<name>(input, *args, out=None) for each Tensor method of the same name
for _name in ("add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "floor_divide",
              "remainder", "fmod", "pow", "neg", "negative", "abs", "absolute", "sign", "exp", "log", "log2", "log10",
              "log1p", "expm1", "sqrt", "rsqrt", "square", "sin", "cos", "tan", "tanh", "sigmoid", "erf", "reciprocal",
              "relu", "floor", "ceil", "round", "trunc", "frac", "clamp", "clip", "clamp_min", "clamp_max", "maximum",
              "minimum", "eq", "ne", "lt", "le", "gt", "ge", "less", "less_equal", "greater", "greater_equal",
              "not_equal", "logical_and", "logical_or", "logical_xor", "logical_not", "bitwise_and", "bitwise_or",
              "bitwise_xor", "bitwise_not", "bitwise_left_shift", "bitwise_right_shift", "isnan", "isinf", "isfinite",
              "sum", "nansum", "mean", "prod", "max", "min", "amax", "amin", "argmax", "argmin", "argsort", "sort",
              "topk", "cumsum", "cumprod", "norm", "var", "std", "logsumexp", "all", "any", "count_nonzero",
              "allclose", "isclose", "equal", "mm", "bmm", "addmm", "mv", "addmv", "baddbmm", "addbmm", "lerp",
              "addcmul", "addcdiv", "tile", "repeat_interleave", "roll", "rot90", "diff", "cross", "take_along_dim",
              "index_add", "median", "kthvalue", "mode", "cummax", "cummin", "dot", "inner", "outer", "ger", "matmul",
              "trace", "diagonal", "diag", "triu", "tril", "reshape", "squeeze", "unsqueeze", "flatten", "unflatten",
              "permute", "transpose", "swapaxes", "swapdims", "t", "movedim", "narrow", "select", "unbind", "split",
              "chunk", "gather", "scatter", "scatter_add", "index_select", "masked_select", "masked_fill", "nonzero",
              "argwhere", "clone", "flip", "softmax", "log_softmax", "broadcast_to", "numel", "index_put"):
    globals()[_name] = _method(_name)
del _name


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, Tensor)


def is_floating_point(t: Tensor) -> bool:
    return t.is_floating_point()


def _legacy(dt: dtype):
    def constructor(*args: Any, **kwargs: Any) -> Tensor:
        if len(args) == 1 and not isinstance(args[0], builtins.int):
            return tensor(args[0], dtype=dt, **kwargs)
        return empty(*args, dtype=dt, **kwargs)
    constructor.__name__ = dt.legacy_name
    constructor.dtype = dt
    return constructor


FloatTensor, DoubleTensor, HalfTensor = _legacy(float32), _legacy(float64), _legacy(float16)
LongTensor, IntTensor, ShortTensor = _legacy(int64), _legacy(int32), _legacy(int16)
CharTensor, ByteTensor, BoolTensor = _legacy(int8), _legacy(uint8), _legacy(bool)


def save(obj: Any, f: Any, **kwargs: Any) -> None:
    from distgrad.serialization import save as _save
    _save(obj, f, **kwargs)


def load(f: Any, map_location: Any = None, **kwargs: Any) -> Any:
    from distgrad.serialization import load as _load
    return _load(f, map_location=map_location, **kwargs)
