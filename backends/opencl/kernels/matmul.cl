${PREAMBLE}

// NOTE [ GEMM tiling ]
// C[bt] = A[bt] @ B[bt] on strided operands. A work-group of LX x LY items computes a (TM * LY) x (TN * LX) tile of C;
// item (lx, ly) owns rows m0 + ly + i * LY and columns n0 + lx + j * LX, so neighbouring items read neighbouring
// columns of B (coalesced on GPUs, vectorised across items by PoCL) and each item keeps TM x TN sums in registers.
// With USE_LOCAL (GPUs) the group first stages TK-deep slices of A and B in local memory; without it (CPU devices,
// where barriers are slow) items read global memory directly, clamping edge rows and columns instead of branching.
// Tile sizes are -D macros (TM, TN, TK, LX, LY); SA_M ... SB_N are the strides, or 1 where that is known at build
// (SC_N_UNIT says so for C's n).
// VEC (CPU devices, float/double, unit column stride in B) keeps each tile row in one vector register instead.
#define A_AT(m, k) a[(m) * SA_M + (k) * SA_K]
#define B_AT(k, n) b[(k) * SB_K + (n) * SB_N]

// L: the sizes, then offset and strides (batch, row, column) of a, b and c (NOTE [ Layout buffers ] in codegen.py).
__kernel void matmul(__global ${T}* c, __global const ${T}* a, __global const ${T}* b, __constant const long *restrict L)
{
    const long M = L[0], N = L[1], K = L[2];
    const long off_a = L[3], sa_b = L[4], sa_m = L[5], sa_k = L[6], off_b = L[7], sb_b = L[8], sb_k = L[9],
               sb_n = L[10], off_c = L[11], sc_b = L[12], sc_m = L[13], sc_n = L[14];
    const int lx = get_local_id(0), ly = get_local_id(1);
    const long n0 = get_group_id(0) * (TN * LX), m0 = get_group_id(1) * (TM * LY);
    const long bt = get_global_id(2);
    a += off_a + bt * sa_b;
    b += off_b + bt * sb_b;
    c += off_c + bt * sc_b;
    ${ACC_T} acc[TM][TN];
    for (int i = 0; i < TM; ++i)
        for (int j = 0; j < TN; ++j)
            acc[i][j] = 0;
#if USE_LOCAL
    // Staging reads global memory along a unit stride: k-fast where A's k (A_K_FAST) or B's k but not n (B_K_FAST)
    // is the unit stride, else m-fast / n-fast. A k-fast tile row gets one pad element, so that the k-fast stores
    // (a row apart) fall on different local-memory banks.
    __local ${T} ta[TK][TM * LY + A_K_FAST];
    __local ${T} tb[TK][TN * LX + B_K_FAST];
    for (long k0 = 0; k0 < K; k0 += TK) {
        for (int e = ly * LX + lx; e < TK * TM * LY; e += LX * LY) {
            const int r = A_K_FAST ? e / TK : e % (TM * LY), kk = A_K_FAST ? e % TK : e / (TM * LY);
            const long m = m0 + r, k = k0 + kk;
            ta[kk][r] = (m < M && k < K) ? A_AT(m, k) : 0;
        }
        for (int e = ly * LX + lx; e < TK * TN * LX; e += LX * LY) {
            const int r = B_K_FAST ? e / TK : e % (TN * LX), kk = B_K_FAST ? e % TK : e / (TN * LX);
            const long n = n0 + r, k = k0 + kk;
            tb[kk][r] = (n < N && k < K) ? B_AT(k, n) : 0;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < TK; ++kk) {
            ${ACC_T} av[TM], bv[TN];
            for (int i = 0; i < TM; ++i) av[i] = ta[kk][ly + i * LY];
            for (int j = 0; j < TN; ++j) bv[j] = tb[kk][lx + j * LX];
            for (int i = 0; i < TM; ++i)
                for (int j = 0; j < TN; ++j)
                    acc[i][j] = ${MAC};
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
#else
#if VEC
    // One item per tile (LX = LY = 1): its TN columns are contiguous in B, so each row of the tile is one TN-wide
    // vector and the k loop is TM vector FMAs per vector load; edge tiles take the scalar path below.
    if (m0 + TM <= M && n0 + TN <= N) {
        ${VT} accv[TM];
        for (int i = 0; i < TM; ++i) accv[i] = 0;
        for (long k = 0; k < K; ++k) {
            const ${VT} bv = vload${TN}(0, b + k * SB_K + n0);
            for (int i = 0; i < TM; ++i) accv[i] = fma((${VT})A_AT(m0 + i, k), bv, accv[i]);
        }
        for (int i = 0; i < TM; ++i) {
#if SC_N_UNIT
            vstore${TN}(accv[i], 0, c + (m0 + i) * sc_m + n0);
#else
            ${T} row[TN];
            vstore${TN}(accv[i], 0, row);
            for (int j = 0; j < TN; ++j) c[(m0 + i) * sc_m + (n0 + j) * sc_n] = row[j];
#endif
        }
        return;
    }
#endif
    long rows[TM], cols[TN];
    for (int i = 0; i < TM; ++i) rows[i] = min(m0 + ly + i * LY, M - 1);
    for (int j = 0; j < TN; ++j) cols[j] = min(n0 + lx + j * LX, N - 1);
    for (long k = 0; k < K; ++k) {
        ${ACC_T} av[TM], bv[TN];
        for (int i = 0; i < TM; ++i) av[i] = A_AT(rows[i], k);
        for (int j = 0; j < TN; ++j) bv[j] = B_AT(k, cols[j]);
        for (int i = 0; i < TM; ++i)
            for (int j = 0; j < TN; ++j)
                acc[i][j] = ${MAC};
    }
#endif
    for (int i = 0; i < TM; ++i) {
        const long m = m0 + ly + i * LY;
        for (int j = 0; j < TN; ++j) {
            const long n = n0 + lx + j * LX;
            if (m < M && n < N) c[m * sc_m + n * sc_n] = (${T})acc[i][j];
        }
    }
}
