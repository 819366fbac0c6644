/* Breaks one rule on purpose: FX_BUG_REENTRANT_STAGING (see conform_fixture.h). */
#define FX_BUG_REENTRANT_STAGING 1
#include "../Common/conform_fixture.h"
