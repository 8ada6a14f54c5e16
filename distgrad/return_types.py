"""Named result pairs (torch.return_types.max etc.)."""
from __future__ import annotations

from collections import namedtuple


def _pair(name: str) -> type:
    base = namedtuple(name, ["values", "indices"])

    def __repr__(self) -> str:
        return f"torch.return_types.{name}(\nvalues={self.values!r},\nindices={self.indices!r})"
    return type(name, (base,), {"__repr__": __repr__, "__slots__": ()})


max = _pair("max")
min = _pair("min")
sort = _pair("sort")
topk = _pair("topk")
