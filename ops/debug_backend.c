/* ops/debug_backend.c — the debug device (ops/debug_backend.h): poisoned,
 * access-protected memory around another backend's kernels.
 *
 * The memory: one region reserved at first use (PROT_NONE, no swap reserved),
 * handed out in whole pages by first fit over a sorted block list (freed
 * blocks merge with free neighbours and give their pages back with
 * MADV_DONTNEED). A backend call opens (PROT_READ|PROT_WRITE) exactly the
 * pages its operands span: the tensors t[0..7] (first to last element of the
 * view), the device pointers of its params (open_params), the source or
 * destination of a copy, and memory allocated during the call; it runs the
 * inner table's function and closes them again. Opening only those keeps the
 * cost near the data the kernel touches anyway, where opening the whole
 * region per call made a DARTS step take many seconds in mprotect. Calls are
 * serialised by a (recursive) lock held from enter() to leave(). */
#include "ops/debug_backend.h"
#include "ops/ops.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define RESERVE ((size_t)64 << 30) /* address space, not memory */

typedef struct {
    size_t off, pages;
    bool live;
} block;

/* recursive: a kernel that allocates device memory locks it again */
static pthread_mutex_t mu = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static const os_backend *inner;
static os_backend table;
static char table_name[64];
static char *base;
static size_t page, top; /* bytes in use from base: the end of the last block */
static block *blocks;
static int n_blocks, cap_blocks;
static os_debug_counts counts;

/* the page ranges opened for the call in flight, closed when it returns */
#define MAX_OPEN 96
static struct {
    size_t off, bytes;
} open_r[MAX_OPEN];
static int n_open, depth;
static bool open_all; /* more ranges than MAX_OPEN: close the whole region */

static void protect(size_t off, size_t bytes, bool rw)
{
    if (bytes && mprotect(base + off, bytes, rw ? PROT_READ | PROT_WRITE : PROT_NONE))
        os_fatal("debug backend: mprotect of %zu bytes failed", bytes);
}

/* make [p, p + bytes) readable for the call in flight (whole pages; memory
 * outside the region, e.g. a host buffer of a copy, is left alone) */
static void open_range(const void *p, size_t bytes)
{
    if (!p || !bytes || !base || (const char *)p < base || (const char *)p >= base + top)
        return;
    size_t lo = (size_t)((const char *)p - base) / page * page;
    size_t hi = ((size_t)((const char *)p - base) + bytes + page - 1) / page * page;
    hi = hi < top ? hi : top;
    protect(lo, hi - lo, true);
    if (n_open < MAX_OPEN) {
        open_r[n_open].off = lo;
        open_r[n_open++].bytes = hi - lo;
    } else {
        open_all = true;
    }
}

/* the elements a view spans, first to last (strides may be 0) */
static void open_tensor(const os_tensor *t)
{
    if (!t || os_numel(t) == 0)
        return;
    long last = 0;
    for (int d = 0; d < OS_MAX_DIMS; d++)
        last += (long)(t->shape[d] - 1) * t->stride[d];
    open_range(t->data, sizeof(float) * (size_t)(last + 1));
}

/* a backend call starts (the lock is held until it ends) / ends */
static void enter(void)
{
    pthread_mutex_lock(&mu);
    depth++;
}

static void leave(void)
{
    if (--depth == 0) {
        if (open_all)
            protect(0, top, false);
        else
            for (int i = 0; i < n_open; i++)
                protect(open_r[i].off, open_r[i].bytes, false);
        n_open = 0;
        open_all = false;
    }
    pthread_mutex_unlock(&mu);
}

static void insert_block(int at, block b)
{
    if (n_blocks == cap_blocks) {
        cap_blocks = cap_blocks ? 2 * cap_blocks : 256;
        blocks = realloc(blocks, sizeof *blocks * (size_t)cap_blocks);
        if (!blocks)
            os_fatal("debug backend: out of host memory");
    }
    memmove(blocks + at + 1, blocks + at, sizeof *blocks * (size_t)(n_blocks - at));
    blocks[at] = b;
    n_blocks++;
}

static void remove_block(int at)
{
    memmove(blocks + at, blocks + at + 1, sizeof *blocks * (size_t)(n_blocks - at - 1));
    n_blocks--;
}

