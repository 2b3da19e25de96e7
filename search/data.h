/* search/data.h — the data a run needs: both splits of a dataset, the
 * weights / architecture halves of the training split (search), and the
 * loaders, normalised with the training half's channel statistics. */
#ifndef OS_RUN_DATA_H
#define OS_RUN_DATA_H

#include <stdint.h>
#include "datasets/datasets.h"

typedef struct os_data_settings {
    const char *path;        /* NULL = the default dataset (Fashion-MNIST) */
    const char *format;      /* NULL = detect */
    int subset, test_subset; /* first N images per class (0 = all) */
    int batch;
    uint64_t seed;           /* the split and the shuffles */
    int search;              /* split the training set: weights / architecture */
    float train_portion;     /* search: the weights' fraction */
    int need_train;          /* make the training loaders (0: test only, e.g. eval) */
    int crop_pad, flip, cutout;
} os_data_settings;

typedef struct os_run_data {
    os_dataset train, test;   /* train.warning: a note for the user ("" if none) */
    int32_t *idx_w, *idx_a;   /* search: weight / architecture halves; retrain: idx_w = all */
    int n_w, n_a;
    float mean[4], std[4];
    os_loader *wl, *al, *tl;  /* weights, architecture, test */
    os_loader *vl;            /* search: the architecture half for evaluation (evolve) */
    float *xb;                /* host batch buffer: two batches */
    int32_t *yb;
    int batch;
} os_run_data;

/* Loads both splits and makes the loaders. Returns 0 or -1 with os_error()
 * (d is then closed), a message in the user's terms naming the option
 * (--batch, --crop-pad, ...) or the files:
 *  - settings: batch >= 1, subset and test_subset >= 0, crop_pad and cutout
 *    >= 0, search: 0 < train_portion < 1; with need_train, crop_pad smaller
 *    than the image's sides and cutout no larger than the longer side;
 *  - the test split has the training split's channels, size and classes
 *    (the message names the first image of each, os_dataset.first);
 *  - the training images hold at least two classes;
 *  - no channel of the training images (the weights' part) is constant;
 *  - enough training images for one batch (need_train).
 * Something that loads but may not be meant (IDX labels with gaps) is in
 * d->train.warning, for the program to print. Without need_train the batch
 * is capped at the test split's size (d->batch).
 *
 * The evaluation loaders (tl, and vl in a search: the architecture half) do
 * not augment and read their images in one fixed shuffled order, the same
 * on every pass (os_trainer_evaluate and evolve seek to its start). The
 * image files hold a class after another and the splits keep that order,
 * so in file order a partial pass (--val-batches) would see one or two
 * classes, and a network normalising with batch statistics
 * (--bn-batch-stats, NAS-Bench-201's protocol) would see batches of one
 * class; a whole pass sees every image once in either order. */
int os_run_data_open(os_run_data *d, const os_data_settings *s);
void os_run_data_close(os_run_data *d);

#endif
