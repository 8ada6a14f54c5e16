"""distgrad.save / distgrad.load: msgpack structure plus raw little-endian tensor bytes; no pickle.

NOTE [ Checkpoint format ]
A checkpoint file is, in order:
  magic      8 bytes  b"DGCKPT\\x00\\x01" (format version 1 in the last byte)
  hlen       8 bytes  little-endian uint64: length of the header
  header     hlen bytes of msgpack: {"version": 1, "tensors": [{"dtype": "float32", "shape": [6, 5],
             "device": "cpu", "offset": 0, "nbytes": 120}, ...], "data_size": N, "crc32": C, "obj": OBJ}
  data       N bytes: each tensor's elements, C-contiguous, little-endian, at its offset (64-byte aligned);
             C is zlib.crc32 of these N bytes
OBJ is the saved object as msgpack, with extension types for what msgpack lacks:
  1 tensor [index]          2 Parameter [index, requires_grad]     3 tuple [items]
  4 OrderedDict [[k, v]...] 5 dtype name                           6 device string
  7 Size [dims]             8 object {"class": "module:Qualname", "state": {attribute: value}}
  9 set [items]
A tensor saved twice (tied weights) is stored once and loads as one object. Views are saved as copies.

Differs from PyTorch: PyTorch pickles, so loading a file may run any code the file names. Here loading never
imports a module and never calls a constructor: an object (ext 8) is re-created only when its class is already
imported in the loading process and is either an nn.Module subclass or was allowed with add_safe_globals(); it is
built with cls.__new__ and its saved attributes, as unpickling would. Module hooks are not saved.
"""
from __future__ import annotations

import os
import struct
import sys
import tempfile
import zlib
from collections import OrderedDict
from typing import Any, BinaryIO

import msgpack
import numpy as np

MAGIC = b"DGCKPT\x00\x01"
VERSION = 1
_ALIGN = 64
_SKIPPED_ATTRS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks")
_safe_globals: set[type] = set()


def add_safe_globals(classes: list[type]) -> None:
    """Allow load() to re-create objects of these (already imported) classes."""
    _safe_globals.update(classes)


def get_safe_globals() -> list[type]:
    """The classes allowed with add_safe_globals()."""
    return list(_safe_globals)


def _name(f: Any) -> str:
    return os.fspath(f) if isinstance(f, (str, os.PathLike)) else getattr(f, "name", repr(f))


# ---------------------------------------------------------------------------------------------------- saving

class _Writer:
    def __init__(self) -> None:
        self.entries: list[dict] = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.index: dict[int, int] = {}
        self.keep: list[Any] = []          # keeps saved objects alive so their id() stays unique while saving

    def tensor(self, t: Any) -> int:
        if id(t) in self.index:
            return self.index[id(t)]
        arr = np.ascontiguousarray(t.detach().cpu().numpy())
        raw = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        pad = -self.size % _ALIGN
        self.chunks.append(b"\x00" * pad + raw)
        self.size += pad
        self.entries.append({"dtype": t.dtype.name, "shape": list(t.shape), "device": str(t.device),
                             "offset": self.size, "nbytes": len(raw)})
        self.size += len(raw)
        self.keep.append(t)
        self.index[id(t)] = len(self.entries) - 1
        return self.index[id(t)]

    def default(self, obj: Any) -> msgpack.ExtType:
        from distgrad.backends.base import DType
        from distgrad.device import device
        from distgrad.nn.parameter import Parameter
        from distgrad.size import Size
        from distgrad.tensor import Tensor
        if isinstance(obj, Parameter):
            return msgpack.ExtType(2, self.pack([self.tensor(obj), obj.requires_grad]))
        if isinstance(obj, Tensor):
            return msgpack.ExtType(1, self.pack([self.tensor(obj)]))
        if isinstance(obj, Size):
            return msgpack.ExtType(7, self.pack(list(obj)))
        if isinstance(obj, tuple):
            return msgpack.ExtType(3, self.pack(list(obj)))
        if isinstance(obj, OrderedDict):
            return msgpack.ExtType(4, self.pack([[k, v] for k, v in obj.items()]))
        if isinstance(obj, DType):
            return msgpack.ExtType(5, obj.name.encode())
        if isinstance(obj, device):
            return msgpack.ExtType(6, str(obj).encode())
        if isinstance(obj, set):
            return msgpack.ExtType(9, self.pack(sorted(obj, key=repr)))
        if isinstance(obj, np.generic):
            return obj.item()
        cls = type(obj)
        if hasattr(obj, "__dict__") and "<locals>" not in cls.__qualname__ and cls.__module__ != "builtins":
            state = {k: v for k, v in vars(obj).items() if k not in _SKIPPED_ATTRS}
            return msgpack.ExtType(8, self.pack({"class": f"{cls.__module__}:{cls.__qualname__}", "state": state}))
        raise TypeError(f"distgrad.save cannot store an object of type {cls.__module__}.{cls.__qualname__}: only "
                        "tensors, Python scalars, str, bytes, lists, tuples, dicts, dtypes, devices and objects of "
                        "importable classes (such as nn.Module subclasses) whose attributes are these")

    def pack(self, obj: Any) -> bytes:
        return msgpack.packb(obj, default=self.default, use_bin_type=True, strict_types=True)


