"""nn.functional: layers and losses as functions of Tensors (PyTorch's torch.nn.functional)."""
from __future__ import annotations

import math
import warnings
from array import array
from typing import Any

from distgrad import autograd, div, ops
from distgrad import prims as P
from distgrad import views as V
from distgrad.creation import arange, ones, tensor, zeros
from distgrad.dims import wrap_dim
from distgrad.dtypes import int32, int64, result_type
from distgrad.function import enable_grad, is_grad_enabled, no_grad
from distgrad.joining import broadcast_tensors, cat, where
from distgrad.nn.named_function import NamedFunction
from distgrad.nn.windows import Im2Col, MaxPool2DWithIndices, max_over_windows, windows
from distgrad.tensor import Tensor


class _DivByCount(NamedFunction):
    """x / n for an element count n, as PyTorch's C++ losses divide (node DivBackward1, its div by a Scalar)."""

    grad_fn_name = "DivBackward1"

    @staticmethod
    def forward(ctx: Any, x: Tensor, n: int) -> Tensor:
        ctx.n = n
        return x / n

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        return grad / ctx.n, None


class _LinearComposite(NamedFunction):
    """A composite of Tensor ops that is linear in its input, shown as one graph node with PyTorch's name
    (`AvgPool2DBackward0`). Forward records the composite's own graph, and backward runs it and lets it go, as
    PyTorch's node keeps no tensor after a backward. Being linear, its gradient does not depend on the input, so a
    second backward (retain_graph=True) rebuilds that graph at zero."""

    @staticmethod
    def forward(ctx: Any, input: Tensor, fn: Any, *args: Any) -> Tensor:
        ctx.fn, ctx.args, ctx.shape = fn, args, input.shape
        with enable_grad():
            ctx.at = input.detach().requires_grad_()
            ctx.out = fn(ctx.at, *args)
        return ctx.out.detach()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        if ctx.out is None:
            with enable_grad():
                ctx.at = grad.new_zeros(ctx.shape).requires_grad_()
                ctx.out = ctx.fn(ctx.at, *ctx.args)
        out, at, ctx.out, ctx.at = ctx.out, ctx.at, None, None
        return (autograd.grad(out, at, grad)[0],) + (None,) * (len(ctx.needs_input_grad) - 1)


_NODES = {name: type(name, (_LinearComposite,), {"__module__": __name__}) for name in (
    "AvgPool2D", "AdaptiveAvgPool2D", "AdaptiveAvgPool3D", "UpsampleNearest1D", "UpsampleNearest2D",
    "UpsampleNearest3D", "UpsampleNearestExact1D", "UpsampleNearestExact2D", "UpsampleNearestExact3D",
    "UpsampleLinear1D", "UpsampleBilinear2D", "UpsampleBicubic2D", "UpsampleTrilinear3D")}


def _as_node(name: str, fn: Any, input: Tensor, *args: Any) -> Tensor:
    """fn(input, *args) for an fn linear in input; when it records a graph, one node named f"{name}Backward0"."""
    if not (input.requires_grad and is_grad_enabled()):
        return fn(input, *args)
    return _NODES[name].apply(input, fn, *args)


def _pair(x: Any) -> tuple[int, int]:
    return (x, x) if isinstance(x, int) else tuple(x)


# -------------------------------------------------------------------------------------------------- linear, activations

def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """input @ weight.T + bias; 2-d inputs run as one addmm (grad_fn AddmmBackward0, as PyTorch)."""
    if input.ndim == 2 and bias is not None:
        return bias.addmm(input, weight.t())
    if input.ndim > 2 and bias is not None:
        out = bias.addmm(input.reshape(-1, input.shape[-1]), weight.t())
        return out.reshape(*input.shape[:-1], weight.shape[0])
    out = input.matmul(weight.t())
    return out if bias is None else out + bias


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y_o = x1^T W_o x2 + b_o over the last dims of input1 and input2 (weight is (out, in1, in2))."""
    out_f, in1, in2 = weight.shape
    for i, (x, n) in enumerate(((input1, in1), (input2, in2))):
        if x.shape[-1] != n:
            raise RuntimeError(f"bilinear(): input{i + 1} size does not match weight size: got {x.shape[-1]} but "
                               f"expected {n}")
    x1 = input1.reshape(-1, in1)
    out = (x1.matmul(weight.permute(1, 0, 2).reshape(in1, out_f * in2)).reshape(-1, out_f, in2)
           * input2.reshape(-1, 1, in2)).sum(-1).reshape(*input1.shape[:-1], out_f)
    return out if bias is None else out + bias


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0)."""
    return input.relu_() if inplace else input.relu()


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """x clamped to [min_val, max_val]."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return input.clamp_(min_val, max_val) if inplace else input.clamp(min_val, max_val)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, else negative_slope * x."""
    out = where(input > 0, input, input * negative_slope)
    return input.copy_(out) if inplace else out


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x where x > 0, else weight * x, with one slope or one per channel (dim 1)."""
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.ndim}")
    if input.ndim == 0:
        raise RuntimeError("Not allow zero-dim input tensor.")
    channels = input.shape[1] if input.ndim >= 2 else 1
    if weight.numel() not in (1, channels):
        raise RuntimeError("Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                           f"{weight.numel()} and channel size = {channels}.")
    slope = weight.reshape(()) if weight.numel() == 1 else weight.reshape(-1, *[1] * (input.ndim - 2))
    return where(input > 0, input, slope * input)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else alpha * (exp(x) - 1)."""
    # exp of the clamped input: exp(large x) would be inf, and 0 * inf poisons the gradient of the unused branch
    out = where(input > 0, input, (input.clamp(max=0).exp() - 1) * alpha)
    return input.copy_(out) if inplace else out


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x), exactly with erf or with PyTorch's tanh approximation."""
    if approximate == "tanh":
        return input * 0.5 * (1 + ((input + input ** 3 * 0.044715) * math.sqrt(2 / math.pi)).tanh())
    if approximate != "none":
        raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate}")
    return input * 0.5 * (1 + (input * (1 / math.sqrt(2))).erf())


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x)."""
    out = input * input.sigmoid()
    return input.copy_(out) if inplace else out


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta, linear above threshold."""
    z = input * beta
    return where(z > threshold, input, (z.clamp(max=threshold).exp()).log1p() / beta)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x))."""
    out = input * softplus(input).tanh()
    return input.copy_(out) if inplace else out


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """a * sigmoid(b) for the halves a, b of input along dim."""
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = wrap_dim(dim, input.ndim)
    if input.shape[d] % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {d} is size {input.shape[d]}")
    a, b = input.chunk(2, d)
    return a * b.sigmoid()


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else value."""
    out = where(input > threshold, input, tensor(value, dtype=input.dtype, device=input.device))
    return input.copy_(out) if inplace else out


