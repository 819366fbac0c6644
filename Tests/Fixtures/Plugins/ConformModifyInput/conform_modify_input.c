/* Breaks one rule on purpose: FX_BUG_MODIFY_INPUT (see conform_fixture.h). */
#define FX_BUG_MODIFY_INPUT 1
#include "../Common/conform_fixture.h"
