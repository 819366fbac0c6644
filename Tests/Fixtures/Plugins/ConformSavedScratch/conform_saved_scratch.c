/* Breaks one rule on purpose: FX_BUG_SAVED_SCRATCH (see conform_fixture.h). */
#define FX_SAVES 1
#define FX_BUG_SAVED_SCRATCH 1
#include "../Common/conform_fixture.h"
