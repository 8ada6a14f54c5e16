// Helpers for integer compute type ${T}; division by zero gives 0, as NumPy's integer ufuncs do.
inline ${T} dg_abs_${T}(${T} x) { return (${UNSIGNED} || x >= 0) ? x : (${T})-x; }
inline ${T} dg_sign_${T}(${T} x) { return (${T})((x > 0) - (!${UNSIGNED} && x < 0)); }
inline ${T} dg_max_${T}(${T} a, ${T} b) { return a > b ? a : b; }
inline ${T} dg_min_${T}(${T} a, ${T} b) { return a < b ? a : b; }
inline ${T} dg_pow_${T}(${T} a, ${T} b) {
    ${T} r = 1;
    for (; b > 0; b >>= 1) {
        if (b & 1) r *= a;
        a *= a;
    }
    return r;
}
inline ${T} dg_div_${T}(${T} a, ${T} b) { return b == 0 ? 0 : (${T})(a / b); }
inline ${T} dg_fmod_${T}(${T} a, ${T} b) { return b == 0 ? 0 : (${T})(a % b); }
inline ${T} dg_floordiv_${T}(${T} a, ${T} b) {
    if (b == 0) return 0;
    ${T} q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
// Shifts by a negative amount or by the width or more give 0 (left) or the sign (right), as NumPy and PyTorch do.
inline ${T} dg_shl_${T}(${T} a, ${T} b) {
    return (b < 0 || b >= (${T})(8 * sizeof(${T}))) ? (${T})0 : (${T})((${U})a << b);
}
inline ${T} dg_shr_${T}(${T} a, ${T} b) {
    return (b < 0 || b >= (${T})(8 * sizeof(${T}))) ? (${T})(a < 0 ? -1 : 0) : (${T})(a >> b);
}
