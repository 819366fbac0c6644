/* A plugin built against ABI 1.1 (before `oz_instance_info.complexity`). No loader error: loads, runs, and its
 * instances read as complexity "undeclared". Its describe writes through the 1.1 layout of oz_instance_info,
 * honouring the host's struct_size, exactly as a 1.1 plugin compiled against the 1.1 header does. */
#define FIXTURE_OP_ID "minor_one_one_op"
#include "../Common/fixture_common.h"

/* oz_instance_info as the 1.1 header declared it: it ends with fixed_length. */
typedef struct instance_info_1_1 {
    uint32_t struct_size;
    uint32_t flags;
    uint32_t num_params;
    uint32_t reserved;
    int64_t receptive_left;
    int64_t receptive_right;
    int64_t fixed_length;
} instance_info_1_1;

typedef char prefix_matches_1_2[offsetof(instance_info_1_1, fixed_length) == offsetof(oz_instance_info, fixed_length) ? 1 : -1];
typedef char ends_before_complexity[sizeof(instance_info_1_1) == offsetof(oz_instance_info, complexity) ? 1 : -1];

static oz_status describe_1_1(const oz_instance *instance, oz_instance_info *host_info, oz_error *err) {
    instance_info_1_1 *info = (instance_info_1_1 *)(void *)host_info;
    (void)instance;
    if (info->struct_size < FX_COVERS(instance_info_1_1, fixed_length))
        return fx_fail(err, OZ_ERR_INVALID_ARGUMENT, "oz_instance_info.struct_size is too small for ABI 1.1");
    info->flags = OZ_INSTANCE_CAUSAL | OZ_INSTANCE_RECEPTIVE_FIELD;
    info->num_params = 0;
    info->reserved = 0;
    info->receptive_left = 0;
    info->receptive_right = 0;
    info->fixed_length = 0;
    return OZ_OK;
}

static const oz_operator fixture_operator = {
    .struct_size = sizeof(oz_operator), .role = OZ_ROLE_TOKEN_MIXER, .id = FIXTURE_OP_ID, .version = "1.1.0",
    .summary = "y = scale * x (a plugin from ABI 1.1)", .capabilities = FIXTURE_CAPS, .num_attrs = 1, .attrs = fx_attrs,
    .create = fx_create, .destroy = fx_destroy, .describe = describe_1_1, .get_param = fx_get_param,
    .init_params = fx_init_params, .workspace_size = NULL, .forward = fx_forward, .backward = fx_backward,
};
static const oz_operator *const fixture_operators[] = {&fixture_operator};

static const oz_plugin fixture_plugin = {
    .struct_size = sizeof(oz_plugin),
    .abi_major = OZ_ABI_MAJOR,
    .abi_minor = 1,
    .num_operators = 1,
    .name = "OZFixtureMinorOneOne",
    .version = "1.1.0",
    .license = "MIT",
    .description = "a plugin from ABI 1.1, before instances declared a complexity class",
    .operators = fixture_operators,
};

OZ_EXPORT const oz_plugin *oz_plugin_entry(void);
OZ_EXPORT const oz_plugin *oz_plugin_entry(void) { return &fixture_plugin; }
