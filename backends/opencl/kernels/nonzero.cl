${PREAMBLE}

// Two passes over `chunks` contiguous runs of the flat index: count the non-zeros of each run, then (after the host
// turns the counts into starts) write each run's coordinates from its start, so the output is in row-major order.
__kernel void nonzero_count(__global long* counts, __global const ${T}* x, long numel, long chunk, ${PARAMS})
{
    const long g = get_global_id(0);
    const long end = min(numel, (g + 1) * chunk);
    long n = 0;
    for (long i = g * chunk; i < end; ++i) {
        ${INDEX}
        n += x[o_x] != 0;
    }
    counts[g] = n;
}

__kernel void nonzero_write(__global long* out, __global const long* starts, __global const ${T}* x, long numel,
                            long chunk, ${PARAMS})
{
    const long g = get_global_id(0);
    const long end = min(numel, (g + 1) * chunk);
    long at = starts[g];
    for (long i = g * chunk; i < end; ++i) {
        ${INDEX}
        if (x[o_x] != 0) {
            ${WRITE}
            ++at;
        }
    }
}
