/* Breaks one rule on purpose: FX_BUG_LEAKS (see conform_fixture.h). */
#define FX_BUG_LEAKS 1
#include "../Common/conform_fixture.h"
