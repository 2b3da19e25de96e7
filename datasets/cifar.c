/* datasets/cifar.c — CIFAR-10 and CIFAR-100 binary versions.
 *
 * CIFAR-10 (cifar-10-batches-bin/): data_batch_1..5.bin and test_batch.bin,
 * records of <1 label byte><3072 pixel bytes>; CIFAR-100 (cifar-100-binary/):
 * train.bin and test.bin, records of <coarse label><fine label><3072 pixels>.
 * The pixels are the R, G and B planes of a 32x32 image, row-major: CHW
 * already. A file must hold a whole number of records, at least one. */
#include "datasets/internal.h"
#include "tensor/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CIFAR_PIXELS 3072

/* Validate a buffer; *n = its record count. */
static int cifar_check(const uint8_t *buf, size_t len, const char *name, bool cifar100, long *n)
{
    size_t rec = CIFAR_PIXELS + (cifar100 ? 2 : 1);
    if (len == 0)
        return os_error("%s: empty file (a CIFAR record is %zu bytes)", name, rec);
    if (len % rec != 0)
        return os_error("%s: truncated: %zu bytes is not a whole number of %zu-byte CIFAR "
                        "records; record %zu (byte offset %zu) is incomplete",
                        name, len, rec, len / rec, len / rec * rec);
    if (len / rec > INT32_MAX)
        return os_error("%s: too many records", name);
    *n = (long)(len / rec);
    for (long i = 0; i < *n; i++) {
        const uint8_t *r = buf + (size_t)i * rec;
        int lc = cifar100 ? r[0] : -1, lf = cifar100 ? r[1] : r[0];
        int limit = cifar100 ? 100 : 10;
        if (lf >= limit)
            return os_error("%s: record %ld (byte offset %zu) has %slabel %d, expected 0..%d", name,
                            i, (size_t)i * rec + (cifar100 ? 1 : 0), cifar100 ? "fine " : "", lf,
                            limit - 1);
        if (cifar100 && lc >= 20)
            return os_error("%s: record %ld (byte offset %zu) has coarse label %d, expected 0..19",
                            name, i, (size_t)i * rec, lc);
    }
    return 0;
}

/* Copy n validated records into pixels / labels. */
static void cifar_fill(const uint8_t *buf, long n, bool cifar100, bool coarse, uint8_t *pixels,
                       int32_t *labels)
{
    size_t rec = CIFAR_PIXELS + (cifar100 ? 2 : 1);
    for (long i = 0; i < n; i++) {
        const uint8_t *r = buf + (size_t)i * rec;
        labels[i] = cifar100 ? (coarse ? r[0] : r[1]) : r[0];
        memcpy(pixels + (size_t)i * CIFAR_PIXELS, r + (cifar100 ? 2 : 1), CIFAR_PIXELS);
    }
}

static void cifar_meta(os_dataset *d, bool cifar100, bool coarse)
{
    d->c = 3;
    d->h = d->w = 32;
    d->num_classes = cifar100 ? (coarse ? 20 : 100) : 10;
    snprintf(d->format, sizeof d->format, "%s", cifar100 ? "cifar100" : "cifar10");
}

int os_cifar_decode(const uint8_t *buf, size_t len, const char *name, bool cifar100, bool coarse,
                    os_dataset *out)
{
    memset(out, 0, sizeof *out);
    long n;
    if (cifar_check(buf, len, name, cifar100, &n) != 0)
        return -1;
    if (os_ds_alloc(out, n, 3, 32, 32, name) != 0)
        return -1;
    cifar_fill(buf, n, cifar100, coarse, out->pixels, out->labels);
    cifar_meta(out, cifar100, coarse);
    os_ds_set_source(out, name);
    snprintf(out->first, sizeof out->first, "%.*s", (int)sizeof out->first - 1, name);
    return 0;
}

static int has(const char *dir, const char *name)
{
    char p[4096];
    return os_ds_join(p, sizeof p, dir, name) == 0 && os_ds_is_file(p);
}

static int find_dir(const char *path, const char *sub, const char *f1, const char *f2, char *dir,
                    size_t len)
{
    if (has(path, f1) || has(path, f2))
        return snprintf(dir, len, "%s", path) < (int)len ? 0 : -1;
    char p[4096];
    if (os_ds_join(p, sizeof p, path, sub) == 0 && (has(p, f1) || has(p, f2)))
        return snprintf(dir, len, "%s", p) < (int)len ? 0 : -1;
    return -1;
}

int os_ds_cifar10_dir(const char *path, char *dir, size_t len)
{
    return find_dir(path, "cifar-10-batches-bin", "data_batch_1.bin", "test_batch.bin", dir, len);
}

int os_ds_cifar100_dir(const char *path, char *dir, size_t len)
{
    return find_dir(path, "cifar-100-binary", "train.bin", "test.bin", dir, len);
}

int os_ds_load_cifar(const char *dir, const os_load_opts *o, bool cifar100, os_dataset *out)
{
    memset(out, 0, sizeof *out);
    const char *train10[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                             "data_batch_4.bin", "data_batch_5.bin"};
    const char *test10[] = {"test_batch.bin"}, *train100[] = {"train.bin"},
               *test100[] = {"test.bin"};
    bool train = o->split == OS_SPLIT_TRAIN;
    const char **files = cifar100 ? (train ? train100 : test100) : (train ? train10 : test10);
    int nfiles = !cifar100 && train ? 5 : 1;
    long total = 0;
    for (int f = 0; f < nfiles; f++) {
        char p[4096];
        uint8_t *buf = NULL;
        size_t len;
        long n;
        if (os_ds_join(p, sizeof p, dir, files[f]) != 0 || os_read_file(p, &buf, &len) != 0 ||
            cifar_check(buf, len, p, cifar100, &n) != 0) {
            free(buf);
            os_dataset_free(out);
            return -1;
        }
        uint8_t *px = realloc(out->pixels, (size_t)(total + n) * CIFAR_PIXELS);
        if (px)
            out->pixels = px;
        int32_t *lb = realloc(out->labels, sizeof(int32_t) * (size_t)(total + n));
        if (lb)
            out->labels = lb;
        if (!px || !lb) {
            free(buf);
            os_dataset_free(out);
            return os_error("%s: out of memory for %ld images", p, total + n);
        }
        cifar_fill(buf, n, cifar100, o->coarse, out->pixels + (size_t)total * CIFAR_PIXELS,
                   out->labels + total);
        free(buf);
        total += n;
        out->n = (int)total;
    }
    cifar_meta(out, cifar100, o->coarse);
    os_ds_set_source(out, dir);
    char p[4096];
    if (os_ds_join(p, sizeof p, dir, files[0]) == 0)
        snprintf(out->first, sizeof out->first, "%.*s", (int)sizeof out->first - 1, p);
    const char *names = cifar100 ? (o->coarse ? "coarse_label_names.txt" : "fine_label_names.txt")
                                 : "batches.meta.txt";
    if (os_ds_join(p, sizeof p, dir, names) == 0)
        os_ds_read_names(out, p);
    if (os_ds_limit_per_class(out, o->max_per_class) != 0) {
        os_dataset_free(out);
        return -1;
    }
    return 0;
}
