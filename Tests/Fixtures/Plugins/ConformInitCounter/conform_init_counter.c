/* Breaks one rule on purpose: FX_BUG_INIT_COUNTER (see conform_fixture.h). */
#define FX_BUG_INIT_COUNTER 1
#include "../Common/conform_fixture.h"
