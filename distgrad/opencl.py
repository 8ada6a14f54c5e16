"""distgrad.opencl: OpenCL devices ('opencl:N'), with torch.cuda's module functions (is_available, device_count...)."""
from __future__ import annotations

from .backends import opencl as _cl
from .backends.base import Device


class _Devices:
    """The module functions over every OpenCL device, or (for distgrad.cuda) over the GPUs alone."""

    def __init__(self, type_: str) -> None:
        self.type = type_
        self.gpu_only = type_ == "cuda"

    def _index(self, device: Device | str | int | None) -> int | None:
        if device is None or isinstance(device, int):
            return device
        d = Device(device)
        if d.type != self.type:
            raise ValueError(f"Expected a {self.type} device, but got: {d}")
        return d.index

    def is_available(self) -> bool:
        """True when at least one device of this kind exists; never raises."""
        return _cl.device_count(self.gpu_only) > 0

    def device_count(self) -> int:
        """The number of devices of this kind (0 without a driver)."""
        return _cl.device_count(self.gpu_only)

    def get_device_name(self, device: Device | str | int | None = None) -> str:
        """The name the driver reports for the device (default: the current device)."""
        index = self._index(device)
        return _cl.get_device_name(self.current_device() if index is None else index, self.gpu_only)

    def current_device(self) -> int:
        """The index that a bare device string ('opencl' or 'cuda') means."""
        return _cl.open_device(None, self.gpu_only).device.index

    def synchronize(self, device: Device | str | int | None = None) -> None:
        """Wait for every kernel queued on the device (default: the current device) to finish."""
        _cl.open_device(self._index(device), self.gpu_only).synchronize()

    def module_functions(self) -> tuple:
        """(is_available, device_count, get_device_name, current_device, synchronize): the module's public API."""
        return self.is_available, self.device_count, self.get_device_name, self.current_device, self.synchronize


is_available, device_count, get_device_name, current_device, synchronize = _Devices("opencl").module_functions()
