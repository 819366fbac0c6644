/* Breaks one rule on purpose: an operator that calls itself `swa` (flash-attn window attention) but lets query i
   see one key too many on the right, i + right + 1, an off-by-one in the window bound. It declares the receptive
   field it really has, so only the reference check can tell (every other check passes). */
#define _POSIX_C_SOURCE 200809L
#include "OperatorABI.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define COVERS(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

struct oz_instance {
    int64_t dim;
    int64_t heads;
    int64_t left;  /* -1: unbounded */
    int64_t right; /* -1: unbounded */
};

static const int64_t default_heads = 16;
static const int64_t default_window[2] = {4, 4};
static const oz_attr_def attr_heads = {
    .struct_size = sizeof(oz_attr_def), .type = OZ_ATTR_INT, .name = "num_heads", .doc = "attention heads; must divide D",
    .default_value = {.struct_size = sizeof(oz_attr_value), .type = OZ_ATTR_INT, .count = 1, .ints = &default_heads},
    .min_int = 1, .max_int = 4096, .min_float = 1, .max_float = 0,
};
static const oz_attr_def attr_window = {
    .struct_size = sizeof(oz_attr_def), .type = OZ_ATTR_INT_LIST, .name = "window_size",
    .doc = "(left, right); -1 = unbounded",
    .default_value = {.struct_size = sizeof(oz_attr_value), .type = OZ_ATTR_INT_LIST, .count = 2, .ints = default_window},
    .min_int = -1, .max_int = 1 << 20, .min_float = 1, .max_float = 0, .list_length = 2,
};
static const oz_attr_def *const attrs[] = {&attr_heads, &attr_window};

static oz_status create(const oz_operator *op, const oz_create_args *args, oz_instance **out, oz_error *err) {
    int64_t heads = default_heads, left = default_window[0], right = default_window[1];
    uint32_t i;
    (void)op;
    *out = NULL;
    if (args->struct_size < COVERS(oz_create_args, host)) return oz_error_set(err, OZ_ERR_INVALID_ARGUMENT, "args too small");
    for (i = 0; i < args->num_attrs; i++) {
        const oz_attr *a = (const oz_attr *)(const void *)((const char *)args->attrs + (size_t)i * args->attrs[0].struct_size);
        if (a->name != NULL && strcmp(a->name, "num_heads") == 0) {
            if (a->value.type != OZ_ATTR_INT || a->value.count != 1 || a->value.ints == NULL || a->value.ints[0] < 1 ||
                a->value.ints[0] > 4096)
                return oz_error_set(err, OZ_ERR_INVALID_ARGUMENT, "attribute 'num_heads' must be an int in 1 ... 4096");
            heads = a->value.ints[0];
        } else if (a->name != NULL && strcmp(a->name, "window_size") == 0) {
            if (a->value.type != OZ_ATTR_INT_LIST || a->value.count != 2 || a->value.ints == NULL || a->value.ints[0] < -1 ||
                a->value.ints[1] < -1 || a->value.ints[0] > (1 << 20) || a->value.ints[1] > (1 << 20))
                return oz_error_set(err, OZ_ERR_INVALID_ARGUMENT, "attribute 'window_size' must be two ints in -1 ... 2^20");
            left = a->value.ints[0];
            right = a->value.ints[1];
        } else {
            return oz_error_set(err, OZ_ERR_INVALID_ARGUMENT, "unknown attribute");
        }
    }
    if (args->dim < 1 || args->dim % heads != 0) return oz_error_set(err, OZ_ERR_INVALID_ARGUMENT, "num_heads must divide D");
    *out = (oz_instance *)calloc(1, sizeof **out);
    if (*out == NULL) return oz_error_set(err, OZ_ERR_OUT_OF_MEMORY, "out of memory");
    (*out)->dim = args->dim;
    (*out)->heads = heads;
    (*out)->left = left;
    (*out)->right = right;
    return OZ_OK;
}

static void destroy(oz_instance *inst) { free(inst); }

