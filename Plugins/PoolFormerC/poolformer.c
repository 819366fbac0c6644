/*
 * poolformer.c -- the PoolFormer token mixer as an OperatorZoo plugin, in plain C99.
 *
 * Upstream: Yu et al., "MetaFormer Is Actually What You Need for Vision" (CVPR 2022),
 * sail-sg/poolformer, class `Pooling`:
 *
 *     y = AvgPool2d(pool_size, stride=1, padding=pool_size//2, count_include_pad=False)(x) - x
 *
 * applied per channel on the H x W grid of tokens (token r*W + c is grid cell (r, c)). The operator is
 * linear and has no parameters. Its window is symmetric, so its VJP is
 *
 *     dx[j] = sum over i in window(j) of dy[i] / count(i)  -  dy[j]
 *
 * where count(i) is the number of in-grid cells of the window centred on i.
 *
 * This file needs nothing but OperatorABI.h and the header-only OperatorPluginHelpers.h beside it. Build it with
 * the Makefile beside it (or one `cc` line); SwiftPM also builds it as the target `PoolFormerC`.
 */
#include "OperatorPluginHelpers.h"

#include <stdint.h>
#include <stdlib.h>

#define PF_DEFAULT_POOL_SIZE 3
#define PF_MIN_POOL_SIZE 1
#define PF_MAX_POOL_SIZE 63

/* ------------------------------------------------------------------------------------------------ */
/* Instance                                                                                         */
/* ------------------------------------------------------------------------------------------------ */

struct oz_instance {
    int64_t dim;        /* D */
    int64_t grid_h;     /* H */
    int64_t grid_w;     /* W */
    int64_t pool_size;  /* odd, 1 ... 63 */
    int64_t radius;     /* pool_size / 2 */
    void (*parallel_for)(void *host_context, int64_t n, int64_t grain, oz_range_fn body, void *context);
    void *host_context;
};

static const int64_t pf_default_pool_size = PF_DEFAULT_POOL_SIZE;

static const oz_attr_def pf_attr_pool_size = {
    .struct_size = sizeof(oz_attr_def),
    .type = OZ_ATTR_INT,
    .name = "pool_size",
    .doc = "side of the square average-pooling window (odd; stride 1, padding pool_size//2, count_include_pad=False)",
    .default_value = {.struct_size = sizeof(oz_attr_value), .type = OZ_ATTR_INT, .count = 1,
                      .ints = &pf_default_pool_size},
    .min_int = PF_MIN_POOL_SIZE,
    .max_int = PF_MAX_POOL_SIZE,
    .min_float = 0.0,
    .max_float = -1.0, /* min_float > max_float: no float bounds */
};

static const oz_attr_def *const pf_attrs[] = {&pf_attr_pool_size};
static const char *const pf_attr_names[] = {"pool_size"};

/* Reads `pool_size` from the create arguments (default 3) and validates it. */
static oz_status pf_read_attrs(const oz_create_args *args, int64_t *pool_size, oz_error *err) {
    oz_status status = oz_attrs_check_known(args, pf_attr_names, 1, "poolformer", "only 'pool_size'", err);
    if (status != OZ_OK) return status;
    status = oz_attr_get_int(args, "pool_size", PF_DEFAULT_POOL_SIZE, PF_MIN_POOL_SIZE, PF_MAX_POOL_SIZE, pool_size,
                             err);
    if (status != OZ_OK) return status;
    if (*pool_size % 2 == 0)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT,
                       "attribute 'pool_size' = %lld must be odd (the window is centred on each token)",
                       (long long)*pool_size);
    return OZ_OK;
}

