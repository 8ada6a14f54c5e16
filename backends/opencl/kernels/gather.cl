${PREAMBLE}

// out[i][j][k] = x[i][index[i][j][k]][k] for axis 1: x's stride along the axis is zeroed in the index arithmetic
// and applied to the index value instead.
__kernel void gather(__global ${T}* out, __global const ${T}* x, __global const long* index, long numel, long sx_ax,
                     ${PARAMS})
{
    const long gid = get_global_id(0);
    if (gid >= numel) return;
    ${INDEX}
    out[o_out] = x[o_x + index[o_idx] * sx_ax];
}
