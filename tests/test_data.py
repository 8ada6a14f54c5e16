"""distgrad.utils.data in one process: datasets, samplers, collation, DataLoader arguments and the seed example."""
import collections
import re
import subprocess
import sys
import textwrap
from itertools import chain

import numpy as np
import pytest

import distgrad
from distgrad.utils.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    DistributedSampler,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    StackDataset,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)
from distgrad.utils.data.worker import ExceptionWrapper, seed_worker


def gen(seed: int) -> distgrad.Generator:
    g = distgrad.Generator()
    g.manual_seed(seed)
    return g


class Squares(Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __getitem__(self, i: int) -> int:
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i * i

    def __len__(self) -> int:
        return self.n


class Counter(IterableDataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self) -> int:
        return self.n


# --- datasets ---

def test_tensor_dataset_indexes_every_tensor_along_dim_0():
    x, y = distgrad.from_numpy(np.arange(6.0).reshape(3, 2)), distgrad.from_numpy(np.array([7, 8, 9]))
    ds = TensorDataset(x, y)
    assert len(ds) == 3
    a, b = ds[1]
    assert a.tolist() == [2.0, 3.0] and b.item() == 8


def test_dataloader_batches_device_tensors_where_they_are(device):
    x = distgrad.arange(10, device=device).float()
    ds = StackDataset(TensorDataset(x, x * 2), x)
    batches = list(DataLoader(ds, batch_size=4))
    assert all(str(t.device) == device for (pair, single) in batches for t in (*pair, single))
    assert [[t.tolist() for t in (*pair, single)] for pair, single in batches] == [
        [[0, 1, 2, 3], [0, 2, 4, 6], [0, 1, 2, 3]], [[4, 5, 6, 7], [8, 10, 12, 14], [4, 5, 6, 7]],
        [[8, 9], [16, 18], [8, 9]]]


def test_tensor_dataset_size_mismatch_raises():
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(distgrad.from_numpy(np.zeros(3)), distgrad.from_numpy(np.zeros(4)))


def test_concat_dataset_indexes_across_parts_and_from_the_end():
    ds = ConcatDataset([Squares(2), Squares(3)])
    assert len(ds) == 5 and ds.cumulative_sizes == [2, 5]
    assert [ds[i] for i in range(5)] == [0, 1, 0, 1, 4]
    assert ds[-1] == 4 and (Squares(2) + Squares(1))[2] == 0
    with pytest.raises(ValueError, match="absolute value of index should not exceed dataset length"):
        ds[-6]


def test_concat_dataset_rejects_empty_and_iterable():
    with pytest.raises(AssertionError, match="datasets should not be an empty iterable"):
        ConcatDataset([])
    with pytest.raises(AssertionError, match="ConcatDataset does not support IterableDataset"):
        ConcatDataset([Counter(3)])


def test_chain_dataset_chains_iterables_and_adds_up_their_lengths():
    chain_ds = Counter(2) + Counter(3)
    assert type(chain_ds) is ChainDataset and list(chain_ds) == [0, 1, 0, 1, 2] and len(chain_ds) == 5
    batches = DataLoader(ChainDataset([Counter(3), Counter(2)]), batch_size=2)
    assert [b.tolist() for b in batches] == [[0, 1], [2, 0], [1]]


def test_chain_dataset_rejects_map_style_parts_when_used():
    chain_ds = ChainDataset([Counter(2), Squares(3)])  # like PyTorch: checked lazily, not in __init__
    with pytest.raises(AssertionError, match="^ChainDataset only supports IterableDataset$"):
        list(chain_ds)
    with pytest.raises(AssertionError, match="^ChainDataset only supports IterableDataset$"):
        len(chain_ds)


class Batched(Squares):
    """Squares with a __getitems__ that answers `short` fewer samples than asked."""

    def __init__(self, n: int, short: int = 0) -> None:
        super().__init__(n)
        self.short = short

    def __getitems__(self, indices: list[int]) -> list[int]:
        return [-self[i] for i in indices[self.short:]]


def test_stack_dataset_tuple_and_dict_forms():
    pairs = StackDataset(Squares(3), Batched(3))
    assert len(pairs) == 3 and pairs[2] == (4, 4) and pairs.__getitems__([1, 2]) == [(1, -1), (4, -4)]
    named = StackDataset(x=Squares(3), y=Batched(3))
    assert named[1] == {"x": 1, "y": 1} and named.__getitems__([2, 0]) == [{"x": 4, "y": -4}, {"x": 0, "y": 0}]
    assert [{k: v.tolist() for k, v in b.items()} for b in DataLoader(named, batch_size=2)] == [
        {"x": [0, 1], "y": [0, -1]}, {"x": [4], "y": [-4]}]


@pytest.mark.parametrize("args, kwargs, match", [
    ((), {}, "^At least one dataset should be passed$"),
    ((Squares(2),), {"y": Squares(2)},
     re.escape("Supported either ``tuple``- (via ``args``) or``dict``- (via ``kwargs``) like input/output, but both "
               "types are given.")),
    ((Squares(2), Squares(3)), {}, "^Size mismatch between datasets$"),
    ((), {"x": Squares(2), "y": Squares(3)}, "^Size mismatch between datasets$"),
])
def test_stack_dataset_bad_arguments_raise(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        StackDataset(*args, **kwargs)


def test_stack_dataset_nested_getitems_of_the_wrong_length_raises():
    for ds in (StackDataset(Squares(3), Batched(3, short=1)), StackDataset(x=Batched(3, short=1))):
        with pytest.raises(ValueError, match="^Nested dataset's output size mismatch. Expected 2, got 1$"):
            ds.__getitems__([0, 1])


def test_subset_maps_indices_and_batches():
    sub = Subset(Squares(10), [9, 2, 5])
    assert len(sub) == 3 and sub[0] == 81 and sub.__getitems__([1, 2]) == [4, 25]
    assert list(DataLoader(sub, batch_size=None)) == [81, 4, 25]


def test_random_split_lengths_are_disjoint_and_reproducible():
    parts = random_split(range(10), [3, 7], generator=gen(42))
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(parts[0].indices + parts[1].indices) == list(range(10))
    assert [p.indices for p in random_split(range(10), [3, 7], generator=gen(42))] == [p.indices for p in parts]


def test_random_split_fractions_spread_the_remainder_round_robin():
    assert [len(p) for p in random_split(range(10), [0.3, 0.3, 0.4], generator=gen(0))] == [3, 3, 4]
    assert [len(p) for p in random_split(range(11), [0.3, 0.3, 0.4], generator=gen(0))] == [4, 3, 4]
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        random_split(range(2), [0.9, 0.1], generator=gen(0))


def test_random_split_bad_lengths_raise():
    with pytest.raises(ValueError, match="Sum of input lengths does not equal the length of the input dataset!"):
        random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="Fraction at index 0 is not between 0 and 1"):
        random_split(range(10), [1.5, -0.5])


# --- samplers ---

def test_sequential_and_batch_sampler():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    assert list(BatchSampler(SequentialSampler(range(10)), 3, False)) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert list(BatchSampler(range(10), 3, True)) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert len(BatchSampler(range(10), 3, False)) == 4 and len(BatchSampler(range(10), 3, True)) == 3


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0, "drop_last": False}, "batch_size should be a positive integer value, but got batch_size=0"),
    ({"batch_size": True, "drop_last": False}, "batch_size should be a positive integer value"),
    ({"batch_size": 2, "drop_last": 1}, "drop_last should be a boolean value, but got drop_last=1"),
])
def test_batch_sampler_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BatchSampler(range(3), **kwargs)


