/* Newer, longer tables (abi_minor 9, appended fields). No loader error: loads, `newer_op` runs. */
#define FIXTURE_OP_ID "newer_op"
#include "../Common/fixture_common.h"

/* A future entry point the host does not know; it must never be called. */
static oz_status newer_future_hook(oz_instance *instance, void *args, oz_error *err) {
    (void)instance;
    (void)args;
    return fx_fail(err, OZ_ERR_INTERNAL, "the host called a field beyond its own oz_operator");
}

/* oz_operator as a newer header (abi_minor 9) would declare it: the v1 fields, then appended ones.
 * (oz_operator ends with a pointer, so it has no tail padding and `v1` lays out exactly like a flat struct.) */
typedef struct newer_operator {
    oz_operator v1;
    oz_status (*future_hook)(oz_instance *instance, void *args, oz_error *err);
    uint64_t future_flags;
} newer_operator;

/* oz_plugin likewise, with two appended fields. */
typedef struct newer_plugin {
    oz_plugin v1;
    const char *homepage;
    uint64_t future_flags;
} newer_plugin;

typedef char newer_operator_is_flat[offsetof(newer_operator, future_hook) == sizeof(oz_operator) ? 1 : -1];
typedef char newer_plugin_is_flat[offsetof(newer_plugin, homepage) == sizeof(oz_plugin) ? 1 : -1];

static const newer_operator fixture_operator = {
    .v1 = {.struct_size = sizeof(newer_operator), /* 16 bytes more than v1's oz_operator */
           FIXTURE_OPERATOR_FIELDS(FIXTURE_OP_ID), .capabilities = FIXTURE_CAPS, .backward = fx_backward},
    .future_hook = newer_future_hook,
    .future_flags = UINT64_C(0xFFFFFFFFFFFFFFFF),
};

static const oz_operator *const fixture_operators[] = {&fixture_operator.v1};

static const newer_plugin fixture_plugin = {
    .v1 =
        {
            .struct_size = sizeof(newer_plugin), /* 16 bytes more than v1's oz_plugin */
            .abi_major = OZ_ABI_MAJOR,
            .abi_minor = 9,
            .num_operators = 1,
            .name = "OZFixtureNewerMinor",
            .version = "1.9.0",
            .license = "MIT",
            .description = "plugin and operator tables from a newer minor version, with appended fields",
            .operators = fixture_operators,
        },
    .homepage = "https://example.invalid/newer-minor",
    .future_flags = UINT64_C(0xFFFFFFFFFFFFFFFF),
};

OZ_EXPORT const oz_plugin *oz_plugin_entry(void);
OZ_EXPORT const oz_plugin *oz_plugin_entry(void) { return &fixture_plugin.v1; }
