/* Breaks: `oz_plugin_entry` returns NULL; the loader must fail with PluginError.nullEntry. */
#include "OperatorABI.h"

OZ_EXPORT const oz_plugin *oz_plugin_entry(void);
OZ_EXPORT const oz_plugin *oz_plugin_entry(void) { return NULL; }
