"""distgrad.cuda: PyTorch's CUDA names mapped onto the OpenCL GPUs, so tutorials' `cuda` code runs on any vendor.

On a machine without an OpenCL GPU, is_available() is False and device_count() is 0, as in PyTorch without CUDA.
"""
from __future__ import annotations

from .opencl import _Devices

_CUDA = _Devices("cuda")
is_available = _CUDA.is_available
device_count = _CUDA.device_count
get_device_name = _CUDA.get_device_name
current_device = _CUDA.current_device
synchronize = _CUDA.synchronize
