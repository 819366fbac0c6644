/* Breaks one rule on purpose: FX_BUG_ACCUMULATES (see conform_fixture.h). */
#define FX_BUG_ACCUMULATES 1
#include "../Common/conform_fixture.h"
