/* Breaks: plugin name is bytes FF FE (not UTF-8). Loader error: PluginError.invalidMetadata (name). */
#define FIXTURE_OP_ID "invalid_metadata_op"
#include "../Common/fixture_common.h"

static const oz_operator fixture_operator = FIXTURE_OPERATOR(FIXTURE_OP_ID);
static const oz_operator *const fixture_operators[] = {&fixture_operator};

static const oz_plugin fixture_plugin = {
    .struct_size = sizeof(oz_plugin),
    .abi_major = OZ_ABI_MAJOR,
    .abi_minor = OZ_ABI_MINOR,
    .num_operators = 1,
    .name = "\xff\xfe", /* the break: not UTF-8 */
    .version = "1.0.0",
    .license = "MIT",
    .description = "its name is not valid UTF-8",
    .operators = fixture_operators,
};

OZ_EXPORT const oz_plugin *oz_plugin_entry(void);
OZ_EXPORT const oz_plugin *oz_plugin_entry(void) { return &fixture_plugin; }
