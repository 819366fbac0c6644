/*
 * gated_conv.c -- the generic gated depthwise convolution `gated_conv` (docs/OPERATORS.md section 10) as an
 * OperatorZoo plugin in plain C99, built by its own Makefile (not by SwiftPM) against OperatorABI.h and its header-only helpers.
 *
 *     [u, g] = split_D(x in_proj.weight^T + in_proj.bias)          u, g: [B, L, D]
 *     v      = conv(u) + conv.bias                                 depthwise, per `mode`
 *     y      = (v * act(g)) out_proj.weight^T + out_proj.bias
 *
 * `mode` (the convolution):
 *   causal1d  CC_k along the token order: v[t] = sum_j w[j] u[t - (k-1) + j]   (zero before the start)
 *   same1d    PyTorch padding='same':     v[t] = sum_j w[j] u[t - (k-1)/2 + j]  (zero outside [0, L))
 *   same2d    a kh x kw depthwise conv on the H x W token grid with 'same' zero padding
 *             (top/left pad (kh-1)/2, (kw-1)/2; token r*W + c is cell (r, c))
 * `act` is identity | sigmoid | silu. `kernel_size` is k (1D) or kh,kw (2D; one value means square).
 *
 * Parameters, named as the natural PyTorch module names them (nn.Linear / depthwise nn.Conv1d or Conv2d),
 * with docs/OPERATORS.md's short names in brackets:
 *   in_proj.weight [2D, D] (in_w)   in_proj.bias [2D] (in_b)
 *   conv.weight    [D, 1, k] or [D, 1, kh, kw] (conv_w)   conv.bias [D] (conv_b)
 *   out_proj.weight [D, D] (out_w)  out_proj.bias [D] (out_b)
 * initialised as PyTorch does by default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases
 * (fan_in = D for the projections, k or kh*kw for the depthwise conv).
 *
 * Cost per forward: at most B*L*(3*D*D + D*K) multiply-adds (K = conv taps; the zero padding skips a few): the
 * projections dominate; the backward's gradient products are twice that, and without a saved buffer it first
 * recomputes the forward's in_proj and conv (gc_cost has the exact counts, ABI 1.3 `cost`). Linear in L, as `describe` declares (OZ_COMPLEXITY_LINEAR).
 * Receptive field: causal1d [t-(k-1), t] (causal); same1d [t-(k-1)/2, t+k-1-(k-1)/2]; same2d
 * [t-(ph*W+pw), t+(kh-1-ph)*W+(kw-1-pw)] in the 1D token order.
 *
 * The VJP (dy -> dx, dparams) reads z = in_proj(x), v and h from what a train-mode forward saved (ABI 1.4,
 * OZ_CAP_SAVE_FOR_BACKWARD: `saved` of workspace_size(OZ_PASS_SAVED) bytes, 4 D per token) or recomputes them in the
 * workspace, then runs the chain rule backwards: dh = dy W_out, dv = dh act(g), dg = dh v act'(g), du = conv^T(dv), dx = [du, dg] W_in. Every
 * gradient is a sum in a fixed order, so the operator is deterministic; float32 and float64 are supported.
 */
#include "OperatorPluginHelpers.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define GC_MAX_KERNEL 64
#define GC_NUM_PARAMS 6

enum { GC_MODE_CAUSAL1D = 0, GC_MODE_SAME1D = 1, GC_MODE_SAME2D = 2 };
enum { GC_ACT_IDENTITY = 0, GC_ACT_SIGMOID = 1, GC_ACT_SILU = 2 };

static const char *const gc_mode_names[] = {"causal1d", "same1d", "same2d"};

/* ------------------------------------------------------------------------------------------------ */
/* Instance and job types (shared by both element types of the kernels)                             */
/* ------------------------------------------------------------------------------------------------ */

struct oz_instance {
    int64_t dim;        /* D */
    int64_t grid_h;     /* H (same2d only) */
    int64_t grid_w;     /* W (same2d only) */
    int mode;           /* GC_MODE_* */
    int act;            /* GC_ACT_* */
    int64_t kh, kw;     /* kernel extents; 1D modes have kh = 1, kw = k */
    int64_t ph, pw;     /* top and left zero padding */
    void (*parallel_for)(void *host_context, int64_t n, int64_t grain, oz_range_fn body, void *context);
    void *host_context;
};

/* The sizes of one call: the grid is (1, L) for the 1D modes and (H, W) for same2d. */
typedef struct gc_geometry {
    int64_t rows;             /* N = B * L */
    int64_t dim;              /* D */
    int64_t grid_h, grid_w;   /* GH * GW = L */
    int64_t kh, kw, ph, pw;
    int act;
} gc_geometry;

typedef struct { const void *x, *w, *b; void *y; int64_t in, out; } gc_linear_job;
typedef struct { const void *dy, *w; void *dx; int64_t in, out; } gc_linear_dx_job;
typedef struct { const void *dy, *x; void *dw, *db; int64_t rows, in, out; } gc_linear_dw_job;
typedef struct { const gc_geometry *geometry; const void *z, *w, *cb; void *v, *h; } gc_conv_job;
typedef struct { const gc_geometry *geometry; const void *z, *v; void *dh, *dz; } gc_gate_job;
typedef struct { const gc_geometry *geometry; const void *dv, *w; void *dz; } gc_conv_dx_job;
typedef struct { const gc_geometry *geometry; const void *dv, *z; void *dw, *dcb; } gc_conv_dw_job;

