/*
 * Does OpenBLAS's sgemm give the same bits when C is computed in row blocks as in one call?
 *
 * For a few shapes met in training (row-major, A optionally transposed), C is computed once whole and then in
 * 2..7 row blocks (one cblas_sgemm per block, as the host pool splits a product); the program prints how many
 * elements of C differ in any bit. OpenBLAS runs single-threaded. Pick a kernel with OPENBLAS_CORETYPE
 * (e.g. Haswell, Zen, SkylakeX, Cooperlake). Built and run by scripts/gemm-row-blocks; see docs/RELIABILITY.md,
 * section 5.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void openblas_set_num_threads(int);
extern char *openblas_get_corename(void);

int main(void) {
    openblas_set_num_threads(1);
    /* m, n, k, A transposed */
    static const int shapes[][4] = {{2048, 384, 384, 0}, {384, 384, 2048, 1}, {64, 64, 512, 1}, {40, 40, 40, 0}};
    printf("OpenBLAS kernel %s\n", openblas_get_corename());
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], ta = shapes[s][3];
        const int lda = ta ? m : k;
        float *a = malloc(sizeof(float) * (size_t)m * k), *b = malloc(sizeof(float) * (size_t)k * n);
        float *whole = malloc(sizeof(float) * (size_t)m * n), *blocks = malloc(sizeof(float) * (size_t)m * n);
        if (!a || !b || !whole || !blocks) return 1;
        srand(1);
        for (int i = 0; i < m * k; i++) a[i] = (float)rand() / (float)RAND_MAX - 0.5f;
        for (int i = 0; i < k * n; i++) b[i] = (float)rand() / (float)RAND_MAX - 0.5f;
        const enum CBLAS_TRANSPOSE opA = ta ? CblasTrans : CblasNoTrans;
        cblas_sgemm(CblasRowMajor, opA, CblasNoTrans, m, n, k, 1, a, lda, b, n, 0, whole, n);
        printf("%d x %d x %d%s:", m, n, k, ta ? " (A transposed)" : "");
        for (int parts = 2; parts <= 7; parts++) {
            const int rows = (m + parts - 1) / parts;
            for (int r = 0; r < m; r += rows) {
                const int mm = m - r < rows ? m - r : rows;
                cblas_sgemm(CblasRowMajor, opA, CblasNoTrans, mm, n, k, 1, ta ? a + r : a + (size_t)r * lda, lda, b, n, 0,
                            blocks + (size_t)r * n, n);
            }
            int differ = 0;
            for (int i = 0; i < m * n; i++) differ += memcmp(&whole[i], &blocks[i], sizeof(float)) != 0;
            printf(" %d blocks: %d", parts, differ);
        }
        printf(" (of %d)\n", m * n);
        free(a); free(b); free(whole); free(blocks);
    }
    return 0;
}
