/* Breaks one rule on purpose: FX_BUG_INIT_PROCESS (see conform_fixture.h). */
#define FX_BUG_INIT_PROCESS 1
#include "../Common/conform_fixture.h"
