/* datasets/datasets.h — image classification data: readers, splits,
 * augmentation and a prefetching batch loader.
 *
 * Formats (found by os_dataset_load from a directory; docs/datasets.md has the
 * layouts):
 *   "cifar10"   CIFAR-10 binary: data_batch_1..5.bin (train), test_batch.bin
 *               (test), records of 1 label byte + 3072 pixel bytes (R, G, B
 *               planes of 32x32). Class names from batches.meta.txt if present.
 *   "cifar100"  CIFAR-100 binary: train.bin / test.bin, records of coarse
 *               label, fine label, 3072 pixel bytes. Labels are the fine ones
 *               (100 classes) unless os_load_opts.coarse (20 classes).
 *   "idx"       IDX files as MNIST / Fashion-MNIST ship them, plain or gzip'd:
 *               {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (also with a
 *               '.' before idx). Unsigned-byte images of 3 dims, labels of 1.
 *               num_classes = largest training label + 1; test labels must
 *               be below it. When some label below the largest has no image
 *               (one label 255 makes 256 classes), the training split loads
 *               with os_dataset.warning saying how many classes were
 *               inferred and how many have no image.
 *   "folder"    ROOT/train/<class>/<image> and ROOT/test/<class>/<image>,
 *               images .png, .jpg, .jpeg or .bmp (any case), decoded with
 *               stb_image; class index = position of the folder name in
 *               byte-sorted order (torchvision ImageFolder); files are read in
 *               sorted order. The first image (first class, first file) fixes
 *               h, w and the channel count (1 for grey, 3 for colour; alpha is
 *               dropped): every other image is converted to that channel count,
 *               and an image of another size is rejected with an error naming
 *               it -- unless os_load_opts.resize, which resizes it
 *               (stb_image_resize) to the first image's size.
 *
 * Memory: pixels are kept as uint8, CHW per image (CIFAR-10's 50k training
 * images are 150 MB); the loader converts one batch at a time to float.
 *
 * Errors: every failure on external input (missing, unreadable, truncated or
 * corrupt files, bad magic numbers, labels out of range, count mismatches,
 * undecodable images, empty class folders) returns -1 with one message in
 * os_last_error() naming the file and, where it applies, the record index or
 * byte offset. Nothing is left allocated in `out` on failure. The library never
 * exits; misuse of the API (NULL dataset, batch size 0) is os_fatal.
 *
 * Randomness is counter-based (tensor/rng.h): a split depends only on its
 * seed; a loader's epoch permutation on (seed, epoch) and a sample's
 * augmentation on (seed, epoch, position in the epoch). So the batches are
 * the same whatever the thread timing, and os_loader_seek resumes exactly.
 */
#ifndef OS_DATASETS_H
#define OS_DATASETS_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* Where os_dataset_load looks when path is NULL (Debian package
 * dataset-fashion-mnist). */
#define OS_DEFAULT_DATA_DIR "/usr/share/datasets/fashion-mnist"

typedef enum { OS_SPLIT_TRAIN = 0, OS_SPLIT_TEST = 1 } os_split;

typedef struct os_dataset {
    int n, c, h, w;        /* images, channels, height, width */
    int num_classes;
    uint8_t *pixels;       /* n * c * h * w bytes; image i at i*c*h*w, CHW */
    int32_t *labels;       /* n labels in [0, num_classes) */
    char **class_names;    /* num_classes names, or NULL when unknown */
    char format[16];       /* "cifar10", "cifar100", "idx", "folder" */
    char source[512];      /* what was read, e.g. "/data/cifar10-jpg/train" */
    char first[512];       /* the file of the first image: an image folder's
                              first file (first class, first name), the IDX
                              images file, the first CIFAR batch file */
    char warning[512];     /* "" or one line about data that loaded but may not
                              be what was meant (IDX labels with gaps: how many
                              classes were inferred, how many have no image).
                              The library never prints: a program shows it. */
} os_dataset;

typedef struct os_load_opts {
    const char *format;  /* NULL or "auto": detect; else one of the four names */
    os_split split;
    int max_per_class;   /* > 0: keep only the first N images of each class
                            (folder: only those files are decoded) */
    int channels;        /* folder: 0 = from the first image, 1 or 3 = force */
    bool resize;         /* folder: resize images of another size (default: reject) */
    bool coarse;         /* cifar100: the 20 coarse labels instead of the fine ones */
} os_load_opts;

/* Load one split of the dataset at `path` (a directory; NULL = the default).
 * format NULL = detect. Returns 0, or -1 with os_last_error() set. */
int os_dataset_load(const char *path, const char *format, os_split split, os_dataset *out);
int os_dataset_load_opts(const char *path, const os_load_opts *o, os_dataset *out);
void os_dataset_free(os_dataset *d);

/* The format found at path ("cifar10", ...), or NULL with os_last_error()
 * saying what was expected there. path NULL = the default. */
const char *os_dataset_detect(const char *path);

/* One line: "cifar10 /p/cifar-10-batches-bin (train): 50000 x 3x32x32, 10 classes". */
void os_dataset_describe(const os_dataset *d, char *buf, size_t len);

/* ---- splits (index lists into a dataset; caller frees with free()) ---------- */

/* A seeded shuffle of the whole dataset into a first part of
 * floor(fraction * n) indices (weights) and the rest (architecture); each part
 * is returned in ascending order. DARTS: fraction 0.5. fraction must be in
 * [0, 1] (else -1 with a message). */
