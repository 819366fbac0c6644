/* Asks for 2^60 bytes (1 EiB) of workspace for every call: more than any address space holds, on every overcommit setting.
 * The host must refuse the call with an error naming the workspace, never abort. */
#define FIXTURE_OP_ID "huge_workspace_op"
#include "../Common/fixture_common.h"

static oz_status huge_workspace_size(const oz_instance *instance, uint32_t pass, int64_t batch, int64_t length,
                                     uint64_t *bytes, oz_error *err) {
    (void)instance;
    (void)pass;
    (void)batch;
    (void)length;
    (void)err;
    *bytes = (uint64_t)1 << 60;
    return OZ_OK;
}

static const oz_operator fixture_operator = {
    .struct_size = sizeof(oz_operator), .role = OZ_ROLE_TOKEN_MIXER, .id = FIXTURE_OP_ID, .version = "1.0.0",
    .summary = "y = scale * x, asking for 2^60 bytes of workspace", .capabilities = FIXTURE_CAPS, .num_attrs = 1,
    .attrs = fx_attrs, .create = fx_create, .destroy = fx_destroy, .describe = fx_describe, .get_param = fx_get_param,
    .init_params = fx_init_params, .workspace_size = huge_workspace_size, .forward = fx_forward,
    .backward = fx_backward,
};
static const oz_operator *const fixture_operators[] = {&fixture_operator};

static const oz_plugin fixture_plugin = {
    .struct_size = sizeof(oz_plugin),
    .abi_major = OZ_ABI_MAJOR,
    .abi_minor = OZ_ABI_MINOR,
    .num_operators = 1,
    .name = "OZFixtureHugeWorkspace",
    .version = "1.0.0",
    .license = "MIT",
    .description = "asks for an impossible workspace",
    .operators = fixture_operators,
};

OZ_EXPORT const oz_plugin *oz_plugin_entry(void);
OZ_EXPORT const oz_plugin *oz_plugin_entry(void) { return &fixture_plugin; }
