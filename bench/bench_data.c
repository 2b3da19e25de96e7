/* bench/bench_data.c — dataset throughput: decode (load), augment + batch
 * (the loader), and the loader keeping up with a busy training thread.
 *
 * For each set found: Fashion-MNIST IDX (the default path), the CIFAR-10 JPEG
 * folder (../shared/data/cifar10-jpg from the repository root, or
 * $OS_CIFAR_JPG), and a synthetic CIFAR-10 binary set written to a temp dir.
 * Batches use the DARTS settings: batch 64, crop padding 4, flip, cutout 16
 * (cutout only at 32x32), per-channel normalisation. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "datasets/datasets.h"
#include "tensor/error.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Burn the CPU for `ms` milliseconds, as a training step would. */
static volatile double busy_sink;

static void busy(double ms)
{
    double end = now() + ms * 1e-3, acc = 0;
    while (now() < end)
        for (int i = 0; i < 1000; i++)
            acc += i * 1e-9;
    busy_sink = acc;
}

static void bench_set(const char *label, const char *path, const char *format, int max_per_class)
{
    os_load_opts lo = {.format = format, .split = OS_SPLIT_TRAIN, .max_per_class = max_per_class};
    os_dataset d;
    double t0 = now();
    if (os_dataset_load_opts(path, &lo, &d) != 0) {
        printf("%-26s skipped: %s\n", label, os_last_error());
        return;
    }
    double t_load = now() - t0;
    float mean[4], std[4];
    os_dataset_channel_stats(&d, NULL, 0, mean, std);
    os_loader_opts o = {.batch_size = 64, .shuffle = true, .seed = 1, .mean = mean, .std = std,
                        .crop_pad = 4, .flip = true, .cutout = d.h == 32 ? 16 : 0};
    size_t per = (size_t)d.c * d.h * d.w;
    float *x = malloc(sizeof(float) * 64 * per);
    int32_t y[64];
    /* augment + batch on this thread: one epoch */
    os_loader *l = os_loader_new(&d, NULL, 0, &o);
    long imgs = 0;
    int b;
    t0 = now();
    while ((b = os_loader_next(l, x, y)) > 0)
        imgs += b;
    double t_batch = now() - t0;
    os_loader_free(l);
    printf("%-26s %6d images %dx%dx%d: decode %8.0f img/s (%.2f s, %d OpenMP threads), "
           "augment+batch %8.0f img/s, decode+augment+batch %8.0f img/s\n",
           label, d.n, d.c, d.h, d.w, d.n / t_load, t_load, omp_get_max_threads(),
           imgs / t_batch, imgs / (t_load + t_batch));
    /* prefetch against a busy main thread: how long does the step wait for data? */
    const double step_ms = 20.0;
    const int steps = 100;
    o.prefetch = true;
    l = os_loader_new(&d, NULL, 0, &o);
    double waited = 0;
    imgs = 0;
    t0 = now();
    for (int s = 0; s < steps; s++) {
        double w0 = now();
        if ((b = os_loader_next(l, x, y)) == 0)
            b = os_loader_next(l, x, y);
        waited += now() - w0;
        imgs += b;
        busy(step_ms);
    }
    double t_all = now() - t0;
    os_loader_free(l);
    printf("%-26s prefetch with a %.0f ms busy step: %.0f img/s consumed, wait %.3f ms a step "
           "(%.2f%% of the time)\n",
           label, step_ms, imgs / t_all, 1e3 * waited / steps, 100 * waited / t_all);
    free(x);
    os_dataset_free(&d);
}

/* A CIFAR-10 binary set of n records a file, written under a temp dir. */
static int write_cifar_bin(char *dir, size_t len, int n)
{
    const char *t = getenv("TMPDIR");
    snprintf(dir, len, "%s/os_bench_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    uint8_t *rec = malloc(3073 * (size_t)n);
    for (size_t i = 0; i < 3073 * (size_t)n; i++)
        rec[i] = (uint8_t)(i * 2654435761u >> 13);
    for (int i = 0; i < n; i++)
        rec[3073 * (size_t)i] = (uint8_t)(i % 10);
    const char *names[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                           "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};
    for (int f = 0; f < 6; f++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, names[f]);
        FILE *fp = fopen(p, "wb");
        if (!fp || fwrite(rec, 3073, (size_t)n, fp) != (size_t)n)
            return -1;
        fclose(fp);
    }
    free(rec);
    return 0;
}

static void rm_cifar_bin(const char *dir)
{
    const char *names[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                           "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};
    for (int f = 0; f < 6; f++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, names[f]);
        unlink(p);
    }
    rmdir(dir);
}

int main(void)
{
    printf("bench_data: batch 64, crop pad 4, flip, cutout 16 at 32x32, normalised\n");
    bench_set("fashion-mnist (IDX, gz)", NULL, NULL, 0);
    const char *env = getenv("OS_CIFAR_JPG"), *jpg = NULL;
    const char *cands[] = {env && *env ? env : NULL, "../shared/data/cifar10-jpg"};
    for (int i = 0; i < 2 && !jpg; i++) {
        struct stat st;
        char p[1024];
        snprintf(p, sizeof p, "%s/train", cands[i] ? cands[i] : "");
        if (cands[i] && stat(p, &st) == 0)
            jpg = cands[i];
    }
    if (jpg)
        bench_set("cifar10 (JPEG folder)", jpg, "folder", 0);
    else
        printf("%-26s skipped: not found (../shared/data/cifar10-jpg or $OS_CIFAR_JPG)\n",
               "cifar10 (JPEG folder)");
    char dir[512];
    if (write_cifar_bin(dir, sizeof dir, 10000) == 0) {
        bench_set("cifar10 (binary, synth.)", dir, NULL, 0);
        rm_cifar_bin(dir);
    }
    return 0;
}
