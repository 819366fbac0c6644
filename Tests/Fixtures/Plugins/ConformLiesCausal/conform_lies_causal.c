/* Breaks one rule on purpose: FX_BUG_LIES_CAUSAL (see conform_fixture.h). */
#define FX_BUG_LIES_CAUSAL 1
#include "../Common/conform_fixture.h"
