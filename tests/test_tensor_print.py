"""Tensor printing: tensor_repr against PyTorch's own output, printoptions, Size and return_types.

The expected strings were printed by PyTorch 2.13 for the same values (PyTorch is no test dependency: they are literals).
The hypothesis tests check invariants that need no oracle: the repr is a Python expression that evaluates back to the
values (within the printed precision), rows line up, and summaries keep exactly the edge items.
"""
import math
import pickle
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from distgrad import return_types
from distgrad._tensor_str import get_printoptions, set_printoptions, tensor_repr
from distgrad.backends import base
from distgrad.size import Size

nan, inf = np.nan, np.inf
DTYPES = {d.name: d for d in base.ALL_DTYPES}


@pytest.fixture(autouse=True)
def default_printoptions():
    yield
    set_printoptions(profile="default")


def mixed(n: int, dtype=np.float32, scale: float = 1.0) -> np.ndarray:
    """Deterministic values of both signs and several widths (IEEE division only, so the same on every machine)."""
    return ((np.arange(n) * 37 % 101 - 50) / 7 * scale).astype(dtype)


def show(values: np.ndarray, default_dtype: str = "float32", **kwargs) -> str:
    return tensor_repr(values, base.DTYPE_OF_NUMPY[values.dtype], default_dtype=DTYPES[default_dtype], **kwargs)


