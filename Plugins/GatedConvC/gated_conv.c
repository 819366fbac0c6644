/*
 * gated_conv.c -- the generic gated depthwise convolution `gated_conv` (docs/OPERATORS.md section 10) as an
 * OperatorZoo plugin in plain C99, built by its own Makefile (not by SwiftPM) against OperatorABI.h alone.
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
 * Cost per forward: B*L*(3*D*D + D*K) multiply-adds (K = conv taps): the projections dominate; the
 * backward is about twice that. Linear in L, as `describe` declares (OZ_COMPLEXITY_LINEAR). Receptive field: causal1d [t-(k-1), t] (causal); same1d
 * [t-(k-1)/2, t+k-1-(k-1)/2]; same2d [t-(ph*W+pw), t+(kh-1-ph)*W+(kw-1-pw)] in the 1D token order.
 *
 * The VJP (dy -> dx, dparams) recomputes the forward in the workspace, then runs the chain rule
 * backwards: dh = dy W_out, dv = dh act(g), dg = dh v act'(g), du = conv^T(dv), dx = [du, dg] W_in. Every
 * gradient is a sum in a fixed order, so the operator is deterministic; float32 and float64 are supported.
 */
#include "OperatorABI.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GC_COVERS(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))
#define GC_MAX_KERNEL 64
#define GC_NUM_PARAMS 6

enum { GC_MODE_CAUSAL1D = 0, GC_MODE_SAME1D = 1, GC_MODE_SAME2D = 2 };
enum { GC_ACT_IDENTITY = 0, GC_ACT_SIGMOID = 1, GC_ACT_SILU = 2 };

static const char *const gc_mode_names[] = {"causal1d", "same1d", "same2d"};
static const char *const gc_act_names[] = {"identity", "sigmoid", "silu"};

/* ------------------------------------------------------------------------------------------------ */
/* Errors                                                                                           */
/* ------------------------------------------------------------------------------------------------ */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static oz_status gc_fail(oz_error *err, oz_status status, const char *format, ...) {
    char buffer[512];
    va_list ap;
    va_start(ap, format);
    vsnprintf(buffer, sizeof buffer, format, ap);
    va_end(ap);
    return oz_error_set(err, status, buffer);
}

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

/* The index of `value` in `names`, or -1. */
static int gc_choice(const char *value, const char *const *names, int count) {
    int i;
    for (i = 0; i < count; i++)
        if (strcmp(value, names[i]) == 0) return i;
    return -1;
}