def test_random_sampler_is_a_seeded_permutation():
    order = list(RandomSampler(range(20), generator=gen(3)))
    assert sorted(order) == list(range(20)) and order != list(range(20))
    assert list(RandomSampler(range(20), generator=gen(3))) == order
    distgrad.manual_seed(5)
    first = list(RandomSampler(range(20)))
    distgrad.manual_seed(5)
    assert list(RandomSampler(range(20))) == first


def test_random_sampler_num_samples_and_replacement():
    s = RandomSampler(range(4), num_samples=10, generator=gen(0))
    drawn = list(s)
    assert len(s) == 10 and sorted(drawn[:4]) == sorted(drawn[4:8]) == [0, 1, 2, 3] and len(set(drawn[8:])) == 2
    drawn = list(RandomSampler(range(3), replacement=True, num_samples=70, generator=gen(0)))
    assert len(drawn) == 70 and set(drawn) == {0, 1, 2}


def test_random_sampler_bad_arguments_raise():
    with pytest.raises(TypeError, match="replacement should be a boolean value, but got replacement=1"):
        RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but got num_samples=0"):
        RandomSampler(range(3), num_samples=0)


def test_subset_random_sampler_permutes_the_given_indices():
    drawn = list(SubsetRandomSampler([10, 20, 30, 40], generator=gen(1)))
    assert sorted(drawn) == [10, 20, 30, 40] and len(SubsetRandomSampler([1, 2])) == 2


