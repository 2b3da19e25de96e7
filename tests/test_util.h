/* tests/test_util.h — helpers shared by the Criterion tests. */
#ifndef OS_TEST_UTIL_H
#define OS_TEST_UTIL_H

#include <criterion/criterion.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include "tensor/tensor.h"
#include "tensor/arena.h"
#include "tensor/rng.h"
#include "autograd/autograd.h"
#include "ops/ops.h"

/* A parameter (persistent, requires grad) filled with uniform values in
 * [lo, hi), or with values kept at least `gap` away from 0 when gap > 0
 * (keeps inputs off the ReLU kink). */
static inline os_tensor *tu_param(os_rng *r, int ndim, const int *shape, float lo, float hi, float gap)
{
    os_tensor *t = os_param_new("tu", ndim, shape);
    long n = os_numel(t);
    for (long i = 0; i < n; i++) {
        float v = lo + (hi - lo) * os_rng_uniform(r);
        if (gap > 0 && v > -gap && v < gap)
            v = v < 0 ? v - gap : v + gap;
        t->data[i] = v;
    }
    return t;
}

static inline os_tensor *tu_param4(os_rng *r, int n, int c, int h, int w, float lo, float hi, float gap)
{
    int s[4] = {n, c, h, w};
    return tu_param(r, 4, s, lo, hi, gap);
}

/* Catching os_fatal: TU_EXPECT_FATAL(stmt, "substring", ...) runs stmt and
 * expects it to call os_fatal with a message containing every substring. */
static jmp_buf tu_fatal_jmp;
static char tu_fatal_msg[1024];
static inline void tu_fatal_handler(const char *msg)
{
    snprintf(tu_fatal_msg, sizeof tu_fatal_msg, "%s", msg);
    longjmp(tu_fatal_jmp, 1);
}

#define TU_EXPECT_FATAL(stmt, ...)                                                   \
    do {                                                                             \
        tu_fatal_msg[0] = 0;                                                         \
        os_fatal_handler old_ = os_set_fatal_handler(tu_fatal_handler);              \
        volatile int fired_ = 0;                                                     \
        if (setjmp(tu_fatal_jmp) == 0) {                                             \
            stmt;                                                                    \
        } else {                                                                     \
            fired_ = 1;                                                              \
        }                                                                            \
        os_set_fatal_handler(old_);                                                  \
        cr_assert(fired_, "expected a fatal error from: %s", #stmt);                 \
        const char *subs_[] = {__VA_ARGS__};                                         \
        for (size_t i_ = 0; i_ < sizeof subs_ / sizeof subs_[0]; i_++)               \
            cr_expect(strstr(tu_fatal_msg, subs_[i_]) != NULL,                       \
                      "message '%s' lacks '%s'", tu_fatal_msg, subs_[i_]);           \
    } while (0)

/* Gradient check with the defaults used across the suite. */
#define TU_GRADCHECK(fn, ctx, n, inputs, eps_, atol_, rtol_)                                  \
    do {                                                                                     \
        char msg_[512];                                                                      \
        os_gradcheck_opts o_ = {.eps = (eps_), .atol = (atol_), .rtol = (rtol_), .seed = 7}; \
        double w_ = os_gradcheck((fn), (ctx), (n), (inputs), &o_, msg_, sizeof msg_);        \
        cr_expect(w_ <= 1.0, "%s (worst %.3g)", msg_, w_);                                   \
    } while (0)

#endif
