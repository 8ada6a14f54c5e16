${PREAMBLE}

// NOTE [ Philox ] in backends/base.py: item b computes block offset + b and turns its four words into UPB numbers
// (4 per block from 32-bit words, 2 from pairs of words), written at flat positions b * UPB ...
#define M0 0xD2511F53u
#define M1 0xCD9E8D57u
#define W0 0x9E3779B9u
#define W1 0xBB67AE85u

__kernel void philox(__global ${OUT_T}* out, long numel, ulong offset, uint k0, uint k1, ${CT} a, ${CT} b, ${PARAMS})
{
    const long blk = get_global_id(0);
    const ulong ctr = offset + (ulong)blk;
    uint c0 = (uint)ctr, c1 = (uint)(ctr >> 32), c2 = 0, c3 = 0;
    for (int round = 0; round < 10; ++round) {
        const uint h0 = mul_hi(M0, c0), l0 = M0 * c0, h1 = mul_hi(M1, c2), l1 = M1 * c2;
        c0 = h1 ^ c1 ^ k0;
        c1 = l1;
        c2 = h0 ^ c3 ^ k1;
        c3 = l0;
        k0 += W0;
        k1 += W1;
    }
#if UPB == 4
    ${CT} u[4] = {(${CT})(c0 >> 8) * 0x1p-24f, (${CT})(c1 >> 8) * 0x1p-24f,
                  (${CT})(c2 >> 8) * 0x1p-24f, (${CT})(c3 >> 8) * 0x1p-24f};
#else
    ${CT} u[2] = {((${CT})(c0 >> 5) * 67108864.0 + (${CT})(c1 >> 6)) * 0x1p-53,
                  ((${CT})(c2 >> 5) * 67108864.0 + (${CT})(c3 >> 6)) * 0x1p-53};
#endif
    for (int t = 0; t < UPB; ++t) {
        const long j = blk * UPB + t;
        if (j >= numel) return;
#if NORMAL
        const int p = t & ~1;
        const ${CT} rad = sqrt(-2 * log1p(-u[p]));
        const ${CT} ang = ${TWO_PI} * u[p + 1];
        const ${CT} z = (t & 1) ? rad * sin(ang) : rad * cos(ang);
        const ${CT} v = a + b * z;
#else
        const ${CT} v = a + b * u[t];
#endif
        ${INDEX}
        out[o_out] = (${OUT_T})v;
    }
}
