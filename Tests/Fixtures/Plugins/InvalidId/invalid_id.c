/* Breaks: operator id "Bad Id!". Loader error: PluginError.invalidOperatorId(id: "Bad Id!"). */
#define FIXTURE_OP_ID "Bad Id!"
#include "../Common/fixture_common.h"

static const oz_operator fixture_operator = FIXTURE_OPERATOR(FIXTURE_OP_ID);
static const oz_operator *const fixture_operators[] = {&fixture_operator};

static const oz_plugin fixture_plugin = {
    .struct_size = sizeof(oz_plugin),
    .abi_major = OZ_ABI_MAJOR,
    .abi_minor = OZ_ABI_MINOR,
    .num_operators = 1,
    .name = "OZFixtureInvalidId",
    .version = "1.0.0",
    .license = "MIT",
    .description = "declares an operator whose id has capitals, a space and a '!'",
    .operators = fixture_operators,
};

OZ_EXPORT const oz_plugin *oz_plugin_entry(void);
OZ_EXPORT const oz_plugin *oz_plugin_entry(void) { return &fixture_plugin; }
