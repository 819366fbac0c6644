/* Breaks one rule on purpose: FX_BUG_SILENT_ERROR (see conform_fixture.h). */
#define FX_BUG_SILENT_ERROR 1
#include "../Common/conform_fixture.h"
