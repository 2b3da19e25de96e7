/* fuzz/fuzz_image.c — libFuzzer harness for the image path: stb_image
 * (compiled into the harness so it is instrumented, see stb_impl.c) behind
 * os_image_decode, then a resize to 32x32 as the folder reader does for
 * images of another size. Input: 1 byte channel request (0..4), then a file. */
#include <stdlib.h>

#include "datasets/internal.h"
#include "stb_image.h"
#include "stb_image_resize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int want = data[0] % 5, c, h, w;
    uint8_t *chw;
    if (os_image_decode(data + 1, size - 1, "image", want, &chw, &c, &h, &w) != 0)
        return 0;
    if (c < 1 || c > 4 || h < 1 || w < 1 || (want && c != want))
        abort();
    unsigned acc = 0;
    for (size_t i = 0; i < (size_t)c * h * w; i++)
        acc += chw[i];
    (void)acc;
    if ((size_t)h * w > ((size_t)1 << 20)) { /* keep each run short: resize smaller ones */
        free(chw);
        return 0;
    }
    uint8_t hwc_small[32 * 32 * 4];
    uint8_t *hwc = malloc((size_t)c * h * w);
    for (int k = 0; k < c; k++)
        for (size_t p = 0; p < (size_t)h * w; p++)
            hwc[p * c + k] = chw[k * (size_t)h * w + p];
    if (!stbir_resize_uint8(hwc, w, h, 0, hwc_small, 32, 32, 0, c))
        abort();
    free(hwc);
    free(chw);
    return 0;
}
