"""distgrad.nn.parallel: DistributedDataParallel (PyTorch's import path)."""
from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
