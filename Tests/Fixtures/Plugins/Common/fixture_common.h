/*
 * fixture_common.h -- a small, VALID operator shared by the loader-test fixture plugins.
 *
 * Not a target: a header directory only. Each fixture is one .c file that includes this header by relative
 * path, so a fixture builds with one line and only the ABI include directory (OperatorABI.h and the
 * OperatorPluginHelpers.h beside it, which does the argument checking here):
 *     cc -std=c99 -fPIC -shared -I Sources/OperatorABI/include -o libX.so Tests/Fixtures/Plugins/X/x.c
 * Each fixture changes only what it breaks.
 *
 * The operator: y = scale * x (attribute `scale`, float, default 1.0); backward dx = scale * dy. Token and
 * channel agnostic, no parameters, float32 and float64, [B, L, D] with D fixed at create.
 *
 * Use:
 *     #define FIXTURE_OP_ID "my_op"          // optional; default "fixture_op"
 *     #include "../Common/fixture_common.h"
 *     static const oz_operator op = FIXTURE_OPERATOR(FIXTURE_OP_ID);
 * or spell the table out with FIXTURE_OPERATOR_FIELDS(id) plus struct_size, capabilities and backward.
 */
#ifndef OZ_FIXTURE_COMMON_H
#define OZ_FIXTURE_COMMON_H

#include "OperatorPluginHelpers.h"

#include <stdint.h>
#include <stdlib.h>

#ifndef FIXTURE_OP_ID
#define FIXTURE_OP_ID "fixture_op"
#endif

#if defined(__GNUC__)
#define FX_UNUSED __attribute__((unused))
#else
#define FX_UNUSED
#endif

/* Kept for the fixtures that use them: the helpers' OZ_COVERS and oz_fail. */
#define FX_COVERS OZ_COVERS
#define fx_fail oz_fail

/* Capabilities of the full (v1) fixture operator. */
#define FIXTURE_CAPS (OZ_CAP_BACKWARD | OZ_CAP_DETERMINISTIC | OZ_CAP_REENTRANT | OZ_CAP_FLOAT64)

struct oz_instance {
    int64_t dim;
    double scale;
};

static const double fx_default_scale = 1.0;

FX_UNUSED static const oz_attr_def fx_attr_scale = {
    .struct_size = sizeof(oz_attr_def),
    .type = OZ_ATTR_FLOAT,
    .name = "scale",
    .doc = "factor applied to the output",
    .default_value = {.struct_size = sizeof(oz_attr_value), .type = OZ_ATTR_FLOAT, .count = 1,
                      .floats = &fx_default_scale},
    .min_int = 0,
    .max_int = -1,
    .min_float = -1000.0,
    .max_float = 1000.0,
};

FX_UNUSED static const oz_attr_def *const fx_attrs[] = {&fx_attr_scale};
FX_UNUSED static const char *const fx_attr_names[] = {"scale"};

FX_UNUSED static oz_status fx_create(const oz_operator *op, const oz_create_args *args, oz_instance **out,
                                     oz_error *err) {
    double scale;
    oz_status status;
    oz_instance *inst;
    if (out == NULL) return fx_fail(err, OZ_ERR_INVALID_ARGUMENT, "create: out is NULL");
    *out = NULL;
    if (op == NULL || args == NULL) return fx_fail(err, OZ_ERR_INVALID_ARGUMENT, "create: op or args is NULL");
    if (args->struct_size < FX_COVERS(oz_create_args, host))
        return fx_fail(err, OZ_ERR_INVALID_ARGUMENT, "oz_create_args.struct_size is too small");
    if (args->dim < 1) return fx_fail(err, OZ_ERR_INVALID_ARGUMENT, "model width D must be at least 1");
    if ((status = oz_attrs_check_known(args, fx_attr_names, 1, FIXTURE_OP_ID, "only 'scale'", err)) != OZ_OK ||
        (status = oz_attr_get_float(args, "scale", fx_default_scale, -1000.0, 1000.0, &scale, err)) != OZ_OK)
        return status;
    inst = (oz_instance *)calloc(1, sizeof *inst);
    if (inst == NULL) return fx_fail(err, OZ_ERR_OUT_OF_MEMORY, "could not allocate the instance");
    inst->dim = args->dim;
    inst->scale = scale;
    *out = inst;
    return OZ_OK;
}

FX_UNUSED static void fx_destroy(oz_instance *instance) { free(instance); }

FX_UNUSED static oz_status fx_describe(const oz_instance *instance, oz_instance_info *info, oz_error *err) {
    if (instance == NULL || info == NULL) return fx_fail(err, OZ_ERR_INVALID_ARGUMENT, "describe: NULL argument");
    if (info->struct_size < FX_COVERS(oz_instance_info, flags))
        return fx_fail(err, OZ_ERR_INVALID_ARGUMENT, "oz_instance_info.struct_size is too small");
    info->flags = OZ_INSTANCE_CAUSAL | OZ_INSTANCE_RECEPTIVE_FIELD; /* token t sees only token t */
    if (info->struct_size >= FX_COVERS(oz_instance_info, num_params)) info->num_params = 0;
    if (info->struct_size >= FX_COVERS(oz_instance_info, reserved)) info->reserved = 0;
    if (info->struct_size >= FX_COVERS(oz_instance_info, receptive_left)) info->receptive_left = 0;
    if (info->struct_size >= FX_COVERS(oz_instance_info, receptive_right)) info->receptive_right = 0;
    return OZ_OK;
}

