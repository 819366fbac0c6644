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
 * This file needs nothing but OperatorABI.h. Build it with the Makefile beside it (or one `cc` line);
 * SwiftPM also builds it as the target `PoolFormerC`.
 */
#include "OperatorABI.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PF_DEFAULT_POOL_SIZE 3
#define PF_MIN_POOL_SIZE 1
#define PF_MAX_POOL_SIZE 63

/* Bytes of a struct that cover `field` (its offset plus its size). */
#define PF_COVERS(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* ------------------------------------------------------------------------------------------------ */
/* Errors                                                                                           */
/* ------------------------------------------------------------------------------------------------ */

/* Formats a message into `err` (honouring its struct_size) and returns `status`. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static oz_status pf_fail(oz_error *err, oz_status status, const char *format, ...) {
    char buffer[512];
    va_list ap;
    if (err == NULL || err->struct_size < PF_COVERS(oz_error, message)) return status;
    va_start(ap, format);
    vsnprintf(buffer, sizeof buffer, format, ap);
    va_end(ap);
    return oz_error_set(err, status, buffer);
}

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

/* Reads `pool_size` from the create arguments (default 3) and validates it. */
static oz_status pf_read_attrs(const oz_create_args *args, int64_t *pool_size, oz_error *err) {
    const char *base = (const char *)args->attrs;
    size_t stride;
    uint32_t i;
    int seen = 0;

    *pool_size = PF_DEFAULT_POOL_SIZE;
    if (args->num_attrs == 0) return OZ_OK;
    if (args->attrs == NULL)
        return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "create args: num_attrs is %u but attrs is NULL",
                       (unsigned)args->num_attrs);
    /* The host passes a C array of its own oz_attr: its element size is the struct_size it wrote. */
    stride = args->attrs[0].struct_size;
    if (stride < sizeof(oz_attr))
        return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "oz_attr.struct_size is %u bytes, but ABI version 1 needs %u",
                       (unsigned)stride, (unsigned)sizeof(oz_attr));
    for (i = 0; i < args->num_attrs; i++) {
        const oz_attr *attr = (const oz_attr *)(const void *)(base + (size_t)i * stride);
        const oz_attr_value *value = &attr->value;
        int64_t v;
        if (attr->struct_size != stride)
            return pf_fail(err, OZ_ERR_INVALID_ARGUMENT,
                           "attrs[%u].struct_size is %u bytes, but attrs[0].struct_size is %u", (unsigned)i,
                           (unsigned)attr->struct_size, (unsigned)stride);
        if (attr->name == NULL)
            return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "attrs[%u].name is NULL", (unsigned)i);
        if (strcmp(attr->name, "pool_size") != 0)
            return pf_fail(err, OZ_ERR_INVALID_ARGUMENT,
                           "unknown attribute '%.64s' (operator 'poolformer' has only 'pool_size')", attr->name);
        if (seen)
            return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "attribute 'pool_size' is given more than once");
        seen = 1;
        if (value->struct_size < PF_COVERS(oz_attr_value, ints))
            return pf_fail(err, OZ_ERR_INVALID_ARGUMENT,
                           "attribute 'pool_size': oz_attr_value.struct_size is %u bytes, too small",
                           (unsigned)value->struct_size);
        if (value->type != OZ_ATTR_INT)
            return pf_fail(err, OZ_ERR_INVALID_ARGUMENT,
                           "attribute 'pool_size' must have type int (OZ_ATTR_INT = %d), got type %u", OZ_ATTR_INT,
                           (unsigned)value->type);
        if (value->count != 1 || value->ints == NULL)
            return pf_fail(err, OZ_ERR_INVALID_ARGUMENT,
                           "attribute 'pool_size' must hold exactly one int (count %u, ints %s)",
                           (unsigned)value->count, value->ints == NULL ? "NULL" : "set");
        v = value->ints[0];
        if (v < PF_MIN_POOL_SIZE || v > PF_MAX_POOL_SIZE)
            return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "attribute 'pool_size' = %lld is out of range %d...%d",
                           (long long)v, PF_MIN_POOL_SIZE, PF_MAX_POOL_SIZE);
        if (v % 2 == 0)
            return pf_fail(err, OZ_ERR_INVALID_ARGUMENT,
                           "attribute 'pool_size' = %lld must be odd (the window is centred on each token)",
                           (long long)v);
        *pool_size = v;
    }
    return OZ_OK;
}