def save(obj: Any, f: str | os.PathLike | BinaryIO, **kwargs: Any) -> None:
    """Save obj (tensors, state_dicts, optimizer state, modules, nested containers) to a path or binary file."""
    w = _Writer()
    body = w.pack(obj)
    data = b"".join(w.chunks)
    header = msgpack.packb({"version": VERSION, "tensors": w.entries, "data_size": len(data),
                            "crc32": zlib.crc32(data), "obj": body}, use_bin_type=True)
    blob = [MAGIC, struct.pack("<Q", len(header)), header, data]
    if not isinstance(f, (str, os.PathLike)):
        for part in blob:
            f.write(part)
        return
    path = os.fspath(f)
    # Write a temporary file next to the target and rename it over: a crash never leaves a half-written checkpoint.
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(fd, "wb") as out:
            for part in blob:
                out.write(part)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------------------------------- loading

def _resolve_class(path: str, name: str) -> type:
    from distgrad.nn.module import Module
    mod_name, _, qualname = path.partition(":")
    module = sys.modules.get(mod_name)
    cls: Any = module
    for part in qualname.split(".") if module is not None else []:
        cls = getattr(cls, part, None)
    if not isinstance(cls, type):
        raise RuntimeError(  # noqa: TRY004 (a load error about the file, not a wrong argument)
            f"{name}: the checkpoint holds an object of class {mod_name}.{qualname}, which is not imported in this "
            "process; import or define it before distgrad.load (load never imports modules itself)")
    if not (issubclass(cls, Module) or cls in _safe_globals):
        raise RuntimeError(f"{name}: the checkpoint holds an object of class {mod_name}.{qualname}, which is not an "
                           "nn.Module and not allowed; if you trust the file, call "
                           f"distgrad.serialization.add_safe_globals([{qualname}]) first")
    return cls


def _saved_array(data: memoryview, entry: dict) -> tuple[np.ndarray, Any, str]:
    """One tensor table entry as (native-endian array, dtype, saved device string)."""
    from distgrad.dtypes import BY_NAME
    dt = BY_NAME[entry["dtype"]]
    arr = np.frombuffer(data, dtype=dt.np.newbyteorder("<"), count=_count(entry["shape"]), offset=entry["offset"])
    return arr.reshape(entry["shape"]).astype(dt.np), dt, entry["device"]


def _restore(arr: np.ndarray, dtype: Any, saved: str, map_location: Any) -> Any:
    """A saved tensor placed as map_location says (see load); a map_location function runs here, outside the
    decoder, so its own exceptions reach the caller unchanged."""
    from distgrad.creation import tensor as make_tensor
    from distgrad.device import device
    from distgrad.tensor import Tensor
    if isinstance(map_location, dict):
        map_location = map_location.get(saved, saved)
    if map_location is None or isinstance(map_location, (str, device)):
        return make_tensor(arr, dtype=dtype, device=str(saved if map_location is None else map_location))
    on_cpu = make_tensor(arr, dtype=dtype, device="cpu")
    out = map_location(on_cpu, saved)
    if out is None:
        return on_cpu.to(saved)
    if not isinstance(out, Tensor):
        raise TypeError(f"map_location function must return a tensor or None, but returned {type(out).__name__}")
    return out


