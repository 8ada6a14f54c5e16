${PREAMBLE}

// One item per line along the axis, sequential within the line: the same order, so the same rounding, as NumPy.
#define COMBINE(a, b) ${COMBINE}

__kernel void scan(__global ${T}* out, __global const ${T}* x, long M, long R, long sx_ax, long so_ax, ${PARAMS})
{
    const long m = get_global_id(0);
    if (m >= M) return;
    ${KEPT_INDEX}
    ${ACC_T} acc = ${IDENTITY};
    for (long r = 0; r < R; ++r) {
        acc = COMBINE(acc, (${ACC_T})x[o_x + r * sx_ax]);
        out[o_out + r * so_ax] = ${STORE};
    }
}
