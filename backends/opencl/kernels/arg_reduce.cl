${PREAMBLE}

// One item per output: the first index of the extreme value along the axis; a NaN wins and stays, as in NumPy.
__kernel void arg_reduce(__global long* out, __global const ${T}* x, long M, long R, long s_ax, ${PARAMS})
{
    const long m = get_global_id(0);
    if (m >= M) return;
    ${KEPT_INDEX}
    ${ACC_T} best = x[o_x];
    long at = 0;
    for (long r = 1; r < R; ++r) {
        const ${ACC_T} v = x[o_x + r * s_ax];
        if (${BETTER}) {
            best = v;
            at = r;
        }
    }
    out[o_out] = at;
}
