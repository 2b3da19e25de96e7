/* oneshot/runfiles.h — the files of a run directory (see oneshot/run.h). */
#ifndef OS_RUNFILES_H
#define OS_RUNFILES_H

#include <stddef.h>
#include "oneshot/config.h"
#include "search/trainer.h"

typedef struct os_epoch_record {
    int epoch;
    double train_loss, train_acc, val_loss, val_acc, lr, seconds, images_per_sec;
    size_t arena_bytes;
} os_epoch_record;

/* --resume DIR, or --out DIR, or runs/<cmd>-<space>-<YYYYmmdd-HHMMSS>[-k]
 * (never an existing directory). --out on a directory that holds a run is an
 * error pointing to --resume, unless --force (which removes the run's
 * files). *created says whether this call made the directory. */
int os_run_dir(const os_config *c, char *dir, size_t n, int *created);
/* mkdir -p; 0 or -1 with os_error() naming the directory. */
int os_mkdirs(const char *path);
/* Lock DIR against a second process (flock on DIR/.lock, which holds the
 * pid): the fd, or -1 with os_error() naming the holder's pid. */
int os_run_lock(const char *dir);
/* Release the lock; with remove_dir, a directory this run created and left
 * without a run in it is removed. */
void os_run_unlock(const char *dir, int fd, int remove_dir);
int os_write_config(const os_config *c, const char *dir, long n_weights, long n_arch, const os_run_data *d);
/* Append one line to DIR/metrics.jsonl: the record, the keys of `extra`
 * (the strategy's, e.g. tau; may be NULL) and the alpha probabilities of
 * net's choices when net is given. */
int os_append_metrics(const char *dir, const os_epoch_record *r, const os_net *net, const cJSON *extra);
/* Resume: drop the lines of epochs after `epochs_done` (written after the
 * checkpoint that is resumed from, e.g. when its save failed), so that the
 * file keeps one line per epoch. A missing file is fine. */
int os_trim_metrics(const char *dir, int epochs_done);
/* Derive the searched architecture and write DIR/arch.json; print it when
 * verbose. max_skip: the skip guard (-1 = off). The child form goes to
 * *child when child is not NULL (the caller frees it). */
int os_export_run_arch(os_trainer *t, int max_skip, const char *dir, int verbose, os_arch *child_out);
/* Write a whole file atomically (temp + fsync + rename). */
int os_write_file_atomic(const char *path, const char *text);
/* The same with a newline appended. */
int os_write_text(const char *path, const char *text);

#endif