#define GC_T float
#define GC_NAME(n) n##_f32
#define GC_EXP expf
#include "gated_conv_kernels.h"
#undef GC_T
#undef GC_NAME
#undef GC_EXP

#define GC_T double
#define GC_NAME(n) n##_f64
#define GC_EXP exp
#include "gated_conv_kernels.h"
#undef GC_T
#undef GC_NAME
#undef GC_EXP

/* Runs `body` over [0, n) on the host's pool (ranges of at least `grain`), or serially without one. */
static void gc_parallel(const oz_instance *inst, int64_t n, int64_t work_per_index, oz_range_fn body, void *job) {
    /* About 32k multiply-adds per range keeps the pool busy without drowning it in tiny tasks. */
    const int64_t grain = work_per_index >= 32768 ? 1 : 32768 / (work_per_index > 0 ? work_per_index : 1);
    if (n <= 0) return;
    if (inst->parallel_for != NULL && n > grain)
        inst->parallel_for(inst->host_context, n, grain, body, job);
    else
        body(job, 0, n);
}

/* ------------------------------------------------------------------------------------------------ */
/* Attributes                                                                                       */
/* ------------------------------------------------------------------------------------------------ */

static const int64_t gc_default_kernel[] = {4};

static const oz_attr_def gc_attr_mode = {
    .struct_size = sizeof(oz_attr_def),
    .type = OZ_ATTR_STRING,
    .name = "mode",
    .doc = "the convolution: causal1d (CC_k), same1d (padding='same' along the tokens) or same2d (kh x kw on the grid)",
    .default_value = {.struct_size = sizeof(oz_attr_value), .type = OZ_ATTR_STRING, .count = 0, .string = "causal1d"},
    .min_int = 1, .max_int = 0, .min_float = 1.0, .max_float = 0.0,
    .choices = "causal1d|same1d|same2d",
};

static const oz_attr_def gc_attr_kernel_size = {
    .struct_size = sizeof(oz_attr_def),
    .type = OZ_ATTR_INT_LIST,
    .name = "kernel_size",
    .doc = "conv taps: k for the 1D modes; kh,kw (or one k for k x k) for same2d",
    .default_value = {.struct_size = sizeof(oz_attr_value), .type = OZ_ATTR_INT_LIST, .count = 1, .ints = gc_default_kernel},
    .min_int = 1, .max_int = GC_MAX_KERNEL, .min_float = 1.0, .max_float = 0.0,
};

static const oz_attr_def gc_attr_act = {
    .struct_size = sizeof(oz_attr_def),
    .type = OZ_ATTR_STRING,
    .name = "act",
    .doc = "the gate's activation: identity, sigmoid (GLU) or silu",
    .default_value = {.struct_size = sizeof(oz_attr_value), .type = OZ_ATTR_STRING, .count = 0, .string = "sigmoid"},
    .min_int = 1, .max_int = 0, .min_float = 1.0, .max_float = 0.0,
    .choices = "identity|sigmoid|silu",
};

static const oz_attr_def *const gc_attrs[] = {&gc_attr_mode, &gc_attr_kernel_size, &gc_attr_act};

static const char *const gc_attr_names[] = {"mode", "kernel_size", "act"};

/* Reads the attributes into `inst` (mode, act, kernel) and validates them. */
static oz_status gc_read_attrs(const oz_create_args *args, oz_instance *inst, oz_error *err) {
    int64_t kernel[2] = {gc_default_kernel[0], gc_default_kernel[0]};
    uint32_t kernel_count = 1;
    oz_status status;

    if ((status = oz_attrs_check_known(args, gc_attr_names, 3, "gated_conv", "mode, kernel_size, act", err)) != OZ_OK)
        return status;
    /* The choices are the schema's (gc_attr_mode.choices, gc_attr_act.choices), in GC_MODE_* and GC_ACT_* order. */
    if ((status = oz_attr_get_choice(args, "mode", gc_attr_mode.choices, GC_MODE_CAUSAL1D, &inst->mode, err)) != OZ_OK)
        return status;
    if ((status = oz_attr_get_int_list(args, "kernel_size", gc_default_kernel, 1, 1, 2, 1, GC_MAX_KERNEL, kernel,
                                       &kernel_count, err)) != OZ_OK)
        return status;
    if ((status = oz_attr_get_choice(args, "act", gc_attr_act.choices, GC_ACT_SIGMOID, &inst->act, err)) != OZ_OK)
        return status;
    if (inst->mode == GC_MODE_SAME2D) {
        inst->kh = kernel[0];
        inst->kw = kernel_count == 2 ? kernel[1] : kernel[0];
        inst->ph = (inst->kh - 1) / 2;
        inst->pw = (inst->kw - 1) / 2;
    } else {
        if (kernel_count != 1)
            return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "attribute 'kernel_size' has %u values, but mode '%s' takes one",
                           (unsigned)kernel_count, gc_mode_names[inst->mode]);
        inst->kh = 1;
        inst->kw = kernel[0];
        inst->ph = 0;
        inst->pw = inst->mode == GC_MODE_CAUSAL1D ? kernel[0] - 1 : (kernel[0] - 1) / 2;
    }
    return OZ_OK;
}

