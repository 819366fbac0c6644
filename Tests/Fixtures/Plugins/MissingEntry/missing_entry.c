/* Breaks: exports oz_plugin_entry_v2, not oz_plugin_entry. Loader error: PluginError.missingEntry. */
#define FIXTURE_OP_ID "missing_entry_op"
#include "../Common/fixture_common.h"

static const oz_operator fixture_operator = FIXTURE_OPERATOR(FIXTURE_OP_ID);
static const oz_operator *const fixture_operators[] = {&fixture_operator};

static const oz_plugin fixture_plugin = {
    .struct_size = sizeof(oz_plugin),
    .abi_major = OZ_ABI_MAJOR,
    .abi_minor = OZ_ABI_MINOR,
    .num_operators = 1,
    .name = "OZFixtureMissingEntry",
    .version = "1.0.0",
    .license = "MIT",
    .description = "exports the wrong entry symbol",
    .operators = fixture_operators,
};

/* A perfectly good table behind the wrong name: the host must look up exactly OZ_ENTRY_SYMBOL. */
OZ_EXPORT const oz_plugin *oz_plugin_entry_v2(void);
OZ_EXPORT const oz_plugin *oz_plugin_entry_v2(void) { return &fixture_plugin; }
