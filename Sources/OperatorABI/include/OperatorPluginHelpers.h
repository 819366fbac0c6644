/*
 * OperatorPluginHelpers.h -- optional, header-only helpers for writing an OperatorZoo plugin in C or C++.
 *
 * Everything here is `static inline` and built on OperatorABI.h and the C standard library alone: nothing to link,
 * nothing the host needs, and a plugin that does not include this header is just as valid. It holds the code every
 * C plugin otherwise writes for itself:
 *
 *   - errors:      oz_fail / oz_failv (printf-style, honour oz_error.struct_size and capacity); OZ_COVERS(type,
 *                  field) for "does this struct_size cover that field"
 *   - attributes:  oz_attrs_check_known (the array is well formed, every name known, none repeated), oz_attr_find
 *                  and oz_attr_at (element stride attrs[0].struct_size), and typed getters with a default and a
 *                  range: oz_attr_get_int, _float, _bool, _int_list, _string, _choice
 *   - tensors:     oz_check_tensor (not NULL, CPU, float32/float64, rank, extents, C-contiguous, byte_offset 0, data
 *                  set and aligned) and its parts (oz_check_device, _float_dtype, _rank, _extents, _layout, _data),
 *                  oz_check_activation for [B, L, D], oz_check_same_dtype / _same_shape, oz_tensors_overlap and
 *                  oz_check_no_overlap; oz_tensor_nbytes, oz_format_shape, oz_format_dtype
 *   - cost:        oz_cost_write (ABI 1.3), with the overflow-checked oz_u64_mul / oz_u64_add
 *
 * Every failing check writes one sentence naming what was wrong (the attribute or the tensor, e.g. 'x' or 'dy',
 * with what was expected and what was given) and returns the status; every success returns OZ_OK. Include it
 * after, or instead of, OperatorABI.h:
 *
 *     #include "OperatorPluginHelpers.h"
 *
 * It compiles as C99 and as C++ (no designated initializers, no VLAs).
 */
#ifndef OPERATOR_ZOO_OPERATOR_PLUGIN_HELPERS_H
#define OPERATOR_ZOO_OPERATOR_PLUGIN_HELPERS_H

#include "OperatorABI.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* printf-style format checking where the compiler has it. */
#if defined(__GNUC__) || defined(__clang__)
#define OZ_PRINTF_LIKE(format_index, first_arg) __attribute__((format(printf, format_index, first_arg)))
#else
#define OZ_PRINTF_LIKE(format_index, first_arg)
#endif

/** Bytes of struct `type` up to and including `field`: `x->struct_size >= OZ_COVERS(type, field)` means x has it. */
#define OZ_COVERS(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/** An expected extent for oz_check_extents / oz_check_tensor / oz_check_activation: any extent >= 1. */
#define OZ_ANY_EXTENT (-1)
/** An expected extent: any extent >= 0 (an empty batch, say). */
#define OZ_ANY_EXTENT_OR_ZERO (-2)

/* ------------------------------------------------------------------------------------------------ */
/* Errors                                                                                           */
/* ------------------------------------------------------------------------------------------------ */

/** oz_fail with a va_list: formats into `err` (if its struct_size covers `message`), truncating to `capacity`. */
OZ_PRINTF_LIKE(3, 0)
static inline oz_status oz_failv(oz_error *err, oz_status status, const char *format, va_list ap) {
    if (err == NULL || err->struct_size < OZ_COVERS(oz_error, message) || err->message == NULL || err->capacity == 0)
        return status;
    if (vsnprintf(err->message, (size_t)err->capacity, format, ap) < 0) err->message[0] = '\0';
    return status;
}

/**
 * Writes the printf-formatted message into `err` and returns `status`, so a check reads
 * `return oz_fail(err, OZ_ERR_SHAPE, "tensor '%s' has rank %d; expected 3", name, rank);`. Writes nothing when
 * `err` is NULL, its struct_size does not cover `message`, or it has no room; the message is truncated to
 * `capacity` bytes and always NUL-terminated.
 */
OZ_PRINTF_LIKE(3, 4)
static inline oz_status oz_fail(oz_error *err, oz_status status, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    status = oz_failv(err, status, format, ap);
    va_end(ap);
    return status;
}

/* ------------------------------------------------------------------------------------------------ */
/* Arithmetic for sizes and costs                                                                   */
/* ------------------------------------------------------------------------------------------------ */

