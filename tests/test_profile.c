/* tests/test_profile.c — transient step memory (tensor/arena.h: LIFO marks,
 * spills, growth at the reset, release after every kernel) and the kernel
 * profile (ops/profile.h: rows, multiply-adds, bytes, the tape by op). */
#include "tests/test_util.h"
#include "ops/profile.h"
#include "tensor/arena.h"
#include "tensor/backend.h"

#include <string.h>

Test(scratch, lifo_marks_spills_and_growth)
{
    os_step_shutdown();
    cr_expect_eq(os_scratch_capacity(OS_CPU), 0);
    for (int round = 0; round < 3; round++) {
        size_t grow0 = os_step_grow_count();
        size_t m0 = os_scratch_mark(OS_CPU);
        float *a = os_scratch_alloc(OS_CPU, 1000 * sizeof(float));
        for (int i = 0; i < 1000; i++)
            a[i] = (float)i;
        size_t m1 = os_scratch_mark(OS_CPU);
        cr_expect(m1 >= m0 + 1000 * sizeof(float), "round %d: the mark did not move past a", round);
        float *b = os_scratch_alloc(OS_CPU, 3000 * sizeof(float));
        memset(b, 0xff, 3000 * sizeof(float));
        cr_expect((uintptr_t)a % 64 == 0 && (uintptr_t)b % 64 == 0, "not 64-byte aligned");
        os_scratch_release(OS_CPU, m1); /* b goes, a stays */
        cr_expect_eq(os_scratch_mark(OS_CPU), m1);
        float *b2 = os_scratch_alloc(OS_CPU, 500 * sizeof(float));
        b2[0] = 1.0f;
        for (int i = 0; i < 1000; i++)
            cr_assert_eq(a[i], (float)i, "round %d: a[%d] overwritten", round, i);
        os_scratch_release(OS_CPU, m0);
        cr_expect_eq(os_scratch_mark(OS_CPU), 0);
        /* round 0 spills (no block yet): two spills at most; later rounds fit */
        if (round == 0)
            cr_expect(os_step_grow_count() > grow0, "the first round must have spilled");
        else
            cr_expect_eq(os_step_grow_count(), grow0, "round %d allocated (the block did not grow enough)", round);
        os_step_reset();
        if (round == 0)
            cr_expect(os_scratch_capacity(OS_CPU) >= 4000 * sizeof(float), "block %zu bytes after the reset",
                      os_scratch_capacity(OS_CPU));
    }
    os_step_shutdown();
}

Test(scratch, release_beyond_the_mark_is_fatal)
{
    size_t m = os_scratch_mark(OS_CPU);
    TU_EXPECT_FATAL(os_scratch_release(OS_CPU, m + 4096), "not LIFO");
    os_step_shutdown();
}

/* A kernel's own scratch (a dense 3x3 convolution's im2col columns) is given
 * back when the kernel returns; an op's transient tensor below it survives. */
Test(scratch, dispatch_releases_kernel_scratch)
{
    os_rng r;
    os_rng_seed(&r, 2);
    os_tensor *x = tu_param4(&r, 2, 3, 8, 8, -1, 1, 0), *w = tu_param4(&r, 4, 3, 3, 3, -1, 1, 0);
    size_t m0 = os_scratch_mark(OS_CPU);
    os_tensor *keep = os_scratch_tensor_like(x);
    os_tensor_copy(keep, x);
    size_t m1 = os_scratch_mark(OS_CPU);
    os_profile_begin();
    os_tensor *y = os_conv2d(keep, w, NULL, 1, 1, 1, 1);
    os_profile *p = os_profile_end();
    cr_expect_eq(os_scratch_mark(OS_CPU), m1, "the kernel's scratch was not given back");
    cr_expect(p->n_rows >= 1 && p->rows[0].scratch > 0, "the profile saw no scratch taken by the convolution");
    cr_expect(!memcmp(keep->data, x->data, sizeof(float) * (size_t)os_numel(x)), "the op's transient was overwritten");
    cr_expect_eq(y->shape[1], 4);
    os_scratch_release(OS_CPU, m0);
    os_tensor_free(x);
    os_tensor_free(w);
    os_step_shutdown();
}

static const os_profile_row *row(const os_profile *p, const char *name)
{
    for (int i = 0; i < p->n_rows; i++)
        if (!strcmp(p->rows[i].name, name))
            return &p->rows[i];
    return NULL;
}

/* Rows by kernel and convolution kind; multiply-adds and operand bytes as
 * documented; the tape filed by op; a second begin is fatal. */
Test(profile, rows_flops_bytes_and_tape)
{
    os_rng r;
    os_rng_seed(&r, 4);
    const int N = 2, Ci = 3, H = 8, Co = 4;
    os_tensor *x = tu_param4(&r, N, Ci, H, H, -1, 1, 0), *w = tu_param4(&r, Co, Ci, 3, 3, -1, 1, 0);
    os_tensor *wd = tu_param4(&r, Co, 1, 5, 5, -1, 1, 0);
    os_profile_begin();
    TU_EXPECT_FATAL(os_profile_begin(), "already open");
    os_tensor *y = os_conv2d(x, w, NULL, 1, 1, 1, 1);      /* dense 3x3: [2,4,8,8] */
    os_tensor *z = os_conv2d(y, wd, NULL, 2, 4, 2, Co);    /* depthwise 5x5 d2 s2: [2,4,4,4] */
    os_tensor *seed = os_tensor_like(z);
    os_tensor_fill(seed, 1.0f);
    os_backward_seeded(z, seed);
    os_profile *p = os_profile_end();
    cr_expect(!os_profiling());
    const os_profile_row *f = row(p, "conv2d_fwd dense 3x3"), *d = row(p, "conv2d_fwd depthwise 5x5 d2 s2");
    cr_assert(f && d, "rows missing (%d rows, first '%s')", p->n_rows, p->rows[0].name);
    cr_expect_eq(f->calls, 1);
    cr_expect_eq(f->flops, 2.0 * N * Co * H * H * Ci * 9, "dense flops %.0f", f->flops);
    cr_expect_eq(f->bytes, 4.0 * (N * Co * H * H + N * Ci * H * H + Co * Ci * 9), "dense bytes %.0f", f->bytes);
    cr_expect_eq(d->flops, 2.0 * N * Co * 4 * 4 * 25, "depthwise flops %.0f", d->flops);
    cr_expect(row(p, "conv2d_bwd_weight dense 3x3") && row(p, "conv2d_bwd_data depthwise 5x5 d2 s2"),
              "backward rows missing");
    cr_expect(row(p, "conv2d_bwd_data dense 3x3") != NULL, "x is a parameter: its gradient row is missing");
    /* the tape: y (the first conv's output) and z; x is a parameter (persistent) */
    cr_expect_eq(p->backwards, 1);
    cr_expect_eq(p->tape_bytes, 4.0 * (N * Co * H * H + N * Co * 4 * 4), "tape %.0f bytes", p->tape_bytes);
    cr_expect_eq(p->n_mem, 1);
    cr_expect_str_eq(p->mem[0].op, "conv2d");
    cr_expect_eq(p->mem[0].tensors, 2);
    os_tensor_free(x);
    os_tensor_free(w);
    os_tensor_free(wd);
    os_step_shutdown();
}
