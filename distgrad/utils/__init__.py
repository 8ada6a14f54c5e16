"""distgrad.utils: data loading (distgrad.utils.data), loaded with the package; other helpers load on import."""
from . import data

__all__ = ["data"]