/** `*out = a * b`; returns 0 (leaving `*out` unspecified) when the product overflows 64 bits, else 1. */
static inline int oz_u64_mul(uint64_t a, uint64_t b, uint64_t *out) {
    if (a != 0 && b > UINT64_MAX / a) return 0;
    *out = a * b;
    return 1;
}

/** `*out = a + b`; returns 0 when the sum overflows 64 bits, else 1. */
static inline int oz_u64_add(uint64_t a, uint64_t b, uint64_t *out) {
    if (b > UINT64_MAX - a) return 0;
    *out = a + b;
    return 1;
}

/* ------------------------------------------------------------------------------------------------ */
/* Attributes                                                                                       */
/* ------------------------------------------------------------------------------------------------ */

/**
 * Element `index` of `args->attrs`. The host passes a C array of its own oz_attr, so the element stride is the
 * size it wrote, `attrs[0].struct_size`, which may be larger than this header's sizeof(oz_attr). Call it only after
 * oz_attrs_check (or one of the getters) accepted the array.
 */
static inline const oz_attr *oz_attr_at(const oz_create_args *args, uint32_t index) {
    const size_t stride = args->attrs[0].struct_size;
    return (const oz_attr *)(const void *)((const char *)args->attrs + (size_t)index * stride);
}

/**
 * Checks that `args->attrs` is a well-formed array: not NULL when num_attrs > 0, a stride (attrs[0].struct_size) of
 * at least sizeof(oz_attr), the same struct_size in every element, and no NULL name. OZ_ERR_INVALID_ARGUMENT otherwise.
 */
static inline oz_status oz_attrs_check(const oz_create_args *args, oz_error *err) {
    size_t stride;
    uint32_t i;
    if (args->num_attrs == 0) return OZ_OK;
    if (args->attrs == NULL)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "create args: num_attrs is %u but attrs is NULL",
                       (unsigned)args->num_attrs);
    stride = args->attrs[0].struct_size;
    if (stride < sizeof(oz_attr))
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "oz_attr.struct_size is %u bytes, but ABI version 1 needs %u",
                       (unsigned)stride, (unsigned)sizeof(oz_attr));
    for (i = 0; i < args->num_attrs; i++) {
        const oz_attr *attr = oz_attr_at(args, i);
        if (attr->struct_size != stride)
            return oz_fail(err, OZ_ERR_INVALID_ARGUMENT,
                           "attrs[%u].struct_size is %u bytes, but attrs[0].struct_size is %u", (unsigned)i,
                           (unsigned)attr->struct_size, (unsigned)stride);
        if (attr->name == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "attrs[%u].name is NULL", (unsigned)i);
    }
    return OZ_OK;
}

/**
 * oz_attrs_check, then refuses a name that is not one of `names` ("unknown attribute 'x' (operator 'op' has
 * <known>)", where `known` describes the schema, e.g. "only 'pool_size'"; NULL lists `names`) and a name given
 * more than once. Call it first in create, so a misspelt attribute is never silently ignored.
 */
static inline oz_status oz_attrs_check_known(const oz_create_args *args, const char *const *names, uint32_t num_names,
                                             const char *op_id, const char *known, oz_error *err) {
    uint32_t i, j, n;
    oz_status status = oz_attrs_check(args, err);
    if (status != OZ_OK) return status;
    for (i = 0; i < args->num_attrs; i++) {
        const char *name = oz_attr_at(args, i)->name;
        for (n = 0; n < num_names; n++)
            if (strcmp(name, names[n]) == 0) break;
        if (n == num_names) {
            char list[256];
            size_t used = 0;
            if (known == NULL) {
                list[0] = '\0';
                for (n = 0; n < num_names && used + 1 < sizeof list; n++) {
                    int wrote = snprintf(list + used, sizeof list - used, "%s'%s'", n == 0 ? "" : ", ", names[n]);
                    if (wrote < 0) break;
                    used += (size_t)wrote;
                }
                known = list;
            }
            return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "unknown attribute '%.64s' (operator '%s' has %s)", name,
                           op_id, known);
        }
        for (j = 0; j < i; j++)
            if (strcmp(name, oz_attr_at(args, j)->name) == 0)
                return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "attribute '%s' is given more than once", name);
    }
    return OZ_OK;
}