ORACLE = [  # id, values, tensor_repr keywords, what PyTorch 2.13 prints for the same tensor
    ("float_fixed", np.array([5.5, 3.0], np.float32), {},
     "tensor([5.5000, 3.0000])"),
    ("float_int_mode_2d", np.ones((5, 3), np.float32), {},
     ("tensor([[1., 1., 1.],\n"
      "        [1., 1., 1.],\n"
      "        [1., 1., 1.],\n"
      "        [1., 1., 1.],\n"
      "        [1., 1., 1.]])")),
    ("int64_zeros", np.zeros((5, 3), np.int64), {},
     ("tensor([[0, 0, 0],\n"
      "        [0, 0, 0],\n"
      "        [0, 0, 0],\n"
      "        [0, 0, 0],\n"
      "        [0, 0, 0]])")),
    ("float64_suffix", np.ones((5, 3)), {},
     ("tensor([[1., 1., 1.],\n"
      "        [1., 1., 1.],\n"
      "        [1., 1., 1.],\n"
      "        [1., 1., 1.],\n"
      "        [1., 1., 1.]], dtype=torch.float64)")),
    ("sci_by_ratio", np.array([51.2, 512.0, 0.0512], np.float32), {},
     "tensor([5.1200e+01, 5.1200e+02, 5.1200e-02])"),
    ("sci_by_large", np.array([1e9, 1.5], np.float32), {},
     "tensor([1.0000e+09, 1.5000e+00])"),
    ("sci_by_small", np.array([1e-5, 1.0], np.float32), {},
     "tensor([1.0000e-05, 1.0000e+00])"),
    ("sci_int_mode", np.array([1e10, 1.0], np.float32), {},
     "tensor([1.0000e+10, 1.0000e+00])"),
    ("sci_tiny_denormals", np.array([[8.4078e-45, 0.0, 2.6136e-28], [5.5772e-43, -1.3120e-30, 4.5915e-41]], np.float32),
     {},
     ("tensor([[ 8.4078e-45,  0.0000e+00,  2.6136e-28],\n"
      "        [ 5.5772e-43, -1.3120e-30,  4.5915e-41]])")),
    ("negative_fixed", np.array([-800.3267, 194.5804, 608.2095], np.float32), {"suffixes": ["grad_fn=<MulBackward0>"]},
     "tensor([-800.3267,  194.5804,  608.2095], grad_fn=<MulBackward0>)"),
    ("nan_inf_fixed", np.array([nan, inf, -inf, 1.5], np.float32), {},
     "tensor([   nan,    inf,   -inf, 1.5000])"),
    ("nan_inf_int_mode", np.array([nan, -inf, 1.0, 20.0], np.float32), {},
     "tensor([nan, -inf,  1., 20.])"),
    ("nan_inf_sci", np.array([nan, inf, 1e-6, 3.0], np.float32), {},
     "tensor([       nan,        inf, 1.0000e-06, 3.0000e+00])"),
    ("all_nan", np.array([nan, nan], np.float32), {},
     "tensor([nan, nan])"),
    ("negative_zero", np.array([0.0, -0.0], np.float32), {},
     "tensor([0., -0.])"),
    ("negative_zero_fixed", np.array([-0.0, 0.5], np.float32), {},
     "tensor([-0.0000, 0.5000])"),
    ("scalar_int_mode", np.array(27.0, np.float32), {"suffixes": ["grad_fn=<MeanBackward0>"]},
     "tensor(27., grad_fn=<MeanBackward0>)"),
    ("scalar_fixed", np.array(1.2373, np.float32), {},
     "tensor(1.2373)"),
    ("scalar_float64", np.array(-1.5), {},
     "tensor(-1.5000, dtype=torch.float64)"),
    ("scalar_sci", np.array(1.5e-7, np.float32), {},
     "tensor(1.5000e-07)"),
    ("scalar_nan", np.array(nan, np.float32), {},
     "tensor(nan)"),
    ("scalar_int", np.array(15), {},
     "tensor(15)"),
    ("scalar_bool", np.array(True), {},
     "tensor(True)"),
    ("bool_vector", np.array([True, False, True]), {},
     "tensor([ True, False,  True])"),
    ("bool_matrix_int32_free", np.array([[False, False], [True, True]]), {},
     ("tensor([[False, False],\n"
      "        [ True,  True]])")),
    ("int_widths", np.array([[0, 10, 2, 3], [4, 5, 6, 7]]), {},
     ("tensor([[ 0, 10,  2,  3],\n"
      "        [ 4,  5,  6,  7]])")),
    ("int_large", np.array([[0, 10, 2, 3], [1, 1, 1, 1], [25, 93970119698776, 140551396087024, 1]]), {},
     ("tensor([[              0,              10,               2,               3],\n"
      "        [              1,               1,               1,               1],\n"
      "        [             25,  93970119698776, 140551396087024,               1]])")),
    ("int_negative", np.array([-5, 12, -100]), {},
     "tensor([  -5,   12, -100])"),
    ("int8", np.array([[1, 1, 1], [1, 1, 1]], np.int8), {},
     ("tensor([[1, 1, 1],\n"
      "        [1, 1, 1]], dtype=torch.int8)")),
    ("int32", np.array([[2, 2, 0, 1], [0, 2, 0, 0]], np.int32), {},
     ("tensor([[2, 2, 0, 1],\n"
      "        [0, 2, 0, 0]], dtype=torch.int32)")),
    ("int16", np.array([-3, 4], np.int16), {},
     "tensor([-3,  4], dtype=torch.int16)"),
    ("uint8", np.array([0, 128, 255], np.uint8), {},
     "tensor([  0, 128, 255], dtype=torch.uint8)"),
    ("float16_fixed", np.array([0.1, 2.5, -3.0], np.float16), {},
     "tensor([ 0.1000,  2.5000, -3.0000], dtype=torch.float16)"),
    ("float16_sci", np.array([0.1, 65504.0], np.float16), {},
     "tensor([9.9976e-02, 6.5504e+04], dtype=torch.float16)"),
    ("float64_fixed", np.array([2.0, 2.5]), {},
     "tensor([2.0000, 2.5000], dtype=torch.float64)"),
    ("float64_default", np.array([2.0, 2.5]), {"default_dtype": "float64"},
     "tensor([2.0000, 2.5000])"),
    ("float32_under_float64_default", np.array([2.0, 2.5], np.float32), {"default_dtype": "float64"},
     "tensor([2.0000, 2.5000], dtype=torch.float32)"),
    ("empty", np.zeros((0,), np.float32), {},
     "tensor([])"),
    ("empty_2d", np.zeros((0, 3), np.float32), {},
     "tensor([], size=(0, 3))"),
    ("empty_int64", np.zeros((0,), np.int64), {},
     "tensor([], dtype=torch.int64)"),
    ("empty_bool_3d", np.zeros((2, 0, 3), bool), {},
     "tensor([], size=(2, 0, 3), dtype=torch.bool)"),
    ("empty_float64", np.zeros((0,)), {},
     "tensor([], dtype=torch.float64)"),
    ("empty_float64_default", np.zeros((0, 2)), {"default_dtype": "float64"},
     "tensor([], size=(0, 2))"),
    ("three_d_ints", np.arange(27).reshape(3, 3, 3), {},
     ("tensor([[[ 0,  1,  2],\n"
      "         [ 3,  4,  5],\n"
      "         [ 6,  7,  8]],\n"
      "\n"
      "        [[ 9, 10, 11],\n"
      "         [12, 13, 14],\n"
      "         [15, 16, 17]],\n"
      "\n"
      "        [[18, 19, 20],\n"
      "         [21, 22, 23],\n"
      "         [24, 25, 26]]])")),
    ("five_d", np.array([0, 10, 2, 3, 1, 1, 1, 1]).reshape(1, 1, 1, 2, 4), {},
     ("tensor([[[[[ 0, 10,  2,  3],\n"
      "           [ 1,  1,  1,  1]]]]])")),
    ("four_d_floats", mixed(24).reshape(2, 1, 3, 4), {},
     ("tensor([[[[-7.1429, -1.8571,  3.4286, -5.7143],\n"
      "          [-0.4286,  4.8571, -4.2857,  1.0000],\n"
      "          [ 6.2857, -2.8571,  2.4286, -6.7143]]],\n"
      "\n"
      "\n"
      "        [[[-1.4286,  3.8571, -5.2857,  0.0000],\n"
      "          [ 5.2857, -3.8571,  1.4286,  6.7143],\n"
      "          [-2.4286,  2.8571, -6.2857, -1.0000]]]])")),
    ("wrap_long_row", np.linspace(0, 10, 21).astype(np.float32), {},
     ("tensor([ 0.0000,  0.5000,  1.0000,  1.5000,  2.0000,  2.5000,  3.0000,  3.5000,\n"
      "         4.0000,  4.5000,  5.0000,  5.5000,  6.0000,  6.5000,  7.0000,  7.5000,\n"
      "         8.0000,  8.5000,  9.0000,  9.5000, 10.0000])")),
    ("wrap_2d_rows", mixed(60).reshape(3, 20), {"suffixes": ["grad_fn=<ReluBackward0>"]},
     ("tensor([[-7.1429, -1.8571,  3.4286, -5.7143, -0.4286,  4.8571, -4.2857,  1.0000,\n"
      "          6.2857, -2.8571,  2.4286, -6.7143, -1.4286,  3.8571, -5.2857,  0.0000,\n"
      "          5.2857, -3.8571,  1.4286,  6.7143],\n"
      "        [-2.4286,  2.8571, -6.2857, -1.0000,  4.2857, -4.8571,  0.4286,  5.7143,\n"
      "         -3.4286,  1.8571,  7.1429, -2.0000,  3.2857, -5.8571, -0.5714,  4.7143,\n"
      "         -4.4286,  0.8571,  6.1429, -3.0000],\n"
      "        [ 2.2857, -6.8571, -1.5714,  3.7143, -5.4286, -0.1429,  5.1429, -4.0000,\n"
      "          1.2857,  6.5714, -2.5714,  2.7143, -6.4286, -1.1429,  4.1429, -5.0000,\n"
      "          0.2857,  5.5714, -3.5714,  1.7143]], grad_fn=<ReluBackward0>)")),
    ("wrap_int_row", np.arange(40).reshape(2, 20), {},
     ("tensor([[ 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15, 16, 17,\n"
      "         18, 19],\n"
      "        [20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37,\n"
      "         38, 39]])")),
    ("wrap_3d", mixed(60, np.float64).reshape(2, 2, 15), {},
     ("tensor([[[-7.1429, -1.8571,  3.4286, -5.7143, -0.4286,  4.8571, -4.2857,\n"
      "           1.0000,  6.2857, -2.8571,  2.4286, -6.7143, -1.4286,  3.8571,\n"
      "          -5.2857],\n"
      "         [ 0.0000,  5.2857, -3.8571,  1.4286,  6.7143, -2.4286,  2.8571,\n"
      "          -6.2857, -1.0000,  4.2857, -4.8571,  0.4286,  5.7143, -3.4286,\n"
      "           1.8571]],\n"
      "\n"
      "        [[ 7.1429, -2.0000,  3.2857, -5.8571, -0.5714,  4.7143, -4.4286,\n"
      "           0.8571,  6.1429, -3.0000,  2.2857, -6.8571, -1.5714,  3.7143,\n"
      "          -5.4286],\n"
      "         [-0.1429,  5.1429, -4.0000,  1.2857,  6.5714, -2.5714,  2.7143,\n"
      "          -6.4286, -1.1429,  4.1429, -5.0000,  0.2857,  5.5714, -3.5714,\n"
      "           1.7143]]], dtype=torch.float64)")),
    ("summarize_1d", np.arange(2000, dtype=np.float32), {},
     ("tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n"
      "        1.9990e+03])")),
    ("summarize_2d", mixed(50 * 50).reshape(50, 50), {},
     ("tensor([[-7.1429, -1.8571,  3.4286,  ..., -4.0000,  1.2857,  6.5714],\n"
      "        [-2.5714,  2.7143, -6.4286,  ...,  0.5714,  5.8571, -3.2857],\n"
      "        [ 2.0000, -7.1429, -1.8571,  ...,  5.1429, -4.0000,  1.2857],\n"
      "        ...,\n"
      "        [ 5.7143, -3.4286,  1.8571,  ..., -5.5714, -0.2857,  5.0000],\n"
      "        [-4.1429,  1.1429,  6.4286,  ..., -1.0000,  4.2857, -4.8571],\n"
      "        [ 0.4286,  5.7143, -3.4286,  ...,  3.5714, -5.5714, -0.2857]])")),
    ("summarize_3d", np.arange(1120).reshape(7, 2, 80), {},
     ("tensor([[[   0,    1,    2,  ...,   77,   78,   79],\n"
      "         [  80,   81,   82,  ...,  157,  158,  159]],\n"
      "\n"
      "        [[ 160,  161,  162,  ...,  237,  238,  239],\n"
      "         [ 240,  241,  242,  ...,  317,  318,  319]],\n"
      "\n"
      "        [[ 320,  321,  322,  ...,  397,  398,  399],\n"
      "         [ 400,  401,  402,  ...,  477,  478,  479]],\n"
      "\n"
      "        ...,\n"
      "\n"
      "        [[ 640,  641,  642,  ...,  717,  718,  719],\n"
      "         [ 720,  721,  722,  ...,  797,  798,  799]],\n"
      "\n"
      "        [[ 800,  801,  802,  ...,  877,  878,  879],\n"
      "         [ 880,  881,  882,  ...,  957,  958,  959]],\n"
      "\n"
      "        [[ 960,  961,  962,  ..., 1037, 1038, 1039],\n"
      "         [1040, 1041, 1042,  ..., 1117, 1118, 1119]]])")),
    ("summarize_one_long_dim", np.arange(1001).reshape(7, 143), {},
     ("tensor([[   0,    1,    2,  ...,  140,  141,  142],\n"
      "        [ 143,  144,  145,  ...,  283,  284,  285],\n"
      "        [ 286,  287,  288,  ...,  426,  427,  428],\n"
      "        ...,\n"
      "        [ 572,  573,  574,  ...,  712,  713,  714],\n"
      "        [ 715,  716,  717,  ...,  855,  856,  857],\n"
      "        [ 858,  859,  860,  ...,  998,  999, 1000]])")),
    ("summarize_formats_edges_only", np.concatenate([[1.5, 2.5, 3.5], np.full(1000, 1e-9), [4.5, 5.5, 6.5]]), {},
     ("tensor([1.5000, 2.5000, 3.5000,  ..., 4.5000, 5.5000, 6.5000],\n"
      "       dtype=torch.float64)")),
    ("requires_grad_fits", np.array([[1.0, 1.0], [1.0, 1.0]], np.float32), {"suffixes": ["requires_grad=True"]},
     ("tensor([[1., 1.],\n"
      "        [1., 1.]], requires_grad=True)")),
    ("requires_grad_wraps", np.array([0.1249, 0.4242, 0.2952, -0.4075, -0.4252, -0.2157], np.float32),
     {"suffixes": ["requires_grad=True"]},
     ("tensor([ 0.1249,  0.4242,  0.2952, -0.4075, -0.4252, -0.2157],\n"
      "       requires_grad=True)")),
    ("grad_fn_wraps", np.array([[0.4057, -0.9840, -0.9035, 0.5389, 0.1093, -2.2489],
                               [0.6030, -0.1382, 0.8286, -0.2459, -0.8032, 0.2358]], np.float32),
     {"suffixes": ["grad_fn=<AddmmBackward0>"]},
     ("tensor([[ 0.4057, -0.9840, -0.9035,  0.5389,  0.1093, -2.2489],\n"
      "        [ 0.6030, -0.1382,  0.8286, -0.2459, -0.8032,  0.2358]],\n"
      "       grad_fn=<AddmmBackward0>)")),
    ("suffix_fits_exactly", np.array([-800.3267, 194.5804, 608.2095, 1.5], np.float32),
     {"suffixes": ["grad_fn=<UnbindBackward0>"]},
     "tensor([-800.3267,  194.5804,  608.2095,    1.5000], grad_fn=<UnbindBackward0>)"),
    ("suffix_one_char_too_long", np.array([-800.3267, 194.5804, 608.2095, 1.5], np.float32),
     {"suffixes": ["grad_fn=<SqueezeBackward0>"]},
     ("tensor([-800.3267,  194.5804,  608.2095,    1.5000],\n"
      "       grad_fn=<SqueezeBackward0>)")),
    ("second_suffix_fits_exactly", np.array([[-800.3267, 194.5804], [608.2095, 1.5]], np.float32),
     {"device": "cuda:0", "suffixes": ["grad_fn=<UnsqueezeBackward0>"]},
     ("tensor([[-800.3267,  194.5804],\n"
      "        [ 608.2095,    1.5000]], device='cuda:0', grad_fn=<UnsqueezeBackward0>)")),
    ("second_suffix_one_char_too_long", np.array([[-800.3267, 194.5804], [608.2095, 1.5]], np.float32),
     {"device": "cuda:0", "suffixes": ["grad_fn=<LogSoftmaxBackward0>"]},
     ("tensor([[-800.3267,  194.5804],\n"
      "        [ 608.2095,    1.5000]], device='cuda:0',\n"
      "       grad_fn=<LogSoftmaxBackward0>)")),
    ("device_suffix", np.array([[2.7866, 2.8163], [-0.1594, 2.8653]], np.float32), {"device": "cuda:0"},
     ("tensor([[ 2.7866,  2.8163],\n"
      "        [-0.1594,  2.8653]], device='cuda:0')")),
    ("device_and_dtype", np.array([1, 2], np.int32), {"device": "cuda:0"},
     "tensor([1, 2], device='cuda:0', dtype=torch.int32)"),
    ("device_dtype_grad_wraps", mixed(7, np.float64), {"device": "cuda:0", "suffixes": ["grad_fn=<MulBackward0>"]},
     ("tensor([-7.1429, -1.8571,  3.4286, -5.7143, -0.4286,  4.8571, -4.2857],\n"
      "       device='cuda:0', dtype=torch.float64, grad_fn=<MulBackward0>)")),
    ("suffixes_wrap_twice", mixed(7, np.float64),
     {"device": "cuda:0", "suffixes": ["grad_fn=<BinaryCrossEntropyBackward0>"]},
     ("tensor([-7.1429, -1.8571,  3.4286, -5.7143, -0.4286,  4.8571, -4.2857],\n"
      "       device='cuda:0', dtype=torch.float64,\n"
      "       grad_fn=<BinaryCrossEntropyBackward0>)")),
    ("device_scalar", np.array(3.0, np.float32), {"device": "cuda:0", "suffixes": ["requires_grad=True"]},
     "tensor(3., device='cuda:0', requires_grad=True)"),
    ("empty_with_grad", np.zeros((0, 4), np.float32), {"suffixes": ["requires_grad=True"]},
     "tensor([], size=(0, 4), requires_grad=True)"),
]

