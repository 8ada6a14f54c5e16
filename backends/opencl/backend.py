"""OpenCLBackend: the primitives of backends/base.py as OpenCL kernels on one device, launched asynchronously.

NOTE [ OpenCL queue and buffer pool ]
Each device has one in-order command queue. Primitives enqueue and return at once; only to_numpy, nonzero (its
output size), the mapped-BLAS matmul on CPU devices and synchronize() wait for the device. Because the queue is in
order, a buffer whose Storage dies can go back to the pool and be handed to the next allocation at once: every launch
that still reads it was enqueued earlier and runs first. The pool never releases a buffer itself: it drops its
reference, and the buffer is freed when the last batched launch holding it is gone (NOTE [ Launch batching ]).

NOTE [ Launch batching ]
A launch handed to the driver while its worker threads sleep must wake one: on PoCL here that costs the enqueueing
thread 8-16 us per launch once Python does a few microseconds of work between launches, against ~2-3 us for
launches enqueued back to back. So launches (and the copies that need no wait) are recorded in order and handed to
the queue in bursts (flush): when MAX_PENDING are waiting, when one is large (FLUSH_SIZE work-items or elements:
the device should start on it at once), and before anything that waits for the device or enqueues by other means (reads,
maps, synchronize). Code that enqueues on `queue` directly must call flush() first. Each record holds its views or
buffers, so nothing it uses is freed before it is enqueued; kernel arguments are set at flush time, in order. An
OpenCL error of a batched launch is raised by the call that flushed it, naming that launch, as CUDA reports
asynchronous errors at a later call.

NOTE [ Deferred index checks ]
An op that takes an index tensor must raise PyTorch's IndexError for an index out of range, but reading the index's
min and max back at once would make every cross_entropy, gather or embedding lookup wait for the device. So the core
(prims.check_index) queues the two reductions and hands their results and a check to `defer_check`; the next read
to the host (to_numpy, hence item(), printing, comparisons in Python) or synchronize() copies the results back with
the read it was doing anyway and runs the checks, raising there, as CUDA reports a device-side assert at the next
synchronization. Until then the index kernels skip out-of-range indices (gather writes 0), so a bad index never
touches memory outside its tensor. At most MAX_DEFERRED checks wait; the next one synchronizes.
"""
from __future__ import annotations

import functools
import hashlib
import os
import threading
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyopencl as cl

from ..base import (
    ARG_REDUCE_OPS,
    DTYPE_OF_NUMPY,
    REDUCE_OPS,
    SCAN_OPS,
    Device,
    DType,
    Storage,
    View,
    contiguous_strides,
)
from . import DeviceInfo, error_name
from .codegen import (
    COMPUTE,
    CTYPE,
    LIMITS,
    Expr,
    cast,
    collapse,
    index_args,
    index_code,
    index_params,
    is_float,
    preamble,
    store,
    stride_class,
    template,
)

_NP_OF_CTYPE = {"half": np.float16, "float": np.float32, "double": np.float64, "char": np.int8, "short": np.int16,
                "int": np.int32, "long": np.int64, "uchar": np.uint8}
# {a}, {b}: accumulator and value; {T}: compute type. Bool sums and products are logical, as in NumPy.
COMBINE = {"sum": "(({T})({a} + {b}))", "prod": "(({T})({a} * {b}))", "max": "dg_max_{T}({a}, {b})",
           "min": "dg_min_{T}({a}, {b})"}
COMBINE_BOOL = {"sum": "({a} | {b})", "prod": "({a} & {b})", "max": "({a} | {b})", "min": "({a} & {b})"}
IDENTITY = {"sum": lambda d: "0", "prod": lambda d: "1", "max": lambda d: LIMITS[d][0], "min": lambda d: LIMITS[d][1]}
BETTER = {"argmax": ">", "argmin": "<"}
SCAN_COMBINE = {"cumsum": "sum", "cumprod": "prod"}
assert set(COMBINE) == set(REDUCE_OPS) and set(BETTER) == set(ARG_REDUCE_OPS) and set(SCAN_COMBINE) == set(SCAN_OPS)

MATMUL_PATHS = ("blas", "tiled", "local")
REDUCE_LANES = 16   # accumulators per work-item in the unrolled reduce forms (NOTE [ Reduce forms ])
ROW_GROUP = 64   # work-items per group in the rows form of elementwise kernels (NOTE [ Elementwise forms ])
ROWS_MIN_NUMEL = 4096   # smaller elementwise launches keep the flat form
MAX_DEFERRED = 64   # index checks waiting for the next read (NOTE [ Deferred index checks ])
MAX_PENDING = 32   # launches batched before they are handed to the queue (NOTE [ Launch batching ])
FLUSH_SIZE = 1 << 15   # a launch of this many work-items or elements is handed over at once
MAX_UPLOAD_BYTES = 1 << 26   # host copies of queued uploads held before the backend waits for them
MAX_LAYOUTS = 4096   # layout buffers kept for the launches that have no plan (NOTE [ Layout buffers ])
# The mapped-BLAS path waits for the device (it drains the queue); below this many multiply-adds the queued tiled
# kernel is as fast (PoCL, 2 cores: ~37 us each at 64^3, ~150 us at 128^3) and keeps the queue asynchronous.
MAPPED_MIN_FLOPS = 1 << 22
# Tile macros per path (NOTE [ GEMM tiling ]); "tiled" is the barrier-free register-blocked kernel for CPU devices.
# TN = 16 is the VEC width (float16/double16); the vector form reached ~30 GFLOPS on PoCL where the scalar one made 3.
# "local" (GPUs) computes 128x64 tiles: 13.6/17.8/18.6 TFLOPS at N=1024/2048/4096 on an NVIDIA H100, where 64x64
# tiles made 11.4/12.6/12.7 (or 14.4/15.4/16.2 with A staged k-fast) and 128x128 ones starve the GPU at 1024. Staging
# a transposed B (x @ W.t()) k-fast took it from 11.1/14.7/15.4 to 12.8/17.4/17.7, level with the other layouts
# (scripts/sweep_gemm.py times such variants).
TILES = {"tiled": {"TM": 8, "TN": 16, "TK": 1, "LX": 1, "LY": 1, "USE_LOCAL": 0, "VEC": 1},
         "local": {"TM": 8, "TN": 4, "TK": 16, "LX": 16, "LY": 16, "USE_LOCAL": 1, "VEC": 0}}


