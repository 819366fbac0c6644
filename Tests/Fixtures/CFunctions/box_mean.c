/*
 * box_mean.c -- plain C functions (no OperatorZoo header) that the libffi adapter tests describe in cfunction
 * registry entries. They exercise what token_shift does not: double precision, an int status return, int32,
 * bool and float attributes, a workspace and its byte count, the H and W bindings, and a failing call.
 */
#include <stddef.h>
#include <stdint.h>

/* y[b,t,c] = scale[c] * (sum, or mean when normalize) of x[b,s,c] over s in [t-radius, t+radius] within [0, L),
 * plus offset. Each column is gathered into `work` (L doubles) and each window summed directly, left to right,
 * so an output depends bitwise on its window alone (prefix sums would not: their rounding carries over from
 * earlier tokens). Returns 1 if the workspace is short. */
int box_mean(const double *x, double *y, int64_t B, int64_t L, int64_t D, int32_t radius, _Bool normalize, float offset,
             const double *scale, double *work, size_t work_bytes) {
    int64_t b, t, s, c;
    if (work_bytes < (size_t)L * sizeof(double)) return 1;
    for (b = 0; b < B; b++) {
        for (c = 0; c < D; c++) {
            for (t = 0; t < L; t++) work[t] = x[(b * L + t) * D + c];
            for (t = 0; t < L; t++) {
                const int64_t lo = t - radius < 0 ? 0 : t - radius, hi = t + radius > L - 1 ? L - 1 : t + radius;
                double sum = 0;
                for (s = lo; s <= hi; s++) sum += work[s];
                y[(b * L + t) * D + c] = scale[c] * (normalize ? sum / (double)(hi - lo + 1) : sum) + (double)offset;
            }
        }
    }
    return 0;
}

/* The VJP of box_mean (offset drops out): dscale[c] = sum dy * window(t); dx[b,s,c] = scale[c] * sum over the
 * outputs t whose window holds s of dy[b,t,c] / norm(t). Gathers the x and dy / norm columns into `work`
 * (2 L doubles). */
int box_mean_vjp(const double *dy, double *dx, double *dscale, const double *x, int64_t B, int64_t L, int64_t D,
                 int32_t radius, _Bool normalize, const double *scale, double *work, size_t work_bytes) {
    int64_t b, t, s, c;
    double *xc = work, *q = work + L;
    if (work_bytes < (size_t)(2 * L) * sizeof(double)) return 1;
    for (c = 0; c < D; c++) dscale[c] = 0;
    for (b = 0; b < B; b++) {
        for (c = 0; c < D; c++) {
            for (t = 0; t < L; t++) {
                const int64_t lo = t - radius < 0 ? 0 : t - radius, hi = t + radius > L - 1 ? L - 1 : t + radius;
                xc[t] = x[(b * L + t) * D + c];
                q[t] = dy[(b * L + t) * D + c] / (normalize ? (double)(hi - lo + 1) : 1.0);
            }
            for (t = 0; t < L; t++) {
                /* The windows are symmetric: s is in window(t) exactly when t is in window(s). */
                const int64_t lo = t - radius < 0 ? 0 : t - radius, hi = t + radius > L - 1 ? L - 1 : t + radius;
                double window = 0, back = 0;
                for (s = lo; s <= hi; s++) {
                    window += xc[s];
                    back += q[s];
                }
                dscale[c] += q[t] * window;
                dx[(b * L + t) * D + c] = scale[c] * back;
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