OPTION_CASES = [  # id, values, set_printoptions keywords, what PyTorch 2.13 prints
    ("precision_2", mixed(5), {"precision": 2},
     "tensor([-7.14, -1.86,  3.43, -5.71, -0.43])"),
    ("precision_0", mixed(5), {"precision": 0},
     "tensor([-7, -2,  3, -6, -0])"),
    ("precision_6_sci", np.array([1e-5, 1.0], np.float32), {"precision": 6},
     "tensor([1.000000e-05, 1.000000e+00])"),
    ("threshold_5", np.arange(10), {"threshold": 5},
     "tensor([0, 1, 2,  ..., 7, 8, 9])"),
    ("threshold_edgeitems_1", np.arange(24).reshape(4, 6), {"threshold": 5, "edgeitems": 1},
     ("tensor([[ 0,  ...,  5],\n"
      "        ...,\n"
      "        [18,  ..., 23]])")),
    ("edgeitems_0", np.arange(10), {"threshold": 5, "edgeitems": 0},
     "tensor([...], size=(10,))"),
    ("edgeitems_0_2d", np.arange(24.0, dtype=np.float32).reshape(4, 6), {"threshold": 5, "edgeitems": 0},
     "tensor([...], size=(4, 6))"),
    ("linewidth_40", mixed(20), {"linewidth": 40},
     ("tensor([-7.1429, -1.8571,  3.4286,\n"
      "        -5.7143, -0.4286,  4.8571,\n"
      "        -4.2857,  1.0000,  6.2857,\n"
      "        -2.8571,  2.4286, -6.7143,\n"
      "        -1.4286,  3.8571, -5.2857,\n"
      "         0.0000,  5.2857, -3.8571,\n"
      "         1.4286,  6.7143])")),
    ("linewidth_tiny", np.arange(5), {"linewidth": 5},
     ("tensor([0,\n"
      "        1,\n"
      "        2,\n"
      "        3,\n"
      "        4])")),
    ("sci_mode_on", np.array([1.0, 2.5], np.float32), {"sci_mode": True},
     "tensor([1.0000e+00, 2.5000e+00])"),
    ("sci_mode_off", np.array([1e-8, 1e9], np.float32), {"sci_mode": False},
     "tensor([         0.0000, 1000000000.0000])"),
    ("profile_short", mixed(30).reshape(5, 6), {"profile": "short", "threshold": 10},
     ("tensor([[-7.14, -1.86,  ..., -0.43,  4.86],\n"
      "        [-4.29,  1.00,  ...,  2.43, -6.71],\n"
      "        ...,\n"
      "        [ 1.43,  6.71,  ..., -6.29, -1.00],\n"
      "        [ 4.29, -4.86,  ..., -3.43,  1.86]])")),
]


