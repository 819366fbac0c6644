/* Breaks: abi_major = 2 (rest v1). Loader error: PluginError.abiMajorMismatch(found: 2, expected: 1). */
#define FIXTURE_OP_ID "major_mismatch_op"
#include "../Common/fixture_common.h"

static const oz_operator fixture_operator = FIXTURE_OPERATOR(FIXTURE_OP_ID);
static const oz_operator *const fixture_operators[] = {&fixture_operator};

static const oz_plugin fixture_plugin = {
    .struct_size = sizeof(oz_plugin),
    .abi_major = 2, /* the break: built for a future major version */
    .abi_minor = 0,
    .num_operators = 1,
    .name = "OZFixtureMajorMismatch",
    .version = "1.0.0",
    .license = "MIT",
    .description = "claims operator ABI major version 2",
    .operators = fixture_operators,
};

OZ_EXPORT const oz_plugin *oz_plugin_entry(void);
OZ_EXPORT const oz_plugin *oz_plugin_entry(void) { return &fixture_plugin; }
