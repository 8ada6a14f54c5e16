"""Read and write state_dicts in the safetensors format (Hugging Face), so weights move to and from PyTorch.

The format: an 8-byte little-endian header length N, N bytes of JSON {name: {"dtype": "F32", "shape": [...],
"data_offsets": [begin, end]}, "__metadata__": {str: str}}, then the raw little-endian tensor bytes."""
from __future__ import annotations

import json
import os
import struct
from typing import Any

import numpy as np

_CODES = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64", "int32": "I32", "int16": "I16",
          "int8": "I8", "uint8": "U8", "bool": "BOOL"}
_NAMES = {v: k for k, v in _CODES.items()}


def save(tensors: dict[str, Any], metadata: dict[str, str] | None = None) -> bytes:
    """The safetensors bytes of a dict of tensors."""
    header: dict[str, Any] = {"__metadata__": dict(metadata)} if metadata else {}
    chunks, offset = [], 0
    for name, t in tensors.items():
        if t.dtype.name not in _CODES:
            raise ValueError(f"safetensors cannot store {name!r} of dtype {t.dtype}")
        arr = np.ascontiguousarray(t.detach().cpu().numpy())
        raw = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _CODES[t.dtype.name], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)             # the format pads the header to 8 bytes with spaces
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def save_file(tensors: dict[str, Any], filename: str | os.PathLike, metadata: dict[str, str] | None = None) -> None:
    """Write a dict of tensors to a .safetensors file (atomically: a temporary file, then a rename)."""
    tmp = f"{os.fspath(filename)}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(save(tensors, metadata))
    os.replace(tmp, filename)


def load(data: bytes, device: Any = "cpu", *, _name: str = "<bytes>") -> dict[str, Any]:
    """The dict of tensors held in safetensors bytes."""
    from distgrad.creation import tensor
    from distgrad.dtypes import BY_NAME
    if len(data) < 8:
        raise RuntimeError(f"{_name}: not a safetensors file (only {len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8:8 + n])
    except ValueError as e:
        raise RuntimeError(f"{_name}: not a safetensors file (bad JSON header: {e})") from None
    header.pop("__metadata__", None)
    body = memoryview(data)[8 + n:]
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        if end > len(body):
            raise RuntimeError(f"{_name}: truncated safetensors file: {name!r} ends at byte {end} of {len(body)}")
        if info["dtype"] not in _NAMES:
            raise RuntimeError(f"{_name}: unsupported safetensors dtype {info['dtype']} for {name!r}")
        dt = BY_NAME[_NAMES[info["dtype"]]]
        arr = np.frombuffer(body[begin:end], dtype=dt.np.newbyteorder("<")).reshape(info["shape"])
        out[name] = tensor(arr.astype(dt.np), dtype=dt, device=device)
    return out


def load_file(filename: str | os.PathLike, device: Any = "cpu") -> dict[str, Any]:
    """Read a .safetensors file into a dict of tensors on device."""
    with open(filename, "rb") as f:
        return load(f.read(), device, _name=os.fspath(filename))
