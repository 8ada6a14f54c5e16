${PREAMBLE}

// NOTE [ Deterministic scatter ]
// One item per line of `index` along the axis (all other coordinates fixed). Two lines never touch the same
// output element, so there are no races and no atomics, and each line applies its updates in index order: 'add'
// sums duplicates in the same order as NumPy's add.at, and 'set' keeps the last write, on every device.
// An index outside [0, n_ax) writes nothing (NOTE [ Deferred index checks ] in backend.py).
__kernel void scatter(__global ${T}* out, __global const ${T}* src, __global const long* index, long lines, long R,
                      long so_ax, long ssrc_ax, long sidx_ax, long n_ax, ${PARAMS})
{
    const long gid = get_global_id(0);
    if (gid >= lines) return;
    ${INDEX}
    for (long j = 0; j < R; ++j) {
        const long i = index[o_idx + j * sidx_ax];
        if (i < 0 || i >= n_ax) continue;
        __global ${T}* dst = out + o_out + i * so_ax;
        const ${T} v = src[o_src + j * ssrc_ax];
        *dst = ${UPDATE};
    }
}
