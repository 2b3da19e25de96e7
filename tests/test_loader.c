/* tests/test_loader.c — splits, statistics, augmentation and the batch loader. */
#include <criterion/criterion.h>
#include <math.h>
#include <time.h>

#include "tests/ds_util.h"
#include "tests/test_util.h"

/* n images of c x h x w; image i: pixel du_px(i, k, y, x), label i % classes */
static os_dataset mk_ds(int n, int c, int h, int w, int classes)
{
    os_dataset d = {.n = n, .c = c, .h = h, .w = w, .num_classes = classes};
    d.pixels = malloc((size_t)n * c * h * w);
    d.labels = malloc(sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < n; i++) {
        d.labels[i] = i % classes;
        for (int k = 0; k < c; k++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    d.pixels[((i * c + k) * h + y) * w + x] = du_px(i, k, y, x);
    }
    return d;
}

Test(loader, split_train_arch)
{
    os_dataset d = mk_ds(101, 1, 2, 2, 3);
    int32_t *a, *b, *a2, *b2;
    int na, nb, na2, nb2;
    cr_assert_eq(os_split_train_arch(&d, 0.5f, 7, &a, &na, &b, &nb), 0);
    cr_expect_eq(na, 50);
    cr_expect_eq(nb, 51);
    int seen[101] = {0};
    for (int i = 0; i < na; i++) {
        seen[a[i]]++;
        cr_expect(i == 0 || a[i] > a[i - 1], "ascending");
    }
    for (int i = 0; i < nb; i++) {
        seen[b[i]]++;
        cr_expect(i == 0 || b[i] > b[i - 1], "ascending");
    }
    for (int i = 0; i < 101; i++)
        cr_expect_eq(seen[i], 1, "index %d used %d times", i, seen[i]);
    int first_half = 0;
    for (int i = 0; i < na; i++)
        first_half += a[i] < 50;
    cr_expect(first_half > 10 && first_half < 40, "shuffled, not the first half (%d)", first_half);
    cr_assert_eq(os_split_train_arch(&d, 0.5f, 7, &a2, &na2, &b2, &nb2), 0);
    cr_expect(na2 == na && memcmp(a, a2, sizeof *a * na) == 0, "same seed, same split");
    free(a2), free(b2);
    cr_assert_eq(os_split_train_arch(&d, 0.5f, 8, &a2, &na2, &b2, &nb2), 0);
    cr_expect(memcmp(a, a2, sizeof *a * na) != 0, "another seed, another split");
    free(a2), free(b2);
    /* a split of a subset stays inside it */
    int32_t sub[5] = {90, 3, 17, 44, 60};
    cr_assert_eq(os_split_indices(sub, 5, 0.4f, 1, &a2, &na2, &b2, &nb2), 0);
    cr_expect(na2 == 2 && nb2 == 3);
    for (int i = 0; i < 5; i++) {
        int32_t v = i < 2 ? a2[i] : b2[i - 2];
        cr_expect(v == 90 || v == 3 || v == 17 || v == 44 || v == 60);
    }
    free(a2), free(b2);
    cr_assert_eq(os_split_train_arch(&d, 1.0f, 7, &a2, &na2, &b2, &nb2), 0);
    cr_expect(na2 == 101 && nb2 == 0);
    free(a2), free(b2);
    DU_EXPECT_ERROR(os_split_train_arch(&d, 1.5f, 7, &a2, &na2, &b2, &nb2), "fraction 1.5");
    DU_EXPECT_ERROR(os_split_train_arch(&d, NAN, 7, &a2, &na2, &b2, &nb2), "fraction");
    free(a), free(b);
    os_dataset_free(&d);
}

Test(loader, subset_per_class)
{
    os_dataset d = mk_ds(20, 1, 1, 1, 3); /* labels 0 1 2 0 1 2 ... */
    int32_t *s;
    int n;
    cr_assert_eq(os_subset_per_class(&d, NULL, d.n, 2, &s, &n), 0);
    int expect[6] = {0, 1, 2, 3, 4, 5};
    cr_assert_eq(n, 6);
    cr_expect(memcmp(s, expect, sizeof expect) == 0);
    free(s);
    int32_t idx[6] = {19, 18, 17, 16, 15, 14}; /* labels 1 0 2 1 0 2 */
    cr_assert_eq(os_subset_per_class(&d, idx, 6, 1, &s, &n), 0);
    cr_assert_eq(n, 3);
    cr_expect(s[0] == 19 && s[1] == 18 && s[2] == 17);
    free(s);
    cr_assert_eq(os_subset_per_class(&d, NULL, d.n, 100, &s, &n), 0);
    cr_expect_eq(n, 20, "classes with fewer keep all");
    free(s);
    os_dataset_free(&d);
}

Test(loader, channel_stats)
{
    os_dataset d = mk_ds(9, 3, 5, 4, 2);
    int32_t idx[4] = {8, 1, 4, 5};
    float m[3], s[3];
    os_dataset_channel_stats(&d, idx, 4, m, s);
    for (int k = 0; k < 3; k++) { /* two-pass reference in double */
        double sum = 0, sq = 0;
        for (int i = 0; i < 4; i++)
            for (int p = 0; p < 20; p++)
                sum += d.pixels[(idx[i] * 3 + k) * 20 + p] / 255.0;
        double mean = sum / 80;
        for (int i = 0; i < 4; i++)
            for (int p = 0; p < 20; p++) {
                double v = d.pixels[(idx[i] * 3 + k) * 20 + p] / 255.0 - mean;
                sq += v * v;
            }
        cr_expect(fabs(m[k] - mean) < 1e-6, "mean %f vs %f", m[k], mean);
        cr_expect(fabs(s[k] - sqrt(sq / 80)) < 1e-6, "std %f vs %f", s[k], sqrt(sq / 80));
    }
    os_dataset_free(&d);
}

/* Worked by hand: a 1x4x4 image 1..16, pad 1, crop at (dy 0, dx 2), flipped,
 * no normalisation. The padded image row r, column c holds src(r-1, c-1);
 * the crop's (y, x) is padded(y, x + 2), then flipping reverses each row. */
Test(loader, augment_hand_example)
{
    uint8_t src[16];
    for (int i = 0; i < 16; i++)
        src[i] = (uint8_t)(i + 1) * 15;
    static const int expect[16] = {0,  0,  0,  0,  /* padded row 0 */
                                   0,  4,  3,  2,  /* src row 0 cols 1..3 then pad, flipped */
                                   0,  8,  7,  6,  /* */
                                   0,  12, 11, 10};
    os_aug a = {.dy = 0, .dx = 2, .flip = true};
    float out[16];
    os_augment(src, 1, 4, 4, &a, 1, 0, NULL, NULL, out);
    for (int i = 0; i < 16; i++)
        cr_expect_eq(out[i], (float)(expect[i] * 15) / 255.0f, "at %d: %f", i, out[i]);
    /* cutout 2 centred at (3, 0): rows 2..3, column 0 (clipped) -> 0 after normalisation */
    float mean = 0.5f, std = 0.25f;
    a = (os_aug){.dy = 1, .dx = 1, .cy = 3, .cx = 0};
    os_augment(src, 1, 4, 4, &a, 1, 2, &mean, &std, out);
    for (int i = 0; i < 16; i++) {
        float e = ((float)src[i] / 255.0f - mean) / std;
        if ((i / 4 == 2 || i / 4 == 3) && i % 4 == 0)
            e = 0.0f;
        cr_expect_eq(out[i], e, "at %d: %f vs %f", i, out[i], e);
    }
}

/* Reference: pad into a bigger array, crop, flip, normalise, cutout. */
static void ref_augment(const uint8_t *src, int c, int h, int w, const os_aug *a, int pad,
                        int cutout, const float *mean, const float *std, float *dst)
{
    int ph = h + 2 * pad, pw = w + 2 * pad;
    int *padded = calloc((size_t)c * ph * pw, sizeof(int));
    for (int k = 0; k < c; k++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                padded[(k * ph + y + pad) * pw + x + pad] = src[(k * h + y) * w + x];
    for (int k = 0; k < c; k++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int cx = a->flip ? w - 1 - x : x;
                int v = padded[(k * ph + y + (pad ? a->dy : 0)) * pw + cx + (pad ? a->dx : 0)];
                float f = (float)v / 255.0f;
                dst[(k * h + y) * w + x] = mean ? (f - mean[k]) / std[k] : f;
            }
    if (cutout)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                if (y >= a->cy - cutout / 2 && y < a->cy + cutout / 2 && x >= a->cx - cutout / 2 &&
                    x < a->cx + cutout / 2)
                    for (int k = 0; k < c; k++)
                        dst[(k * h + y) * w + x] = 0.0f;
    free(padded);
}

Test(loader, augment_matches_reference)
{
    os_dataset d = mk_ds(4, 3, 32, 32, 2);
    const float mean[3] = {0.49139968f, 0.48215827f, 0.44653124f};
    const float std[3] = {0.24703233f, 0.24348505f, 0.26158768f};
    float out[3 * 32 * 32], ref[3 * 32 * 32];
    int mismatches = 0, cases = 0;
    for (int pad = 0; pad <= 4; pad += 4)
        for (int dy = 0; dy <= 2 * pad; dy++)
            for (int dx = 0; dx <= 2 * pad; dx += 2)
                for (int flip = 0; flip < 2; flip++)
                    for (int cut = 0; cut <= 16; cut += 16) {
                        os_aug a = {.dy = dy, .dx = dx, .flip = flip, .cy = (dy * 7) % 32,
                                    .cx = (dx * 11 + 31 * flip) % 32};
                        const uint8_t *src = d.pixels + (size_t)(cases % 4) * 3072;
                        os_augment(src, 3, 32, 32, &a, pad, cut, mean, std, out);
                        ref_augment(src, 3, 32, 32, &a, pad, cut, mean, std, ref);
                        mismatches += memcmp(out, ref, sizeof out) != 0;
                        cases++;
                    }
    cr_expect_eq(mismatches, 0, "%d of %d cases differ", mismatches, cases);
    os_dataset_free(&d);
}

static int aug_eq(os_aug a, os_aug b)
{
    return a.dy == b.dy && a.dx == b.dx && a.flip == b.flip && a.cy == b.cy && a.cx == b.cx;
}

Test(loader, aug_draw_ranges_and_seeding)
{
    int dy[9] = {0}, dx[9] = {0}, flips = 0, cy[32] = {0};
    const int N = 9000;
    for (int p = 0; p < N; p++) {
        os_aug a = os_aug_draw(3, 1, p, 32, 32, 4, true, 16);
        cr_assert(a.dy >= 0 && a.dy <= 8 && a.dx >= 0 && a.dx <= 8);
        cr_assert(a.cy >= 0 && a.cy < 32 && a.cx >= 0 && a.cx < 32);
        dy[a.dy]++, dx[a.dx]++, flips += a.flip, cy[a.cy]++;
    }
    for (int v = 0; v < 9; v++) /* expected 1000 each; 6 sigma is about 190 */
        cr_expect(abs(dy[v] - 1000) < 190 && abs(dx[v] - 1000) < 190, "dy[%d]=%d dx=%d", v, dy[v],
                  dx[v]);
    cr_expect(abs(flips - N / 2) < 300, "flips %d", flips);
    for (int v = 0; v < 32; v++)
        cr_expect(cy[v] > 150 && cy[v] < 420, "cy[%d] = %d", v, cy[v]);
    os_aug a = os_aug_draw(3, 1, 5, 32, 32, 4, true, 16), b = os_aug_draw(3, 1, 5, 32, 32, 4, true, 16);
    cr_expect(aug_eq(a, b), "a pure function");
    int same_epoch = 0, same_seed = 0;
    for (int p = 0; p < 100; p++) {
        os_aug x = os_aug_draw(3, 1, p, 32, 32, 4, true, 16);
        os_aug y = os_aug_draw(3, 2, p, 32, 32, 4, true, 16);
        os_aug z = os_aug_draw(4, 1, p, 32, 32, 4, true, 16);
        same_epoch += aug_eq(x, y);
        same_seed += aug_eq(x, z);
    }
    cr_expect(same_epoch < 5 && same_seed < 5, "%d %d", same_epoch, same_seed);
    os_aug off = os_aug_draw(3, 1, 5, 32, 32, 0, false, 0);
    cr_expect(off.dy == 0 && off.dx == 0 && !off.flip && off.cy == 0 && off.cx == 0);
}

Test(loader, plain_order_sizes_and_epochs)
{
    os_dataset d = mk_ds(10, 1, 2, 3, 4);
    for (int pf = 0; pf < 2; pf++)
        for (int dl = 0; dl < 2; dl++) {
            os_loader_opts o = {.batch_size = 4, .drop_last = dl, .prefetch = pf};
            int32_t idx[7] = {9, 0, 8, 1, 7, 2, 6};
            os_loader *l = os_loader_new(&d, idx, 7, &o);
            cr_expect_eq(os_loader_batches_per_epoch(l), dl ? 1 : 2);
            float x[4 * 6];
            int32_t y[4];
            for (int e = 0; e < 3; e++) {
                int pos = 0, b;
                cr_expect_eq(os_loader_epoch(l), e);
                while ((b = os_loader_next(l, x, y)) > 0) {
                    cr_expect_eq(b, pos == 4 ? 3 : 4);
                    for (int i = 0; i < b; i++, pos++) {
                        cr_expect_eq(y[i], idx[pos] % 4);
                        for (int p = 0; p < 6; p++)
                            cr_expect_eq(x[i * 6 + p], (float)du_px(idx[pos], 0, p / 3, p % 3) / 255.0f);
                    }
                }
                cr_expect_eq(pos, dl ? 4 : 7, "epoch %d", e);
            }
            os_loader_free(l);
        }
    os_dataset_free(&d);
}

typedef struct {
    float *x;
    int32_t *y;
    int *sizes;
    int batches;
} run_rec;

/* Every batch of `epochs` epochs, optionally with the consumer dawdling. */
static run_rec record(const os_dataset *d, const os_loader_opts *o, const int32_t *idx, int n,
                      int epochs, int sleepy)
{
    os_loader *l = os_loader_new(d, idx, n, o);
    int bpe = os_loader_batches_per_epoch(l), B = o->batch_size;
    size_t per = (size_t)d->c * d->h * d->w;
    run_rec r = {malloc(sizeof(float) * per * B * bpe * epochs),
                 malloc(sizeof(int32_t) * B * bpe * epochs), calloc(bpe * epochs, sizeof(int)), 0};
    for (int e = 0; e < epochs; e++) {
        int b;
        while ((b = os_loader_next(l, r.x + per * B * r.batches, r.y + B * r.batches)) > 0) {
            r.sizes[r.batches++] = b;
            if (sleepy) {
                struct timespec ts = {0, (r.batches * 7919 % 5) * 200000};
                nanosleep(&ts, NULL);
            }
        }
    }
    os_loader_free(l);
    return r;
}

static void rec_free(run_rec *r) { free(r->x), free(r->y), free(r->sizes); }

static int rec_same(const run_rec *a, const run_rec *b, size_t per, int B)
{
    if (a->batches != b->batches)
        return 0;
    for (int i = 0; i < a->batches; i++)
        if (a->sizes[i] != b->sizes[i] ||
            memcmp(a->x + per * B * i, b->x + per * B * i, sizeof(float) * per * a->sizes[i]) ||
            memcmp(a->y + B * i, b->y + B * i, sizeof(int32_t) * a->sizes[i]))
            return 0;
    return 1;
}

Test(loader, shuffle_is_a_permutation_and_deterministic)
{
    os_dataset d = mk_ds(50, 3, 8, 8, 5);
    const float mean[3] = {0.4f, 0.5f, 0.6f}, std[3] = {0.2f, 0.25f, 0.3f};
    os_loader_opts o = {.batch_size = 8, .shuffle = true, .seed = 11, .mean = mean, .std = std,
                        .crop_pad = 2, .flip = true, .cutout = 4};
    run_rec sync = record(&d, &o, NULL, 0, 3, 0);
    cr_assert_eq(sync.batches, 21);
    /* each epoch holds every label count once per image: check with a plain loader */
    os_loader_opts plain = {.batch_size = 8, .shuffle = true, .seed = 11};
    run_rec pl = record(&d, &plain, NULL, 0, 2, 0);
    size_t per = 3 * 64;
    for (int e = 0; e < 2; e++) {
        int seen[50] = {0};
        for (int s = 0; s < 50; s++) { /* find the image by its first pixels */
            long slot = (e * 7 + s / 8) * 8 + s % 8; /* 7 batches an epoch, the last of 2 */
            const float *img = pl.x + per * slot;
            for (int i = 0; i < 50; i++)
                if (img[0] == du_px(i, 0, 0, 0) / 255.0f && img[9] == du_px(i, 0, 1, 1) / 255.0f &&
                    img[70] == du_px(i, 1, 0, 6) / 255.0f) {
                    seen[i]++;
                    cr_expect_eq(pl.y[slot], i % 5);
                }
        }
        for (int i = 0; i < 50; i++)
            cr_expect_eq(seen[i], 1, "epoch %d image %d seen %d times", e, i, seen[i]);
    }
    cr_expect(memcmp(pl.y, pl.y + 56, 48 * sizeof(int32_t)) != 0, "epochs are reshuffled");
    rec_free(&pl);
    /* the same batches with prefetch, and with a slow consumer */
    o.prefetch = true;
    run_rec pre = record(&d, &o, NULL, 0, 3, 0), slow = record(&d, &o, NULL, 0, 3, 1);
    cr_expect(rec_same(&sync, &pre, per, 8), "prefetch changes the batches");
    cr_expect(rec_same(&sync, &slow, per, 8), "thread timing changes the batches");
    o.seed = 12;
    run_rec other = record(&d, &o, NULL, 0, 1, 0);
    cr_expect(memcmp(other.y, sync.y, 8 * sizeof(int32_t)) != 0 ||
                  memcmp(other.x, sync.x, 8 * per * sizeof(float)) != 0,
              "another seed, other batches");
    rec_free(&other), rec_free(&sync), rec_free(&pre), rec_free(&slow);
    os_dataset_free(&d);
}

Test(loader, seek_resumes_exactly)
{
    os_dataset d = mk_ds(30, 1, 6, 6, 3);
    os_loader_opts o = {.batch_size = 7, .shuffle = true, .seed = 5, .crop_pad = 1, .flip = true,
                        .cutout = 2};
    run_rec full = record(&d, &o, NULL, 0, 3, 0); /* 5 batches an epoch */
    cr_assert_eq(full.batches, 15);
    size_t per = 36;
    for (int pf = 0; pf < 2; pf++) {
        o.prefetch = pf;
        os_loader *l = os_loader_new(&d, NULL, 0, &o);
        float x[7 * 36];
        int32_t y[7];
        /* consume a little first, so prefetched batches must be thrown away */
        os_loader_next(l, x, y);
        os_loader_next(l, x, y);
        os_loader_seek(l, 1, 3);
        cr_expect(os_loader_epoch(l) == 1 && os_loader_batch(l) == 3);
        for (int k = 8; k < 15; k++) {
            int b = os_loader_next(l, x, y);
            if (b == 0)
                b = os_loader_next(l, x, y); /* epoch boundary */
            cr_assert_eq(b, full.sizes[k]);
            cr_expect(memcmp(x, full.x + per * 7 * k, sizeof(float) * per * b) == 0,
                      "prefetch %d: batch %d differs after seek", pf, k);
            cr_expect(memcmp(y, full.y + 7 * k, sizeof(int32_t) * b) == 0);
        }
        os_loader_seek(l, 0, 5); /* the end mark of epoch 0 */
        cr_expect_eq(os_loader_next(l, x, y), 0);
        cr_expect_eq(os_loader_next(l, x, y), 7);
        cr_expect(memcmp(x, full.x + per * 7 * 5, sizeof(float) * per * 7) == 0);
        TU_EXPECT_FATAL(os_loader_seek(l, 0, 6), "seek", "0..5");
        os_loader_free(l);
    }
    rec_free(&full);
    os_dataset_free(&d);
}

/* one fatal call a function keeps gcc's -Wclobbered quiet about TU_EXPECT_FATAL */
static void expect_new_fatal(const os_dataset *d, const int32_t *idx, int n, os_loader_opts o,
                             const char *what)
{
    TU_EXPECT_FATAL(os_loader_new(d, idx, n, &o), what);
}

Test(loader, misuse_is_fatal)
{
    os_dataset d = mk_ds(4, 1, 2, 2, 2);
    expect_new_fatal(&d, NULL, 0, (os_loader_opts){.batch_size = 0}, "batch size 0");
    int32_t bad[2] = {0, 4};
    expect_new_fatal(&d, bad, 2, (os_loader_opts){.batch_size = 2}, "index 4 at 1");
    float m = 0.5f, s = 0.0f;
    expect_new_fatal(&d, NULL, 0, (os_loader_opts){.batch_size = 2, .mean = &m, .std = &s},
                     "std[0]");
    expect_new_fatal(&d, NULL, 0, (os_loader_opts){.batch_size = 2, .mean = &m}, "both mean and std");
    os_dataset_free(&d);
}

/* The real training set through the full pipeline, when it is here. */
Test(loader, real_fashion_mnist_epoch)
{
    os_dataset d;
    os_load_opts lo = {.split = OS_SPLIT_TEST};
    if (!os_dataset_detect(NULL) || os_dataset_load_opts(NULL, &lo, &d) != 0)
        cr_skip_test("Fashion-MNIST not installed");
    float m, s;
    os_dataset_channel_stats(&d, NULL, 0, &m, &s);
    os_loader_opts o = {.batch_size = 64, .shuffle = true, .seed = 1, .mean = &m, .std = &s,
                        .crop_pad = 4, .flip = true, .prefetch = true};
    os_loader *l = os_loader_new(&d, NULL, 0, &o);
    float *x = malloc(sizeof(float) * 64 * 784);
    int32_t y[64];
    long total = 0;
    int b, cnt[10] = {0};
    while ((b = os_loader_next(l, x, y)) > 0) {
        total += b;
        for (int i = 0; i < b; i++)
            cnt[y[i]]++;
    }
    cr_expect_eq(total, 10000);
    for (int k = 0; k < 10; k++)
        cr_expect_eq(cnt[k], 1000);
    free(x);
    os_loader_free(l);
    os_dataset_free(&d);
}
