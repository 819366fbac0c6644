/*
 * token_shift.c -- a token mixer written as two plain C functions that know nothing of OperatorZoo.
 *
 * RWKV-style token shift with a learned per-channel mix (Peng et al., "RWKV: Reinventing RNNs for the
 * Transformer Era", 2023, the `time_mix` interpolation between a token and an earlier one):
 *
 *     y[b, t, c] = mix[c] * x[b, t, c] + (1 - mix[c]) * x[b, t - shift, c]      (x[b, s, c] = 0 for s < 0)
 *
 * over x of shape [B, L, D] (row-major). It is causal and sees tokens t - shift and t only.
 * The vector-Jacobian product, for an output gradient dy:
 *
 *     dx[b, s, c] = mix[c] * dy[b, s, c] + (1 - mix[c]) * dy[b, s + shift, c]  (dy[b, t, c] = 0 for t >= L)
 *     dmix[c]     = sum over b, t of dy[b, t, c] * (x[b, t, c] - x[b, t - shift, c])
 *
 * OperatorZoo calls these through libffi, as the registry entry `token_shift` (kind "cfunction") describes:
 * which argument is x, y, B, L, D, the parameter `time_mix` and the attribute `shift`. Nothing here
 * includes an OperatorZoo header. Build with the Makefile beside this file.
 */
#include <stddef.h>

void token_shift_mix(const float *x, float *y, long B, long L, long D, const float *mix, long shift);
void token_shift_mix_vjp(const float *x, const float *dy, float *dx, float *dmix, long B, long L, long D,
                         const float *mix, long shift);

void token_shift_mix(const float *x, float *y, long B, long L, long D, const float *mix, long shift) {
    long b, t, c;
    for (b = 0; b < B; b++) {
        for (t = 0; t < L; t++) {
            const float *now = x + (b * L + t) * D;
            const float *before = t >= shift ? x + (b * L + t - shift) * D : NULL;
            float *out = y + (b * L + t) * D;
            for (c = 0; c < D; c++) out[c] = mix[c] * now[c] + (before ? (1.0f - mix[c]) * before[c] : 0.0f);
        }
    }
}

void token_shift_mix_vjp(const float *x, const float *dy, float *dx, float *dmix, long B, long L, long D,
                         const float *mix, long shift) {
    long b, t, c;
    for (c = 0; c < D; c++) dmix[c] = 0.0f;
    for (b = 0; b < B; b++) {
        for (t = 0; t < L; t++) {
            const float *g = dy + (b * L + t) * D;
            const float *later = t + shift < L ? dy + (b * L + t + shift) * D : NULL;
            const float *now = x + (b * L + t) * D;
            const float *before = t >= shift ? x + (b * L + t - shift) * D : NULL;
            float *out = dx + (b * L + t) * D;
            for (c = 0; c < D; c++) {
                out[c] = mix[c] * g[c] + (later ? (1.0f - mix[c]) * later[c] : 0.0f);
                dmix[c] += g[c] * (now[c] - (before ? before[c] : 0.0f));
            }
        }
    }
}
