/* tests/test_device_kernels.c — the kernels that let a training step stay on
 * the device (ops/kernels.def): argmax, one-hot, accuracy count, sums of
 * squares over many tensors, clipping by a device norm, axpy by a power of a
 * device scalar, the drop-path mask; and the weighted sum past OS_WSUM_MAX
 * operands (split into launches). Values against host loops; the weighted
 * sum's gradients by finite differences. */
#include "tests/ops_test_util.h"
#include "tensor/backend.h"
#include "tensor/rng.h"

#include <math.h>

static os_tensor *vec(int n) { return os_tensor_new(1, &n); }

Test(device_kernels, argmax_onehot_first_on_ties)
{
    float x[12] = {1, 3, 3, 0, /* tie: 1 */ -1, -2, -3, -4, /* 0 */ 0, 0, 0, 5 /* 3 */};
    os_tensor *t = os_tensor_new(2, (int[]){3, 4});
    os_tensor_from_host(t, x);
    os_tensor *idx = vec(3);
    OS_RUN(ARGMAX, NULL, idx, t);
    float h[12];
    os_tensor_to_host(idx, h);
    cr_expect(h[0] == 1 && h[1] == 0 && h[2] == 3, "%g %g %g", (double)h[0], (double)h[1], (double)h[2]);
    os_tensor *oh = os_tensor_new(2, (int[]){3, 4});
    OS_RUN(ONEHOT, NULL, oh, idx);
    os_tensor_to_host(oh, h);
    for (int m = 0; m < 3; m++)
        for (int k = 0; k < 4; k++)
            cr_expect_eq(h[m * 4 + k], k == (m == 0 ? 1 : m == 1 ? 0 : 3) ? 1.0f : 0.0f);
    os_step_reset();
}

Test(device_kernels, accuracy_count)
{
    float x[12] = {1, 3, 3, 0, -1, -2, -3, -4, 0, 0, 0, 5};
    os_tensor *t = os_tensor_new(2, (int[]){3, 4});
    os_tensor_from_host(t, x);
    os_tensor *c = vec(1);
    os_tensor_fill(c, 1.0f);
    os_accuracy_count(c, t, (const int32_t[]){1, 2, 3}); /* rows 0 and 2 right */
    cr_expect_eq(os_tensor_item(c), 3.0f);
    os_step_reset();
}

Test(device_kernels, sumsq_acc_clip_axpy_pow)
{
    os_rng r;
    os_rng_seed(&r, 3);
    os_tensor *a = ot_rand(&r, 1, (int[]){50}, -1, 1), *b = ot_rand(&r, 2, (int[]){7, 3}, -1, 1);
    double want = 0;
    for (int i = 0; i < 50; i++)
        want += (double)a->data[i] * a->data[i];
    for (int i = 0; i < 21; i++)
        want += (double)b->data[i] * b->data[i];
    os_tensor *s = vec(1);
    os_tensor_fill(s, 0.0f);
    OS_RUN(SUMSQ_ACC, NULL, s, a);
    OS_RUN(SUMSQ_ACC, NULL, s, b);
    cr_expect(fabs(os_tensor_item(s) - want) < 1e-5 * want, "%g want %g", (double)os_tensor_item(s), want);

    /* clip: the torch rule with the norm read on the device */
    float a0 = a->data[0], max_norm = 0.5f;
    float coef = max_norm / ((float)sqrt(os_tensor_item(s)) + 1e-6f);
    OS_RUN(CLIP_SCALE, &max_norm, a, s);
    cr_expect_float_eq(a->data[0], a0 * coef, 1e-7f);
    float big = 100.0f; /* coefficient > 1: unchanged */
    float a1 = a->data[1];
    OS_RUN(CLIP_SCALE, &big, a, s);
    cr_expect_eq(a->data[1], a1);

    /* axpy_pow: b += 0.01 * s^-0.5 * ones */
    float b0 = b->data[0], sv = os_tensor_item(s);
    os_axpy_pow_params ap = {.a = 0.01f, .e = -0.5f};
    os_tensor *ones = ot_rand(&r, 2, (int[]){7, 3}, 1, 1);
    OS_RUN(AXPY_POW, &ap, b, ones, s);
    cr_expect_float_eq(b->data[0], b0 + 0.01f / sqrtf(sv), 1e-6f);
    os_tensor_fill(s, 0.0f); /* a zero norm is clamped to 1e-24, not divided by */
    ap = (os_axpy_pow_params){.a = 1.0f, .e = -0.5f};
    OS_RUN(AXPY_POW, &ap, a, a, s);
    cr_expect(isfinite(a->data[0]));
    os_step_reset();
}

Test(device_kernels, drop_path_mask_per_sample)
{
    os_tensor *x = os_tensor_new4(64, 3, 2, 2);
    float p = 0.25f;
    os_tensor *m = os_drop_path_mask(x, p, 1234);
    float *h = ot_host(m);
    int kept = 0;
    for (int n = 0; n < 64; n++) {
        float k = os_hash_uniform(1234, (uint64_t)n) >= p ? 1.0f / (1.0f - p) : 0.0f;
        kept += k != 0;
        for (int i = 0; i < 12; i++)
            cr_assert_eq(h[n * 12 + i], k, "sample %d element %d", n, i);
    }
    cr_expect(kept > 32 && kept < 64, "kept %d of 64 at p = 0.25", kept);
    os_step_reset();
}

/* ---- a weighted sum of more operands than one launch takes ----------------------- */
#define NW (OS_WSUM_MAX + 5)
static os_tensor *gc_wsum_long(os_tensor *const *in, void *ctx)
{
    (void)ctx;
    os_tensor *x[NW];
    for (int i = 0; i < NW; i++)
        x[i] = i % 7 == 3 ? NULL : in[i]; /* some zero inputs, in both launches */
    return os_weighted_sum(NW, x, in[NW]);
}

Test(device_kernels, weighted_sum_past_one_launch)
{
    os_rng r;
    os_rng_seed(&r, 44);
    os_tensor *in[NW + 1];
    for (int i = 0; i < NW; i++)
        in[i] = tu_param(&r, 2, (int[]){3, 4}, -2, 2, 0);
    in[NW] = tu_param(&r, 1, (int[]){NW}, -1, 1, 0);
    os_tensor *y = gc_wsum_long(in, NULL);
    float want[12];
    for (int j = 0; j < 12; j++) {
        double s = 0;
        for (int i = 0; i < NW; i++)
            s += i % 7 == 3 ? 0.0 : (double)in[NW]->data[i] * in[i]->data[j];
        want[j] = (float)s;
    }
    ot_expect_tensor(y, want, 1e-5f, 1e-5f, "weighted_sum of OS_WSUM_MAX + 5");
    os_step_reset();
    OT_GRADCHECK(gc_wsum_long, NULL, NW + 1, in);
    for (int i = 0; i <= NW; i++)
        os_tensor_free(in[i]);
    os_step_reset();
}
