"""Layer + activation pairs that nn.Sequential runs with the activation in the layer's bias-add kernel.

NOTE [ Activation epilogues ]
A Linear or Conv2d with a bias followed by ReLU, Sigmoid or Tanh computes activation(x @ w.T + b) with its bias add
and the activation as one elementwise kernel (prims.fused: one generated kernel on OpenCL; the cpu backend, which has
no fused(), replays it op by op), instead of an add kernel and an activation kernel, each a pass over the output.
The autograd graph is the one the two modules build unfused: the layer's node (AddmmBackward0, or conv2d's
AddBackward0) feeds the activation's node (ReluBackward0 ...). That node is recorded on the already activated
result (`forward(..., applied=True)`) rather than computed; this is sound because these three activations'
backward reads only their output, and the pre-activation values are never needed (Addmm's and Add's backward do
not read their output). The core sees a pair only inside an nn.Sequential, and runs it unfused when either module
has hooks, so every hook sees what it would see unfused. `F.relu(self.fc(x))` is two ops: the core cannot see ahead.
"""
from __future__ import annotations

from distgrad import ops
from distgrad.nn import functional as F
from distgrad.nn.activation import ReLU, Sigmoid, Tanh
from distgrad.nn.conv import Conv2d
from distgrad.nn.linear import Linear
from distgrad.nn.module import Module
from distgrad.tensor import Tensor

ACTIVATIONS = {ReLU: ("relu", ops.Relu), Sigmoid: ("sigmoid", ops.Sigmoid), Tanh: ("tanh", ops.Tanh)}
LAYERS = (Linear, Conv2d)


def _hooked(m: Module) -> bool:
    return bool(m._forward_pre_hooks or m._forward_hooks or m._backward_hooks)


def fusable(layer: Module, activation: Module, input: Tensor) -> bool:
    """Whether run_fused(layer, activation, input) may stand in for activation(layer(input)). Inputs that the layer
    would refuse (dtype, device, size) run unfused, so the errors are the layer's own."""
    if type(activation) not in ACTIVATIONS or type(layer) not in LAYERS or layer.bias is None:
        return False
    w = layer.weight
    return (not _hooked(layer) and not _hooked(activation) and isinstance(input, Tensor)
            and input.dtype is w.dtype and input.device == w.device
            and (type(layer) is Conv2d or (input.ndim >= 1 and input.shape[-1] == w.shape[1])))


def run_fused(layer: Module, activation: Module, input: Tensor) -> Tensor:
    """activation(layer(input)) with the activation applied in the layer's bias-add kernel."""
    name, act = ACTIVATIONS[type(activation)]
    if type(layer) is Conv2d:
        x, padding = layer._padded(input)      # a padding_mode other than 'zeros' pads first
        pre = F.conv2d_then(name, x, layer.weight, layer.bias, layer.stride, padding, layer.dilation, layer.groups)
    elif input.ndim == 2:
        pre = ops.Addmm.apply(layer.bias, input, layer.weight.t(), epilogue=name)
    else:
        flat = ops.Addmm.apply(layer.bias, input.reshape(-1, input.shape[-1]), layer.weight.t(), epilogue=name)
        pre = flat.reshape(*input.shape[:-1], layer.weight.shape[0])
    return act.apply(pre, applied=True)
