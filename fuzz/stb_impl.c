/* fuzz/stb_impl.c — the stb_image and stb_image_resize implementations,
 * compiled from the system headers (libstb-dev) into the fuzz harnesses so
 * that the sanitizers and the coverage instrumentation see inside them. The
 * library build links the same code from -lstb instead. */
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include "stb_image.h"
#include "stb_image_resize.h"
