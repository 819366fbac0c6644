/* Breaks: oz_plugin_entry returns NULL. Loader error: PluginError.nullEntry. */
#include "OperatorABI.h"

OZ_EXPORT const oz_plugin *oz_plugin_entry(void);
OZ_EXPORT const oz_plugin *oz_plugin_entry(void) { return NULL; }
