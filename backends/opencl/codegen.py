"""OpenCL C generation: dtype names, the op tables, expression trees to C, and strided index arithmetic.

NOTE [ Strided launches ]
Every kernel reads and writes Views through (offset, strides), never through expanded copies. Before a launch the
operands' dims are collapsed jointly (dims k and k+1 merge when every operand has strides[k] == strides[k+1] *
shape[k+1]; size-1 dims drop), so contiguous and plainly broadcast tensors, and single elements, become 1-D.
A kernel is specialised on the collapsed ndim and on the class of each operand's innermost stride (0, 1 or other),
which lets the compiler vectorise the contiguous case; other strides are read at run time, so one compiled kernel
serves every shape of its class.

NOTE [ Layout buffers ]
The shape, offsets and strides of a launch (its layout, index_args) reach the kernel as one small `__constant long`
buffer, not as `long` arguments: a driver copies every argument at each enqueue, and on PoCL each costs about
0.25 us, so a binary op's 12 index arguments cost more than the rest of its launch. The backend keeps one
read-only buffer per distinct layout (OpenCLBackend._layout; an elementwise plan keeps its own per set of offsets),
so a repeated launch passes the buffer it passed before. The pointer is `restrict` (nothing writes a layout), which
lets the compiler hoist its loads out of the loops a CPU driver wraps around the work-items.
"""
from __future__ import annotations

from pathlib import Path
from string import Template

from ..base import BINARY_OPS, COMPARISON_OPS, UNARY_OPS, check_primitive_tables

KERNELS = Path(__file__).with_name("kernels")

CTYPE = {"float16": "half", "float32": "float", "float64": "double", "int8": "char", "int16": "short",
         "int32": "int", "int64": "long", "uint8": "uchar", "bool": "uchar"}
# Arithmetic happens in this type: half is stored as half but computed in float, as NumPy computes float16 ufuncs.
COMPUTE = {**CTYPE, "float16": "float"}
LIMITS = {"float16": ("-INFINITY", "INFINITY"), "float32": ("-INFINITY", "INFINITY"),
          "float64": ("-INFINITY", "INFINITY"), "int8": ("CHAR_MIN", "CHAR_MAX"), "int16": ("SHRT_MIN", "SHRT_MAX"),
          "int32": ("INT_MIN", "INT_MAX"), "int64": ("LONG_MIN", "LONG_MAX"), "uint8": ("0", "UCHAR_MAX"),
          "bool": ("0", "1")}

# {0}, {1}: operands; {T}: the compute type. Integer inputs to float-only functions are computed in float.
UNARY = {"neg": "(-{0})", "exp": "exp({0})", "log": "log({0})", "sqrt": "sqrt({0})", "sin": "sin({0})",
         "cos": "cos({0})", "tanh": "tanh({0})", "abs": "dg_abs_{T}({0})", "floor": "floor({0})",
         "round": "rint({0})", "ceil": "ceil({0})", "sign": "dg_sign_{T}({0})", "log1p": "log1p({0})",
         "expm1": "expm1({0})", "sigmoid": "dg_sigmoid_{T}({0})", "tan": "tan({0})", "erf": "erf({0})",
         "bitwise_not": "(~{0})"}
BINARY = {"add": "({0} + {1})", "sub": "({0} - {1})", "mul": "({0} * {1})", "div": "({0} / {1})",
          "pow": "dg_pow_{T}({0}, {1})", "max": "dg_max_{T}({0}, {1})", "min": "dg_min_{T}({0}, {1})",
          "fmod": "dg_fmod_{T}({0}, {1})", "floordiv": "dg_floordiv_{T}({0}, {1})", "eq": "({0} == {1})",
          "ne": "({0} != {1})", "lt": "({0} < {1})", "le": "({0} <= {1})", "bitwise_and": "({0} & {1})",
          "bitwise_or": "({0} | {1})", "bitwise_xor": "({0} ^ {1})", "lshift": "dg_shl_{T}({0}, {1})",
          "rshift": "dg_shr_{T}({0}, {1})"}