FX_UNUSED static oz_status fx_get_param(const oz_instance *instance, uint32_t index, oz_param_info *info,
                                        oz_error *err) {
    (void)instance;
    (void)index;
    (void)info;
    return fx_fail(err, OZ_ERR_INVALID_ARGUMENT, "parameter index out of range: the operator has no parameters");
}

FX_UNUSED static oz_status fx_init_params(const oz_instance *instance, uint64_t seed, oz_tensor *params,
                                          uint32_t num_params, oz_error *err) {
    (void)seed;
    (void)params;
    if (instance == NULL) return fx_fail(err, OZ_ERR_INVALID_ARGUMENT, "init_params: instance is NULL");
    if (num_params != 0) return fx_fail(err, OZ_ERR_INVALID_ARGUMENT, "init_params: the operator has no parameters");
    return OZ_OK;
}

/* out = scale * in, with `ref`, `in` and `out` each a CPU float32/float64 C-contiguous [B, L, D] (B, L >= 0) and
 * `in` and `out` like `ref` (same dtype and shape). */
FX_UNUSED static oz_status fx_scale(const oz_instance *inst, const oz_tensor *ref, const char *ref_name,
                                    const oz_tensor *in, const char *in_name, oz_tensor *out, const char *out_name,
                                    oz_error *err) {
    int64_t n, i;
    oz_status s;
    if ((s = oz_check_activation(ref, ref_name, OZ_ANY_EXTENT_OR_ZERO, OZ_ANY_EXTENT_OR_ZERO, inst->dim, 1, err)) != OZ_OK ||
        (s = oz_check_activation(in, in_name, OZ_ANY_EXTENT_OR_ZERO, OZ_ANY_EXTENT_OR_ZERO, inst->dim, 1, err)) != OZ_OK ||
        (s = oz_check_activation(out, out_name, OZ_ANY_EXTENT_OR_ZERO, OZ_ANY_EXTENT_OR_ZERO, inst->dim, 1, err)) != OZ_OK)
        return s;
    if ((s = oz_check_same_dtype(ref, ref_name, in, in_name, err)) != OZ_OK ||
        (s = oz_check_same_dtype(ref, ref_name, out, out_name, err)) != OZ_OK ||
        (s = oz_check_same_shape(ref, ref_name, in, in_name, err)) != OZ_OK ||
        (s = oz_check_same_shape(ref, ref_name, out, out_name, err)) != OZ_OK)
        return s;
    n = oz_tensor_numel(in);
    if (in->dtype.bits == 64) {
        const double *src = (const double *)in->data;
        double *dst = (double *)out->data;
        for (i = 0; i < n; i++) dst[i] = inst->scale * src[i];
    } else {
        const float *src = (const float *)in->data;
        float *dst = (float *)out->data;
        const float scale = (float)inst->scale;
        for (i = 0; i < n; i++) dst[i] = scale * src[i];
    }
    return OZ_OK;
}

FX_UNUSED static oz_status fx_forward(oz_instance *instance, const oz_forward_args *args, oz_error *err) {
    if (instance == NULL || args == NULL) return fx_fail(err, OZ_ERR_INVALID_ARGUMENT, "forward: NULL argument");
    if (args->struct_size < FX_COVERS(oz_forward_args, y))
        return fx_fail(err, OZ_ERR_INVALID_ARGUMENT, "oz_forward_args.struct_size is too small");
    if (args->num_params != 0) return fx_fail(err, OZ_ERR_INVALID_ARGUMENT, "forward: the operator has no parameters");
    return fx_scale(instance, args->x, "x", args->x, "x", args->y, "y", err);
}

FX_UNUSED static oz_status fx_backward(oz_instance *instance, const oz_backward_args *args, oz_error *err) {
    if (instance == NULL || args == NULL) return fx_fail(err, OZ_ERR_INVALID_ARGUMENT, "backward: NULL argument");
    if (args->struct_size < FX_COVERS(oz_backward_args, dparams))
        return fx_fail(err, OZ_ERR_INVALID_ARGUMENT, "oz_backward_args.struct_size is too small");
    if (args->num_params != 0) return fx_fail(err, OZ_ERR_INVALID_ARGUMENT, "backward: the operator has no parameters");
    if (args->dx == NULL) {
        oz_status s = oz_check_activation(args->x, "x", OZ_ANY_EXTENT_OR_ZERO, OZ_ANY_EXTENT_OR_ZERO, instance->dim, 1, err);
        if (s != OZ_OK) return s;
        return oz_check_activation(args->dy, "dy", OZ_ANY_EXTENT_OR_ZERO, OZ_ANY_EXTENT_OR_ZERO, instance->dim, 1, err);
    }
    return fx_scale(instance, args->x, "x", args->dy, "dy", args->dx, "dx", err);
}

/* Every v1 field but struct_size, capabilities and backward, for a designated initializer. */
#define FIXTURE_OPERATOR_FIELDS(op_id)                                                                          \
    .role = OZ_ROLE_TOKEN_MIXER, .id = (op_id), .version = "1.0.0",                                             \
    .summary = "y = scale * x (a loader-test fixture)", .num_attrs = 1, .attrs = fx_attrs, .create = fx_create, \
    .destroy = fx_destroy, .describe = fx_describe, .get_param = fx_get_param, .init_params = fx_init_params,   \
    .workspace_size = NULL, .forward = fx_forward

/* A complete, valid v1 operator table with id `op_id`. */
#define FIXTURE_OPERATOR(op_id)                                                                    \
    {                                                                                              \
        .struct_size = sizeof(oz_operator), FIXTURE_OPERATOR_FIELDS(op_id), .capabilities = FIXTURE_CAPS, \
        .backward = fx_backward                                                                    \
    }

#endif /* OZ_FIXTURE_COMMON_H */
