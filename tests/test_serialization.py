"""distgrad.save/load (msgpack + raw bytes, no pickle) and safetensors interop."""
import os
from collections import OrderedDict

import numpy as np
import pytest
import safetensors.numpy

import distgrad as dg
from distgrad import nn, optim
from distgrad.serialization import add_safe_globals
from distgrad.utils import safetensors as st


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.bn = nn.BatchNorm1d(2)
        self.tied = self.fc.weight         # tied weights load as one Parameter
        self.note = ("a", 1, 2.5, None)

    def forward(self, x):
        return self.bn(self.fc(x))


class Opaque:
    def __init__(self):
        self.x = 3


def test_round_trip_of_nested_objects(tmp_path, device):
    t = dg.arange(6.0, device=device).reshape(2, 3)
    obj = {"t": t, "view": t[:, 1], "same": t, "ints": dg.tensor([1, 2], dtype=dg.int16), "flag": dg.tensor([True]),
           "half": dg.ones(2, dtype=dg.float16), "nested": [1, (2.5, "x"), {3: None}], "od": OrderedDict(b=1, a=2),
           "dtype": dg.float64, "size": dg.Size([2, 3]), "bytes": b"\x00\x01"}
    path = tmp_path / "obj.pt"
    dg.save(obj, path)
    back = dg.load(path)
    assert back["t"].device == t.device and back["t"].tolist() == t.tolist()
    assert back["same"] is back["t"] and back["view"].tolist() == [1.0, 4.0]
    assert back["ints"].dtype == dg.int16 and back["flag"].dtype == dg.bool and back["half"].dtype == dg.float16
    assert back["nested"] == [1, (2.5, "x"), {3: None}] and isinstance(back["od"], OrderedDict)
    assert list(back["od"]) == ["b", "a"] and back["dtype"] is dg.float64 and back["size"] == (2, 3)
    assert back["bytes"] == b"\x00\x01" and dg.load(path, map_location="cpu")["t"].device.type == "cpu"


def test_map_location_forms_as_pytorch(tmp_path, device):
    t = dg.arange(6.0, device=device).reshape(2, 3)
    path, saved = tmp_path / "m.pt", str(t.device)
    dg.save({"a": t, "b": t, "c": dg.ones(2, dtype=dg.int16, device=device)}, path)
    calls = []

    def keep(storage, location):
        calls.append((storage.device.type, location, storage.dtype, tuple(storage.shape)))
        return storage
    back = dg.load(path, map_location=keep)
    # once per stored tensor (the tied one once), loaded on the cpu, with its saved device string, as PyTorch
    assert calls == [("cpu", saved, dg.float32, (2, 3)), ("cpu", saved, dg.int16, (2,))]
    assert back["a"] is back["b"] and back["a"].device.type == "cpu" and back["a"].tolist() == t.tolist()
    assert dg.load(path, map_location=lambda storage, loc: None)["a"].device == t.device
    assert dg.load(path, map_location=lambda storage, loc: storage.to(device))["c"].device == t.device
    assert dg.load(path, map_location={saved: "cpu"})["a"].device.type == "cpu"
    assert dg.load(path, map_location={"elsewhere": "cpu"})["a"].device == t.device
    assert dg.load(path, map_location=dg.device("cpu"))["c"].tolist() == [1, 1]


def test_map_location_errors_are_the_callers_not_corruption(tmp_path):
    path = tmp_path / "m.pt"
    dg.save({"a": dg.ones(2)}, path)

    def refuse(storage, location):
        raise ValueError("mine")
    with pytest.raises(ValueError, match="^mine$"):
        dg.load(path, map_location=refuse)
    with pytest.raises(TypeError, match="'int' object is not callable"):      # PyTorch's error too
        dg.load(path, map_location=5)
    with pytest.raises(TypeError, match="map_location function must return a tensor or None, but returned int"):
        dg.load(path, map_location=lambda storage, loc: 3)
    with pytest.raises(RuntimeError, match="device type at start of device string: nonsense"):
        dg.load(path, map_location="nonsense")


