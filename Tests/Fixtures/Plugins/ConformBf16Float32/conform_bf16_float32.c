/* Breaks one rule on purpose: FX_BUG_BF16_FLOAT32 (see conform_fixture.h). */
#define FX_BUG_BF16_FLOAT32 1
#include "../Common/conform_fixture.h"
