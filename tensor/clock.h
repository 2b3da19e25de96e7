/* tensor/clock.h — the one clock for timing: monotonic wall seconds
 * (progress lines, epoch and selection timings, latency tables). */
#ifndef OS_CLOCK_H
#define OS_CLOCK_H

#include <time.h>

static inline double os_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
