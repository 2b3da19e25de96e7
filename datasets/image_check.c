/* datasets/image_check.c — structural checks of PNG, JPEG and BMP files
 * before stb_image sees them.
 *
 * stb_image 2.27 (Debian 12's libstb) trusts several fields of a corrupt file
 * (fuzz/fuzz_image.c found the cases below; later stb versions fix some),
 * and fills the missing part of a cut JPEG or BMP with zeros instead of
 * failing. These checks turn all of that into an error naming the file. */
#include "datasets/internal.h"
#include "tensor/error.h"

#include <string.h>

/* stb_image 2.27 (Debian 12's libstb) trusts the code counts of a JPEG
 * Huffman table: 16 counts summing past 256 make stbi__build_huffman and the
 * value loop write past the table (found by fuzz/fuzz_image.c; later stb
 * versions check this). stb reads a DHT segment wherever it meets the marker
 * bytes FF C4, so every such pair is checked the way stb would parse the
 * segment after it, reading 0 past the end of the buffer as stb does. */
/* b[*p], or 0 past the end as stb reads it; advances *p either way */
static int get8(const uint8_t *b, size_t len, size_t *p)
{
    int v = *p < len ? b[*p] : 0;
    (*p)++;
    return v;
}

static bool jpeg_dht_ok(const uint8_t *b, size_t len, size_t *bad_at)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (b[i] != 0xff || b[i + 1] != 0xc4)
            continue;
        size_t p = i + 2;
        long L = (long)get8(b, len, &p) << 8;
        L |= get8(b, len, &p);
        L -= 2;
        while (L > 0) {
            int q = get8(b, len, &p);
            if ((q >> 4) > 1 || (q & 15) > 3)
                break; /* stb rejects the table itself */
            int n = 0;
            for (int k = 0; k < 16; k++)
                n += get8(b, len, &p);
            if (n > 256) {
                *bad_at = i;
                return false;
            }
            p += (size_t)n;
            L -= 17 + n;
        }
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

/* stb_image 2.27 decodes a scan with whatever Huffman tables its header
 * names, defined or not: the tables live in malloc'd memory, so an undefined
 * one is garbage and the decoder indexes far outside it (found by fuzzing:
 * an AC table 2 that no DHT defined). The same holds for quantisation tables.
 * So the markers are walked in stream order as stb reads them, and every
 * table a scan uses must have been defined before it. A baseline scan uses
 * the DC and AC tables of its components; a progressive first DC scan the DC
 * ones, an AC scan the AC ones, a DC refinement none. Baseline scans
 * dequantise as they go; progressive images once at the end, so their
 * quantisation tables must merely exist by then. Where stb itself would
 * reject the stream (bad lengths, bad indices) the walk stops and leaves
 * that to stb. */