def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent."""
    return input.tanh()


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x))."""
    return input.sigmoid()


def _softmax_dim(ndim: int) -> int:
    return 0 if ndim in (0, 1, 3) else 1      # PyTorch's legacy choice when dim is not given


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """exp(x) / sum(exp(x)) along dim."""
    return input.softmax(_softmax_dim(input.ndim) if dim is None else dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """log(softmax(x)), computed stably."""
    return input.log_softmax(_softmax_dim(input.ndim) if dim is None else dim, dtype=dtype)


def _check_dropout_p(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _dropout(input: Tensor, p: float, training: bool, inplace: bool, mask_shape: Any) -> Tensor:
    """input times a keep mask of mask_shape (broadcast over the rest), scaled by 1 / (1 - p)."""
    if not training or p == 0.0:
        return input
    keep = input.new_empty(mask_shape).uniform_() >= p
    out = input * keep.to(input.dtype) * (0.0 if p == 1.0 else 1.0 / (1.0 - p))
    return input.copy_(out) if inplace else out


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1 / (1 - p), in training only."""
    _check_dropout_p(p)
    return _dropout(input, p, training, inplace, input.shape)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels (dim 1) with probability p and scale the rest by 1 / (1 - p), in training only."""
    _check_dropout_p(p)
    if input.ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated and will result "
                      "in an error in a future release. To retain the behavior and silence this warning, please use "
                      "dropout instead. Note that dropout2d exists to provide channel-wise dropout on inputs with 2 "
                      "spatial dimensions, a channel dimension, and an optional batch dimension (i.e. 3D or 4D "
                      "inputs).", stacklevel=2)
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior "
                      "is desired - input is interpreted as shape (N, C, L), where C is the channel dim. This behavior "
                      "will change in a future release to interpret the input as one without a batch dimension, i.e. "
                      "shape (C, H, W). To maintain the 1D channel-wise dropout behavior, please switch to using "
                      "dropout1d instead.", stacklevel=2)
    if input.ndim < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    return _dropout(input, p, training, inplace, (*input.shape[:2], *[1] * (input.ndim - 2)))


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding along a new last dim."""
    if tensor.dtype is not int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        num_classes = int(tensor.max().item()) + 1 if tensor.numel() else 0

    def raise_for(lo: int, hi: int) -> None:
        raise RuntimeError("Class values must be non-negative." if lo < 0 else
                           "Class values must be smaller than num_classes.")
    P.check_index(tensor._view, 0, num_classes, raise_for)   # on a device: at its next read, as on CUDA
    return (tensor.unsqueeze(-1) == arange(num_classes, device=tensor.device)).long()


def pad(input: Tensor, pad: tuple[int, ...] | list[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last len(pad) // 2 dims, last dim first: (left, right, top, bottom, ...)."""
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise RuntimeError("Padding length must be divisible by 2" if len(pad) % 2 else
                           "Padding length should be less than or equal to two times the input dimension but got "
                           f"padding length {len(pad)} and input of dimension {input.ndim}")
    if mode != "constant" and not (len(pad) <= 6 and 1 <= input.ndim - len(pad) // 2 <= 2):
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {input.ndim}D input tensor.\nSupported combinations for "
            "non-constant padding:\n  - 2D or 3D input: padding size = 2 (pads last dimension)\n  - 3D or 4D input: "
            "padding size = 4 (pads last 2 dimensions)\n  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")
    out = input
    for i in range(len(pad) // 2):
        d, lo, hi = input.ndim - 1 - i, pad[2 * i], pad[2 * i + 1]
        n = out.shape[d]
        if mode == "constant":
            if lo < 0 or hi < 0:
                out = out.narrow(d, max(-lo, 0), n - max(-lo, 0) - max(-hi, 0))
            parts = []
            for size in (lo, None, hi):
                if size is None:
                    parts.append(out)
                elif size > 0:
                    shape = list(out.shape)
                    shape[d] = size
                    parts.append(out.new_full(shape, value or 0))
            out = cat(parts, d) if len(parts) > 1 else out
            continue
        if mode == "reflect" and (lo >= n or hi >= n):
            raise RuntimeError(f"Argument #{4 + 2 * i}: Padding size should be less than the corresponding input "
                               f"dimension, but got: padding ({lo}, {hi}) at dimension {d} of input {list(input.shape)}")
        idx = range(-lo, n + hi)
        if mode == "replicate":
            idx = [min(max(j, 0), n - 1) for j in idx]
        elif mode == "reflect":
            idx = [n - 1 - abs(n - 1 - abs(j)) for j in idx]
        elif mode == "circular":   # as PyTorch: crop by the negative sides, then wrap what is left
            start, kept = max(-lo, 0), n - max(-lo, 0) - max(-hi, 0)
            if max(lo, hi) > min(n, kept):
                raise RuntimeError("Padding value causes wrapping around more than once.")
            idx = [start + j % kept for j in range(-max(lo, 0), kept + max(hi, 0))]
        else:
            raise NotImplementedError(f"Unrecognised padding mode {mode}")
        out = out.index_select(d, tensor(idx, dtype=int64, device=input.device))
    return out


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of weight picked by the indices in input; the padding_idx row gets no gradient."""
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not supported")
    out = weight.index_select(0, input.reshape(-1)).reshape(*input.shape, weight.shape[1])
    if padding_idx is not None:
        out = where((input != padding_idx).unsqueeze(-1), out, out.detach())
    return out


# -------------------------------------------------------------------------------------------------- normalisation

def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Normalise over every dim but the channel dim (1); in training, update the running statistics."""
    dims = [0] + list(range(2, input.ndim))
    shape = [1, input.shape[1]] + [1] * (input.ndim - 2)
    if training:
        n = input.numel() // input.shape[1]
        if n <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.shape}")
        mean = input.mean(dims)
        var = input.var(dims, correction=0)
        if running_mean is not None:
            with no_grad():
                running_mean.mul_(1 - momentum).add_(mean.detach() * momentum)
                running_var.mul_(1 - momentum).add_(var.detach() * (momentum * n / (n - 1)))
    else:
        mean, var = running_mean, running_var
    out = (input - mean.reshape(shape)) * (var.reshape(shape) + eps).rsqrt()
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def layer_norm(input: Tensor, normalized_shape: Any, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise over the last len(normalized_shape) dims."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(input.shape[input.ndim - len(shape):]) != shape:
        raise RuntimeError(f"Given normalized_shape={list(shape)}, expected input with shape [*, "
                           f"{', '.join(map(str, shape))}], but got input of size{input.shape}")
    dims = tuple(range(input.ndim - len(shape), input.ndim))
    mean = input.mean(dims, keepdim=True)
    out = (input - mean) * (input.var(dims, keepdim=True, correction=0) + eps).rsqrt()
    if weight is not None:
        out = out * weight
    return out if bias is None else out + bias


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise each of num_groups channel groups over its channels and spatial dims, then scale and shift."""
    if input.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.ndim}")
    n, c = input.shape[0], input.shape[1]
    if n * c // num_groups * math.prod(input.shape[2:]) == 1:
        raise ValueError("Expected more than 1 value per channel when training, got input size "
                         f"{[n * c // num_groups, num_groups, *input.shape[2:]]}")
    if c % num_groups:
        raise RuntimeError("Expected number of channels in input to be divisible by num_groups, but got input of shape "
                           f"{list(input.shape)} and num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (t.ndim != 1 or t.numel() != c):
            raise RuntimeError(f"Expected {name} to be a vector of size equal to the number of channels in input, but "
                               f"got {name} of shape {list(t.shape)} and input of shape {list(input.shape)}")
    groups = input.reshape(n, num_groups, -1)
    out = layer_norm(groups, groups.shape[-1:], eps=eps).reshape(input.shape)
    per_channel = (c, *[1] * (input.ndim - 2))
    if weight is not None:
        out = out * weight.reshape(per_channel)
    return out if bias is None else out + bias.reshape(per_channel)


#------------------------------------------------------------------------------------------------- convolution, pooling

def _same_padding(kernel: tuple[int, ...], dilation: tuple[int, ...]) -> list[int]:
    pads = []
    for k, d in zip(reversed(kernel), reversed(dilation)):
        total = d * (k - 1)
        pads += [total // 2, total - total // 2]     # PyTorch puts the odd extra element on the right
    return pads


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-d cross-correlation: the weight matrix times the input's windows as columns (Im2Col), one matmul per group."""
    return conv2d_then(None, input, weight, bias, stride, padding, dilation, groups)


def conv2d_then(epilogue: str | None, input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """conv2d whose bias add also applies an activation (ops.EPILOGUES) in its kernel: the values of
    epilogue(conv2d(...)), with the graph of conv2d alone (NOTE [ Activation epilogues ] in nn/fusion.py)."""
    if input.ndim == 3:
        return conv2d_then(epilogue, input.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0)
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    out_c, cg, kh, kw = weight.shape
    if input.ndim != 4 or input.shape[1] != cg * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(weight.shape)}, expected input"
                           f"{list(input.shape)} to have {cg * groups} channels, but got {input.shape[1]} channels "
                           "instead")
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"Invalid padding string '{padding}', should be one of ('valid', 'same')")
        if padding == "same" and (sh, sw) != (1, 1):
            raise ValueError("padding='same' is not supported for strided convolutions")
        pads = _same_padding((kh, kw), (dh, dw)) if padding == "same" else [0, 0, 0, 0]
    else:
        ph, pw = _pair(padding)
        pads = [pw, pw, ph, ph]
    x = input if not any(pads) else pad(input, pads)
    n, (hp, wp) = x.shape[0], x.shape[-2:]
    oh, ow = (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1
    if oh < 1 or ow < 1:
        raise RuntimeError(f"Calculated padded input size per channel: ({hp} x {wp}). Kernel size: "
                           f"({dh * (kh - 1) + 1} x {dw * (kw - 1) + 1}). Kernel size can't be greater than actual "
                           "input size")
    cols = Im2Col.apply(x, (kh, kw), (sh, sw), (dh, dw)).reshape(groups, cg * kh * kw, n * oh * ow)
    out = weight.reshape(groups, out_c // groups, cg * kh * kw).matmul(cols)     # groups, out_c / groups, N * OH * OW
    out = out.reshape(out_c, n, oh, ow).transpose(0, 1)
    if bias is None:
        if epilogue is not None:
            raise ValueError("conv2d_then: an epilogue rides on the bias add; without a bias apply it as its own op")
        return out.contiguous()
    # the add's result has the transposed layout on cpu (NumPy keeps its input's order): conv2d's output is contiguous
    return ops.Add.apply(*out._broadcast(bias.reshape(1, -1, 1, 1)), epilogue=epilogue).contiguous()


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """1-d cross-correlation, as conv2d on a height-1 image."""
    if input.ndim == 2:
        return conv1d(input.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0)
    one = lambda v: v if isinstance(v, str) else (1 if v == 1 else 0, v if isinstance(v, int) else v[0])
    out = conv2d(input.unsqueeze(2), weight.unsqueeze(2), bias, (1, one(stride)[1]),
                 padding if isinstance(padding, str) else (0, one(padding)[1]), (1, one(dilation)[1]), groups)
    return out.squeeze(2)


def _dilate(x: Tensor, dim: int, s: int) -> Tensor:
    """Insert s - 1 zeros between neighbours along dim (the input of a strided transposed convolution)."""
    if s == 1:
        return x
    n = x.shape[dim]
    gap = list(x.shape)
    gap.insert(dim + 1, s - 1)
    spread = cat([x.unsqueeze(dim + 1), x.new_zeros(gap)], dim + 1)
    shape = list(x.shape)
    shape[dim] = n * s
    return spread.reshape(shape).narrow(dim, 0, (n - 1) * s + 1)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """The gradient of conv2d with respect to its input, as a layer: a dilated input convolved with the flipped
    weight."""
    if input.ndim == 3:
        return conv_transpose2d(input.unsqueeze(0), weight, bias, stride, padding, output_padding, groups,
                                dilation).squeeze(0)
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = _pair(stride), _pair(padding), _pair(output_padding), _pair(dilation)
    in_c, og, kh, kw = weight.shape
    x = _dilate(_dilate(input, 2, sh), 3, sw)
    eh, ew = dh * (kh - 1) - ph, dw * (kw - 1) - pw
    x = pad(x, [ew, ew + opw, eh, eh + oph])
    w = weight.reshape(groups, in_c // groups, og, kh, kw).transpose(1, 2).reshape(groups * og, in_c // groups, kh, kw)
    return conv2d(x, w.flip(2, 3), bias, 1, 0, (dh, dw), groups)


def _check_pool_padding(kernel: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int]) -> None:
    for k, p, d in zip(kernel, padding, dilation):
        if p > (d * (k - 1) + 1) // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got pad={p}, "
                               f"kernel_size={k} and dilation={d}")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise RuntimeError("pad should be smaller than or equal to half of kernel size, but got "
                           f"padW = {padding[1]}, padH = {padding[0]}, kW = {kernel[1]}, kH = {kernel[0]}")


def _pool_padded(input: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool,
                 fill: float, overhang_fill: float | None = None) -> tuple[Tensor, tuple]:
    """The input padded for pooling, and its windows' (kernel, stride, dilation): padding takes fill, and the windows
    ceil_mode adds past the padded input take overhang_fill (fill when None)."""
    (kh, kw), (ph, pw), (dh, dw) = _pair(kernel_size), _pair(padding), _pair(dilation)
    sh, sw = _pair(stride if stride is not None and stride != [] else kernel_size)
    _check_pool_padding((kh, kw), (ph, pw), (dh, dw))
    sizes, extra = [], []
    for n, k, s, p, d in ((input.shape[-2], kh, sh, ph, dh), (input.shape[-1], kw, sw, pw, dw)):
        out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (out - 1) * s >= n + p:       # the last window must start inside the input or left padding
            out -= 1
        sizes.append(out)
        extra.append(max(0, (out - 1) * s + d * (k - 1) + 1 - (n + 2 * p)))
    if min(sizes) < 1:
        c = "x".join(map(str, input.shape[-3:-2]))
        raise RuntimeError(f"Given input size: ({c + 'x' if c else ''}{input.shape[-2]}x{input.shape[-1]}). "
                           f"Calculated output size: ({c + 'x' if c else ''}{sizes[0]}x{sizes[1]}). "
                           "Output size is too small")
    x = pad(input, [pw, pw, ph, ph], value=fill) if ph or pw else input
    if any(extra):
        x = pad(x, [0, extra[1], 0, extra[0]], value=fill if overhang_fill is None else overhang_fill)
    return x, ((kh, kw), (sh, sw), (dh, dw))


def _pool_windows(input: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool,
                  fill: float, overhang_fill: float | None = None) -> Tensor:
    """(..., OH, OW, kh, kw) windows over the last two dims, of the input padded as by _pool_padded."""
    x, geometry = _pool_padded(input, kernel_size, stride, padding, dilation, ceil_mode, fill, overhang_fill)
    return windows(x, *geometry)


def _window_starts(n: int, k: int, s: int, p: int, d: int, n_out: int) -> list[int]:
    """Per window along one dim, PyTorch's first element at or past 0 (n or more when none is in bounds)."""
    return [(i * s - p) + max(0, -(i * s - p) + d - 1) // d * d for i in range(n_out)]


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Maximum over each window; with return_indices, also each maximum's flat index in its (H, W) plane (int64).

    As PyTorch's CPU kernel: the first maximum in row-major order, except that a later NaN wins, and a window whose
    maximum is -inf reports its first in-bounds element. Differs from PyTorch: a window over padding only (possible
    with dilation) gives -inf and PyTorch's index, but no gradient, where PyTorch's backward sends it to that flat
    index (another element, or none past the plane)."""
    h, w = input.shape[-2:]
    with no_grad():
        x, geometry = _pool_padded(input, kernel_size, stride, padding, dilation, ceil_mode, -math.inf)
        # int32 plane numbers while pooling (half the bytes of int64 to select and compare); the indices returned
        # are int64, as PyTorch's
        plane, _ = _pool_padded(arange(h * w, dtype=int32, device=input.device).reshape(h, w), kernel_size, stride,
                                padding, dilation, ceil_mode, -1)
        plane = V.windows(plane._view, *geometry)
        values, indices = (Tensor._make(v) for v in max_over_windows(V.windows(x._view, *geometry), plane))
    (kh, kw), (sh, sw), (dh, dw) = geometry
    ph, pw = _pair(padding)
    if ph or pw:        # without padding a window's first element is in bounds, and the running maximum starts there
        rows = _window_starts(h, kh, sh, ph, dh, values.shape[-2])
        cols = _window_starts(w, kw, sw, pw, dw, values.shape[-1])
        # padding holds -inf, so a window takes it only when its maximum is -inf: PyTorch then reports the window's
        # first in-bounds element
        starts = tensor([[r * w + c for c in cols] for r in rows], dtype=int32, device=input.device)
        indices = where(indices < 0, starts, indices)
    out = MaxPool2DWithIndices.apply(input, values, indices, plane, x.shape, (ph, pw), geometry)
    return (out, indices.long()) if return_indices else out


def _unpool_output_size(input: Tensor, kernel: tuple, stride: tuple, padding: tuple, output_size: Any) -> list[int]:
    default = [(input.shape[-2 + d] - 1) * stride[d] + kernel[d] - 2 * padding[d] for d in range(2)]
    if output_size is None:
        return default
    output_size = output_size[2:] if len(output_size) == 4 else output_size
    if len(output_size) != 2:
        raise ValueError("output_size should be a sequence containing 2 or 4 elements, but it has a length of "
                         f"'{len(output_size)}'")
    for d in range(2):
        lo, hi = default[d] - stride[d], default[d] + stride[d]
        if not lo < output_size[d] < hi:
            raise ValueError(f'invalid output_size "{output_size}" (dim {d} must be between {lo} and {hi})')
    return list(output_size)


class MaxUnpool2D(NamedFunction):
    """Scatter each input element to its flat index in a zero (OH, OW) plane."""

    @staticmethod
    def forward(ctx: Any, input: Tensor, indices: Tensor, size: list[int]) -> Tensor:
        ctx.indices, ctx.shape = indices.flatten(-2), input.shape
        plane = zeros(*input.shape[:-2], size[0] * size[1], dtype=input.dtype, device=input.device)
        # a repeated index keeps the last input in plane order (scatter writes in order), as PyTorch on one thread;
        # PyTorch's docs leave the choice unspecified
        return plane.scatter(-1, ctx.indices, input.flatten(-2)).reshape(*input.shape[:-2], *size)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        return grad.flatten(-2).gather(-1, ctx.indices).reshape(ctx.shape), None, None


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 output_size: Any = None) -> Tensor:
    """The partial inverse of max_pool2d: each value back at its index, zeros elsewhere."""
    kernel = _pair(kernel_size)
    size = _unpool_output_size(input, kernel, _pair(stride) if stride is not None else kernel, _pair(padding),
                               output_size)
    return MaxUnpool2D.apply(input, indices, size)


def _avg_pool2d(input: Tensor, kernel_size: Any, stride: Any, padding: Any, ceil_mode: bool, count_include_pad: bool,
                divisor_override: int | None) -> Tensor:
    sums = _pool_windows(input, kernel_size, stride, padding, 1, ceil_mode, 0.0).sum((-2, -1))
    if divisor_override:
        return sums / divisor_override
    kh, kw = _pair(kernel_size)
    if not ceil_mode and (count_include_pad or not any(_pair(padding))):
        return sums / (kh * kw)
    counts = _pool_windows(ones(input.shape[-2:], dtype=input.dtype, device=input.device), kernel_size, stride,
                           padding, 1, ceil_mode, float(count_include_pad), overhang_fill=0.0)
    return sums / counts.sum((-2, -1))


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over each window; the divisor counts padding (count_include_pad) but never ceil_mode's overhang."""
    return _as_node("AvgPool2D", _avg_pool2d, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                    divisor_override)


def _adaptive_mean(x: Tensor, sizes: list[int]) -> Tensor:
    """Adaptive average pooling of the last len(sizes) dims. Its windows are products of one interval per dim, so it
    runs one dim at a time: a mean over equal windows when they tile the dim, else a matmul with its averaging
    matrix."""
    for d, n_out in zip(range(x.ndim - len(sizes), x.ndim), sizes):
        n_in = x.shape[d]
        if n_out and n_in % n_out == 0:
            x = x.reshape(*x.shape[:d], n_out, n_in // n_out, *x.shape[d + 1:]).mean(d + 1)
            continue
        rows = []
        for j in range(n_out):
            lo, hi = (j * n_in) // n_out, -(-((j + 1) * n_in) // n_out)
            rows.append([1 / (hi - lo) if lo <= i < hi else 0.0 for i in range(n_in)])
        weights = tensor(rows, dtype=x.dtype, device=x.device).reshape(n_out, n_in)
        x = x.movedim(d, -1).matmul(weights.t()).movedim(-1, d)
    return x


def _adaptive_sizes(input: Tensor, output_size: Any, k: int) -> list[int]:
    sizes = [output_size] * k if isinstance(output_size, int) or output_size is None else list(output_size)
    return [n if o is None else o for o, n in zip(sizes, input.shape[-k:])]


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:
    """Mean over output_size windows that tile the last dim as evenly as possible (start floor(j * n / out), end
    ceil((j + 1) * n / out))."""
    (size,) = _adaptive_sizes(input, output_size, 1)
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, size)).squeeze(-2)


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Mean over output_size windows that tile the last two dims as evenly as possible."""
    return _as_node("AdaptiveAvgPool2D", _adaptive_mean, input, _adaptive_sizes(input, output_size, 2))


def adaptive_avg_pool3d(input: Tensor, output_size: Any) -> Tensor:
    """Mean over output_size windows that tile the last three dims as evenly as possible."""
    return _as_node("AdaptiveAvgPool3D", _adaptive_mean, input, _adaptive_sizes(input, output_size, 3))


# mode -> (spatial dims it needs, None for any of 1 to 3; PyTorch's node name, {} standing for that number)
_INTERPOLATE_MODES = {"nearest": (None, "UpsampleNearest{}D"), "linear": (1, "UpsampleLinear1D"),
                      "bilinear": (2, "UpsampleBilinear2D"), "bicubic": (2, "UpsampleBicubic2D"),
                      "trilinear": (3, "UpsampleTrilinear3D"), "area": (None, None),
                      "nearest-exact": (None, "UpsampleNearestExact{}D")}
_CUBIC_A = -0.75      # PyTorch's (and OpenCV's) cubic convolution parameter


def _cubic_near(x: float) -> float:      # the cubic convolution kernel for |x| <= 1
    return ((_CUBIC_A + 2) * x - (_CUBIC_A + 3)) * x * x + 1


def _cubic_far(x: float) -> float:       # ... and for 1 < |x| < 2
    return ((_CUBIC_A * x - 5 * _CUBIC_A) * x + 8 * _CUBIC_A) * x - 4 * _CUBIC_A


def _taps(mode: str, n_in: int, n_out: int, scale: float | None,
          align_corners: bool) -> list[tuple[list[int], list[float] | None]]:
    """How PyTorch samples one dim: per tap, the input index and the weight (None: 1) of every output position.
    Output j reads position (j + 0.5) * step - 0.5 (step = in / out, or 1 / scale_factor when one is given), or
    j * (in - 1) / (out - 1) with align_corners; the linear modes clamp it at 0 and blend the two neighbours, bicubic
    blends four with cubic convolution weights, reading indices past the border at the border."""
    step = 1 / scale if scale else n_in / n_out
    if mode in ("nearest", "nearest-exact"):
        # in float32, as PyTorch's nearest_idx: its rounding moves some positions that land on an integer
        step32, shift = array("f", [step])[0], 0.5 if mode == "nearest-exact" else 0.0
        return [([min(math.floor(x), n_in - 1) for x in array("f", [(j + shift) * step32 for j in range(n_out)])],
                 None)]
    if align_corners:
        src = [j * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0 for j in range(n_out)]
    else:
        src = [(j + 0.5) * step - 0.5 for j in range(n_out)]
    if mode != "bicubic":
        src = [max(x, 0.0) for x in src]
        lo = [min(int(x), n_in - 1) for x in src]
        t = [x - i for x, i in zip(src, lo)]
        return [(lo, [1 - w for w in t]), ([min(i + 1, n_in - 1) for i in lo], t)]
    base = [math.floor(x) for x in src]
    t = [x - b for x, b in zip(src, base)]
    weights = ([_cubic_far(w + 1) for w in t], [_cubic_near(w) for w in t], [_cubic_near(1 - w) for w in t],
               [_cubic_far(2 - w) for w in t])
    return [([min(max(b - 1 + k, 0), n_in - 1) for b in base], w) for k, w in enumerate(weights)]


def _resample(x: Tensor, mode: str, sizes: list[int], scales: list[float | None], align_corners: bool) -> Tensor:
    """Each spatial dim in turn: a weighted sum of index_selects, one per tap."""
    for d, (n_out, scale) in enumerate(zip(sizes, scales), start=2):
        shape = [1] * x.ndim
        shape[d] = n_out
        out = None
        for idx, w in _taps(mode, x.shape[d], n_out, scale, align_corners):
            term = x.index_select(d, tensor(idx, dtype=int64, device=x.device))
            if w is not None:
                term = term * tensor(w, dtype=x.dtype, device=x.device).reshape(shape)
            out = term if out is None else out + term
        x = out
    return x


def interpolate(input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize the spatial dims (all after N, C) as PyTorch samples them (see _taps): 'nearest', 'nearest-exact',
    'linear' (3-d input), 'bilinear' and 'bicubic' (4-d), 'trilinear' (5-d), and 'area' (adaptive average pooling).

    Differs from PyTorch: 'lanczos' and antialias are not supported."""
    spatial = input.ndim - 2
    if mode in ("nearest", "area", "nearest-exact") and align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: linear | bilinear | "
                         "bicubic | trilinear")
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined" if size is not None else
                         "either size or scale_factor should be defined")
    in_sizes = list(input.shape[2:])
    if size is not None:
        sizes = [size] * spatial if isinstance(size, int) else list(size)
        if len(sizes) != spatial:
            raise ValueError("Input and output must have the same number of spatial dimensions, but got input with "
                             f"spatial dimensions of {in_sizes} and output size of {size}. Please provide input "
                             "tensor in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) format.")
        if recompute_scale_factor:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
        scales: list[float | None] = [None] * spatial
    else:
        scales = [float(s) for s in scale_factor] if isinstance(scale_factor, (tuple, list)) else \
            [float(scale_factor)] * spatial
        if len(scales) != spatial:
            raise ValueError("Input and scale_factor must have the same number of spatial dimensions, but got input "
                             f"with spatial dimensions of {in_sizes} and scale_factor of shape {scale_factor}. Please "
                             "provide input tensor in (N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) "
                             "format.")
        sizes = [math.floor(n * s) for n, s in zip(in_sizes, scales)]
        if recompute_scale_factor:
            scales = [None] * spatial
    if antialias and not (mode in ("bilinear", "bicubic", "lanczos") and input.ndim == 4):
        raise ValueError("Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and requires a 4-D "
                         "tensor as input")
    if antialias or mode == "lanczos":
        raise NotImplementedError("interpolate: antialias and mode 'lanczos' are not supported")
    needs, node = _INTERPOLATE_MODES.get(mode, (0, None))
    if spatial not in (1, 2, 3) or needs not in (None, spatial):
        if spatial in (1, 2, 3) and mode in ("linear", "bilinear", "trilinear"):
            raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {needs + 2}D input")
        raise NotImplementedError(f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
                                  "the modes: nearest | linear | bilinear | bicubic | trilinear | lanczos | area | "
                                  f"nearest-exact (got {mode})")
    if mode != "area" and min(in_sizes + sizes) <= 0:
        dims = lambda ns: ", ".join(f"{name}: {n}" for name, n in zip("DHW"[3 - spatial:], ns))
        raise RuntimeError(f"Input and output sizes should be greater than 0, but got input ({dims(in_sizes)})"
                           f"{' and' if spatial == 1 else ''} output ({dims(sizes)})")
    if mode == "area":
        return (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d)[spatial - 1](input, sizes)
    return _as_node(node.format(spatial), _resample, input, mode, sizes, scales, bool(align_corners))


