"""torch.distributed's functional API on the zmq backend: init_process_group and the collectives."""
from __future__ import annotations

import os
import pickle
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

import numpy as np

import distgrad

from .process_group import ProcessGroup, ReduceOp, Work, to_bytes
from .store import TCPStore, seconds

default_pg_timeout = timedelta(minutes=30)
_group: ProcessGroup | None = None

# NOTE [ Where rank and world size come from ]
# Arguments first, then the first complete set among: the launcher's (and torchrun's) RANK/WORLD_SIZE/LOCAL_RANK,
# Slurm's SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID, Open MPI's OMPI_COMM_WORLD_RANK/SIZE/LOCAL_RANK, and PMI's
# PMI_RANK/PMI_SIZE (MPICH, Intel MPI). The server is MASTER_ADDR:MASTER_PORT (init_method tcp://host:port wins); under
# Slurm without MASTER_ADDR it is the first host of SLURM_JOB_NODELIST, port 29500 + SLURM_JOB_ID % 1000. Without a
# launcher (DISTGRAD_PS_ADDR unset) rank 0 hosts the server in a thread, as TCPStore's is_master does.
ENV_SETS = (("RANK", "WORLD_SIZE", "LOCAL_RANK"), ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"),
            ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),
            ("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"))


def first_host(nodelist: str) -> str:
    """The first host of a Slurm node list: 'gpu[03-05,09],cpu1' -> 'gpu03'."""
    m = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist.strip())
    if m is None:
        raise ValueError(f"cannot parse SLURM_JOB_NODELIST={nodelist!r}; set MASTER_ADDR explicitly")
    prefix, ranges = m.groups()
    return prefix + (re.split(r"[-,]", ranges)[0] if ranges else "")


def resolve(init_method: str | None, rank: int, world_size: int) -> tuple[int, int, str, int]:
    """(rank, world_size, master host, master port) from the arguments and the environment."""
    env = os.environ
    for rank_key, size_key, _ in ENV_SETS:
        if rank_key in env and size_key in env:
            rank = int(env[rank_key]) if rank < 0 else rank
            world_size = int(env[size_key]) if world_size < 0 else world_size
            break
    if rank < 0 or world_size < 1 or rank >= world_size:
        raise ValueError(f"init_process_group: expected 0 <= rank < world_size, got rank={rank}, "
                         f"world_size={world_size}; pass them, or run under distgrad-launch, srun or mpirun")
    init_method = init_method or "env://"
    url = urlparse(init_method)
    if url.scheme == "tcp":
        if url.hostname is None or url.port is None:
            raise ValueError(f"init_method {init_method!r}: expected tcp://host:port")
        return rank, world_size, url.hostname, url.port
    if url.scheme != "env":
        raise ValueError(f"init_method {init_method!r} is not supported by the zmq backend; use env:// or tcp://")
    host = env.get("MASTER_ADDR") or (first_host(env["SLURM_JOB_NODELIST"]) if "SLURM_JOB_NODELIST" in env else None)
    port = env.get("MASTER_PORT") or (str(29500 + int(env["SLURM_JOB_ID"]) % 1000) if "SLURM_JOB_ID" in env else None)
    if host is None or port is None:
        raise ValueError("Error initializing torch.distributed using env:// rendezvous: environment variable "
                         f"{'MASTER_ADDR' if host is None else 'MASTER_PORT'} expected, but not set")
    return rank, world_size, host, int(port)


def init_process_group(backend: str | None = None, init_method: str | None = None,
                       timeout: timedelta | None = None, world_size: int = -1, rank: int = -1,
                       store: TCPStore | None = None, group_name: str = "", pg_options: Any = None,
                       device_id: Any = None) -> None:
    """Join the default process group; with no arguments, read the launcher's, Slurm's or MPI's environment."""
    global _group
    if _group is not None:
        raise ValueError("trying to initialize the default process group twice!")
    if backend not in (None, "zmq", "gloo"):
        raise ValueError(f"backend {backend!r} is not available in distgrad; use 'zmq' (the default; 'gloo' is "
                         f"accepted as an alias so that PyTorch scripts run unchanged)")
    wait = seconds(timeout, float(os.environ.get("DISTGRAD_TIMEOUT", default_pg_timeout.total_seconds())))
    rank, world_size, host, port = resolve(init_method, rank, world_size)
    if store is None:
        hosting = rank == 0 and "DISTGRAD_PS_ADDR" not in os.environ
        store = TCPStore(host, port, world_size, is_master=hosting, timeout=wait)
    _group = ProcessGroup(rank, world_size, store, wait)


