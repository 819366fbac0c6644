/* Breaks one rule on purpose: FX_BUG_MIXES_BATCH (see conform_fixture.h). */
#define FX_BUG_MIXES_BATCH 1
#include "../Common/conform_fixture.h"