static oz_status pf_create(const oz_operator *op, const oz_create_args *args, oz_instance **out, oz_error *err) {
    oz_instance *inst;
    int64_t pool_size;
    oz_status status;

    if (out == NULL) return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "create: out is NULL");
    *out = NULL;
    if (op == NULL) return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "create: op is NULL");
    if (args == NULL) return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "create: args is NULL");
    if (args->struct_size < PF_COVERS(oz_create_args, host))
        return pf_fail(err, OZ_ERR_INVALID_ARGUMENT,
                       "oz_create_args.struct_size is %u bytes, but ABI version 1 needs %u",
                       (unsigned)args->struct_size, (unsigned)PF_COVERS(oz_create_args, host));
    if (args->dim < 1)
        return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "model width D = %lld must be at least 1", (long long)args->dim);
    if (args->grid_h < 1 || args->grid_w < 1)
        return pf_fail(err, OZ_ERR_INVALID_ARGUMENT,
                       "operator 'poolformer' needs the token grid, but grid H x W = %lld x %lld was given",
                       (long long)args->grid_h, (long long)args->grid_w);
    if (args->grid_h > INT64_MAX / args->grid_w || args->grid_h * args->grid_w > INT64_MAX / args->dim)
        return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "grid %lld x %lld with D = %lld is too large",
                       (long long)args->grid_h, (long long)args->grid_w, (long long)args->dim);
    status = pf_read_attrs(args, &pool_size, err);
    if (status != OZ_OK) return status;

    inst = (oz_instance *)calloc(1, sizeof *inst);
    if (inst == NULL) return pf_fail(err, OZ_ERR_OUT_OF_MEMORY, "could not allocate the instance");
    inst->dim = args->dim;
    inst->grid_h = args->grid_h;
    inst->grid_w = args->grid_w;
    inst->pool_size = pool_size;
    inst->radius = pool_size / 2;
    /* Read parallel_for only if the host's struct covers it; otherwise run serially. */
    if (args->host != NULL && args->host->struct_size >= PF_COVERS(oz_host_services, parallel_for)) {
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
    if (instance == NULL) return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "describe: instance is NULL");
    if (info == NULL) return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "describe: info is NULL");
    size = info->struct_size;
    if (size < PF_COVERS(oz_instance_info, flags))
        return pf_fail(err, OZ_ERR_INVALID_ARGUMENT,
                       "oz_instance_info.struct_size is %u bytes, too small to hold flags",
                       (unsigned)size);
    /* Write only the fields the host's struct covers. */
    reach = instance->radius * instance->grid_w + instance->radius;
    info->flags = OZ_INSTANCE_RECEPTIVE_FIELD;
    if (size >= PF_COVERS(oz_instance_info, num_params)) info->num_params = 0;
    if (size >= PF_COVERS(oz_instance_info, reserved)) info->reserved = 0;
    if (size >= PF_COVERS(oz_instance_info, receptive_left)) info->receptive_left = reach;
    if (size >= PF_COVERS(oz_instance_info, receptive_right)) info->receptive_right = reach;
    /* ABI 1.2: a pool_size x pool_size window per token is O(L) work; a 1.1 host's shorter struct ends before it. */
    if (size >= PF_COVERS(oz_instance_info, complexity)) info->complexity = OZ_COMPLEXITY_LINEAR;
    return OZ_OK;
}

static oz_status pf_get_param(const oz_instance *instance, uint32_t index, oz_param_info *info, oz_error *err) {
    (void)instance;
    (void)info;
    return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "parameter index %u is out of range: 'poolformer' has no parameters",
                   (unsigned)index);
}

static oz_status pf_init_params(const oz_instance *instance, uint64_t seed, oz_tensor *params, uint32_t num_params,
                                oz_error *err) {
    (void)seed;
    (void)params;
    if (instance == NULL) return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "init_params: instance is NULL");
    if (num_params != 0)
        return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "init_params: num_params is %u, but 'poolformer' has none",
                       (unsigned)num_params);
    return OZ_OK;
}

/* No workspace for any shape. A wrong L is not refused here: forward and backward report it with the shapes. */
static oz_status pf_workspace_size(const oz_instance *instance, uint32_t pass, int64_t batch, int64_t length,
                                   uint64_t *bytes, oz_error *err) {
    if (instance == NULL) return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "workspace_size: instance is NULL");
    if (bytes == NULL) return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "workspace_size: bytes is NULL");
    if (pass != OZ_PASS_FORWARD && pass != OZ_PASS_BACKWARD)
        return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "workspace_size: unknown pass %u", (unsigned)pass);
    if (batch < 0 || length < 0)
        return pf_fail(err, OZ_ERR_SHAPE, "workspace_size: batch %lld and length %lld must not be negative",
                       (long long)batch, (long long)length);
    *bytes = 0;
    return OZ_OK;
}

