/* oneshot/data.h — the data a run needs: datasets, splits and loaders. */
#ifndef OS_RUN_DATA_H
#define OS_RUN_DATA_H

#include "oneshot/config.h"
#include "datasets/datasets.h"

typedef struct os_run_data {
    os_dataset train, test;
    int32_t *idx_w, *idx_a;   /* search: weight / architecture halves; retrain: idx_w = all */
    int n_w, n_a;
    float mean[4], std[4];
    os_loader *wl, *al, *tl;  /* weights, architecture, test */
    float *xb;                /* host batch buffer */
    int32_t *yb;
} os_run_data;

/* Loads both splits and makes the loaders. Returns 0 or -1 with os_error(). */
int os_run_data_open(os_run_data *d, const os_config *c, int search, int need_train);
void os_run_data_close(os_run_data *d);

#endif
