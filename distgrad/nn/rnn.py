"""Recurrent layers RNN, LSTM, GRU and their one-step cells, composed from Tensor ops so autograd needs nothing new.

Every kind is a step function `step(gi, gh, state) -> state`, where gi = x W_ih^T + b_ih, gh = h W_hh^T + b_hh and
state is (h,) or, for the LSTM, (h, c). The multi-layer modules share one layer loop (`_run_layers`); the cells call
the same step functions once.
"""
from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from distgrad.creation import empty, zeros
from distgrad.joining import cat, stack
from distgrad.nn import functional as F
from distgrad.nn import init
from distgrad.nn.module import Module
from distgrad.nn.parameter import Parameter
from distgrad.tensor import Tensor

State = tuple[Tensor, ...]
Step = Callable[[Tensor, Tensor, State], State]


# ------------------------------------------------------------------------------------------------------ one step each

def _rnn_tanh_step(gi: Tensor, gh: Tensor, state: State) -> State:
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh)."""
    return ((gi + gh).tanh(),)


def _rnn_relu_step(gi: Tensor, gh: Tensor, state: State) -> State:
    """h' = relu(W_ih x + b_ih + W_hh h + b_hh)."""
    return ((gi + gh).relu(),)


def _lstm_step(gi: Tensor, gh: Tensor, state: State) -> State:
    """Gates i, f, g, o (PyTorch's order): c' = f * c + i * g, h' = o * tanh(c')."""
    i, f, g, o = (gi + gh).chunk(4, -1)
    c = f.sigmoid() * state[1] + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


def _gru_step(gi: Tensor, gh: Tensor, state: State) -> State:
    """Gates r, z, n: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h."""
    i_r, i_z, i_n = gi.chunk(3, -1)
    h_r, h_z, h_n = gh.chunk(3, -1)
    r = (i_r + h_r).sigmoid()
    z = (i_z + h_z).sigmoid()
    n = (i_n + r * h_n).tanh()
    return ((1 - z) * n + z * state[0],)


# mode: (step, gates per hidden unit)
_KINDS: dict[str, tuple[Step, int]] = {"RNN_TANH": (_rnn_tanh_step, 1), "RNN_RELU": (_rnn_relu_step, 1),
                                       "LSTM": (_lstm_step, 4), "GRU": (_gru_step, 3)}


# ------------------------------------------------------------------------------------------------- the layer loop

def _scan(step: Step, gi: Sequence[Tensor], state: State, w_hh: Tensor, b_hh: Tensor | None,
          reverse: bool) -> tuple[Tensor, State]:
    """Runs `step` over the time steps of one direction; returns the stacked h of every step and the last state."""
    outputs = []
    for x_proj in (reversed(gi) if reverse else gi):
        state = step(x_proj, F.linear(state[0], w_hh, b_hh), state)
        outputs.append(state[0])
    return stack(outputs[::-1] if reverse else outputs), state


def _run_layers(step: Step, input: Tensor, hx: State, weights: list[list[Tensor | None]], num_layers: int,
                bidirectional: bool, dropout: float, training: bool) -> tuple[Tensor, State]:
    """input (L, N, H_in), hx tensors (num_layers * directions, N, H), weights [w_ih, w_hh, b_ih, b_hh] per layer
    and direction; returns output (L, N, directions * H) and the final states stacked as hx."""
    directions = 2 if bidirectional else 1
    initial = [s.unbind(0) for s in hx]
    finals: list[State] = []
    x = input
    for layer in range(num_layers):
        outputs = []
        for direction in range(directions):
            k = layer * directions + direction
            w_ih, w_hh, b_ih, b_hh = weights[k]
            # The input projection of all time steps is one matmul; only h @ W_hh^T stays in the loop.
            gi = F.linear(x, w_ih, b_ih).unbind(0)
            out, last = _scan(step, gi, tuple(s[k] for s in initial), w_hh, b_hh, reverse=direction == 1)
            outputs.append(out)
            finals.append(last)
        x = cat(outputs, 2) if bidirectional else outputs[0]
        if layer < num_layers - 1:
            x = F.dropout(x, dropout, training)
    return x, tuple(stack(states) for states in zip(*finals))


# ------------------------------------------------------------------------------------------------------- modules