/**
 * Looks attribute `name` up in `args` (after checking the array as oz_attrs_check does): `*found` is the entry, or
 * NULL when the host did not pass it (then the caller uses its default). A name given twice is refused.
 */
static inline oz_status oz_attr_find(const oz_create_args *args, const char *name, const oz_attr **found,
                                     oz_error *err) {
    uint32_t i;
    oz_status status = oz_attrs_check(args, err);
    *found = NULL;
    if (status != OZ_OK) return status;
    for (i = 0; i < args->num_attrs; i++) {
        const oz_attr *attr = oz_attr_at(args, i);
        if (strcmp(attr->name, name) != 0) continue;
        if (*found != NULL) {
            *found = NULL;
            return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "attribute '%s' is given more than once", name);
        }
        *found = attr;
    }
    return OZ_OK;
}

/** The name of attribute type `type` for messages, e.g. "int (OZ_ATTR_INT = 1)". */
static inline const char *oz_attr_type_name(uint32_t type) {
    switch (type) {
    case OZ_ATTR_INT: return "int (OZ_ATTR_INT = 1)";
    case OZ_ATTR_FLOAT: return "float (OZ_ATTR_FLOAT = 2)";
    case OZ_ATTR_BOOL: return "bool (OZ_ATTR_BOOL = 3)";
    case OZ_ATTR_STRING: return "string (OZ_ATTR_STRING = 4)";
    case OZ_ATTR_INT_LIST: return "int list (OZ_ATTR_INT_LIST = 5)";
    case OZ_ATTR_FLOAT_LIST: return "float list (OZ_ATTR_FLOAT_LIST = 6)";
    default: return "unknown";
    }
}

/**
 * oz_attr_find, then checks that the value has `type` and a struct_size covering the member that type is read
 * from: `*value` is the value, or NULL when the attribute is absent. The typed getters below are built on it.
 */
static inline oz_status oz_attr_find_typed(const oz_create_args *args, const char *name, uint32_t type,
                                           const oz_attr_value **value, oz_error *err) {
    const oz_attr *attr;
    size_t needed;
    oz_status status = oz_attr_find(args, name, &attr, err);
    *value = NULL;
    if (status != OZ_OK || attr == NULL) return status;
    needed = type == OZ_ATTR_STRING ? OZ_COVERS(oz_attr_value, string)
             : (type == OZ_ATTR_FLOAT || type == OZ_ATTR_FLOAT_LIST) ? OZ_COVERS(oz_attr_value, floats)
                                                                     : OZ_COVERS(oz_attr_value, ints);
    if (attr->value.struct_size < needed)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "attribute '%s': oz_attr_value.struct_size is %u bytes, too small",
                       name, (unsigned)attr->value.struct_size);
    if (attr->value.type != type)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "attribute '%s' must have type %s, got type %u", name,
                       oz_attr_type_name(type), (unsigned)attr->value.type);
    *value = &attr->value;
    return OZ_OK;
}

/**
 * Reads int attribute `name` (OZ_ATTR_INT: count 1, ints[0]) into `*value`, or `fallback` when it is absent, and
 * checks it lies in `min`...`max` (no bounds when min > max, as in oz_attr_def).
 */
static inline oz_status oz_attr_get_int(const oz_create_args *args, const char *name, int64_t fallback, int64_t min,
                                        int64_t max, int64_t *value, oz_error *err) {
    const oz_attr_value *v;
    oz_status status = oz_attr_find_typed(args, name, OZ_ATTR_INT, &v, err);
    *value = fallback;
    if (status != OZ_OK || v == NULL) return status;
    if (v->count != 1 || v->ints == NULL)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "attribute '%s' must hold exactly one int (count %u, ints %s)",
                       name, (unsigned)v->count, v->ints == NULL ? "NULL" : "set");
    if (min <= max && (v->ints[0] < min || v->ints[0] > max))
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "attribute '%s' = %lld is out of range %lld...%lld", name,
                       (long long)v->ints[0], (long long)min, (long long)max);
    *value = v->ints[0];
    return OZ_OK;
}

/**
 * Reads float attribute `name` (OZ_ATTR_FLOAT: count 1, floats[0]) into `*value`, or `fallback` when absent, and
 * checks it lies in `min`...`max` (no bounds when min > max; NaN is refused whenever there are bounds).
 */
