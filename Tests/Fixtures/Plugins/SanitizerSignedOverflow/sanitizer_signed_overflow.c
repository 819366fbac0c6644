/* Invisible to the conformance harness, caught by UndefinedBehaviorSanitizer: FX_BUG_SIGNED_OVERFLOW (see conform_fixture.h). */
#define FX_BUG_SIGNED_OVERFLOW 1
#include "../Common/conform_fixture.h"
