/* fuzz/fuzz_idx.c — libFuzzer harness for the IDX reader and gzip.
 * Input: 2 bytes little-endian length L of the images part, 1 byte
 * num_classes (0 = derive), then L bytes of images, then the labels. A part
 * that starts with the gzip magic is decompressed first (capped at 16 MiB). */
#include <stdlib.h>

#include "datasets/datasets.h"

static const uint8_t *maybe_gunzip(const uint8_t *p, size_t n, const char *name, uint8_t **own,
                                   size_t *len)
{
    *own = NULL;
    *len = n;
    if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
        if (os_gunzip(p, n, (size_t)1 << 24, name, own, len) != 0)
            return NULL;
        return *own;
    }
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t split = (size_t)(data[0] | data[1] << 8);
    int classes = data[2];
    data += 3, size -= 3;
    if (split > size)
        split = size;
    uint8_t *oi, *ol;
    size_t li, ll;
    const uint8_t *img = maybe_gunzip(data, split, "images", &oi, &li);
    const uint8_t *lab = maybe_gunzip(data + split, size - split, "labels", &ol, &ll);
    if (img && lab) {
        os_dataset d;
        if (os_idx_decode(img, li, "images", lab, ll, "labels", classes, &d) == 0) {
            /* touch everything the loader would */
            unsigned acc = 0;
            for (long i = 0; i < (long)d.n * d.c * d.h * d.w; i++)
                acc += d.pixels[i];
            for (int i = 0; i < d.n; i++)
                if (d.labels[i] < 0 || d.labels[i] >= d.num_classes)
                    abort(); /* a label outside its range got through */
            (void)acc;
            os_dataset_free(&d);
        }
    }
    free(oi);
    free(ol);
    return 0;
}
