${PREAMBLE}

// One element of an expression over strided inputs (NOTE [ Strided launches ]); unary, binary, where, copy, fill
// and fused() are all instances of this kernel.
__kernel void elementwise(__global ${OUT_T}* out, ${PARAMS})
{
    const long gid = get_global_id(0);
    // The layout starts with numel. Only a work-group that reaches past it tests its items: the test is uniform in the
    // other groups, whose items PoCL then runs as vectors (relu(a*b+c): 27-35 GB/s against 21-23 with a per-item test).
    if ((long)(get_group_id(0) + 1) * (long)get_local_size(0) > L[0] && gid >= L[0]) return;
    ${INDEX}
    ${LOADS}
    out[o_out] = ${VALUE};
}