static inline oz_status oz_attr_get_float(const oz_create_args *args, const char *name, double fallback, double min,
                                          double max, double *value, oz_error *err) {
    const oz_attr_value *v;
    oz_status status = oz_attr_find_typed(args, name, OZ_ATTR_FLOAT, &v, err);
    *value = fallback;
    if (status != OZ_OK || v == NULL) return status;
    if (v->count != 1 || v->floats == NULL)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "attribute '%s' must hold exactly one float (count %u, floats %s)",
                       name, (unsigned)v->count, v->floats == NULL ? "NULL" : "set");
    if (min <= max && !(v->floats[0] >= min && v->floats[0] <= max))
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "attribute '%s' = %g is out of range %g...%g", name, v->floats[0],
                       min, max);
    *value = v->floats[0];
    return OZ_OK;
}

/** Reads bool attribute `name` (OZ_ATTR_BOOL: count 1, ints[0] 0 or 1) into `*value` (0 or 1), or `fallback`. */
static inline oz_status oz_attr_get_bool(const oz_create_args *args, const char *name, int fallback, int *value,
                                         oz_error *err) {
    const oz_attr_value *v;
    oz_status status = oz_attr_find_typed(args, name, OZ_ATTR_BOOL, &v, err);
    *value = fallback;
    if (status != OZ_OK || v == NULL) return status;
    if (v->count != 1 || v->ints == NULL)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "attribute '%s' must hold exactly one bool (count %u, ints %s)",
                       name, (unsigned)v->count, v->ints == NULL ? "NULL" : "set");
    if (v->ints[0] != 0 && v->ints[0] != 1)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "attribute '%s' = %lld is not a bool (expected 0 or 1)", name,
                       (long long)v->ints[0]);
    *value = (int)v->ints[0];
    return OZ_OK;
}

/**
 * Reads int-list attribute `name` (OZ_ATTR_INT_LIST: `count` ints) into `values` (room for `max_count`) and `*count`,
 * or copies `fallback` (`fallback_count` ints) when absent. Checks min_count <= count <= max_count and every element
 * in `min`...`max` (no bounds when min > max).
 */
static inline oz_status oz_attr_get_int_list(const oz_create_args *args, const char *name, const int64_t *fallback,
                                             uint32_t fallback_count, uint32_t min_count, uint32_t max_count,
                                             int64_t min, int64_t max, int64_t *values, uint32_t *count,
                                             oz_error *err) {
    const oz_attr_value *v;
    uint32_t i;
    oz_status status = oz_attr_find_typed(args, name, OZ_ATTR_INT_LIST, &v, err);
    if (status != OZ_OK) return status;
    if (v == NULL) {
        for (i = 0; i < fallback_count && i < max_count; i++) values[i] = fallback[i];
        *count = i;
        return OZ_OK;
    }
    if (v->count < min_count || v->count > max_count || v->ints == NULL) {
        if (min_count == max_count)
            return oz_fail(err, OZ_ERR_INVALID_ARGUMENT,
                           "attribute '%s' must hold exactly %u int%s (count %u, ints %s)", name, (unsigned)min_count,
                           min_count == 1 ? "" : "s", (unsigned)v->count, v->ints == NULL ? "NULL" : "set");
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "attribute '%s' must hold %u to %u ints (count %u, ints %s)", name,
                       (unsigned)min_count, (unsigned)max_count, (unsigned)v->count, v->ints == NULL ? "NULL" : "set");
    }
    for (i = 0; i < v->count; i++) {
        if (min <= max && (v->ints[i] < min || v->ints[i] > max))
            return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "attribute '%s' = %lld is out of range %lld...%lld", name,
                           (long long)v->ints[i], (long long)min, (long long)max);
        values[i] = v->ints[i];
    }
    *count = v->count;
    return OZ_OK;
}

/** Reads string attribute `name` (OZ_ATTR_STRING, non-NULL `string`) into `*value`, or `fallback` when absent. */
static inline oz_status oz_attr_get_string(const oz_create_args *args, const char *name, const char *fallback,
                                           const char **value, oz_error *err) {
    const oz_attr_value *v;
    oz_status status = oz_attr_find_typed(args, name, OZ_ATTR_STRING, &v, err);
    *value = fallback;
    if (status != OZ_OK || v == NULL) return status;
    if (v->string == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "attribute '%s' has a NULL string", name);
    *value = v->string;
    return OZ_OK;
}