# -------------------------------------------------------------------------------------------------- distances

def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Tensor | None = None) -> Tensor:
    """input / max(||input||_p, eps) along dim."""
    return div(input, input.norm(p, dim, keepdim=True).clamp_min(eps).expand_as(input), out=out)


def _unit(x: Tensor, dim: int, eps: float) -> Tensor:
    norm = x.norm(2, dim, keepdim=True)
    # PyTorch clamps the norm in place under no_grad: the clamped value, the gradient of the unclamped norm
    return x / (norm + (norm.clamp_min(eps) - norm).detach())


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 * x2) / (max(||x1||, eps) max(||x2||, eps)) along dim, scaling each input by its norm first."""
    if not (x1.is_floating_point() or x2.is_floating_point()):
        raise RuntimeError("expected common dtype to be floating point, yet common dtype is "
                           f"{result_type((x1.dtype, x1.ndim), (x2.dtype, x2.ndim)).legacy_name.replace('Tensor', '')}")
    x1, x2 = broadcast_tensors(x1, x2)
    return (_unit(x1, dim, eps) * _unit(x2, dim, eps)).sum(dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p along the last dim of the broadcast inputs."""
    return (x1 - x2 + eps).norm(p, max(x1.ndim, x2.ndim) - 1, keepdim)


