"""The seed tutorials (shared/seeds/) as scripts: each scripts/seeds/*.py must print what its .expected file shows.

An .expected file is the script's stdout, taken from the tutorial and, where the tutorial leaves it implicit, from
PyTorch 2.13 running the same script with `import torch`. Everything is compared exactly, except placeholders that
stand for what changes from run to run or from PyTorch to distgrad:

    {float}   a number as PyTorch or Python prints it (1.5000, -2., 5.1200e+01, 2e-05, nan), with any left padding
    {int}     an integer, with any left padding
    {bool}    True or False, with any left padding
    {hex}     a memory address such as 0x7fd3bac85a90
    {device}  nothing, or a `, device='cuda:0'` suffix (a cell that runs on the GPU when there is one)
    {wrap}    the space, or the newline and indent, before a suffix such as requires_grad=True (the line length, and
              so PyTorch's wrapping, depends on the random values)
    {...}     anything up to the end of the line
"""
import difflib
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = sorted((Path(__file__).parent.parent / "scripts" / "seeds").glob("*.py"))
PLACEHOLDERS = {
    "{float}": r" *-?(?:\d+\.\d*(?:e[+-]\d+)?|\d+e[+-]\d+|nan|inf)",
    "{int}": r" *-?\d+",
    "{bool}": r" *(?:True|False)",
    "{hex}": r"0x[0-9a-fA-F]+",
    "{device}": r"(?:, device='[a-z]+:\d+')?",
    "{wrap}": r"(?: |\n +)",
    "{...}": r"[^\n]*",
}
PENDING = {  # script: what it needs that is not on main yet; strict, so the marker goes as soon as the feature lands
}


def template_regex(template: str) -> re.Pattern:
    """The regex an .expected text stands for: literal text, with each placeholder replaced by its pattern."""
    names = "|".join(re.escape(p) for p in PLACEHOLDERS)
    parts = re.split(f"({names})", template)
    return re.compile("".join(PLACEHOLDERS[p] if p in PLACEHOLDERS else re.escape(p) for p in parts))


@pytest.mark.parametrize("text, template", [
    ("tensor([[ 0.4722, -0.4380],\n        [-1.0941,  0.6054]])",
     "tensor([[{float}, {float}],\n        [{float}, {float}]])"),
    ("tensor([5.1200e+01, nan, 2.])", "tensor([{float}, {float}, {float}])"),
    ("epoch: 98, loss: 6e-05", "epoch: 98, loss: {float}"),
    ("tensor([[ True, False]], dtype=torch.int32)", "tensor([[{bool}, {bool}]], dtype=torch.int32)"),
    ("<SumBackward0 object at 0x00000240968298D0>", "<SumBackward0 object at {hex}>"),
    ("tensor([[1.]])", "tensor([[{float}]]{device})"),
    ("tensor([[1.]], device='cuda:0')", "tensor([[{float}]]{device})"),
    ("tensor([ 0.1249, -0.2157],\n       requires_grad=True)", "tensor([{float}, {float}],{wrap}requires_grad=True)"),
    ("tensor([0.1249, 0.2157], requires_grad=True)", "tensor([{float}, {float}],{wrap}requires_grad=True)"),
    ("Epoch: 0 |batch x: [ 5.  7. 10.]", "Epoch: 0 |batch x: {...}"),
])
def test_template_matches(text, template):
    assert template_regex(template).fullmatch(text)


@pytest.mark.parametrize("text, template", [
    ("tensor([1.5000, 2.5000])", "tensor([{float}])"),                          # one element too many
    ("tensor([1.5000, 2.5000], dtype=torch.float64)", "tensor([{float}, {float}])"),   # suffixes are literal
    ("tensor([1, 2])", "tensor([{float}, {float}])"),                           # ints are not floats
    ("tensor([[1.]], device='cpu')", "tensor([[{float}]]{device})"),            # PyTorch never prints the cpu
    ("tensor(1.)\nextra line", "tensor({float})\n{...}\n{...}"),                # {...} stays on its line
    ("Tensor([1.])", "tensor([{float}])"),                                      # literal text is case-sensitive
])
def test_template_rejects(text, template):
    assert not template_regex(template).fullmatch(text)


@pytest.mark.parametrize("script", [
    pytest.param(s, id=s.stem, marks=[pytest.mark.xfail(strict=True, reason=PENDING[s.stem])] if s.stem in PENDING else [])
    for s in SCRIPTS
])
def test_seed_script_prints_what_the_tutorial_shows(script, tmp_path):
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert run.returncode == 0, f"{script.name} exited with {run.returncode}:\n{run.stderr[-4000:]}"
    expected = script.with_suffix(".expected").read_text()
    if not template_regex(expected).fullmatch(run.stdout):
        diff = difflib.unified_diff(expected.splitlines(), run.stdout.splitlines(), "expected", "stdout", lineterm="")
        pytest.fail(f"{script.name} printed something else:\n" + "\n".join(diff))
