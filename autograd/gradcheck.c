#include "autograd/autograd.h"
#include "tensor/arena.h"
#include "tensor/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* sum(r * f(in)) in double, without recording */
static double project(os_gradcheck_fn f, void *ctx, os_tensor *const *in, const float *r, long nr)
{
    bool old = os_set_grad_enabled(false);
    os_tensor *y = f(in, ctx);
    if (os_numel(y) != nr)
        os_fatal("gradcheck: output size changed between calls");
    float *h = malloc(sizeof(float) * (size_t)nr);
    os_tensor_to_host(y, h);
    double s = 0;
    for (long i = 0; i < nr; i++)
        s += (double)r[i] * h[i];
    free(h);
    os_step_reset();
    os_set_grad_enabled(old);
    return s;
}

double os_gradcheck(os_gradcheck_fn f, void *ctx, int n_in, os_tensor *const *in,
                    const os_gradcheck_opts *o, char *msg, size_t msg_size)
{
    os_gradcheck_opts d = {.eps = 1e-2f, .atol = 1e-3f, .rtol = 1e-2f, .max_elems = 0, .seed = 1};
    if (!o)
        o = &d;
    os_rng rng;
    os_rng_seed(&rng, o->seed);

    /* analytic: seed the output with r and run backward */
    for (int i = 0; i < n_in; i++)
        if (in[i]->grad)
            os_tensor_fill(in[i]->grad, 0.0f);
    os_tensor *y = f(in, ctx);
    long nr = os_numel(y);
    float *r = malloc(sizeof(float) * (size_t)nr);
    for (long i = 0; i < nr; i++)
        r[i] = os_rng_uniform(&rng) * 2.0f - 1.0f;
    os_tensor *seed = os_tensor_like(y);
    os_tensor_from_host(seed, r);
    os_backward_seeded(y, seed);
    os_step_reset();

    double worst = 0;
    if (msg && msg_size)
        snprintf(msg, msg_size, "gradcheck ok");
    for (int i = 0; i < n_in; i++) {
        os_tensor *x = in[i];
        if (!(x->flags & OS_REQUIRES_GRAD) || !x->grad)
            continue;
        long n = os_numel(x);
        float *xh = malloc(sizeof(float) * (size_t)n), *gh = malloc(sizeof(float) * (size_t)n);
        os_tensor_to_host(x, xh);
        os_tensor_to_host(x->grad, gh);
        long step = (o->max_elems > 0 && n > o->max_elems) ? (n + o->max_elems - 1) / o->max_elems : 1;
        for (long j = 0; j < n; j += step) {
            float keep = xh[j];
            xh[j] = keep + o->eps;
            os_tensor_from_host(x, xh);
            double fp = project(f, ctx, in, r, nr);
            xh[j] = keep - o->eps;
            os_tensor_from_host(x, xh);
            double fm = project(f, ctx, in, r, nr);
            xh[j] = keep;
            os_tensor_from_host(x, xh);
            double num = (fp - fm) / (2.0 * o->eps);
            double ana = gh[j];
            double viol = fabs(ana - num) / (o->atol + o->rtol * fabs(num));
            if (viol > worst) {
                worst = viol;
                if (msg && msg_size && viol > 1.0)
                    snprintf(msg, msg_size, "gradcheck: input %d ('%s' %s) element %ld: analytic %.6g numeric %.6g",
                             i, x->name, os_shape_str(x), j, ana, num);
            }
        }
        free(xh);
        free(gh);
    }
    free(r);
    return worst;
}
