"""nn.RNN / LSTM / GRU and their cells: PyTorch 2.13 literals, a NumPy reference of the recurrences, gradcheck."""
import re
import warnings

import numpy as np
import pytest

import distgrad as dg
from distgrad import nn
from distgrad.autograd import gradcheck


def _load(m, device):
    """Weights from U(-0.6, 0.6) drawn in state_dict order (the literals below were made with the same draws)."""
    rng = np.random.default_rng(1)
    m.load_state_dict({k: dg.tensor(rng.uniform(-0.6, 0.6, tuple(v.shape))) for k, v in m.state_dict().items()})
    return m.to(device)


def _arr(shape, seed):
    return np.random.default_rng(seed).normal(size=shape)


def _t(a, device, grad=False):
    return dg.tensor(a, dtype=dg.float64, device=device, requires_grad=grad)


def _np(t):
    return t.detach().cpu().numpy()


# torch 2.13, float64: out, h_n (, c_n) of m(x = normal(seed 2), hx = normal(seeds 3, 4)) with the weights of _load.
TORCH_LAYERS = {
    "lstm": (lambda: nn.LSTM(3, 2, num_layers=2, bidirectional=True, dtype=dg.float64), (3, 2, 3), [(4, 2, 2)] * 2,
             [[[0.0755348, 0.5510717, -0.1196282, 0.0358495], [0.0461877, 0.3021802, -0.1973481, 0.0378601]],
              [[0.1076948, 0.072361, -0.0130468, 0.0676485], [0.0600537, 0.1587806, -0.2890927, 0.1572436]],
              [[0.1092596, -0.2189365, 0.1149305, 0.1132615], [0.0623668, -0.0070307, -0.3401111, 0.3653765]]],
             [[[[-0.0763769, 0.1005827], [0.1900921, 0.1367125]], [[0.1703413, -0.1261508], [0.1334502, 0.047609]],
               [[0.1092596, -0.2189365], [0.0623668, -0.0070307]], [[-0.1196282, 0.0358495], [-0.1973481, 0.0378601]]],
              [[[-0.1439594, 0.1797184], [0.6971815, 0.4126277]], [[0.2893209, -0.3880549], [0.5117227, 0.1190014]],
               [[0.2738188, -0.3333312], [0.1394315, -0.0113755]],
               [[-0.2136948, 0.0997011], [-0.3432851, 0.0829507]]]]),
    "gru": (lambda: nn.GRU(3, 2, num_layers=2, bidirectional=True, dtype=dg.float64), (3, 2, 3), [],
            [[[0.0222056, -0.1224365, 0.422664, -0.3242999], [-0.0095345, 0.0651355, 0.4329328, -0.3969754]],
             [[0.0397473, -0.160193, 0.3595027, -0.2487548], [0.0091305, -0.0193222, 0.3355128, -0.2390676]],
             [[-0.0165611, -0.1395085, 0.2232898, -0.1532742], [-0.0054725, -0.060281, 0.2104943, -0.1223421]]],
            [[[[0.0471371, 0.5897751], [0.5644231, 0.1863355]], [[0.4468092, 0.1279841], [0.0805511, 0.034644]],
              [[-0.0165611, -0.1395085], [-0.0054725, -0.060281]], [[0.422664, -0.3242999], [0.4329328, -0.3969754]]]]),
    "rnn_relu": (lambda: nn.RNN(3, 2, nonlinearity="relu", batch_first=True, bias=False, dtype=dg.float64),
                 (2, 3, 3), [(1, 2, 2)],
                 [[[0.9775338, 1.8281663], [0.6348499, 0.0], [0.5432407, 0.0]],
                  [[0.8794634, 0.0], [0.0, 0.0123156], [0.5512836, 0.0]]],
                 [[[[0.5432407, 0.0], [0.5512836, 0.0]]]]),
}


