/* tests/ops_test_util.h — helpers for the op tests (eltwise, dense, softmax). */
#ifndef OS_OPS_TEST_UTIL_H
#define OS_OPS_TEST_UTIL_H

#include <math.h>
#include <stdlib.h>

#include "tests/test_util.h"

/* Gradient check with the suite's usual step and tolerances. */
#define OT_GRADCHECK(fn, ctx, n, inputs) TU_GRADCHECK(fn, ctx, n, inputs, 1e-2f, 1e-3f, 1e-2f)

/* Host copy of a tensor (any strides); free() it. */
static inline float *ot_host(const os_tensor *t)
{
    float *h = malloc(sizeof(float) * (size_t)(os_numel(t) ? os_numel(t) : 1));
    os_tensor_to_host(t, h);
    return h;
}

/* Expects |got[i] - want[i]| <= atol + rtol |want[i]| for every i. */
static inline void ot_expect_close(const float *got, const float *want, long n, float atol, float rtol,
                                   const char *what)
{
    for (long i = 0; i < n; i++) {
        if (!(fabsf(got[i] - want[i]) <= atol + rtol * fabsf(want[i]))) {
            cr_expect(0, "%s: element %ld: got %.7g want %.7g", what, i, (double)got[i], (double)want[i]);
            return;
        }
    }
}

/* Expects tensor t (any strides) to hold want[0..numel). */
static inline void ot_expect_tensor(const os_tensor *t, const float *want, float atol, float rtol,
                                    const char *what)
{
    float *h = ot_host(t);
    ot_expect_close(h, want, os_numel(t), atol, rtol, what);
    free(h);
}

/* Moves values of t within `gap` of `at` to at +- gap (keeps FD off a kink). */
static inline void ot_keep_off(os_tensor *t, float at, float gap)
{
    for (long i = 0; i < os_numel(t); i++) {
        float d = t->data[i] - at;
        if (fabsf(d) < gap)
            t->data[i] = at + (d < 0 ? -gap : gap);
    }
}

/* A step tensor (no grad) with uniform values in [lo, hi). */
static inline os_tensor *ot_rand(os_rng *r, int ndim, const int *shape, float lo, float hi)
{
    os_tensor *t = os_tensor_new(ndim, shape);
    for (long i = 0; i < os_numel(t); i++)
        t->data[i] = lo + (hi - lo) * os_rng_uniform(r);
    return t;
}

/* A step tensor shaped like `like`, holding v[0..numel). */
static inline os_tensor *ot_from(const os_tensor *like, const float *v)
{
    os_tensor *t = os_tensor_like(like);
    os_tensor_from_host(t, v);
    return t;
}

/* A step tensor shaped like `like`, every element v. */
static inline os_tensor *ot_full(const os_tensor *like, float v)
{
    os_tensor *t = os_tensor_like(like);
    os_tensor_fill(t, v);
    return t;
}

#endif
