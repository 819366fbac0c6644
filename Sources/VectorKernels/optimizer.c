#include "VectorKernels.h"
#include "isa.h"

/* No FMA contraction here: every instruction set computes the same bits as the host's scalar Swift loop did, so
   a training run does not depend on the machine's vector width. */
#pragma clang fp contract(off)

OZV_CLONES void ozv_adamw(float *p, float *m, float *v, const float *g, int64_t n, float decay, float beta1,
                          float beta2, float correction1, float correction2, float rate, float epsilon) {
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        float pi = p[i] * decay;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - rate * (mi / correction1) / (__builtin_sqrtf(vi / correction2) + epsilon);
    }
}

OZV_CLONES void ozv_ema(float *ema, const float *p, int64_t n, float decay) {
    for (int64_t i = 0; i < n; i++) ema[i] = decay * ema[i] + (1.0f - decay) * p[i];
}