/**
 * Reads string attribute `name` and looks it up in `choices`, the schema's '|'-separated list (e.g.
 * "causal1d|same1d|same2d"): `*index` is its position, or `fallback` when the attribute is absent. A value outside
 * the list is refused with "attribute 'mode' = 'x' is not one of causal1d, same1d, same2d".
 */
static inline oz_status oz_attr_get_choice(const oz_create_args *args, const char *name, const char *choices,
                                           int fallback, int *index, oz_error *err) {
    const char *value, *p = choices;
    size_t length;
    int i = 0;
    char list[256];
    size_t used = 0;
    oz_status status = oz_attr_get_string(args, name, NULL, &value, err);
    *index = fallback;
    if (status != OZ_OK || value == NULL) return status;
    length = strlen(value);
    for (;;) {
        const char *end = strchr(p, '|');
        const size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n == length && strncmp(p, value, n) == 0) {
            *index = i;
            return OZ_OK;
        }
        if (end == NULL) break;
        p = end + 1;
        i++;
    }
    /* The list for the message: "a|b|c" -> "a, b, c". */
    for (p = choices; *p != '\0' && used + 3 < sizeof list; p++) {
        if (*p == '|') {
            list[used++] = ',';
            list[used++] = ' ';
        } else {
            list[used++] = *p;
        }
    }
    list[used] = '\0';
    return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "attribute '%s' = '%.64s' is not one of %s", name, value, list);
}

/* ------------------------------------------------------------------------------------------------ */
/* Tensors                                                                                          */
/* ------------------------------------------------------------------------------------------------ */

/** Bytes of one element of `t` (bits / 8, at least 1). */
static inline size_t oz_tensor_element_size(const oz_tensor *t) {
    return t->dtype.bits >= 8 ? (size_t)(t->dtype.bits / 8) : (size_t)1;
}

/** Bytes a C-contiguous `t` spans (numel times the element size), or 0 when it is empty or its size is invalid. */
static inline uint64_t oz_tensor_nbytes(const oz_tensor *t) {
    const int64_t n = oz_tensor_numel(t);
    uint64_t bytes;
    if (n <= 0 || !oz_u64_mul((uint64_t)n, (uint64_t)oz_tensor_element_size(t), &bytes)) return 0;
    return bytes;
}

/**
 * Writes "[2, 16, 384]" (the first `ndim` extents of `shape`) into `buffer` and returns it, for messages; truncated
 * to `size` bytes. 8 axes need at most 180 bytes.
 */
static inline const char *oz_format_shape(char *buffer, size_t size, int32_t ndim, const int64_t *shape) {
    size_t used = 0;
    int32_t i;
    if (size == 0) return buffer;
    buffer[0] = '\0';
    for (i = 0; i < ndim && used + 1 < size; i++) {
        const int wrote = snprintf(buffer + used, size - used, "%s%lld", i == 0 ? "[" : ", ", (long long)shape[i]);
        if (wrote < 0) return buffer;
        used += (size_t)wrote;
    }
    if (used + 1 < size) snprintf(buffer + used, size - used, ndim > 0 ? "]" : "[]");
    return buffer;
}

/** Refuses (OZ_ERR_DTYPE) a tensor not on the CPU (device type OZ_DEVICE_CPU, id 0). */
static inline oz_status oz_check_device(const oz_tensor *t, const char *name, oz_error *err) {
    if (t->device.device_type != OZ_DEVICE_CPU || t->device.device_id != 0)
        return oz_fail(err, OZ_ERR_DTYPE,
                       "tensor '%s' is on device (type %d, id %d); only CPU (type %d, id 0) is supported", name,
                       (int)t->device.device_type, (int)t->device.device_id, OZ_DEVICE_CPU);
    return OZ_OK;
}

/** Refuses (OZ_ERR_DTYPE) a dtype other than float32, or float32/float64 when `allow_float64` is non-zero. */
static inline oz_status oz_check_float_dtype(const oz_tensor *t, const char *name, int allow_float64, oz_error *err) {
    if (t->dtype.code != OZ_DTYPE_CODE_FLOAT || t->dtype.lanes != 1 ||
        (t->dtype.bits != 32 && (t->dtype.bits != 64 || !allow_float64)))
        return oz_fail(err, OZ_ERR_DTYPE, "tensor '%s' has dtype (code %u, bits %u, lanes %u); only %s supported", name,
                       (unsigned)t->dtype.code, (unsigned)t->dtype.bits, (unsigned)t->dtype.lanes,
                       allow_float64 ? "float32 and float64 are" : "float32 is");
    return OZ_OK;
}