static void *dbg_alloc(size_t bytes)
{
    pthread_mutex_lock(&mu);
    if (!base) {
        page = (size_t)sysconf(_SC_PAGESIZE);
        void *p = mmap(NULL, RESERVE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            os_fatal("debug backend: cannot reserve %zu bytes of address space", RESERVE);
        base = p;
    }
    size_t pages = (bytes + page - 1) / page;
    pages = pages ? pages : 1;
    int at = -1;
    for (int i = 0; i < n_blocks && at < 0; i++)
        if (!blocks[i].live && blocks[i].pages >= pages)
            at = i;
    if (at >= 0) {
        if (blocks[at].pages > pages)
            insert_block(at + 1, (block){blocks[at].off + pages * page, blocks[at].pages - pages, false});
        blocks[at].pages = pages;
        blocks[at].live = true;
    } else {
        if (top + pages * page > RESERVE) {
            pthread_mutex_unlock(&mu);
            return NULL; /* the caller reports it, with the size */
        }
        at = n_blocks;
        insert_block(at, (block){top, pages, true});
        top += pages * page;
    }
    size_t off = blocks[at].off;
    protect(off, pages * page, true);
    memset(base + off, 0xFF, pages * page); /* poison: NaN in every float */
    if (depth == 0)
        protect(off, pages * page, false);
    else /* made inside a kernel: open until that call returns */
        open_range(base + off, pages * page);
    counts.allocs++;
    counts.live_bytes += (long)(pages * page);
    pthread_mutex_unlock(&mu);
    return base + off;
}

static void dbg_free(void *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&mu);
    size_t off = (size_t)((char *)p - base);
    int lo = 0, hi = n_blocks - 1, at = -1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (blocks[mid].off == off) {
            at = mid;
            break;
        }
        if (blocks[mid].off < off)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    if (at < 0 || !blocks[at].live)
        os_fatal("debug backend: free of %p, which is not a live allocation of this device", p);
    blocks[at].live = false;
    counts.frees++;
    counts.live_bytes -= (long)(blocks[at].pages * page);
    madvise(base + off, blocks[at].pages * page, MADV_DONTNEED);
    if (at + 1 < n_blocks && !blocks[at + 1].live) {
        blocks[at].pages += blocks[at + 1].pages;
        remove_block(at + 1);
    }
    if (at > 0 && !blocks[at - 1].live) {
        blocks[at - 1].pages += blocks[at].pages;
        remove_block(at);
    }
    pthread_mutex_unlock(&mu);
}

static void dbg_to_host(void *dst, const void *src, size_t bytes)
{
    enter();
    open_range(src, bytes);
    counts.to_host++;
    counts.to_host_bytes += (long)bytes;
    inner->copy_to_host(dst, src, bytes);
    leave();
}

static void dbg_to_host_async(void *dst, const void *src, size_t bytes)
{
    enter();
    open_range(src, bytes);
    counts.to_host++;
    counts.to_host_bytes += (long)bytes;
    (inner->copy_to_host_async ? inner->copy_to_host_async : inner->copy_to_host)(dst, src, bytes);
    leave();
}

static void dbg_from_host(void *dst, const void *src, size_t bytes)
{
    enter();
    open_range(dst, bytes);
    counts.from_host++;
    inner->copy_from_host(dst, src, bytes);
    leave();
}

static void dbg_from_host_async(void *dst, const void *src, size_t bytes)
{
    enter();
    open_range(dst, bytes);
    counts.from_host++;
    (inner->copy_from_host_async ? inner->copy_from_host_async : inner->copy_from_host)(dst, src, bytes);
    leave();
}

static void dbg_copy_device(void *dst, const void *src, size_t bytes)
{
    enter();
    open_range(dst, bytes);
    open_range(src, bytes);
    if (inner->copy_device)
        inner->copy_device(dst, src, bytes);
    else
        memcpy(dst, src, bytes); /* host kernels: device memory is host memory inside a call */
    leave();
}

static void dbg_memset(void *p, int byte, size_t bytes)
{
    enter();
    open_range(p, bytes);
    if (inner->memset)
        inner->memset(p, byte, bytes);
    else
        memset(p, byte, bytes);
    leave();
}