/* ------------------------------------------------------------------------------------------------ */
/* Tensor validation                                                                                */
/* ------------------------------------------------------------------------------------------------ */

/* Checks that `t` is a CPU float32/float64 contiguous [B, H*W, D] tensor; reports B and the element size. */
static oz_status pf_check_tensor(const oz_instance *inst, const oz_tensor *t, const char *name, int64_t *batch,
                                 size_t *elem, oz_error *err) {
    int64_t length = inst->grid_h * inst->grid_w;
    int64_t expected[3];
    int i;

    if (t == NULL) return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "tensor '%s' is NULL", name);
    if (t->device.device_type != OZ_DEVICE_CPU || t->device.device_id != 0)
        return pf_fail(err, OZ_ERR_DTYPE,
                       "tensor '%s' is on device (type %d, id %d); only CPU (type %d, id 0) is supported",
                       name, (int)t->device.device_type, (int)t->device.device_id, OZ_DEVICE_CPU);
    if (t->dtype.code != OZ_DTYPE_CODE_FLOAT || (t->dtype.bits != 32 && t->dtype.bits != 64) || t->dtype.lanes != 1)
        return pf_fail(err, OZ_ERR_DTYPE,
                       "tensor '%s' has dtype (code %u, bits %u, lanes %u); only float32 and float64 are supported",
                       name, (unsigned)t->dtype.code, (unsigned)t->dtype.bits, (unsigned)t->dtype.lanes);
    if (t->ndim != 3)
        return pf_fail(err, OZ_ERR_SHAPE, "tensor '%s' has rank %d; expected 3 ([B, L, D])", name, (int)t->ndim);
    if (t->shape == NULL) return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "tensor '%s' has a NULL shape", name);
    if (t->shape[0] < 0) return pf_fail(err, OZ_ERR_SHAPE, "tensor '%s' has batch %lld", name, (long long)t->shape[0]);
    if (t->shape[1] != length || t->shape[2] != inst->dim)
        return pf_fail(err, OZ_ERR_SHAPE,
                       "tensor '%s' has shape [%lld, %lld, %lld]; expected [B, %lld, %lld] "
                       "(L = H*W = %lld x %lld, D = %lld)",
                       name, (long long)t->shape[0], (long long)t->shape[1], (long long)t->shape[2], (long long)length,
                       (long long)inst->dim, (long long)inst->grid_h, (long long)inst->grid_w, (long long)inst->dim);
    if (t->shape[0] > 0 && length * inst->dim > INT64_MAX / t->shape[0])
        return pf_fail(err, OZ_ERR_SHAPE, "tensor '%s' is too large", name);
    /* NULL strides mean compact row-major in DLPack; otherwise they must be that. Extents of 1 may have any stride. */
    expected[2] = 1;
    expected[1] = inst->dim;
    expected[0] = length * inst->dim;
    if (t->strides != NULL) {
        for (i = 0; i < 3; i++) {
            if (t->shape[i] > 1 && t->strides[i] != expected[i])
                return pf_fail(err, OZ_ERR_SHAPE,
                               "tensor '%s' has strides [%lld, %lld, %lld]; "
                               "only C-contiguous [%lld, %lld, 1] is supported",
                               name, (long long)t->strides[0], (long long)t->strides[1], (long long)t->strides[2],
                               (long long)expected[0], (long long)expected[1]);
        }
    }
    if (t->byte_offset != 0)
        return pf_fail(err, OZ_ERR_SHAPE, "tensor '%s' has byte_offset %llu; only 0 is supported", name,
                       (unsigned long long)t->byte_offset);
    *elem = t->dtype.bits / 8;
    if (t->shape[0] > 0 && t->data == NULL)
        return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "tensor '%s' has NULL data", name);
    if ((uintptr_t)t->data % *elem != 0)
        return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "tensor '%s' data is not aligned to its %u-byte elements", name,
                       (unsigned)*elem);
    *batch = t->shape[0];
    return OZ_OK;
}

/* Checks that `b` matches `a` (already validated) in dtype and batch. */
static oz_status pf_check_same(const oz_tensor *a, const char *a_name, int64_t a_batch, const oz_tensor *b,
                               const char *b_name, int64_t b_batch, oz_error *err) {
    if (a->dtype.bits != b->dtype.bits)
        return pf_fail(err, OZ_ERR_DTYPE, "tensors '%s' (float%u) and '%s' (float%u) must have the same dtype", a_name,
                       (unsigned)a->dtype.bits, b_name, (unsigned)b->dtype.bits);
    if (a_batch != b_batch)
        return pf_fail(err, OZ_ERR_SHAPE, "tensors '%s' (batch %lld) and '%s' (batch %lld) must have the same batch",
                       a_name, (long long)a_batch, b_name, (long long)b_batch);
    return OZ_OK;
}

