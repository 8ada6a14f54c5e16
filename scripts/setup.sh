#!/usr/bin/env bash
# Set up distgrad on Debian/Ubuntu: the OpenCL runtime (PoCL, and oclgrind for the memory-checking test subset),
# a virtual environment in .venv, and an editable install with the test extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
missing=""
for pkg in pocl-opencl-icd oclgrind ocl-icd-libopencl1 python3-venv; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