static oz_status pf_create(const oz_operator *op, const oz_create_args *args, oz_instance **out, oz_error *err) {
    oz_instance *inst;
    int64_t pool_size;
    oz_status status;

    if (out == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "create: out is NULL");
    *out = NULL;
    if (op == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "create: op is NULL");
    if (args == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "create: args is NULL");
    if (args->struct_size < OZ_COVERS(oz_create_args, host))
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT,
                       "oz_create_args.struct_size is %u bytes, but ABI version 1 needs %u",
                       (unsigned)args->struct_size, (unsigned)OZ_COVERS(oz_create_args, host));
    if (args->dim < 1)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "model width D = %lld must be at least 1", (long long)args->dim);
    if (args->grid_h < 1 || args->grid_w < 1)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT,
                       "operator 'poolformer' needs the token grid, but grid H x W = %lld x %lld was given",
                       (long long)args->grid_h, (long long)args->grid_w);
    if (args->grid_h > INT64_MAX / args->grid_w || args->grid_h * args->grid_w > INT64_MAX / args->dim)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "grid %lld x %lld with D = %lld is too large",
                       (long long)args->grid_h, (long long)args->grid_w, (long long)args->dim);
    status = pf_read_attrs(args, &pool_size, err);
    if (status != OZ_OK) return status;

    inst = (oz_instance *)calloc(1, sizeof *inst);
    if (inst == NULL) return oz_fail(err, OZ_ERR_OUT_OF_MEMORY, "could not allocate the instance");
    inst->dim = args->dim;
    inst->grid_h = args->grid_h;
    inst->grid_w = args->grid_w;
    inst->pool_size = pool_size;
    inst->radius = pool_size / 2;
    /* Read parallel_for only if the host's struct covers it; otherwise run serially. */
    if (args->host != NULL && args->host->struct_size >= OZ_COVERS(oz_host_services, parallel_for)) {
        inst->parallel_for = args->host->parallel_for;
        inst->host_context = args->host->host_context;
    }
    *out = inst;
    return OZ_OK;
}

static void pf_destroy(oz_instance *instance) { free(instance); }

static oz_status pf_describe(const oz_instance *instance, oz_instance_info *info, oz_error *err) {
    int64_t reach;
    uint32_t size;
    if (instance == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "describe: instance is NULL");
    if (info == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "describe: info is NULL");
    size = info->struct_size;
    if (size < OZ_COVERS(oz_instance_info, flags))
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT,
                       "oz_instance_info.struct_size is %u bytes, too small to hold flags",
                       (unsigned)size);
    /* Write only the fields the host's struct covers. */
    reach = instance->radius * instance->grid_w + instance->radius;
    info->flags = OZ_INSTANCE_RECEPTIVE_FIELD;
    if (size >= OZ_COVERS(oz_instance_info, num_params)) info->num_params = 0;
    if (size >= OZ_COVERS(oz_instance_info, reserved)) info->reserved = 0;
    if (size >= OZ_COVERS(oz_instance_info, receptive_left)) info->receptive_left = reach;
    if (size >= OZ_COVERS(oz_instance_info, receptive_right)) info->receptive_right = reach;
    /* ABI 1.2: a pool_size x pool_size window per token is O(L) work; a 1.1 host's shorter struct ends before it. */
    if (size >= OZ_COVERS(oz_instance_info, complexity)) info->complexity = OZ_COMPLEXITY_LINEAR;
    return OZ_OK;
}

static oz_status pf_get_param(const oz_instance *instance, uint32_t index, oz_param_info *info, oz_error *err) {
    (void)instance;
    (void)info;
    return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "parameter index %u is out of range: 'poolformer' has no parameters",
                   (unsigned)index);
}

static oz_status pf_init_params(const oz_instance *instance, uint64_t seed, oz_tensor *params, uint32_t num_params,
                                oz_error *err) {
    (void)seed;
    (void)params;
    if (instance == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "init_params: instance is NULL");
    if (num_params != 0)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "init_params: num_params is %u, but 'poolformer' has none",
                       (unsigned)num_params);
    return OZ_OK;
}

/* No workspace for any shape. A wrong L is not refused here: forward and backward report it with the shapes. */
static oz_status pf_workspace_size(const oz_instance *instance, uint32_t pass, int64_t batch, int64_t length,
                                   uint64_t *bytes, oz_error *err) {
    if (instance == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "workspace_size: instance is NULL");
    if (bytes == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "workspace_size: bytes is NULL");
    if (pass != OZ_PASS_FORWARD && pass != OZ_PASS_BACKWARD)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "workspace_size: unknown pass %u", (unsigned)pass);
    if (batch < 0 || length < 0)
        return oz_fail(err, OZ_ERR_SHAPE, "workspace_size: batch %lld and length %lld must not be negative",
                       (long long)batch, (long long)length);
    *bytes = 0;
    return OZ_OK;
}