static int jpeg_tables_defined(const uint8_t *b, size_t len, const char *name)
{
    bool huff[2][4] = {{false}}, quant[4] = {false}, progressive = false;
    int comp_id[4] = {-1, -1, -1, -1}, comp_tq[4] = {0}, ncomp = 0;
    size_t p = 2;
    while (p + 1 < len) {
        if (b[p] != 0xff) { /* stray bytes between segments: stb skips them too */
            p++;
            continue;
        }
        int m = b[p + 1];
        if (m == 0xff) { /* fill byte */
            p++;
            continue;
        }
        if (m == 0xd9)
            break;
        if (m == 0x00 || m == 0x01 || m == 0xd8 || (m >= 0xd0 && m <= 0xd7)) {
            p += 2;
            continue;
        }
        if (p + 4 > len)
            break;
        size_t L = (size_t)b[p + 2] << 8 | b[p + 3];
        if (L < 2 || p + 2 + L > len)
            break; /* stb fails on it, or it runs past the end (jpeg_complete) */
        const uint8_t *s = b + p + 4;
        size_t sl = L - 2;
        if (m == 0xc4) { /* DHT: tables of 1 + 16 + n bytes */
            for (size_t q = 0; q + 17 <= sl;) {
                int tc = s[q] >> 4, th = s[q] & 15, n = 0;
                if (tc > 1 || th > 3)
                    break;
                for (int k = 1; k <= 16; k++)
                    n += s[q + k];
                huff[tc][th] = true;
                q += 17 + (size_t)n;
            }
        } else if (m == 0xdb) { /* DQT: tables of 1 + 64 or 1 + 128 bytes */
            for (size_t q = 0; q < sl;) {
                int pq = s[q] >> 4, tq = s[q] & 15;
                if (pq > 1 || tq > 3)
                    break;
                quant[tq] = true;
                q += 1 + (pq ? 128 : 64);
            }
        } else if (m >= 0xc0 && m <= 0xc2) { /* SOF: component ids and their tables */
            progressive = m == 0xc2;
            ncomp = sl >= 6 ? s[5] : 0;
            if (ncomp > 4 || sl < 6 + 3 * (size_t)ncomp) {
                ncomp = 0; /* stb rejects this frame header */
                break;
            }
            for (int i = 0; i < ncomp; i++) {
                comp_id[i] = s[6 + 3 * i];
                comp_tq[i] = s[8 + 3 * i] & 15;
            }
        } else if (m == 0xda) { /* SOS */
            int ns = sl >= 1 ? s[0] : 0;
            if (ns < 1 || ns > 4 || sl < 4 + 2 * (size_t)ns)
                break;
            int ss = s[1 + 2 * ns], ah = s[3 + 2 * ns] >> 4;
            bool dc = !progressive || (ss == 0 && ah == 0), ac = !progressive || ss > 0;
            for (int i = 0; i < ns; i++) {
                int id = s[1 + 2 * i], td = s[2 + 2 * i] >> 4, ta = s[2 + 2 * i] & 15;
                if (td > 3 || ta > 3)
                    return 0; /* stb rejects the scan */
                if ((dc && !huff[0][td]) || (ac && !huff[1][ta]))
                    return os_error("%s: corrupt JPEG: the scan at byte offset %zu uses "
                                    "Huffman table %s%d, which is not defined before it",
                                    name, p, dc && !huff[0][td] ? "DC " : "AC ",
                                    dc && !huff[0][td] ? td : ta);
                for (int k = 0; k < ncomp && !progressive; k++)
                    if (comp_id[k] == id && comp_tq[k] < 4 && !quant[comp_tq[k]])
                        return os_error("%s: corrupt JPEG: the scan at byte offset %zu uses "
                                        "quantisation table %d, which is not defined before it",
                                        name, p, comp_tq[k]);
            }
            p += 2 + L;
            /* the entropy-coded data runs to the next marker */
            while (p + 1 < len &&
                   !(b[p] == 0xff && b[p + 1] != 0 && !(b[p + 1] >= 0xd0 && b[p + 1] <= 0xd7)))
                p++;
            continue;
        }
        p += 2 + L;
    }
    /* progressive: stb dequantises every component once, at the end */
    for (int k = 0; k < ncomp && progressive; k++)
        if (comp_tq[k] < 4 && !quant[comp_tq[k]])
            return os_error("%s: corrupt JPEG: component %d uses quantisation table %d, which is "
                            "never defined", name, comp_id[k], comp_tq[k]);
    return 0;
}

int os_ds_image_check(const uint8_t *buf, size_t len, const char *name, const char *kind)
{
    size_t bad_at;
    if (kind[0] == 'J') {
        if (!jpeg_dht_ok(buf, len, &bad_at))
            return os_error("%s: corrupt JPEG: a Huffman table at byte offset %zu has more "
                            "than 256 codes", name, bad_at);
        if (!jpeg_complete(buf, len))
            return os_error("%s: truncated JPEG (no end-of-image marker after the image data)",
                            name);
        return jpeg_tables_defined(buf, len, name);
    }
    if (kind[0] == 'B')
        return bmp_complete(buf, len, name);
    return png_complete(buf, len, name);
}
