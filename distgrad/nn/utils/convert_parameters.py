"""parameters_to_vector / vector_to_parameters: a model's parameters as one flat vector and back."""
from __future__ import annotations

from collections.abc import Iterable

from distgrad.device import Device
from distgrad.joining import cat
from distgrad.tensor import Tensor


def _check_param_device(param: Tensor, first_device: Device | None) -> Device:
    if first_device is not None and param.device != first_device:
        raise TypeError("Found two parameters on different devices, this is currently not supported.")
    return param.device


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """The parameters flattened and concatenated into one vector."""
    device, vec = None, []
    for param in parameters:
        device = _check_param_device(param, device)
        vec.append(param.view(-1))
    return cat(vec)


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Point each parameter's data at its slice of vec, in order (the parameters then share vec's memory)."""
    if not isinstance(vec, Tensor):
        module, name = type(vec).__module__, type(vec).__qualname__
        raise TypeError(f"expected torch.Tensor, but got: {name if module == 'builtins' else f'{module}.{name}'}")
    device, pointer = None, 0
    for param in parameters:
        device = _check_param_device(param, device)
        n = param.numel()
        param.data = vec[pointer:pointer + n].view_as(param).data
        pointer += n
