/*
 * blas_shapes.c -- single-threaded sgemm on the shapes of a pretraining step and a DiT-S/2 block, for comparing
 * BLAS libraries on this machine (see scripts/bench-blas-libraries). Row-major, C = A op(B), beta 0; one row per
 * shape: m x n x k, the transposes (tA tB) and the best GFLOP/s of 5 timed batches.
 *
 * Built three ways by the script: against OpenBLAS's and BLIS's CBLAS (cblas_sgemm), and against oneDNN
 * (dnnl_sgemm, -DUSE_DNNL).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef USE_DNNL
#include <dnnl.h>
#define GEMM(ta, tb, m, n, k, A, lda, B, ldb, C, ldc) \
    dnnl_sgemm((ta) ? 'T' : 'N', (tb) ? 'T' : 'N', m, n, k, 1.0f, A, lda, B, ldb, 0.0f, C, ldc)
#else
enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };
void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                 int ldb, float beta, float *c, int ldc);
#define GEMM(ta, tb, m, n, k, A, lda, B, ldb, C, ldc) \
    cblas_sgemm(ROW_MAJOR, (ta) ? TRANS : NO_TRANS, (tb) ? TRANS : NO_TRANS, m, n, k, 1.0f, A, lda, B, ldb, 0.0f, C, ldc)
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(void) {
    /* m, n, k, transA, transB. Half a batch-8 step's 2048 token rows (the host splits rows over 2 threads):
       embedded model (D 128): qkv, proj, fc1, fc2 forward; weight gradients; input gradient; one head's attention
       products (L 256, head 32); and DiT-S/2's qkv (D 384). */
    static const int shapes[][5] = {
        {1024, 384, 128, 0, 1}, {1024, 128, 128, 0, 1}, {1024, 512, 128, 0, 1}, {1024, 128, 512, 0, 1},
        {384, 128, 2048, 1, 0}, {512, 128, 2048, 1, 0}, {128, 512, 2048, 1, 0}, {1024, 128, 384, 0, 0},
        {256, 256, 32, 0, 1},   {256, 32, 256, 0, 0},   {256, 32, 256, 1, 0},   {1024, 1152, 384, 0, 1},
    };
    const long elements = 1L << 22;
    float *a = malloc(sizeof(float) * elements), *b = malloc(sizeof(float) * elements);
    float *c = malloc(sizeof(float) * elements);
    if (a == NULL || b == NULL || c == NULL) return 1;
    for (long i = 0; i < elements; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.1f;
    }
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], ta = shapes[s][3], tb = shapes[s][4];
        int lda = ta ? m : k, ldb = tb ? k : n;
        int reps = (long)m * n * k > 50000000L ? 20 : 200;
        double best = 1e30;
        for (int r = 0; r < 5; r++) {
            double t0 = now();
            for (int i = 0; i < reps; i++) GEMM(ta, tb, m, n, k, a, lda, b, ldb, c, n);
            double t = (now() - t0) / reps;
            if (t < best) best = t;
        }
        printf("%5d x %5d x %5d  t%d%d  %6.1f GFLOP/s\n", m, n, k, ta, tb, 2.0 * m * n * k / best / 1e9);
    }
    free(a);
    free(b);
    free(c);
    return 0;
}