/* Reads the attributes into `inst` (mode, act, kernel) and validates them. */
static oz_status gc_read_attrs(const oz_create_args *args, oz_instance *inst, oz_error *err) {
    const char *base = (const char *)args->attrs;
    int64_t kernel[2] = {gc_default_kernel[0], gc_default_kernel[0]};
    uint32_t kernel_count = 1, i, k;
    int seen[3] = {0, 0, 0};
    size_t stride;

    inst->mode = GC_MODE_CAUSAL1D;
    inst->act = GC_ACT_SIGMOID;
    if (args->num_attrs > 0 && args->attrs == NULL)
        return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "create args: num_attrs is %u but attrs is NULL", (unsigned)args->num_attrs);
    stride = args->num_attrs > 0 ? args->attrs[0].struct_size : sizeof(oz_attr);
    if (stride < sizeof(oz_attr))
        return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "oz_attr.struct_size is %u bytes, but ABI version 1 needs %u",
                       (unsigned)stride, (unsigned)sizeof(oz_attr));
    for (i = 0; i < args->num_attrs; i++) {
        const oz_attr *attr = (const oz_attr *)(const void *)(base + (size_t)i * stride);
        const oz_attr_value *value = &attr->value;
        int which;
        if (attr->name == NULL) return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "attrs[%u].name is NULL", (unsigned)i);
        if (value->struct_size < GC_COVERS(oz_attr_value, string))
            return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "attribute '%.64s': oz_attr_value.struct_size is %u bytes, too small",
                           attr->name, (unsigned)value->struct_size);
        if (strcmp(attr->name, "mode") == 0)
            which = 0;
        else if (strcmp(attr->name, "kernel_size") == 0)
            which = 1;
        else if (strcmp(attr->name, "act") == 0)
            which = 2;
        else
            return gc_fail(err, OZ_ERR_INVALID_ARGUMENT,
                           "unknown attribute '%.64s' (operator 'gated_conv' has mode, kernel_size, act)", attr->name);
        if (seen[which]) return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "attribute '%s' is given more than once", attr->name);
        seen[which] = 1;
        if (which == 1) {
            if (value->type != OZ_ATTR_INT_LIST || value->ints == NULL || value->count < 1 || value->count > 2)
                return gc_fail(err, OZ_ERR_INVALID_ARGUMENT,
                               "attribute 'kernel_size' must be a list of one or two ints (type %u, count %u)",
                               (unsigned)value->type, (unsigned)value->count);
            for (k = 0; k < value->count; k++) {
                if (value->ints[k] < 1 || value->ints[k] > GC_MAX_KERNEL)
                    return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "attribute 'kernel_size' = %lld is out of range 1...%d",
                                   (long long)value->ints[k], GC_MAX_KERNEL);
                kernel[k] = value->ints[k];
            }
            kernel_count = value->count;
        } else {
            int index;
            if (value->type != OZ_ATTR_STRING || value->string == NULL)
                return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "attribute '%s' must be a string (type %u given)", attr->name,
                               (unsigned)value->type);
            index = which == 0 ? gc_choice(value->string, gc_mode_names, 3) : gc_choice(value->string, gc_act_names, 3);
            if (index < 0)
                return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "attribute '%s' = '%.64s' is not one of %s", attr->name,
                               value->string, which == 0 ? "causal1d, same1d, same2d" : "identity, sigmoid, silu");
            if (which == 0)
                inst->mode = index;
            else
                inst->act = index;
        }
    }
    if (inst->mode == GC_MODE_SAME2D) {
        inst->kh = kernel[0];
        inst->kw = kernel_count == 2 ? kernel[1] : kernel[0];
        inst->ph = (inst->kh - 1) / 2;
        inst->pw = (inst->kw - 1) / 2;
    } else {
        if (kernel_count != 1)
            return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "attribute 'kernel_size' has %u values, but mode '%s' takes one",
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

    if (out == NULL) return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "create: out is NULL");
    *out = NULL;
    if (op == NULL || args == NULL) return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "create: op or args is NULL");
    if (args->struct_size < GC_COVERS(oz_create_args, host))
        return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "oz_create_args.struct_size is %u bytes, but ABI version 1 needs %u",
                       (unsigned)args->struct_size, (unsigned)GC_COVERS(oz_create_args, host));
    if (args->dim < 1 || args->dim > (int64_t)1 << 20)
        return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "model width D = %lld must be in 1...2^20", (long long)args->dim);
    inst = (oz_instance *)calloc(1, sizeof *inst);
    if (inst == NULL) return gc_fail(err, OZ_ERR_OUT_OF_MEMORY, "could not allocate the instance");
    inst->dim = args->dim;
    if ((status = gc_read_attrs(args, inst, err)) != OZ_OK) {
        free(inst);
        return status;
    }
    if (inst->mode == GC_MODE_SAME2D) {
        if (args->grid_h < 1 || args->grid_w < 1 || args->grid_h > (int64_t)1 << 20 || args->grid_w > (int64_t)1 << 20) {
            free(inst);
            return gc_fail(err, OZ_ERR_INVALID_ARGUMENT,
                           "mode 'same2d' needs the token grid (--grid HxW), but H x W = %lld x %lld was given",
                           (long long)args->grid_h, (long long)args->grid_w);
        }
        inst->grid_h = args->grid_h;
        inst->grid_w = args->grid_w;
    }
    if (args->host != NULL && args->host->struct_size >= GC_COVERS(oz_host_services, parallel_for)) {
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
    if (inst == NULL || info == NULL) return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "describe: instance or info is NULL");
    size = info->struct_size;
    if (size < GC_COVERS(oz_instance_info, num_params))
        return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "oz_instance_info.struct_size is %u bytes, too small", (unsigned)size);
    if (inst->mode == GC_MODE_SAME2D) {
        left = inst->ph * inst->grid_w + inst->pw;
        right = (inst->kh - 1 - inst->ph) * inst->grid_w + (inst->kw - 1 - inst->pw);
    } else {
        left = inst->pw;
        right = inst->kw - 1 - inst->pw;
    }
    info->flags = OZ_INSTANCE_RECEPTIVE_FIELD | (inst->mode == GC_MODE_CAUSAL1D ? OZ_INSTANCE_CAUSAL : 0u);
    info->num_params = GC_NUM_PARAMS;
    if (size >= GC_COVERS(oz_instance_info, reserved)) info->reserved = 0;
    if (size >= GC_COVERS(oz_instance_info, receptive_left)) info->receptive_left = left;
    if (size >= GC_COVERS(oz_instance_info, receptive_right)) info->receptive_right = right;
    if (size >= GC_COVERS(oz_instance_info, fixed_length)) info->fixed_length = 0;
    /* Since ABI 1.2: linear in L in every mode (the projections are per token, the conv has K taps). */
    if (size >= GC_COVERS(oz_instance_info, complexity)) info->complexity = OZ_COMPLEXITY_LINEAR;
    if (size >= GC_COVERS(oz_instance_info, reserved2)) info->reserved2 = 0;
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
    if (inst == NULL || info == NULL) return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "get_param: instance or info is NULL");
    if (index >= GC_NUM_PARAMS)
        return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "parameter index %u is out of range ('gated_conv' has %d)",
                       (unsigned)index, GC_NUM_PARAMS);
    if (info->struct_size < GC_COVERS(oz_param_info, shape))
        return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "oz_param_info.struct_size is %u bytes, too small", (unsigned)info->struct_size);
    rank = gc_param_shape(inst, index, shape);
    info->ndim = rank;
    info->name = gc_param_names[index];
    for (d = 0; d < rank; d++) info->shape[d] = shape[d];
    return OZ_OK;
}