/** Refuses a rank other than `ndim` (OZ_ERR_SHAPE) and a NULL `shape` (OZ_ERR_INVALID_ARGUMENT). */
static inline oz_status oz_check_rank(const oz_tensor *t, const char *name, int32_t ndim, oz_error *err) {
    if (t->ndim != ndim)
        return oz_fail(err, OZ_ERR_SHAPE, "tensor '%s' has rank %d; expected %d", name, (int)t->ndim, (int)ndim);
    if (ndim > 0 && t->shape == NULL)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "tensor '%s' has a NULL shape", name);
    return OZ_OK;
}

/**
 * Checks each extent against `expected` (rank already checked): an extent >= 0 must match exactly, OZ_ANY_EXTENT
 * takes any extent >= 1, OZ_ANY_EXTENT_OR_ZERO any extent >= 0. OZ_ERR_SHAPE names the axis.
 */
static inline oz_status oz_check_extents(const oz_tensor *t, const char *name, const int64_t *expected, oz_error *err) {
    int32_t i;
    for (i = 0; i < t->ndim; i++) {
        const int64_t e = expected[i];
        const int64_t least = e == OZ_ANY_EXTENT_OR_ZERO ? 0 : 1;
        if (e >= 0 ? t->shape[i] != e : t->shape[i] < least)
            return oz_fail(err, OZ_ERR_SHAPE, "tensor '%s' has extent %lld on axis %d; expected %s%lld", name,
                           (long long)t->shape[i], (int)i, e >= 0 ? "" : "at least ", (long long)(e >= 0 ? e : least));
    }
    return OZ_OK;
}

/**
 * Checks the memory layout (extents already checked, none negative): C-contiguous strides (NULL strides mean
 * compact, as in DLPack; an axis of extent <= 1 may have any stride), a byte size that fits in int64, and
 * byte_offset 0. OZ_ERR_SHAPE otherwise.
 */
static inline oz_status oz_check_layout(const oz_tensor *t, const char *name, oz_error *err) {
    const int64_t element = (int64_t)oz_tensor_element_size(t);
    int64_t stride = 1;
    int empty = 0;
    int32_t i;
    for (i = t->ndim - 1; i >= 0; i--) {
        if (t->strides != NULL && t->shape[i] > 1 && t->strides[i] != stride)
            return oz_fail(err, OZ_ERR_SHAPE, "tensor '%s' is not C-contiguous (stride %lld on axis %d, expected %lld)",
                           name, (long long)t->strides[i], (int)i, (long long)stride);
        if (t->shape[i] == 0) empty = 1;
        if (!empty && t->shape[i] > INT64_MAX / element / stride)
            return oz_fail(err, OZ_ERR_SHAPE, "tensor '%s' is too large", name);
        stride = empty ? 0 : stride * t->shape[i];
    }
    if (t->byte_offset != 0)
        return oz_fail(err, OZ_ERR_SHAPE, "tensor '%s' has byte_offset %llu; only 0 is supported", name,
                       (unsigned long long)t->byte_offset);
    return OZ_OK;
}

/** Refuses (OZ_ERR_INVALID_ARGUMENT) NULL `data` in a non-empty tensor and `data` not aligned to its elements. */
static inline oz_status oz_check_data(const oz_tensor *t, const char *name, oz_error *err) {
    const size_t element = oz_tensor_element_size(t);
    if (t->data == NULL) {
        if (oz_tensor_numel(t) > 0) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "tensor '%s' has NULL data", name);
        return OZ_OK;
    }
    if ((uintptr_t)t->data % element != 0)
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "tensor '%s' data is not aligned to its %u-byte elements", name,
                       (unsigned)element);
    return OZ_OK;
}

/**
 * The whole check of one tensor, in this order: not NULL, CPU, float32 (or float64 with `allow_float64`), rank
 * `ndim`, extents `expected` (see oz_check_extents), C-contiguous with byte_offset 0, data set and aligned.
 */
