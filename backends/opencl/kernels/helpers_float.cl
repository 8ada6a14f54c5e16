// Helpers for floating compute type ${T}, with NumPy's semantics where C's differ (NaN propagation, floor division).
inline ${T} dg_abs_${T}(${T} x) { return fabs(x); }
inline ${T} dg_sign_${T}(${T} x) { return isnan(x) ? x : (${T})((x > 0) - (x < 0)); }
inline ${T} dg_sigmoid_${T}(${T} x) { return (${T})1 / ((${T})1 + exp(-x)); }
inline ${T} dg_max_${T}(${T} a, ${T} b) { return (a > b || isnan(a)) ? a : b; }
inline ${T} dg_min_${T}(${T} a, ${T} b) { return (a < b || isnan(a)) ? a : b; }
inline ${T} dg_pow_${T}(${T} a, ${T} b) { return pow(a, b); }
inline ${T} dg_fmod_${T}(${T} a, ${T} b) { return fmod(a, b); }
// NumPy's npy_floor_divide: floor of the exact quotient via fmod, so 1 // 0.1 is 9, not floor(1 / 0.1) = 10.
inline ${T} dg_floordiv_${T}(${T} a, ${T} b) {
    if (b == 0) return a / b;
    ${T} mod = fmod(a, b);
    ${T} div = (a - mod) / b;
    if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1;
    if (div == 0) return copysign((${T})0, a / b);
    ${T} fl = floor(div);
    return (div - fl > (${T})0.5) ? fl + 1 : fl;
}
