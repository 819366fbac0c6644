/* Breaks one rule on purpose: an operator that calls itself `mlp` but uses the exact (erf) GELU instead of timm's
   tanh approximation, so only the reference check can tell (every other check passes). */
#define _POSIX_C_SOURCE 200809L
#include "OperatorABI.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct oz_instance {
    int64_t dim;
    int64_t hidden;
};

static const double default_ratio = 4.0;
static const oz_attr_def attr_ratio = {
    .struct_size = sizeof(oz_attr_def), .type = OZ_ATTR_FLOAT, .name = "expansion_ratio", .doc = "hidden = int(D * r)",
    .default_value = {.struct_size = sizeof(oz_attr_value), .type = OZ_ATTR_FLOAT, .count = 1, .floats = &default_ratio},
    .min_int = 1, .max_int = 0, .min_float = 0.25, .max_float = 16.0,
};
static const oz_attr_def *const attrs[] = {&attr_ratio};

static oz_status create(const oz_operator *op, const oz_create_args *args, oz_instance **out, oz_error *err) {
    double ratio = default_ratio;
    uint32_t i;
    (void)op;
    *out = NULL;
    if (args->dim < 1) return oz_error_set(err, OZ_ERR_INVALID_ARGUMENT, "D must be >= 1");
    for (i = 0; i < args->num_attrs; i++) {
        const oz_attr *a = (const oz_attr *)(const void *)((const char *)args->attrs + (size_t)i * args->attrs[0].struct_size);
        if (a->name == NULL || strcmp(a->name, "expansion_ratio") != 0 || a->value.type != OZ_ATTR_FLOAT ||
            a->value.floats == NULL || !(a->value.floats[0] >= 0.25 && a->value.floats[0] <= 16.0))
            return oz_error_set(err, OZ_ERR_INVALID_ARGUMENT, "attribute 'expansion_ratio' must be a float in 0.25 ... 16");
        ratio = a->value.floats[0];
    }
    *out = (oz_instance *)calloc(1, sizeof **out);
    if (*out == NULL) return oz_error_set(err, OZ_ERR_OUT_OF_MEMORY, "out of memory");
    (*out)->dim = args->dim;
    (*out)->hidden = (int64_t)((double)args->dim * ratio);
    return OZ_OK;
}

static void destroy(oz_instance *inst) { free(inst); }

static oz_status describe(const oz_instance *inst, oz_instance_info *info, oz_error *err) {
    (void)inst;
    (void)err;
    info->flags = OZ_INSTANCE_CAUSAL | OZ_INSTANCE_RECEPTIVE_FIELD;
    info->num_params = 4;
    info->receptive_left = 0;
    info->receptive_right = 0;
    return OZ_OK;
}

static oz_status get_param(const oz_instance *inst, uint32_t index, oz_param_info *info, oz_error *err) {
    static const char *const names[] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};
    if (index > 3) return oz_error_set(err, OZ_ERR_INVALID_ARGUMENT, "parameter index out of range");
    info->name = names[index];
    info->ndim = index % 2 == 0 ? 2 : 1;
    info->shape[0] = index < 2 ? inst->hidden : inst->dim;
    info->shape[1] = index == 0 ? inst->dim : inst->hidden;
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

static oz_status forward(oz_instance *inst, const oz_forward_args *a, oz_error *err) {
    int64_t rows, r, h, c, D = inst->dim, H = inst->hidden;
    double *hidden;
    if (a->x->ndim != 3 || a->x->shape[2] != D || a->y->ndim != 3 || a->y->shape[0] != a->x->shape[0] ||
        a->y->shape[1] != a->x->shape[1] || a->y->shape[2] != D)
        return oz_error_set(err, OZ_ERR_SHAPE, "x and y must be [B, L, D]");
    if (a->x->dtype.code != OZ_DTYPE_CODE_FLOAT || (a->x->dtype.bits != 32 && a->x->dtype.bits != 64) ||
        a->x->dtype.bits != a->y->dtype.bits || a->x->dtype.lanes != 1)
        return oz_error_set(err, OZ_ERR_DTYPE, "float32 or float64 only");
    if (a->num_params != 4) return oz_error_set(err, OZ_ERR_INVALID_ARGUMENT, "4 parameters expected");
    for (r = 0; r < 4; r++)
        if (a->params[r].dtype.bits != a->x->dtype.bits) return oz_error_set(err, OZ_ERR_DTYPE, "mixed dtypes");
    rows = a->x->shape[0] * a->x->shape[1];
    hidden = (double *)malloc((size_t)H * sizeof(double));
    if (hidden == NULL) return oz_error_set(err, OZ_ERR_OUT_OF_MEMORY, "out of memory");
    for (r = 0; r < rows; r++) {
        for (h = 0; h < H; h++) {
            double u = AT(&a->params[1], h);
            for (c = 0; c < D; c++) u += AT(&a->params[0], h * D + c) * AT(a->x, r * D + c);
            hidden[h] = 0.5 * u * (1.0 + erf(u / sqrt(2.0))); /* exact GELU: not timm's tanh form */
        }
        for (c = 0; c < D; c++) {
            double v = AT(&a->params[3], c);
            for (h = 0; h < H; h++) v += AT(&a->params[2], c * H + h) * hidden[h];
            if (a->y->dtype.bits == 64) ((double *)a->y->data)[r * D + c] = v;
            else ((float *)a->y->data)[r * D + c] = (float)v;
        }
    }
    free(hidden);
    return OZ_OK;
}

static const oz_operator op = {
    .struct_size = sizeof(oz_operator), .role = OZ_ROLE_CHANNEL_MIXER, .id = "mlp", .version = "0.0.1",
    .summary = "an mlp with the wrong GELU (conformance fixture)",
    .capabilities = OZ_CAP_DETERMINISTIC | OZ_CAP_REENTRANT | OZ_CAP_FLOAT64,
    .num_attrs = 1, .attrs = attrs, .create = create, .destroy = destroy, .describe = describe, .get_param = get_param,
    .init_params = init_params, .workspace_size = NULL, .forward = forward, .backward = NULL,
};
static const oz_operator *const operators[] = {&op};
static const oz_plugin plugin = {sizeof(oz_plugin), OZ_ABI_MAJOR, OZ_ABI_MINOR, 1, "WrongMlp", "0.0.1", "MIT", NULL, operators};

OZ_EXPORT const oz_plugin *oz_plugin_entry(void);
OZ_EXPORT const oz_plugin *oz_plugin_entry(void) { return &plugin; }