/* ------------------------------------------------------------------------------------------------ */
/* Instance                                                                                         */
/* ------------------------------------------------------------------------------------------------ */

static oz_status gc_create(const oz_operator *op, const oz_create_args *args, oz_instance **out, oz_error *err) {
    oz_instance *inst;
    oz_status status;

    if (out == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "create: out is NULL");
    *out = NULL;
    if (op == NULL || args == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "create: op or args is NULL");
    if (args->struct_size < OZ_COVERS(oz_create_args, host))
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "oz_create_args.struct_size is %u bytes, but ABI version 1 needs %u",
                       (unsigned)args->struct_size, (unsigned)OZ_COVERS(oz_create_args, host));
    if (args->dim < 1 || args->dim > (int64_t)1 << 20)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "model width D = %lld must be in 1...2^20", (long long)args->dim);
    inst = (oz_instance *)calloc(1, sizeof *inst);
    if (inst == NULL) return oz_fail(err, OZ_ERR_OUT_OF_MEMORY, "could not allocate the instance");
    inst->dim = args->dim;
    if ((status = gc_read_attrs(args, inst, err)) != OZ_OK) {
        free(inst);
        return status;
    }
    if (inst->mode == GC_MODE_SAME2D) {
        if (args->grid_h < 1 || args->grid_w < 1 || args->grid_h > (int64_t)1 << 20 || args->grid_w > (int64_t)1 << 20) {
            free(inst);
            return oz_fail(err, OZ_ERR_INVALID_ARGUMENT,
                           "mode 'same2d' needs the token grid (--grid HxW), but H x W = %lld x %lld was given",
                           (long long)args->grid_h, (long long)args->grid_w);
        }
        inst->grid_h = args->grid_h;
        inst->grid_w = args->grid_w;
    }
    if (args->host != NULL && args->host->struct_size >= OZ_COVERS(oz_host_services, parallel_for)) {
        inst->parallel_for = args->host->parallel_for;
        inst->host_context = args->host->host_context;
    }
    *out = inst;
    return OZ_OK;
}

static void gc_destroy(oz_instance *instance) { free(instance); }

static oz_status gc_describe(const oz_instance *inst, oz_instance_info *info, oz_error *err) {
    uint32_t size;
    int64_t left, right;
    if (inst == NULL || info == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "describe: instance or info is NULL");
    size = info->struct_size;
    if (size < OZ_COVERS(oz_instance_info, num_params))
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "oz_instance_info.struct_size is %u bytes, too small", (unsigned)size);
    if (inst->mode == GC_MODE_SAME2D) {
        left = inst->ph * inst->grid_w + inst->pw;
        right = (inst->kh - 1 - inst->ph) * inst->grid_w + (inst->kw - 1 - inst->pw);
    } else {
        left = inst->pw;
        right = inst->kw - 1 - inst->pw;
    }
    info->flags = OZ_INSTANCE_RECEPTIVE_FIELD | (inst->mode == GC_MODE_CAUSAL1D ? OZ_INSTANCE_CAUSAL : 0u);
    info->num_params = GC_NUM_PARAMS;
    if (size >= OZ_COVERS(oz_instance_info, reserved)) info->reserved = 0;
    if (size >= OZ_COVERS(oz_instance_info, receptive_left)) info->receptive_left = left;
    if (size >= OZ_COVERS(oz_instance_info, receptive_right)) info->receptive_right = right;
    if (size >= OZ_COVERS(oz_instance_info, fixed_length)) info->fixed_length = 0;
    /* Since ABI 1.2: linear in L in every mode (the projections are per token, the conv has K taps). */
    if (size >= OZ_COVERS(oz_instance_info, complexity)) info->complexity = OZ_COMPLEXITY_LINEAR;
    if (size >= OZ_COVERS(oz_instance_info, reserved2)) info->reserved2 = 0;
    return OZ_OK;
}

static const char *const gc_param_names[GC_NUM_PARAMS] = {
    "in_proj.weight", "in_proj.bias", "conv.weight", "conv.bias", "out_proj.weight", "out_proj.bias",
};

/* Rank and shape of parameter `index`. */
static uint32_t gc_param_shape(const oz_instance *inst, uint32_t index, int64_t shape[4]) {
    const int64_t D = inst->dim;
    switch (index) {
    case 0: shape[0] = 2 * D; shape[1] = D; return 2;
    case 1: shape[0] = 2 * D; return 1;
    case 2:
        shape[0] = D;
        shape[1] = 1;
        if (inst->mode == GC_MODE_SAME2D) {
            shape[2] = inst->kh;
            shape[3] = inst->kw;
            return 4;
        }
        shape[2] = inst->kw;
        return 3;
    case 3: shape[0] = D; return 1;
    case 4: shape[0] = D; shape[1] = D; return 2;
    default: shape[0] = D; return 1;
    }
}

static oz_status gc_get_param(const oz_instance *inst, uint32_t index, oz_param_info *info, oz_error *err) {
    int64_t shape[4];
    uint32_t rank, d;
    if (inst == NULL || info == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "get_param: instance or info is NULL");
    if (index >= GC_NUM_PARAMS)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "parameter index %u is out of range ('gated_conv' has %d)",
                       (unsigned)index, GC_NUM_PARAMS);
    if (info->struct_size < OZ_COVERS(oz_param_info, shape))
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "oz_param_info.struct_size is %u bytes, too small", (unsigned)info->struct_size);
    rank = gc_param_shape(inst, index, shape);
    info->ndim = rank;
    info->name = gc_param_names[index];
    for (d = 0; d < rank; d++) info->shape[d] = shape[d];
    return OZ_OK;
}