int os_split_train_arch(const os_dataset *d, float fraction, uint64_t seed, int32_t **idx_a,
                        int *n_a, int32_t **idx_b, int *n_b);
/* The same for any index list (e.g. a subset). */
int os_split_indices(const int32_t *idx, int n, float fraction, uint64_t seed, int32_t **idx_a,
                     int *n_a, int32_t **idx_b, int *n_b);

/* The first per_class indices of each class, in the order of idx (NULL =
 * 0..d->n-1). Classes with fewer keep all of theirs. */
int os_subset_per_class(const os_dataset *d, const int32_t *idx, int n, int per_class,
                        int32_t **out, int *n_out);

/* Per-channel mean and (population) standard deviation of the pixels scaled to
 * [0, 1], over the images idx (NULL = all). mean, std: d->c floats each. The
 * variance is computed exactly from integer sums: std is 0 exactly when a
 * channel is constant. */
void os_dataset_channel_stats(const os_dataset *d, const int32_t *idx, int n, float *mean,
                              float *std);

/* ---- augmentation -------------------------------------------------------- */

/* The random choices for one sample. */
typedef struct os_aug {
    int dy, dx;      /* crop offset into the zero-padded image, 0..2*pad */
    bool flip;       /* horizontal flip */
    int cy, cx;      /* cutout centre (used when cutout > 0) */
} os_aug;

/* Draw the choices for the sample at `pos` of epoch `epoch` (pure function). */
os_aug os_aug_draw(uint64_t seed, int epoch, long pos, int h, int w, int pad, bool flip,
                   int cutout);

/* One image, in this order: random crop of the image zero-padded by `pad` on
 * every side (pad 0 = none), horizontal flip, scale to [0,1], normalise
 * (x - mean[c]) / std[c] (mean/std NULL = none), cutout: a cutout x cutout
 * square centred at (cy, cx), clipped to the image, set to 0 (after
 * normalisation, as DARTS' Cutout does). src: c*h*w uint8 CHW; dst: c*h*w floats. */
void os_augment(const uint8_t *src, int c, int h, int w, const os_aug *a, int pad, int cutout,
                const float *mean, const float *std, float *dst);

/* ---- loader -------------------------------------------------------------- */

typedef struct os_loader_opts {
    int batch_size;
    bool shuffle;        /* a new permutation each epoch */
    bool drop_last;      /* drop the last incomplete batch */
    uint64_t seed;
    const float *mean;   /* c floats, copied; NULL = no normalisation */
    const float *std;
    int crop_pad;        /* random crop with this zero padding; 0 = off */
    bool flip;           /* random horizontal flip */
    int cutout;          /* cutout square side; 0 = off */
    bool prefetch;       /* build the next batch on a background thread */
} os_loader_opts;

typedef struct os_loader os_loader;

/* A loader over the images idx[0..n-1] of d (idx NULL = all of d; copied).
 * d must outlive the loader. */
os_loader *os_loader_new(const os_dataset *d, const int32_t *idx, int n, const os_loader_opts *o);
/* The next batch: x gets batch*c*h*w floats (NCHW), y the labels. Returns the
 * batch size, or 0 at the end of the epoch; the call after that starts the
 * next epoch. */
int os_loader_next(os_loader *l, float *x, int32_t *y);
int os_loader_batches_per_epoch(const os_loader *l);
int os_loader_batch_size(const os_loader *l); /* the most images a batch has */
/* The epoch and batch the next os_loader_next call returns. */
int os_loader_epoch(const os_loader *l);
int os_loader_batch(const os_loader *l);
/* Continue at (epoch, batch): the batches are those an uninterrupted run
 * would have had there. */
void os_loader_seek(os_loader *l, int epoch, int batch);
void os_loader_free(os_loader *l);

/* ---- in-memory readers (used by the file readers, the tests and fuzz/) ------
 * `name` is the file name used in messages. They append nothing on failure. */

/* Decompress a gzip buffer (several members are concatenated), output capped
 * at max_out bytes. *out is malloc'd. */
int os_gunzip(const uint8_t *buf, size_t len, size_t max_out, const char *name, uint8_t **out,
              size_t *out_len);
/* Images + labels IDX buffers (already decompressed) into a dataset (c = 1).
 * num_classes > 0: labels must be below it; 0: num_classes = largest label + 1. */
int os_idx_decode(const uint8_t *img, size_t img_len, const char *img_name, const uint8_t *lab,
                  size_t lab_len, const char *lab_name, int num_classes, os_dataset *out);
/* One CIFAR binary buffer: cifar100 false = 1 label byte a record, true = 2
 * (coarse, fine; `coarse` picks which becomes the label). */
int os_cifar_decode(const uint8_t *buf, size_t len, const char *name, bool cifar100, bool coarse,
                    os_dataset *out);
/* One PNG / JPEG / BMP image to CHW uint8 with `channels` channels (0 = 1 for
 * grey, 3 for colour). *pixels is malloc'd. */
int os_image_decode(const uint8_t *buf, size_t len, const char *name, int channels,
                    uint8_t **pixels, int *c, int *h, int *w);

/* Whole file into memory (gzip'd or not, as stored). *buf is malloc'd. */
int os_read_file(const char *path, uint8_t **buf, size_t *len);

#endif
