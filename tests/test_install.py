"""A non-editable install into a fresh virtual environment imports distgrad, distgrad.backends and
distgrad.launcher, and puts nothing generic at the top of site-packages."""
import ast
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    tomllib = None

ROOT = pathlib.Path(__file__).resolve().parents[1]
MAPPING = {"distgrad": "distgrad", "distgrad.backends": "backends", "distgrad.launcher": "launcher"}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_directory_is_listed_in_pyproject():
    setup = _pyproject()["tool"]["setuptools"]
    assert setup["package-dir"] == MAPPING
    listed = set(setup["packages"])
    found = set()
    for name, folder in MAPPING.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name,) + rel))
    assert found - listed == set(), f"packages missing from pyproject.toml: {sorted(found - listed)}"
    assert listed - found == set(), f"pyproject.toml lists packages that do not exist: {sorted(listed - found)}"


def _copy_tree(dst: pathlib.Path) -> None:
    """The tracked and untracked-but-not-ignored files (a clean checkout, as CI sees it) copied to dst."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for f in filter(None, files):
        src = ROOT / f
        if src.is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / f)


@pytest.mark.slow
def test_non_editable_install_in_fresh_venv(tmp_path):
    src, venv, outside = tmp_path / "src", tmp_path / "venv", tmp_path / "elsewhere"
    src.mkdir()
    outside.mkdir()
    _copy_tree(src)
    # --system-site-packages + --no-deps: numpy (and pip) come from the base interpreter; the build backend comes
    # through pip's configured index, as for any user's `pip install .`
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    r = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "-q", str(src)], capture_output=True, text=True,
                       env=env, cwd=outside, check=False)
    if r.returncode and "No matching distribution found for setuptools" in r.stderr:
        pytest.skip("no package index reachable: pip's isolated build could not fetch setuptools")
    assert r.returncode == 0, r.stdout + r.stderr
    probe = ("import json, sys, distgrad, distgrad.backends, distgrad.launcher, distgrad.backends.cpu\n"
             "import site\n"
             "print(json.dumps({'files': [m.__file__ for m in (distgrad, distgrad.backends, distgrad.launcher)],\n"
             "                  'site': site.getsitepackages()}))")
    r = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, env=env, cwd=outside, check=False)
    assert r.returncode == 0, r.stderr
    info = ast.literal_eval(r.stdout.strip().replace("true", "True").replace("false", "False"))
    venv_site = [pathlib.Path(s) for s in info["site"] if pathlib.Path(s).resolve().is_relative_to(venv.resolve())]
    assert venv_site, info["site"]
    for f in info["files"]:
        assert pathlib.Path(f).resolve().is_relative_to(venv.resolve()), f"{f} was not imported from the fresh venv"
    top = {p.name for p in venv_site[0].iterdir()}
    assert "distgrad" in top
    assert not {"backends", "launcher", "tests", "scripts"} & top, sorted(top)
    r = subprocess.run([str(py), "-c", "import backends"], capture_output=True, text=True, env=env,
                       cwd=outside, check=False)
    assert r.returncode != 0, "a top-level 'backends' module is importable"
    assert (venv_site[0] / "distgrad" / "backends" / "opencl" / "kernels").is_dir() or \
        not (ROOT / "backends" / "opencl" / "kernels").is_dir(), "the OpenCL kernels were not installed"