static oz_status describe(const oz_instance *inst, oz_instance_info *info, oz_error *err) {
    (void)err;
    info->flags = OZ_INSTANCE_RECEPTIVE_FIELD;
    info->num_params = 4;
    info->receptive_left = inst->left;
    info->receptive_right = inst->right < 0 ? -1 : inst->right + 1; /* the field it really has */
    if (info->struct_size >= COVERS(oz_instance_info, complexity))
        info->complexity = inst->left >= 0 && inst->right >= 0 ? OZ_COMPLEXITY_LINEAR : OZ_COMPLEXITY_QUADRATIC;
    return OZ_OK;
}

static oz_status get_param(const oz_instance *inst, uint32_t index, oz_param_info *info, oz_error *err) {
    static const char *const names[] = {"Wqkv.weight", "Wqkv.bias", "out_proj.weight", "out_proj.bias"};
    if (index > 3) return oz_error_set(err, OZ_ERR_INVALID_ARGUMENT, "parameter index out of range");
    info->name = names[index];
    info->ndim = index % 2 == 0 ? 2 : 1;
    info->shape[0] = index < 2 ? 3 * inst->dim : inst->dim;
    info->shape[1] = inst->dim;
    return OZ_OK;
}

static oz_status init_params(const oz_instance *inst, uint64_t seed, oz_tensor *params, uint32_t n, oz_error *err) {
    uint32_t p;
    uint64_t state = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    (void)inst;
    if (n != 4) return oz_error_set(err, OZ_ERR_INVALID_ARGUMENT, "4 parameters expected");
    for (p = 0; p < 4; p++) {
        int64_t i, count = oz_tensor_numel(&params[p]);
        for (i = 0; i < count; i++) {
            double u;
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            u = ((double)(state >> 11) / 9007199254740992.0 - 0.5) * 0.5;
            if (params[p].dtype.bits == 64) ((double *)params[p].data)[i] = u;
            else ((float *)params[p].data)[i] = (float)u;
        }
    }
    return OZ_OK;
}

#define AT(t, i) ((t)->dtype.bits == 64 ? ((const double *)(t)->data)[i] : (double)((const float *)(t)->data)[i])

/* A CPU float tensor of the dtype of x with the given rank and leading extents. */
static int fits(const oz_tensor *t, const oz_tensor *x, int rank, int64_t d0, int64_t d1, int64_t d2) {
    if (t == NULL || t->data == NULL || t->shape == NULL || t->device.device_type != OZ_DEVICE_CPU) return 0;
    if (t->dtype.code != OZ_DTYPE_CODE_FLOAT || t->dtype.bits != x->dtype.bits || t->dtype.lanes != 1) return 0;
    if (t->ndim != rank || t->shape[0] != d0) return 0;
    if (rank >= 2 && t->shape[1] != d1) return 0;
    return rank < 3 || t->shape[2] == d2;
}