# Integer forms where C's differs from NumPy's (rounding, division by zero, no float functions on integers).
UNARY_INT = {"floor": "{0}", "round": "{0}", "ceil": "{0}"}
BINARY_INT = {"div": "dg_div_{T}({0}, {1})"}
# NumPy's bool arithmetic is logical: add is or, mul is and, invert is not.
BINARY_BOOL = {"add": "({0} | {1})", "mul": "({0} & {1})", "max": "({0} | {1})", "min": "({0} & {1})"}
UNARY_BOOL = {"bitwise_not": "((uchar)!{0})"}
INT_SAFE_UNARY = {"neg", "abs", "sign", "floor", "round", "ceil", "bitwise_not"}
check_primitive_tables(UNARY, BINARY)
assert set(UNARY_INT) | set(UNARY_BOOL) <= set(UNARY_OPS) and set(BINARY_INT) | set(BINARY_BOOL) <= set(BINARY_OPS)


def is_float(dtype_name: str) -> bool:
    return dtype_name.startswith("float")


def template(name: str) -> Template:
    """A kernel template from kernels/<name>.cl (string.Template: ${NAME} placeholders)."""
    return _TEMPLATES.get(name) or _TEMPLATES.setdefault(name, Template((KERNELS / f"{name}.cl").read_text()))


_TEMPLATES: dict[str, Template] = {}


def preamble(dtype_names: set[str]) -> str:
    """Extension pragmas and the dg_* helper functions for every compute type a kernel touches."""
    parts = ["#pragma OPENCL FP_CONTRACT OFF"]  # NumPy rounds a*b before +c; so must we
    if "float64" in dtype_names:
        parts.append("#pragma OPENCL EXTENSION cl_khr_fp64 : enable")
    if "float16" in dtype_names:
        parts.append("#pragma OPENCL EXTENSION cl_khr_fp16 : enable")
    for t in sorted({COMPUTE[d] for d in dtype_names} | {"float"}):
        kind = "float" if t in ("float", "double") else "int"
        parts.append(template(f"helpers_{kind}").substitute(T=t, UNSIGNED="1" if t == "uchar" else "0",
                                                            U=t if t.startswith("u") else "u" + t))
    return "\n".join(parts)


class Expr:
    """An expression tree (NOTE [ Fused expressions ]) rendered to one C expression of compute type."""

    def __init__(self, expr: tuple, input_dtypes: list[str], out_dtype: str | None = None) -> None:
        self.inputs = input_dtypes
        self.consts: list[tuple[str, object]] = []      # (dtype name, value) per kernel argument c0, c1, ...
        self.dtypes: set[str] = set(input_dtypes)
        root = self._type(expr)
        self.dtype = out_dtype or (root if root is not None else input_dtypes[0])
        self.code = self._render(expr, self.dtype)

    def _type(self, e: tuple) -> str | None:
        """The node's dtype; None for a constant, which takes its dtype from where it is used."""
        op = e[0]
        if op == "in":
            return self.inputs[e[1]]
        if op == "const":
            return None
        if op == "cast":
            return e[1]
        if op in COMPARISON_OPS:
            return "bool"
        if op == "where":
            return self._type(e[2]) or self._type(e[3])
        if op in UNARY_OPS:
            return self._type(e[1])
        if op in BINARY_OPS:
            return self._type(e[1]) or self._type(e[2])
        raise ValueError(f"unknown op {op!r} in fused expression")

    def _render(self, e: tuple, want: str) -> str:
        """C code for node e; `want` is the dtype a constant takes here."""
        op = e[0]
        if op == "in":
            return f"(({COMPUTE[self.inputs[e[1]]]})v{e[1]})"
        if op == "const":
            self.consts.append((want, e[1]))
            self.dtypes.add(want)
            return f"cst{len(self.consts) - 1}"
        if op == "cast":
            src = self._type(e[2]) or e[1]
            self.dtypes.add(e[1])
            return cast(self._render(e[2], src), src, e[1])
        if op == "where":
            t = self._type(e) or want
            return (f"({self._render(e[1], self._type(e[1]) or 'bool')} ? {self._render(e[2], t)} : "
                    f"{self._render(e[3], t)})")
        if op in UNARY_OPS:
            t = self._type(e[1]) or want
            a = self._render(e[1], t)
            if is_float(t):
                return UNARY[op].format(a, T=COMPUTE[t])
            if op in UNARY_INT:
                return UNARY_INT[op].format(a)
            if t == "bool" and op in UNARY_BOOL:
                return UNARY_BOOL[op].format(a)
            if op in INT_SAFE_UNARY:
                return f"(({COMPUTE[t]}){UNARY[op].format(a, T=COMPUTE[t])})"
            return f"(({COMPUTE[t]}){UNARY[op].format(f'(float){a}', T='float')})"
        t = self._type(e[1]) or self._type(e[2]) or want
        a, b = self._render(e[1], t), self._render(e[2], t)
        if op in COMPARISON_OPS:
            return f"((uchar){BINARY[op].format(a, b)})"
        if t == "bool" and op in BINARY_BOOL:
            return BINARY_BOOL[op].format(a, b)
        code = (BINARY_INT.get(op) if not is_float(t) else None) or BINARY[op]
        return f"(({COMPUTE[t]}){code.format(a, b, T=COMPUTE[t])})"