@pytest.mark.parametrize("name", TORCH_LAYERS)
def test_layers_match_pytorch(name, device, require_dtype):
    require_dtype(dg.float64)
    make, x_shape, hx_shapes, want_out, want_states = TORCH_LAYERS[name]
    m = _load(make(), device)
    hx = [_t(_arr(s, 3 + i), device) for i, s in enumerate(hx_shapes)]
    out, states = m(_t(_arr(x_shape, 2), device), tuple(hx) if len(hx) == 2 else (hx[0] if hx else None))
    np.testing.assert_allclose(_np(out), want_out, atol=1e-6)
    for got, want in zip(states if isinstance(states, tuple) else (states,), want_states, strict=True):
        np.testing.assert_allclose(_np(got), want, atol=1e-6)


TORCH_CELLS = {   # torch 2.13, float64: m(x = normal((2, 3), seed 2), hx = normal((2, 2), seeds 3, 4)), weights of _load
    "lstm_cell": (lambda: nn.LSTMCell(3, 2, dtype=dg.float64), 2,
                  [[[-0.0602858, -0.2748998], [0.3278842, 0.3219258]], [[-0.3807518, -0.4269685], [0.7366603, 0.4300029]]]),
    "gru_cell": (lambda: nn.GRUCell(3, 2, dtype=dg.float64), 1, [[[0.6963164, -1.5368449], [0.7343342, -0.5301615]]]),
    "rnn_cell": (lambda: nn.RNNCell(3, 2, nonlinearity="relu", dtype=dg.float64), 1,
                 [[[1.0774276, 2.2200527], [0.7758134, 0.0]]]),
}


@pytest.mark.parametrize("name", TORCH_CELLS)
def test_cells_match_pytorch(name, device, require_dtype):
    require_dtype(dg.float64)
    make, n_states, want = TORCH_CELLS[name]
    m = _load(make(), device)
    hx = tuple(_t(_arr((2, 2), 3 + i), device) for i in range(n_states))
    got = m(_t(_arr((2, 3), 2), device), hx if n_states == 2 else hx[0])
    for g, w in zip(got if n_states == 2 else (got,), want, strict=True):
        np.testing.assert_allclose(_np(g), w, atol=1e-6)
    one = m(_t(_arr((2, 3), 2)[1], device), tuple(h[1] for h in hx) if n_states == 2 else hx[0][1])   # unbatched
    for g, w in zip(one if n_states == 2 else (one,), want, strict=True):
        np.testing.assert_allclose(_np(g), w[1], atol=1e-6)


# ------------------------------------------------------------------------------------------ the NumPy reference

def _sig(x):
    return 1 / (1 + np.exp(-x))


def _np_step(kind, x, h, c, w_ih, w_hh, b_ih, b_hh):
    gi, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
    if kind == "lstm":
        i, f, g, o = np.split(gi + gh, 4, axis=-1)
        c = _sig(f) * c + _sig(i) * np.tanh(g)
        return _sig(o) * np.tanh(c), c
    if kind == "gru":
        (i_r, i_z, i_n), (h_r, h_z, h_n) = np.split(gi, 3, axis=-1), np.split(gh, 3, axis=-1)
        r, z = _sig(i_r + h_r), _sig(i_z + h_z)
        n = np.tanh(i_n + r * h_n)
        return (1 - z) * n + z * h, c
    return (np.tanh(gi + gh) if kind == "rnn_tanh" else np.maximum(gi + gh, 0)), c


def _np_layers(kind, x, h0, c0, p, num_layers, directions):
    """x (L, N, H_in), h0 / c0 (layers * directions, N, H), p the state_dict as arrays -> out, h_n, c_n."""
    h_n, c_n = np.zeros_like(h0), np.zeros_like(c0)
    for layer in range(num_layers):
        outs = []
        for d in range(directions):
            s, k = f"_l{layer}" + ("_reverse" if d else ""), layer * directions + d
            w_ih, w_hh = p["weight_ih" + s], p["weight_hh" + s]
            b_ih, b_hh = p.get("bias_ih" + s, 0.0), p.get("bias_hh" + s, 0.0)
            h, c, out = h0[k], c0[k], np.zeros((x.shape[0], x.shape[1], h0.shape[2]))
            for t in (range(x.shape[0])[::-1] if d else range(x.shape[0])):
                h, c = _np_step(kind, x[t], h, c, w_ih, w_hh, b_ih, b_hh)
                out[t] = h
            outs.append(out)
            h_n[k], c_n[k] = h, c
        x = np.concatenate(outs, axis=2)
    return x, h_n, c_n


