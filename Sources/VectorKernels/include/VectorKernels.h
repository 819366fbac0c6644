/*
 * VectorKernels.h -- float32 elementwise kernels for the host and PluginKit, compiled for three instruction sets
 * (x86-64-v4: AVX-512; x86-64-v3: AVX2 + FMA; the baseline) and chosen once at load time by the CPU
 * (GCC/clang `target_clones`), so one binary runs everywhere and uses the widest vectors the machine has.
 *
 * Every function is a plain loop over contiguous memory: no threads, no allocation. Results are a fixed function
 * of the inputs on one machine (sums run in a fixed order for a given instruction set); machines with different
 * instruction sets may differ in the last bits (FMA contraction, vector width), like their BLAS kernels do.
 * exp and tanh follow PluginKit's FastMath (Cody-Waite reduction, degree-7 Taylor polynomial; a few ulp).
 */
#ifndef OPERATOR_ZOO_VECTOR_KERNELS_H
#define OPERATOR_ZOO_VECTOR_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The instruction set the kernels run with on this machine: "x86-64-v4", "x86-64-v3" or "baseline". */
const char *ozv_isa(void);

/** y[i] = exp(x[i]) (in place allowed). */
void ozv_exp(float *y, const float *x, int64_t n);

/** act[i] = GELU(pre[i]) with the tanh approximation: 0.5 u (1 + tanh(sqrt(2/pi) (u + 0.044715 u^3))). */
void ozv_gelu_tanh(float *act, const float *pre, int64_t n);

/** g[i] *= GELU'(pre[i]) (tanh approximation): turns the gradient of the activation into that of its input. */
void ozv_gelu_tanh_backward(float *g, const float *pre, int64_t n);

/**
 * Softmax of row[0 ..< visible] in place (max subtracted first), and row[visible ..< length] set to 0 (masked
 * keys). visible >= 1.
 */
void ozv_softmax_row(float *row, int64_t visible, int64_t length);

/**
 * The softmax's vector-Jacobian product for one row: with p = softmax(s) and g = dL/dp on entry,
 * g[j] = p[j] (g[j] - sum_k p[k] g[k]) = dL/ds[j] on return, over n entries.
 */
void ozv_softmax_backward_row(const float *p, float *g, int64_t n);

/** y[i] = x[i] * sigmoid(x[i]) (SiLU; in place allowed). */
void ozv_silu(float *y, const float *x, int64_t n);

/**
 * One AdamW step (PyTorch's `torch.optim.AdamW`) over n parameters, in place: p *= decay; m = b1 m + (1 - b1) g;
 * v = b2 v + (1 - b2) g^2; p -= rate (m / c1) / (sqrt(v / c2) + eps), with c1 = 1 - b1^t and c2 = 1 - b2^t the
 * bias corrections. Compiled without FMA contraction: the same bits on every instruction set.
 */
void ozv_adamw(float *p, float *m, float *v, const float *g, int64_t n, float decay, float beta1, float beta2,
               float correction1, float correction2, float rate, float epsilon);

/** ema[i] = decay ema[i] + (1 - decay) p[i] (an exponential moving average of weights), without FMA contraction. */
void ozv_ema(float *ema, const float *p, int64_t n, float decay);

#ifdef __cplusplus
}
#endif

#endif /* OPERATOR_ZOO_VECTOR_KERNELS_H */