def test_weighted_random_sampler_follows_the_weights():
    drawn = list(WeightedRandomSampler([0.0, 1.0, 3.0], 4000, generator=gen(0)))
    counts = collections.Counter(drawn)
    assert counts[0] == 0 and 2.5 < counts[2] / counts[1] < 3.5
    drawn = list(WeightedRandomSampler([0.1, 0.0, 5.0, 1.0], 3, replacement=False, generator=gen(0)))
    assert sorted(drawn) == [0, 2, 3]
    assert list(WeightedRandomSampler([1, 2, 3], 5, generator=gen(9))) == list(
        WeightedRandomSampler([1, 2, 3], 5, generator=gen(9)))


def test_weighted_random_sampler_bad_arguments_raise():
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but got num_samples=0"):
        WeightedRandomSampler([1.0], 0)
    with pytest.raises(ValueError, match="replacement should be a boolean value, but got replacement=None"):
        WeightedRandomSampler([1.0], 1, replacement=None)
    with pytest.raises(ValueError, match=r"weights should be a 1d sequence but given weights have shape \(1, 2\)"):
        WeightedRandomSampler([[1.0, 2.0]], 1)
    with pytest.raises(RuntimeError, match="cannot sample n_sample > prob_dist.size"):
        list(WeightedRandomSampler([1.0, 0.0], 3, replacement=False))
    assert sorted(WeightedRandomSampler([1.0, 0.0], 2, replacement=False)) == [0, 1]    # as PyTorch: zeros last
    with pytest.raises(RuntimeError, match="element < 0"):
        list(WeightedRandomSampler([1.0, -1.0], 2))


@pytest.mark.parametrize("n, drop_last, expected", [
    (10, False, [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]),  # padded from the start, as PyTorch
    (10, True, [[0, 3, 6], [1, 4, 7], [2, 5, 8]]),
    (2, False, [[0], [1], [0]]),
])
def test_distributed_sampler_shards_and_pads_like_pytorch(n, drop_last, expected):
    shards = [list(DistributedSampler(range(n), num_replicas=3, rank=r, shuffle=False, drop_last=drop_last))
              for r in range(3)]
    assert shards == expected


def test_distributed_sampler_shuffles_the_same_way_on_every_rank():
    def shards(epoch):
        samplers = [DistributedSampler(range(12), num_replicas=4, rank=r, seed=7) for r in range(4)]
        for s in samplers:
            s.set_epoch(epoch)
        return [list(s) for s in samplers]
    epoch0, epoch1 = shards(0), shards(1)
    assert sorted(chain(*epoch0)) == sorted(chain(*epoch1)) == list(range(12))  # each sample on exactly one rank
    assert epoch0 == shards(0) and epoch0 != epoch1 and len(DistributedSampler(range(12), 4, 0)) == 3


