/* search/enas.h — what the `enas` strategy (search/enas.c) shows beyond the
 * os_strategy interface: for benchmarks and tests. */
#ifndef OS_ENAS_H
#define OS_ENAS_H

#include "supernet/arch.h"

/* The path (supernet form) of the child that the strategy's last weight
 * step trained, into a (its earlier content is freed). state: an `enas`
 * strategy's. */
void os_enas_last_path(void *state, os_arch *a);

#endif
