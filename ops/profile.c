/* ops/profile.c — the per-kernel profile and the tape's memory by kind
 * (ops/profile.h). The state hangs on the current context's profile slot
 * (tensor/context.h), made by the first os_profile_begin. */
#include "ops/profile.h"
#include "autograd/autograd.h"
#include "ops/ops.h"
#include "tensor/context.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct span {
    uintptr_t lo, hi; /* bytes [lo, hi) */
    const char *op;
    int kind;         /* 0 output, 1 saved, 2 leaf input */
} span;

typedef struct profile_state {
    os_profile p;
    span *spans;
    size_t cap;
} profile_state;

static void state_free(void *s)
{
    profile_state *st = s;
    free(st->spans);
    free(st);
}

static const os_context_slot_ops state_ops = {.step_reset = NULL, .free = state_free};

static profile_state *state_get(void) { return os_context_slot(os_context_current(), OS_CTX_SLOT_PROFILE); }

void os_profile_begin(void)
{
    os_context *c = os_context_current();
    profile_state *s = os_context_slot(c, OS_CTX_SLOT_PROFILE);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            os_fatal("profile: out of host memory");
        os_context_set_slot(c, OS_CTX_SLOT_PROFILE, s, &state_ops);
    }
    if (s->p.on)
        os_fatal("profile: a profile is already open in this context");
    memset(&s->p, 0, sizeof s->p);
    s->p.on = true;
}

os_profile *os_profile_end(void)
{
    profile_state *s = state_get();
    if (!s || !s->p.on)
        os_fatal("profile: no profile is open (os_profile_begin)");
    s->p.on = false;
    return &s->p;
}

bool os_profiling(void)
{
    const profile_state *s = state_get();
    return s && s->p.on;
}

/* ---- kernels ----------------------------------------------------------------- */
static double numel_or0(const os_tensor *t) { return t ? (double)os_numel(t) : 0.0; }

/* the row name of a convolution kernel call and its multiply-adds:
 * w [Co, Ci/g, KH, KW], y (or dy) [N, Co, OH, OW] */
static double conv_kind(int k, const os_kargs *a, char *name, size_t n)
{
    const os_conv2d_params *p = a->params;
    const os_tensor *w = k == OS_K_CONV2D_BWD_WEIGHT ? a->t[0] : a->t[2];
    const os_tensor *y = k == OS_K_CONV2D_FWD ? a->t[0] : a->t[1];
    int co = w->shape[0], cig = w->shape[1], kh = w->shape[2], kw = w->shape[3];
    const char *kind = (p->groups > 1 && cig == 1) ? "depthwise" : (kh == 1 && kw == 1) ? "1x1" : "dense";
    char dil[8] = "";
    if (p->dil_h > 1)
        snprintf(dil, sizeof dil, " d%d", p->dil_h);
    if (kh == 1 && kw == 1 && cig != 1)
        snprintf(name, n, "%s %s%s", os_kernel_name(k), kind, p->stride_h > 1 ? " s2" : "");
    else
        snprintf(name, n, "%s %s %dx%d%s%s", os_kernel_name(k), kind, kh, kw, dil, p->stride_h > 1 ? " s2" : "");
    return (double)y->shape[0] * co * y->shape[2] * y->shape[3] * cig * kh * kw;
}