def test_distributed_sampler_reads_rank_from_distgrad_distributed(monkeypatch):
    import distgrad.distributed as dist
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        DistributedSampler(range(4))
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    s = DistributedSampler(range(4), shuffle=False)
    assert (s.num_replicas, s.rank, list(s)) == (2, 1, [1, 3])
    monkeypatch.setattr(dist, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="Requires distributed package to be available"):
        DistributedSampler(range(4))
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"):
        DistributedSampler(range(4), num_replicas=2, rank=2)


# --- collation ---

Point = collections.namedtuple("Point", ["x", "y"])


def test_default_collate_stacks_and_converts():
    batch = default_collate([{"img": np.full((2, 2), i, np.float32), "label": i, "w": 0.5, "name": f"s{i}",
                              "pt": Point(i, np.int16(i)), "pair": (i, [i, -i])} for i in range(3)])
    assert batch["img"].shape == (3, 2, 2) and batch["img"].dtype == distgrad.float32
    assert batch["img"][2].tolist() == [[2.0, 2.0], [2.0, 2.0]]
    assert batch["label"].tolist() == [0, 1, 2] and batch["label"].dtype == distgrad.int64
    assert batch["w"].dtype == distgrad.float64 and batch["name"] == ["s0", "s1", "s2"]
    assert isinstance(batch["pt"], Point) and batch["pt"].y.tolist() == [0, 1, 2]
    assert isinstance(batch["pair"], list) and batch["pair"][1][1].tolist() == [0, -1, -2]


def test_default_collate_stacks_tensors():
    t = default_collate([distgrad.from_numpy(np.arange(3.0)) * k for k in range(4)])
    assert t.shape == (4, 3) and t[3].tolist() == [0.0, 3.0, 6.0]


def test_default_collate_errors():
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors, numpy arrays, numbers, dicts"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        default_collate([np.array(["a"]), np.array(["b"])])


def test_default_convert_converts_numpy_and_keeps_the_rest():
    out = default_convert({"a": np.arange(3), "b": (np.float32(2.5), "s"), "c": Point(np.zeros(1), 1)})
    assert out["a"].tolist() == [0, 1, 2] and out["b"][0].item() == 2.5 and out["b"][1] == "s"
    assert isinstance(out["b"], list) and isinstance(out["c"], Point) and out["c"].y == 1
    strings = np.array(["x"])
    assert default_convert(strings) is strings and default_convert(3) == 3


# --- DataLoader in the main process ---

def test_dataloader_batches_and_len():
    loader = DataLoader(Squares(10), batch_size=4)
    assert [b.tolist() for b in loader] == [[0, 1, 4, 9], [16, 25, 36, 49], [64, 81]] and len(loader) == 3
    loader = DataLoader(Squares(10), batch_size=4, drop_last=True)
    assert len(list(loader)) == len(loader) == 2
    assert list(DataLoader(Squares(3), batch_size=None)) == [0, 1, 4]
    assert len(DataLoader(Counter(10), batch_size=4)) == 3 and len(DataLoader(Counter(10), batch_size=None)) == 10


def test_dataloader_warns_when_an_iterable_dataset_yields_more_than_its_len():
    class Understated(Counter):
        def __len__(self) -> int:
            return self.n - 1

    loader = DataLoader(Understated(3), batch_size=None)
    assert len(loader) == 2
    with pytest.warns(UserWarning, match="was reported to be 2.*but 3 samples have been fetched"):
        assert list(loader) == [0, 1, 2]


def test_dataloader_custom_sampler_batch_sampler_and_collate():
    loader = DataLoader(Squares(6), batch_sampler=[[5, 0], [1]], collate_fn=lambda b: sum(b))
    assert list(loader) == [25, 1]
    assert [b.tolist() for b in DataLoader(Squares(4), sampler=[3, 1], batch_size=2)] == [[9, 1]]


def test_dataloader_iterable_dataset_batches_until_exhausted():
    assert [b.tolist() for b in DataLoader(Counter(5), batch_size=2)] == [[0, 1], [2, 3], [4]]
    assert [b.tolist() for b in DataLoader(Counter(5), batch_size=2, drop_last=True)] == [[0, 1], [2, 3]]


