/* Breaks one rule on purpose: FX_BUG_NONDETERMINISTIC (see conform_fixture.h). */
#define FX_BUG_NONDETERMINISTIC 1
#include "../Common/conform_fixture.h"