class RNNBase(Module):
    """The multi-layer recurrent modules' common parameters, checks and forward (PyTorch's RNNBase)."""

    _input_dim_message = "{name}: Expected input to be 2D or 3D, got {dim}D instead"
    _hidden_size_messages: tuple[str, ...] = ("Expected hidden size {}, got {}",)

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an element "
                             "being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                          stacklevel=3)
        for name, value, kind in (("bias", bias, bool), ("batch_first", batch_first, bool),
                                  ("input_size", input_size, int), ("hidden_size", hidden_size, int)):
            if not isinstance(value, kind):
                raise TypeError(f"{name} should be of type {kind.__name__}, got: {type(value).__name__}")
            if kind is int and value <= 0:
                raise ValueError(f"{name} must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size > 0:
            raise NotImplementedError("LSTM with proj_size > 0 (projections) is not implemented in distgrad")
        if mode not in _KINDS:
            raise ValueError("Unrecognized RNN mode: " + mode)
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        gate_size = _KINDS[mode][1] * hidden_size
        directions = 2 if bidirectional else 1
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            for direction in range(directions):
                layer_input_size = input_size if layer == 0 else hidden_size * directions
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = {"weight_ih": (gate_size, layer_input_size), "weight_hh": (gate_size, hidden_size)}
                if bias:
                    shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
                for name, shape in shapes.items():
                    setattr(self, name + suffix, Parameter(empty(*shape, device=device, dtype=dtype)))
                self._all_weights.append([name + suffix for name in shapes])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """A no-op, as PyTorch's off cuDNN: the weights are used where they are."""

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters per layer and direction: [weight_ih, weight_hh(, bias_ih, bias_hh)]."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def _state_as_tuple(self, hx: Any, is_batched: bool) -> State:
        """The user's hx as a tuple of (layers * directions, N, H) tensors, checking its dims as PyTorch."""
        dims, want = hx.dim(), 3 if is_batched else 2
        if dims != want:
            kind = "batched 3-D" if is_batched else "unbatched 2-D"
            raise RuntimeError(f"For {kind} input, hx should also be {want}-D but got {dims}-D tensor")
        return (hx if is_batched else hx.unsqueeze(1),)

    def _state_for_user(self, state: State) -> Any:
        return state[0]

    def _check_forward_args(self, input: Tensor, state: State) -> None:
        weight = self.weight_ih_l0
        if input.dtype != weight.dtype:
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype ({weight.dtype}). Convert "
                             f"input: input.to({weight.dtype}), or convert model: model.to({input.dtype})")
        if self.input_size != input.size(-1):
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got "
                               f"{input.size(-1)}")
        expected = (self.num_layers * (2 if self.bidirectional else 1), input.size(0 if self.batch_first else 1),
                     self.hidden_size)
        for s, message in zip(state, self._hidden_size_messages):
            if s.size() != expected:
                raise RuntimeError(message.format(expected, list(s.size())))

    def forward(self, input: Tensor, hx: Any = None) -> tuple[Tensor, Any]:
        """input (L, N, H_in) ((N, L, H_in) with batch_first, or unbatched (L, H_in)) -> output, h_n."""
        if input.dim() not in (2, 3):
            name = "RNN" if self.mode.startswith("RNN") else self.mode
            raise ValueError(self._input_dim_message.format(name=name, dim=input.dim()))
        is_batched = input.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        if not is_batched:
            input = input.unsqueeze(batch_dim)
        if hx is None:
            n = self.num_layers * (2 if self.bidirectional else 1)
            zero = zeros(n, input.size(batch_dim), self.hidden_size, dtype=input.dtype, device=input.device)
            state = (zero,) * len(self._hidden_size_messages)
        else:
            state = self._state_as_tuple(hx, is_batched)
        self._check_forward_args(input, state)
        weights = [w + [None] * (4 - len(w)) for w in self.all_weights]        # no biases: None for both
        output, state = _run_layers(_KINDS[self.mode][0], input.transpose(0, 1) if self.batch_first else input, state,
                                    weights, self.num_layers, self.bidirectional, self.dropout, self.training)
        if self.batch_first:
            output = output.transpose(0, 1)
        if not is_batched:
            output, state = output.squeeze(batch_dim), tuple(s.squeeze(1) for s in state)
        return output, self._state_for_user(state)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        for name, default in (("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0),
                              ("bidirectional", False)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s


class RNN(RNNBase):
    """Elman RNN, h_t = nonlinearity(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) with nonlinearity 'tanh' or 'relu'."""

    _input_dim_message = "{name}: Expected input to be 2D or 3D, got {dim}D tensor instead"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Any = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__("RNN_" + nonlinearity.upper(), input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory; forward(input, (h_0, c_0)) returns output, (h_n, c_n). proj_size is not supported."""

    _hidden_size_messages = ("Expected hidden[0] size {}, got {}", "Expected hidden[1] size {}, got {}")

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device=device, dtype=dtype)

    def _state_as_tuple(self, hx: Any, is_batched: bool) -> State:
        h, c = hx
        want = 3 if is_batched else 2
        if h.dim() != want or c.dim() != want:
            kind = "batched 3-D" if is_batched else "unbatched 2-D"
            raise RuntimeError(f"For {kind} input, hx and cx should also be {want}-D but got ({h.dim()}-D, "
                               f"{c.dim()}-D) tensors")
        return (h, c) if is_batched else (h.unsqueeze(1), c.unsqueeze(1))

    def _state_for_user(self, state: State) -> Any:
        return state


class GRU(RNNBase):
    """Gated recurrent unit (gates r, z, n as PyTorch); forward(input, h_0) returns output, h_n."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)


# --------------------------------------------------------------------------------------------------------- cells

class RNNCellBase(Module):
    """The one-step cells' common parameters (weight_ih, weight_hh, bias_ih, bias_hh), checks and forward."""

    _hidden_dim_message = "{name}: Expected hidden to be 1D or 2D, got {dim}D instead"
    _num_states = 1                     # (h,); the LSTM's is (h, c)

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = Parameter(empty(num_chunks * hidden_size, input_size, device=device, dtype=dtype))
        self.weight_hh = Parameter(empty(num_chunks * hidden_size, hidden_size, device=device, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(empty(num_chunks * hidden_size, device=device, dtype=dtype))
            self.bias_hh = Parameter(empty(num_chunks * hidden_size, device=device, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _step(self, step: Step, input: Tensor, hx: State | None) -> State:
        """One step from input (N, H_in) or (H_in,) and hx tensors (N, H) or (H,), checked as PyTorch."""
        name = type(self).__name__
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        for idx, h in enumerate(hx or ()):
            if h.dim() not in (1, 2):
                raise ValueError(self._hidden_dim_message.format(name=name, idx=idx, dim=h.dim()))
        is_batched = input.dim() == 2
        if not is_batched:
            input = input.unsqueeze(0)
            hx = None if hx is None else tuple(h.unsqueeze(0) for h in hx)
        if hx is None:
            zero = zeros(input.size(0), self.hidden_size, dtype=input.dtype, device=input.device)
            hx = (zero,) * self._num_states
        if input.size(1) != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.size(1)} expected {self.input_size}")
        for idx, h in enumerate(hx):
            if h.size(0) != input.size(0):
                raise RuntimeError(f"Input batch size {input.size(0)} doesn't match hidden{idx} batch size "
                                   f"{h.size(0)}")
            if h.size(1) != self.hidden_size:
                raise RuntimeError(f"hidden{idx} has inconsistent hidden_size: got {h.size(1)}, expected "
                                   f"{self.hidden_size}")
        state = step(F.linear(input, self.weight_ih, self.bias_ih), F.linear(hx[0], self.weight_hh, self.bias_hh),
                     hx)
        return state if is_batched else tuple(s.squeeze(0) for s in state)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class RNNCell(RNNCellBase):
    """One Elman RNN step, h' = nonlinearity(W_ih x + b_ih + W_hh h + b_hh) with nonlinearity 'tanh' or 'relu'."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        step = _KINDS["RNN_" + self.nonlinearity.upper()][0]
        return self._step(step, input, None if hx is None else (hx,))[0]


class LSTMCell(RNNCellBase):
    """One LSTM step: forward(input, (h, c)) returns (h', c')."""

    _hidden_dim_message = "{name}: Expected hx[{idx}] to be 1D or 2D, got {dim}D instead"
    _num_states = 2

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        return self._step(_lstm_step, input, None if hx is None else tuple(hx))


class GRUCell(RNNCellBase):
    """One GRU step: forward(input, h) returns h'."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step(_gru_step, input, None if hx is None else (hx,))[0]
