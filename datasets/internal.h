/* datasets/internal.h — helpers shared by the files of datasets/ (not public). */
#ifndef OS_DATASETS_INTERNAL_H
#define OS_DATASETS_INTERNAL_H

#include "datasets/datasets.h"

/* Decompressed data is capped here (Fashion-MNIST's training images are 47 MB,
 * ImageNet-sized IDX files would not fit in memory anyway). */
#define OS_DS_MAX_DECOMPRESSED ((size_t)1 << 32)
/* Largest image accepted from a folder: 2^24 pixels (4096 x 4096). A few
 * hundred bytes of JPEG can declare a much larger image. */
#define OS_DS_MAX_IMAGE_PIXELS ((size_t)1 << 24)

/* Allocate pixels and labels for n images of c x h x w (zeroed dataset
 * fields first). Returns -1 with a message (naming `what`) when out of memory
 * or when the size overflows. */
int os_ds_alloc(os_dataset *d, long n, int c, int h, int w, const char *what);
/* Class names from a text file with one name a line; NULL names when absent
 * or when it has fewer than num_classes lines (names are optional). */
void os_ds_read_names(os_dataset *d, const char *path);
int os_ds_set_names(os_dataset *d, char **names, int count); /* takes copies */
/* d->source = s (cut to fit). */
void os_ds_set_source(os_dataset *d, const char *s);
/* path + "/" + name into buf; -1 with a message when it does not fit. */
int os_ds_join(char *buf, size_t len, const char *dir, const char *name);
bool os_ds_is_dir(const char *path);
bool os_ds_is_file(const char *path);
/* Keep the first per_class images of each class (in place). */
int os_ds_limit_per_class(os_dataset *d, int per_class);

/* Readers of each format, from a directory already detected. */
int os_ds_load_cifar(const char *dir, const os_load_opts *o, bool cifar100, os_dataset *out);
int os_ds_load_idx(const char *dir, const os_load_opts *o, os_dataset *out);
int os_ds_load_folder(const char *root, const os_load_opts *o, os_dataset *out);

/* Where the data of `format` lives under path (a subdirectory such as
 * cifar-10-batches-bin is looked into). 0 and the directory in dir, or -1. */
int os_ds_cifar10_dir(const char *path, char *dir, size_t len);
int os_ds_cifar100_dir(const char *path, char *dir, size_t len);
bool os_ds_idx_present(const char *dir);   /* an IDX images file of either split */
bool os_ds_folder_present(const char *root); /* root/train or root/test with subfolders */
/* Decode to HWC (stb_image's layout); *c is the channel count delivered. */
int os_ds_image_decode_hwc(const uint8_t *buf, size_t len, const char *name, int channels,
                           uint8_t **hwc, int *c, int *h, int *w);
/* Structural checks before stb_image (kind "PNG", "JPEG" or "BMP"). */
int os_ds_image_check(const uint8_t *buf, size_t len, const char *name, const char *kind);
void os_ds_hwc_to_chw(const uint8_t *hwc, int c, int h, int w, uint8_t *chw);

/* lut[k*256 + v] = ((float)v / 255 - mean[k]) / std[k] (mean NULL: v / 255). */
void os_ds_norm_lut(int c, const float *mean, const float *std, float *lut);
/* os_augment with a table made by os_ds_norm_lut. */
void os_ds_augment_lut(const uint8_t *src, int c, int h, int w, const os_aug *a, int pad,
                       int cutout, const float *lut, float *dst);

#endif