/* ---- staging memory and uploads ----------------------------------------------------
 * Staging memory is host memory (the inner table's, outside the poisoned
 * region). An upload is recorded with a checksum of its source and copied
 * only at the slot's upload_wait or upload_done, the latest a real copy
 * stream could finish (sync waits for the kernels only, as
 * cudaStreamSynchronize of the kernel stream does). So a kernel that reads
 * the destination without upload_wait sees the old (at first poisoned)
 * bytes. The record stays until upload_done, the host's wait: a source
 * written before it (found at that slot's next upload, wait or done) is a
 * fatal error naming the slot, where a GPU might have copied torn data. */
#define MAX_PENDING 16
typedef struct {
    void *dst;
    const void *src;
    size_t bytes;
    uint64_t sum;
    bool copied;
} pending_upload;
static pending_upload pending[OS_UPLOAD_SLOTS][MAX_PENDING];
static int n_pending[OS_UPLOAD_SLOTS];

static uint64_t checksum(const void *p, size_t bytes)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < bytes; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static void check_slot(const char *call, int slot)
{
    if (slot < 0 || slot >= OS_UPLOAD_SLOTS)
        os_fatal("debug backend: %s: upload slot %d outside 0..%d", call, slot, OS_UPLOAD_SLOTS - 1);
}

/* the slot's recorded sources are as they were at their upload (mu held) */
static void check_sources(const char *call, int slot)
{
    for (int i = 0; i < n_pending[slot]; i++) {
        pending_upload *u = &pending[slot][i];
        if (checksum(u->src, u->bytes) != u->sum) {
            size_t bytes = u->bytes;
            n_pending[slot] = 0; /* reported once */
            pthread_mutex_unlock(&mu);
            os_fatal("debug backend: %s: the host source of an upload in slot %d (%zu bytes) was written before "
                     "upload_done: wait for upload_done before refilling a staging buffer", call, slot, bytes);
        }
    }
}

static void *dbg_alloc_host(size_t bytes)
{
    if (inner->alloc_host)
        return inner->alloc_host(bytes);
    void *p = aligned_alloc(64, ((bytes ? bytes : 1) + 63) & ~(size_t)63);
    if (!p)
        os_fatal("debug backend: alloc_host: out of host memory for a staging buffer of %zu bytes", bytes);
    return p;
}

static void dbg_free_host(void *p) { (inner->free_host ? inner->free_host : free)(p); }

static void dbg_upload(void *dst, const void *src, size_t bytes, int slot)
{
    check_slot("upload", slot);
    pthread_mutex_lock(&mu);
    check_sources("upload", slot);
    if (n_pending[slot] == MAX_PENDING) {
        pthread_mutex_unlock(&mu);
        os_fatal("debug backend: upload: more than %d uploads in slot %d without an upload_done", MAX_PENDING,
                 slot);
    }
    pending[slot][n_pending[slot]++] = (pending_upload){dst, src, bytes, checksum(src, bytes), false};
    counts.from_host++;
    counts.uploads++;
    pthread_mutex_unlock(&mu);
}

/* the slot's copies not made yet, in the order they were queued; done:
 * the records end (the host may write the sources again) */
static void land_slot(const char *call, int slot, bool done)
{
    pthread_mutex_lock(&mu);
    check_sources(call, slot);
    enter();
    pthread_mutex_unlock(&mu); /* enter() holds it (recursive) until leave() */
    for (int i = 0; i < n_pending[slot]; i++) {
        pending_upload *u = &pending[slot][i];
        if (u->copied)
            continue;
        open_range(u->dst, u->bytes);
        if (inner->upload) {
            inner->upload(u->dst, u->src, u->bytes, slot);
            inner->upload_done(slot);
        } else {
            inner->copy_from_host(u->dst, u->src, u->bytes);
        }
        u->copied = true;
    }
    if (done)
        n_pending[slot] = 0;
    leave();
}

static void dbg_upload_wait(int slot)
{
    check_slot("upload_wait", slot);
    land_slot("upload_wait", slot, false);
    if (inner->upload_wait)
        inner->upload_wait(slot);
}

static void dbg_upload_done(int slot)
{
    check_slot("upload_done", slot);
    land_slot("upload_done", slot, true);
}

static void dbg_sync(void)
{
    if (!inner->sync)
        return;
    enter();
    open_all = true; /* queued work may touch any of it */
    protect(0, top, true);
    inner->sync();
    leave();
}

