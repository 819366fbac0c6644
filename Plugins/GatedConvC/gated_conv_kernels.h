/*
 * gated_conv_kernels.h -- the numerical kernels of gated_conv.c, written once for an element type.
 *
 * gated_conv.c includes this file twice: with GC_T = float, GC_NAME(n) = n##_f32, GC_EXP = expf, and with
 * GC_T = double, GC_NAME(n) = n##_f64, GC_EXP = exp. Every function is a `parallel_for` range body over a
 * job struct from gated_conv.c. Each output element is computed by one range, in a fixed order, so results
 * do not depend on how the host splits the work (the operator is deterministic and re-entrant).
 *
 * Layouts (row-major): a row is one token of one sample, n = b * L + t; z is [N, 2D] (u = z[:, :D], g =
 * z[:, D:]); v, h, dh are [N, D]; conv weights are [D, K] with K = kh * kw taps, tap = i * kw + j. A 1D
 * sequence is the 1 x L grid (kh = 1, ph = 0).
 */
/* Rows of x (or dy) per block of the projections: 16 rows of 384 floats stay in a core's first-level cache. */
#ifndef GC_ROW_BLOCK
#define GC_ROW_BLOCK 16
#endif

#if !defined(GC_T) || !defined(GC_NAME) || !defined(GC_EXP)
#error "define GC_T, GC_NAME and GC_EXP before including gated_conv_kernels.h"
#endif

/* act(g) and its derivative. */
static void GC_NAME(gc_act)(int act, GC_T g, GC_T *a, GC_T *da) {
    GC_T s;
    switch (act) {
    case GC_ACT_SIGMOID:
        s = (GC_T)1 / ((GC_T)1 + GC_EXP(-g));
        *a = s;
        *da = s * ((GC_T)1 - s);
        break;
    case GC_ACT_SILU:
        s = (GC_T)1 / ((GC_T)1 + GC_EXP(-g));
        *a = g * s;
        *da = s + g * s * ((GC_T)1 - s);
        break;
    default: /* identity */
        *a = g;
        *da = (GC_T)1;
        break;
    }
}

/*
 * y[n, :] = b + x[n, :] W^T for rows n in [begin, end); W is [out, in]. Four outputs at a time, for a block of
 * GC_ROW_BLOCK rows at a time, so the four rows of W are read once per block instead of once per row (W is larger
 * than a core's cache at D = 384). Each output is one dot product in the order of i, whatever the blocks.
 */
static void GC_NAME(gc_linear_range)(void *context, int64_t begin, int64_t end) {
    const gc_linear_job *job = (const gc_linear_job *)context;
    const GC_T *x = (const GC_T *)job->x, *w = (const GC_T *)job->w, *bias = (const GC_T *)job->b;
    GC_T *y = (GC_T *)job->y;
    const int64_t in = job->in, out = job->out;
    int64_t n0, n, o, i;
    for (n0 = begin; n0 < end; n0 += GC_ROW_BLOCK) {
        const int64_t n1 = n0 + GC_ROW_BLOCK < end ? n0 + GC_ROW_BLOCK : end;
        for (o = 0; o + 4 <= out; o += 4) {
            const GC_T *w0 = w + o * in, *w1 = w0 + in, *w2 = w1 + in, *w3 = w2 + in;
            for (n = n0; n < n1; n++) {
                const GC_T *xr = x + n * in;
                GC_T a0 = bias[o], a1 = bias[o + 1], a2 = bias[o + 2], a3 = bias[o + 3];
                for (i = 0; i < in; i++) {
                    const GC_T xi = xr[i];
                    a0 += xi * w0[i];
                    a1 += xi * w1[i];
                    a2 += xi * w2[i];
                    a3 += xi * w3[i];
                }
                y[n * out + o] = a0;
                y[n * out + o + 1] = a1;
                y[n * out + o + 2] = a2;
                y[n * out + o + 3] = a3;
            }
        }
        for (; o < out; o++) {
            const GC_T *wo = w + o * in;
            for (n = n0; n < n1; n++) {
                const GC_T *xr = x + n * in;
                GC_T acc = bias[o];
                for (i = 0; i < in; i++) acc += xr[i] * wo[i];
                y[n * out + o] = acc;
            }
        }
    }
}

/*
 * dx[n, :] = dy[n, :] W for rows n in [begin, end) (overwrites dx), a block of GC_ROW_BLOCK rows at a time so each
 * row of W is read once per block. Each element sums over o in order, whatever the blocks.
 */