def _default() -> ProcessGroup:
    if _group is None:
        raise ValueError("Default process group has not been initialized, please make sure to call "
                         "init_process_group.")
    return _group


def is_available() -> bool:
    """True: the zmq backend is always built in."""
    return True


def is_initialized() -> bool:
    """True between init_process_group and destroy_process_group."""
    return _group is not None


def get_rank(group: Any = None) -> int:
    """This process's rank in the default group."""
    return _default().rank


def get_world_size(group: Any = None) -> int:
    """Number of ranks in the default group."""
    return _default().size


def get_backend(group: Any = None) -> str:
    """The backend name, 'zmq'."""
    _default()
    return "zmq"


def _get_default_store() -> TCPStore:
    return _default().store


def destroy_process_group(group: Any = None) -> None:
    """Leave the group: finish queued collectives, stop heartbeats, close sockets (rank 0 last when it hosts)."""
    global _group
    pg, _group = _default(), None
    pg.close()
    store = pg.store
    if store._thread is not None:  # the host waits (bounded) for the others to leave before stopping the server
        if pg.size > 1:
            try:
                store.request({"op": "wait", "keys": ["distgrad/left"]}, timeout=10.0)
            except RuntimeError:
                pass
    elif store.add("distgrad/leaving", 1) == pg.size - 1:
        store.set("distgrad/left", b"")
    store.close()


# ---- tensors <-> host arrays
def _host(tensor: Any) -> tuple[np.ndarray, Callable[[], None] | None]:
    """A contiguous 1-D host array for tensor (a distgrad tensor or an ndarray) and the function that makes what a
    collective wrote into that array the tensor's value (None when there is nothing to do).

    A distgrad tensor is written through the core's in-place path (copy_), so its version counter moves and a backward
    that saved its old value raises instead of computing a wrong gradient; when the array is the tensor's own memory
    (cpu, contiguous) the collective already wrote it and only the counter moves, as after any in-place op."""
    if isinstance(tensor, np.ndarray):
        if tensor.flags.c_contiguous:
            return tensor.reshape(-1), None
        copy = np.ascontiguousarray(tensor).reshape(-1)

        def copy_back() -> None:
            tensor[...] = copy.reshape(tensor.shape)
        return copy, copy_back
    arr = tensor.detach().cpu().numpy()  # the tensor's own memory on cpu, a copy from any other device
    own = tensor.device.type == "cpu" and arr.flags.c_contiguous
    flat = arr.reshape(-1) if own else np.ascontiguousarray(arr).reshape(-1)

    def finish() -> None:
        if own:
            tensor._view.storage.version += 1
        else:
            with distgrad.no_grad():
                tensor.copy_(distgrad.from_numpy(flat.reshape(arr.shape)))
    return flat, finish


def _run(method: str, tensor: Any, *args: Any, async_op: bool = False, writes: bool = True) -> Work | None:
    """Run a collective that works in place on tensor; writes=False: it leaves this rank's tensor as it was."""
    pg = _default()
    flat, finish = _host(tensor)
    work = pg.submit(getattr(pg, method), flat, *args, finish=finish if writes else None)
    if async_op:
        return work
    work.wait()
    return None


def all_reduce(tensor: Any, op: ReduceOp = ReduceOp.SUM, group: Any = None, async_op: bool = False) -> Work | None:
    """Reduce tensor in place over all ranks; bit-identical on every rank."""
    _check_op(tensor, op)
    return _run("all_reduce", tensor, op, async_op=async_op)