def load(f: str | os.PathLike | BinaryIO, map_location: Any = None, weights_only: bool | None = None,
         **kwargs: Any) -> Any:
    """Load an object saved by distgrad.save.

    map_location, as in PyTorch: None puts each tensor back on the device it was saved from; a device or string
    puts every tensor there; a dict {saved: new} maps device strings ("opencl:0" -> "cpu"), others stay; a function
    (storage, location) is called once per stored tensor with that tensor loaded on the cpu and its saved device
    string, and returns the tensor to use (on any device) or None for the saved device. distgrad has no untyped
    storages, so "storage" is the whole saved tensor (shape and dtype included): `lambda storage, loc: storage`
    loads everything on the cpu and `lambda storage, loc: storage.cuda()` moves it, as in PyTorch. A tensor saved
    twice (tied weights) is one stored tensor, so the function sees it once.

    Differs from PyTorch: nothing is unpickled; see NOTE [ Checkpoint format ]. weights_only=True also refuses
    module objects."""
    from distgrad.dtypes import BY_NAME
    from distgrad.nn.module import Module
    from distgrad.nn.parameter import Parameter
    from distgrad.size import Size
    name = _name(f)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            raw = fh.read()
    else:
        raw = f.read()
    if raw[:len(MAGIC)] != MAGIC:
        hint = (" It looks like a PyTorch zip/pickle checkpoint, which distgrad does not unpickle; export its "
                "state_dict with safetensors and read it with distgrad.utils.safetensors.load_file."
                if raw[:4] == b"PK\x03\x04" or raw[:1] == b"\x80" else "")
        raise RuntimeError(f"{name}: not a distgrad checkpoint (expected magic bytes {MAGIC!r}, found "
                           f"{raw[:len(MAGIC)]!r}).{hint}")
    if len(raw) < len(MAGIC) + 8:
        raise RuntimeError(f"{name}: truncated checkpoint ({len(raw)} bytes)")
    (hlen,) = struct.unpack("<Q", raw[len(MAGIC):len(MAGIC) + 8])
    start = len(MAGIC) + 8
    if start + hlen > len(raw):
        raise RuntimeError(f"{name}: truncated checkpoint: header needs {hlen} bytes, file has {len(raw) - start}")
    try:
        header = msgpack.unpackb(raw[start:start + hlen], raw=False)
        entries, data_size, crc, body = header["tensors"], header["data_size"], header["crc32"], header["obj"]
    except Exception as e:  # noqa: BLE001 (any decoder failure on a damaged file becomes one clear error)
        raise RuntimeError(f"{name}: corrupt checkpoint header ({type(e).__name__}: {e})") from None
    data = memoryview(raw)[start + hlen:]
    if len(data) != data_size:
        raise RuntimeError(f"{name}: truncated checkpoint: expected {data_size} bytes of tensor data, found "
                           f"{len(data)}" if len(data) < data_size else f"{name}: corrupt checkpoint: "
                           f"{len(data) - data_size} unexpected bytes after the tensor data")
    if zlib.crc32(data) != crc:
        raise RuntimeError(f"{name}: corrupt checkpoint: tensor data checksum mismatch")
    try:
        arrays = [_saved_array(data, e) for e in entries]
    except Exception as e:  # noqa: BLE001 (as for the header)
        raise RuntimeError(f"{name}: corrupt checkpoint tensor table ({type(e).__name__}: {e})") from None
    tensors = [_restore(arr, dt, saved, map_location) for arr, dt, saved in arrays]
    params: dict[int, Any] = {}

    def ext_hook(code: int, payload: bytes) -> Any:
        if code == 5:
            return BY_NAME[payload.decode()]
        if code == 6:
            from distgrad.device import device
            return device(payload.decode())
        v = unpack(payload)
        if code == 1:
            return tensors[v[0]]
        if code == 2:
            if v[0] not in params:
                params[v[0]] = Parameter(tensors[v[0]], requires_grad=v[1])
            return params[v[0]]
        if code == 3:
            return tuple(v)
        if code == 4:
            return OrderedDict((k, x) for k, x in v)
        if code == 7:
            return Size(v)
        if code == 8:
            if weights_only:
                raise RuntimeError(f"{name}: weights_only=True refuses object of class {v['class']}")
            cls = _resolve_class(v["class"], name)
            obj = cls.__new__(cls)
            obj.__dict__.update(v["state"])
            if isinstance(obj, Module):
                for attr in _SKIPPED_ATTRS:
                    obj.__dict__[attr] = OrderedDict()
            return obj
        if code == 9:
            return set(v)
        raise RuntimeError(f"{name}: corrupt checkpoint: unknown extension type {code}")

    def unpack(payload: bytes) -> Any:
        return msgpack.unpackb(payload, ext_hook=ext_hook, raw=False, strict_map_key=False)

    try:
        return unpack(body)
    except RuntimeError:
        raise
    except Exception as e:  # noqa: BLE001 (any decoder failure on a damaged file becomes one clear error)
        raise RuntimeError(f"{name}: corrupt checkpoint body ({type(e).__name__}: {e})") from None


def _count(shape: list[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n
