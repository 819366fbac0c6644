/* Breaks: two operators with id "dup_op". Loader error: PluginError.duplicateOperatorId(id: "dup_op"). */
#define FIXTURE_OP_ID "dup_op"
#include "../Common/fixture_common.h"

static const oz_operator fixture_operator_a = FIXTURE_OPERATOR(FIXTURE_OP_ID);
static const oz_operator fixture_operator_b = FIXTURE_OPERATOR(FIXTURE_OP_ID); /* the break: same id again */
static const oz_operator *const fixture_operators[] = {&fixture_operator_a, &fixture_operator_b};

static const oz_plugin fixture_plugin = {
    .struct_size = sizeof(oz_plugin),
    .abi_major = OZ_ABI_MAJOR,
    .abi_minor = OZ_ABI_MINOR,
    .num_operators = 2,
    .name = "OZFixtureDuplicateId",
    .version = "1.0.0",
    .license = "MIT",
    .description = "declares operator 'dup_op' twice",
    .operators = fixture_operators,
};

OZ_EXPORT const oz_plugin *oz_plugin_entry(void);
OZ_EXPORT const oz_plugin *oz_plugin_entry(void) { return &fixture_plugin; }