NUMPY_CASES = [   # id, kind, module, input shape (unbatched or batch_first as the module says)
    ("lstm_2l_bidir_batch_first", "lstm", lambda: nn.LSTM(3, 2, 2, batch_first=True, bidirectional=True), (2, 4, 3)),
    ("lstm_no_bias_unbatched", "lstm", lambda: nn.LSTM(3, 2, bias=False), (4, 3)),
    ("gru_2l_no_bias", "gru", lambda: nn.GRU(3, 2, num_layers=2, bias=False), (4, 2, 3)),
    ("gru_bidir_unbatched_batch_first", "gru", lambda: nn.GRU(3, 2, batch_first=True, bidirectional=True), (4, 3)),
    ("rnn_tanh_3l_bidir", "rnn_tanh", lambda: nn.RNN(3, 2, num_layers=3, bidirectional=True), (4, 2, 3)),
    ("rnn_relu", "rnn_relu", lambda: nn.RNN(3, 2, nonlinearity="relu"), (4, 2, 3)),
]


@pytest.mark.parametrize("kind,make,x_shape", [c[1:] for c in NUMPY_CASES], ids=[c[0] for c in NUMPY_CASES])
def test_layers_match_numpy_reference(kind, make, x_shape, device, require_dtype):
    require_dtype(dg.float64)
    m = make().to(device=device, dtype=dg.float64)
    directions = 2 if m.bidirectional else 1
    unbatched = len(x_shape) == 2
    x = _arr(x_shape, 5)
    x_tm = x[:, None] if unbatched else (x.transpose(1, 0, 2) if m.batch_first else x)       # time-major (L, N, H)
    h0, c0 = (_arr((m.num_layers * directions, x_tm.shape[1], 2), s) for s in (6, 7))
    hx = tuple(_t(a[:, 0] if unbatched else a, device) for a in (h0, c0))
    out, states = m(_t(x, device), hx if kind == "lstm" else hx[0])
    want_out, want_h, want_c = _np_layers(kind, x_tm, h0, c0, {k: _np(v) for k, v in m.state_dict().items()},
                                          m.num_layers, directions)
    want_out = want_out[:, 0] if unbatched else (want_out.transpose(1, 0, 2) if m.batch_first else want_out)
    np.testing.assert_allclose(_np(out), want_out, atol=1e-10)
    wants = (want_h, want_c) if kind == "lstm" else (want_h,)
    for got, want in zip(states if kind == "lstm" else (states,), wants, strict=True):
        np.testing.assert_allclose(_np(got), want[:, 0] if unbatched else want, atol=1e-10)


@pytest.mark.parametrize("kind,make", [("lstm", lambda: nn.LSTMCell(3, 2)), ("gru", lambda: nn.GRUCell(3, 2, bias=False)),
                                       ("rnn_tanh", lambda: nn.RNNCell(3, 2))])
def test_cells_match_numpy_reference_and_start_from_zeros(kind, make, device, require_dtype):
    require_dtype(dg.float64)
    m = make().to(device=device, dtype=dg.float64)
    p = {k: _np(v) for k, v in m.state_dict().items()}
    x = _arr((2, 3), 5)
    got = m(_t(x, device))
    want = _np_step(kind, x, np.zeros((2, 2)), np.zeros((2, 2)), p["weight_ih"], p["weight_hh"],
                    p.get("bias_ih", 0.0), p.get("bias_hh", 0.0))
    for g, w in zip(got if kind == "lstm" else (got,), want if kind == "lstm" else want[:1], strict=True):
        np.testing.assert_allclose(_np(g), w, atol=1e-10)


