/* datasets/augment.c — the training augmentation of DARTS / torchvision:
 * RandomCrop(padding) -> RandomHorizontalFlip -> ToTensor -> Normalize -> Cutout.
 *
 * The uint8 -> float step goes through a 256-entry table per channel holding
 * ((v / 255) - mean) / std computed in float, the same operations in the same
 * order as ToTensor + Normalize, so the values match them bit for bit. */
#include "datasets/internal.h"
#include "tensor/rng.h"

#include <string.h>

/* [0, n) from 32 random bits (bias below n / 2^32) */
static inline int below(uint64_t r, int n) { return (int)(((r >> 32) * (uint64_t)n) >> 32); }

os_aug os_aug_draw(uint64_t seed, int epoch, long pos, int h, int w, int pad, bool flip,
                   int cutout)
{
    uint64_t k = os_hash64(os_hash64(os_hash64(seed ^ 0x61756775ull) + (uint64_t)epoch) +
                           (uint64_t)pos);
    os_aug a = {0};
    if (pad > 0) {
        a.dy = below(os_hash64(k + 1), 2 * pad + 1);
        a.dx = below(os_hash64(k + 2), 2 * pad + 1);
    }
    if (flip)
        a.flip = os_hash64(k + 3) >> 63;
    if (cutout > 0) {
        a.cy = below(os_hash64(k + 4), h);
        a.cx = below(os_hash64(k + 5), w);
    }
    return a;
}

void os_ds_norm_lut(int c, const float *mean, const float *std, float *lut)
{
    for (int k = 0; k < c; k++)
        for (int v = 0; v < 256; v++) {
            float x = (float)v / 255.0f;
            lut[k * 256 + v] = mean ? (x - mean[k]) / std[k] : x;
        }
}

/* Zero the cutout square (clipped to the image) in every channel. */
static void cutout_zero(float *dst, int c, int h, int w, const os_aug *a, int cutout)
{
    int y1 = a->cy - cutout / 2, y2 = a->cy + cutout / 2;
    int x1 = a->cx - cutout / 2, x2 = a->cx + cutout / 2;
    y1 = y1 < 0 ? 0 : y1;
    x1 = x1 < 0 ? 0 : x1;
    y2 = y2 > h ? h : y2;
    x2 = x2 > w ? w : x2;
    for (int k = 0; k < c; k++)
        for (int y = y1; y < y2; y++)
            for (int x = x1; x < x2; x++)
                dst[((size_t)k * h + y) * w + x] = 0.0f;
}

/* src [c][h][w] uint8, lut [c][256], dst [c][h][w] float */
void os_ds_augment_lut(const uint8_t *src, int c, int h, int w, const os_aug *a, int pad,
                       int cutout, const float *lut, float *dst)
{
    int oy = a->dy - pad, ox = a->dx - pad; /* output (y, x) reads source (y + oy, x' + ox) */
    if (pad <= 0)
        oy = ox = 0;
    for (int k = 0; k < c; k++) {
        const float *t = lut + 256 * k;
        const uint8_t *s = src + (size_t)k * h * w;
        float *d = dst + (size_t)k * h * w;
        float zero = t[0];
        for (int y = 0; y < h; y++) {
            int sy = y + oy;
            float *row = d + (size_t)y * w;
            if (sy < 0 || sy >= h) {
                for (int x = 0; x < w; x++)
                    row[x] = zero;
                continue;
            }
            const uint8_t *sr = s + (size_t)sy * w;
            /* the source columns x + ox that exist: x in [x0, x1) before flipping */
            int x0 = ox < 0 ? -ox : 0, x1 = ox > 0 ? w - ox : w;
            if (!a->flip) {
                for (int x = 0; x < x0; x++)
                    row[x] = zero;
                for (int x = x0; x < x1; x++)
                    row[x] = t[sr[x + ox]];
                for (int x = x1; x < w; x++)
                    row[x] = zero;
            } else { /* output x shows pre-flip column w - 1 - x */
                for (int x = 0; x < w; x++) {
                    int px = w - 1 - x;
                    row[x] = px >= x0 && px < x1 ? t[sr[px + ox]] : zero;
                }
            }
        }
    }
    if (cutout > 0)
        cutout_zero(dst, c, h, w, a, cutout);
}

void os_augment(const uint8_t *src, int c, int h, int w, const os_aug *a, int pad, int cutout,
                const float *mean, const float *std, float *dst)
{
    float lut[256];
    size_t plane = (size_t)h * w;
    for (int k = 0; k < c; k++) {
        os_ds_norm_lut(1, mean ? mean + k : NULL, std ? std + k : NULL, lut);
        os_ds_augment_lut(src + k * plane, 1, h, w, a, pad, 0, lut, dst + k * plane);
    }
    if (cutout > 0)
        cutout_zero(dst, c, h, w, a, cutout);
}
