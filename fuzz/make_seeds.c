/* fuzz/make_seeds.c — writes a small valid starting corpus for each harness:
 *   make_seeds DIR   writes files into DIR/idx, DIR/cifar and DIR/image
 * in the input layouts described at the top of each fuzz_*.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "stb_image_write.h"

static void put(const char *dir, const char *sub, const char *name, const void *a, size_t na,
                const void *b, size_t nb)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s/%s", dir, sub, name);
    FILE *f = fopen(p, "wb");
    if (!f) {
        perror(p);
        exit(1);
    }
    fwrite(a, 1, na, f);
    if (b)
        fwrite(b, 1, nb, f);
    fclose(f);
}

static size_t gz(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    size_t r = cap - z.avail_out;
    deflateEnd(&z);
    return r;
}

/* harness layout: 2-byte images length, num_classes byte, images, labels */
static void idx_seed(const char *dir, const char *name, int n, int h, int w, int gzipped)
{
    uint8_t img[4096], lab[512], gi[8192], gl[1024], buf[16384];
    size_t ni = 0, nl = 0;
    uint8_t hi[16] = {0, 0, 8, 3, 0, 0, 0, (uint8_t)n, 0, 0, 0, (uint8_t)h, 0, 0, 0, (uint8_t)w};
    memcpy(img, hi, 16), ni = 16;
    for (int i = 0; i < n * h * w; i++)
        img[ni++] = (uint8_t)(i * 7);
    uint8_t hl[8] = {0, 0, 8, 1, 0, 0, 0, (uint8_t)n};
    memcpy(lab, hl, 8), nl = 8;
    for (int i = 0; i < n; i++)
        lab[nl++] = (uint8_t)(i % 10);
    const uint8_t *pi = img, *pl = lab;
    if (gzipped) {
        ni = gz(img, ni, gi, sizeof gi), pi = gi;
        nl = gz(lab, nl, gl, sizeof gl), pl = gl;
    }
    buf[0] = (uint8_t)ni, buf[1] = (uint8_t)(ni >> 8), buf[2] = 0;
    memcpy(buf + 3, pi, ni);
    memcpy(buf + 3 + ni, pl, nl);
    put(dir, "idx", name, buf, 3 + ni + nl, NULL, 0);
}

static void cifar_seed(const char *dir, const char *name, int flags, int n)
{
    size_t rec = 3072 + (flags & 1 ? 2 : 1);
    uint8_t *b = malloc(1 + rec * n);
    b[0] = (uint8_t)flags;
    for (int i = 0; i < n; i++) {
        uint8_t *r = b + 1 + rec * i;
        for (size_t k = 0; k < rec; k++)
            r[k] = (uint8_t)(k * 13 + i);
        r[0] = (uint8_t)(i % (flags & 1 ? 20 : 10));
        if (flags & 1)
            r[1] = (uint8_t)(i * 37 % 100);
    }
    put(dir, "cifar", name, b, 1 + rec * n, NULL, 0);
    free(b);
}

typedef struct {
    uint8_t b[65536];
    size_t n;
} membuf;

static void to_mem(void *ctx, void *data, int size)
{
    membuf *m = ctx;
    if (m->n + (size_t)size <= sizeof m->b)
        memcpy(m->b + m->n, data, (size_t)size), m->n += (size_t)size;
}

static void image_seed(const char *dir, const char *name, int kind, int c, int h, int w, int want)
{
    uint8_t px[64 * 64 * 4];
    for (int i = 0; i < c * h * w; i++)
        px[i] = (uint8_t)(i * 5 + i / 7);
    static membuf m;
    m.n = 0;
    if (kind == 0)
        stbi_write_png_to_func(to_mem, &m, w, h, c, px, w * c);
    else if (kind == 1)
        stbi_write_jpg_to_func(to_mem, &m, w, h, c, px, 80);
    else
        stbi_write_bmp_to_func(to_mem, &m, w, h, c, px);
    uint8_t pre = (uint8_t)want;
    put(dir, "image", name, &pre, 1, m.b, m.n);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds DIR (with DIR/idx, DIR/cifar, DIR/image made)\n");
        return 2;
    }
    const char *d = argv[1];
    idx_seed(d, "plain", 3, 4, 5, 0);
    idx_seed(d, "gzip", 2, 6, 6, 1);
    cifar_seed(d, "c10", 0, 2);
    cifar_seed(d, "c100", 1, 2);
    cifar_seed(d, "c100coarse", 3, 1);
    image_seed(d, "png_grey", 0, 1, 8, 8, 0);
    image_seed(d, "png_rgb", 0, 3, 9, 7, 3);
    image_seed(d, "png_rgba", 0, 4, 5, 5, 1);
    image_seed(d, "jpg_rgb", 1, 3, 16, 16, 0);
    image_seed(d, "jpg_grey", 1, 1, 12, 10, 3);
    image_seed(d, "bmp_rgb", 2, 3, 6, 9, 0);
    image_seed(d, "bmp_rgba", 2, 4, 4, 4, 4);
    return 0;
}
