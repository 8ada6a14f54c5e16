${PREAMBLE}

// One element of an expression over strided inputs (NOTE [ Strided launches ]); unary, binary, where, copy, fill
// and fused() are all instances of this kernel.
__kernel void elementwise(__global ${OUT_T}* out, ${PARAMS})
{
    const long gid = get_global_id(0);
    if (gid >= L[0]) return;   // the layout starts with numel
    ${INDEX}
    ${LOADS}
    out[o_out] = ${VALUE};
}
