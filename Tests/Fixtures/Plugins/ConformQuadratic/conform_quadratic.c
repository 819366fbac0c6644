/* Breaks one rule on purpose: FX_BUG_QUADRATIC (see conform_fixture.h). It declares itself O(L) but does O(L^2 D)
   work in forward, so `zoo conform --strict-timing` fails its complexity check (without the flag it is reported). */
#define FX_BUG_QUADRATIC 1
#include "../Common/conform_fixture.h"