/* ------------------------------------------------------------------------------------------------ */
/* Tensor validation                                                                                */
/* ------------------------------------------------------------------------------------------------ */

/*
 * Checks an activation [B, L, D]: alone when `ref` is NULL (x: any B, L >= 1), else against `ref` (x, already
 * checked: the same B, L and dtype). In mode same2d, L must be the grid's H*W.
 */
static oz_status gc_check_activation(const oz_instance *inst, const oz_tensor *t, const char *name, const oz_tensor *ref,
                                     oz_error *err) {
    const int64_t b = ref != NULL ? ref->shape[0] : OZ_ANY_EXTENT, l = ref != NULL ? ref->shape[1] : OZ_ANY_EXTENT;
    oz_status status;
    if ((status = oz_check_activation(t, name, b, l, inst->dim, 1, err)) != OZ_OK) return status;
    if (ref != NULL && (status = oz_check_same_dtype(ref, "x", t, name, err)) != OZ_OK) return status;
    if (inst->mode == GC_MODE_SAME2D && t->shape[1] != inst->grid_h * inst->grid_w)
        return oz_fail(err, OZ_ERR_SHAPE, "tensor '%s' has L = %lld, but mode 'same2d' on the %lld x %lld grid needs L = %lld",
                       name, (long long)t->shape[1], (long long)inst->grid_h, (long long)inst->grid_w,
                       (long long)(inst->grid_h * inst->grid_w));
    return OZ_OK;
}

/*
 * Checks parameter tensor `index` (named `what` + its name) and that it has the dtype of `ref` (named `ref_name`).
 * `allow_null`: a NULL data pointer means "not wanted" and is skipped.
 */
static oz_status gc_check_param(const oz_instance *inst, const oz_tensor *t, uint32_t index, const oz_tensor *ref,
                                const char *ref_name, int allow_null, const char *what, oz_error *err) {
    int64_t shape[4];
    char name[64];
    const int32_t rank = (int32_t)gc_param_shape(inst, index, shape);
    oz_status status;
    if (allow_null && t->data == NULL) return OZ_OK;
    snprintf(name, sizeof name, "%s%s", what, gc_param_names[index]);
    if ((status = oz_check_tensor(t, name, rank, shape, 1, err)) != OZ_OK) return status;
    return oz_check_same_dtype(ref, ref_name, t, name, err);
}

/* ------------------------------------------------------------------------------------------------ */
/* Parameters and workspace                                                                         */
/* ------------------------------------------------------------------------------------------------ */

static uint64_t gc_splitmix(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static oz_status gc_init_params(const oz_instance *inst, uint64_t seed, oz_tensor *params, uint32_t num_params, oz_error *err) {
    uint32_t p;
    oz_status status;
    if (inst == NULL || (params == NULL && num_params > 0))
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "init_params: instance or params is NULL");
    if (num_params != GC_NUM_PARAMS)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "init_params: num_params is %u, expected %d", (unsigned)num_params,
                       GC_NUM_PARAMS);
    for (p = 0; p < GC_NUM_PARAMS; p++)
        if ((status = gc_check_param(inst, &params[p], p, &params[0], gc_param_names[0], 0, "", err)) != OZ_OK)
            return status;
    for (p = 0; p < GC_NUM_PARAMS; p++) {
        /* PyTorch's defaults: nn.Linear and nn.Conv draw weight and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
        const double fan_in = p >= 2 && p <= 3 ? (double)(inst->kh * inst->kw) : (double)inst->dim;
        const double bound = 1.0 / sqrt(fan_in);
        const int64_t count = oz_tensor_numel(&params[p]);
        uint64_t state = seed ^ ((uint64_t)(p + 1) * 0xD1B54A32D192ED03ull);
        int64_t i;
        for (i = 0; i < count; i++) {
            const double u = (double)(gc_splitmix(&state) >> 11) * 0x1.0p-53;
            const double v = (2.0 * u - 1.0) * bound;
            if (params[p].dtype.bits == 64)
                ((double *)params[p].data)[i] = v;
            else
                ((float *)params[p].data)[i] = (float)v;
        }
    }
    return OZ_OK;
}

/*
 * Elements per token: the workspace holds z (2D) and h (D) forward; z, v, h, dh (D each but z) and dz (2D) backward.
 * The saved buffer (OZ_PASS_SAVED) holds z, v and h, in that order (gc_saved_layout).
 */
static int64_t gc_workspace_per_token(const oz_instance *inst, uint32_t pass) {
    return (pass == OZ_PASS_FORWARD ? 3 : pass == OZ_PASS_SAVED ? 4 : 7) * inst->dim;
}

static oz_status gc_workspace_size(const oz_instance *inst, uint32_t pass, int64_t batch, int64_t length, uint64_t *bytes,
                                   oz_error *err) {
    int64_t per;
    if (inst == NULL || bytes == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "workspace_size: instance or bytes is NULL");
    if (pass != OZ_PASS_FORWARD && pass != OZ_PASS_BACKWARD && pass != OZ_PASS_SAVED)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "workspace_size: unknown pass %u", (unsigned)pass);
    if (batch < 0 || length < 0)
        return oz_fail(err, OZ_ERR_SHAPE, "workspace_size: batch %lld and length %lld must not be negative", (long long)batch,
                       (long long)length);
    per = gc_workspace_per_token(inst, pass) * 8; /* sized for float64, which is the larger */
    if (batch > 0 && length > INT64_MAX / per / batch) return oz_fail(err, OZ_ERR_SHAPE, "workspace_size: B * L is too large");
    *bytes = (uint64_t)(batch * length * per);
    return OZ_OK;
}

