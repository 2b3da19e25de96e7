/* search/latency.h — latency measured with the engine itself: a table of
 * every candidate of a supernet (what search/path.h reads), and a child's
 * end-to-end time.
 *
 * Every measurement runs the inference path (evaluation mode, gradients
 * off, no tape) on one random input of [batch, C, H, W]: `warmup` untimed
 * forwards, then `runs` timed ones; a figure is the median of the runs and
 * its spread the range from the 10th to the 90th percentile. The clock is
 * the wall clock, or the process's CPU time (opts.cpu_clock, one thread).
 *
 * The table: one supernet forward runs every candidate of every layer choice
 * (an input choice its first k inputs) at its own input shape, and the
 * supernet times each candidate's call inside that forward
 * (os_net.cand_seconds). The fixed rest ("fixed": stem, head, the
 * proxyless fixed first block, and whatever runs outside the candidates) is
 * timed on a single path: per run, its forward's time minus the time of the
 * candidates it ran. A path's predicted latency is "fixed" plus the entries
 * of the candidates it runs; a choice gated off by a depth choice
 * (os_choice.gate) runs nothing, so the depth is not in the table: it
 * selects which block entries count.
 *
 * JSON written (and read by os_path_latency_parse):
 *   {"space": "proxyless", "variant": "small", "input": [3, 32, 32],
 *    "batch": 1, "threads": 1, "runs": 30, "warmup": 5, "clock": "wall",
 *    "machine": {"cpu": "...", "hostname": "..."},
 *    "build": {"compiler": "...", "flags": "...", "commit": "..."},
 *    "date": "2026-11-30T02:10:00Z", "units": "ms",
 *    "fixed": 0.61, "fixed_spread": [0.58, 0.66],
 *    "spread": {"s2_i0": {"k3e3": [p10, p90], ...}, ...},
 *    "s2_i0": {"k3e3": 0.052, "k5e3": 0.061, ...}, ...}
 */
#ifndef OS_LATENCY_H
#define OS_LATENCY_H

#include "supernet/supernet.h"

struct cJSON;

typedef struct os_latency_opts {
    int batch;       /* images per forward (>= 1) */
    int threads;     /* the thread count in force (recorded; the caller sets it) */
    int warmup;      /* untimed forwards first */
    int runs;        /* timed forwards (>= 1; the CLI asks for >= 20) */
    uint64_t seed;   /* of the random input */
    int cpu_clock;   /* 0: wall time (what a user waits; right on a quiet
                        machine). 1: the process's CPU time, which a loaded
                        machine disturbs much less (a forward that waits for
                        a core is not charged the wait); threads must be 1 */
} os_latency_opts;

typedef struct os_latency_stat {
    double median, p10, p90; /* ms */
} os_latency_stat;

/* The table of a supernet (its chooser is kept). Returns a new cJSON
 * object (the format above), or NULL with os_error(). `variant` may be NULL. */
struct cJSON *os_latency_table(os_net *supernet, const char *variant, const os_latency_opts *o);
/* A whole network's forward (a child), end to end. 0, or -1 with os_error(). */
int os_latency_measure(os_net *net, const os_latency_opts *o, os_latency_stat *st);
/* The latency a table (file `table`) predicts for a child: the space's
 * supernet is built with `so` (no arch), the table loaded with the
 * expectations batch / threads (0 = not checked) and the child's choices
 * looked up by label (a child whose labels are the supernet's: nb201,
 * proxyless). 0, or -1 with os_error() naming the mismatch. */
struct os_space;
int os_latency_predict(const struct os_space *sp, const os_space_opts *so, const struct os_arch *child,
                       const char *table, int batch, int threads, double *ms);
/* Median and 10th / 90th percentiles of n values (sorted in place). */
void os_latency_stats(double *v, int n, os_latency_stat *st);
/* The metadata keys of a table (os_path_latency_parse skips them): 1 if key is one. */
int os_latency_meta_key(const char *key);

#endif