# -------------------------------------------------------------------------------------------------- losses

def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _legacy_reduction(size_average: Any, reduce: Any, reduction: str) -> str:
    """reduction, unless PyTorch's deprecated size_average/reduce pair is given (both default to True, either False
    changes the reduction), which warns as in PyTorch."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    reduction = "none" if not reduce else "mean" if size_average else "sum"
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{reduction}' instead.",
                  stacklevel=3)
    return reduction


def _check_same_size(input: Tensor, target: Tensor) -> None:
    if target.shape != input.shape:
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size ({input.shape}) "
                         "is deprecated. Please ensure they have the same size.")


def _mean_scale(reduction: str, n: int) -> float:
    return 1.0 / n if reduction == "mean" else 1.0


class MseLoss(NamedFunction):
    """(x - y)^2, reduced."""

    @staticmethod
    def forward(ctx: Any, input: Tensor, target: Tensor, reduction: str) -> Tensor:
        ctx.d, ctx.reduction = input - target, reduction
        return _reduce(ctx.d * ctx.d, reduction)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        dx = ctx.d * grad * (2 * _mean_scale(ctx.reduction, ctx.d.numel()))
        return dx, -dx, None


def mse_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
             reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean squared error; with weight, sum(weight * (x - y)^2) / sum(weight) for 'mean', as PyTorch."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    input, target = broadcast_tensors(input, target)
    if weight is None:
        return MseLoss.apply(input, target, reduction)
    if weight.shape != input.shape:
        raise ValueError("Weights and input must have the same size.")
    loss = (input - target) ** 2 * weight
    return loss.sum() / weight.sum() if reduction == "mean" else _reduce(loss, reduction)


def l1_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
            reduction: str = "mean") -> Tensor:
    """Mean absolute error."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _reduce((input - target).abs(), reduction)