def test_whole_model_save_and_load(tmp_path):
    model = Tiny().eval()
    dg.save(model, tmp_path / "model.pth")
    loaded = dg.load(tmp_path / "model.pth")
    assert type(loaded) is Tiny and repr(loaded) == repr(model) and not loaded.training
    assert loaded.tied is loaded.fc.weight and isinstance(loaded.fc.weight, nn.Parameter)
    x = dg.randn(4, 3)
    np.testing.assert_array_equal(loaded(x).detach().numpy(), model(x).detach().numpy())
    with pytest.raises(RuntimeError, match="weights_only=True refuses"):
        dg.load(tmp_path / "model.pth", weights_only=True)


def test_non_module_objects_need_the_allow_list(tmp_path):
    path = tmp_path / "o.pt"
    dg.save({"o": Opaque()}, path)
    with pytest.raises(RuntimeError, match=r"o.pt: .*Opaque, which is not an nn.Module and not allowed"):
        dg.load(path)
    add_safe_globals([Opaque])
    assert dg.load(path)["o"].x == 3
    with pytest.raises(TypeError, match="cannot store an object of type builtins.function"):
        dg.save({"f": lambda: 0}, path)


def test_optimizer_state_round_trip(tmp_path):
    model = Tiny()
    opt = optim.AdamW(model.parameters(), lr=0.01)
    model(dg.randn(4, 3)).sum().backward()
    opt.step()
    dg.save({"model": model.state_dict(), "opt": opt.state_dict()}, tmp_path / "ckpt.pt")
    ckpt = dg.load(tmp_path / "ckpt.pt")
    opt2 = optim.AdamW(Tiny().parameters(), lr=0.5)
    opt2.load_state_dict(ckpt["opt"])
    assert opt2.param_groups[0]["lr"] == 0.01 and opt2.param_groups[0]["betas"] == (0.9, 0.999)
    assert ckpt["opt"]["state"][0]["step"].item() == 1.0


def test_damaged_and_foreign_files_raise_naming_the_file(tmp_path):
    path = tmp_path / "good.pt"
    dg.save({"w": dg.ones(100)}, path)
    raw = path.read_bytes()
    cases = {"cut.pt": (raw[:-10], "truncated checkpoint"), "head.pt": (raw[:20], "truncated checkpoint"),
             "flip.pt": (raw[:-5] + b"\xff" + raw[-4:], "checksum mismatch"),
             "torch.pt": (b"PK\x03\x04" + raw, "looks like a PyTorch"), "text.pt": (b"hello", "not a distgrad")}
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(RuntimeError, match=f"{name}: .*{message}"):
            dg.load(tmp_path / name)


def test_failed_save_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "ckpt.pt"
    dg.save({"w": dg.ones(2)}, path)
    with pytest.raises(TypeError):
        dg.save({"w": dg.zeros(2), "bad": object()}, path)
    assert dg.load(path)["w"].tolist() == [1.0, 1.0]
    assert os.listdir(tmp_path) == ["ckpt.pt"]


def test_safetensors_interop_with_the_reference_package(tmp_path):
    model = Tiny()
    path = tmp_path / "w.safetensors"
    st.save_file(model.state_dict(), path, metadata={"format": "pt"})
    arrays = safetensors.numpy.load_file(str(path))
    assert sorted(arrays) == sorted(model.state_dict())
    np.testing.assert_array_equal(arrays["fc.weight"], model.fc.weight.detach().numpy())
    assert arrays["bn.num_batches_tracked"].dtype == np.int64
    safetensors.numpy.save_file({"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 0], bool)},
                                str(tmp_path / "ref.safetensors"))
    back = st.load_file(tmp_path / "ref.safetensors")
    assert back["a"].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]] and back["b"].dtype == dg.bool
    model2 = Tiny()
    model2.load_state_dict(st.load_file(path))
    assert model2.fc.bias.tolist() == model.fc.bias.tolist()