def broadcast(tensor: Any, src: int, group: Any = None, async_op: bool = False) -> Work | None:
    """Copy rank src's tensor into tensor on every rank."""
    _check_rank("src", src)
    return _run("broadcast", tensor, src, async_op=async_op, writes=src != get_rank())


def reduce(tensor: Any, dst: int, op: ReduceOp = ReduceOp.SUM, group: Any = None,
           async_op: bool = False) -> Work | None:
    """Reduce into rank dst's tensor; the other ranks' tensors are unchanged."""
    _check_rank("dst", dst)
    _check_op(tensor, op)
    return _run("reduce", tensor, dst, op, async_op=async_op, writes=dst == get_rank())


def all_gather(tensor_list: list, tensor: Any, group: Any = None, async_op: bool = False) -> Work | None:
    """Fill tensor_list[i] with rank i's tensor."""
    pg = _default()
    if len(tensor_list) != pg.size:
        raise ValueError(f"all_gather: expected a tensor_list of world_size={pg.size} tensors, got {len(tensor_list)}")
    flat, _ = _host(tensor)
    outs = [_host(t) for t in tensor_list]

    def finish() -> None:
        for (out, write_back), part in zip(outs, work._result, strict=True):
            out[...] = part
            if write_back is not None:
                write_back()
    work = pg.submit(pg.all_gather, flat, finish=finish)
    return work if async_op else work.wait() and None


def reduce_scatter(output: Any, input_list: list, op: ReduceOp = ReduceOp.SUM, group: Any = None,
                   async_op: bool = False) -> Work | None:
    """output = reduction over ranks of their input_list[rank]."""
    pg = _default()
    if len(input_list) != pg.size:
        raise ValueError(f"reduce_scatter: expected an input_list of world_size={pg.size} tensors, "
                         f"got {len(input_list)}")
    _check_op(output, op)
    parts = [_host(t)[0].copy() for t in input_list]  # copies: the caller may reuse input_list at once
    flat, finish = _host(output)
    work = pg.submit(pg.reduce_scatter, flat, parts, op, finish=finish)
    return work if async_op else work.wait() and None


def all_gather_object(object_list: list, obj: Any, group: Any = None) -> None:
    """Fill object_list[i] with rank i's picklable obj."""
    pg = _default()
    if len(object_list) != pg.size:
        raise ValueError(f"all_gather_object: expected an object_list of world_size={pg.size}, got {len(object_list)}")
    for i, data in enumerate(pg.submit(pg.all_gather_bytes, to_bytes(obj)).result()):
        object_list[i] = pickle.loads(data)


def broadcast_object_list(object_list: list, src: int = 0, group: Any = None, device: Any = None) -> None:
    """Replace object_list's items, in place, with rank src's."""
    _check_rank("src", src)
    pg = _default()
    data = pg.submit(pg.broadcast_bytes, to_bytes(list(object_list)), src).result()
    object_list[:] = pickle.loads(data)


def barrier(group: Any = None, async_op: bool = False, device_ids: Any = None) -> Work | None:
    """Block until every rank has called barrier."""
    pg = _default()
    work = pg.submit(pg.barrier)
    return work if async_op else work.wait() and None


def _check_rank(name: str, value: int) -> None:
    size = _default().size
    if not 0 <= value < size:
        raise ValueError(f"{name}={value} is not a rank of the group; expected 0 <= {name} < {size}")


def _check_op(tensor: Any, op: ReduceOp) -> None:
    if not isinstance(op, ReduceOp):
        raise TypeError(f"op must be a distgrad.distributed.ReduceOp, got {op!r}")
    dtype = np.dtype(str(tensor.dtype).rsplit(".", 1)[-1])  # numpy's 'float32' and torch-style 'torch.float32'
    if op is ReduceOp.AVG and not np.issubdtype(dtype, np.floating):
        raise ValueError(f"ReduceOp.AVG needs a floating-point tensor, got {dtype}; use SUM and divide")