/*
 * In-bounds (cell, tap) pairs along one axis of `extent` cells for `k` taps where tap j of cell r reads cell
 * r + j - pad: sum_j max(0, extent - |j - pad|), the pairs the conv loops of gated_conv_kernels.h visit (they skip
 * taps that fall outside the sequence or grid). Returns 0 on overflow.
 */
static int gc_axis_taps(int64_t extent, int64_t k, int64_t pad, uint64_t *taps) {
    int64_t j;
    *taps = 0;
    for (j = 0; j < k; j++) {
        const int64_t offset = j > pad ? j - pad : pad - j;
        if (offset < extent && !oz_u64_add(*taps, (uint64_t)(extent - offset), taps)) return 0;
    }
    return 1;
}

/*
 * ABI 1.3 cost of one call on B x L tokens (float32), under OperatorABI.h's convention: FLOPs of matrix products
 * and convolutions only (a multiply-add = 2; act, the gate, biases and the bias-gradient sums are left out), bytes of
 * the host buffers each pass reads and writes. With N = B L tokens, K = kh kw taps and T the in-bounds (cell, tap)
 * pairs of one sample (gc_axis_taps: T = taps(L, k, pw) in the 1D modes, taps(H, kh, ph) taps(W, kw, pw) in
 * same2d; T <= L K, short of it only by the taps the zero padding skips), the loops do these multiply-adds:
 *
 *   forward:  in_proj (gc_linear_range, D -> 2D)       2 N D^2
 *             conv (gc_conv_range)                     B D T
 *             out_proj (gc_linear_range, D -> D)       N D^2
 *   backward: out_proj.weight grad (gc_linear_dw)      N D^2
 *             dh = dy W_out (gc_linear_dx)             N D^2
 *             du = conv^T(dv) (gc_conv_dx_range)       B D T
 *             conv.weight grad (gc_conv_dw_range)      B D T
 *             dx = [du, dg] W_in (gc_linear_dx)        2 N D^2
 *             in_proj.weight grad (gc_linear_dw)       2 N D^2
 *             (first it recomputes the forward's in_proj and conv, 2 N D^2 + B D T, which is not counted: like
 *             every shipped operator's, backward_flops is the gradient products alone, here twice the forward)
 *
 *   forward_flops  = 2 (3 N D^2 + B D T)
 *   backward_flops = 2 (6 N D^2 + 2 B D T)      with dx and every parameter gradient wanted (the call skips the
 *                                               products whose outputs are not)
 *   forward_bytes  = 4 (2 N D + P)              x, y and the parameters, P = 3 D^2 + 4 D + D K elements
 *   backward_bytes = 4 (3 N D + 2 P)            x, dy, dx, the parameters and their gradients
 *
 * The workspace is scratch, not counted. As in forward, B and L must be at least 1 and, in same2d, L must be H*W
 * (OZ_ERR_SHAPE otherwise); a count past 64 bits is OZ_ERR_UNSUPPORTED.
 */
static oz_status gc_cost(const oz_instance *inst, int64_t batch, int64_t length, oz_cost *cost, oz_error *err) {
    uint64_t D, taps, rows, cols, tokens, products, conv, params, activations, t;
    uint64_t forward_flops, backward_flops, forward_bytes, backward_bytes;
    int ok;
    if (inst == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "cost: instance is NULL");
    if (batch < 1 || length < 1) /* as forward, which takes B, L >= 1 */
        return oz_fail(err, OZ_ERR_SHAPE, "cost: batch %lld and length %lld must be at least 1", (long long)batch,
                       (long long)length);
    if (inst->mode == GC_MODE_SAME2D && length != inst->grid_h * inst->grid_w)
        return oz_fail(err, OZ_ERR_SHAPE, "cost: L = %lld, but mode 'same2d' on the %lld x %lld grid needs L = %lld",
                       (long long)length, (long long)inst->grid_h, (long long)inst->grid_w,
                       (long long)(inst->grid_h * inst->grid_w));
    D = (uint64_t)inst->dim; /* <= 2^20, so D^2 and P fit easily */
    params = 3 * D * D + 4 * D + D * (uint64_t)(inst->kh * inst->kw);
    if (inst->mode == GC_MODE_SAME2D)
        ok = gc_axis_taps(inst->grid_h, inst->kh, inst->ph, &rows) && gc_axis_taps(inst->grid_w, inst->kw, inst->pw, &cols) &&
             oz_u64_mul(rows, cols, &taps);
    else
        ok = gc_axis_taps(length, inst->kw, inst->pw, &taps);
    ok = ok && oz_u64_mul((uint64_t)batch, (uint64_t)length, &tokens) && oz_u64_mul(tokens, D * D, &products) &&
         oz_u64_mul(tokens, D, &activations) && oz_u64_mul((uint64_t)batch, taps, &conv) && oz_u64_mul(conv, D, &conv);
    ok = ok && oz_u64_mul(products, 2 * 3, &forward_flops) && oz_u64_mul(conv, 2 * 1, &t) &&
         oz_u64_add(forward_flops, t, &forward_flops);
    ok = ok && oz_u64_mul(products, 2 * 6, &backward_flops) && oz_u64_mul(conv, 2 * 2, &t) &&
         oz_u64_add(backward_flops, t, &backward_flops);
    ok = ok && oz_u64_mul(activations, 2, &forward_bytes) && oz_u64_add(forward_bytes, params, &forward_bytes) &&
         oz_u64_mul(forward_bytes, 4, &forward_bytes);
    ok = ok && oz_u64_mul(activations, 3, &backward_bytes) && oz_u64_add(backward_bytes, 2 * params, &backward_bytes) &&
         oz_u64_mul(backward_bytes, 4, &backward_bytes);
    if (!ok)
        return oz_fail(err, OZ_ERR_UNSUPPORTED, "cost: the cost at B = %lld, L = %lld, D = %lld overflows 64 bits",
                       (long long)batch, (long long)length, (long long)inst->dim);
    return oz_cost_write(cost, forward_flops, backward_flops, forward_bytes, backward_bytes, err);
}

