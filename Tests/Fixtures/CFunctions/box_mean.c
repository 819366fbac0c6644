/*
 * box_mean.c -- plain C functions (no OperatorZoo header) that the libffi adapter tests describe in cfunction
 * registry entries. They exercise what token_shift does not: double precision, an int status return, int32,
 * bool and float attributes, a workspace and its byte count, the H and W bindings, and a failing call.
 */
#include <stddef.h>
#include <stdint.h>

/* y[b,t,c] = scale[c] * (sum, or mean when normalize) of x[b,s,c] over s in [t-radius, t+radius] within [0, L),
 * plus offset. Prefix sums of one column live in `work` (L + 1 doubles). Returns 1 if the workspace is short. */
int box_mean(const double *x, double *y, int64_t B, int64_t L, int64_t D, int32_t radius, _Bool normalize, float offset,
             const double *scale, double *work, size_t work_bytes) {
    int64_t b, t, c;
    if (work_bytes < (size_t)(L + 1) * sizeof(double)) return 1;
    for (b = 0; b < B; b++) {
        for (c = 0; c < D; c++) {
            work[0] = 0;
            for (t = 0; t < L; t++) work[t + 1] = work[t] + x[(b * L + t) * D + c];
            for (t = 0; t < L; t++) {
                const int64_t lo = t - radius < 0 ? 0 : t - radius, hi = t + radius > L - 1 ? L - 1 : t + radius;
                const double sum = work[hi + 1] - work[lo];
                y[(b * L + t) * D + c] = scale[c] * (normalize ? sum / (double)(hi - lo + 1) : sum) + (double)offset;
            }
        }
    }
    return 0;
}

/* The VJP of box_mean (offset drops out): dscale[c] = sum dy * window(t); dx[b,s,c] = scale[c] * sum over the
 * outputs t whose window holds s of dy[b,t,c] / norm(t). Uses 2 (L + 1) doubles of workspace. */
int box_mean_vjp(const double *dy, double *dx, double *dscale, const double *x, int64_t B, int64_t L, int64_t D,
                 int32_t radius, _Bool normalize, const double *scale, double *work, size_t work_bytes) {
    int64_t b, t, c;
    double *p = work, *q = work + L + 1;
    if (work_bytes < (size_t)(2 * (L + 1)) * sizeof(double)) return 1;
    for (c = 0; c < D; c++) dscale[c] = 0;
    for (b = 0; b < B; b++) {
        for (c = 0; c < D; c++) {
            p[0] = 0;
            q[0] = 0;
            for (t = 0; t < L; t++) {
                const int64_t lo = t - radius < 0 ? 0 : t - radius, hi = t + radius > L - 1 ? L - 1 : t + radius;
                const double norm = normalize ? (double)(hi - lo + 1) : 1.0;
                p[t + 1] = p[t] + x[(b * L + t) * D + c];
                q[t + 1] = q[t] + dy[(b * L + t) * D + c] / norm;
            }
            for (t = 0; t < L; t++) {
                const int64_t lo = t - radius < 0 ? 0 : t - radius, hi = t + radius > L - 1 ? L - 1 : t + radius;
                const double norm = normalize ? (double)(hi - lo + 1) : 1.0;
                dscale[c] += dy[(b * L + t) * D + c] * (p[hi + 1] - p[lo]) / norm;
                /* The windows are symmetric: s is in window(t) exactly when t is in window(s). */
                dx[(b * L + t) * D + c] = scale[c] * (q[hi + 1] - q[lo]);
            }
        }
    }
    return 0;
}

/* Always fails with status 7, after writing nothing. */
int refuse_everything(const float *x, float *y, int B, int L, int D) {
    (void)x;
    (void)y;
    (void)B;
    (void)L;
    (void)D;
    return 7;
}

/* y at grid cell (r, c) = the mean of row r of x (tokens r*W ... r*W + W - 1). */
void row_mean(const double *x, double *y, long B, long H, long W, long D) {
    long b, r, c, d;
    for (b = 0; b < B; b++)
        for (r = 0; r < H; r++)
            for (d = 0; d < D; d++) {
                double sum = 0;
                for (c = 0; c < W; c++) sum += x[((b * H + r) * W + c) * D + d];
                for (c = 0; c < W; c++) y[((b * H + r) * W + c) * D + d] = sum / (double)W;
            }
}
