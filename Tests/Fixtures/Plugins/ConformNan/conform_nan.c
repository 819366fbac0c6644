/* Breaks one rule on purpose: FX_BUG_NAN (see conform_fixture.h). */
#define FX_BUG_NAN 1
#include "../Common/conform_fixture.h"
