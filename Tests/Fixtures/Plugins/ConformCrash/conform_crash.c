/* Breaks one rule on purpose: FX_BUG_CRASH (see conform_fixture.h). */
#define FX_BUG_CRASH 1
#include "../Common/conform_fixture.h"
