"""distgrad.cuda: PyTorch's CUDA names mapped onto the OpenCL GPUs, so tutorials' `cuda` code runs on any vendor.

On a machine without an OpenCL GPU, is_available() is False and device_count() is 0, as in PyTorch without CUDA.
"""
from __future__ import annotations

from .opencl import _Devices

is_available, device_count, get_device_name, current_device, synchronize = _Devices("cuda").module_functions()
