/* datasets/idx.c — IDX files (MNIST, Fashion-MNIST), plain or gzip'd.
 *
 * An IDX file: bytes 0-1 zero, byte 2 the element type (0x08 = unsigned byte,
 * the only one accepted), byte 3 the number of dimensions, then each dimension
 * as a big-endian uint32, then the data in row-major order. Images have 3
 * dimensions (n, h, w), labels 1 (n). The data must be exactly the size the
 * header states: a short file is reported as truncated at the first
 * incomplete record, extra bytes as trailing data. */
#include "datasets/internal.h"
#include "tensor/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse the header; dims get the sizes. Returns the data offset or -1. */
static long idx_header(const uint8_t *b, size_t len, const char *name, int want_dims,
                       uint32_t *dims)
{
    if (len < 4)
        return os_error("%s: truncated IDX header (%zu bytes)", name, len);
    if (b[0] != 0 || b[1] != 0 || b[3] != want_dims)
        return os_error("%s: wrong IDX magic number %02x %02x %02x %02x at byte offset 0 "
                        "(expected 00 00 08 %02x: unsigned bytes, %d dimensions)",
                        name, b[0], b[1], b[2], b[3], want_dims, want_dims);
    if (b[2] != 0x08)
        return os_error("%s: unsupported IDX element type 0x%02x at byte offset 2 "
                        "(only 0x08, unsigned byte)", name, b[2]);
    size_t hdr = 4 + 4 * (size_t)want_dims;
    if (len < hdr)
        return os_error("%s: truncated IDX header (%zu of %zu bytes)", name, len, hdr);
    for (int i = 0; i < want_dims; i++) {
        const uint8_t *p = b + 4 + 4 * i;
        dims[i] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (dims[i] == 0)
            return os_error("%s: IDX dimension %d is 0 (byte offset %d)", name, i, 4 + 4 * i);
    }
    return (long)hdr;
}

/* The data after the header must hold exactly n records of rec bytes. */
static int idx_check_size(size_t len, long hdr, uint32_t n, size_t rec, const char *name,
                          const char *what)
{
    size_t have = len - (size_t)hdr;
    if (have / rec < n) {
        size_t k = have / rec;
        return os_error("%s: truncated: the header says %u %s of %zu bytes, but record %zu "
                        "(byte offset %zu) is missing or incomplete (file size %zu)",
                        name, n, what, rec, k, (size_t)hdr + k * rec, len);
    }
    if (have - (size_t)n * rec != 0)
        return os_error("%s: %zu trailing bytes after %u %s (from byte offset %zu)", name,
                        have - (size_t)n * rec, n, what, (size_t)hdr + (size_t)n * rec);
    return 0;
}

/* The classes are inferred as 0..maxl: warn when some of them have no image. */
static void idx_gap_warning(os_dataset *d, const uint8_t *lb, uint32_t n, int maxl, const char *lab_name)
{
    bool seen[256] = {false};
    for (uint32_t i = 0; i < n; i++)
        seen[lb[i]] = true;
    int empty = 0;
    char list[96] = "";
    size_t o = 0;
    for (int k = 0; k <= maxl; k++) {
        if (seen[k])
            continue;
        if (empty < 6 && o < sizeof list)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%d", empty ? ", " : "", k);
        else if (empty == 6 && o < sizeof list)
            o += (size_t)snprintf(list + o, sizeof list - o, ", ...");
        empty++;
    }
    if (empty)
        snprintf(d->warning, sizeof d->warning,
                 "%.200s: %d classes inferred from the largest label, %d, but %d of them have no image "
                 "(label %s); the network gets %d outputs: relabel the images 0..N-1 if that is not meant",
                 lab_name, maxl + 1, maxl, empty, list, maxl + 1);
}

int os_idx_decode(const uint8_t *img, size_t img_len, const char *img_name, const uint8_t *lab,
                  size_t lab_len, const char *lab_name, int num_classes, os_dataset *out)
{
    memset(out, 0, sizeof *out);
    uint32_t di[3], dl[1];
    long hi = idx_header(img, img_len, img_name, 3, di);
    if (hi < 0)
        return -1;
    long hl = idx_header(lab, lab_len, lab_name, 1, dl);
    if (hl < 0)
        return -1;
    if (di[1] > 65535 || di[2] > 65535)
        return os_error("%s: image size %ux%u is too large", img_name, di[1], di[2]);
    size_t per = (size_t)di[1] * di[2];
    if (idx_check_size(img_len, hi, di[0], per, img_name, "images") != 0 ||
        idx_check_size(lab_len, hl, dl[0], 1, lab_name, "labels") != 0)
        return -1;
    if (di[0] != dl[0])
        return os_error("%s has %u images but %s has %u labels", img_name, di[0], lab_name, dl[0]);
    const uint8_t *lb = lab + hl;
    int maxl = 0;
    for (uint32_t i = 0; i < dl[0]; i++) {
        if (num_classes > 0 && lb[i] >= num_classes)
            return os_error("%s: label %d of record %u (byte offset %zu) is out of range: "
                            "the training labels have %d classes",
                            lab_name, lb[i], i, (size_t)hl + i, num_classes);
        if (lb[i] > maxl)
            maxl = lb[i];
    }
    if (os_ds_alloc(out, di[0], 1, (int)di[1], (int)di[2], img_name) != 0)
        return -1;
    memcpy(out->pixels, img + hi, per * di[0]);
    for (uint32_t i = 0; i < dl[0]; i++)
        out->labels[i] = lb[i];
    out->num_classes = num_classes > 0 ? num_classes : maxl + 1;
    snprintf(out->format, sizeof out->format, "idx");
    os_ds_set_source(out, img_name);
    snprintf(out->first, sizeof out->first, "%.*s", (int)sizeof out->first - 1, img_name);
    if (num_classes <= 0)
        idx_gap_warning(out, lb, dl[0], maxl, lab_name);
    return 0;
}

