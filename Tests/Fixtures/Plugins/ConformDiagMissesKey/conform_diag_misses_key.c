/* Breaks one rule on purpose: FX_BUG_DIAG_MISSES_KEY (see conform_fixture.h). */
#define FX_BUG_DIAG_MISSES_KEY 1
#include "../Common/conform_fixture.h"