# ------------------------------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("make", [lambda: nn.LSTM(1, 1, bidirectional=True), lambda: nn.GRU(1, 2, num_layers=2),
                                  lambda: nn.RNN(1, 2, nonlinearity="relu")], ids=["lstm", "gru", "rnn_relu"])
def test_layers_gradcheck(make, device, require_dtype):
    require_dtype(dg.float64)
    m = make().to(device=device, dtype=dg.float64)
    directions = 2 if m.bidirectional else 1
    x = _t(_arr((2, 1, 1), 8), device, grad=True)
    hx = [_t(_arr((m.num_layers * directions, 1, m.hidden_size), s), device, grad=True) for s in (9, 10)]
    is_lstm = isinstance(m, nn.LSTM)

    def run(x, h, c, *params):
        out, states = m(x, (h, c) if is_lstm else h)
        return (out, *states) if is_lstm else (out, states)
    assert gradcheck(run, (x, *hx, *m.parameters()))


@pytest.mark.parametrize("make", [lambda: nn.LSTMCell(2, 2), lambda: nn.GRUCell(2, 2)], ids=["lstm_cell", "gru_cell"])
def test_cells_gradcheck(make, device, require_dtype):
    require_dtype(dg.float64)
    m = make().to(device=device, dtype=dg.float64)
    x, h, c = (_t(_arr((2, 2), s), device, grad=True) for s in (8, 9, 10))
    is_lstm = isinstance(m, nn.LSTMCell)
    assert gradcheck(lambda x, h, c, *params: m(x, (h, c) if is_lstm else h), (x, h, c, *m.parameters()))


def test_backward_reaches_every_parameter(device):
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True).to(device)
    out, (h, c) = m(dg.ones(2, 5, 3, device=device))
    (out.sum() + h.sum() + c.sum()).backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
        assert np.abs(_np(p.grad)).sum() > 0, name


# ---------------------------------------------------------------------------- dropout, parameters, shapes, init

def test_dropout_acts_between_layers_in_training_only(device, require_dtype):
    require_dtype(dg.float64)
    m = nn.GRU(3, 2, num_layers=2, dropout=1.0).to(device=device, dtype=dg.float64)
    top = nn.GRU(2, 2).to(device=device, dtype=dg.float64)       # layer 1 alone, fed what dropout(p=1) leaves: zeros
    top.load_state_dict({k.replace("_l1", "_l0"): v for k, v in m.state_dict().items() if "_l1" in k})
    x, h0 = _t(_arr((4, 2, 3), 5), device), _t(_arr((2, 2, 2), 6), device)
    out, h = m(x, h0)
    want, want_h = top(dg.zeros(4, 2, 2, dtype=dg.float64, device=device), h0[1:])
    np.testing.assert_allclose(_np(out), _np(want), atol=1e-12)
    np.testing.assert_allclose(_np(h[1:]), _np(want_h), atol=1e-12)
    m.eval()
    out, _ = m(x, h0)
    p = {k: _np(v) for k, v in m.state_dict().items()}
    np.testing.assert_allclose(_np(out), _np_layers("gru", _np(x), _np(h0), _np(h0), p, 2, 1)[0], atol=1e-10)


def test_state_dict_keys_and_shapes_are_pytorchs():
    assert list(nn.LSTM(3, 2, num_layers=2, bidirectional=True).state_dict()) == [   # torch 2.13
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l0_reverse", "weight_hh_l0_reverse",
        "bias_ih_l0_reverse", "bias_hh_l0_reverse", "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1",
        "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse"]
    assert list(nn.GRU(3, 2, num_layers=2, bias=False).state_dict()) == ["weight_ih_l0", "weight_hh_l0",
                                                                         "weight_ih_l1", "weight_hh_l1"]
    assert list(nn.GRUCell(3, 2, bias=False).state_dict()) == ["weight_ih", "weight_hh"]
    assert [[tuple(p.shape) for p in ws] for ws in nn.LSTM(3, 4, num_layers=2).all_weights] == [
        [(16, 3), (16, 4), (16,), (16,)], [(16, 4), (16, 4), (16,), (16,)]]
    shapes = {k: tuple(v.shape) for k, v in nn.GRU(3, 5, num_layers=2, bidirectional=True).state_dict().items()}
    assert shapes["weight_ih_l1_reverse"] == (15, 10) and shapes["bias_hh_l0"] == (15,)
    assert tuple(nn.RNNCell(3, 5).weight_hh.shape) == (5, 5)
    assert tuple(nn.LSTMCell(3, 5).bias_ih.shape) == (20,)