static void GC_NAME(gc_linear_dx_range)(void *context, int64_t begin, int64_t end) {
    const gc_linear_dx_job *job = (const gc_linear_dx_job *)context;
    const GC_T *dy = (const GC_T *)job->dy, *w = (const GC_T *)job->w;
    GC_T *dx = (GC_T *)job->dx;
    const int64_t in = job->in, out = job->out;
    int64_t n0, n, o, i;
    for (n0 = begin; n0 < end; n0 += GC_ROW_BLOCK) {
        const int64_t n1 = n0 + GC_ROW_BLOCK < end ? n0 + GC_ROW_BLOCK : end;
        for (n = n0; n < n1; n++)
            for (i = 0; i < in; i++) dx[n * in + i] = 0;
        for (o = 0; o < out; o++) {
            const GC_T *wo = w + o * in;
            for (n = n0; n < n1; n++) {
                const GC_T go = dy[n * out + o];
                GC_T *d = dx + n * in;
                for (i = 0; i < in; i++) d[i] += go * wo[i];
            }
        }
    }
}

/*
 * dW[o, :] = sum_n dy[n, o] x[n, :] and db[o] = sum_n dy[n, o] for outputs o in [begin, end); either may be NULL.
 * Rows outermost, so each row of x is read once per range (not once per output) while the range's rows of dW stay
 * in cache; every element still sums over n in order, so the bits do not depend on the ranges.
 */
static void GC_NAME(gc_linear_dw_range)(void *context, int64_t begin, int64_t end) {
    const gc_linear_dw_job *job = (const gc_linear_dw_job *)context;
    const GC_T *dy = (const GC_T *)job->dy, *x = (const GC_T *)job->x;
    GC_T *dw = (GC_T *)job->dw, *db = (GC_T *)job->db;
    const int64_t rows = job->rows, in = job->in, out = job->out;
    int64_t n, o, i;
    for (o = begin; o < end; o++) {
        if (dw != NULL)
            for (i = 0; i < in; i++) dw[o * in + i] = 0;
        if (db != NULL) db[o] = 0;
    }
    for (n = 0; n < rows; n++) {
        const GC_T *g = dy + n * out, *xr = x + n * in;
        for (o = begin; o < end; o++) {
            if (db != NULL) db[o] += g[o];
            if (dw != NULL) {
                GC_T *d = dw + o * in;
                const GC_T go = g[o];
                for (i = 0; i < in; i++) d[i] += go * xr[i];
            }
        }
    }
}

/* Per cell q in [begin, end): v = cb + depthwise conv of u around q; h = v * act(g). v may be NULL. */
static void GC_NAME(gc_conv_range)(void *context, int64_t begin, int64_t end) {
    const gc_conv_job *job = (const gc_conv_job *)context;
    const gc_geometry *s = job->geometry;
    const GC_T *z = (const GC_T *)job->z, *w = (const GC_T *)job->w, *cb = (const GC_T *)job->cb;
    GC_T *v = (GC_T *)job->v, *h = (GC_T *)job->h;
    const int64_t D = s->dim, GH = s->grid_h, GW = s->grid_w, K = s->kh * s->kw;
    int64_t q, i, j, c;
    for (q = begin; q < end; q++) {
        const int64_t b = q / (GH * GW), r = (q / GW) % GH, col = q % GW;
        GC_T *acc = h + q * D;
        for (c = 0; c < D; c++) acc[c] = cb[c];
        for (i = 0; i < s->kh; i++) {
            const int64_t rr = r + i - s->ph;
            if (rr < 0 || rr >= GH) continue;
            for (j = 0; j < s->kw; j++) {
                const int64_t cc = col + j - s->pw;
                const GC_T *u;
                const int64_t tap = i * s->kw + j;
                if (cc < 0 || cc >= GW) continue;
                u = z + ((b * GH + rr) * GW + cc) * 2 * D;
                for (c = 0; c < D; c++) acc[c] += w[c * K + tap] * u[c];
            }
        }
        for (c = 0; c < D; c++) {
            GC_T a, da;
            GC_NAME(gc_act)(s->act, z[q * 2 * D + D + c], &a, &da);
            if (v != NULL) v[q * D + c] = acc[c];
            acc[c] *= a;
        }
    }
}