@pytest.mark.parametrize("values, kwargs, expected", [c[1:] for c in ORACLE], ids=[c[0] for c in ORACLE])
def test_repr_matches_pytorch(values, kwargs, expected):
    assert show(np.asarray(values), **kwargs) == expected


@pytest.mark.parametrize("values, options, expected", [c[1:] for c in OPTION_CASES], ids=[c[0] for c in OPTION_CASES])
def test_printoptions_match_pytorch(values, options, expected):
    set_printoptions(**options)
    assert show(values) == expected


def test_printoptions_defaults_and_profiles():
    defaults = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80, "sci_mode": None}
    assert get_printoptions() == defaults
    set_printoptions(profile="short")
    assert get_printoptions() == {**defaults, "precision": 2, "edgeitems": 2}
    set_printoptions(profile="full", linewidth=100)
    assert get_printoptions() == {**defaults, "threshold": math.inf, "linewidth": 100}
    set_printoptions(profile="default")
    assert get_printoptions() == defaults


def test_set_printoptions_resets_sci_mode_like_pytorch():
    set_printoptions(sci_mode=True)
    set_printoptions(precision=3)
    assert get_printoptions()["sci_mode"] is None
    assert show(np.array([1.0, 2.5], np.float32)) == "tensor([1.000, 2.500])"


