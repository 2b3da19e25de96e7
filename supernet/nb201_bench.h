/* supernet/nb201_bench.h — the NAS-Bench-201 accuracy table, built in.
 *
 * The table (../shared/data/nb201/nats_tss_200ep.csv, README there) gives
 * for each of the 15,625 architectures of the nb201 space its test accuracy
 * in percent after the benchmark's 200-epoch training on CIFAR-10,
 * CIFAR-100 and ImageNet16-120. Its CSV form, one architecture a line:
 *
 *   CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,ImageNetTestAccuracy200Epochs,ArchitectureString
 *   93.66,70.29,44.03,|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|
 *
 * THE TABLE IS FOR SCORING ONLY. Nothing in a search reads it: no strategy,
 * no selection rule, no stopping rule sees these numbers. A run records the
 * entry of the architecture it derived (metrics.jsonl), `oneshot export`
 * and `oneshot query` print entries, and that is all; a search's
 * trajectory is bit-identical with and without --benchmark (a test checks
 * it).
 *
 * An architecture's index is its six edge ops in base 5, edge order
 * cell/0_1, cell/0_2, cell/1_2, cell/0_3, cell/1_3, cell/2_3 (the arch
 * string's order), op digits none 0, skip_connect 1, conv_1x1 2, conv_3x3 3,
 * avg_pool_3x3 4 (nb201's candidate order), the first edge the most
 * significant digit.
 */
#ifndef OS_NB201_BENCH_H
#define OS_NB201_BENCH_H

#include <stddef.h>
#include "supernet/arch.h"

#define OS_NB201_ARCHS 15625
#define OS_NB201_FILE "nats_tss_200ep.csv"

typedef struct os_nb201_entry {
    float cifar10, cifar100, imagenet16; /* test accuracy %, 200 epochs */
    int rank_cifar10;                    /* 1 = best; ties share a rank */
} os_nb201_entry;

typedef struct os_nb201_bench {
    char path[512];
    os_nb201_entry e[OS_NB201_ARCHS];    /* by index */
} os_nb201_bench;

/* Read and validate the table: the header's four columns, exactly 15,625
 * rows, every arch string an nb201 architecture and none twice, every
 * accuracy a number in 0..100. NULL with os_error() naming the file, the
 * line and what is wrong. */
os_nb201_bench *os_nb201_bench_load(const char *path);
void os_nb201_bench_free(os_nb201_bench *b);

/* The index (see the top) of a child-form nb201 architecture, or -1 with
 * os_error() naming the label that has no single op. */
int os_nb201_index(const os_arch *child);
/* Its benchmark arch string into buf (at most 120 characters); 0 or -1. */
int os_nb201_arch_str(const os_arch *child, char *buf, size_t n);
/* The entry of a child-form architecture, or NULL with os_error(). */
const os_nb201_entry *os_nb201_lookup(const os_nb201_bench *b, const os_arch *child);

/* Where the table is when no --benchmark is given: $ONESHOT_NB201 when set
 * (*explicit_env = 1: a missing file is then an error), else
 * DIR/nb201/nats_tss_200ep.csv beside the data folder (`data_dir`'s parent;
 * --data ../shared/data/cifar10-jpg -> ../shared/data/nb201/...) if that
 * file exists, else ../shared/data/nb201/nats_tss_200ep.csv from the
 * current directory if it exists. buf empty: no table (silent). */
void os_nb201_default_path(const char *data_dir, char *buf, size_t n, int *explicit_env);

#endif
