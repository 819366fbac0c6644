/* Breaks one rule on purpose: FX_BUG_WRITES_NULL_DX (see conform_fixture.h). */
#define FX_BUG_WRITES_NULL_DX 1
#include "../Common/conform_fixture.h"
