"""Smoke runs of the training examples: few epochs, the loss must fall."""
import importlib.util
import pathlib
import sys

import pytest

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
def test_train_digits_learns_and_reloads(device):
    history, accuracy, reloaded = _script("train_digits").main(["--epochs", "2", "--device", device])
    assert history[-1] < history[0] and accuracy > 0.85 and reloaded == accuracy


def test_bench_train_runs(device):
    assert _script("bench_train").main(["--device", device, "--steps", "2"]) > 0