def test_dataloader_shuffle_follows_the_generator():
    orders = [[b.tolist() for b in DataLoader(Squares(8), batch_size=3, shuffle=True, generator=gen(11))]
              for _ in range(2)]
    assert orders[0] == orders[1] and sorted(chain(*orders[0])) == [i * i for i in range(8)]


def test_dataloader_pin_memory_is_accepted_and_changes_nothing():
    assert [b.tolist() for b in DataLoader(Squares(4), batch_size=2, pin_memory=True)] == [[0, 1], [4, 9]]


def test_dataloader_pin_memory_device_is_accepted_and_warns_like_pytorch_when_pinning():
    assert [b.tolist() for b in DataLoader(Squares(4), batch_size=2, pin_memory_device="cuda")] == [[0, 1], [4, 9]]
    with pytest.warns(UserWarning, match="^pin_memory_device is deprecated, the current accelerator will be used as "
                                         "the device,ignore pin_memory_device='cuda'.$"):
        iter(DataLoader(Squares(4), pin_memory=True, pin_memory_device="cuda"))


def test_dataloader_in_order_is_a_no_op_without_workers():
    loader = DataLoader(Squares(5), batch_size=2, in_order=False)
    assert loader.in_order is False and [b.tolist() for b in loader] == [[0, 1], [4, 9], [16]]


@pytest.mark.parametrize("kwargs, error, match", [
    ({"num_workers": -1}, ValueError, "num_workers option should be non-negative"),
    ({"timeout": -1}, ValueError, "timeout option should be non-negative"),
    ({"prefetch_factor": 2}, ValueError, "prefetch_factor option could only be specified in multiprocessing"),
    ({"num_workers": 1, "prefetch_factor": -1}, ValueError, "prefetch_factor option should be non-negative"),
    ({"persistent_workers": True}, ValueError, "persistent_workers option needs num_workers > 0"),
    ({"sampler": [0], "shuffle": True}, ValueError, "sampler option is mutually exclusive with shuffle"),
    ({"batch_sampler": [[0]], "batch_size": 2}, ValueError, "batch_sampler option is mutually exclusive with"),
    ({"batch_size": None, "drop_last": True}, ValueError, "batch_size=None option disables auto-batching"),
    ({"multiprocessing_context": "fork"}, ValueError, "multiprocessing_context can only be used with multi-process"),
    ({"num_workers": 1, "multiprocessing_context": "nope"}, ValueError, "should specify a valid start method in"),
    ({"num_workers": 1, "multiprocessing_context": 3}, TypeError, "should be a valid context object or a string"),
])
def test_dataloader_bad_arguments_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        DataLoader(Squares(4), **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"shuffle": True}, "expected unspecified shuffle option, but got shuffle=True"),
    ({"sampler": [0]}, "expected unspecified sampler option"),
    ({"batch_sampler": [[0]]}, "expected unspecified batch_sampler option"),
])
def test_dataloader_iterable_dataset_rejects_samplers(kwargs, match):
    with pytest.raises(ValueError, match=f"DataLoader with IterableDataset: {match}"):
        DataLoader(Counter(3), **kwargs)


def test_dataloader_iterator_rejects_timeout_without_workers_and_zero_prefetch():
    with pytest.raises(AssertionError, match="_SingleProcessDataLoaderIter requires timeout == 0"):
        iter(DataLoader(Squares(4), timeout=5))
    with pytest.raises(AssertionError, match="prefetch_factor must be greater than 0"):
        iter(DataLoader(Squares(4), num_workers=1, prefetch_factor=0))


def test_dataloader_attributes_are_frozen_after_init():
    loader = DataLoader(Squares(4))
    with pytest.raises(ValueError, match="batch_size attribute should not be set after DataLoader is initialized"):
        loader.batch_size = 2
    loader.num_workers = 1  # not frozen, as in PyTorch


def test_get_worker_info_is_none_in_the_main_process():
    assert get_worker_info() is None


