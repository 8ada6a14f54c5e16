"""PyTorch's named result tuples (`torch.return_types.max` and friends), with PyTorch's repr."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Self


class _ReturnType(tuple):
    """A fixed-length tuple with named fields that prints as `torch.return_types.<name>(...)`, one field a line."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()
    n_fields = n_sequence_fields = 0

    def __new__(cls, sequence: Iterable) -> Self:
        items = tuple(sequence)
        if len(items) != len(cls._fields):
            raise TypeError(f"torch.return_types.{cls.__name__}() takes a {len(cls._fields)}-sequence "
                            f"({len(items)}-sequence given)")
        return super().__new__(cls, items)

    def __repr__(self) -> str:
        fields = ",\n".join(f"{name}={value!r}" for name, value in zip(self._fields, self))
        return f"torch.return_types.{type(self).__name__}(\n{fields})"

    def __reduce__(self) -> tuple:
        return type(self), (tuple(self),)


def _return_type(name: str, *fields: str) -> type[_ReturnType]:
    namespace = {"__slots__": (), "_fields": fields, "n_fields": len(fields), "n_sequence_fields": len(fields),
                 "__module__": __name__, "__qualname__": name}
    namespace.update({f: property(lambda self, i=i: self[i], doc=f"Field {i} of the result.")
                      for i, f in enumerate(fields)})
    return type(name, (_ReturnType,), namespace)


aminmax = _return_type("aminmax", "min", "max")
cummax = _return_type("cummax", "values", "indices")
cummin = _return_type("cummin", "values", "indices")
frexp = _return_type("frexp", "mantissa", "exponent")
histogram = _return_type("histogram", "hist", "bin_edges")
kthvalue = _return_type("kthvalue", "values", "indices")
max = _return_type("max", "values", "indices")
median = _return_type("median", "values", "indices")
min = _return_type("min", "values", "indices")
mode = _return_type("mode", "values", "indices")
nanmedian = _return_type("nanmedian", "values", "indices")
qr = _return_type("qr", "Q", "R")
slogdet = _return_type("slogdet", "sign", "logabsdet")
sort = _return_type("sort", "values", "indices")
svd = _return_type("svd", "U", "S", "V")
topk = _return_type("topk", "values", "indices")

__all__ = ["aminmax", "cummax", "cummin", "frexp", "histogram", "kthvalue", "max", "median", "min", "mode",
           "nanmedian", "qr", "slogdet", "sort", "svd", "topk"]
