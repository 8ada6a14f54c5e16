"""DistributedDataParallel: rank 0's weights everywhere, gradients averaged in buckets during backward."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

import distgrad
from distgrad import distributed as dist
from distgrad.distributed.distributed_c10d import _default, _host
from distgrad.distributed.process_group import ReduceOp, Work
from distgrad.nn import Module

FIRST_BUCKET_BYTES = 1 << 20


class Bucket:
    """Parameters whose gradients are all-reduced together, in one flat host buffer."""

    def __init__(self, params: list[Any], dtype: np.dtype) -> None:
        self.params = params
        self.offsets = np.cumsum([0] + [p.numel() for p in params]).tolist()
        self.flat = np.zeros(self.offsets[-1], dtype)
        self.pending: set[int] = set()
        self.work: Work | None = None

    def views(self) -> Iterator[tuple[Any, np.ndarray]]:
        for p, a, b in zip(self.params, self.offsets, self.offsets[1:], strict=False):
            yield p, self.flat[a:b]


# NOTE [ DDP gradient buckets ]
# Parameters are grouped in reverse registration order (roughly the order backward produces their gradients) into
# buckets of at most bucket_cap_mb. A post-accumulate-grad hook on every parameter copies its gradient into its
# bucket; when a bucket holds all its gradients, and every earlier bucket has been launched, the bucket's averaging
# all_reduce starts asynchronously on the communication thread while backward goes on. The hook that completes the last
# bucket waits for all of them and writes the averages back into .grad, so gradients are synchronized when backward
# returns. Every all_reduce carries the tag "ddp step S bucket B", so ranks that disagree fail fast naming the other
# rank. With find_unused_parameters=True, forward walks the output's graph and counts the parameters it does not
# reach as ready (zero gradient). no_sync() skips all of this; join() keeps a rank that ran out of data answering the
# others' collectives with zero gradients (divided by the initial world size, as PyTorch does by default), and at the
# end every rank takes the weights of the rank that trained longest.
class DistributedDataParallel(Module):
    """PyTorch's DistributedDataParallel on the zmq backend (CPU tensors; device_ids is accepted and ignored)."""

    def __init__(self, module: Module, device_ids: list | None = None, output_device: Any = None, dim: int = 0,
                 broadcast_buffers: bool = True, process_group: Any = None, bucket_cap_mb: float = 25,
                 find_unused_parameters: bool = False, gradient_as_bucket_view: bool = False,
                 static_graph: bool = False) -> None:
        super().__init__()
        self.module = module
        self.find_unused_parameters, self.broadcast_buffers = find_unused_parameters, broadcast_buffers
        self.require_backward_grad_sync, self._in_join, self._step, self._trained = True, False, 0, 0
        self._pg = _default()
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self._check_shapes(named)
        self._module_buffers = list(module.buffers()) if broadcast_buffers else []
        self._broadcast(list(module.parameters()) + self._module_buffers)
        self._buckets = self._make_buckets([p for _, p in reversed(named)], bucket_cap_mb * (1 << 20))
        self._bucket_of = {id(p): (i, j) for i, b in enumerate(self._buckets) for j, p in enumerate(b.params)}
        for _, p in named:
            p.register_post_accumulate_grad_hook(self._on_grad)
        self._reset()

    def _check_shapes(self, named: list[tuple[str, Any]]) -> None:
        mine = [(n, tuple(p.shape), str(p.dtype)) for n, p in named]
        everyone: list[Any] = [None] * self._pg.size
        dist.all_gather_object(everyone, mine)
        for rank, theirs in enumerate(everyone):
            if theirs != everyone[0]:
                diff = next(((a, b) for a, b in zip(everyone[0], theirs, strict=False) if a != b),
                            (f"{len(everyone[0])} parameters", f"{len(theirs)} parameters"))
                raise RuntimeError(f"DistributedDataParallel: rank {rank}'s model differs from rank 0's: expected "
                                   f"{diff[0]}, got {diff[1]}; build the same model on every rank")

    @staticmethod
    def _broadcast(tensors: list[Any], src: int = 0) -> None:
        """Broadcast rank src's values of tensors, coalesced per dtype."""
        with distgrad.no_grad():
            for dtype in dict.fromkeys(_host(t)[0].dtype for t in tensors):
                group = [t for t in tensors if _host(t)[0].dtype == dtype]
                flat = np.concatenate([_host(t)[0] for t in group])
                dist.broadcast(flat, src=src)
                offset = 0
                for t in group:
                    n = t.numel()
                    t.copy_(distgrad.from_numpy(flat[offset:offset + n].reshape(tuple(t.shape))))
                    offset += n

    @staticmethod
    def _make_buckets(params: list[Any], cap_bytes: float) -> list[Bucket]:
        """Consecutive same-dtype parameters up to cap_bytes; the first bucket only up to 1 MiB, as PyTorch does,
        so that communication starts early in backward."""
        buckets: list[Bucket] = []
        current: list[Any] = []
        for p in params:
            dtype = _host(p)[0].dtype
            cap = min(cap_bytes, FIRST_BUCKET_BYTES) if not buckets else cap_bytes
            if current and (dtype != _host(current[0])[0].dtype
                            or (sum(q.numel() for q in current) + p.numel()) * dtype.itemsize > cap):
                buckets.append(Bucket(current, _host(current[0])[0].dtype))
                current = []
            current.append(p)
        if current:
            buckets.append(Bucket(current, _host(current[0])[0].dtype))
        return buckets

    def _reset(self) -> None:
        self._next = 0
        for b in self._buckets:
            b.pending, b.work = set(range(len(b.params))), None

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        """Run the wrapped module; mark parameters the output cannot reach when find_unused_parameters is set."""
        if self._in_join:
            self._join_vote(1)
        if self._module_buffers:  # running statistics follow rank 0's, as in PyTorch (broadcast_buffers=True)
            self._broadcast(self._module_buffers)
        if self.require_backward_grad_sync and any(len(b.pending) < len(b.params) for b in self._buckets):
            raise RuntimeError(
                "Expected to have finished reduction in the prior iteration before starting a new one. This error "
                "indicates that your module has parameters that were not used in producing loss. You can enable "
                "unused parameter detection by passing the keyword argument `find_unused_parameters=True` to "
                "`torch.nn.parallel.DistributedDataParallel`")
        out = self.module(*inputs, **kwargs)
        if self.find_unused_parameters and self.require_backward_grad_sync and distgrad.is_grad_enabled():
            reached = _reachable_leaves(out)
            for p in self.module.parameters():
                if id(p) in self._bucket_of and id(p) not in reached:
                    self._mark_ready(p, None)
        return out

    def _on_grad(self, p: Any) -> None:
        if self.require_backward_grad_sync:
            self._mark_ready(p, p.grad)

    def _mark_ready(self, p: Any, grad: Any) -> None:
        i, j = self._bucket_of[id(p)]
        bucket = self._buckets[i]
        if j not in bucket.pending:
            raise RuntimeError(f"DistributedDataParallel: parameter {j} of bucket {i} got a gradient twice in one "
                               f"backward; if the model uses it twice through a reentrant path, or you call "
                               f"backward twice without step(), use no_sync() for the first backward")
        view = bucket.flat[bucket.offsets[j]:bucket.offsets[j + 1]]
        view[...] = 0 if grad is None else _host(grad)[0]
        bucket.pending.discard(j)
        while self._next < len(self._buckets) and not self._buckets[self._next].pending:
            b = self._buckets[self._next]
            b.work = self._all_reduce(self._next, b.flat)
            self._next += 1
        if self._next == len(self._buckets):
            self._finish()

    def _all_reduce(self, index: int, flat: np.ndarray) -> Work:
        return self._pg.submit(self._pg.all_reduce, flat, ReduceOp.AVG, f"ddp step {self._step} bucket {index}")

    def _finish(self) -> None:
        for b in self._buckets:
            b.work.wait()
            for p, avg in b.views():
                if p.grad is None:
                    p.grad = distgrad.from_numpy(avg.reshape(tuple(p.shape)).copy())
                    continue
                grad, write_back = _host(p.grad)  # on cpu: a view of the gradient's own memory
                grad[...] = avg
                if write_back is not None:
                    write_back()
        self._step += 1
        self._trained += 1
        self._reset()

    @contextmanager
    def no_sync(self) -> Iterator[None]:
        """Accumulate gradients locally; the first backward after the block synchronizes the sum."""
        previous, self.require_backward_grad_sync = self.require_backward_grad_sync, False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    @contextmanager
    def join(self, divide_by_initial_world_size: bool = True, enable: bool = True,
             throw_on_early_termination: bool = False) -> Iterator[None]:
        """Let ranks with fewer batches finish: a rank out of data answers the others' collectives with zeros."""
        if not enable:
            yield
            return
        self._in_join = True
        try:
            yield
            while self._join_vote(0) > 0:  # another rank still trains: shadow its buffer broadcast and all-reduces
                if self._module_buffers:
                    self._broadcast(self._module_buffers)
                for i, b in enumerate(self._buckets):
                    b.flat[...] = 0
                    self._all_reduce(i, b.flat).wait()
                self._step += 1
            trained: list[Any] = [None] * self._pg.size
            dist.all_gather_object(trained, self._trained)
            # the last rank to join holds the final weights
            self._broadcast(list(self.module.parameters()) + self._module_buffers, src=trained.index(max(trained)))
        finally:
            self._in_join = False

    def _join_vote(self, active: int) -> int:
        votes = np.array([active], np.int64)
        self._pg.submit(self._pg.all_reduce, votes, ReduceOp.SUM, "ddp join").wait()
        return int(votes[0])


def _reachable_leaves(out: Any) -> set[int]:
    """ids of the leaf tensors that out's autograd graph reaches (through grad_fn.next_functions)."""
    roots = [t.grad_fn for t in (out if isinstance(out, (list, tuple)) else [out]) if getattr(t, "grad_fn", None)]
    seen, leaves, stack = set(), set(), roots
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if hasattr(node, "variable"):
            leaves.add(id(node.variable))
        stack.extend(child for child, _ in node.next_functions)
    return leaves
