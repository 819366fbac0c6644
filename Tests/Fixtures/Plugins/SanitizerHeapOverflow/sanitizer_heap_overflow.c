/* Invisible to the conformance harness, caught by AddressSanitizer: FX_BUG_HEAP_OVERFLOW (see conform_fixture.h). */
#define FX_BUG_HEAP_OVERFLOW 1
#include "../Common/conform_fixture.h"
