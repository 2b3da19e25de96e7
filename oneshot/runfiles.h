/* oneshot/runfiles.h — the files of a run directory (see oneshot/run.h). */
#ifndef OS_RUNFILES_H
#define OS_RUNFILES_H

#include <stddef.h>
#include "oneshot/config.h"
#include "oneshot/data.h"
#include "supernet/supernet.h"
#include "supernet/genotype.h"

typedef struct os_epoch_record {
    int epoch;
    double train_loss, train_acc, val_loss, val_acc, lr, seconds, images_per_sec, tau;
    size_t arena_bytes;
} os_epoch_record;

double os_now(void);
/* --resume DIR, or --out DIR, or runs/<cmd>-<space>-<YYYYmmdd-HHMMSS>; created. */
int os_run_dir(const os_config *c, char *dir, size_t n);
int os_write_config(const os_config *c, const char *dir, long n_weights, long n_arch, const os_run_data *d);
/* Write the architecture to train into DIR/arch.json (a copy of --arch, or
 * the named/inline architecture as JSON); path gets its name. */
int os_write_arch_copy(const os_config *c, const char *dir, char *path, size_t n);
/* Append one line to DIR/metrics.jsonl (alpha probabilities if net given). */
int os_append_metrics(const char *dir, const os_epoch_record *r, const os_net *net);
/* Resume: drop the lines of epochs after `epochs_done` (written after the
 * checkpoint that is resumed from, e.g. when its save failed), so that the
 * file keeps one line per epoch. A missing file is fine. */
int os_trim_metrics(const char *dir, int epochs_done);
/* Export the searched architecture to DIR/arch.json; print it when verbose. */
int os_export_run_arch(const os_space *space, const os_net *net, int max_skip, const char *dir, int verbose);
/* Write a whole file atomically (temp + fsync + rename). */
int os_write_file_atomic(const char *path, const char *text);

#endif