def _evaluate(text: str) -> tuple[object, dict]:
    """Evaluate a repr as Python: `tensor(data, **suffixes)` gives back the nested data and the suffixes."""
    captured = {}

    def tensor(data, **suffixes):
        captured.update(suffixes)
        return data

    namespace = {"tensor": tensor, "nan": nan, "inf": inf, "torch": types.SimpleNamespace(**DTYPES)}
    return eval(text, namespace), captured


def _assert_close_to_printed(printed: np.ndarray, values: np.ndarray) -> None:
    if values.dtype.kind != "f":
        np.testing.assert_array_equal(printed, values)
        return
    exact = values.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(printed), np.isnan(exact))
    # near the largest float64, rounding to 5 significant digits may print a number that reads back as inf
    finite = np.abs(exact) < 1e300
    infinite = np.isinf(exact)
    np.testing.assert_array_equal(printed[infinite], exact[infinite])
    # precision 4: fixed mode rounds to 1e-4 (used only when all magnitudes are >= 1e-4), scientific mode to 4 digits
    error = np.abs(printed[finite] - exact[finite])
    assert np.all(error <= 5.0001e-5 * np.maximum(1.0, np.abs(exact[finite]))), (printed, values)


ARRAYS = st.one_of(
    hnp.arrays(st.sampled_from([np.float16, np.float32, np.float64]), hnp.array_shapes(min_dims=0, max_dims=3),
               elements={"allow_subnormal": False}),
    hnp.arrays(st.sampled_from([np.int8, np.int32, np.int64, np.uint8, np.bool_]), hnp.array_shapes(min_dims=0, max_dims=3)),
)


