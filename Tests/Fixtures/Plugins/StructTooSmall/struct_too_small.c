/* Breaks: oz_plugin.struct_size = 12. Loader error: PluginError.structTooSmall("oz_plugin", size: 12). */
#define FIXTURE_OP_ID "struct_too_small_op"
#include "../Common/fixture_common.h"

static const oz_operator fixture_operator = FIXTURE_OPERATOR(FIXTURE_OP_ID);
static const oz_operator *const fixture_operators[] = {&fixture_operator};

/* The whole table is present in memory; only its declared size is wrong, so a host that reads past
 * struct_size would "work" here and the test would catch it through the error, not a crash. */
static const oz_plugin fixture_plugin = {
    .struct_size = 12, /* the break: struct_size, abi_major and abi_minor only */
    .abi_major = OZ_ABI_MAJOR,
    .abi_minor = OZ_ABI_MINOR,
    .num_operators = 1,
    .name = "OZFixtureStructTooSmall",
    .version = "1.0.0",
    .license = "MIT",
    .description = "declares a 12-byte plugin table",
    .operators = fixture_operators,
};

OZ_EXPORT const oz_plugin *oz_plugin_entry(void);
OZ_EXPORT const oz_plugin *oz_plugin_entry(void) { return &fixture_plugin; }