static bool dbg_supports(int k)
{
    if (k < 0 || k >= OS_K_COUNT || !inner->kernels[k])
        return false;
    return inner->supports ? inner->supports(k) : true;
}

static int dbg_available(void) { return inner->available ? inner->available() : 1; }

/* The device pointers a kernel's params carry (ops/kernels.def: labels,
 * indices, the weighted sum's operands). A kernel added there with pointers
 * in its params must be listed here, or it faults on the debug device. */
static void open_params(int k, const os_kargs *a)
{
    size_t len = a->t[0] ? sizeof(float) * (size_t)os_numel(a->t[0]) : 0;
    switch (k) {
    case OS_K_WSUM: {
        const os_wsum_params *p = a->params;
        for (int i = 0; i < p->n; i++)
            open_range(p->x[i], len);
        break;
    }
    case OS_K_WSUM_BWD: {
        const os_wsum_bwd_params *p = a->params;
        for (int i = 0; i < p->n; i++) {
            open_range(p->x[i], len);
            open_range(p->dx[i], len);
        }
        break;
    }
    case OS_K_XENT_FWD:
    case OS_K_XENT_BWD:
    case OS_K_ACC_COUNT: {
        const os_xent_params *p = a->params;
        open_range(p->labels, sizeof(int32_t) * (size_t)p->n);
        break;
    }
    case OS_K_EMBED_FWD:
    case OS_K_EMBED_BWD: {
        const os_embed_params *p = a->params;
        open_range(p->idx, sizeof(int32_t) * (size_t)p->n);
        break;
    }
    default:
        break;
    }
}

static void run_kernel(int k, const os_kargs *a)
{
    enter();
    for (int i = 0; i < 8; i++)
        open_tensor(a->t[i]);
    open_params(k, a);
    counts.kernels++;
    counts.kernel[k]++;
    inner->kernels[k](a);
    leave();
}

/* one trampoline per kernel id: the table's entries take no context */
#define OS_KERNEL(name, fn, doc) \
    static void dbg_##fn(const os_kargs *a) { run_kernel(OS_K_##name, a); }
#include "ops/kernels.def"
#undef OS_KERNEL

static const os_kernel_fn trampolines[OS_K_COUNT] = {
#define OS_KERNEL(name, fn, doc) [OS_K_##name] = dbg_##fn,
#include "ops/kernels.def"
#undef OS_KERNEL
};

const os_backend *os_debug_backend_wrap(const os_backend *in)
{
    if (!in)
        os_fatal("debug backend: no backend to wrap");
    pthread_mutex_lock(&mu);
    if (inner && inner != in && counts.live_bytes)
        os_fatal("debug backend: cannot wrap '%s' while %ld bytes of '%s' are live", in->name,
                 counts.live_bytes, inner->name);
    inner = in;
    snprintf(table_name, sizeof table_name, "debug(%s)", in->name);
    table = (os_backend){
        .name = table_name,
        .alloc = dbg_alloc,
        .free = dbg_free,
        .copy_to_host = dbg_to_host,
        .copy_from_host = dbg_from_host,
        .sync = dbg_sync,
        .memset = dbg_memset,
        .copy_device = dbg_copy_device,
        .copy_to_host_async = dbg_to_host_async,
        .copy_from_host_async = dbg_from_host_async,
        .alloc_host = dbg_alloc_host,
        .free_host = dbg_free_host,
        .upload = dbg_upload,
        .upload_wait = dbg_upload_wait,
        .upload_done = dbg_upload_done,
        .supports = dbg_supports,
        .available = dbg_available,
    };
    for (int k = 0; k < OS_K_COUNT; k++)
        table.kernels[k] = in->kernels[k] ? trampolines[k] : NULL;
    pthread_mutex_unlock(&mu);
    return &table;
}

void os_debug_counts_get(os_debug_counts *c)
{
    pthread_mutex_lock(&mu);
    *c = counts;
    pthread_mutex_unlock(&mu);
}

void os_debug_counts_reset(void)
{
    pthread_mutex_lock(&mu);
    long live = counts.live_bytes;
    memset(&counts, 0, sizeof counts);
    counts.live_bytes = live;
    pthread_mutex_unlock(&mu);
}
