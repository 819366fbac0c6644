/* Breaks one rule on purpose: FX_BUG_HANG (see conform_fixture.h). */
#define FX_BUG_HANG 1
#include "../Common/conform_fixture.h"
