/* tests/ds_util.h — helpers for the dataset tests: a temporary folder per test
 * and writers for synthetic IDX, CIFAR and image files. */
#ifndef OS_DS_UTIL_H
#define OS_DS_UTIL_H

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "datasets/datasets.h"
#include "tensor/error.h"
#include "stb_image_write.h"

/* A fresh folder under $TMPDIR (or /tmp); removed by du_rmtree. */
static inline void du_tmpdir(char *buf, size_t len)
{
    const char *t = getenv("TMPDIR");
    snprintf(buf, len, "%s/os_ds_XXXXXX", t && *t ? t : "/tmp");
    cr_assert(mkdtemp(buf) != NULL, "mkdtemp %s", buf);
}

static inline int du_rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static inline void du_rmtree(const char *dir) { nftw(dir, du_rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static inline void du_path(char *buf, size_t len, const char *dir, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

static inline void du_mkdir(const char *dir, const char *name)
{
    char p[1024];
    du_path(p, sizeof p, dir, name);
    cr_assert(mkdir(p, 0755) == 0 || access(p, F_OK) == 0, "mkdir %s", p);
}

/* Write bytes to dir/name, gzip'd when gz. */
static inline void du_write(const char *dir, const char *name, const void *data, size_t len, int gz)
{
    char p[1024];
    du_path(p, sizeof p, dir, name);
    if (gz) {
        gzFile f = gzopen(p, "wb");
        cr_assert(f != NULL, "gzopen %s", p);
        cr_assert(len == 0 || gzwrite(f, data, (unsigned)len) == (int)len);
        gzclose(f);
    } else {
        FILE *f = fopen(p, "wb");
        cr_assert(f != NULL, "fopen %s", p);
        cr_assert(fwrite(data, 1, len, f) == len);
        fclose(f);
    }
}

/* IDX header: 00 00 <type> <ndims> then big-endian dims. Returns its size. */
static inline size_t du_idx_header(uint8_t *b, uint8_t type, int ndims, const uint32_t *dims)
{
    b[0] = b[1] = 0;
    b[2] = type;
    b[3] = (uint8_t)ndims;
    for (int i = 0; i < ndims; i++) {
        b[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
        b[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
        b[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
        b[7 + 4 * i] = (uint8_t)dims[i];
    }
    return 4 + 4 * (size_t)ndims;
}

/* The pixel value the synthetic files use for image i, channel k, (y, x). */
static inline uint8_t du_px(int i, int k, int y, int x)
{
    return (uint8_t)(i * 37 + k * 101 + y * 13 + x * 7 + ((x * y) & 5));
}

/* Synthetic IDX pair: n images of h x w, label of image i = labels[i]. */
static inline void du_write_idx(const char *dir, const char *img_name, const char *lab_name, int n,
                                int h, int w, const uint8_t *labels, int gz)
{
    size_t isz = 16 + (size_t)n * h * w, lsz = 8 + (size_t)n;
    uint8_t *img = malloc(isz), *lab = malloc(lsz);
    uint32_t di[3] = {(uint32_t)n, (uint32_t)h, (uint32_t)w}, dl[1] = {(uint32_t)n};
    size_t o = du_idx_header(img, 8, 3, di);
    for (int i = 0; i < n; i++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                img[o++] = du_px(i, 0, y, x);
    o = du_idx_header(lab, 8, 1, dl);
    memcpy(lab + o, labels, (size_t)n);
    du_write(dir, img_name, img, isz, gz);
    du_write(dir, lab_name, lab, lsz, gz);
    free(img);
    free(lab);
}

/* CIFAR records: n images with labels (and coarse labels when cifar100);
 * image i of the file gets pixels du_px(first + i, ...). */
static inline void du_write_cifar(const char *dir, const char *name, int n, int first,
                                  const uint8_t *fine, const uint8_t *coarse)
{
    size_t rec = 3072 + (coarse ? 2 : 1);
    uint8_t *b = malloc(rec * (size_t)n);
    for (int i = 0; i < n; i++) {
        uint8_t *r = b + rec * i;
        if (coarse)
            *r++ = coarse[i];
        *r++ = fine[i];
        for (int k = 0; k < 3; k++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    *r++ = du_px(first + i, k, y, x);
    }
    du_write(dir, name, b, rec * (size_t)n, 0);
    free(b);
}

/* Pixels of the image files: du_px, or (smooth, for JPEG) a gentle ramp. */
static inline uint8_t du_img_px(int seed, int smooth, int k, int y, int x)
{
    return smooth ? (uint8_t)(40 + seed * 5 + 30 * k + 3 * y + 2 * x) : du_px(seed, k, y, x);
}

/* An image file of c channels (HWC from du_img_px) as png/bmp/jpg by the
 * extension of name. */
static inline void du_write_image(const char *dir, const char *name, int seed, int smooth, int c,
                                  int h, int w)
{
    uint8_t *p = malloc((size_t)c * h * w);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++)
                p[(y * w + x) * c + k] = du_img_px(seed, smooth, k, y, x);
    char path[1024];
    du_path(path, sizeof path, dir, name);
    const char *ext = strrchr(name, '.');
    int ok = 0;
    if (!strcasecmp(ext, ".png"))
        ok = stbi_write_png(path, w, h, c, p, w * c);
    else if (!strcasecmp(ext, ".bmp"))
        ok = stbi_write_bmp(path, w, h, c, p);
    else
        ok = stbi_write_jpg(path, w, h, c, p, 100);
    cr_assert(ok, "writing %s", path);
    free(p);
}

/* Does the last error message contain every one of the strings? */
#define DU_EXPECT_ERROR(call, ...) DU_EXPECT_ERROR_RC(-1, call, __VA_ARGS__)
/* the same with another failure code (e.g. OS_ARCH_MISFIT); 0 = any negative one */
#define DU_EXPECT_ERROR_RC(want, call, ...)                                                 \
    do {                                                                                    \
        int rc_ = (call);                                                                   \
        if ((want) == 0)                                                                    \
            cr_expect_lt(rc_, 0, "expected failure from %s, got %d", #call, rc_);           \
        else                                                                                \
            cr_expect_eq(rc_, (want), "expected failure %d from %s, got %d", (want), #call, rc_); \
        const char *subs_[] = {__VA_ARGS__};                                                \
        for (size_t i_ = 0; i_ < sizeof subs_ / sizeof subs_[0]; i_++)                      \
            cr_expect(strstr(os_last_error(), subs_[i_]) != NULL, "message '%s' lacks '%s'", \
                      os_last_error(), subs_[i_]);                                          \
    } while (0)

#endif
