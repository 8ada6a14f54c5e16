${PREAMBLE}

// Row m of the output combines R elements. Work-group g of row m takes elements [g * chunk, (g + 1) * chunk),
// each of its WG items a strided share, then a tree in local memory combines the WG partials (WG is 1 on CPU
// devices, where barriers are slow). With several groups per row the caller runs a second pass over the partials.
//
// NOTE [ Reduce forms ]
// A work-item that walks its elements with one accumulator is a chain of dependent loads and combines that no
// compiler may reorder (float addition is not associative): 2-4 GB/s on PoCL. An item that runs alone (WG == 1)
// keeps UNROLL or COLS independent accumulators instead, which the compiler vectorises and pipelines (5-10x on
// PoCL). These forms take one reduced dim (after collapsing), so the caller reduces several (a batch norm's N, H, W)
// one at a time, the one of smallest stride first. The two forms:
// - ROWS (UNROLL lanes): lane j takes elements j, j + UNROLL, ... of the item's chunk; the lanes are combined as a
//   tree at the end. Used when the reduced dim is contiguous or no kept dim is.
// - COLS: the item computes COLS consecutive outputs whose inputs lie side by side in x (the innermost kept dim is
//   contiguous in x, as in a sum over the batch dim), so each step loads COLS adjacent elements.
// Both fix the order of the combines, so a result is the same in every run.
#define COMBINE(a, b) ${COMBINE}

__kernel void reduce(__global ${T}* out, __global const ${T}* x, long R, long chunk, long s_out_g, ${PARAMS})
{
#if COLS > 1
    const long m = get_global_id(0) * COLS, g = get_global_id(1);   // neighbouring items read neighbouring columns
#else
    const long m = get_global_id(1);
    const long g = get_global_id(0) / WG;
#endif
    const int l = (int)(get_global_id(0) % WG);
    ${KEPT_INDEX}
    const long end = min(R, (g + 1) * chunk);
#if COLS > 1
    ${ACC_T} acc[COLS];
    #pragma unroll
    for (int j = 0; j < COLS; ++j) acc[j] = ${IDENTITY};
    for (long r = g * chunk; r < end; ++r) {
        __global const ${T}* p = x + o_x + ${AT_OFFSET};
        #pragma unroll
        for (int j = 0; j < COLS; ++j) acc[j] = COMBINE(acc[j], (${ACC_T})p[j]);
    }
    #pragma unroll
    for (int j = 0; j < COLS; ++j) out[o_out + j * ${OUT_STRIDE} + g * s_out_g] = ${STORE_J};
#else
    ${ACC_T} acc = ${IDENTITY};
    long r = g * chunk + l;
#if UNROLL > 1
    ${ACC_T} lane[UNROLL];
    #pragma unroll
    for (int j = 0; j < UNROLL; ++j) lane[j] = ${IDENTITY};
    for (; r + UNROLL <= end; r += UNROLL) {
        __global const ${T}* p = x + o_x + ${AT_OFFSET};
        #pragma unroll
        for (int j = 0; j < UNROLL; ++j) lane[j] = COMBINE(lane[j], (${ACC_T})p[j * ${AT_STRIDE}]);
    }
    #pragma unroll
    for (int s = UNROLL / 2; s > 0; s >>= 1)
        #pragma unroll
        for (int j = 0; j < s; ++j) lane[j] = COMBINE(lane[j], lane[j + s]);
    acc = lane[0];
#endif
    for (; r < end; r += WG) {
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
#endif
}
