${PREAMBLE}

// One element of an expression over strided inputs (NOTE [ Strided launches ]); unary, binary, where, copy, fill
// and fused() are all instances of this kernel. Its two forms, flat and rows, differ in START (NOTE [ Elementwise
// forms ] in backend.py).
__kernel void elementwise(__global ${OUT_T}* out, ${PARAMS})
{
    ${START}
    ${INDEX}
    ${LOADS}
    out[o_out] = ${VALUE};
}
