"""distgrad.distributed: torch.distributed's API on a ZeroMQ backend ("zmq"), plus parameter-server training."""
from .distributed_c10d import (
    _get_default_store,
    all_gather,
    all_gather_object,
    all_reduce,
    barrier,
    broadcast,
    broadcast_object_list,
    destroy_process_group,
    get_backend,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_initialized,
    reduce,
    reduce_scatter,
)
from .parameter_server import ParameterServerClient, ParameterServerOptimizer
from .process_group import ReduceOp, Work
from .store import DistBackendError, DistError, DistStoreError, TCPStore

__all__ = [
    "DistBackendError", "DistError", "DistStoreError", "ParameterServerClient", "ParameterServerOptimizer", "ReduceOp",
    "TCPStore", "Work", "_get_default_store",
    "all_gather", "all_gather_object", "all_reduce", "barrier", "broadcast", "broadcast_object_list",
    "destroy_process_group", "get_backend", "get_rank", "get_world_size", "init_process_group", "is_available",
    "is_initialized", "reduce", "reduce_scatter",
]
