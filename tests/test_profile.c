/* tests/test_profile.c — the kernel profile (ops/profile.h: rows,
 * multiply-adds, bytes, the tape by op). */
#include "tests/test_util.h"
#include "ops/profile.h"
#include "tensor/arena.h"
#include "tensor/backend.h"

#include <string.h>

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