/* ------------------------------------------------------------------------------------------------ */
/* forward / backward                                                                               */
/* ------------------------------------------------------------------------------------------------ */

static gc_geometry gc_make_geometry(const oz_instance *inst, int64_t batch, int64_t length) {
    gc_geometry g;
    g.rows = batch * length;
    g.dim = inst->dim;
    g.grid_h = inst->mode == GC_MODE_SAME2D ? inst->grid_h : 1;
    g.grid_w = inst->mode == GC_MODE_SAME2D ? inst->grid_w : length;
    g.kh = inst->kh;
    g.kw = inst->kw;
    g.ph = inst->ph;
    g.pw = inst->pw;
    g.act = inst->act;
    return g;
}

/* The kernels of one element type. */
typedef struct gc_kernels {
    oz_range_fn linear, linear_dx, linear_dw, conv, gate, conv_dx, conv_dw;
} gc_kernels;

static const gc_kernels gc_kernels_f32 = {gc_linear_range_f32, gc_linear_dx_range_f32, gc_linear_dw_range_f32,
                                          gc_conv_range_f32,   gc_gate_range_f32,      gc_conv_dx_range_f32,
                                          gc_conv_dw_range_f32};
static const gc_kernels gc_kernels_f64 = {gc_linear_range_f64, gc_linear_dx_range_f64, gc_linear_dw_range_f64,
                                          gc_conv_range_f64,   gc_gate_range_f64,      gc_conv_dx_range_f64,
                                          gc_conv_dw_range_f64};

/* Checks that the workspace holds what `pass` needs at B and L. */
static oz_status gc_check_workspace(const oz_instance *inst, uint32_t pass, int64_t batch, int64_t length, const void *workspace,
                                    uint64_t size, oz_error *err) {
    uint64_t needed;
    oz_status status = gc_workspace_size(inst, pass, batch, length, &needed, err);
    if (status != OZ_OK) return status;
    if (size < needed || (needed > 0 && workspace == NULL))
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "the workspace has %llu bytes%s; this call needs %llu",
                       (unsigned long long)size, workspace == NULL ? " (NULL)" : "", (unsigned long long)needed);
    return OZ_OK;
}

/*
 * The train-mode buffer of a forward or backward call: `*saved` is NULL when the caller's struct ends before it or
 * passes none, else the buffer, checked to hold workspace_size(OZ_PASS_SAVED) bytes at B and L.
 */
static oz_status gc_saved_buffer(const oz_instance *inst, const char *pass, int covered, const void *buffer, uint64_t size,
                                 int64_t batch, int64_t length, const void **saved, oz_error *err) {
    uint64_t needed = 0;
    oz_status status;
    *saved = NULL;
    if (!covered || buffer == NULL) return OZ_OK;
    if ((status = gc_workspace_size(inst, OZ_PASS_SAVED, batch, length, &needed, err)) != OZ_OK) return status;
    if (size < needed)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "%s: the saved buffer has %llu bytes; this call needs %llu", pass,
                       (unsigned long long)size, (unsigned long long)needed);
    *saved = buffer;
    return OZ_OK;
}

/* z (rows x 2D), v and h (rows x D each) inside a saved buffer of `elem`-byte scalars. */
static void gc_saved_layout(const void *saved, int64_t rows, int64_t dim, size_t elem, void **z, void **v, void **h) {
    char *base = (char *)saved;
    *z = base;
    *v = base + (size_t)(rows * 2 * dim) * elem;
    *h = base + (size_t)(rows * 3 * dim) * elem;
}

