"""The OpenCL backend: device discovery and the `opencl:N` / `cuda:N` registry entry points.

NOTE [ OpenCL device order ]
`opencl:N` indexes every device of every platform in one stable order: GPUs first, then accelerators, then CPUs,
then anything else; ties keep the platform order of the ICD loader and the device order within each platform. A device
whose type has the CPU bit counts as a CPU even when it reports other bits too (oclgrind reports all of them), so a
simulator never becomes a `cuda` device; the oclgrind simulator comes last among CPUs. `cuda:N` indexes the GPUs alone, in the same order. `opencl` with no index is
the device named by DISTGRAD_OPENCL_DEVICE (an index, or a substring of "platform name device name", case-insensitive),
else opencl:0. DISTGRAD_OPENCL_OCLGRIND=1 adds the oclgrind simulator as a platform (after the others), for tests.

Importing this module never touches OpenCL; pyopencl is imported and the platforms are listed on first use, so
`import distgrad` works on machines without any OpenCL driver.
"""
from __future__ import annotations

import functools
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

from ..base import Device

_INSTALL_HINT = ("install an OpenCL driver, e.g. `apt-get install pocl-opencl-icd` (CPU) or your GPU vendor's ICD, "
                 "and `pip install pyopencl`; or use device 'cpu'")


@dataclass(frozen=True)
class DeviceInfo:
    """One OpenCL device as listed by devices(): its place in the order and what it can do."""

    index: int
    kind: str                 # "gpu", "accelerator", "cpu" or "other"
    name: str
    platform: str
    vendor: str
    driver_version: str
    opencl_version: str
    fp64: bool
    fp16: bool
    global_mem_bytes: int
    compute_units: int
    cl_device: Any = None     # the pyopencl.Device

    @property
    def short_platform(self) -> str:
        """A short platform label for messages, e.g. 'PoCL'."""
        return "PoCL" if self.platform == "Portable Computing Language" else self.platform.split()[0]


_KIND_RANK = {"gpu": 0, "accelerator": 1, "cpu": 2, "other": 3}


def _kind(cl, device_type: int) -> str:
    if device_type & cl.device_type.CPU:
        return "cpu"
    if device_type & cl.device_type.GPU:
        return "gpu"
    if device_type & cl.device_type.ACCELERATOR:
        return "accelerator"
    return "other"


def _import_pyopencl():
    try:
        import pyopencl
    except ImportError as e:
        raise RuntimeError(f"OpenCL is not available: pyopencl cannot be imported ({e}); {_INSTALL_HINT}") from None
    return pyopencl


_OCLGRIND_LIBS = ("/usr/lib/oclgrind/liboclgrind-rt-icd.so", "/usr/lib/x86_64-linux-gnu/oclgrind/liboclgrind-rt-icd.so",
                  "/usr/local/lib/liboclgrind-rt-icd.so")


def oclgrind_library() -> str | None:
    """The path of oclgrind's ICD library where oclgrind is installed, else None."""
    return next((p for p in _OCLGRIND_LIBS if os.path.exists(p)), None)


def _add_oclgrind_platform() -> None:
    """Point the ICD loader at a folder with the system's .icd files plus oclgrind's (Debian ships none for it)."""
    lib = oclgrind_library()
    if lib is None or "OCL_ICD_VENDORS" in os.environ:
        return
    folder = tempfile.mkdtemp(prefix="distgrad-icd-")
    system = "/etc/OpenCL/vendors"
    for name in sorted(os.listdir(system)) if os.path.isdir(system) else []:
        shutil.copy(os.path.join(system, name), folder)
    with open(os.path.join(folder, "zz-oclgrind.icd"), "w") as f:   # "zz": listed after the real platforms
        f.write(lib + "\n")
    os.environ["OCL_ICD_VENDORS"] = folder


