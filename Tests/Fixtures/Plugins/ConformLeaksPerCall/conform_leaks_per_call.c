/* Breaks one rule on purpose: FX_BUG_LEAKS_PER_CALL (see conform_fixture.h). */
#define FX_BUG_LEAKS_PER_CALL 1
#include "../Common/conform_fixture.h"
