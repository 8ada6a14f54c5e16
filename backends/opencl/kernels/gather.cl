${PREAMBLE}

// out[i][j][k] = x[i][index[i][j][k]][k] for axis 1: x's stride along the axis is zeroed in the index arithmetic
// and applied to the index value instead.
// An index outside [0, n_ax) reads nothing and gives 0 (NOTE [ Deferred index checks ] in backend.py).
__kernel void gather(__global ${T}* out, __global const ${T}* x, __global const long* index, long numel, long sx_ax,
                     long n_ax, ${PARAMS})
{
    const long gid = get_global_id(0);
    if (gid >= numel) return;
    ${INDEX}
    const long i = index[o_idx];
    out[o_out] = (i >= 0 && i < n_ax) ? x[o_x + i * sx_ax] : (${T})0;
}
