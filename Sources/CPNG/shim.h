// libpng 1.6 (Debian 12: libpng-dev). Host uses only the simplified API (png_image_*), which catches libpng's
// longjmp-based errors inside libpng and reports them through png_image.warning_or_error and .message.
#include <png.h>