def test_exception_wrapper_falls_back_to_runtime_error_for_types_needing_more_arguments():
    class TwoArgs(Exception):
        def __init__(self, a, b):
            super().__init__(a, b)

    try:
        raise TwoArgs(1, 2)
    except TwoArgs:
        wrapper = ExceptionWrapper("in DataLoader worker process 3")
    with pytest.raises(RuntimeError, match="Caught TwoArgs in DataLoader worker process 3.\nOriginal Traceback"):
        wrapper.reraise()


def test_seed_worker_seeds_every_generator_with_pytorchs_values():
    state = np.random.get_state()
    try:
        assert seed_worker(12345678901234, 3) == 12345678901237
        import random
        assert random.random() == __import__("random").Random(12345678901237).random()
        # PyTorch's _generate_state(12345678901234, 3), taken from torch 2.13.
        expected = np.random.RandomState([2677634501, 810098766, 226270600, 4115140591]).random_sample()
        assert np.random.random_sample() == expected
    finally:
        np.random.set_state(state)


# --- the seed example, as a script ---

SEED_EXAMPLE = textwrap.dedent("""\
    import distgrad as torch
    import distgrad.utils.data as Data
    torch.manual_seed(1)
    BATCH_SIZE = 5

    x = torch.linspace(1,10,10)
    y = torch.linspace(10,1,10)

    torch_dataset = Data.TensorDataset(x,y) #把数据放在数据库中
    loader = Data.DataLoader(
        # 从dataset数据库中每次抽出batch_size个数据
        dataset=torch_dataset,
        batch_size=BATCH_SIZE,
        shuffle=True,#将数据打乱
        num_workers=NUM_WORKERS, #使用两个线程
    )
    def show_batch():
        for epoch in range(3): #对全部数据进行3次训练
            for step,(batch_x,batch_y) in enumerate(loader): # 每一次挑选出来的size个数据
                # training
                # 打印出来，观察数据
                print('Epoch:',epoch,'|Step:',step,'|batch x:',
                      batch_x.numpy(),'|batch y:',batch_y.numpy())

    if __name__ == '__main__':
        show_batch()
    """)


ROW = re.compile(r"Epoch: (\d+) \|Step: (\d+) \|batch x: \[(.*?)\] \|batch y: \[(.*?)\]")


def run_seed_examples(tmp_path, variants: list[str]) -> dict[str, list[tuple[int, int, list[float], list[float]]]]:
    """Run the seed example once per num_workers variant, all at once, and parse what each printed."""
    procs = {}
    for i, variant in enumerate(variants):
        script = tmp_path / f"seed_example_{i}.py"
        script.write_text(SEED_EXAMPLE.replace("NUM_WORKERS", variant), encoding="utf-8")
        procs[variant] = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                                          cwd=tmp_path)
    results = {}
    try:
        for variant, proc in procs.items():
            out = proc.communicate(timeout=60)[0]
            assert proc.returncode == 0, f"num_workers={variant} exited with {proc.returncode}"
            rows = [ROW.fullmatch(line).groups() for line in out.splitlines()]
            results[variant] = [(int(e), int(s), [float(v) for v in x.split()], [float(v) for v in y.split()])
                                for e, s, x, y in rows]
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
    return results


@pytest.mark.slow
def test_seed_example_prints_two_steps_of_five_for_three_epochs_whatever_num_workers(tmp_path):
    spawn = "2, multiprocessing_context='spawn'"
    results = run_seed_examples(tmp_path, ["0", "2", spawn])
    for rows in results.values():
        assert [(e, s) for e, s, _, _ in rows] == [(e, s) for e in range(3) for s in range(2)]
        for epoch in range(3):
            xs = [x for e, _, bx, _ in rows if e == epoch for x in bx]
            assert sorted(xs) == [float(v) for v in range(1, 11)]
        assert all(len(bx) == 5 and [11 - x for x in bx] == by for _, _, bx, by in rows)
    assert results["0"] == results["2"] == results[spawn]


def test_distgrad_utils_imports_data():
    import distgrad.utils
    assert distgrad.utils.data.DataLoader is DataLoader