static oz_status forward(oz_instance *inst, const oz_forward_args *a, oz_error *err) {
    int64_t B, L, D = inst->dim, H = inst->heads, dh, b, i, j, h, c, o;
    double *qkv, *out, *scores;
    const oz_tensor *x = a->x;
    if (a->struct_size < COVERS(oz_forward_args, workspace_size)) return oz_error_set(err, OZ_ERR_INVALID_ARGUMENT, "args too small");
    if (x == NULL || x->dtype.code != OZ_DTYPE_CODE_FLOAT || (x->dtype.bits != 32 && x->dtype.bits != 64) || x->dtype.lanes != 1)
        return oz_error_set(err, OZ_ERR_DTYPE, "float32 or float64 only");
    if (x->ndim != 3 || x->shape == NULL || x->shape[0] < 1 || x->shape[1] < 1 || x->shape[2] != D)
        return oz_error_set(err, OZ_ERR_SHAPE, "x must be [B, L, D]");
    B = x->shape[0];
    L = x->shape[1];
    if (!fits(x, x, 3, B, L, D) || !fits(a->y, x, 3, B, L, D)) return oz_error_set(err, OZ_ERR_SHAPE, "x and y must be [B, L, D]");
    if (a->num_params != 4 || a->params == NULL || !fits(&a->params[0], x, 2, 3 * D, D, 0) ||
        !fits(&a->params[1], x, 1, 3 * D, 0, 0) || !fits(&a->params[2], x, 2, D, D, 0) || !fits(&a->params[3], x, 1, D, 0, 0))
        return oz_error_set(err, OZ_ERR_SHAPE, "parameters must be Wqkv [3D, D], [3D], out_proj [D, D], [D]");
    dh = D / H;
    qkv = (double *)malloc((size_t)(L * 3 * D) * sizeof(double));
    out = (double *)malloc((size_t)(L * D) * sizeof(double));
    scores = (double *)malloc((size_t)L * sizeof(double));
    if (qkv == NULL || out == NULL || scores == NULL) {
        free(qkv);
        free(out);
        free(scores);
        return oz_error_set(err, OZ_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (b = 0; b < B; b++) {
        for (i = 0; i < L; i++)
            for (o = 0; o < 3 * D; o++) {
                double s = AT(&a->params[1], o);
                for (c = 0; c < D; c++) s += AT(&a->params[0], o * D + c) * AT(x, (b * L + i) * D + c);
                qkv[i * 3 * D + o] = s;
            }
        for (h = 0; h < H; h++)
            for (i = 0; i < L; i++) {
                /* THE BUG: the window's right end is i + right + 1 instead of i + right. */
                int64_t lo = inst->left < 0 ? 0 : (i - inst->left < 0 ? 0 : i - inst->left);
                int64_t hi = inst->right < 0 ? L - 1 : (i + inst->right + 1 > L - 1 ? L - 1 : i + inst->right + 1);
                double m = -INFINITY, z = 0.0;
                for (j = lo; j <= hi; j++) {
                    double s = 0.0;
                    for (c = 0; c < dh; c++) s += qkv[i * 3 * D + h * dh + c] * qkv[j * 3 * D + D + h * dh + c];
                    scores[j] = s / sqrt((double)dh);
                    if (scores[j] > m) m = scores[j];
                }
                for (j = lo; j <= hi; j++) z += (scores[j] = exp(scores[j] - m));
                for (c = 0; c < dh; c++) {
                    double v = 0.0;
                    for (j = lo; j <= hi; j++) v += scores[j] / z * qkv[j * 3 * D + 2 * D + h * dh + c];
                    out[i * D + h * dh + c] = v;
                }
            }
        for (i = 0; i < L; i++)
            for (o = 0; o < D; o++) {
                double s = AT(&a->params[3], o);
                for (c = 0; c < D; c++) s += AT(&a->params[2], o * D + c) * out[i * D + c];
                if (a->y->dtype.bits == 64) ((double *)a->y->data)[(b * L + i) * D + o] = s;
                else ((float *)a->y->data)[(b * L + i) * D + o] = (float)s;
            }
    }
    free(qkv);
    free(out);
    free(scores);
    return OZ_OK;
}

static const oz_operator op = {
    .struct_size = sizeof(oz_operator), .role = OZ_ROLE_TOKEN_MIXER, .id = "swa", .version = "0.0.1",
    .summary = "sliding-window attention with an off-by-one window (conformance fixture)",
    .capabilities = OZ_CAP_DETERMINISTIC | OZ_CAP_REENTRANT | OZ_CAP_FLOAT64,
    .num_attrs = 2, .attrs = attrs, .create = create, .destroy = destroy, .describe = describe, .get_param = get_param,
    .init_params = init_params, .workspace_size = NULL, .forward = forward, .backward = NULL,
};
static const oz_operator *const operators[] = {&op};
static const oz_plugin plugin = {sizeof(oz_plugin), OZ_ABI_MAJOR, OZ_ABI_MINOR, 1, "WrongSwa", "0.0.1", "MIT", NULL, operators};

OZ_EXPORT const oz_plugin *oz_plugin_entry(void);
OZ_EXPORT const oz_plugin *oz_plugin_entry(void) { return &plugin; }
