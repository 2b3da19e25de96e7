/* datasets/split.c — index lists: train/architecture split, per-class subsets,
 * and per-channel statistics. */
#include "datasets/internal.h"
#include "tensor/error.h"
#include "tensor/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int os_split_indices(const int32_t *idx, int n, float fraction, uint64_t seed, int32_t **idx_a,
                     int *n_a, int32_t **idx_b, int *n_b)
{
    *idx_a = *idx_b = NULL;
    *n_a = *n_b = 0;
    if (!(fraction >= 0.0f && fraction <= 1.0f))
        return os_error("split: fraction %g is not in [0, 1]", (double)fraction);
    if (n < 0)
        return os_error("split: negative count %d", n);
    int na = (int)floor((double)fraction * n), nb = n - na;
    int32_t *all = malloc(sizeof *all * (size_t)(n ? n : 1));
    int32_t *a = malloc(sizeof *a * (size_t)(na ? na : 1));
    int32_t *b = malloc(sizeof *b * (size_t)(nb ? nb : 1));
    if (!all || !a || !b) {
        free(all), free(a), free(b);
        return os_error("split: out of memory for %d indices", n);
    }
    for (int i = 0; i < n; i++)
        all[i] = idx ? idx[i] : i;
    os_rng r;
    os_rng_seed(&r, os_hash64(seed ^ 0x73706c6974ull)); /* "split" */
    os_rng_shuffle(&r, all, n);
    memcpy(a, all, sizeof *a * (size_t)na);
    memcpy(b, all + na, sizeof *b * (size_t)nb);
    free(all);
    if (na > 1)
        qsort(a, (size_t)na, sizeof *a, cmp_i32);
    if (nb > 1)
        qsort(b, (size_t)nb, sizeof *b, cmp_i32);
    *idx_a = a;
    *n_a = na;
    *idx_b = b;
    *n_b = nb;
    return 0;
}

int os_split_train_arch(const os_dataset *d, float fraction, uint64_t seed, int32_t **idx_a,
                        int *n_a, int32_t **idx_b, int *n_b)
{
    return os_split_indices(NULL, d->n, fraction, seed, idx_a, n_a, idx_b, n_b);
}

int os_subset_per_class(const os_dataset *d, const int32_t *idx, int n, int per_class,
                        int32_t **out, int *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (per_class < 0)
        return os_error("subset: per_class must be >= 0, not %d", per_class);
    int *seen = calloc((size_t)(d->num_classes > 0 ? d->num_classes : 1), sizeof *seen);
    int32_t *o = malloc(sizeof *o * (size_t)(n > 0 ? n : 1));
    if (!seen || !o) {
        free(seen), free(o);
        return os_error("subset: out of memory for %d indices", n);
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        int32_t j = idx ? idx[i] : i;
        if (j < 0 || j >= d->n)
            os_fatal("os_subset_per_class: index %d at %d is outside the dataset of %d", j, i,
                     d->n);
        int32_t l = d->labels[j];
        if (l < 0 || l >= d->num_classes)
            os_fatal("os_subset_per_class: label %d of image %d is outside %d classes", l, j,
                     d->num_classes);
        if (seen[l] < per_class) {
            seen[l]++;
            o[k++] = j;
        }
    }
    free(seen);
    *out = o;
    *n_out = k;
    return 0;
}

void os_dataset_channel_stats(const os_dataset *d, const int32_t *idx, int n, float *mean,
                              float *std)
{
    if (!idx)
        n = d->n;
    size_t plane = (size_t)d->h * d->w;
    for (int c = 0; c < d->c; c++) {
        /* exact integer sums (64 bits hold 2^48 squared bytes) */
        uint64_t s = 0, ss = 0;
        for (int i = 0; i < n; i++) {
            int32_t j = idx ? idx[i] : i;
            if (j < 0 || j >= d->n)
                os_fatal("os_dataset_channel_stats: index %d at %d is outside the dataset of %d",
                         j, i, d->n);
            const uint8_t *p = d->pixels + ((size_t)j * d->c + c) * plane;
            uint64_t ls = 0, lss = 0;
            for (size_t k = 0; k < plane; k++) {
                ls += p[k];
                lss += (uint32_t)p[k] * p[k];
            }
            s += ls;
            ss += lss;
        }
        double cnt = (double)n * (double)plane;
        double m = cnt > 0 ? (double)s / cnt : 0.0;
#ifdef __SIZEOF_INT128__
        /* exactly: cnt^2 var = cnt ss - s^2 (0 for a constant channel, not a rounding residue) */
        __extension__ typedef unsigned __int128 u128; /* a GCC/Clang type: no -pedantic warning */
        u128 ic = (u128)n * plane;
        u128 num = ic * ss - (u128)s * s;
        double var = cnt > 0 ? (double)num / cnt / cnt : 0.0;
#else
        double var = cnt > 0 ? (double)ss / cnt - m * m : 0.0;
#endif
        mean[c] = (float)(m / 255.0);
        std[c] = (float)(sqrt(var > 0 ? var : 0) / 255.0);
    }
}