class SmoothL1Loss(NamedFunction):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta, for d = x - y; reduced."""

    @staticmethod
    def forward(ctx: Any, input: Tensor, target: Tensor, reduction: str, beta: float) -> Tensor:
        ctx.d, ctx.reduction, ctx.beta = input - target, reduction, beta
        d = ctx.d.abs()
        return _reduce(where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta), reduction)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        d, beta = ctx.d, ctx.beta
        dx = where(d.abs() < beta, d / beta, d.sign()) * grad * _mean_scale(ctx.reduction, d.numel())
        return dx, -dx, None, None


def smooth_l1_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (l1_loss when beta is 0, as PyTorch)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if beta == 0:
        return l1_loss(input, target, reduction=reduction)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return SmoothL1Loss.apply(*broadcast_tensors(input, target), reduction, beta)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta): delta times smooth_l1_loss with beta = delta."""
    if target.shape != input.shape:
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
                      "This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", stacklevel=2)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    if weight is None:
        return smooth_l1_loss(input, target, reduction=reduction, beta=delta) * delta
    if weight.shape != input.shape:
        raise ValueError("Weights and input must have the same size.")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"Invalid reduction mode: {reduction}. Expected one of 'none', 'mean', 'sum'.")
    return _reduce(smooth_l1_loss(input, target, reduction="none", beta=delta) * (weight * delta), reduction)