# NOTE [ Elementwise forms ]
# An elementwise kernel turns each work-item's number into per-operand offsets with a div and a mod per collapsed
# dim (NOTE [ Strided launches ]). In the flat form (1-D range) every element pays them, and a 64-bit division by a
# run-time size is slow on CPUs: a 6-d im2col copy ran at 0.7 GB/s on PoCL. Where two or more dims stay after
# collapsing, the rows form launches a 2-D range, dim 0 along the innermost dim and dim 1 over the rows, in
# work-groups of (across, down) with `across` dividing the innermost size: a group's items in one row share the
# row's offsets, which a CPU driver computes once per row (PoCL hoists them out of its loop over dim 0), and on a GPU
# neighbouring items still touch neighbouring elements. Measured on PoCL, interleaved: the 6-d copy 9x faster, 3-d
# and 4-d windows 1.5-10x, a (4096, 512) bias add 5x, a stride-2 (32768, 16) add 3x. The flat form stays for 1-d
# launches (contiguous and plainly broadcast tensors), for launches under ROWS_MIN_NUMEL elements (a (256, 3) bias
# add, 40 us, was no faster in rows), and for innermost sizes with no divisor from 2 to ROW_GROUP. In the rows form
# only the padded rows past the end test their bounds.
ELEMENTWISE_START = {
    # The layout starts with numel. Only a work-group that reaches past it tests its items: the test is uniform in the
    # other groups, whose items PoCL then runs as vectors (relu(a*b+c): 27-35 GB/s against 21-23 with a per-item test).
    "flat": "const long gid = get_global_id(0);\n"
            "    if ((long)(get_group_id(0) + 1) * (long)get_local_size(0) > L[0] && gid >= L[0]) return;",
    "rows": "const long row = get_global_id(1);\n    if (row * L[{nd}] >= L[0]) return;",
}


