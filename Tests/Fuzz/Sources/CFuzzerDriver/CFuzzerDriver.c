/* Header-only module; this file only checks that the declaration compiles as C. */
#include "CFuzzerDriver.h"