@pytest.mark.parametrize("make", [lambda: nn.LSTM(3, 16, num_layers=2), lambda: nn.GRUCell(3, 16)])
def test_init_is_uniform_within_one_over_sqrt_hidden(make):
    dg.manual_seed(0)
    for name, p in make().named_parameters():
        v = _np(p)
        assert np.abs(v).max() <= 0.25 and np.abs(v).max() > 0.2 and abs(v.mean()) < 0.1, name


def test_output_shapes_and_repr(device):
    o, (h, c) = nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True).to(device)(dg.zeros(5, 7, 3,
                                                                                                     device=device))
    assert (tuple(o.shape), tuple(h.shape), tuple(c.shape)) == ((5, 7, 8), (4, 5, 4), (4, 5, 4))
    o, (h, c) = nn.LSTM(3, 4, num_layers=2, bidirectional=True).to(device)(dg.zeros(7, 3, device=device))
    assert (tuple(o.shape), tuple(h.shape), tuple(c.shape)) == ((7, 8), (4, 4), (4, 4))
    o, h = nn.GRU(3, 4, batch_first=True).to(device)(dg.zeros(7, 3, device=device))
    assert (tuple(o.shape), tuple(h.shape)) == ((7, 4), (1, 4))
    assert repr(nn.LSTM(3, 4, dropout=0.5, num_layers=2, bias=False)) == "LSTM(3, 4, num_layers=2, bias=False, dropout=0.5)"
    assert repr(nn.RNN(3, 4, nonlinearity="relu", batch_first=True)) == "RNN(3, 4, batch_first=True)"
    assert repr(nn.RNNCell(3, 4, bias=False, nonlinearity="relu")) == "RNNCell(3, 4, bias=False, nonlinearity=relu)"


# ---------------------------------------------------------------------------------------------------- errors