static oz_status gc_forward(oz_instance *inst, const oz_forward_args *args, oz_error *err) {
    int64_t batch, length;
    unsigned bits;
    uint32_t p;
    size_t elem;
    oz_status status;
    gc_geometry geo;
    const gc_kernels *k;
    char *ws;
    const void *saved;
    void *z, *v, *h;
    const int64_t D = inst != NULL ? inst->dim : 0;

    if (inst == NULL || args == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "forward: instance or args is NULL");
    if (args->struct_size < OZ_COVERS(oz_forward_args, workspace_size))
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "oz_forward_args.struct_size is %u bytes, but ABI version 1 needs %u",
                       (unsigned)args->struct_size, (unsigned)OZ_COVERS(oz_forward_args, workspace_size));
    if ((status = gc_check_activation(inst, args->x, "x", NULL, err)) != OZ_OK) return status;
    if ((status = gc_check_activation(inst, args->y, "y", args->x, err)) != OZ_OK) return status;
    batch = args->x->shape[0];
    length = args->x->shape[1];
    bits = args->x->dtype.bits;
    if (args->num_params != GC_NUM_PARAMS || args->params == NULL)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "forward: %u parameters given, expected %d", (unsigned)args->num_params,
                       GC_NUM_PARAMS);
    for (p = 0; p < GC_NUM_PARAMS; p++)
        if ((status = gc_check_param(inst, &args->params[p], p, args->x, "x", 0, "", err)) != OZ_OK) return status;
    if ((status = gc_check_workspace(inst, OZ_PASS_FORWARD, batch, length, args->workspace, args->workspace_size, err)) != OZ_OK)
        return status;
    if ((status = gc_saved_buffer(inst, "forward", args->struct_size >= OZ_COVERS(oz_forward_args, saved_size), args->saved,
                                  args->saved_size, batch, length, &saved, err)) != OZ_OK)
        return status;

    geo = gc_make_geometry(inst, batch, length);
    k = bits == 64 ? &gc_kernels_f64 : &gc_kernels_f32;
    elem = bits / 8;
    ws = (char *)args->workspace;
    z = ws;
    v = NULL; /* the plain forward does not keep v */
    h = ws + (size_t)(geo.rows * 2 * D) * elem;
    if (saved != NULL) gc_saved_layout(saved, geo.rows, D, elem, &z, &v, &h);
    {
        gc_linear_job in_proj = {args->x->data, args->params[0].data, args->params[1].data, z, D, 2 * D};
        gc_conv_job conv = {&geo, z, args->params[2].data, args->params[3].data, v, h};
        gc_linear_job out_proj = {h, args->params[4].data, args->params[5].data, args->y->data, D, D};
        gc_parallel(inst, geo.rows, 2 * D * D, k->linear, &in_proj);
        gc_parallel(inst, geo.rows, D * inst->kh * inst->kw, k->conv, &conv);
        gc_parallel(inst, geo.rows, D * D, k->linear, &out_proj);
    }
    return OZ_OK;
}