def cast(code: str, src: str, dst: str) -> str:
    """Convert a compute-type value of dtype src to the compute type of dst (bool: nonzero test)."""
    if dst == "bool":
        return f"((uchar)({code} != 0))"
    return code if COMPUTE[src] == COMPUTE[dst] else f"(({COMPUTE[dst]}){code})"


def store(code: str, dtype: str) -> str:
    """The C expression that writes compute-type `code` into storage of dtype."""
    return f"(({CTYPE[dtype]}){code})" if CTYPE[dtype] != COMPUTE[dtype] else code


def collapse(shape: tuple[int, ...], strides: list[tuple[int, ...]]) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    """Merge dims jointly over all operands (NOTE [ Strided launches ]); returns the new shape and strides."""
    dims = [k for k, n in enumerate(shape) if n != 1]
    if not dims:   # one element: the contiguous 1-d kernels serve it (no 0-d builds)
        return (1,), [(1,) for _ in strides]
    out_shape = [shape[dims[0]]]
    out_strides = [[s[dims[0]]] for s in strides]
    for k in dims[1:]:
        n = shape[k]
        if all(os_[-1] == s[k] * n for os_, s in zip(out_strides, strides)):
            out_shape[-1] *= n
            for os_, s in zip(out_strides, strides):
                os_[-1] = s[k]
        else:
            out_shape.append(n)
            for os_, s in zip(out_strides, strides):
                os_.append(s[k])
    return tuple(out_shape), [tuple(s) for s in out_strides]


def stride_class(strides: tuple[int, ...]) -> str:
    """'0', '1' or 's': how the innermost stride is specialised ('' for 0-d)."""
    if not strides:
        return ""
    s = strides[-1]
    return "0" if s == 0 else "1" if s == 1 else "s"


def index_params(prefix: str) -> str:
    """The kernel parameter that points at a layout (NOTE [ Layout buffers ]): index_args' numbers."""
    return f"__constant const long *restrict L{prefix}"


def index_code(prefix: str, ndim: int, names: list[str], classes: list[str], linear: str, first: int = 0,
               inner: str | None = None) -> str:
    """C statements that turn the linear index `linear` into element offsets o_<name> (row-major over the shape),
    reading the layout at L<prefix>[first:]: the shape, then (offset, *strides) per operand, as index_args. With
    `inner`, that expression is the innermost coordinate and `linear` numbers the rows (the other dims)."""
    at = iter(range(first, first + ndim + len(names) * (ndim + 1)))
    shape = [f"L{prefix}[{next(at)}]" for _ in range(ndim)]
    offsets, strides = {}, {}
    for name in names:
        offsets[name] = f"L{prefix}[{next(at)}]"
        strides[name] = [f"L{prefix}[{next(at)}]" for _ in range(ndim)]
    lines = [f"long r{prefix} = {linear};"]
    for name in names:
        lines.append(f"long o_{name} = {offsets[name]};")
    for k in reversed(range(ndim)):
        c = f"c{prefix}{k}"
        if k == ndim - 1 and inner is not None:
            lines.append(f"long {c} = {inner};")
        else:
            lines.append(f"long {c} = r{prefix} % {shape[k]}; r{prefix} /= {shape[k]};" if k else f"long {c} = r{prefix};")
        for name, cls in zip(names, classes):
            if k == ndim - 1 and cls == "0":
                continue
            lines.append(f"o_{name} += {c};" if k == ndim - 1 and cls == "1" else f"o_{name} += {c} * {strides[name][k]};")
    return "\n    ".join(lines)


def index_args(shape: tuple[int, ...], operands: list[tuple[int, tuple[int, ...]]]) -> list[int]:
    """A layout, as index_code reads it: the shape, then (offset, *strides) per operand."""
    args = list(shape)
    for off, st in operands:
        args.append(off)
        args += st
    return args
