/* ops/cpu/cpu_backend.c — the CPU backend table: host memory and the kernels.
 * Every member of os_backend is filled: the "device" is the host, so sync has
 * nothing to wait for and the async copies are plain memcpy. The thread setup
 * of the CPU kernels (OpenMP, OpenBLAS) is this backend's too:
 * ops/cpu/cpu_threads.c. */
#include "ops/cpu/cpu_kernels.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Step memory comes in large blocks (arena chunks, transient spills) taken
 * and freed during the first steps. glibc's default raises its mmap
 * threshold after each large free, so later large blocks land in the heap
 * and, once freed, stay resident: the process would keep the first steps'
 * spills beside the steady-state arena. A fixed threshold (which also turns
 * the adjustment off) maps every block of 1 MiB or more and returns it to
 * the system when freed. */
static pthread_once_t malloc_once = PTHREAD_ONCE_INIT;
static void malloc_setup(void) { mallopt(M_MMAP_THRESHOLD, 1 << 20); }

static void *cpu_alloc(size_t bytes)
{
    pthread_once(&malloc_once, malloc_setup);
    return aligned_alloc(64, (bytes + 63) & ~(size_t)63);
}

static void cpu_copy(void *dst, const void *src, size_t bytes) { memcpy(dst, src, bytes); }
static void cpu_memset(void *p, int byte, size_t bytes) { memset(p, byte, bytes); }
static void cpu_sync(void) {}

/* staging memory and uploads: the device is the host, so an upload is a
 * memcpy and there is nothing to wait for */
static void *cpu_alloc_host(size_t bytes)
{
    void *p = aligned_alloc(64, ((bytes ? bytes : 1) + 63) & ~(size_t)63);
    if (!p)
        os_fatal("cpu: alloc_host: out of host memory for a staging buffer of %zu bytes (%.1f MiB); try a "
                 "smaller --batch", bytes, bytes / 1048576.0);
    return p;
}

static void cpu_upload(void *dst, const void *src, size_t bytes, int slot)
{
    if (slot < 0 || slot >= OS_UPLOAD_SLOTS)
        os_fatal("cpu: upload: slot %d outside 0..%d", slot, OS_UPLOAD_SLOTS - 1);
    memcpy(dst, src, bytes);
}

static void cpu_upload_sync(int slot) { (void)slot; }
static int cpu_available(void) { return 1; }
/* every kernel of ops/kernels.def has a CPU version (the table below would
 * not link otherwise) */
static bool cpu_supports(int kernel) { return kernel >= 0 && kernel < OS_K_COUNT; }

const os_backend os_cpu_backend = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = free,
    .copy_to_host = cpu_copy,
    .copy_from_host = cpu_copy,
    .sync = cpu_sync,
    .memset = cpu_memset,
    .copy_device = cpu_copy,
    .copy_to_host_async = cpu_copy,
    .copy_from_host_async = cpu_copy,
    .alloc_host = cpu_alloc_host,
    .free_host = free,
    .upload = cpu_upload,
    .upload_wait = cpu_upload_sync,
    .upload_done = cpu_upload_sync,
    .supports = cpu_supports,
    .available = cpu_available,
    .kernels = {
#define OS_KERNEL(name, fn, doc) [OS_K_##name] = os_cpu_##fn,
#include "ops/kernels.def"
#undef OS_KERNEL
    },
};