/* The stencil reads neighbours, so the output may not overlap the input it reads. */
static int pf_overlap(const oz_tensor *a, const oz_tensor *b, uint64_t bytes) {
    uintptr_t pa = (uintptr_t)a->data, pb = (uintptr_t)b->data;
    if (bytes == 0) return 0;
    return pa < pb + bytes && pb < pa + bytes;
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
    int64_t bx, by;
    size_t ex, ey;
    oz_status status;
    pf_job job;

    if (instance == NULL) return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "forward: instance is NULL");
    if (args == NULL) return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "forward: args is NULL");
    if (args->struct_size < PF_COVERS(oz_forward_args, y))
        return pf_fail(err, OZ_ERR_INVALID_ARGUMENT,
                       "oz_forward_args.struct_size is %u bytes, but ABI version 1 needs %u",
                       (unsigned)args->struct_size, (unsigned)PF_COVERS(oz_forward_args, y));
    if (args->num_params != 0)
        return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "forward: num_params is %u, but 'poolformer' has no parameters",
                       (unsigned)args->num_params);
    if ((status = pf_check_tensor(instance, args->x, "x", &bx, &ex, err)) != OZ_OK) return status;
    if ((status = pf_check_tensor(instance, args->y, "y", &by, &ey, err)) != OZ_OK) return status;
    if ((status = pf_check_same(args->x, "x", bx, args->y, "y", by, err)) != OZ_OK) return status;
    if (pf_overlap(args->x, args->y, (uint64_t)oz_tensor_numel(args->x) * ex))
        return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "forward: y overlaps x; 'poolformer' cannot run in place");

    job.inst = instance;
    job.in = args->x->data;
    job.out = args->y->data;
    job.backward = 0;
    job.bits = args->x->dtype.bits;
    pf_run(instance, &job, bx);
    return OZ_OK;
}

static oz_status pf_backward(oz_instance *instance, const oz_backward_args *args, oz_error *err) {
    int64_t bx, bdy, bdx;
    size_t ex, edy, edx;
    oz_status status;
    pf_job job;

    if (instance == NULL) return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "backward: instance is NULL");
    if (args == NULL) return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "backward: args is NULL");
    if (args->struct_size < PF_COVERS(oz_backward_args, dparams))
        return pf_fail(err, OZ_ERR_INVALID_ARGUMENT,
                       "oz_backward_args.struct_size is %u bytes, but ABI version 1 needs %u",
                       (unsigned)args->struct_size, (unsigned)PF_COVERS(oz_backward_args, dparams));
    if (args->num_params != 0)
        return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "backward: num_params is %u, but 'poolformer' has no parameters",
                       (unsigned)args->num_params);
    if ((status = pf_check_tensor(instance, args->x, "x", &bx, &ex, err)) != OZ_OK) return status;
    if ((status = pf_check_tensor(instance, args->dy, "dy", &bdy, &edy, err)) != OZ_OK) return status;
    if ((status = pf_check_same(args->x, "x", bx, args->dy, "dy", bdy, err)) != OZ_OK) return status;
    if (args->dx == NULL) return OZ_OK; /* no parameters, and dx is not needed: nothing to do */
    if ((status = pf_check_tensor(instance, args->dx, "dx", &bdx, &edx, err)) != OZ_OK) return status;
    if ((status = pf_check_same(args->x, "x", bx, args->dx, "dx", bdx, err)) != OZ_OK) return status;
    if (pf_overlap(args->dy, args->dx, (uint64_t)oz_tensor_numel(args->dy) * edy))
        return pf_fail(err, OZ_ERR_INVALID_ARGUMENT, "backward: dx overlaps dy; 'poolformer' cannot run in place");

    job.inst = instance;
    job.in = args->dy->data;
    job.out = args->dx->data;
    job.backward = 1;
    job.bits = args->dy->dtype.bits;
    pf_run(instance, &job, bdy);
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
    .description = "PoolFormer pooling token mixer, in plain C99 against OperatorABI.h alone",
    .operators = pf_operators,
};

OZ_EXPORT const oz_plugin *oz_plugin_entry(void);

OZ_EXPORT const oz_plugin *oz_plugin_entry(void) { return &pf_plugin; }
