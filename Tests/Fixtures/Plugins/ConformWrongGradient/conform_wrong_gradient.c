/* Breaks one rule on purpose: FX_BUG_WRONG_GRADIENT (see conform_fixture.h). */
#define FX_BUG_WRONG_GRADIENT 1
#include "../Common/conform_fixture.h"
