"""Smoke runs of the training examples: few epochs, the loss must fall."""
import gzip
import importlib.util
import pathlib
import sys

import numpy as np
import pytest

import distgrad as dg

SCRIPTS = pathlib.Path(__file__).resolve().parent.parent / "scripts"


def _script(name):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module        # whole-model load finds classes among imported modules only
    spec.loader.exec_module(module)
    return module


def test_train_dummy_reaches_seed_loss(device):
    assert _script("train_dummy").main(["--device", device]) < 1e-3


def test_train_lenet_loss_falls(device):
    losses = _script("train_lenet").main(["--steps", "5", "--device", device])
    assert losses[-1] < losses[0]


@pytest.mark.slow
def test_train_digits_reaches_95_percent_and_reloads(device):
    history, accuracy, reloaded = _script("train_digits").main(["--epochs", "4", "--device", device])
    assert history[-1] < history[0] and accuracy >= 0.95 and reloaded == accuracy


def _write_idx(path, array, compress=False):
    """The IDX format: magic 00 00 08 ndim (unsigned bytes), big-endian uint32 sizes, then the bytes."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    with (gzip.open if compress else open)(path, "wb") as f:     # closed here: Python 3.12's GzipFile buffers writes
        f.write(header + array.astype(np.uint8).tobytes())


def _tiny_mnist(folder, rng):
    for prefix, n in (("train", 40), ("t10k", 12)):
        labels = rng.integers(0, 10, n)
        images = np.zeros((n, 28, 28), np.uint8)
        for i, label in enumerate(labels):       # a bright bar whose row is the label: learnable
            images[i, 2 + 2 * label:4 + 2 * label, 4:24] = 255
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images, compress=True)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)


def test_train_digits_reads_mnist_idx_files(tmp_path, capsys):
    _tiny_mnist(tmp_path, np.random.default_rng(0))
    history, accuracy, reloaded = _script("train_digits").main(["--mnist", str(tmp_path), "--epochs", "1"])
    out = capsys.readouterr().out
    assert "in_features=784" in out and "loss:" in out and "[   32/   40]" in out and "Accuracy:" in out
    assert len(history) == 1 and 0 <= accuracy <= 1 and reloaded == accuracy


def test_train_digits_rejects_missing_or_corrupt_idx(tmp_path):
    script = _script("train_digits")
    _tiny_mnist(tmp_path, np.random.default_rng(0))
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        script.load_data(str(tmp_path))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 3]) + b"\0" * 20)
    with pytest.raises(ValueError, match="expected magic 00 00 08 01, got 00 00 08 03"):
        script.load_data(str(tmp_path))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(12))
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 3]) + (40).to_bytes(4, "big")
                                                                        + (28).to_bytes(4, "big") * 2 + b"\0" * 99))
    with pytest.raises(ValueError, match=r"header says shape \[40, 28, 28\], so 31376 bytes, but the file has 115"):
        script.load_data(str(tmp_path))
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="cannot read"):
        script.load_data(str(tmp_path))


def test_bench_train_runs(device):
    assert _script("bench_train").main(["--device", device, "--steps", "2"]) > 0


@pytest.mark.parametrize("model", ["cnn", "lenet"])
def test_bench_train_models_run(model):
    """The --model choices on cpu: their layers' device paths are tested in test_nn*, and a cold OpenCL build of
    every kernel of these models would cost CI about 20 s."""
    assert _script("bench_train").main(["--steps", "2", "--model", model]) > 0


def test_sweep_gemm_checks_each_layout_and_restores_the_tiles(device, capsys):
    if device == "cpu":
        pytest.skip("the sweep times the OpenCL GEMM kernel")
    from distgrad.backends.opencl.backend import TILES
    from distgrad.device import backend_for
    before, path = dict(TILES["local"]), backend_for(dg.device(device)).matmul_path
    _script("sweep_gemm").sweep(device, "local", [33], [{"TK": 8}, {"TM": 4, "TN": 8}])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(f"{layout}33" in line for line in lines for layout in ("NN", "NT", "TN"))
    assert "error" not in "".join(lines) and TILES["local"] == before
    assert backend_for(dg.device(device)).matmul_path == path