def kl_div(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """target * (log(target) - input) on log-probabilities input; 'batchmean' divides the sum by the batch size."""
    if size_average is None and reduce is None and reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      stacklevel=2)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        # xlogy(target, target): 0 where target is 0, without the 0 * log(0) that NumPy warns about
        loss = target * where(target == 0, 1, target).log() - target * input
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.ndim else loss.sum()
    return _reduce(loss, reduction)


def _check_nll_shapes(input: Tensor, target: Tensor) -> None:
    if input.ndim >= 2 and target.ndim >= 1 and input.shape[0] != target.shape[0]:
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
                         f"({target.shape[0]}).")
    if target.dtype is not int64:
        raise RuntimeError(f"expected scalar type Long but found {target.dtype.name.capitalize()}")


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: Any = None,
             ignore_index: int = -100, reduce: Any = None, reduction: str = "mean") -> Tensor:
    """Negative log likelihood loss on log-probabilities (class dim 1)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_nll_shapes(input, target)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    c = input.shape[0] if input.ndim == 1 else input.shape[1]
    rows = input.unsqueeze(0) if input.ndim == 1 else input if input.ndim == 2 else input.movedim(1, -1).reshape(-1, c)
    return ops.NllLoss.apply(rows, target.reshape(-1), weight=None if weight is None else weight.to(input.dtype)._view,
                             ignore_index=ignore_index, reduction=reduction, target_shape=tuple(target.shape))


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: Any = None,
                  ignore_index: int = -100, reduce: Any = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """log_softmax then nll_loss for class indices; -sum(target * log_softmax) for class probabilities."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    cdim = 1 if input.ndim >= 2 else 0
    c = input.shape[cdim]
    logp = input.log_softmax(cdim)
    wshape = [1] * input.ndim
    wshape[cdim] = c
    if target.is_floating_point():
        if target.shape != input.shape:
            raise RuntimeError(f"Expected target size {list(input.shape)}, got {list(target.shape)}")
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / c
        prod = logp * target if weight is None else logp * target * weight.reshape(wshape)
        if reduction == "none":
            return -prod.sum(cdim)
        total = -_reduce(prod, "sum" if reduction == "mean" else reduction)
        return _DivByCount.apply(total, input.numel() // c) if reduction == "mean" else total
    nll = nll_loss(logp, target, weight, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing <= 0:
        return nll
    keep = (target != ignore_index).to(input.dtype)
    smooth = -(logp if weight is None else logp * weight.reshape(wshape)).sum(cdim) * keep
    if reduction == "mean":
        total = keep.sum() if weight is None else (weight[target.masked_fill(target == ignore_index, 0)] * keep).sum()
        smooth = smooth.sum() / total
    else:
        smooth = _reduce(smooth, reduction)
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / c)


class BinaryCrossEntropy(NamedFunction):
    """-(y log x + (1 - y) log(1 - x)) with the logs clamped at -100, as PyTorch."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, y: Tensor, weight: Tensor | None, reduction: str) -> Tensor:
        ctx.save_for_backward(x, y)
        ctx.weight, ctx.reduction = weight, reduction
        loss = -(y * x.log().clamp(min=-100) + (1 - y) * (1 - x).log().clamp(min=-100))
        return _reduce(loss if weight is None else loss * weight, reduction)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        x, y = ctx.saved_tensors
        g = grad / x.numel() if ctx.reduction == "mean" else grad
        dx = g * (x - y) / ((1 - x) * x).clamp(min=1e-12)
        dy = g * ((1 - x).log().clamp(min=-100) - x.log().clamp(min=-100))
        if ctx.weight is not None:
            dx, dy = dx * ctx.weight, dy * ctx.weight
        return dx, dy, None, None


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: Any = None,
                         reduce: Any = None, reduction: str = "mean") -> Tensor:
    """Binary cross entropy on probabilities."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_same_size(input, target)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return BinaryCrossEntropy.apply(input, target, weight, reduction)


class BinaryCrossEntropyWithLogits(NamedFunction):
    """Binary cross entropy on logits through log-sum-exp: (1 - y) x + (1 + (pw - 1) y) softplus(-x)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, y: Tensor, weight: Tensor | None, pos_weight: Tensor | None,
                reduction: str) -> Tensor:
        ctx.save_for_backward(x, y)
        ctx.weight, ctx.pos_weight, ctx.reduction = weight, pos_weight, reduction
        softplus_neg = (-x.abs()).exp().log1p() + (-x).clamp(min=0)
        scale = 1 if pos_weight is None else (pos_weight - 1) * y + 1
        loss = (1 - y) * x + scale * softplus_neg
        return _reduce(loss if weight is None else loss * weight, reduction)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        x, y = ctx.saved_tensors
        g = grad / x.numel() if ctx.reduction == "mean" else grad
        sig = x.sigmoid()
        if ctx.pos_weight is None:
            dx, dy = sig - y, -x
        else:
            scale = (ctx.pos_weight - 1) * y + 1
            dx = (1 - y) + scale * (sig - 1)
            dy = -x + (ctx.pos_weight - 1) * ((-x.abs()).exp().log1p() + (-x).clamp(min=0))
        if ctx.weight is not None:
            dx, dy = dx * ctx.weight, dy * ctx.weight
        return g * dx, g * dy, None, None, None


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross entropy on logits, numerically stable; pos_weight scales the positive term."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_same_size(input, target)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return BinaryCrossEntropyWithLogits.apply(input, target, weight, pos_weight, reduction)
