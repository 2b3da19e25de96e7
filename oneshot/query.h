/* oneshot/query.h — the NAS-Bench-201 table on the command line: which
 * file, and how an entry is printed and recorded (supernet/nb201_bench.h).
 * Scoring only: nothing here feeds back into a search. */
#ifndef OS_QUERY_H
#define OS_QUERY_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "supernet/nb201_bench.h"

/* The table: `given` (--benchmark; a file that cannot be read is an
 * error), else the default (os_nb201_default_path, beside data_dir). *b is
 * NULL when there is none and none was asked for. `used` gets the path read
 * (empty when none). 0, or -1 with os_error() naming the file. */
int os_bench_open(const char *given, const char *data_dir, os_nb201_bench **b, char *used, size_t n);
/* {"arch_str", "cifar10", "cifar100", "imagenet16_120", "rank_cifar10"} of a child, or NULL with os_error(). */
cJSON *os_bench_entry_json(const os_nb201_bench *b, const os_arch *child);
/* One line: "NAS-Bench-201: CIFAR-10 93.76 %, CIFAR-100 ..., rank R of 15625 on CIFAR-10". */
void os_bench_print(const os_nb201_bench *b, const os_arch *child);
/* At the end of a selection on a finished run: the table (os_bench_open of
 * given, else of the run's own --benchmark, beside data_dir), and the
 * child's line when there is one. A table that cannot be read is a note on
 * stderr, not a failure: the answer is written already. */
void os_bench_report(const char *given, const char *run_benchmark, const char *data_dir, const os_arch *child);

#endif
