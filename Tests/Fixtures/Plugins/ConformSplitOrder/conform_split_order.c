/* Breaks one rule on purpose: FX_BUG_SPLIT_ORDER (see conform_fixture.h). */
#define FX_BUG_SPLIT_ORDER 1
#include "../Common/conform_fixture.h"