/*
 * ABI 1.3 cost of one call on B x L tokens (float32), under OperatorABI.h's convention: FLOPs of matrix products
 * and convolutions only (a multiply-add = 2), bytes of the host buffers forward (x, params, y) and backward (x,
 * params, dy, dx, dparams) read and write. From the kernel's loops (PF_DEFINE_KERNEL):
 *
 *   forward_flops  = 0           per output: |N(i)| additions, one division by |N(i)|, one subtraction of x[i]:
 *                                average pooling has no weights, so there is no product to count (fvcore's count
 *                                and the DiT paper's leave pooling out too; so do the host's FLOP counts)
 *   backward_flops = 0           the transposed window sum: its `dy * (1 / |N(i)|)` scales by the window's fixed
 *                                count, elementwise, and the rest are additions
 *   forward_bytes  = 4 * 2 B L D        x read, y written; no parameters
 *   backward_bytes = 4 * 3 B L D        x, dy read, dx written (the convention counts x; the VJP of this linear
 *                                       operator never reads it, so its own traffic is 4 * 2 B L D)
 *
 * As in forward, B >= 0 and L must be H*W of create (OZ_ERR_SHAPE otherwise); a count past 64 bits is
 * OZ_ERR_UNSUPPORTED.
 */
static oz_status pf_cost(const oz_instance *instance, int64_t batch, int64_t length, oz_cost *cost, oz_error *err) {
    uint64_t elements, forward_bytes, backward_bytes;
    if (instance == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "cost: instance is NULL");
    if (batch < 0 || length < 0)
        return oz_fail(err, OZ_ERR_SHAPE, "cost: batch %lld and length %lld must not be negative", (long long)batch,
                       (long long)length);
    if (length != instance->grid_h * instance->grid_w)
        return oz_fail(err, OZ_ERR_SHAPE, "cost: length %lld is not L = H*W = %lld x %lld = %lld", (long long)length,
                       (long long)instance->grid_h, (long long)instance->grid_w,
                       (long long)(instance->grid_h * instance->grid_w));
    if (!oz_u64_mul((uint64_t)batch, (uint64_t)length, &elements) ||
        !oz_u64_mul(elements, (uint64_t)instance->dim, &elements) || !oz_u64_mul(elements, 4 * 2, &forward_bytes) ||
        !oz_u64_mul(elements, 4 * 3, &backward_bytes))
        return oz_fail(err, OZ_ERR_UNSUPPORTED, "cost: the cost at B = %lld, L = %lld, D = %lld overflows 64 bits",
                       (long long)batch, (long long)length, (long long)instance->dim);
    return oz_cost_write(cost, 0, 0, forward_bytes, backward_bytes, err);
}

/* ------------------------------------------------------------------------------------------------ */
/* Tensor validation                                                                                */
/* ------------------------------------------------------------------------------------------------ */

/* Checks that `t` is a CPU float32/float64 C-contiguous [B, H*W, D] tensor, B >= 0. */
static oz_status pf_check_tensor(const oz_instance *inst, const oz_tensor *t, const char *name, oz_error *err) {
    return oz_check_activation(t, name, OZ_ANY_EXTENT_OR_ZERO, inst->grid_h * inst->grid_w, inst->dim, 1, err);
}

/* Checks that `b` matches `a` (both already validated) in dtype and shape (so in batch). */
static oz_status pf_check_same(const oz_tensor *a, const char *a_name, const oz_tensor *b, const char *b_name,
                               oz_error *err) {
    oz_status status = oz_check_same_dtype(a, a_name, b, b_name, err);
    if (status != OZ_OK) return status;
    return oz_check_same_shape(a, a_name, b, b_name, err);
}

/* ------------------------------------------------------------------------------------------------ */
/* Kernels                                                                                          */
/* ------------------------------------------------------------------------------------------------ */

typedef struct pf_job {
    const oz_instance *inst;
    const void *in;  /* x (forward) or dy (backward) */
    void *out;       /* y (forward) or dx (backward) */
    int backward;
    int bits;
} pf_job;

/*
 * One range of (b, row) pairs. Forward: out[i] = sum_{j in win(i)} in[j] / count(i) - in[i].
 * Backward: out[j] = sum_{i in win(j)} in[i] / count(i) - in[j]. Each output is computed on its own, in a
 * fixed order, so the result does not depend on how the range is split (OZ_CAP_DETERMINISTIC).
 */
