/* Breaks one rule on purpose: FX_BUG_TOUCHES_TOO_MUCH (see conform_fixture.h). */
#define FX_BUG_TOUCHES_TOO_MUCH 1
#include "../Common/conform_fixture.h"
