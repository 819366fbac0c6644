/* Breaks one rule on purpose: FX_BUG_WORKSPACE_STATE (see conform_fixture.h). */
#define FX_BUG_WORKSPACE_STATE 1
#include "../Common/conform_fixture.h"