/* A file, gunzipped when it starts with the gzip magic. */
static int read_maybe_gz(const char *path, uint8_t **buf, size_t *len)
{
    if (os_read_file(path, buf, len) != 0)
        return -1;
    if (*len >= 2 && (*buf)[0] == 0x1f && (*buf)[1] == 0x8b) {
        uint8_t *raw;
        size_t raw_len;
        int r = os_gunzip(*buf, *len, OS_DS_MAX_DECOMPRESSED, path, &raw, &raw_len);
        free(*buf);
        *buf = r == 0 ? raw : NULL;
        *len = r == 0 ? raw_len : 0;
        return r;
    }
    return 0;
}

/* The file of one split and kind in dir: "<prefix>-<kind><sep>idxN-ubyte[.gz]". */
static bool idx_find(const char *dir, os_split split, bool labels, char *path, size_t len)
{
    static const char *pre_train[] = {"train"}, *pre_test[] = {"t10k", "test"};
    const char **pre = split == OS_SPLIT_TRAIN ? pre_train : pre_test;
    int npre = split == OS_SPLIT_TRAIN ? 1 : 2;
    static const char *seps[] = {"-", "."}, *exts[] = {"", ".gz"};
    for (int p = 0; p < npre; p++)
        for (int s = 0; s < 2; s++)
            for (int e = 0; e < 2; e++) {
                int r = snprintf(path, len, "%s/%s-%s%s%s-ubyte%s", dir, pre[p],
                                 labels ? "labels" : "images", seps[s], labels ? "idx1" : "idx3",
                                 exts[e]);
                if (r > 0 && (size_t)r < len && os_ds_is_file(path))
                    return true;
            }
    return false;
}

bool os_ds_idx_present(const char *dir)
{
    char p[4096];
    return idx_find(dir, OS_SPLIT_TRAIN, false, p, sizeof p) ||
           idx_find(dir, OS_SPLIT_TEST, false, p, sizeof p);
}

/* num_classes of the training labels, or 0 when they are not there. */
static int idx_train_classes(const char *dir)
{
    char p[4096];
    if (!idx_find(dir, OS_SPLIT_TRAIN, true, p, sizeof p))
        return 0;
    uint8_t *b;
    size_t len;
    if (read_maybe_gz(p, &b, &len) != 0)
        return -1;
    uint32_t d[1];
    long h = idx_header(b, len, p, 1, d);
    int maxl = -1;
    if (h >= 0 && idx_check_size(len, h, d[0], 1, p, "labels") == 0)
        for (uint32_t i = 0; i < d[0]; i++)
            if (b[h + i] > maxl)
                maxl = b[h + i];
    free(b);
    return maxl < 0 ? -1 : maxl + 1;
}

int os_ds_load_idx(const char *dir, const os_load_opts *o, os_dataset *out)
{
    const char *sn = o->split == OS_SPLIT_TRAIN ? "train" : "t10k";
    char pi[4096], pl[4096];
    if (!idx_find(dir, o->split, false, pi, sizeof pi))
        return os_error("%s: no IDX images file for the %s split (%s-images-idx3-ubyte[.gz])", dir,
                        o->split == OS_SPLIT_TRAIN ? "train" : "test", sn);
    if (!idx_find(dir, o->split, true, pl, sizeof pl))
        return os_error("%s: no IDX labels file for the %s split (%s-labels-idx1-ubyte[.gz])", dir,
                        o->split == OS_SPLIT_TRAIN ? "train" : "test", sn);
    int classes = 0;
    if (o->split == OS_SPLIT_TEST && (classes = idx_train_classes(dir)) < 0)
        return -1;
    uint8_t *img, *lab;
    size_t il, ll;
    if (read_maybe_gz(pi, &img, &il) != 0)
        return -1;
    if (read_maybe_gz(pl, &lab, &ll) != 0) {
        free(img);
        return -1;
    }
    int r = os_idx_decode(img, il, pi, lab, ll, pl, classes, out);
    free(img);
    free(lab);
    if (r != 0)
        return -1;
    os_ds_set_source(out, pi);
    snprintf(out->first, sizeof out->first, "%.*s", (int)sizeof out->first - 1, pi);
    if (os_ds_limit_per_class(out, o->max_per_class) != 0) {
        os_dataset_free(out);
        return -1;
    }
    return 0;
}