static inline oz_status oz_check_tensor(const oz_tensor *t, const char *name, int32_t ndim, const int64_t *expected,
                                        int allow_float64, oz_error *err) {
    oz_status status;
    if (t == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "tensor '%s' is NULL", name);
    if ((status = oz_check_device(t, name, err)) != OZ_OK) return status;
    if ((status = oz_check_float_dtype(t, name, allow_float64, err)) != OZ_OK) return status;
    if ((status = oz_check_rank(t, name, ndim, err)) != OZ_OK) return status;
    if ((status = oz_check_extents(t, name, expected, err)) != OZ_OK) return status;
    if ((status = oz_check_layout(t, name, err)) != OZ_OK) return status;
    return oz_check_data(t, name, err);
}

/**
 * oz_check_tensor for an activation [B, L, D] (x, y, dy, dx): `batch` and `length` are an exact extent or
 * OZ_ANY_EXTENT / OZ_ANY_EXTENT_OR_ZERO, `dim` is D. The shape message shows both shapes, e.g. "tensor 'y' has
 * shape [2, 16, 8]; expected [B, L, 4]". Afterwards t->shape[0] and t->shape[1] are B and L.
 */
static inline oz_status oz_check_activation(const oz_tensor *t, const char *name, int64_t batch, int64_t length,
                                            int64_t dim, int allow_float64, oz_error *err) {
    int64_t expected[3];
    oz_status status;
    int32_t i;
    expected[0] = batch;
    expected[1] = length;
    expected[2] = dim;
    if (t == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "tensor '%s' is NULL", name);
    if ((status = oz_check_device(t, name, err)) != OZ_OK) return status;
    if ((status = oz_check_float_dtype(t, name, allow_float64, err)) != OZ_OK) return status;
    if (t->ndim != 3)
        return oz_fail(err, OZ_ERR_SHAPE, "tensor '%s' has rank %d; expected 3 ([B, L, D])", name, (int)t->ndim);
    if (t->shape == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "tensor '%s' has a NULL shape", name);
    for (i = 0; i < 3; i++) {
        const int64_t e = expected[i];
        const int64_t least = e == OZ_ANY_EXTENT_OR_ZERO ? 0 : 1;
        if (e >= 0 ? t->shape[i] != e : t->shape[i] < least) {
            char b[24], l[24], got[80];
            if (batch >= 0) snprintf(b, sizeof b, "%lld", (long long)batch);
            else snprintf(b, sizeof b, "B");
            if (length >= 0) snprintf(l, sizeof l, "%lld", (long long)length);
            else snprintf(l, sizeof l, "L");
            return oz_fail(err, OZ_ERR_SHAPE, "tensor '%s' has shape %s; expected [%s, %s, %lld]%s", name,
                           oz_format_shape(got, sizeof got, 3, t->shape), b, l, (long long)dim,
                           e >= 0 ? "" : (i == 0 ? (least == 0 ? " with B >= 0" : " with B >= 1")
                                                 : (least == 0 ? " with L >= 0" : " with L >= 1")));
        }
    }
    if ((status = oz_check_layout(t, name, err)) != OZ_OK) return status;
    return oz_check_data(t, name, err);
}

/**
 * Writes the name of `dtype` into `buffer` and returns it: "float32", "int64", "float32x4" (4 lanes), or
 * "code 7, bits 32, lanes 1" for a code DLPack has but this ABI does not name.
 */
static inline const char *oz_format_dtype(char *buffer, size_t size, oz_dtype dtype) {
    const char *code = dtype.code == OZ_DTYPE_CODE_FLOAT ? "float"
                       : dtype.code == OZ_DTYPE_CODE_INT ? "int"
                       : dtype.code == OZ_DTYPE_CODE_UINT ? "uint"
                                                          : NULL;
    if (code == NULL)
        snprintf(buffer, size, "code %u, bits %u, lanes %u", (unsigned)dtype.code, (unsigned)dtype.bits,
                 (unsigned)dtype.lanes);
    else if (dtype.lanes == 1)
        snprintf(buffer, size, "%s%u", code, (unsigned)dtype.bits);
    else
        snprintf(buffer, size, "%s%ux%u", code, (unsigned)dtype.bits, (unsigned)dtype.lanes);
    return buffer;
}

