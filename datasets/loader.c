/* datasets/loader.c — batches of augmented float images, built ahead on a
 * background thread.
 *
 * A batch is a pure function of (seed, epoch, batch index): the epoch's order
 * is idx shuffled by an RNG seeded from (seed, epoch), and each sample's
 * augmentation is drawn from (seed, epoch, position in the epoch). The
 * prefetch thread only decides *when* a batch is built, never what is in it.
 *
 * Prefetch: a ring of two slots. The producer thread fills the slot after the
 * last full one while the consumer copies the oldest full slot into the
 * caller's buffers. A seek bumps a generation counter and empties the ring;
 * a batch being built for an older generation is thrown away.
 *
 * Positions: batch == batches_per_epoch is the end-of-epoch mark, returned as
 * a 0-sized batch; the call after it starts the next epoch. */
#include "datasets/internal.h"
#include "tensor/error.h"
#include "tensor/rng.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 2

typedef struct {
    float *x;
    int32_t *y;
    int count, epoch, batch;
} slot;

struct os_loader {
    const os_dataset *d;
    int32_t *idx;
    int n;
    os_loader_opts o;
    float *mean, *std, *lut;  /* copies; lut [c][256] */
    int bpe;                  /* batches per epoch */
    size_t per;               /* c*h*w */
    int32_t *perm;            /* order of perm_epoch (producer's) */
    int perm_epoch;
    int epoch, batch;         /* what the consumer returns next */
    /* prefetch */
    bool threaded, stop;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv_full, cv_space;
    slot s[SLOTS];
    int head, count;          /* oldest full slot, number of full slots */
    int prod_epoch, prod_batch;
    unsigned long gen;
};

static uint64_t epoch_seed(uint64_t seed, int epoch)
{
    return os_hash64(os_hash64(seed ^ 0x7065726dull) + (uint64_t)epoch); /* "perm" */
}

static const int32_t *epoch_order(os_loader *l, int epoch)
{
    if (l->perm_epoch != epoch) {
        memcpy(l->perm, l->idx, sizeof *l->perm * (size_t)l->n);
        if (l->o.shuffle) {
            os_rng r;
            os_rng_seed(&r, epoch_seed(l->o.seed, epoch));
            os_rng_shuffle(&r, l->perm, l->n);
        }
        l->perm_epoch = epoch;
    }
    return l->perm;
}

/* Batch b (< bpe) of epoch e into x, y; returns its size. */
static int build(os_loader *l, int e, int b, float *x, int32_t *y)
{
    const os_dataset *d = l->d;
    const int32_t *order = epoch_order(l, e);
    int B = l->o.batch_size;
    long p0 = (long)b * B;
    int count = l->n - p0 < B ? (int)(l->n - p0) : B;
    for (int i = 0; i < count; i++) {
        int32_t j = order[p0 + i];
        os_aug a = os_aug_draw(l->o.seed, e, p0 + i, d->h, d->w, l->o.crop_pad, l->o.flip,
                               l->o.cutout);
        os_ds_augment_lut(d->pixels + l->per * (size_t)j, d->c, d->h, d->w, &a, l->o.crop_pad,
                          l->o.cutout, l->lut, x + l->per * (size_t)i);
        y[i] = d->labels[j];
    }
    return count;
}