void os_profile_kernel(int k, const os_kargs *a, double seconds, size_t scratch)
{
    profile_state *s = state_get();
    if (!s || !s->p.on)
        return;
    char name[48];
    double macs = 0;
    if (k == OS_K_CONV2D_FWD || k == OS_K_CONV2D_BWD_DATA || k == OS_K_CONV2D_BWD_WEIGHT) {
        macs = conv_kind(k, a, name, sizeof name);
    } else {
        snprintf(name, sizeof name, "%s", os_kernel_name(k));
        if (k == OS_K_GEMM) {
            const os_gemm_params *g = a->params;
            const os_tensor *A = a->t[1];
            macs = numel_or0(a->t[0]) * (g->trans_a ? A->shape[0] : A->shape[1]);
        }
    }
    double bytes = 0;
    for (int i = 0; i < 8; i++)
        bytes += 4.0 * numel_or0(a->t[i]);
    if (k == OS_K_WSUM) {
        const os_wsum_params *w = a->params;
        for (int i = 0; i < w->n; i++)
            bytes += w->x[i] ? 4.0 * numel_or0(a->t[0]) : 0;
    } else if (k == OS_K_WSUM_BWD) {
        const os_wsum_bwd_params *w = a->params;
        for (int i = 0; i < w->n; i++)
            bytes += 4.0 * numel_or0(a->t[0]) * ((w->x[i] != NULL) + 2.0 * (w->dx[i] != NULL));
    }
    os_profile *p = &s->p;
    os_profile_row *r = NULL;
    for (int i = 0; i < p->n_rows && !r; i++)
        if (!strcmp(p->rows[i].name, name))
            r = &p->rows[i];
    if (!r) {
        if (p->n_rows == OS_PROFILE_ROWS - 1) { /* the last row collects the rest */
            r = &p->rows[p->n_rows++];
            snprintf(r->name, sizeof r->name, "other");
        } else if (p->n_rows == OS_PROFILE_ROWS) {
            r = &p->rows[OS_PROFILE_ROWS - 1];
            p->dropped++;
        } else {
            r = &p->rows[p->n_rows++];
            snprintf(r->name, sizeof r->name, "%s", name);
        }
    }
    r->calls++;
    r->seconds += seconds;
    r->flops += 2.0 * macs;
    r->bytes += bytes;
    r->scratch += (double)scratch;
}

/* ---- memory of the tape ---------------------------------------------------------- */
static void add_span(profile_state *s, size_t *n, const os_tensor *t, const char *op, int kind)
{
    if (!t || !t->data || (t->flags & OS_PERSISTENT))
        return;
    double ext = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] == 0)
            return;
        ext += (double)(t->shape[i] - 1) * (double)t->stride[i];
    }
    if (*n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 4096;
        span *sp = realloc(s->spans, cap * sizeof *sp);
        if (!sp)
            os_fatal("profile: out of host memory for %zu tensors of the tape", cap);
        s->spans = sp;
        s->cap = cap;
    }
    uintptr_t lo = (uintptr_t)t->data;
    s->spans[(*n)++] = (span){lo, lo + (uintptr_t)(ext * sizeof(float)), op, kind};
}

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    if (x->hi != y->hi)
        return x->hi > y->hi ? -1 : 1; /* the longer (a base) before its views */
    return x->kind - y->kind;
}

static void mem_add(os_profile *p, const char *op, int kind, double bytes)
{
    char name[40];
    snprintf(name, sizeof name, "%s%s", op, kind == 1 ? " (saved)" : kind == 2 ? " (leaf input)" : "");
    for (int i = 0; i < p->n_mem; i++)
        if (!strcmp(p->mem[i].op, name)) {
            p->mem[i].bytes += bytes;
            p->mem[i].tensors++;
            return;
        }
    int i = p->n_mem < OS_PROFILE_MEM_ROWS ? p->n_mem++ : OS_PROFILE_MEM_ROWS - 1;
    if (i == OS_PROFILE_MEM_ROWS - 1 && p->mem[i].op[0] && strcmp(p->mem[i].op, "other"))
        snprintf(p->mem[i].op, sizeof p->mem[i].op, "other");
    else if (!p->mem[i].op[0])
        snprintf(p->mem[i].op, sizeof p->mem[i].op, "%s", name);
    p->mem[i].bytes += bytes;
    p->mem[i].tensors++;
}

void os_profile_tape(const os_node *head)
{
    profile_state *s = state_get();
    if (!s || !s->p.on)
        return;
    s->p.backwards++;
    s->p.grad_bytes = 0;
    size_t n = 0;
    for (const os_node *nd = head; nd; nd = nd->prev) {
        add_span(s, &n, nd->out, nd->op, 0);
        for (int i = 0; i < OS_NODE_SAVED; i++)
            add_span(s, &n, nd->saved[i], nd->op, 1);
        for (int i = 0; i < nd->n_in; i++)
            if (nd->in[i] && !nd->in[i]->node)
                add_span(s, &n, nd->in[i], "input", 2);
    }
    qsort(s->spans, n, sizeof *s->spans, span_cmp);
    double total = 0;
    uintptr_t covered = 0;
    for (size_t i = 0; i < n; i++) {
        const span *sp = &s->spans[i];
        uintptr_t lo = sp->lo > covered ? sp->lo : covered;
        if (sp->hi > lo)
            total += (double)(sp->hi - lo);
        if (sp->hi > covered)
            covered = sp->hi;
    }
    if (total <= s->p.tape_bytes)
        return;
    /* the largest tape so far: file it by op */
    os_profile *p = &s->p;
    memset(p->mem, 0, sizeof p->mem);
    p->n_mem = 0;
    p->tape_bytes = total;
    covered = 0;
    for (size_t i = 0; i < n; i++) {
        const span *sp = &s->spans[i];
        uintptr_t lo = sp->lo > covered ? sp->lo : covered;
        if (sp->hi > lo)
            mem_add(p, sp->op, sp->kind, (double)(sp->hi - lo));
        if (sp->hi > covered)
            covered = sp->hi;
    }
}