/** Refuses (OZ_ERR_DTYPE) two tensors of different dtypes: "tensors 'x' (float32) and 'y' (float64) must ...". */
static inline oz_status oz_check_same_dtype(const oz_tensor *a, const char *a_name, const oz_tensor *b,
                                           const char *b_name, oz_error *err) {
    if (a->dtype.code != b->dtype.code || a->dtype.bits != b->dtype.bits || a->dtype.lanes != b->dtype.lanes) {
        char da[32], db[32];
        return oz_fail(err, OZ_ERR_DTYPE, "tensors '%s' (%s) and '%s' (%s) must have the same dtype", a_name,
                       oz_format_dtype(da, sizeof da, a->dtype), b_name, oz_format_dtype(db, sizeof db, b->dtype));
    }
    return OZ_OK;
}

/** Refuses (OZ_ERR_SHAPE) two tensors whose ranks or extents differ, printing both shapes. */
static inline oz_status oz_check_same_shape(const oz_tensor *a, const char *a_name, const oz_tensor *b,
                                           const char *b_name, oz_error *err) {
    int32_t i;
    int same = a->ndim == b->ndim;
    for (i = 0; same && i < a->ndim; i++) same = a->shape[i] == b->shape[i];
    if (!same) {
        char sa[200], sb[200];
        const int32_t na = a->ndim <= OZ_MAX_PARAM_DIMS ? a->ndim : OZ_MAX_PARAM_DIMS;
        const int32_t nb = b->ndim <= OZ_MAX_PARAM_DIMS ? b->ndim : OZ_MAX_PARAM_DIMS;
        return oz_fail(err, OZ_ERR_SHAPE, "tensors '%s' %s and '%s' %s must have the same shape", a_name,
                       oz_format_shape(sa, sizeof sa, na, a->shape), b_name,
                       oz_format_shape(sb, sizeof sb, nb, b->shape));
    }
    return OZ_OK;
}

/**
 * Non-zero when the byte ranges of `a` and `b` (data + byte_offset, oz_tensor_nbytes long) intersect. Empty
 * tensors overlap nothing. Use it where a kernel cannot run in place.
 */
static inline int oz_tensors_overlap(const oz_tensor *a, const oz_tensor *b) {
    const uint64_t na = oz_tensor_nbytes(a), nb = oz_tensor_nbytes(b);
    const uintptr_t pa = (uintptr_t)a->data + (uintptr_t)a->byte_offset;
    const uintptr_t pb = (uintptr_t)b->data + (uintptr_t)b->byte_offset;
    if (na == 0 || nb == 0 || a->data == NULL || b->data == NULL) return 0;
    return pa < pb + nb && pb < pa + na;
}

/** Refuses (OZ_ERR_INVALID_ARGUMENT) an output `out` whose bytes overlap input `in`'s. */
static inline oz_status oz_check_no_overlap(const oz_tensor *out, const char *out_name, const oz_tensor *in,
                                            const char *in_name, oz_error *err) {
    if (oz_tensors_overlap(out, in))
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT,
                       "tensor '%s' overlaps tensor '%s'; an output may not alias an input", out_name, in_name);
    return OZ_OK;
}

/* ------------------------------------------------------------------------------------------------ */
/* Cost (ABI 1.3)                                                                                   */
/* ------------------------------------------------------------------------------------------------ */

/**
 * Fills the host's `cost`, writing only the fields its struct_size covers (`reserved` is set to 0). Refuses a NULL
 * `cost` and one too small to hold forward_flops with OZ_ERR_INVALID_ARGUMENT.
 */
static inline oz_status oz_cost_write(oz_cost *cost, uint64_t forward_flops, uint64_t backward_flops,
                                      uint64_t forward_bytes, uint64_t backward_bytes, oz_error *err) {
    if (cost == NULL) return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "cost: cost is NULL");
    if (cost->struct_size < OZ_COVERS(oz_cost, forward_flops))
        return oz_fail(err, OZ_ERR_INVALID_ARGUMENT, "oz_cost.struct_size is %u bytes, too small to hold forward_flops",
                       (unsigned)cost->struct_size);
    cost->reserved = 0;
    cost->forward_flops = forward_flops;
    if (cost->struct_size >= OZ_COVERS(oz_cost, backward_flops)) cost->backward_flops = backward_flops;
    if (cost->struct_size >= OZ_COVERS(oz_cost, forward_bytes)) cost->forward_bytes = forward_bytes;
    if (cost->struct_size >= OZ_COVERS(oz_cost, backward_bytes)) cost->backward_bytes = backward_bytes;
    return OZ_OK;
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* OPERATOR_ZOO_OPERATOR_PLUGIN_HELPERS_H */
