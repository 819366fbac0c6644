#include "VectorKernels.h"
#include "fastmath.h"
#include "isa.h"

OZV_CLONES void ozv_exp(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = ozv_exp1(x[i]);
}

OZV_CLONES void ozv_gelu_tanh(float *act, const float *pre, int64_t n) {
    const float k = 0.7978845608028654f; /* sqrt(2 / pi) */
    for (int64_t i = 0; i < n; i++) {
        float u = pre[i];
        act[i] = 0.5f * u * (1.0f + ozv_tanh1(k * (u + 0.044715f * u * u * u)));
    }
}

OZV_CLONES void ozv_gelu_tanh_backward(float *g, const float *pre, int64_t n) {
    const float k = 0.7978845608028654f;
    for (int64_t i = 0; i < n; i++) {
        float u = pre[i];
        float t = ozv_tanh1(k * (u + 0.044715f * u * u * u));
        g[i] *= 0.5f * (1.0f + t) + 0.5f * u * (1.0f - t * t) * k * (1.0f + 3.0f * 0.044715f * u * u);
    }
}

OZV_CLONES void ozv_silu(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + ozv_exp1(-x[i]));
}
