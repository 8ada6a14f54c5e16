"""default_collate and default_convert: turn samples into batches of tensors, as PyTorch does."""
from __future__ import annotations

import collections.abc
import copy
import re
from typing import Any

import numpy as np

import distgrad

from . import shm, worker

np_str_obj_array_pattern = re.compile(r"[SaUO]")

default_collate_err_msg_format = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
)


def _is_numpy(x: Any) -> bool:
    return type(x).__module__ == "numpy" and type(x).__name__ not in ("str_", "string_")


def default_convert(data: Any) -> Any:
    """Convert each NumPy array or scalar in data (nested in mappings and sequences) to a tensor."""
    if isinstance(data, distgrad.Tensor):
        return data
    if _is_numpy(data):
        if isinstance(data, np.ndarray) and np_str_obj_array_pattern.search(data.dtype.str) is not None:
            return data
        return distgrad.from_numpy(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_mapping(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]  # a list, as PyTorch
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild_sequence(data, [default_convert(d) for d in data])
    return data


def _rebuild_mapping(elem: collections.abc.Mapping, values: dict) -> Any:
    """values in elem's type when that type allows it, else in a dict."""
    try:
        if isinstance(elem, collections.abc.MutableMapping):
            clone = copy.copy(elem)
            clone.update(values)
            return clone
        return type(elem)(values)
    except TypeError:
        return values


def _rebuild_sequence(elem: collections.abc.Sequence, values: list) -> Any:
    """values in elem's type when that type allows it, else in a list."""
    try:
        if isinstance(elem, collections.abc.MutableSequence):
            clone = copy.copy(elem)
            clone[:] = values
            return clone
        return type(elem)(values)
    except TypeError:
        return values


def _stack(batch: list) -> Any:
    """Stack tensors along a new first dimension; in a worker, straight into a shared-memory segment."""
    arena = worker._arena
    elem = batch[0]
    if arena is None or elem.device.type != "cpu":
        return distgrad.stack(batch, 0)
    arrays = [t.numpy() for t in batch]
    for i, a in enumerate(arrays):
        if a.shape != arrays[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(arrays[0].shape)} at "
                               f"entry 0 and {list(a.shape)} at entry {i}")
    shape, dtype = (len(arrays), *arrays[0].shape), np.result_type(*arrays)
    if int(np.prod(shape)) * dtype.itemsize < shm.MIN_SHARED_NBYTES:
        return distgrad.stack(batch, 0)
    return distgrad.from_numpy(np.stack(arrays, out=arena.empty(shape, dtype)))


def default_collate(batch: list) -> Any:
    """Collate a list of samples into a batch: tensors stacked, numbers and arrays made tensors, containers kept."""
    elem = batch[0]
    if isinstance(elem, distgrad.Tensor):
        return _stack(batch)
    if isinstance(elem, np.ndarray):
        if np_str_obj_array_pattern.search(elem.dtype.str) is not None:
            raise TypeError(default_collate_err_msg_format.format(elem.dtype))
        return _stack([distgrad.from_numpy(b) for b in batch])
    if isinstance(elem, (np.bool_, np.number, np.object_)):
        return distgrad.from_numpy(np.array(batch))
    if isinstance(elem, float):
        return distgrad.tensor(batch, dtype=distgrad.float64)
    if isinstance(elem, int):
        return distgrad.tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _rebuild_mapping(elem, {key: default_collate([d[key] for d in batch]) for key in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(samples)) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(e) != len(elem) for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        collated = [default_collate(list(samples)) for samples in zip(*batch)]
        return collated if isinstance(elem, tuple) else _rebuild_sequence(elem, collated)  # tuples give lists
    raise TypeError(default_collate_err_msg_format.format(type(elem)))