@functools.cache
def _discover() -> tuple[tuple[DeviceInfo, ...], str]:
    """All devices in NOTE [ OpenCL device order ], and why there are none when there are none."""
    if os.environ.get("DISTGRAD_OPENCL_OCLGRIND") == "1":
        _add_oclgrind_platform()
    try:
        cl = _import_pyopencl()
    except RuntimeError as e:
        return (), str(e)
    try:
        platforms = cl.get_platforms()
    except cl.Error as e:  # ocl-icd reports "no platform" as an error (-1001, CL_PLATFORM_NOT_FOUND_KHR)
        return (), f"OpenCL is not available: no OpenCL platform found ({error_name(e.code)}); {_INSTALL_HINT}"
    found = []
    for p in platforms:
        try:
            devs = p.get_devices()
        except cl.Error:  # a platform with no devices raises CL_DEVICE_NOT_FOUND
            continue
        for d in devs:
            ext = d.extensions.split()
            found.append(DeviceInfo(0, _kind(cl, d.type), d.name.strip(), p.name.strip(), d.vendor.strip(),
                                    d.driver_version.strip(), d.version.strip(), "cl_khr_fp64" in ext,
                                    "cl_khr_fp16" in ext, d.global_mem_size, d.max_compute_units, d))
    found.sort(key=lambda i: (_KIND_RANK[i.kind], i.platform == "Oclgrind"))  # stable: ties keep the ICD order
    infos = tuple(DeviceInfo(n, *[getattr(i, f) for f in list(DeviceInfo.__dataclass_fields__)[1:]])
                  for n, i in enumerate(found))
    why = "" if infos else f"OpenCL is not available: the OpenCL platforms list no device; {_INSTALL_HINT}"
    return infos, why


def devices(gpu_only: bool = False) -> tuple[DeviceInfo, ...]:
    """Every OpenCL device in NOTE [ OpenCL device order ] (only GPUs with gpu_only); empty when there is none."""
    infos = _discover()[0]
    return tuple(i for i in infos if i.kind == "gpu") if gpu_only else infos


def is_available() -> bool:
    """True when at least one OpenCL device exists."""
    return bool(devices())


def device_count(gpu_only: bool = False) -> int:
    """How many OpenCL devices (or GPUs alone) exist."""
    return len(devices(gpu_only))


def get_device_name(i: int = 0, gpu_only: bool = False) -> str:
    """The device name of opencl:i (cuda:i with gpu_only)."""
    return _info(i, gpu_only).name


def _label(info: DeviceInfo, type_: str, n: int) -> str:
    return f"{type_}:{n} '{info.name}' ({info.short_platform})"


def _info(index: int | None, gpu_only: bool) -> DeviceInfo:
    type_ = "cuda" if gpu_only else "opencl"
    infos = devices(gpu_only)
    if not infos:
        why = _discover()[1] or "OpenCL is not available"
        if gpu_only:
            why = ("Torch not compiled with CUDA enabled: distgrad maps 'cuda' to OpenCL GPUs and found none"
                   + (f" ({device_count()} OpenCL non-GPU device(s): use 'opencl:0')" if is_available() else
                      f"; {why}"))
        raise RuntimeError(why)
    if index is None:
        index = 0 if gpu_only else _default_index(infos)
    if not 0 <= index < len(infos):
        listing = ", ".join(_label(i, type_, n) for n, i in enumerate(infos))
        uses = " or ".join(f"'{type_}:{n}'" for n in range(len(infos)))
        noun = "device" if len(infos) == 1 else "devices"
        raise RuntimeError(f"{type_}:{index} does not exist; found {len(infos)} {noun}: {listing}; use {uses} or 'cpu'")
    return infos[index]


def _default_index(infos: tuple[DeviceInfo, ...]) -> int:
    choice = os.environ.get("DISTGRAD_OPENCL_DEVICE", "").strip()
    if not choice:
        return 0
    if choice.isdigit():
        return int(choice)
    for i in infos:
        if choice.lower() in f"{i.platform} {i.name}".lower():
            return i.index
    listing = ", ".join(_label(i, "opencl", i.index) for i in infos)
    raise RuntimeError(f"DISTGRAD_OPENCL_DEVICE={choice!r} matches no OpenCL device; found: {listing}")


_OPEN: dict[tuple[int, bool], Any] = {}


def open_device(index: int | None = None, gpu_only: bool = False):
    """The cached backend for opencl:index (cuda:index, counting GPUs only, with gpu_only)."""
    info = _info(index, gpu_only)
    n = index if index is not None else (0 if gpu_only else info.index)
    backend = _OPEN.get((n, gpu_only))
    if backend is None:
        from .backend import OpenCLBackend
        backend = _OPEN[(n, gpu_only)] = OpenCLBackend(info, Device("cuda" if gpu_only else "opencl", n))
    return backend


def error_name(code: int) -> str:
    """CL_OUT_OF_RESOURCES for -5: the OpenCL name of a status code."""
    cl = _import_pyopencl()
    names = {v: k for k, v in vars(cl.status_code).items() if isinstance(v, int) and not k.startswith("_")}
    return "CL_" + names.get(code, "UNKNOWN_ERROR")