void os_profile_grad_alloc(size_t bytes)
{
    profile_state *s = state_get();
    if (!s || !s->p.on)
        return;
    s->p.grad_bytes += (double)bytes;
    if (s->p.grad_bytes > s->p.grad_bytes_max)
        s->p.grad_bytes_max = s->p.grad_bytes;
}

/* ---- the table ------------------------------------------------------------------- */
static int row_cmp(const void *a, const void *b)
{
    const os_profile_row *x = a, *y = b;
    return (x->seconds < y->seconds) - (x->seconds > y->seconds);
}

static int mem_cmp(const void *a, const void *b)
{
    const os_profile_mem_row *x = a, *y = b;
    return (x->bytes < y->bytes) - (x->bytes > y->bytes);
}

void os_profile_print(FILE *f, const os_profile *p, int steps, double wall, double sgemm, double bw)
{
    os_profile_row rows[OS_PROFILE_ROWS];
    os_profile_mem_row mem[OS_PROFILE_MEM_ROWS];
    memcpy(rows, p->rows, sizeof rows);
    memcpy(mem, p->mem, sizeof mem);
    qsort(rows, (size_t)p->n_rows, sizeof *rows, row_cmp);
    qsort(mem, (size_t)p->n_mem, sizeof *mem, mem_cmp);
    double total = 0, scratch = 0;
    for (int i = 0; i < p->n_rows; i++)
        total += rows[i].seconds, scratch += rows[i].scratch;
    fprintf(f, "profile: %d steps, %.3f s a step, %.3f s of it in kernels (%.0f %%); ceilings: sgemm %.1f GFLOP/s, "
               "bandwidth %.1f GB/s\n",
            steps, wall / steps, total / steps, wall > 0 ? 100.0 * total / wall : 0.0, sgemm, bw);
    fprintf(f, "  %-34s %8s %9s %6s %8s %6s %7s %6s %10s\n", "kernel (kind)", "calls", "ms/step", "share", "GFLOP/s",
            "of pk", "GB/s", "of bw", "scratch MB");
    for (int i = 0; i < p->n_rows; i++) {
        const os_profile_row *r = &rows[i];
        double gf = r->seconds > 0 ? r->flops / r->seconds / 1e9 : 0, gb = r->seconds > 0 ? r->bytes / r->seconds / 1e9 : 0;
        char fl[16] = "", flp[16] = "", bwp[16] = "";
        if (r->flops > 0) {
            snprintf(fl, sizeof fl, "%.1f", gf);
            if (sgemm > 0)
                snprintf(flp, sizeof flp, "%.0f%%", 100 * gf / sgemm);
        }
        if (bw > 0)
            snprintf(bwp, sizeof bwp, "%.0f%%", 100 * gb / bw);
        fprintf(f, "  %-34s %8.1f %9.2f %5.1f%% %8s %6s %7.2f %6s %10.1f\n", r->name, (double)r->calls / steps,
                1e3 * r->seconds / steps, total > 0 ? 100 * r->seconds / total : 0, fl, flp, gb, bwp,
                r->scratch / steps / 1048576.0);
    }
    fprintf(f, "memory: the largest tape keeps %.1f MB of activations (by the op that made them); the backward pass "
               "allocates %.1f MB of activation gradients; kernels take %.1f MB of scratch a step\n",
            p->tape_bytes / 1048576.0, p->grad_bytes_max / 1048576.0, scratch / steps / 1048576.0);
    for (int i = 0; i < p->n_mem; i++)
        fprintf(f, "  %-34s %9.1f MB %5.1f%% %7ld tensors\n", mem[i].op, mem[i].bytes / 1048576.0,
                p->tape_bytes > 0 ? 100 * mem[i].bytes / p->tape_bytes : 0, mem[i].tensors);
}
