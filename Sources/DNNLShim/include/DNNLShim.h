/*
 * DNNLShim.h -- oneDNN's single-precision matrix product, found at run time.
 *
 * OpenBLAS is the BLAS the host and PluginKit link. On the shapes of a DiT's training step oneDNN's `dnnl_sgemm`
 * (Debian's libdnnl2) measured faster on this project's machines (docs/PERFORMANCE.md), so float32 products go
 * through it when it is there: this shim opens libdnnl.so.2 with dlopen and resolves `dnnl_sgemm`, so nothing
 * links oneDNN and a machine without it builds, tests and runs on OpenBLAS alone. `ZOO_BLAS=openblas` keeps every
 * product on OpenBLAS; `ZOO_BLAS=onednn` asks for oneDNN (as the default does); any other value keeps OpenBLAS and
 * says so in ozdnnl_status(), which benchmark reports and training checkpoints record.
 *
 * Every product runs on the calling thread alone (the callers split rows over their own pool): oneDNN's OpenMP
 * runtime is told to use one thread on each thread that calls it. Single-threaded, oneDNN's product is the same
 * bits every time, as the host's determinism needs.
 */
#ifndef OZ_DNNL_SHIM_H
#define OZ_DNNL_SHIM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** 1 when float32 products go through oneDNN (opened, and not turned off by ZOO_BLAS), else 0. Decided once. */
int ozdnnl_active(void);

/** One line on the choice: "oneDNN 2.6.3 (avx512_core)" when active, else why not (e.g. "ZOO_BLAS=openblas"). */
const char *ozdnnl_status(void);

/**
 * Row-major `C = alpha op(A) op(B) + beta C` (`op(A)` m x k, `op(B)` k x n) on the calling thread, through oneDNN;
 * only after ozdnnl_active() said 1. Returns 0, or nonzero without touching C for arguments oneDNN refused and for
 * k = 0 (oneDNN leaves C unscaled there): the caller then computes the product with OpenBLAS.
 */
int ozdnnl_sgemm(int transA, int transB, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                 const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

#ifdef __cplusplus
}
#endif

#endif
