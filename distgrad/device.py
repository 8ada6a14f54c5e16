"""Device strings to backends: `cpu`, `opencl[:N]`, and `cuda[:N]` (an alias for OpenCL GPUs); the default device."""
from __future__ import annotations

import functools
import importlib

from distgrad.backends.base import Backend, Device

device = Device
BACKENDS = {"cpu": "distgrad.backends.cpu", "opencl": "distgrad.backends.opencl", "cuda": "distgrad.backends.opencl"}
_default: list[Device] = [Device("cpu")]


def as_device(d: Device | str | int | None) -> Device:
    """Normalise what users pass as `device=`: None means the default device, an int means cuda:N as in PyTorch."""
    if d is None:
        return _default[0]
    if isinstance(d, Device):
        return d
    if isinstance(d, int):
        return Device("cuda", d)
    return Device(d)


@functools.cache
def _open(d: Device) -> Backend:
    module = importlib.import_module(BACKENDS[d.type])
    if d.type == "cpu":
        return module.open_device(d.index)
    return module.open_device(d.index, gpu_only=d.type == "cuda")


def backend_for(d: Device | str | None) -> Backend:
    """The backend object for a device, opened on first use and cached."""
    return _open(as_device(d))


def set_default_device(d: Device | str | None) -> None:
    """Where creation functions put tensors when no `device=` is given."""
    d = Device("cpu") if d is None else as_device(d)
    backend_for(d)          # fail now, not at the first tensor, if the device does not exist
    _default[0] = d


def get_default_device() -> Device:
    """The device creation functions use by default."""
    return _default[0]
