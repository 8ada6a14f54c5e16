"""The backend boundary holds: core modules do tensor math through prims only, backends never see Tensor."""
import ast
import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Conversion at the boundary: Python data and ndarrays in (creation), text out (printing), files (serialization).
NUMPY_ALLOWED = {"creation.py", "_tensor_str.py", "serialization.py"}
MUST_NOT_IMPORT_NUMPY = {"ops.py", "prims.py", "function.py", "tensor.py", "views.py", "indexing.py", "joining.py",
                         "autograd.py", "random.py", "dtypes.py", "dims.py", "shaping.py", "reductions.py",
                         "linear_algebra.py", "bitwise.py", "inplace.py"}


def _imports(path: pathlib.Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included), resolved to absolute names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(p for p in parts + [base] if p)
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    return names


def _uses(names: set[str], module: str) -> bool:
    return any(n == module or n.startswith(module + ".") for n in names)


def test_imports_parser_sees_nested_and_relative_imports(tmp_path):
    pkg = ROOT / "backends"
    fake = pkg / "_layering_probe_tmp.py"
    try:
        fake.write_text("def f():\n    import numpy as np\n    from ..distgrad import tensor\n")
        names = _imports(fake)
    finally:
        fake.unlink()
    assert _uses(names, "numpy") and "distgrad.tensor" in names


def test_core_has_the_modules_this_test_checks():
    present = {p.name for p in (ROOT / "distgrad").glob("*.py")}
    assert MUST_NOT_IMPORT_NUMPY <= present, MUST_NOT_IMPORT_NUMPY - present


@pytest.mark.parametrize("path", sorted((ROOT / "distgrad").glob("*.py")), ids=lambda p: p.name)
def test_core_imports_numpy_only_at_the_boundary(path):
    if path.name in NUMPY_ALLOWED:
        return
    assert not _uses(_imports(path), "numpy"), f"distgrad/{path.name} imports numpy; do tensor math through prims"


def test_ops_never_imports_numpy():
    assert not _uses(_imports(ROOT / "distgrad" / "ops.py"), "numpy")


@pytest.mark.parametrize("path", sorted((ROOT / "backends").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_backends_never_import_tensor(path):
    names = _imports(path)
    bad = {n for n in names if n.startswith(("distgrad.tensor", "distgrad.function", "distgrad.ops",
                                             "distgrad.autograd", "distgrad.nn", "distgrad.optim"))}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}: backends implement primitives on Views only"


@pytest.mark.parametrize("path", sorted((ROOT / "launcher").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_launcher_imports_no_backend(path):
    names = _imports(path)
    assert not any(_uses(names, m) for m in ("distgrad.backends", "backends", "pyopencl")), path


def _sz():
    spec = importlib.util.spec_from_file_location("sz", ROOT / "scripts" / "sz.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_line_counter_skips_blanks_comments_and_docstrings(tmp_path):
    f = tmp_path / "m.py"
    f.write_text('"""Module doc\non two lines."""\n\n# a comment\nx = 1  # trailing\n\n\ndef f():\n'
                 '    """Doc."""\n    return ("a"\n            "b")\n')
    assert _sz().code_lines(f) == 4   # x = 1, def f(), and the two lines of the return


def test_line_budgets_hold():
    """DESIGN.md §4: a budget is raised only with the feature that paid for it (scripts/sz.py's BUDGETS)."""
    sz = _sz()
    over = [(t, n, b) for t, n, b, _ in sz.budget_usage(sz.counts()) if n > b]
    assert not over, f"over budget (code lines, budget): {over}; see python scripts/sz.py"