/* Per row q in [begin, end): from dh, dv = dh * act(g) (written over dh) and dg = dh * v * act'(g) (into dz[:, D:]). */
static void GC_NAME(gc_gate_range)(void *context, int64_t begin, int64_t end) {
    const gc_gate_job *job = (const gc_gate_job *)context;
    const int64_t D = job->geometry->dim;
    const int act = job->geometry->act;
    const GC_T *z = (const GC_T *)job->z, *v = (const GC_T *)job->v;
    GC_T *dh = (GC_T *)job->dh, *dz = (GC_T *)job->dz;
    int64_t q, c;
    for (q = begin; q < end; q++) {
        for (c = 0; c < D; c++) {
            GC_T a, da;
            const GC_T g = dh[q * D + c];
            GC_NAME(gc_act)(act, z[q * 2 * D + D + c], &a, &da);
            dz[q * 2 * D + D + c] = g * v[q * D + c] * da;
            dh[q * D + c] = g * a;
        }
    }
}

/* Per cell q in [begin, end): du = the transposed conv of dv, into dz[:, :D] (overwritten). */
static void GC_NAME(gc_conv_dx_range)(void *context, int64_t begin, int64_t end) {
    const gc_conv_dx_job *job = (const gc_conv_dx_job *)context;
    const gc_geometry *s = job->geometry;
    const GC_T *dv = (const GC_T *)job->dv, *w = (const GC_T *)job->w;
    GC_T *dz = (GC_T *)job->dz;
    const int64_t D = s->dim, GH = s->grid_h, GW = s->grid_w, K = s->kh * s->kw;
    int64_t q, i, j, c;
    for (q = begin; q < end; q++) {
        const int64_t b = q / (GH * GW), r = (q / GW) % GH, col = q % GW;
        GC_T *du = dz + q * 2 * D;
        for (c = 0; c < D; c++) du[c] = 0;
        /* v[r, col] reads u[r + i - ph, col + j - pw]: cell q feeds the outputs at (r - i + ph, col - j + pw). */
        for (i = 0; i < s->kh; i++) {
            const int64_t rr = r - i + s->ph;
            if (rr < 0 || rr >= GH) continue;
            for (j = 0; j < s->kw; j++) {
                const int64_t cc = col - j + s->pw;
                const int64_t tap = i * s->kw + j;
                const GC_T *g;
                if (cc < 0 || cc >= GW) continue;
                g = dv + ((b * GH + rr) * GW + cc) * D;
                for (c = 0; c < D; c++) du[c] += g[c] * w[c * K + tap];
            }
        }
    }
}

/* Per channel c in [begin, end): dw[c, tap] = sum over cells of dv * u at the tap's source, dcb[c] = sum dv. */
static void GC_NAME(gc_conv_dw_range)(void *context, int64_t begin, int64_t end) {
    const gc_conv_dw_job *job = (const gc_conv_dw_job *)context;
    const gc_geometry *s = job->geometry;
    const GC_T *dv = (const GC_T *)job->dv, *z = (const GC_T *)job->z;
    GC_T *dw = (GC_T *)job->dw, *dcb = (GC_T *)job->dcb;
    const int64_t D = s->dim, GH = s->grid_h, GW = s->grid_w, K = s->kh * s->kw, cells = s->rows;
    int64_t q, i, j, c;
    for (c = begin; c < end; c++) {
        if (dw != NULL)
            for (i = 0; i < K; i++) dw[c * K + i] = 0;
        if (dcb != NULL) dcb[c] = 0;
    }
    for (q = 0; q < cells; q++) {
        const int64_t b = q / (GH * GW), r = (q / GW) % GH, col = q % GW;
        const GC_T *g = dv + q * D;
        if (dcb != NULL)
            for (c = begin; c < end; c++) dcb[c] += g[c];
        if (dw == NULL) continue;
        for (i = 0; i < s->kh; i++) {
            const int64_t rr = r + i - s->ph;
            if (rr < 0 || rr >= GH) continue;
            for (j = 0; j < s->kw; j++) {
                const int64_t cc = col + j - s->pw;
                const int64_t tap = i * s->kw + j;
                const GC_T *u;
                if (cc < 0 || cc >= GW) continue;
                u = z + ((b * GH + rr) * GW + cc) * 2 * D;
                for (c = begin; c < end; c++) dw[c * K + tap] += g[c] * u[c];
            }
        }
    }
}
