/* Breaks one rule on purpose: FX_BUG_NO_DTYPE_CHECK (see conform_fixture.h). */
#define FX_BUG_NO_DTYPE_CHECK 1
#include "../Common/conform_fixture.h"
