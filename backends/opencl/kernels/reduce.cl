${PREAMBLE}

// Row m of the output combines R elements. Work-group g of row m takes elements [g * chunk, (g + 1) * chunk),
// each of its WG items a strided share, then a tree in local memory combines the WG partials (WG is 1 on CPU
// devices, where barriers are slow). With several groups per row the caller runs a second pass over the partials.
#define COMBINE(a, b) ${COMBINE}

__kernel void reduce(__global ${T}* out, __global const ${T}* x, long R, long chunk, long s_out_g, ${PARAMS})
{
    const long m = get_global_id(1);
    const long g = get_global_id(0) / WG;
    const int l = (int)(get_global_id(0) % WG);
    ${KEPT_INDEX}
    ${ACC_T} acc = ${IDENTITY};
    const long end = min(R, (g + 1) * chunk);
    for (long r = g * chunk + l; r < end; r += WG) {
        ${RED_INDEX}
        acc = COMBINE(acc, (${ACC_T})x[o_x + o_y]);
    }
#if WG > 1
    __local ${ACC_T} part[WG];
    part[l] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = WG / 2; s > 0; s >>= 1) {
        if (l < s) part[l] = COMBINE(part[l], part[l + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    acc = part[0];
#endif
    if (l == 0) out[o_out + g * s_out_g] = ${STORE};
}