/* ------------------------------------------------------------------------------------------------ */
/* Tensor validation                                                                                */
/* ------------------------------------------------------------------------------------------------ */

/* Checks that `t` is a CPU float32/float64 C-contiguous tensor of rank `ndim` and extents `shape`
 * (shape[i] < 0: any extent >= 1, reported back). */
static oz_status gc_check_tensor(const oz_tensor *t, const char *name, int32_t ndim, int64_t *shape, oz_error *err) {
    int64_t stride = 1;
    int32_t i;
    if (t == NULL) return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "tensor '%s' is NULL", name);
    if (t->device.device_type != OZ_DEVICE_CPU || t->device.device_id != 0)
        return gc_fail(err, OZ_ERR_DTYPE, "tensor '%s' is on device (type %d, id %d); only CPU is supported", name,
                       (int)t->device.device_type, (int)t->device.device_id);
    if (t->dtype.code != OZ_DTYPE_CODE_FLOAT || (t->dtype.bits != 32 && t->dtype.bits != 64) || t->dtype.lanes != 1)
        return gc_fail(err, OZ_ERR_DTYPE, "tensor '%s' has dtype (code %u, bits %u, lanes %u); only float32 and float64",
                       name, (unsigned)t->dtype.code, (unsigned)t->dtype.bits, (unsigned)t->dtype.lanes);
    if (t->ndim != ndim) return gc_fail(err, OZ_ERR_SHAPE, "tensor '%s' has rank %d; expected %d", name, (int)t->ndim, (int)ndim);
    if (t->shape == NULL) return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "tensor '%s' has a NULL shape", name);
    for (i = 0; i < ndim; i++) {
        if (shape[i] >= 0 ? t->shape[i] != shape[i] : t->shape[i] < 1)
            return gc_fail(err, OZ_ERR_SHAPE, "tensor '%s' has extent %lld on axis %d; expected %s%lld", name,
                           (long long)t->shape[i], (int)i, shape[i] >= 0 ? "" : "at least ",
                           (long long)(shape[i] >= 0 ? shape[i] : 1));
        shape[i] = t->shape[i];
    }
    for (i = ndim - 1; i >= 0; i--) {
        if (t->strides != NULL && t->shape[i] > 1 && t->strides[i] != stride)
            return gc_fail(err, OZ_ERR_SHAPE, "tensor '%s' is not C-contiguous (stride %lld on axis %d, expected %lld)",
                           name, (long long)t->strides[i], (int)i, (long long)stride);
        if (t->shape[i] > INT64_MAX / stride / 8) return gc_fail(err, OZ_ERR_SHAPE, "tensor '%s' is too large", name);
        stride *= t->shape[i];
    }
    if (t->byte_offset != 0)
        return gc_fail(err, OZ_ERR_SHAPE, "tensor '%s' has byte_offset %llu; only 0 is supported", name,
                       (unsigned long long)t->byte_offset);
    if (t->data == NULL) return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "tensor '%s' has NULL data", name);
    if ((uintptr_t)t->data % (t->dtype.bits / 8) != 0)
        return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "tensor '%s' data is not aligned to its elements", name);
    return OZ_OK;
}

