${PREAMBLE}

// One item per line along the axis: a bottom-up merge sort of indices, ping-ponging between the line in `out`
// (stride so_ax) and the item's own contiguous run of `tmp`. Stable, NaN last, as NumPy's kind="stable";
// descending is the ascending order reversed, as the cpu backend computes it.
#define LESS(a, b) ${LESS}

__kernel void argsort(__global long* out, __global long* tmp, __global const ${T}* x, long M, long R, long sx_ax,
                      long so_ax, int descending, ${PARAMS})
{
    const long m = get_global_id(0);
    if (m >= M) return;
    ${KEPT_INDEX}
    __global long* bufs[2] = {out + o_out, tmp + m * R};
    const long strides[2] = {so_ax, 1};
    for (long i = 0; i < R; ++i) out[o_out + i * so_ax] = i;
    int src = 0;
    for (long width = 1; width < R; width *= 2, src ^= 1) {
        __global long* s = bufs[src];
        __global long* d = bufs[src ^ 1];
        const long ss = strides[src], ds = strides[src ^ 1];
        for (long lo = 0; lo < R; lo += 2 * width) {
            const long mid = min(lo + width, R), hi = min(lo + 2 * width, R);
            long i = lo, j = mid;
            for (long k = lo; k < hi; ++k) {
                const long a = s[i * ss], b = j < hi ? s[j * ss] : 0;
                const int take_right = i >= mid || (j < hi && LESS(x[o_x + b * sx_ax], x[o_x + a * sx_ax]));
                d[k * ds] = take_right ? b : a;
                if (take_right) ++j; else ++i;
            }
        }
    }
    for (long k = 0; k < R; ++k)   // the result lies in bufs[src]; out may need it copied and reversed
        bufs[src ^ 1][k * strides[src ^ 1]] = bufs[src][(descending ? R - 1 - k : k) * strides[src]];
    if (src == 0)
        for (long k = 0; k < R; ++k) out[o_out + k * so_ax] = tmp[m * R + k];
}
