/* datasets/image.c — one PNG / JPEG / BMP image through stb_image.
 *
 * Only those three formats are handed to stb_image (checked by their magic
 * bytes), and the header is read first so that an absurd size is refused
 * before any pixel memory is allocated. */
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

/* stb_image 2.27 (Debian 12's libstb) trusts the code counts of a JPEG
 * Huffman table: 16 counts summing past 256 make stbi__build_huffman and the
 * value loop write past the table (found by fuzz/fuzz_image.c; later stb
 * versions check this). stb reads a DHT segment wherever it meets the marker
 * bytes FF C4, so every such pair is checked the way stb would parse the
 * segment after it, reading 0 past the end of the buffer as stb does. */
static bool jpeg_dht_ok(const uint8_t *b, size_t len, size_t *bad_at)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (b[i] != 0xff || b[i + 1] != 0xc4)
            continue;
        size_t p = i + 2;
#define GET8() (p < len ? b[p++] : (p++, 0))
        long L = (long)(GET8() << 8);
        L |= GET8();
        L -= 2;
        while (L > 0) {
            int q = GET8();
            if ((q >> 4) > 1 || (q & 15) > 3)
                break; /* stb rejects the table itself */
            int n = 0;
            for (int k = 0; k < 16; k++)
                n += GET8();
            if (n > 256) {
                *bad_at = i;
                return false;
            }
            p += (size_t)n;
            L -= 17 + n;
        }
#undef GET8
    }
    return true;
}

/* stb_image fills missing data with zeros instead of failing, so a cut JPEG
 * or BMP would decode to an image with a blank part (a cut PNG fails in
 * stb_image, but see png_complete). A JPEG must have its
 * end-of-image marker FF D9 after the first start-of-scan FF DA (entropy-coded
 * data never holds FF D9: an FF there is followed by 00). */
static bool jpeg_complete(const uint8_t *b, size_t len)
{
    size_t i = 0;
    while (i + 1 < len && !(b[i] == 0xff && b[i + 1] == 0xda))
        i++;
    for (i += 2; i + 1 < len; i++)
        if (b[i] == 0xff && b[i + 1] == 0xd9)
            return true;
    return false;
}

/* A PNG must be a whole chain of chunks up to IEND, each inside the file:
 * stb_image allocates what a chunk's length field claims before reading it
 * (a 1 kB file claiming a 2 GB IDAT asked for 2 GB; found by fuzzing). */
static int png_complete(const uint8_t *b, size_t len, const char *name)
{
    size_t p = 8;
    for (;;) {
        if (len - p < 12)
            return os_error("%s: truncated PNG: the chunk at byte offset %zu is cut (no IEND "
                            "chunk)", name, p);
        uint32_t n = (uint32_t)b[p] << 24 | (uint32_t)b[p + 1] << 16 | (uint32_t)b[p + 2] << 8 |
                     b[p + 3];
        char type[5];
        for (int i = 0; i < 4; i++) {
            uint8_t ch = b[p + 4 + i];
            type[i] = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ? (char)ch : '?';
        }
        type[4] = 0;
        if (n > len - p - 12)
            return os_error("%s: truncated or corrupt PNG: chunk '%s' at byte offset %zu "
                            "claims %u bytes, the file has %zu after it",
                            name, type, p, n, len - p - 12);
        if (memcmp(b + p + 4, "IEND", 4) == 0)
            return 0;
        p += 12 + (size_t)n;
    }
}

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* A BMP's rows must all be in the file: the header's size, bits per pixel and
 * data offset give the bytes stb_image will read. */
static int bmp_complete(const uint8_t *b, size_t len, const char *name)
{
    if (len < 30)
        return os_error("%s: truncated BMP header (%zu bytes)", name, len);
    uint32_t off = le32(b + 10), hsz = le32(b + 14);
    int64_t w, h;
    int bpp;
    if (hsz == 12) {
        w = le16(b + 18), h = le16(b + 20), bpp = le16(b + 24);
    } else {
        if (len < 34)
            return os_error("%s: truncated BMP header (%zu bytes)", name, len);
        w = (int32_t)le32(b + 18), h = (int32_t)le32(b + 22), bpp = le16(b + 28);
    }
    if (h < 0)
        h = -h; /* top-down rows; INT32_MIN becomes 2^31 and fails the size check */
    if (w <= 0 || h == 0 || w > (1 << 24) || h > (1 << 24))
        return os_error("%s: BMP size %lldx%lld is invalid", name, (long long)w, (long long)h);
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
        return os_error("%s: BMP with %d bits per pixel is not supported", name, bpp);
    int64_t stride = (w * bpp + 31) / 32 * 4;
    int64_t start = (int64_t)off > 14 + (int64_t)hsz ? (int64_t)off : 14 + (int64_t)hsz;
    if (start + stride * h > (int64_t)len)
        return os_error("%s: truncated BMP: %lldx%lld pixels of %d bits need %lld bytes from byte "
                        "offset %lld, the file has %zu bytes",
                        name, (long long)w, (long long)h, bpp, (long long)(stride * h),
                        (long long)start, len);
    return 0;
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
    size_t bad_at;
    if (kind[0] == 'J' && !jpeg_dht_ok(buf, len, &bad_at))
        return os_error("%s: corrupt JPEG: a Huffman table at byte offset %zu has more than 256 "
                        "codes", name, bad_at);
    if (kind[0] == 'J' && !jpeg_complete(buf, len))
        return os_error("%s: truncated JPEG (no end-of-image marker after the image data)", name);
    if (kind[0] == 'B' && bmp_complete(buf, len, name) != 0)
        return -1;
    if (kind[0] == 'P' && png_complete(buf, len, name) != 0)
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
