"""distgrad.nn: modules, parameters, losses and functional ops (PyTorch's torch.nn)."""
from distgrad.nn import functional, init, utils
from distgrad.nn.activation import (
                                    ELU,
                                    GELU,
                                    LeakyReLU,
                                    LogSoftmax,
                                    ReLU,
                                    ReLU6,
                                    Sigmoid,
                                    SiLU,
                                    Softmax,
                                    Softplus,
                                    Tanh,
                                    Threshold,
)
from distgrad.nn.container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from distgrad.nn.conv import AdaptiveAvgPool2d, AvgPool2d, Conv1d, Conv2d, ConvTranspose2d, MaxPool2d, MaxUnpool2d
from distgrad.nn.distance import CosineSimilarity, PairwiseDistance
from distgrad.nn.linear import Bilinear, Dropout, Embedding, Flatten, Identity, Linear, Unflatten
from distgrad.nn.loss import (
                                    BCELoss,
                                    BCEWithLogitsLoss,
                                    CrossEntropyLoss,
                                    HuberLoss,
                                    KLDivLoss,
                                    L1Loss,
                                    MSELoss,
                                    NLLLoss,
                                    SmoothL1Loss,
)
from distgrad.nn.module import Module
from distgrad.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from distgrad.nn.parameter import Parameter
from distgrad.nn.upsampling import Upsample

__all__ = [
                                    "ELU",
                                    "GELU",
                                    "AdaptiveAvgPool2d",
                                    "AvgPool2d",
                                    "BCELoss",
                                    "BCEWithLogitsLoss",
                                    "BatchNorm1d",
                                    "BatchNorm2d",
                                    "Bilinear",
                                    "Conv1d",
                                    "Conv2d",
                                    "ConvTranspose2d",
                                    "CosineSimilarity",
                                    "CrossEntropyLoss",
                                    "Dropout",
                                    "Embedding",
                                    "Flatten",
                                    "HuberLoss",
                                    "Identity",
                                    "KLDivLoss",
                                    "L1Loss",
                                    "LayerNorm",
                                    "LeakyReLU",
                                    "Linear",
                                    "LogSoftmax",
                                    "MSELoss",
                                    "MaxPool2d",
                                    "MaxUnpool2d",
                                    "Module",
                                    "ModuleDict",
                                    "ModuleList",
                                    "NLLLoss",
                                    "PairwiseDistance",
                                    "Parameter",
                                    "ParameterDict",
                                    "ParameterList",
                                    "ReLU",
                                    "ReLU6",
                                    "Sequential",
                                    "SiLU",
                                    "Sigmoid",
                                    "SmoothL1Loss",
                                    "Softmax",
                                    "Softplus",
                                    "Tanh",
                                    "Threshold",
                                    "Unflatten",
                                    "Upsample",
                                    "functional",
                                    "init",
                                    "utils",
]