/* Checks an activation [B, L, D] (`b`, `l` < 0: any; else must match) and its dtype against `bits` (0: any). */
static oz_status gc_check_activation(const oz_instance *inst, const oz_tensor *t, const char *name, int64_t *b, int64_t *l,
                                     unsigned *bits, oz_error *err) {
    int64_t shape[3];
    oz_status status;
    shape[0] = *b;
    shape[1] = *l;
    shape[2] = inst->dim;
    if ((status = gc_check_tensor(t, name, 3, shape, err)) != OZ_OK) return status;
    if (*bits != 0 && t->dtype.bits != *bits)
        return gc_fail(err, OZ_ERR_DTYPE, "tensor '%s' is float%u, but x is float%u (all tensors must have one dtype)", name,
                       (unsigned)t->dtype.bits, *bits);
    if (inst->mode == GC_MODE_SAME2D && shape[1] != inst->grid_h * inst->grid_w)
        return gc_fail(err, OZ_ERR_SHAPE, "tensor '%s' has L = %lld, but mode 'same2d' on the %lld x %lld grid needs L = %lld",
                       name, (long long)shape[1], (long long)inst->grid_h, (long long)inst->grid_w,
                       (long long)(inst->grid_h * inst->grid_w));
    *b = shape[0];
    *l = shape[1];
    *bits = t->dtype.bits;
    return OZ_OK;
}

/* Checks parameter tensor `index` (`allow_null`: a NULL data pointer means "not wanted" and is skipped). */
static oz_status gc_check_param(const oz_instance *inst, const oz_tensor *t, uint32_t index, unsigned bits, int allow_null,
                                const char *what, oz_error *err) {
    int64_t shape[4];
    char name[64];
    const int32_t rank = (int32_t)gc_param_shape(inst, index, shape);
    oz_status status;
    if (allow_null && t->data == NULL) return OZ_OK;
    snprintf(name, sizeof name, "%s%s", what, gc_param_names[index]);
    if ((status = gc_check_tensor(t, name, rank, shape, err)) != OZ_OK) return status;
    if (t->dtype.bits != bits)
        return gc_fail(err, OZ_ERR_DTYPE, "tensor '%s' is float%u, but x is float%u (all tensors must have one dtype)", name,
                       (unsigned)t->dtype.bits, bits);
    return OZ_OK;
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
        return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "init_params: instance or params is NULL");
    if (num_params != GC_NUM_PARAMS)
        return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "init_params: num_params is %u, expected %d", (unsigned)num_params,
                       GC_NUM_PARAMS);
    for (p = 0; p < GC_NUM_PARAMS; p++)
        if ((status = gc_check_param(inst, &params[p], p, params[0].dtype.bits, 0, "", err)) != OZ_OK) return status;
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

/* Workspace elements per token: z (2D) and h (D) forward; z, v, h, dh (D each but z) and dz (2D) backward. */
static int64_t gc_workspace_per_token(const oz_instance *inst, uint32_t pass) {
    return (pass == OZ_PASS_FORWARD ? 3 : 7) * inst->dim;
}

