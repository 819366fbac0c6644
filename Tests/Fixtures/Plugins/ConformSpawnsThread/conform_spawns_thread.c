/* Breaks one rule on purpose: FX_BUG_SPAWNS_THREAD (see conform_fixture.h). */
#define FX_BUG_SPAWNS_THREAD 1
#include "../Common/conform_fixture.h"
