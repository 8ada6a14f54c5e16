"""distgrad.utils: data loading (distgrad.utils.data)."""
from . import data

__all__ = ["data"]
