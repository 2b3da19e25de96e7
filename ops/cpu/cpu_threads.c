/* ops/cpu/cpu_threads.c — the CPU backend's thread setting (declared in
 * tensor/backend.h): OpenMP runs the kernels' parallel regions with
 * os_threads() threads; OpenBLAS is kept single-threaded and called from
 * inside those regions (batch-parallel GEMMs), so the two never oversubscribe
 * the cores.
 *
 * Process-wide: the count is one number for every thread and context. Set it
 * before starting threads that run ops. OpenMP's default team size
 * (omp_set_num_threads) belongs to the thread that sets it, so a thread
 * started by the application that runs ops calls os_set_threads itself
 * (with the same count) to make its kernels use that count too; kernels that
 * size their regions with os_threads() follow the global count anyway. */
#include "tensor/backend.h"

#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>

extern void openblas_set_num_threads(int);

static atomic_int n_threads; /* 0: not set yet */
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

void os_set_threads(int n)
{
    if (n < 1)
        n = omp_get_num_procs();
    atomic_store(&n_threads, n);
    omp_set_num_threads(n);
    openblas_set_num_threads(1);
}

static void set_default_threads(void)
{
    if (!atomic_load(&n_threads))
        os_set_threads(0);
}

int os_threads(void)
{
    int n = atomic_load_explicit(&n_threads, memory_order_relaxed);
    if (n)
        return n;
    pthread_once(&default_once, set_default_threads);
    return atomic_load(&n_threads);
}