static oz_status gc_workspace_size(const oz_instance *inst, uint32_t pass, int64_t batch, int64_t length, uint64_t *bytes,
                                   oz_error *err) {
    int64_t per;
    if (inst == NULL || bytes == NULL) return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "workspace_size: instance or bytes is NULL");
    if (pass != OZ_PASS_FORWARD && pass != OZ_PASS_BACKWARD)
        return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "workspace_size: unknown pass %u", (unsigned)pass);
    if (batch < 0 || length < 0)
        return gc_fail(err, OZ_ERR_SHAPE, "workspace_size: batch %lld and length %lld must not be negative", (long long)batch,
                       (long long)length);
    per = gc_workspace_per_token(inst, pass) * 8; /* sized for float64, which is the larger */
    if (batch > 0 && length > INT64_MAX / per / batch) return gc_fail(err, OZ_ERR_SHAPE, "workspace_size: B * L is too large");
    *bytes = (uint64_t)(batch * length * per);
    return OZ_OK;
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
        return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "the workspace has %llu bytes%s; this call needs %llu",
                       (unsigned long long)size, workspace == NULL ? " (NULL)" : "", (unsigned long long)needed);
    return OZ_OK;
}

static oz_status gc_forward(oz_instance *inst, const oz_forward_args *args, oz_error *err) {
    int64_t batch = -1, length = -1, by, ly;
    unsigned bits = 0;
    uint32_t p;
    size_t elem;
    oz_status status;
    gc_geometry geo;
    const gc_kernels *k;
    char *ws;
    void *z, *h;
    const int64_t D = inst != NULL ? inst->dim : 0;

    if (inst == NULL || args == NULL) return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "forward: instance or args is NULL");
    if (args->struct_size < GC_COVERS(oz_forward_args, workspace_size))
        return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "oz_forward_args.struct_size is %u bytes, but ABI version 1 needs %u",
                       (unsigned)args->struct_size, (unsigned)GC_COVERS(oz_forward_args, workspace_size));
    if ((status = gc_check_activation(inst, args->x, "x", &batch, &length, &bits, err)) != OZ_OK) return status;
    by = batch;
    ly = length;
    if ((status = gc_check_activation(inst, args->y, "y", &by, &ly, &bits, err)) != OZ_OK) return status;
    if (args->num_params != GC_NUM_PARAMS || args->params == NULL)
        return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "forward: %u parameters given, expected %d", (unsigned)args->num_params,
                       GC_NUM_PARAMS);
    for (p = 0; p < GC_NUM_PARAMS; p++)
        if ((status = gc_check_param(inst, &args->params[p], p, bits, 0, "", err)) != OZ_OK) return status;
    if ((status = gc_check_workspace(inst, OZ_PASS_FORWARD, batch, length, args->workspace, args->workspace_size, err)) != OZ_OK)
        return status;

    geo = gc_make_geometry(inst, batch, length);
    k = bits == 64 ? &gc_kernels_f64 : &gc_kernels_f32;
    elem = bits / 8;
    ws = (char *)args->workspace;
    z = ws;
    h = ws + (size_t)(geo.rows * 2 * D) * elem;
    {
        gc_linear_job in_proj = {args->x->data, args->params[0].data, args->params[1].data, z, D, 2 * D};
        gc_conv_job conv = {&geo, z, args->params[2].data, args->params[3].data, NULL, h};
        gc_linear_job out_proj = {h, args->params[4].data, args->params[5].data, args->y->data, D, D};
        gc_parallel(inst, geo.rows, 2 * D * D, k->linear, &in_proj);
        gc_parallel(inst, geo.rows, D * inst->kh * inst->kw, k->conv, &conv);
        gc_parallel(inst, geo.rows, D * D, k->linear, &out_proj);
    }
    return OZ_OK;
}

