/* Breaks one rule on purpose: FX_BUG_WRITE_PAST (see conform_fixture.h). */
#define FX_BUG_WRITE_PAST 1
#include "../Common/conform_fixture.h"
