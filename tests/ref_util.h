/* tests/ref_util.h — reading the PyTorch fixtures (tests/ref/fixtures, made by
 * tests/ref/gen_engine.py) in tests. Tests run from the repository root.
 * Set OS_REF_VERBOSE=1 to print the worst difference of every comparison. */
#ifndef OS_REF_UTIL_H
#define OS_REF_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "tensor/safetensors.h"
#include "tests/test_util.h"

#define REF_DIR "tests/ref/fixtures/"

static char ref_case[64]; /* the fixture open, for messages */

static inline os_st_file *ref_open(const char *name)
{
    snprintf(ref_case, sizeof ref_case, "%s", name);
    char p[256];
    snprintf(p, sizeof p, REF_DIR "%s.safetensors", name);
    os_st_file *f = os_st_open(p);
    cr_assert_not_null(f, "%s (run the tests from the repository root; `make ref` makes the fixtures)",
                       os_last_error());
    return f;
}

static inline const char *ref_meta(os_st_file *f, const char *key)
{
    const char *v = os_st_meta(f, key);
    cr_assert_not_null(v, "fixture lacks metadata '%s'", key);
    return v;
}
static inline int ref_meta_int(os_st_file *f, const char *key) { return atoi(ref_meta(f, key)); }
static inline float ref_meta_float(os_st_file *f, const char *key) { return strtof(ref_meta(f, key), NULL); }

static inline void ref_shape(os_st_file *f, const char *name, int *ndim, int shape[OS_MAX_DIMS])
{
    const os_st_info *in = os_st_find(f, name);
    cr_assert_not_null(in, "fixture lacks tensor '%s'", name);
    cr_assert(in->ndim >= 1 && in->ndim <= OS_MAX_DIMS, "'%s' has %d dims", name, in->ndim);
    *ndim = in->ndim;
    for (int d = 0; d < in->ndim; d++)
        shape[d] = (int)in->shape[d];
}

/* a persistent parameter named `name` holding the fixture's tensor; added to g */
static inline os_tensor *ref_param(os_st_file *f, const char *name, os_params *g)
{
    int nd, s[OS_MAX_DIMS];
    ref_shape(f, name, &nd, s);
    os_tensor *t = os_param_new(name, nd, s);
    cr_assert_eq(os_st_read_into(f, name, t), 0, "%s", os_last_error());
    os_params_add(g, t);
    return t;
}

/* a step tensor (no gradient) holding the fixture's tensor */
static inline os_tensor *ref_tensor(os_st_file *f, const char *name)
{
    int nd, s[OS_MAX_DIMS];
    ref_shape(f, name, &nd, s);
    os_tensor *t = os_tensor_new(nd, s);
    cr_assert_eq(os_st_read_into(f, name, t), 0, "%s", os_last_error());
    return t;
}

/* fixture tensor `name` as a malloc'ed host array, which must hold numel
 * elements (the caller frees it) */
static inline float *ref_read_f32(os_st_file *f, const char *name, long numel)
{
    const os_st_info *in;
    float *p = os_st_read_f32(f, name, &in);
    cr_assert_not_null(p, "%s", os_last_error());
    cr_assert_eq(in->numel, numel, "'%s': %lld elements, expected %ld", name, (long long)in->numel, numel);
    return p;
}

static inline int32_t *ref_read_i32(os_st_file *f, const char *name, long numel)
{
    const os_st_info *in;
    int32_t *p = os_st_read_i32(f, name, &in);
    cr_assert_not_null(p, "%s", os_last_error());
    cr_assert_eq(in->numel, numel, "'%s': %lld elements, expected %ld", name, (long long)in->numel, numel);
    return p;
}

/* expects got == fixture tensor `name` elementwise within atol + rtol * |ref|;
 * returns the worst |got - ref| */
static inline double ref_compare(os_st_file *f, const char *name, const os_tensor *got,
                                 double atol, double rtol)
{
    const os_st_info *in;
    float *ref = os_st_read_f32(f, name, &in);
    cr_assert_not_null(ref, "%s", os_last_error());
    int same = got && in->ndim == got->ndim;
    for (int d = 0; same && d < in->ndim; d++)
        same = in->shape[d] == got->shape[d];
    if (!same) {
        free(ref);
        cr_assert_fail("'%s': shape %s, the fixture has %d dims (first %lld)", name,
                       got ? os_shape_str(got) : "(null)", in->ndim, (long long)in->shape[0]);
    }
    long n = os_numel(got);
    float *h = malloc(sizeof(float) * (size_t)(n ? n : 1));
    os_tensor_to_host(got, h);
    double worst = 0, worst_viol = 0;
    long at = -1, bad = 0;
    for (long i = 0; i < n; i++) {
        double diff = fabs((double)h[i] - ref[i]);
        double viol = diff / (atol + rtol * fabs((double)ref[i]));
        if (!(viol <= 1.0))
            bad++;
        if (diff > worst || isnan(diff))
            worst = diff;
        if (!(viol <= worst_viol)) {
            worst_viol = viol;
            at = i;
        }
    }
    if (getenv("OS_REF_VERBOSE"))
        fprintf(stderr, "ref %-22s %-18s max |diff| %.3g (worst/tol %.3g) over %ld\n", ref_case, name, worst, worst_viol, n);
    cr_expect_eq(bad, 0, "%s '%s': %ld of %ld elements off; worst at %ld: ours %.8g torch %.8g (tol %g + %g*|torch|)",
                 ref_case, name, bad, n, at, at >= 0 ? h[at] : 0.0, at >= 0 ? ref[at] : 0.0, atol, rtol);
    free(h);
    free(ref);
    return worst;
}

#endif
