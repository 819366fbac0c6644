/* No bug: every conformance check must pass. */
#include "../Common/conform_fixture.h"