ERRORS = [   # messages from torch 2.13
    (lambda: nn.LSTM(3, 4)(dg.zeros(5, 2, 6)), RuntimeError,
     "input.size(-1) must be equal to input_size. Expected 3, got 6"),
    (lambda: nn.LSTM(3, 4)(dg.zeros(5, 2, 3, 1)), ValueError, "LSTM: Expected input to be 2D or 3D, got 4D instead"),
    (lambda: nn.GRU(3, 4)(dg.zeros(5)), ValueError, "GRU: Expected input to be 2D or 3D, got 1D instead"),
    (lambda: nn.RNN(3, 4)(dg.zeros(5, 2, 3, 1)), ValueError,
     "RNN: Expected input to be 2D or 3D, got 4D tensor instead"),
    (lambda: nn.RNN(3, 4)(dg.zeros(5, 2, 3), dg.zeros(2, 4)), RuntimeError,
     "For batched 3-D input, hx should also be 3-D but got 2-D tensor"),
    (lambda: nn.RNN(3, 4)(dg.zeros(5, 3), dg.zeros(1, 2, 4)), RuntimeError,
     "For unbatched 2-D input, hx should also be 2-D but got 3-D tensor"),
    (lambda: nn.GRU(3, 4, num_layers=2)(dg.zeros(5, 2, 3), dg.zeros(1, 2, 4)), RuntimeError,
     "Expected hidden size (2, 2, 4), got [1, 2, 4]"),
    (lambda: nn.GRU(3, 4, batch_first=True, bidirectional=True)(dg.zeros(5, 2, 3), dg.zeros(2, 2, 4)), RuntimeError,
     "Expected hidden size (2, 5, 4), got [2, 2, 4]"),
    (lambda: nn.LSTM(3, 4)(dg.zeros(5, 2, 3), (dg.zeros(1, 2, 4), dg.zeros(1, 3, 4))), RuntimeError,
     "Expected hidden[1] size (1, 2, 4), got [1, 3, 4]"),
    (lambda: nn.LSTM(3, 4)(dg.zeros(5, 2, 3), (dg.zeros(1, 2, 5), dg.zeros(1, 2, 4))), RuntimeError,
     "Expected hidden[0] size (1, 2, 4), got [1, 2, 5]"),
    (lambda: nn.LSTM(3, 4)(dg.zeros(5, 2, 3), (dg.zeros(2, 4), dg.zeros(1, 2, 4))), RuntimeError,
     "For batched 3-D input, hx and cx should also be 3-D but got (2-D, 3-D) tensors"),
    (lambda: nn.LSTM(3, 4)(dg.zeros(5, 2, 3, dtype=dg.float64)), ValueError,
     ("RNN input dtype (torch.float64) does not match weight dtype (torch.float32). Convert input: "
      "input.to(torch.float32), or convert model: model.to(torch.float64)")),
    (lambda: nn.LSTM(3, 4, dropout=1.5), ValueError,
     "dropout should be a number in range [0, 1] representing the probability of an element being zeroed"),
    (lambda: nn.LSTM(3, 0), ValueError, "hidden_size must be greater than zero"),
    (lambda: nn.LSTM(3.0, 4), TypeError, "input_size should be of type int, got: float"),
    (lambda: nn.LSTM(3, 4, bias=1), TypeError, "bias should be of type bool, got: int"),
    (lambda: nn.LSTM(3, 4, num_layers=0), ValueError, "num_layers must be greater than zero"),
    (lambda: nn.LSTM(3, 4, proj_size=4), ValueError, "proj_size has to be smaller than hidden_size"),
    (lambda: nn.LSTM(3, 4, proj_size=2), NotImplementedError, "proj_size > 0"),
    (lambda: nn.RNN(3, 4, nonlinearity="sigmoid"), ValueError,
     "Unknown nonlinearity 'sigmoid'. Select from 'tanh' or 'relu'."),
    (lambda: nn.LSTMCell(3, 4)(dg.zeros(2, 5)), RuntimeError, "input has inconsistent input_size: got 5 expected 3"),
    (lambda: nn.LSTMCell(3, 4)(dg.zeros(2, 3), (dg.zeros(3, 4), dg.zeros(2, 4))), RuntimeError,
     "Input batch size 2 doesn't match hidden0 batch size 3"),
    (lambda: nn.LSTMCell(3, 4)(dg.zeros(2, 3), (dg.zeros(2, 4), dg.zeros(2, 5))), RuntimeError,
     "hidden1 has inconsistent hidden_size: got 5, expected 4"),
    (lambda: nn.LSTMCell(3, 4)(dg.zeros(2, 3), (dg.zeros(2, 4), dg.zeros(1, 2, 5))), ValueError,
     "LSTMCell: Expected hx[1] to be 1D or 2D, got 3D instead"),
    (lambda: nn.GRUCell(3, 4)(dg.zeros(1, 2, 3)), ValueError, "GRUCell: Expected input to be 1D or 2D, got 3D instead"),
    (lambda: nn.GRUCell(3, 4)(dg.zeros(2, 3), dg.zeros(1, 2, 4)), ValueError,
     "GRUCell: Expected hidden to be 1D or 2D, got 3D instead"),
    (lambda: nn.RNNCell(3, 4, nonlinearity="foo")(dg.zeros(2, 3)), RuntimeError, "Unknown nonlinearity: foo"),
]


@pytest.mark.parametrize("call,exc,message", ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_errors_match_pytorch(call, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        call()


def test_dropout_with_one_layer_warns_as_pytorch():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nn.GRU(3, 4, dropout=0.5)
    message = ("dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects "
               "num_layers greater than 1, but got dropout=0.5 and num_layers=1")
    assert [str(w.message) for w in caught] == [message]
