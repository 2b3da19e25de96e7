/* datasets/image.c — one PNG / JPEG / BMP image through stb_image.
 *
 * Only those three formats are handed to stb_image (checked by their magic
 * bytes), after the structural checks of image_check.c, and the header is
 * read first so that an absurd size is refused before any pixel memory is
 * allocated. */
#include "datasets/internal.h"
#include "tensor/error.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "stb_image.h"

static const char *image_kind(const uint8_t *b, size_t len)
{
    static const uint8_t png[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    if (len >= 8 && memcmp(b, png, 8) == 0)
        return "PNG";
    if (len >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
        return "JPEG";
    if (len >= 2 && b[0] == 'B' && b[1] == 'M')
        return "BMP";
    return NULL;
}

int os_ds_image_decode_hwc(const uint8_t *buf, size_t len, const char *name, int channels,
                           uint8_t **hwc, int *c, int *h, int *w)
{
    *hwc = NULL;
    if (channels < 0 || channels > 4)
        return os_error("%s: cannot convert an image to %d channels (0..4)", name, channels);
    const char *kind = image_kind(buf, len);
    if (!kind)
        return os_error("%s: not a PNG, JPEG or BMP image (unknown magic bytes at offset 0)", name);
    if (len > INT_MAX)
        return os_error("%s: file too large (%zu bytes)", name, len);
    if (os_ds_image_check(buf, len, name, kind) != 0)
        return -1;
    int x, y, comp;
    if (!stbi_info_from_memory(buf, (int)len, &x, &y, &comp))
        return os_error("%s: cannot decode %s header: %s", name, kind, stbi_failure_reason());
    if (x <= 0 || y <= 0 || (size_t)x * (size_t)y > OS_DS_MAX_IMAGE_PIXELS)
        return os_error("%s: %s of %dx%d pixels is too large (limit %zu pixels)", name, kind, x, y,
                        OS_DS_MAX_IMAGE_PIXELS);
    int want = channels > 0 ? channels : (comp <= 2 ? 1 : 3);
    int x2, y2, comp2;
    uint8_t *px = stbi_load_from_memory(buf, (int)len, &x2, &y2, &comp2, want);
    if (!px)
        return os_error("%s: cannot decode %s: %s", name, kind, stbi_failure_reason());
    if (x2 != x || y2 != y) {
        stbi_image_free(px);
        return os_error("%s: %s header says %dx%d but decoding gave %dx%d", name, kind, x, y, x2,
                        y2);
    }
    *hwc = px;
    *c = want;
    *h = y;
    *w = x;
    return 0;
}

void os_ds_hwc_to_chw(const uint8_t *hwc, int c, int h, int w, uint8_t *chw)
{
    size_t plane = (size_t)h * w;
    if (c == 1) {
        memcpy(chw, hwc, plane);
        return;
    }
    for (size_t p = 0; p < plane; p++)
        for (int k = 0; k < c; k++)
            chw[k * plane + p] = hwc[p * c + k];
}

int os_image_decode(const uint8_t *buf, size_t len, const char *name, int channels,
                    uint8_t **pixels, int *c, int *h, int *w)
{
    *pixels = NULL;
    uint8_t *hwc;
    if (os_ds_image_decode_hwc(buf, len, name, channels, &hwc, c, h, w) != 0)
        return -1;
    uint8_t *chw = malloc((size_t)*c * *h * *w);
    if (!chw) {
        stbi_image_free(hwc);
        return os_error("%s: out of memory for a %dx%d image", name, *w, *h);
    }
    os_ds_hwc_to_chw(hwc, *c, *h, *w, chw);
    stbi_image_free(hwc);
    *pixels = chw;
    return 0;
}