#define PF_DEFINE_KERNEL(NAME, T)                                                                           \
    static void NAME(const pf_job *job, int64_t begin, int64_t end) {                                       \
        const oz_instance *inst = job->inst;                                                                \
        const int64_t H = inst->grid_h, W = inst->grid_w, D = inst->dim, r = inst->radius;                  \
        const T *in = (const T *)job->in;                                                                   \
        T *out = (T *)job->out;                                                                             \
        int64_t task;                                                                                       \
        for (task = begin; task < end; task++) {                                                            \
            const int64_t b = task / H, row = task % H;                                                     \
            const int64_t r0 = row - r < 0 ? 0 : row - r, r1 = row + r > H - 1 ? H - 1 : row + r;           \
            const T *in_b = in + b * H * W * D;                                                             \
            int64_t col;                                                                                    \
            for (col = 0; col < W; col++) {                                                                 \
                const int64_t c0 = col - r < 0 ? 0 : col - r, c1 = col + r > W - 1 ? W - 1 : col + r;       \
                const T *self = in_b + (row * W + col) * D;                                                 \
                T *dst = out + ((b * H + row) * W + col) * D;                                               \
                int64_t rr, cc, d;                                                                          \
                for (d = 0; d < D; d++) dst[d] = 0;                                                         \
                if (!job->backward) {                                                                       \
                    const T count = (T)((r1 - r0 + 1) * (c1 - c0 + 1));                                     \
                    for (rr = r0; rr <= r1; rr++)                                                           \
                        for (cc = c0; cc <= c1; cc++) {                                                     \
                            const T *src = in_b + (rr * W + cc) * D;                                        \
                            for (d = 0; d < D; d++) dst[d] += src[d];                                       \
                        }                                                                                   \
                    for (d = 0; d < D; d++) dst[d] = dst[d] / count - self[d];                              \
                } else {                                                                                    \
                    for (rr = r0; rr <= r1; rr++) {                                                         \
                        const int64_t rows = (rr + r > H - 1 ? H - 1 : rr + r) - (rr - r < 0 ? 0 : rr - r) + 1; \
                        for (cc = c0; cc <= c1; cc++) {                                                     \
                            const int64_t cols =                                                            \
                                (cc + r > W - 1 ? W - 1 : cc + r) - (cc - r < 0 ? 0 : cc - r) + 1;          \
                            const T inv = (T)1 / (T)(rows * cols);                                          \
                            const T *src = in_b + (rr * W + cc) * D;                                        \
                            for (d = 0; d < D; d++) dst[d] += src[d] * inv;                                 \
                        }                                                                                   \
                    }                                                                                       \
                    for (d = 0; d < D; d++) dst[d] -= self[d];                                              \
                }                                                                                           \
            }                                                                                               \
        }                                                                                                   \
    }

PF_DEFINE_KERNEL(pf_kernel_f32, float)
PF_DEFINE_KERNEL(pf_kernel_f64, double)

static void pf_range(void *context, int64_t begin, int64_t end) {
    const pf_job *job = (const pf_job *)context;
    if (job->bits == 64)
        pf_kernel_f64(job, begin, end);
    else
        pf_kernel_f32(job, begin, end);
}

static void pf_run(const oz_instance *inst, pf_job *job, int64_t batch) {
    const int64_t tasks = batch * inst->grid_h;
    /* About 64k multiply-adds per range keeps the pool busy without drowning it in tiny tasks. */
    const int64_t per_task = inst->grid_w * inst->dim * inst->pool_size * inst->pool_size;
    const int64_t grain = per_task >= 65536 ? 1 : 65536 / (per_task > 0 ? per_task : 1);
    if (tasks <= 0) return;
    if (inst->parallel_for != NULL && tasks > grain)
        inst->parallel_for(inst->host_context, tasks, grain, pf_range, job);
    else
        pf_range(job, 0, tasks);
}

/* ------------------------------------------------------------------------------------------------ */
/* forward / backward                                                                               */
/* ------------------------------------------------------------------------------------------------ */

static oz_status pf_forward(oz_instance *instance, const oz_forward_args *args, oz_error *err) {
    oz_status status;
    pf_job job;

    if (instance == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "forward: instance is NULL");
    if (args == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "forward: args is NULL");
    if (args->struct_size < OZ_COVERS(oz_forward_args, y))
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT,
                       "oz_forward_args.struct_size is %u bytes, but ABI version 1 needs %u",
                       (unsigned)args->struct_size, (unsigned)OZ_COVERS(oz_forward_args, y));
    if (args->num_params != 0)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "forward: num_params is %u, but 'poolformer' has no parameters",
                       (unsigned)args->num_params);
    if ((status = pf_check_tensor(instance, args->x, "x", err)) != OZ_OK) return status;
    if ((status = pf_check_tensor(instance, args->y, "y", err)) != OZ_OK) return status;
    if ((status = pf_check_same(args->x, "x", args->y, "y", err)) != OZ_OK) return status;
    /* The stencil reads neighbours, so the output may not overlap the input it reads. */
    if (oz_tensors_overlap(args->x, args->y))
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "forward: y overlaps x; 'poolformer' cannot run in place");

    job.inst = instance;
    job.in = args->x->data;
    job.out = args->y->data;
    job.backward = 0;
    job.bits = args->x->dtype.bits;
    pf_run(instance, &job, args->x->shape[0]);
    return OZ_OK;
}