def cache_dir() -> Path:
    """Where compiled program binaries live: DISTGRAD_OPENCL_CACHE_DIR, else ~/.cache/distgrad/opencl."""
    env = os.environ.get("DISTGRAD_OPENCL_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "distgrad" / "opencl"


class _LaunchPlan:
    """One elementwise layout's launches.

    NOTE [ Elementwise launch plans ]
    A primitive call's Python work before the enqueue (collapsing dims, choosing the kernel) depends only on the
    expression, the dtypes and the shapes and strides, so it is done once per layout. The plan has a kernel object of
    its own, and a launch sets only the arguments that differ from its previous launch (kernel arguments persist in
    the kernel object and are captured at each enqueue): the buffers, the layout buffer when the offsets changed
    (NOTE [ Layout buffers ]; the plan keeps one per set of offsets), and the constants. Scalars are set as their
    bytes (Kernel._set_arg_buf): ~0.3 us here where Kernel.set_arg on a NumPy scalar costs ~10 us. A queued launch
    then costs little more than the driver's enqueue, which is the floor.
    """

    __slots__ = ("const_args", "ctx", "gsize", "knl", "last", "last_offsets", "layout", "layouts", "lsize",
                 "offset_slots")

    MAX_OFFSETS = 64   # layouts (sets of offsets) kept per plan (a loop over slices makes one per slice)

    def __init__(self, ctx: cl.Context, knl: cl.Kernel, sizes: tuple, numel: int, shape: tuple, strides: list[tuple],
                 const_types: list) -> None:
        # the argument order of _elementwise_source: out, layout, inputs, consts
        self.ctx, self.knl, (self.gsize, self.lsize) = ctx, knl, sizes
        self.layout = [numel, *index_args(shape, [(0, st) for st in strides])]   # offsets filled in per launch
        self.offset_slots = [1 + len(shape) + k * (1 + len(shape)) for k in range(len(strides))]
        self.layouts: dict[tuple, cl.Buffer] = {}
        self.const_args = list(zip(range(1 + len(strides), 1 + len(strides) + len(const_types)), const_types))
        self.last: list = [None] * len(strides)
        self.last_offsets: tuple | None = None

    def launch(self, queue: cl.CommandQueue, out: View, inputs: list[View], consts: list) -> None:
        knl, last = self.knl, self.last
        views = (out, *inputs)
        for k, v in enumerate(views):   # out is argument 0, input k - 1 is argument k + 1
            buf = v.storage.buf
            if buf is not last[k]:   # identity: last[] keeps the previous buffer alive, so no id is reused
                knl.set_arg(k + 1 if k else 0, buf)
                last[k] = buf
        offsets = tuple([v.offset for v in views])
        if offsets != self.last_offsets:
            knl.set_arg(1, self._layout(offsets))
            self.last_offsets = offsets
        set_bytes = knl._set_arg_buf   # what pyopencl's generated invokers call for scalars: see the NOTE above
        for (arg, to_scalar), c in zip(self.const_args, consts):
            set_bytes(arg, to_scalar(c))
        cl.enqueue_nd_range_kernel(queue, knl, self.gsize, self.lsize)

    def _layout(self, offsets: tuple) -> cl.Buffer:
        buf = self.layouts.get(offsets)
        if buf is None:
            layout = self.layout
            for slot, off in zip(self.offset_slots, offsets):
                layout[slot] = off
            if len(self.layouts) >= self.MAX_OFFSETS:
                self.layouts.clear()
            buf = self.layouts[offsets] = _constant_buffer(self.ctx, layout)
        return buf


def _constant_buffer(ctx: cl.Context, values: Sequence[int]) -> cl.Buffer:
    """A read-only device buffer holding `values` as longs (a layout: NOTE [ Layout buffers ])."""
    return cl.Buffer(ctx, cl.mem_flags.READ_ONLY | cl.mem_flags.COPY_HOST_PTR, hostbuf=np.array(values, np.int64))


def _as_bool_byte(v: Any) -> np.uint8:
    return np.uint8(bool(v))


def _round_up(n: int, m: int) -> int:
    return max(m, (n + m - 1) // m * m)


class _Storage(Storage):
    """A Storage whose buffer goes back to its device's pool when the Storage dies."""

    __slots__ = ()

    def __del__(self) -> None:
        pool = getattr(self.backend, "pool", None)
        if pool is not None:
            pool.put(self.buf)


class BufferPool:
    """Reuses device buffers by size class (NOTE [ OpenCL queue and buffer pool ]), up to `limit` idle bytes.

    With `exact`, a buffer has the size asked for (at least 1 byte), so that a memory checker such as oclgrind sees
    every access past the end of a tensor, not only those past the rounded-up size.
    """

    def __init__(self, ctx: cl.Context, limit: int, exact: bool = False) -> None:
        self.ctx = ctx
        self.limit = limit
        self.exact = exact
        self.idle: dict[int, list[cl.Buffer]] = defaultdict(list)
        self.idle_bytes = 0

    def size_class(self, nbytes: int) -> int:
        """Round up to 256 bytes, and above 1 MiB to a quarter of the next power of two (at most 25% slack)."""
        if self.exact:
            return max(nbytes, 1)
        if nbytes <= 1 << 20:
            return _round_up(nbytes, 256)
        return _round_up(nbytes, 1 << (nbytes.bit_length() - 3))

    def get(self, nbytes: int) -> cl.Buffer:
        size = self.size_class(nbytes)
        idle = self.idle.get(size)
        if idle:
            self.idle_bytes -= size
            return idle.pop()
        try:
            return cl.Buffer(self.ctx, cl.mem_flags.READ_WRITE, size)
        except (cl.MemoryError, cl.Error):
            self.clear()   # idle buffers of other sizes may be what stands in the way
            return cl.Buffer(self.ctx, cl.mem_flags.READ_WRITE, size)

    def put(self, buf: cl.Buffer) -> None:
        size = buf.size
        if self.idle_bytes + size > self.limit:
            return   # dropped: freed with its last reference, which a batched launch may still hold
        self.idle[size].append(buf)
        self.idle_bytes += size

    def clear(self) -> None:
        self.idle.clear()
        self.idle_bytes = 0


class OpenCLBackend:
    """The primitives on one OpenCL device (see backends/base.py for the contract)."""

    def __init__(self, info: DeviceInfo, device: Device) -> None:
        self.info = info
        self.device = device
        self.label = f"{device} '{info.name}' ({info.short_platform})"
        try:
            self.ctx = cl.Context([info.cl_device])
            self.queue = cl.CommandQueue(self.ctx)
        except cl.Error as e:
            raise RuntimeError(f"OpenCL error {e.code} ({error_name(e.code)}) creating a context on {self.label}") \
                from None
        dev = info.cl_device
        self.host_memory = info.kind == "cpu" or bool(dev.host_unified_memory)
        self.compute_units = info.compute_units
        self.max_wg = dev.max_work_group_size
        self.wg = 1 if info.kind == "cpu" else min(128, 1 << (self.max_wg.bit_length() - 1))
        self.matmul_path = os.environ.get("DISTGRAD_OPENCL_MATMUL") or ("blas" if self.host_memory else "local")
        if self.matmul_path not in MATMUL_PATHS:
            raise RuntimeError(f"DISTGRAD_OPENCL_MATMUL={self.matmul_path!r}: expected one of {MATMUL_PATHS}")
        self.mapped_min_flops = MAPPED_MIN_FLOPS
        self.pool = BufferPool(self.ctx, min(info.global_mem_bytes // 4, 2 << 30), exact=info.platform == "Oclgrind")
        self._kernels: dict[tuple, cl.Kernel] = {}
        self._layouts: dict[tuple, cl.Buffer] = {}
        self._ew_plans: dict[tuple, tuple] = {}   # elementwise launches by layout (NOTE [ Elementwise launch plans ])
        self._deferred: list[tuple[list[View], Callable[..., None]]] = []   # NOTE [ Deferred index checks ]
        self._pending: list[tuple[Callable[..., Any], tuple, Callable[[], str]]] = []   # NOTE [ Launch batching ]
        self._flushing = threading.Lock()
        self._uploads: list[cl.Event] = []   # see _upload
        self._upload_bytes = 0
        # besides the source and the build options, everything that can change the binary a source compiles to
        self._cache_tag = repr((info.platform, info.name, info.driver_version, info.opencl_version,
                                dev.platform.version, cl.VERSION_TEXT))

    def __repr__(self) -> str:
        return f"OpenCLBackend({self.label})"

    # ---- compiling and launching -------------------------------------------------------------------------------

    def _kernel(self, key: tuple, make: Callable[[], tuple[str, str, list[Any]]], options: str = "") -> cl.Kernel:
        """The kernel for key, built on first use from make() -> (source, kernel name, scalar arg dtypes)."""
        knl = self._kernels.get(key)
        if knl is None:
            src, name, arg_dtypes = make()
            knl = getattr(self._build(src, options), name)
            knl.set_scalar_arg_dtypes(arg_dtypes)
            self._kernels[key] = knl
        return knl

    def _build(self, src: str, options: str) -> cl.Program:
        """Build a program, from the disk cache when this (source, options, device, driver) was built before."""
        digest = hashlib.sha256(repr((self._cache_tag, options, src)).encode()).hexdigest()
        path = cache_dir() / f"{digest}.bin"
        dev = self.info.cl_device
        if path.exists():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", cl.CompilerWarning)
                    return cl.Program(self.ctx, [dev], [path.read_bytes()]).build(options)
            except (cl.Error, OSError):
                pass   # a stale or truncated binary: rebuild from source below and overwrite it
        try:
            with warnings.catch_warnings():   # a successful build's log (e.g. PoCL's notes) is no user's concern
                warnings.simplefilter("ignore", cl.CompilerWarning)
                prg = cl.Program(self.ctx, src).build(options)
        except cl.RuntimeError as e:
            raise RuntimeError(f"OpenCL kernel build failed on {self.label} with options {options!r}:\n{e}\n"
                               f"source:\n{src}") from None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(prg.get_info(cl.program_info.BINARIES)[0])
            tmp.replace(path)   # atomic: a concurrent process sees the whole binary or none
        except OSError:
            pass   # a read-only cache costs compile time, never correctness
        return prg

    def _layout(self, values: Sequence[int]) -> cl.Buffer:
        """The layout buffer holding these numbers (NOTE [ Layout buffers ]), made on first use."""
        key = tuple(values)
        buf = self._layouts.get(key)
        if buf is None:
            if len(self._layouts) >= MAX_LAYOUTS:
                self._layouts.clear()   # a launch using one holds it until enqueued; OpenCL retains it after
            buf = self._layouts[key] = _constant_buffer(self.ctx, key)
        return buf

    def _launch(self, knl: cl.Kernel, gsize: tuple[int, ...], lsize: tuple[int, ...] | None, args: Sequence,
                what: Callable[[], str], work: int = 0) -> None:
        """Batch a launch; `work` (elements it reads, multiply-adds) sizes it where its work-items understate it."""
        items = 1
        for n in gsize:
            items *= n
        self._submit(knl, (self.queue, gsize, lsize, *args), what, max(items, work))

    def _submit(self, fn: Callable[..., Any], args: tuple, what: Callable[[], str], size: int) -> None:
        """Record fn(*args), an enqueue of `size` work-items or elements, for the next flush (NOTE [ Launch
        batching ])."""
        pending = self._pending
        pending.append((fn, args, what))
        if size >= FLUSH_SIZE or len(pending) >= MAX_PENDING:
            self.flush()

    def flush(self) -> None:
        """Hand the batched launches and uploads to the queue, in order (NOTE [ Launch batching ])."""
        with self._flushing:   # appends from other threads land after n and stay for the next flush
            pending = self._pending
            n = len(pending)
            batch = pending[:n]
            del pending[:n]
            for fn, args, what in batch:
                try:
                    fn(*args)
                except cl.Error as e:
                    raise self._error(e, what()) from None

    def _error(self, e: cl.Error, what: str) -> RuntimeError:
        return RuntimeError(f"OpenCL error {e.code} ({error_name(e.code)}) in {what} on {self.device}")

    def _check_dtype(self, dtype: DType) -> None:
        if dtype.name == "float64" and not self.info.fp64:
            raise RuntimeError(f"{self.label} does not support torch.float64 (no cl_khr_fp64); use torch.float32 "
                               f"or device 'cpu'")
        if dtype.name == "float16" and not self.info.fp16:
            raise RuntimeError(f"{self.label} does not support torch.float16 (no cl_khr_fp16); use torch.float32 "
                               f"or device 'cpu'")

    def _out(self, out: View | None, shape: tuple[int, ...], dtype: DType) -> View:
        return self.alloc(shape, dtype) if out is None else out

    # ---- memory ------------------------------------------------------------------------------------------------

    def alloc(self, shape: tuple[int, ...], dtype: DType) -> View:
        self._check_dtype(dtype)
        n = 1
        for s in shape:
            n *= s
        try:
            buf = self.pool.get(n * dtype.itemsize)
        except (cl.MemoryError, cl.Error):
            raise RuntimeError(f"OpenCL out of memory on {self.label}: tried to allocate {n * dtype.itemsize} bytes "
                               f"for a {dtype} tensor of shape {list(shape)}") from None
        return View(_Storage(buf, dtype, self, n), shape, contiguous_strides(shape), 0)

    def from_numpy(self, arr: np.ndarray) -> View:
        dtype = DTYPE_OF_NUMPY.get(arr.dtype)
        if dtype is None:
            raise TypeError(f"can't convert np.ndarray of type numpy.{arr.dtype}. The only supported types are: "
                            "float64, float32, float16, int64, int32, int16, int8, uint8, and bool.")
        out = self.alloc(arr.shape, dtype)
        if arr.size:
            # The upload runs later (batched, then non-blocking), so it reads a private copy taken now: the caller
            # may write to arr at once, as after PyTorch's synchronous .to(device).
            self._submit(self._upload, (out.storage.buf, np.array(arr, order="C")),
                         lambda: f"copy of {list(arr.shape)} {arr.dtype} to {self.device}", arr.size)
        return out

    def _upload(self, buf: cl.Buffer, host: np.ndarray) -> None:
        """A non-blocking host-to-device copy. pyopencl's event for it guards `host` and, when dropped before the
        copy ran, waits for it (and so for the whole queue): the events are kept until the next wait for the device,
        or until MAX_UPLOAD_BYTES of host copies are held."""
        self._uploads.append(cl.enqueue_copy(self.queue, buf, host, is_blocking=False))
        self._upload_bytes += host.nbytes
        if self._upload_bytes > MAX_UPLOAD_BYTES:
            self._uploads_done()

    def _uploads_done(self) -> None:
        """Drop the upload events: after a wait for the device that costs nothing, else it waits for them."""
        self._uploads.clear()
        self._upload_bytes = 0

    def to_numpy(self, x: View) -> np.ndarray:
        host = np.empty(x.shape, x.dtype.np)
        if host.size and not x.is_contiguous():
            x = self.copy(x)
        self.flush()
        checks = self._read_deferred()
        try:
            if host.size:
                cl.enqueue_copy(self.queue, host, x.storage.buf, src_offset=x.offset * x.dtype.itemsize,
                                is_blocking=True)
            elif checks:
                self.queue.finish()
        except cl.Error as e:
            raise self._error(e, f"to_numpy {list(x.shape)} {x.dtype} (or a launch queued before it)") from None
        if host.size or checks:
            self._uploads_done()
        self._run_checks(checks)
        return host

    def defer_check(self, views: list[View], check: Callable[..., None]) -> None:
        """Run check(*host copies of views) at the next read to the host (NOTE [ Deferred index checks ])."""
        self._deferred.append((views, check))
        if len(self._deferred) > MAX_DEFERRED:
            self.synchronize()

    def _read_deferred(self) -> list[tuple[list[np.ndarray], Callable[..., None]]]:
        """Queue copies of the waiting checks' views to the host: the blocking read after them completes them."""
        pending, self._deferred = self._deferred, []
        reads = []
        for views, check in pending:
            hosts = [np.empty(v.shape, v.dtype.np) for v in views]
            for h, v in zip(hosts, views):
                cl.enqueue_copy(self.queue, h, v.storage.buf, src_offset=v.offset * v.dtype.itemsize,
                                is_blocking=False)
            reads.append((hosts, check))
        return reads

    @staticmethod
    def _run_checks(reads: list[tuple[list[np.ndarray], Callable[..., None]]]) -> None:
        for hosts, check in reads:
            check(*hosts)

    def copy(self, x: View, out: View | None = None, dtype: DType | None = None) -> View:
        dt = out.dtype if out is not None else (dtype or x.dtype)
        if out is None and dt is x.dtype and x.is_contiguous() and x.numel:
            out = self.alloc(x.shape, dt)
            self._submit(functools.partial(cl.enqueue_copy, byte_count=x.numel * dt.itemsize,
                                           src_offset=x.offset * dt.itemsize),
                         (self.queue, out.storage.buf, x.storage.buf), lambda: f"copy {list(x.shape)} {dt}", x.numel)
            return out
        return self._elementwise(("cast", dt.name, ("in", 0)), [x], out, dt, "copy")

    def fill(self, out: View, value: float | bool) -> View:
        return self._elementwise(("const", value), [], out, out.dtype, "fill")

    # ---- elementwise -------------------------------------------------------------------------------------------

    def unary(self, op: str, x: View, out: View | None = None) -> View:
        return self._elementwise((op, ("in", 0)), [x], out, None, op)

    def binary(self, op: str, a: View, b: View, out: View | None = None) -> View:
        return self._elementwise((op, ("in", 0), ("in", 1)), [a, b], out, None, op)

    def where(self, cond: View, a: View, b: View, out: View | None = None) -> View:
        return self._elementwise(("where", ("in", 0), ("in", 1), ("in", 2)), [cond, a, b], out, None, "where")

    def fused(self, expr: tuple, inputs: Sequence[View], out: View | None = None) -> View:
        return self._elementwise(expr, list(inputs), out, None, "fused")

    def _elementwise(self, expr: tuple, inputs: list[View], out: View | None, out_dtype: DType | None,
                     what: str) -> View:
        skeleton, consts = _split_consts(expr)
        in_dtypes = tuple([v.storage.dtype.name for v in inputs])
        if out is None:
            if out_dtype is None:
                out_dtype = _DTYPES[_result_dtype(skeleton, in_dtypes)]
            out = self.alloc(inputs[0].shape if inputs else (), out_dtype)
        layout = (skeleton, in_dtypes, out.storage.dtype.name, out.shape, out.strides, *[v.strides for v in inputs])
        plan = self._ew_plans.get(layout)
        if plan is None:   # a layout with no elements gets no plan, so a found plan means numel > 0
            if out.numel == 0:
                return out
            plan = self._elementwise_plan(skeleton, in_dtypes, out, inputs)
            if len(self._ew_plans) >= 4096:
                self._ew_plans.clear()
            self._ew_plans[layout] = plan
        self._submit(plan.launch, (self.queue, out, inputs, consts), lambda: f"{what} {list(out.shape)} {out.dtype}",
                     out.numel)
        return out

    def _elementwise_plan(self, skeleton: tuple, in_dtypes: tuple, out: View, inputs: list[View]) -> _LaunchPlan:
        shape, strides = collapse(out.shape, [out.strides] + [v.strides for v in inputs])
        classes = tuple(stride_class(s) for s in strides)
        sizes = self._elementwise_sizes(shape)
        form = "rows" if len(sizes[0]) == 2 else "flat"
        key = ("ew", skeleton, in_dtypes, out.dtype.name, len(shape), classes, form)
        knl = self._kernels.get(key) or self._kernel(key, lambda: _elementwise_source(
            skeleton, in_dtypes, out.dtype.name, len(shape), classes, form))
        kinds = _expr(skeleton, in_dtypes, out.dtype.name).consts
        const_types = [_as_bool_byte if d == "bool" else _NP_OF_CTYPE[COMPUTE[d]] for d, _ in kinds]
        return _LaunchPlan(self.ctx, cl.Kernel(knl.program, knl.function_name), sizes, out.numel, shape, strides,
                           const_types)

    def _elementwise_sizes(self, shape: tuple[int, ...]) -> tuple[tuple, tuple | None]:
        """Global and local sizes of an elementwise launch over the collapsed shape (NOTE [ Elementwise forms ])."""
        numel = 1
        for n in shape:
            numel *= n
        cap = min(ROW_GROUP, self.max_wg)
        inner = shape[-1]
        across = next(d for d in range(min(inner, cap), 0, -1) if inner % d == 0)   # items of a group in one row
        if len(shape) < 2 or across < 2 or numel < ROWS_MIN_NUMEL:
            return (_round_up(numel, 64),), None
        down = cap // across
        return (inner, _round_up(numel // inner, down)), (across, down)

    # ---- reductions and scans ----------------------------------------------------------------------------------

    def reduce(self, op: str, x: View, axes: tuple[int, ...], keepdim: bool, out: View | None = None) -> View:
        kept = [d for d in range(len(x.shape)) if d not in axes]
        kshape = tuple(x.shape[d] for d in kept)
        if out is None:
            out = self.alloc(tuple(1 if d in axes else n for d, n in enumerate(x.shape)) if keepdim else kshape,
                             x.dtype)
        okept = tuple(out.strides[d] for d in kept) if keepdim else out.strides
        R = 1
        for d in axes:
            R *= x.shape[d]
        if R == 0 and op in ("max", "min"):
            raise RuntimeError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0. Specify the "
                               f"reduction dim with the 'dim' argument.")
        self._reduce(op, x, kshape, okept, tuple(x.strides[d] for d in kept),
                     tuple(x.shape[d] for d in axes), tuple(x.strides[d] for d in axes), out)
        return out

    def _reduce(self, op: str, x: View, kshape: tuple, okept: tuple, xkept: tuple, rshape: tuple, rstrides: tuple,
                out: View) -> None:
        kshape, (okept, xkept) = collapse(kshape, [okept, xkept])
        rshape, (rstrides,) = collapse(rshape, [rstrides])
        M = R = 1
        for n in kshape:
            M *= n
        for n in rshape:
            R *= n
        if M == 0:
            return
        # A row no longer than a work-group gets one work-item, not a group of mostly idle items. On an H100 both
        # still cost ~0.7 ns per row (an (S, M, N) sum over S): the item launch leaves its group size to the driver;
        # rows along dim 0 in explicit groups of 64 would be the next step.
        wg = self.wg if R > self.wg else 1
        if wg == 1 and len(rshape) > 1:   # the reduced dim of smallest stride first, then the rest (NOTE [ Reduce forms ])
            d = min(range(len(rshape)), key=lambda k: abs(rstrides[k]))
            rest = [k for k in range(len(rshape)) if k != d]
            kr = kshape + tuple(rshape[k] for k in rest)
            inner, st = self.alloc(kr, x.dtype), contiguous_strides(kr)
            self._reduce(op, x, kr, st, xkept + tuple(rstrides[k] for k in rest), rshape[d:d + 1], rstrides[d:d + 1],
                         inner)
            self._reduce(op, inner, kshape, okept, st[:len(kshape)], kr[len(kshape):], st[len(kshape):], out)
            return
        form = _reduce_form(wg, kshape, xkept, rshape, rstrides)
        cols = REDUCE_LANES if form == "cols" else 1
        items = M // cols
        # items on CPUs (PoCL runs a few dozen per work-group, so fewer leave cores idle), work-groups on GPUs
        want = self.compute_units * (64 if wg == 1 else 4)
        groups = max(1, min(-(-want // items), -(-R // (4096 if wg == 1 else wg * 16))))
        chunk = -(-R // groups) if R else 0
        dt = x.dtype.name
        if groups > 1:   # pass 1 into (M, groups) partials, pass 2 reduces them into out
            part = self.alloc((M, groups), x.dtype)
            dst, dst_kept, dst_off, s_g = part, (groups * s for s in contiguous_strides(kshape)), 0, 1
        else:
            dst, dst_kept, dst_off, s_g = out, okept, out.offset, 0
        rclass = stride_class(rstrides)
        key = ("reduce", op, dt, len(kshape), len(rshape), rclass, wg, form)
        knl = self._kernels.get(key) or self._kernel(key, lambda: _reduce_source(
            op, dt, len(kshape), len(rshape), rclass), f"-D WG={wg} -D COLS={cols} "
            f"-D UNROLL={REDUCE_LANES if form == 'rows' else 1}")
        args = [dst.storage.buf, x.storage.buf, R, chunk, s_g,
                self._layout(index_args(kshape, [(dst_off, tuple(dst_kept)), (x.offset, xkept)])),
                self._layout(index_args(rshape, [(0, rstrides)]))]
        self._launch(knl, (items, groups) if cols > 1 else (groups * wg, items), (wg, 1) if wg > 1 else None, args,
                     lambda: f"{op} over {R} of {M} rows {dt}", M * R)
        if groups > 1:
            self._reduce(op, part, kshape, okept, contiguous_strides(kshape + (groups,))[:-1] if kshape else (),
                         (groups,), (1,), out)

    def arg_reduce(self, op: str, x: View, axis: int, keepdim: bool) -> View:
        R = x.shape[axis]
        if R == 0:
            raise IndexError(f"{op}(): Expected reduction dim {axis} to have non-zero size.")
        kept = [d for d in range(len(x.shape)) if d != axis]
        out = self.alloc(tuple(1 if d == axis else n for d, n in enumerate(x.shape)) if keepdim else
                         tuple(x.shape[d] for d in kept), DTYPE_OF_NUMPY[np.dtype(np.int64)])
        okept = tuple(out.strides[d] for d in kept) if keepdim else out.strides
        self._lines("arg_reduce", op, x, out, axis, okept, (R, x.strides[axis]))
        return out

    def argsort(self, x: View, axis: int, descending: bool) -> View:
        out = self.alloc(x.shape, DTYPE_OF_NUMPY[np.dtype(np.int64)])
        tmp = self.alloc((max(out.numel, 1),), out.dtype)
        kept = [d for d in range(len(x.shape)) if d != axis]
        self._lines("argsort", "argsort", x, out, axis, tuple(out.strides[d] for d in kept),
                    (x.shape[axis], x.strides[axis], out.strides[axis], np.int32(descending)), tmp.storage.buf)
        return out

    def scan(self, op: str, x: View, axis: int, out: View | None = None) -> View:
        out = self._out(out, x.shape, x.dtype)
        kept = [d for d in range(len(x.shape)) if d != axis]
        self._lines("scan", op, x, out, axis, tuple(out.strides[d] for d in kept),
                    (x.shape[axis], x.strides[axis], out.strides[axis]))
        return out

    def _lines(self, family: str, op: str, x: View, out: View, axis: int, okept: tuple, extra: tuple,
               scratch: cl.Buffer | None = None) -> None:
        """Launch one item per line along axis (arg_reduce, argsort, scan)."""
        kept = [d for d in range(len(x.shape)) if d != axis]
        kshape, (okept, xkept) = collapse(tuple(x.shape[d] for d in kept), [okept, tuple(x.strides[d] for d in kept)])
        M = 1
        for n in kshape:
            M *= n
        if M == 0 or x.shape[axis] == 0:
            return
        dt = x.dtype.name
        key = (family, op, dt, len(kshape))
        knl = self._kernels.get(key) or self._kernel(key, lambda: _lines_source(family, op, dt, len(kshape)))
        bufs = [out.storage.buf, x.storage.buf] if scratch is None else [out.storage.buf, scratch, x.storage.buf]
        args = [*bufs, M, *extra, self._layout(index_args(kshape, [(out.offset, okept), (x.offset, xkept)]))]
        self._launch(knl, (_round_up(M, 64),), None, args, lambda: f"{op} {list(x.shape)} {dt} along dim {axis}",
                     M * x.shape[axis])

    # ---- matmul ------------------------------------------------------------------------------------------------

    def matmul(self, a: View, b: View, out: View | None = None) -> View:
        B, M, K = a.shape
        N = b.shape[2]
        out = self._out(out, (max(B, b.shape[0]), M, N), a.dtype)
        if out.numel == 0:
            return out
        if K == 0:
            return self.fill(out, 0)
        if self.matmul_path == "blas" and self.host_memory and out.numel * K >= self.mapped_min_flops:
            return self._matmul_mapped(a, b, out)
        path = "tiled" if self.matmul_path == "blas" else self.matmul_path
        tiles = TILES[path]
        if tiles["LX"] * tiles["LY"] > self.max_wg:
            tiles = {**tiles, "LY": max(1, self.max_wg // tiles["LX"])}
        split = 1
        if tiles["USE_LOCAL"] and out.shape[0] == 1:
            split = k_split(-(-M // (tiles["TM"] * tiles["LY"])) * -(-N // (tiles["TN"] * tiles["LX"])),
                            self.compute_units, K)
        if split == 1:
            self._matmul_tiles(a, b, out, path, tiles)
            return out
        kc = K // split   # NOTE [ Split K ]: chunk j of K is batch j of the kernel, then one fused add sums them
        part = self.alloc((split, M, N), out.dtype)
        self._matmul_tiles(View(a.storage, (split, M, kc), (kc * a.strides[2], a.strides[1], a.strides[2]), a.offset),
                           View(b.storage, (split, kc, N), (kc * b.strides[1], b.strides[1], b.strides[2]), b.offset),
                           part, path, tiles)
        total = ("in", 0)
        for j in range(1, split):
            total = ("add", total, ("in", j))
        self.fused(total, [View(part.storage, (M, N), (N, 1), j * M * N) for j in range(split)],
                   out=View(out.storage, (M, N), out.strides[1:], out.offset))
        return out

    def _matmul_tiles(self, a: View, b: View, out: View, path: str, tiles: dict) -> None:
        """Launch the tiled GEMM kernel (NOTE [ GEMM tiling ]): out[bt] = a[bt] @ b[bt] for every batch bt."""
        _, M, K = a.shape
        N = b.shape[2]
        unit = tuple(s == 1 for s in (a.strides[1], a.strides[2], b.strides[1], b.strides[2], out.strides[2]))
        dt = a.dtype.name
        if tiles["VEC"] and not (unit[3] and dt in ("float32", "float64")):
            tiles = {**tiles, "VEC": 0}
        options = " ".join(f"-D {k}={v}" for k, v in tiles.items())
        key = ("matmul", dt, unit, options)
        knl = self._kernels.get(key) or self._kernel(key, lambda: _matmul_source(dt, unit), options)
        lx, ly = tiles["LX"], tiles["LY"]
        gsize = (-(-N // (tiles["TN"] * lx)) * lx, -(-M // (tiles["TM"] * ly)) * ly, out.shape[0])
        args = [out.storage.buf, a.storage.buf, b.storage.buf,
                self._layout((M, N, K, a.offset, *a.strides, b.offset, *b.strides, out.offset, *out.strides))]
        self._launch(knl, gsize, (lx, ly, 1), args, lambda: f"matmul {M}x{K}x{N} {dt} ({path})", out.numel * K)

    def _matmul_mapped(self, a: View, b: View, out: View) -> View:
        """CPU devices: map the buffers (host memory, no copy) and let NumPy's BLAS compute into out.

        The three maps are queued together and only the last is waited for: the queue is in order, so one wait for
        the device covers all three.
        """
        self.flush()
        maps, last = [], None
        try:
            arrays = []
            for v, flags in ((a, cl.map_flags.READ), (b, cl.map_flags.READ),
                             (out, cl.map_flags.READ | cl.map_flags.WRITE)):
                host, last = cl.enqueue_map_buffer(self.queue, v.storage.buf, flags, 0, (v.storage.size,),
                                                   v.dtype.np, is_blocking=False)
                maps.append(host)
                it = v.dtype.itemsize
                arrays.append(np.ndarray(v.shape, v.dtype.np, host, v.offset * it, tuple(s * it for s in v.strides)))
            last.wait()
            self._uploads_done()
            xa, xb, xo = arrays
            if xa.shape[0] == 1 and xb.shape[0] == 1:
                np.matmul(xa[0], xb[0], out=xo[0])
            else:
                np.matmul(xa, xb, out=xo)
        except cl.Error as e:
            raise self._error(e, f"matmul (mapped) {list(a.shape)} @ {list(b.shape)} {a.dtype}") from None
        finally:
            for host in maps:
                host.base.release(self.queue)
        return out

    # ---- indexing ----------------------------------------------------------------------------------------------

    def gather(self, x: View, axis: int, index: View, out: View | None = None) -> View:
        out = self._out(out, index.shape, x.dtype)
        if out.numel == 0:
            return out
        xst = tuple(0 if d == axis else s for d, s in enumerate(x.strides))
        shape, strides = collapse(index.shape, [out.strides, index.strides, xst])
        dt = x.dtype.name
        key = ("gather", dt, len(shape))
        knl = self._kernels.get(key) or self._kernel(key, lambda: _indexed_source(
            "gather", dt, len(shape), ["out", "idx", "x"]))
        args = [out.storage.buf, x.storage.buf, index.storage.buf, out.numel, x.strides[axis], x.shape[axis],
                self._layout(index_args(shape, [(out.offset, strides[0]), (index.offset, strides[1]),
                                                (x.offset, strides[2])]))]
        self._launch(knl, (_round_up(out.numel, 64),), None, args, lambda: f"gather {list(index.shape)} {dt}")
        return out

    def scatter(self, mode: str, out: View, axis: int, index: View, src: View) -> View:
        line_shape = tuple(1 if d == axis else n for d, n in enumerate(index.shape))
        R = index.shape[axis] if index.shape else 1
        lines = 1
        for n in line_shape:
            lines *= n
        if lines == 0 or R == 0:
            return out
        ost = tuple(0 if d == axis else s for d, s in enumerate(out.strides))
        shape, strides = collapse(line_shape, [ost, index.strides, src.strides])
        dt = out.dtype.name
        key = ("scatter", mode, dt, len(shape))
        knl = self._kernels.get(key) or self._kernel(key, lambda: _indexed_source(
            "scatter", dt, len(shape), ["out", "idx", "src"], mode))
        ax = (out.strides[axis], src.strides[axis], index.strides[axis]) if index.shape else (0, 0, 0)
        n_ax = out.shape[axis] if out.shape else 1
        args = [out.storage.buf, src.storage.buf, index.storage.buf, lines, R, *ax, n_ax,
                self._layout(index_args(shape, [(out.offset, strides[0]), (index.offset, strides[1]),
                                                (src.offset, strides[2])]))]
        self._launch(knl, (_round_up(lines, 64),), None, args, lambda: f"scatter_{mode} {list(index.shape)} {dt}",
                     lines * R)
        return out

    def nonzero(self, x: View) -> View:
        nd, numel = len(x.shape), x.numel
        int64 = DTYPE_OF_NUMPY[np.dtype(np.int64)]
        if nd == 0 or numel == 0:   # nothing to parallelise; NumPy gives the (n, ndim) shape conventions
            return self.from_numpy(np.argwhere(self.to_numpy(x)).astype(np.int64))
        chunks = max(1, min(self.compute_units * 16, numel // 1024))
        chunk = -(-numel // chunks)
        dt = x.dtype.name
        prg_key = ("nonzero", dt, nd)
        make = lambda name: lambda: _nonzero_source(name, dt, nd)
        counter = self._kernels.get(prg_key + ("count",)) or self._kernel(prg_key + ("count",), make("count"))
        writer = self._kernels.get(prg_key + ("write",)) or self._kernel(prg_key + ("write",), make("write"))
        idx = self._layout(index_args(x.shape, [(x.offset, x.strides)]))
        counts = self.alloc((chunks,), int64)
        self._launch(counter, (chunks,), None, [counts.storage.buf, x.storage.buf, numel, chunk, idx],
                     lambda: f"nonzero {list(x.shape)} {dt}")
        ends = np.cumsum(self.to_numpy(counts))
        out = self.alloc((int(ends[-1]), nd), int64)
        if out.numel:
            starts = self.from_numpy(ends - self.to_numpy(counts))
            self._launch(writer, (chunks,), None, [out.storage.buf, starts.storage.buf, x.storage.buf, numel, chunk,
                                                   idx], lambda: f"nonzero {list(x.shape)} {dt}")
        return out

    # ---- random ------------------------------------------------------------------------------------------------

    def random(self, op: str, out: View, seed: int, offset: int, a: float, b: float) -> View:
        numel = out.numel
        if numel == 0:
            return out
        dt = out.dtype.name
        upb = 2 if dt == "float64" else 4
        shape, (strides,) = collapse(out.shape, [out.strides])
        key = ("philox", op, dt, len(shape), stride_class(strides))
        knl = self._kernels.get(key) or self._kernel(key, lambda: _philox_source(
            op, dt, len(shape), stride_class(strides)), f"-D UPB={upb} -D NORMAL={int(op == 'normal')}")
        ct = np.float64 if dt == "float64" else np.float32
        scale = b - a if op == "uniform" else b
        args = [out.storage.buf, numel, offset, seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF, ct(a), ct(scale),
                self._layout(index_args(shape, [(out.offset, strides)]))]
        self._launch(knl, (-(-numel // upb),), None, args, lambda: f"{op} {list(out.shape)} {dt}")
        return out

    def synchronize(self) -> None:
        self.flush()
        checks = self._read_deferred()
        try:
            self.queue.finish()
        except cl.Error as e:
            raise self._error(e, "synchronize (a launch queued earlier failed)") from None
        self._uploads_done()
        self._run_checks(checks)


# ---- kernel sources ----------------------------------------------------------------------------------------------

_DTYPES = {d.name: d for d in DTYPE_OF_NUMPY.values()}


@functools.lru_cache(maxsize=4096)
def _result_dtype(skeleton: tuple, in_dtypes: tuple) -> str:
    return Expr(skeleton, list(in_dtypes)).dtype


@functools.lru_cache(maxsize=4096)
def _expr(skeleton: tuple, in_dtypes: tuple, out_dtype: str) -> Expr:
    return Expr(skeleton, list(in_dtypes), out_dtype)


def _split_consts(expr: tuple) -> tuple[tuple, list]:
    """The expression with constant values blanked (the cache key) and the values in render order."""
    if _has_no_consts(expr):   # unary, binary, where, copy: skip the walk
        return expr, []
    consts: list = []

    def walk(e: tuple) -> tuple:
        if e[0] == "const":
            consts.append(e[1])
            return ("const", None)
        if e[0] in ("in", "cast"):
            return e if e[0] == "in" else ("cast", e[1], walk(e[2]))
        return (e[0], *[walk(c) for c in e[1:]])

    return walk(expr), consts


@functools.lru_cache(maxsize=4096)
def _has_no_consts(expr: tuple) -> bool:
    """True when the expression holds no ("const", value) node (cached by value, which is exact for a yes/no)."""
    if expr[0] in ("const", "in"):
        return expr[0] == "in"
    return all(_has_no_consts(c) for c in (expr[2:] if expr[0] == "cast" else expr[1:]))


def _elementwise_source(skeleton: tuple, in_dtypes: tuple, out_dtype: str, nd: int, classes: tuple,
                        form: str) -> tuple:
    ex = _expr(skeleton, in_dtypes, out_dtype)
    value = store(_final_cast(ex, skeleton, out_dtype), out_dtype)
    names = ["out"] + [f"i{k}" for k in range(len(in_dtypes))]
    params = [index_params("")]
    params += [f"__global const {CTYPE[d]}* in{k}" for k, d in enumerate(in_dtypes)]
    params += [f"const {COMPUTE[d]} cst{k}" for k, (d, _) in enumerate(ex.consts)]
    loads = "\n    ".join(f"const {CTYPE[d]} v{k} = in{k}[o_i{k}];" for k, d in enumerate(in_dtypes))
    src = template("elementwise").substitute(
        PREAMBLE=preamble(ex.dtypes | {out_dtype}), OUT_T=CTYPE[out_dtype], PARAMS=", ".join(params),
        START=ELEMENTWISE_START[form].format(nd=nd), LOADS=loads, VALUE=value,
        INDEX=index_code("", nd, names, list(classes), "gid" if form == "flat" else "row", first=1,
                         inner=None if form == "flat" else "(long)get_global_id(0)"))
    arg_dtypes = [None] * (2 + len(in_dtypes) + len(ex.consts))   # consts: numpy scalars of the right type
    return src, "elementwise", arg_dtypes


def _final_cast(ex: Expr, skeleton: tuple, out_dtype: str) -> str:
    """The expression converted to out's compute type (copy into another dtype, or in-place into a wider out)."""
    root = ex._type(skeleton) or out_dtype
    return ex.code if root == out_dtype else cast(ex.code, root, out_dtype)


def _combine(op: str, dt: str) -> str:
    table = COMBINE_BOOL if dt == "bool" else COMBINE
    return table[op].format(a="a", b="b", T=COMPUTE[dt])


def _reduce_form(wg: int, kshape: tuple, xkept: tuple, rshape: tuple, rstrides: tuple) -> str:
    """How a work-item walks its elements (NOTE [ Reduce forms ] in kernels/reduce.cl): 'cols', 'rows' or
    'generic' (work-groups that share a row)."""
    if wg > 1:
        return "generic"
    if xkept[-1] == 1 and rstrides[-1] != 1 and kshape[-1] % REDUCE_LANES == 0:
        return "cols"
    return "rows"


def _reduce_source(op: str, dt: str, kd: int, rd: int, rclass: str) -> tuple:
    params = [index_params("k"), index_params("r")]
    stride = {"0": "0", "1": "1"}.get(rclass, "Lr[2]")   # the one reduced dim's stride, where rd == 1
    src = template("reduce").substitute(
        PREAMBLE=preamble({dt}), T=CTYPE[dt], ACC_T=COMPUTE[dt], COMBINE=_combine(op, dt),
        IDENTITY=IDENTITY[op](dt), PARAMS=", ".join(params), STORE=store("acc", dt), STORE_J=store("acc[j]", dt),
        KEPT_INDEX=index_code("k", kd, ["out", "x"], ["s", "s"], "m"),
        RED_INDEX=index_code("r", rd, ["y"], [rclass], "r"),
        AT_STRIDE=stride, AT_OFFSET=f"r * {stride}", OUT_STRIDE=f"Lk[{2 * kd}]")
    return src, "reduce", [None, None, np.int64, np.int64, np.int64] + [None] * len(params)


def _lines_source(family: str, op: str, dt: str, kd: int) -> tuple:
    params = [index_params("k")]
    subs = {"PREAMBLE": preamble({dt}), "T": CTYPE[dt], "ACC_T": COMPUTE[dt], "PARAMS": ", ".join(params),
            "KEPT_INDEX": index_code("k", kd, ["out", "x"], ["s", "s"], "m")}
    if family == "argsort":
        less = "((a) < (b) || (isnan(b) && !isnan(a)))" if is_float(dt) else "((a) < (b))"
        subs.update(LESS=less)
        head = [None, None, None, np.int64, np.int64, np.int64, np.int64, None]
    elif family == "scan":
        comb = SCAN_COMBINE[op]
        subs.update(COMBINE=_combine(comb, dt), IDENTITY=IDENTITY[comb](dt), STORE=store("acc", dt))
        head = [None, None, np.int64, np.int64, np.int64, np.int64]
    else:
        cmp = BETTER[op]
        nan = "(isnan(v) && !isnan(best)) || " if is_float(dt) else ""
        subs.update(BETTER=f"{nan}v {cmp} best")
        head = [None, None, np.int64, np.int64, np.int64]
    return template(family).substitute(subs), family, head + [None] * len(params)


# NOTE [ Split K ]
# A GEMM whose output has few tiles but a long K (a weight gradient: 512x4096 @ 4096x784 is 52 work-groups of
# 128x64) leaves most of a GPU idle, and each work-group walks all of K alone. Cutting K into S equal chunks and
# running chunk j as batch j of the same kernel gives S times the work-groups; one elementwise kernel then adds the S
# partial products into the output (an elementwise add runs at memory speed on a GPU; reduce() over a leading axis
# of S costs ~0.7 ns per output on an H100). S doubles while the device has fewer work-groups than compute units,
# S divides K, each chunk keeps at least MIN_SPLIT_K of it and S stays at most MAX_SPLIT_K (the add's inputs).
# Only the local-memory (GPU) path splits: on a CPU device the work-items are the tiles, and two compute units are
# filled by any real GEMM.
MIN_SPLIT_K = 256
MAX_SPLIT_K = 16


def k_split(groups: int, compute_units: int, K: int) -> int:
    """Into how many chunks of K a GEMM of `groups` work-groups splits (NOTE [ Split K ])."""
    s = 1
    while groups * s < compute_units and s < MAX_SPLIT_K and K % (2 * s) == 0 and K // (2 * s) >= MIN_SPLIT_K:
        s *= 2
    return s


def _matmul_source(dt: str, unit: tuple) -> tuple:
    defines = [f"#define {name} {'1' if u else name.lower()}" for name, u in zip(("SA_M", "SA_K", "SB_K", "SB_N"), unit)]
    defines += [f"#define A_K_FAST {int(unit[1])}", f"#define B_K_FAST {int(unit[2] and not unit[3])}",
                f"#define SC_N_UNIT {int(unit[4])}"]
    mac = "fma(av[i], bv[j], acc[i][j])" if is_float(dt) else "acc[i][j] + av[i] * bv[j]"
    src = template("matmul").substitute(PREAMBLE=preamble({dt}) + "\n" + "\n".join(defines), T=CTYPE[dt],
                                        ACC_T=COMPUTE[dt], MAC=mac, TN=TILES["tiled"]["TN"],
                                        VT=f"{COMPUTE[dt]}{TILES['tiled']['TN']}")
    return src, "matmul", [None] * 4


def _indexed_source(family: str, dt: str, nd: int, names: list[str], mode: str = "") -> tuple:
    params = [index_params("")]
    update = {"set": "v", "add": "*dst | v" if dt == "bool" else f"({CTYPE[dt]})(*dst + v)"}.get(mode, "")
    src = template(family).substitute(PREAMBLE=preamble({dt}), T=CTYPE[dt], PARAMS=", ".join(params),
                                      INDEX=index_code("", nd, names, ["s"] * len(names), "gid"), UPDATE=update)
    head = [None, None, None, np.int64, np.int64] + [np.int64] * (4 if family == "scatter" else 1)   # ..., n_ax
    return src, family, head + [None] * len(params)


def _nonzero_source(which: str, dt: str, nd: int) -> tuple:
    params = [index_params("")]
    write = " ".join(f"out[at * {nd} + {k}] = c{k};" for k in range(nd))
    src = template("nonzero").substitute(PREAMBLE=preamble({dt}), T=CTYPE[dt], PARAMS=", ".join(params),
                                         INDEX=index_code("", nd, ["x"], ["s"], "i"), WRITE=write)
    head = [None, None, np.int64, np.int64] if which == "count" else [None, None, None, np.int64, np.int64]
    return src, f"nonzero_{which}", head + [None] * len(params)


def _philox_source(op: str, dt: str, nd: int, cls: str) -> tuple:
    ct = "double" if dt == "float64" else "float"
    params = [index_params("o")]
    src = template("philox").substitute(
        PREAMBLE=preamble({dt}), OUT_T=CTYPE[dt], CT=ct, PARAMS=", ".join(params),
        TWO_PI="6.283185307179586" if ct == "double" else "6.283185307179586f",
        INDEX=index_code("o", nd, ["out"], [cls], "j"))
    return src, "philox", [None, np.int64, np.uint64, np.uint32, np.uint32, None, None] + [None] * len(params)