static void *producer(void *arg)
{
    os_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        if (l->count == SLOTS || l->bpe == 0) {
            pthread_cond_wait(&l->cv_space, &l->mu);
            continue;
        }
        int e = l->prod_epoch, b = l->prod_batch;
        unsigned long g = l->gen;
        slot *s = &l->s[(l->head + l->count) % SLOTS];
        pthread_mutex_unlock(&l->mu);
        int count = build(l, e, b, s->x, s->y);
        pthread_mutex_lock(&l->mu);
        if (g != l->gen || l->stop)
            continue; /* a seek happened meanwhile: throw it away */
        s->count = count;
        s->epoch = e;
        s->batch = b;
        l->count++;
        if (++l->prod_batch == l->bpe) {
            l->prod_batch = 0;
            l->prod_epoch++;
        }
        pthread_cond_signal(&l->cv_full);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

os_loader *os_loader_new(const os_dataset *d, const int32_t *idx, int n, const os_loader_opts *o)
{
    if (!d || !o || !d->pixels)
        os_fatal("os_loader_new: no dataset or options");
    if (o->batch_size <= 0)
        os_fatal("os_loader_new: batch size %d must be positive", o->batch_size);
    if (!idx)
        n = d->n;
    if (n < 0 || o->crop_pad < 0 || o->cutout < 0)
        os_fatal("os_loader_new: negative count %d, crop padding %d or cutout %d", n, o->crop_pad,
                 o->cutout);
    if (!o->mean != !o->std)
        os_fatal("os_loader_new: give both mean and std, or neither");
    for (int k = 0; o->std && k < d->c; k++)
        if (!(o->std[k] > 0))
            os_fatal("os_loader_new: std[%d] = %g must be positive", k, (double)o->std[k]);
    for (int i = 0; idx && i < n; i++)
        if (idx[i] < 0 || idx[i] >= d->n)
            os_fatal("os_loader_new: index %d at %d is outside the dataset of %d", idx[i], i, d->n);
    os_loader *l = calloc(1, sizeof *l);
    size_t per = (size_t)d->c * d->h * d->w;
    if (!l || !(l->idx = malloc(sizeof *l->idx * (size_t)(n ? n : 1))) ||
        !(l->perm = malloc(sizeof *l->perm * (size_t)(n ? n : 1))) ||
        !(l->lut = malloc(sizeof *l->lut * 256 * (size_t)d->c)))
        os_fatal("os_loader_new: out of memory");
    for (int i = 0; i < n; i++)
        l->idx[i] = idx ? idx[i] : i;
    l->d = d;
    l->n = n;
    l->o = *o;
    l->per = per;
    if (o->mean) {
        l->mean = malloc(sizeof *l->mean * (size_t)d->c);
        l->std = malloc(sizeof *l->std * (size_t)d->c);
        if (!l->mean || !l->std)
            os_fatal("os_loader_new: out of memory");
        memcpy(l->mean, o->mean, sizeof *l->mean * (size_t)d->c);
        memcpy(l->std, o->std, sizeof *l->std * (size_t)d->c);
    }
    l->o.mean = l->mean;
    l->o.std = l->std;
    os_ds_norm_lut(d->c, l->mean, l->std, l->lut);
    l->bpe = o->drop_last ? n / o->batch_size : (n + o->batch_size - 1) / o->batch_size;
    l->perm_epoch = -1;
    if (o->prefetch) {
        for (int i = 0; i < SLOTS; i++) {
            l->s[i].x = malloc(sizeof(float) * per * (size_t)o->batch_size);
            l->s[i].y = malloc(sizeof(int32_t) * (size_t)o->batch_size);
            if (!l->s[i].x || !l->s[i].y)
                os_fatal("os_loader_new: out of memory for prefetch buffers");
        }
        pthread_mutex_init(&l->mu, NULL);
        pthread_cond_init(&l->cv_full, NULL);
        pthread_cond_init(&l->cv_space, NULL);
        l->threaded = pthread_create(&l->th, NULL, producer, l) == 0;
        if (!l->threaded) { /* no thread: build in the caller, same batches */
            pthread_mutex_destroy(&l->mu);
            pthread_cond_destroy(&l->cv_full);
            pthread_cond_destroy(&l->cv_space);
        }
    }
    return l;
}

int os_loader_next(os_loader *l, float *x, int32_t *y)
{
    if (l->batch >= l->bpe) { /* end of epoch */
        l->epoch++;
        l->batch = 0;
        return 0;
    }
    int count;
    if (!l->threaded) {
        count = build(l, l->epoch, l->batch, x, y);
    } else {
        pthread_mutex_lock(&l->mu);
        while (l->count == 0)
            pthread_cond_wait(&l->cv_full, &l->mu);
        slot *s = &l->s[l->head];
        pthread_mutex_unlock(&l->mu);
        if (s->epoch != l->epoch || s->batch != l->batch)
            os_fatal("os_loader_next: prefetched batch %d of epoch %d, expected %d of %d",
                     s->batch, s->epoch, l->batch, l->epoch);
        count = s->count;
        memcpy(x, s->x, sizeof(float) * l->per * (size_t)count);
        memcpy(y, s->y, sizeof(int32_t) * (size_t)count);
        pthread_mutex_lock(&l->mu);
        l->head = (l->head + 1) % SLOTS;
        l->count--;
        pthread_cond_signal(&l->cv_space);
        pthread_mutex_unlock(&l->mu);
    }
    l->batch++;
    return count;
}

int os_loader_batches_per_epoch(const os_loader *l) { return l->bpe; }
int os_loader_batch_size(const os_loader *l) { return l->o.batch_size; }
int os_loader_epoch(const os_loader *l) { return l->epoch; }
int os_loader_batch(const os_loader *l) { return l->batch; }

void os_loader_seek(os_loader *l, int epoch, int batch)
{
    if (epoch < 0 || batch < 0 || batch > l->bpe)
        os_fatal("os_loader_seek: epoch %d batch %d is outside 0..%d batches", epoch, batch,
                 l->bpe);
    l->epoch = epoch;
    l->batch = batch;
    if (!l->threaded)
        return;
    pthread_mutex_lock(&l->mu);
    l->gen++;
    l->head = l->count = 0;
    l->prod_epoch = batch == l->bpe ? epoch + 1 : epoch;
    l->prod_batch = batch == l->bpe ? 0 : batch;
    pthread_cond_signal(&l->cv_space);
    pthread_mutex_unlock(&l->mu);
}

void os_loader_free(os_loader *l)
{
    if (!l)
        return;
    if (l->threaded) {
        pthread_mutex_lock(&l->mu);
        l->stop = true;
        pthread_cond_signal(&l->cv_space);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->th, NULL);
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv_full);
        pthread_cond_destroy(&l->cv_space);
    }
    for (int i = 0; i < SLOTS; i++) {
        free(l->s[i].x);
        free(l->s[i].y);
    }
    free(l->idx);
    free(l->perm);
    free(l->lut);
    free(l->mean);
    free(l->std);
    free(l);
}