@settings(max_examples=200, deadline=None)
@given(values=ARRAYS, default=st.sampled_from(["float32", "float64"]))
def test_repr_evaluates_back_to_the_values(values, default):
    data, suffixes = _evaluate(show(values, default_dtype=default))
    printed = np.array(data, dtype=np.float64 if values.dtype.kind == "f" else values.dtype)
    assert printed.shape == values.shape
    _assert_close_to_printed(printed, values)
    dtype = base.DTYPE_OF_NUMPY[values.dtype]
    assert suffixes == ({} if dtype.name in (default, "int64", "bool") else {"dtype": dtype})


@settings(max_examples=100, deadline=None)
@given(values=st.one_of(
    # -0.0 is left out: PyTorch sizes columns without it, so "-0." sticks out by one character (see ORACLE)
    hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, max_side=4),
               elements=st.floats(-1e9, 1e9, width=32).map(lambda x: x + 0.0)),
    hnp.arrays(np.int64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=4), elements=st.integers(-2**31, 2**31)),
    hnp.arrays(np.bool_, hnp.array_shapes(min_dims=2, max_dims=2, max_side=4)),
))
def test_rows_line_up(values):
    lines = show(values).split("\n")
    assert len(lines) == values.shape[0]
    # "tensor([[" and "        [" are as wide; rows end in "]," except the last, which ends in "]])"
    assert {len(line) for line in lines[:-1]} <= {len(lines[-1]) - 1}, lines