static oz_status gc_backward(oz_instance *inst, const oz_backward_args *args, oz_error *err) {
    int64_t batch = -1, length = -1, b2, l2;
    unsigned bits = 0;
    uint32_t p;
    size_t elem;
    oz_status status;
    gc_geometry geo;
    const gc_kernels *k;
    char *ws;
    void *z, *v, *h, *dh, *dz;
    void *grad[GC_NUM_PARAMS] = {NULL, NULL, NULL, NULL, NULL, NULL};
    int need_dz;
    const int64_t D = inst != NULL ? inst->dim : 0;

    if (inst == NULL || args == NULL) return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "backward: instance or args is NULL");
    if (args->struct_size < GC_COVERS(oz_backward_args, workspace_size))
        return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "oz_backward_args.struct_size is %u bytes, but ABI version 1 needs %u",
                       (unsigned)args->struct_size, (unsigned)GC_COVERS(oz_backward_args, workspace_size));
    if ((status = gc_check_activation(inst, args->x, "x", &batch, &length, &bits, err)) != OZ_OK) return status;
    b2 = batch;
    l2 = length;
    if ((status = gc_check_activation(inst, args->dy, "dy", &b2, &l2, &bits, err)) != OZ_OK) return status;
    if (args->dx != NULL && (status = gc_check_activation(inst, args->dx, "dx", &b2, &l2, &bits, err)) != OZ_OK) return status;
    if (args->num_params != GC_NUM_PARAMS || args->params == NULL)
        return gc_fail(err, OZ_ERR_INVALID_ARGUMENT, "backward: %u parameters given, expected %d", (unsigned)args->num_params,
                       GC_NUM_PARAMS);
    for (p = 0; p < GC_NUM_PARAMS; p++) {
        if ((status = gc_check_param(inst, &args->params[p], p, bits, 0, "", err)) != OZ_OK) return status;
        if (args->dparams != NULL) {
            if ((status = gc_check_param(inst, &args->dparams[p], p, bits, 1, "gradient of ", err)) != OZ_OK) return status;
            grad[p] = args->dparams[p].data;
        }
    }
    if ((status = gc_check_workspace(inst, OZ_PASS_BACKWARD, batch, length, args->workspace, args->workspace_size, err)) != OZ_OK)
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
    need_dz = args->dx != NULL || grad[0] != NULL || grad[1] != NULL || grad[2] != NULL || grad[3] != NULL;
    if (!need_dz && grad[4] == NULL && grad[5] == NULL) return OZ_OK; /* nothing wanted */
    {
        /* Recompute the forward: z = in_proj(x), v = conv(u) + cb, h = v * act(g). */
        gc_linear_job in_proj = {args->x->data, args->params[0].data, args->params[1].data, z, D, 2 * D};
        gc_conv_job conv = {&geo, z, args->params[2].data, args->params[3].data, v, h};
        gc_linear_dw_job out_dw = {args->dy->data, h, grad[4], grad[5], geo.rows, D, D};
        gc_linear_dx_job out_dx = {args->dy->data, args->params[4].data, dh, D, D};
        gc_gate_job gate = {&geo, z, v, dh, dz};
        gc_conv_dx_job conv_dx = {&geo, dh, args->params[2].data, dz};
        gc_conv_dw_job conv_dw = {&geo, dh, z, grad[2], grad[3]};
        gc_linear_dx_job in_dx = {dz, args->params[0].data, args->dx != NULL ? args->dx->data : NULL, D, 2 * D};
        gc_linear_dw_job in_dw = {dz, args->x->data, grad[0], grad[1], geo.rows, D, 2 * D};

        gc_parallel(inst, geo.rows, 2 * D * D, k->linear, &in_proj);
        gc_parallel(inst, geo.rows, D * inst->kh * inst->kw, k->conv, &conv);
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
    .capabilities = OZ_CAP_BACKWARD | OZ_CAP_DETERMINISTIC | OZ_CAP_REENTRANT | OZ_CAP_FLOAT64,
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
    .description = "gated depthwise convolution mixer, plain C99 built by its own Makefile against OperatorABI.h alone",
    .operators = gc_operators,
};

OZ_EXPORT const oz_plugin *oz_plugin_entry(void);

OZ_EXPORT const oz_plugin *oz_plugin_entry(void) { return &gc_plugin; }
