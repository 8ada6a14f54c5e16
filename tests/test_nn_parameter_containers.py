"""nn.ParameterList and nn.ParameterDict (reprs and messages are PyTorch 2.13 literals)."""
from collections import OrderedDict

import pytest

import distgrad as dg
from distgrad import nn


def test_parameter_list_registers_tensors_as_parameters_named_by_position():
    pl = nn.ParameterList([nn.Parameter(dg.zeros(2, 3)), dg.ones(4)])
    pl.append(dg.zeros(2, dtype=dg.float64)).append("hi")
    assert len(pl) == 4 and isinstance(pl[1], nn.Parameter) and pl[1].requires_grad and pl[-1] == "hi"
    assert list(pl.state_dict()) == ["0", "1", "2"] and [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
    assert repr(pl) == ("ParameterList(\n"
                        "    (0): Parameter containing: [torch.float32 of size 2x3]\n"
                        "    (1): Parameter containing: [torch.float32 of size 4]\n"
                        "    (2): Parameter containing: [torch.float64 of size 2]\n"
                        "    (3): Object of type: str\n"
                        ")")
    assert repr(nn.ParameterList()) == "ParameterList()"
    head = pl[0:2]
    assert type(head) is nn.ParameterList and len(head) == 2 and head[1] is pl[1] and len(pl[::2]) == 2
    pl[0] = dg.ones(1)
    assert isinstance(pl[0], nn.Parameter) and pl[0].tolist() == [1.0]
    assert [type(p).__name__ for p in pl] == ["Parameter", "Parameter", "Parameter", "str"]
    assert "0" not in dir(pl)


def test_parameter_list_errors():
    pl = nn.ParameterList([dg.zeros(1)])
    with pytest.raises(IndexError, match="^index 7 is out of range$"):
        pl[7]
    with pytest.raises(TypeError, match="^ParameterList.extend should be called with an iterable, but got Tensor$"):
        pl.extend(dg.zeros(2))
    with pytest.raises(RuntimeError, match="^ParameterList should not be called.$"):
        pl(1)


class _Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.ps = nn.ParameterList([dg.zeros(1), dg.zeros(2)])
        self.pd = nn.ParameterDict({"b": dg.zeros(1), "a": dg.ones(2)})      # a plain dict: sorted keys


def test_parameter_containers_nest_in_a_model(device):
    m = _Model()
    assert list(m.state_dict()) == ["ps.0", "ps.1", "pd.a", "pd.b"]
    assert repr(m) == ("_Model(\n"
                       "  (ps): ParameterList(\n"
                       "      (0): Parameter containing: [torch.float32 of size 1]\n"
                       "      (1): Parameter containing: [torch.float32 of size 2]\n"
                       "  )\n"
                       "  (pd): ParameterDict(\n"
                       "      (a): Parameter containing: [torch.FloatTensor of size 2]\n"
                       "      (b): Parameter containing: [torch.FloatTensor of size 1]\n"
                       "  )\n"
                       ")")
    m.to(device)
    assert m.ps[1].device == dg.device(device) and m.pd["a"].device == dg.device(device)
    opt = dg.optim.SGD(m.parameters(), lr=0.5)
    (m.ps[1].sum() + m.pd["a"].sum() * 2).backward()
    opt.step()
    assert m.ps[1].tolist() == [-0.5, -0.5] and m.pd["a"].tolist() == [0.0, 0.0]
    if device != "cpu":               # as PyTorch prints cuda parameters: the device follows the size
        assert repr(m.pd).splitlines()[1] == f"    (a): Parameter containing: [torch.opencl.FloatTensor of size 2 ({device})]"
        assert repr(m.ps).splitlines()[1] == f"    (0): Parameter containing: [torch.float32 of size 1 ({device})]"


def test_parameter_dict_behaves_like_an_ordered_dict():
    pd = nn.ParameterDict(OrderedDict([("w", dg.zeros(2, 2)), ("b", nn.Parameter(dg.zeros(3), requires_grad=False))]))
    pd["x"] = 3
    assert repr(pd) == ("ParameterDict(\n"
                        "    (w): Parameter containing: [torch.FloatTensor of size 2x2]\n"
                        "    (b): Parameter containing: [torch.FloatTensor of size 3]\n"
                        "    (x): Object of type: int\n"
                        ")")
    assert list(pd.keys()) == ["w", "b", "x"] and "w" in pd and len(pd) == 3 and pd.get("zz", 5) == 5
    assert not pd["b"].requires_grad and list(pd.state_dict()) == ["w", "b"]
    assert pd.pop("x") == 3 and list(pd) == ["w", "b"]
    assert pd.popitem()[0] == "b" and list(pd) == ["w"] and list(pd.state_dict()) == ["w"]
    assert list(nn.ParameterDict({"z": dg.zeros(1)}) | pd) == ["z", "w"]
    assert list(pd.fromkeys(["p", "q"], dg.zeros(1))) == ["p", "q"]
    assert list(reversed(nn.ParameterDict({"a": dg.zeros(1), "b": dg.zeros(1)}))) == ["b", "a"]
    assert pd.setdefault("n", dg.ones(1)).requires_grad and list(pd.copy()) == ["w", "n"]
    assert [k for k, _ in pd.items()] == ["w", "n"] and all(isinstance(v, nn.Parameter) for v in pd.values())
    pd |= {"m": dg.zeros(1)}
    assert list(pd) == ["w", "n", "m"]
    pd.clear()
    assert len(pd) == 0 and repr(pd) == "ParameterDict()" and list(pd.parameters()) == []


def test_parameter_dict_errors():
    pd = nn.ParameterDict()
    with pytest.raises(TypeError, match=r"^Index given to ParameterDict cannot be used as a key as it is not a string "
                       r"\(type is 'int'\). Open an issue on github if you need non-string keys.$"):
        pd[1]
    with pytest.raises(TypeError, match="^ParametersDict.update should be called with an iterable of key/value pairs, "
                       "but got int$"):
        pd.update(3)
    with pytest.raises(ValueError, match="^ParameterDict update sequence element #0 has length 1; 2 is required$"):
        pd.update([("a",)])
    with pytest.raises(TypeError, match="^ParameterDict update sequence element #0 should be Iterable; isint$"):
        pd.update([3])
    with pytest.raises(RuntimeError, match="^ParameterDict should not be called.$"):
        pd(1)
    with pytest.raises(AttributeError, match="^'ParameterDict' object has no attribute 'missing'$"):
        pd["missing"]