def _assert_summary(data, values: np.ndarray, edge: int) -> None:
    n = values.shape[0]
    if n <= 2 * edge:
        expected = list(range(n))
    else:
        expected = list(range(edge)) + [None] + list(range(n - edge, n))
    assert len(data) == len(expected)
    for item, i in zip(data, expected):
        if i is None:
            assert item is Ellipsis
        elif values.ndim == 1:
            assert item == values[i]
        else:
            _assert_summary(item, values[i], edge)


@settings(max_examples=100, deadline=None)
@given(values=hnp.arrays(np.int64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=9)), edge=st.integers(1, 3))
def test_summary_keeps_edge_items(values, edge):
    set_printoptions(threshold=0, edgeitems=edge)
    data, _ = _evaluate(show(values))
    _assert_summary(data, values, edge)


def test_size_prints_like_pytorch():
    s = Size([5, 3])
    assert repr(s) == str(s) == f"{s}" == "torch.Size([5, 3])"
    assert repr(Size()) == "torch.Size([])"
    assert s == (5, 3) and s[0] == 5 and isinstance(s, tuple)


def test_size_numel():
    assert Size([2, 3, 4]).numel() == 24
    assert Size([]).numel() == 1
    assert Size([3, 0]).numel() == 0


def test_size_operations_keep_the_type():
    s = Size([1, 2])
    for result, expected in ((s[1:], (2,)), (s + (3,), (1, 2, 3)), ((3,) + s, (3, 1, 2)), (s * 2, (1, 2, 1, 2)),
                             (2 * s, (1, 2, 1, 2)), (s + s, (1, 2, 1, 2))):
        assert type(result) is Size and result == expected


