"""OpenCL C kernel sources, read by codegen.py (package data, not Python)."""
