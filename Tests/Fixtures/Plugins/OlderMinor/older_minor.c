/* Older, shorter operator table (no backward, abi_minor 0). No loader error: loads, `older_op` runs. */
#define FIXTURE_OP_ID "older_op"
#include "../Common/fixture_common.h"

/* oz_operator as an older header would have declared it: identical up to `forward`, no `backward`. */
typedef struct older_operator {
    uint32_t struct_size;
    uint32_t role;
    const char *id;
    const char *version;
    const char *summary;
    uint64_t capabilities;
    uint32_t num_attrs;
    uint32_t reserved;
    const oz_attr_def *const *attrs;
    oz_status (*create)(const struct oz_operator *op, const oz_create_args *args, oz_instance **out, oz_error *err);
    void (*destroy)(oz_instance *instance);
    oz_status (*describe)(const oz_instance *instance, oz_instance_info *info, oz_error *err);
    oz_status (*get_param)(const oz_instance *instance, uint32_t index, oz_param_info *info, oz_error *err);
    oz_status (*init_params)(const oz_instance *instance, uint64_t seed, oz_tensor *params, uint32_t num_params,
                             oz_error *err);
    oz_status (*workspace_size)(const oz_instance *instance, uint32_t pass, int64_t batch, int64_t length,
                                uint64_t *bytes, oz_error *err);
    oz_status (*forward)(oz_instance *instance, const oz_forward_args *args, oz_error *err);
} older_operator;

/* Compile-time checks (C99 has no _Static_assert): the prefix matches v1 and really is shorter. */
typedef char older_forward_offset_matches[offsetof(older_operator, forward) == offsetof(oz_operator, forward) ? 1 : -1];
typedef char older_is_shorter[sizeof(older_operator) == offsetof(oz_operator, backward) ? 1 : -1];

static const older_operator fixture_operator = {
    .struct_size = sizeof(older_operator), /* 8 bytes less than v1's oz_operator */
    FIXTURE_OPERATOR_FIELDS(FIXTURE_OP_ID),
    .capabilities = OZ_CAP_DETERMINISTIC | OZ_CAP_REENTRANT | OZ_CAP_FLOAT64, /* no OZ_CAP_BACKWARD */
};

/* The host reads the table through `const oz_operator *` and must stop at struct_size. */
static const oz_operator *const fixture_operators[] = {(const oz_operator *)(const void *)&fixture_operator};

static const oz_plugin fixture_plugin = {
    .struct_size = sizeof(oz_plugin),
    .abi_major = OZ_ABI_MAJOR,
    .abi_minor = 0,
    .num_operators = 1,
    .name = "OZFixtureOlderMinor",
    .version = "1.0.0",
    .license = "MIT",
    .description = "an operator table from before `backward` existed",
    .operators = fixture_operators,
};

OZ_EXPORT const oz_plugin *oz_plugin_entry(void);
OZ_EXPORT const oz_plugin *oz_plugin_entry(void) { return &fixture_plugin; }