def test_size_pickles():
    s = pickle.loads(pickle.dumps(Size([4, 1])))
    assert type(s) is Size and s == (4, 1)


def test_size_accepts_index_likes_and_rejects_others():
    assert Size(iter([np.int64(3), True])) == (3, 1)
    with pytest.raises(TypeError, match=r"torch.Size\(\) takes an iterable of 'int' \(item 1 is 'float'\)"):
        Size([1, 1.5])
    with pytest.raises(TypeError, match=r"can only concatenate tuple \(not list\) to torch.Size"):
        Size([1]) + [2]


class _Shown:
    """Stands in for a tensor: its repr is tensor_repr's text."""

    def __init__(self, values: np.ndarray) -> None:
        self.text = show(values)

    def __repr__(self) -> str:
        return self.text


def test_return_type_repr_matches_pytorch():
    result = return_types.max((_Shown(np.array([15.0, 6.0], np.float32)), _Shown(np.array([0, 0]))))
    assert repr(result) == "torch.return_types.max(\nvalues=tensor([15.,  6.]),\nindices=tensor([0, 0]))"


def test_return_type_is_a_named_pair():
    result = return_types.topk(("v", "i"))
    values, indices = result
    assert (values, indices) == (result.values, result.indices) == (result[0], result[1]) == ("v", "i")
    assert isinstance(result, tuple) and len(result) == 2 and return_types.topk.n_fields == 2
    assert return_types.aminmax((1, 2)).max == 2
    assert return_types.svd((1, 2, 3)).V == 3


def test_return_type_wrong_length_raises_like_pytorch():
    with pytest.raises(TypeError, match=r"torch.return_types.sort\(\) takes a 2-sequence \(3-sequence given\)"):
        return_types.sort((1, 2, 3))


def test_return_type_pickles():
    result = pickle.loads(pickle.dumps(return_types.median((1.5, 2))))
    assert type(result) is return_types.median and result.indices == 2


def test_tensor_repr_through_distgrad(capsys):
    import distgrad as torch

    x = torch.tensor([0.1249, 0.4242, 0.2952, -0.4075, -0.4252, -0.2157], requires_grad=True)
    assert repr(x) == "tensor([ 0.1249,  0.4242,  0.2952, -0.4075, -0.4252, -0.2157],\n       requires_grad=True)"
    y = torch.ones(2, 2, requires_grad=True) + 2
    print(y * y * 3, (y * y * 3).mean())
    assert capsys.readouterr().out == ("tensor([[27., 27.],\n        [27., 27.]], grad_fn=<MulBackward0>) "
                                       "tensor(27., grad_fn=<MeanBackward0>)\n")
    assert repr(torch.ones(2, 3, dtype=torch.int8)) == "tensor([[1, 1, 1],\n        [1, 1, 1]], dtype=torch.int8)"
    assert repr(torch.zeros(0, 3)) == "tensor([], size=(0, 3))"
    assert repr(torch.tensor([51.2, 512.0, 0.0512])) == "tensor([5.1200e+01, 5.1200e+02, 5.1200e-02])"
    torch.set_printoptions(threshold=5)
    assert repr(torch.arange(10)) == "tensor([0, 1, 2,  ..., 7, 8, 9])"
    assert str(torch.ones(5, 3).size()) == "torch.Size([5, 3])"
