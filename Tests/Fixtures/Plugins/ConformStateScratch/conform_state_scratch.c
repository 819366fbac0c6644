/* Breaks one rule on purpose: FX_BUG_STATE_SCRATCH (see conform_fixture.h). */
#define FX_BUG_STATE_SCRATCH 1
#include "../Common/conform_fixture.h"