static oz_status gc_backward(oz_instance *inst, const oz_backward_args *args, oz_error *err) {
    int64_t batch, length;
    unsigned bits;
    uint32_t p;
    size_t elem;
    oz_status status;
    gc_geometry geo;
    const gc_kernels *k;
    char *ws;
    const void *saved;
    void *z, *v, *h, *dh, *dz;
    void *grad[GC_NUM_PARAMS] = {NULL, NULL, NULL, NULL, NULL, NULL};
    int need_dz;
    const int64_t D = inst != NULL ? inst->dim : 0;

    if (inst == NULL || args == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "backward: instance or args is NULL");
    if (args->struct_size < OZ_COVERS(oz_backward_args, workspace_size))
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "oz_backward_args.struct_size is %u bytes, but ABI version 1 needs %u",
                       (unsigned)args->struct_size, (unsigned)OZ_COVERS(oz_backward_args, workspace_size));
    if ((status = gc_check_activation(inst, args->x, "x", NULL, err)) != OZ_OK) return status;
    if ((status = gc_check_activation(inst, args->dy, "dy", args->x, err)) != OZ_OK) return status;
    if (args->dx != NULL && (status = gc_check_activation(inst, args->dx, "dx", args->x, err)) != OZ_OK) return status;
    batch = args->x->shape[0];
    length = args->x->shape[1];
    bits = args->x->dtype.bits;
    if (args->num_params != GC_NUM_PARAMS || args->params == NULL)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "backward: %u parameters given, expected %d", (unsigned)args->num_params,
                       GC_NUM_PARAMS);
    for (p = 0; p < GC_NUM_PARAMS; p++) {
        if ((status = gc_check_param(inst, &args->params[p], p, args->x, "x", 0, "", err)) != OZ_OK) return status;
        if (args->dparams != NULL) {
            if ((status = gc_check_param(inst, &args->dparams[p], p, args->x, "x", 1, "gradient of ", err)) != OZ_OK)
                return status;
            grad[p] = args->dparams[p].data;
        }
    }
    if ((status = gc_check_workspace(inst, OZ_PASS_BACKWARD, batch, length, args->workspace, args->workspace_size, err)) != OZ_OK)
        return status;
    if ((status = gc_saved_buffer(inst, "backward", args->struct_size >= OZ_COVERS(oz_backward_args, saved_size),
                                  args->saved, args->saved_size, batch, length, &saved, err)) != OZ_OK)
        return status;

    geo = gc_make_geometry(inst, batch, length);
    k = bits == 64 ? &gc_kernels_f64 : &gc_kernels_f32;
    elem = bits / 8;
    ws = (char *)args->workspace;
    z = ws;
    v = ws + (size_t)(geo.rows * 2 * D) * elem;
    h = (char *)v + (size_t)(geo.rows * D) * elem;
    dh = (char *)h + (size_t)(geo.rows * D) * elem;
    dz = (char *)dh + (size_t)(geo.rows * D) * elem;
    /* The saved z, v and h are only read: the gate writes dh and dz, which stay in the workspace. */
    if (saved != NULL) gc_saved_layout(saved, geo.rows, D, elem, &z, &v, &h);
    need_dz = args->dx != NULL || grad[0] != NULL || grad[1] != NULL || grad[2] != NULL || grad[3] != NULL;
    if (!need_dz && grad[4] == NULL && grad[5] == NULL) return OZ_OK; /* nothing wanted */
    {
        /* z = in_proj(x), v = conv(u) + cb, h = v * act(g): recomputed unless saved. */
        gc_linear_job in_proj = {args->x->data, args->params[0].data, args->params[1].data, z, D, 2 * D};
        gc_conv_job conv = {&geo, z, args->params[2].data, args->params[3].data, v, h};
        gc_linear_dw_job out_dw = {args->dy->data, h, grad[4], grad[5], geo.rows, D, D};
        gc_linear_dx_job out_dx = {args->dy->data, args->params[4].data, dh, D, D};
        gc_gate_job gate = {&geo, z, v, dh, dz};
        gc_conv_dx_job conv_dx = {&geo, dh, args->params[2].data, dz};
        gc_conv_dw_job conv_dw = {&geo, dh, z, grad[2], grad[3]};
        gc_linear_dx_job in_dx = {dz, args->params[0].data, args->dx != NULL ? args->dx->data : NULL, D, 2 * D};
        gc_linear_dw_job in_dw = {dz, args->x->data, grad[0], grad[1], geo.rows, D, 2 * D};

        if (saved == NULL) {
            gc_parallel(inst, geo.rows, 2 * D * D, k->linear, &in_proj);
            gc_parallel(inst, geo.rows, D * inst->kh * inst->kw, k->conv, &conv);
        }
        if (grad[4] != NULL || grad[5] != NULL) gc_parallel(inst, D, geo.rows * D, k->linear_dw, &out_dw);
        if (!need_dz) return OZ_OK;
        gc_parallel(inst, geo.rows, D * D, k->linear_dx, &out_dx);              /* dh = dy W_out */
        gc_parallel(inst, geo.rows, D, k->gate, &gate);                         /* dh := dv; dz[:, D:] = dg */
        gc_parallel(inst, geo.rows, D * inst->kh * inst->kw, k->conv_dx, &conv_dx); /* dz[:, :D] = du */
        if (grad[2] != NULL || grad[3] != NULL) gc_parallel(inst, D, geo.rows * inst->kh * inst->kw, k->conv_dw, &conv_dw);
        if (args->dx != NULL) gc_parallel(inst, geo.rows, 2 * D * D, k->linear_dx, &in_dx);
        if (grad[0] != NULL || grad[1] != NULL) gc_parallel(inst, 2 * D, geo.rows * D, k->linear_dw, &in_dw);
    }
    return OZ_OK;
}

/* ------------------------------------------------------------------------------------------------ */
/* Tables and the entry point                                                                       */
/* ------------------------------------------------------------------------------------------------ */

static const oz_operator gc_operator = {
    .struct_size = sizeof(oz_operator),
    .role = OZ_ROLE_TOKEN_MIXER,
    .id = "gated_conv",
    .version = "1.0.0",
    .summary = "gated depthwise convolution y = Lin_out(conv(u) * act(g)), [u, g] = split(Lin_in(x)); causal1d, same1d "
               "or same2d (docs/OPERATORS.md section 10); O(B*L*D*(3D + K)) per forward",
    .capabilities = OZ_CAP_BACKWARD | OZ_CAP_DETERMINISTIC | OZ_CAP_REENTRANT | OZ_CAP_FLOAT64 | OZ_CAP_SAVE_FOR_BACKWARD,
    .num_attrs = (uint32_t)(sizeof gc_attrs / sizeof gc_attrs[0]),
    .attrs = gc_attrs,
    .create = gc_create,
    .destroy = gc_destroy,
    .describe = gc_describe,
    .get_param = gc_get_param,
    .init_params = gc_init_params,
    .workspace_size = gc_workspace_size,
    .forward = gc_forward,
    .backward = gc_backward,
    .cost = gc_cost,
};

static const oz_operator *const gc_operators[] = {&gc_operator};

static const oz_plugin gc_plugin = {
    .struct_size = sizeof(oz_plugin),
    .abi_major = OZ_ABI_MAJOR,
    .abi_minor = OZ_ABI_MINOR,
    .num_operators = (uint32_t)(sizeof gc_operators / sizeof gc_operators[0]),
    .name = "OZGatedConvC",
    .version = "1.0.0",
    .license = "MIT",
    .description = "gated depthwise convolution mixer, plain C99 built by its own Makefile against OperatorABI.h and its header-only helpers",
    .operators = gc_operators,
};

OZ_EXPORT const oz_plugin *oz_plugin_entry(void);

OZ_EXPORT const oz_plugin *oz_plugin_entry(void) { return &gc_plugin; }