static oz_status pf_backward(oz_instance *instance, const oz_backward_args *args, oz_error *err) {
    oz_status status;
    pf_job job;

    if (instance == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "backward: instance is NULL");
    if (args == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "backward: args is NULL");
    if (args->struct_size < OZ_COVERS(oz_backward_args, dparams))
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT,
                       "oz_backward_args.struct_size is %u bytes, but ABI version 1 needs %u",
                       (unsigned)args->struct_size, (unsigned)OZ_COVERS(oz_backward_args, dparams));
    if (args->num_params != 0)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "backward: num_params is %u, but 'poolformer' has no parameters",
                       (unsigned)args->num_params);
    if ((status = pf_check_tensor(instance, args->x, "x", err)) != OZ_OK) return status;
    if ((status = pf_check_tensor(instance, args->dy, "dy", err)) != OZ_OK) return status;
    if ((status = pf_check_same(args->x, "x", args->dy, "dy", err)) != OZ_OK) return status;
    if (args->dx == NULL) return OZ_OK; /* no parameters, and dx is not needed: nothing to do */
    if ((status = pf_check_tensor(instance, args->dx, "dx", err)) != OZ_OK) return status;
    if ((status = pf_check_same(args->x, "x", args->dx, "dx", err)) != OZ_OK) return status;
    if (oz_tensors_overlap(args->dy, args->dx))
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "backward: dx overlaps dy; 'poolformer' cannot run in place");

    job.inst = instance;
    job.in = args->dy->data;
    job.out = args->dx->data;
    job.backward = 1;
    job.bits = args->dy->dtype.bits;
    pf_run(instance, &job, args->dy->shape[0]);
    return OZ_OK;
}

/* ------------------------------------------------------------------------------------------------ */
/* Tables and the entry point                                                                       */
/* ------------------------------------------------------------------------------------------------ */

static const oz_operator pf_operator = {
    .struct_size = sizeof(oz_operator),
    .role = OZ_ROLE_TOKEN_MIXER,
    .id = "poolformer",
    .version = "1.0.0",
    .summary = "PoolFormer token mixer: AvgPool2d(pool_size, stride 1, count_include_pad=False)(x) - x on the "
               "H x W grid (Yu et al. 2022, sail-sg/poolformer Pooling)",
    .capabilities = OZ_CAP_BACKWARD | OZ_CAP_DETERMINISTIC | OZ_CAP_NEEDS_GRID | OZ_CAP_REENTRANT | OZ_CAP_FLOAT64,
    .num_attrs = (uint32_t)(sizeof pf_attrs / sizeof pf_attrs[0]),
    .attrs = pf_attrs,
    .create = pf_create,
    .destroy = pf_destroy,
    .describe = pf_describe,
    .get_param = pf_get_param,
    .init_params = pf_init_params,
    .workspace_size = pf_workspace_size,
    .forward = pf_forward,
    .backward = pf_backward,
    .cost = pf_cost,
};

static const oz_operator *const pf_operators[] = {&pf_operator};

static const oz_plugin pf_plugin = {
    .struct_size = sizeof(oz_plugin),
    .abi_major = OZ_ABI_MAJOR,
    .abi_minor = OZ_ABI_MINOR,
    .num_operators = (uint32_t)(sizeof pf_operators / sizeof pf_operators[0]),
    .name = "OZPoolFormerC",
    .version = "1.0.0",
    .license = "MIT",
    .description = "PoolFormer pooling token mixer, in plain C99 against OperatorABI.h and its header-only helpers",
    .operators = pf_operators,
};

OZ_EXPORT const oz_plugin *oz_plugin_entry(void);

OZ_EXPORT const oz_plugin *oz_plugin_entry(void) { return &pf_plugin; }
