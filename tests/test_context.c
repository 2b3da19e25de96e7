/* tests/test_context.c — contexts (tensor/context.h): two contexts used in
 * turn on one thread keep their own tape, arenas, grad mode and default
 * device; a freed context leaves nothing behind (checked with LeakSanitizer
 * under SANITIZE=1); two threads, each in its own context, train the same
 * small network at the same time and get exactly the gradients a single
 * thread gets; os_step_shutdown frees the current context's arenas only. */
#include "tests/test_util.h"
#include "tensor/context.h"
#include "tensor/backend.h"
#include "ops/count.h"

#include <omp.h>
#include <pthread.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TC_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TC_ASAN 1
#endif
#ifdef TC_ASAN
#include <sanitizer/lsan_interface.h>
#endif

static os_tensor *param_from(const char *name, int ndim, const int *shape, const float *v)
{
    os_tensor *t = os_param_new(name, ndim, shape);
    memcpy(t->data, v, sizeof(float) * (size_t)os_numel(t));
    return t;
}

/* loss = sum_i (w_i * w_i) * x_i, recorded as mul + linear (2 tape nodes);
 * d loss / d w_i = 2 w_i x_i */
static os_tensor *square_dot(os_tensor *w, const float *xv)
{
    os_tensor *x = os_tensor_new(2, (int[]){1, 3});
    os_tensor_from_host(x, xv);
    return os_linear(os_mul(w, w), x, NULL);
}

Test(context, two_contexts_on_one_thread_keep_their_state)
{
    const float wa_v[3] = {0.5f, -1.0f, 2.0f}, xa[3] = {1.0f, 2.0f, 3.0f};
    const float wb_v[3] = {3.0f, 1.0f, -2.0f}, xb[3] = {-1.0f, 0.5f, 4.0f};
    os_tensor *wa = param_from("wa", 2, (int[]){1, 3}, wa_v);
    os_tensor *wb = param_from("wb", 2, (int[]){1, 3}, wb_v);

    /* something on the thread's default context, to see it untouched */
    os_tensor *d_loss = square_dot(wa, xa);
    size_t d_tape = os_tape_length();
    cr_assert_eq(d_tape, 2);

    os_context *A = os_context_new(), *B = os_context_new();
    cr_assert(A && B && A != B);
    os_context *prev = os_context_use(A);
    cr_expect_null(prev, "the default context was current");
    cr_expect_eq(os_context_current(), A);
    cr_expect_eq(os_tape_length(), 0, "A starts with an empty tape");
    cr_expect_eq(os_step_high_water(), 0, "A starts with empty arenas");

    /* record on A */
    os_tensor *la = square_dot(wa, xa);
    cr_expect_eq(os_tape_length(), 2);
    size_t hw_a = os_step_high_water();
    cr_expect_gt(hw_a, 0);

    /* switch to B: its own tape, grad mode, arenas */
    cr_expect_eq(os_context_use(B), A);
    cr_expect_eq(os_tape_length(), 0);
    cr_expect(os_grad_enabled());
    os_set_grad_enabled(false);
    os_tensor *nograd = square_dot(wb, xb);
    cr_expect_eq(os_tape_length(), 0, "grad mode off in B records nothing");
    cr_expect_float_eq(os_tensor_item(nograd), 9 * -1.0f + 1 * 0.5f + 4 * 4.0f, 1e-5f);
    os_set_grad_enabled(true);
    os_tensor *lb = square_dot(wb, xb);
    cr_expect_eq(os_tape_length(), 2);
    os_backward(lb);
    for (int i = 0; i < 3; i++)
        cr_expect_float_eq(wb->grad->data[i], 2 * wb_v[i] * xb[i], 1e-5f, "B: dwb[%d]", i);
    os_step_reset();
    cr_expect_eq(os_tape_length(), 0);

    /* grad mode set in B does not leak into A */
    os_set_grad_enabled(false);
    cr_expect_eq(os_context_use(A), B);
    cr_expect(os_grad_enabled(), "A's grad mode is still on");
    cr_expect_eq(os_tape_length(), 2, "A's tape survived B's backward and reset");
    cr_expect_eq(os_step_high_water(), hw_a);
    cr_expect_float_eq(os_tensor_item(la), 0.25f * 1 + 1 * 2 + 4 * 3, 1e-5f);
    os_backward(la);
    for (int i = 0; i < 3; i++)
        cr_expect_float_eq(wa->grad->data[i], 2 * wa_v[i] * xa[i], 1e-5f, "A: dwa[%d]", i);
    cr_expect_eq(os_tape_length(), 0);
    os_step_reset();

    /* back to the default context: its tape is as it was */
    cr_expect_eq(os_context_use(NULL), A);
    cr_expect_eq(os_tape_length(), d_tape);
    cr_expect(os_grad_enabled());
    os_tensor_fill(wa->grad, 0.0f);
    os_backward(d_loss);
    for (int i = 0; i < 3; i++)
        cr_expect_float_eq(wa->grad->data[i], 2 * wa_v[i] * xa[i], 1e-5f, "default: dwa[%d]", i);
    os_step_reset();

    /* B's grad mode is still off */
    os_context_use(B);
    cr_expect_not(os_grad_enabled());
    os_context_use(NULL);

    os_context_free(A);
    os_context_free(B);
    os_tensor_free(wa);
    os_tensor_free(wb);
}

Test(context, default_device_is_per_context)
{
    os_context *A = os_context_new();
    cr_expect_eq(os_default_device(), OS_CPU);
    os_context_use(A);
    cr_expect_eq(os_default_device(), OS_CPU);
    os_context_use(NULL);
    os_context_free(A);
    TU_EXPECT_FATAL(os_set_default_device((os_device)7), "set_default_device", "7");
}

Test(context, freeing_the_current_context_goes_back_to_the_default)
{
    os_context *d = os_context_current();
    os_context *A = os_context_new();
    os_context_use(A);
    os_tensor_new4(2, 2, 2, 2);
    os_context_free(A);
    cr_expect_eq(os_context_current(), d);
    os_context_free(NULL); /* no-op */
}

/* A forward/backward with a conv, batch norm, a linear layer and a counting
 * window on context c, then c is freed: everything it held must go. */
static void use_and_free_a_context(void)
{
    os_rng r;
    os_rng_seed(&r, 5);
    os_tensor *w = tu_param4(&r, 4, 3, 3, 3, -0.5f, 0.5f, 0);
    os_tensor *fc = tu_param(&r, 2, (int[]){2, 4}, -0.5f, 0.5f, 0);
    os_context *c = os_context_new();
    os_context *prev = os_context_use(c);
    os_count_begin();
    for (int step = 0; step < 3; step++) {
        os_tensor *x = os_tensor_new4(2, 3, 6, 6);
        for (long i = 0; i < os_numel(x); i++)
            x->data[i] = os_rng_uniform(&r);
        os_tensor *h = os_global_avg_pool(os_relu(os_batch_norm(os_conv2d(x, w, NULL, 1, 1, 1, 1),
                                                                NULL, NULL, NULL, NULL, 1, 0.1f, 1e-5f)));
        os_tensor *loss = os_cross_entropy(os_linear(h, fc, NULL), (int32_t[]){0, 1}, 0.0f);
        os_backward(loss);
        os_step_reset();
    }
    /* leave a tape and step tensors behind on purpose: freeing drops them */
    os_tensor *x = os_tensor_new4(2, 3, 6, 6);
    os_tensor_fill(x, 1.0f);
    os_conv2d(x, w, NULL, 1, 1, 1, 1);
    cr_expect_gt(os_tape_length(), 0);
    os_context_use(prev);
    os_context_free(c); /* with the counting window still open */
    os_tensor_free(w);
    os_tensor_free(fc);
}

Test(context, a_freed_context_leaks_nothing)
{
    use_and_free_a_context();
#ifdef TC_ASAN
    cr_expect_eq(__lsan_do_recoverable_leak_check(), 0, "LeakSanitizer found leaks");
#else
    cr_log_info("not built with AddressSanitizer: the leak check runs under SANITIZE=1");
#endif
}

Test(context, step_shutdown_frees_the_current_contexts_arenas_only)
{
    os_tensor_new4(4, 4, 4, 4);
    size_t hw_default = os_step_high_water();
    cr_assert_gt(hw_default, 0);
    os_context *A = os_context_new();
    os_context_use(A);
    os_tensor_new4(8, 8, 8, 8);
    cr_expect_gt(os_step_high_water(), 0);
    os_step_shutdown();
    cr_expect_eq(os_step_high_water(), 0);
    os_tensor_new4(1, 1, 1, 1); /* the arenas come back on use */
    cr_expect_gt(os_step_high_water(), 0);
    os_context_use(NULL);
    cr_expect_eq(os_step_high_water(), hw_default);
    os_context_free(A);
    os_step_shutdown();
}

/* ---- two threads, two contexts ---------------------------------------------- */
#define TC_STEPS 25
#define TC_NP 6

typedef struct {
    os_tensor *p[TC_NP];  /* conv w, conv b, bn gamma, bn beta, fc w, fc b */
    os_tensor *rm, *rv;   /* bn running stats */
    float x[2 * 3 * 7 * 7];
    float *grads[TC_STEPS]; /* all parameters' gradients, per step */
    long n_grad;
    int explicit_context;   /* 1: os_context_new + use; 0: the thread's default */
    os_context *ctx_seen;
} tc_job;

static void job_init(tc_job *j, unsigned seed)
{
    os_rng r;
    os_rng_seed(&r, seed);
    j->p[0] = tu_param4(&r, 4, 3, 3, 3, -0.5f, 0.5f, 0);
    j->p[1] = tu_param(&r, 1, (int[]){4}, -0.1f, 0.1f, 0);
    j->p[2] = tu_param(&r, 1, (int[]){4}, 0.5f, 1.5f, 0);
    j->p[3] = tu_param(&r, 1, (int[]){4}, -0.1f, 0.1f, 0);
    j->p[4] = tu_param(&r, 2, (int[]){3, 4}, -0.5f, 0.5f, 0);
    j->p[5] = tu_param(&r, 1, (int[]){3}, -0.1f, 0.1f, 0);
    j->rm = os_tensor_new_persistent(OS_CPU, 1, (int[]){4});
    j->rv = os_tensor_new_persistent(OS_CPU, 1, (int[]){4});
    os_tensor_fill(j->rv, 1.0f);
    for (size_t i = 0; i < sizeof j->x / sizeof j->x[0]; i++)
        j->x[i] = os_rng_uniform(&r) * 2.0f - 1.0f;
    j->n_grad = 0;
    for (int k = 0; k < TC_NP; k++)
        j->n_grad += os_numel(j->p[k]);
    for (int s = 0; s < TC_STEPS; s++)
        j->grads[s] = calloc((size_t)j->n_grad, sizeof(float));
}

static void job_free(tc_job *j)
{
    for (int k = 0; k < TC_NP; k++)
        os_tensor_free(j->p[k]);
    os_tensor_free(j->rm);
    os_tensor_free(j->rv);
    for (int s = 0; s < TC_STEPS; s++)
        free(j->grads[s]);
}

/* TC_STEPS steps of conv-bn-relu-maxpool-gap-linear-xent with a plain SGD
 * update, gradients recorded per step */
static void *job_run(void *arg)
{
    tc_job *j = arg;
    omp_set_num_threads(1); /* this thread's OpenMP setting; os_set_threads(1) was called before */
    os_context *c = j->explicit_context ? os_context_new() : NULL;
    if (c)
        os_context_use(c);
    j->ctx_seen = os_context_current();
    const int32_t labels[2] = {2, 0};
    for (int s = 0; s < TC_STEPS; s++) {
        for (int k = 0; k < TC_NP; k++)
            os_tensor_fill(j->p[k]->grad, 0.0f);
        os_tensor *x = os_tensor_new4(2, 3, 7, 7);
        os_tensor_from_host(x, j->x);
        os_tensor *h = os_conv2d(x, j->p[0], j->p[1], 1, 1, 1, 1);
        h = os_relu(os_batch_norm(h, j->p[2], j->p[3], j->rm, j->rv, 1, 0.1f, 1e-5f));
        h = os_global_avg_pool(os_max_pool2d(h, 3, 2, 1));
        os_tensor *loss = os_cross_entropy(os_linear(h, j->p[4], j->p[5]), labels, 0.1f);
        os_backward(loss);
        long o = 0;
        for (int k = 0; k < TC_NP; k++) {
            long n = os_numel(j->p[k]);
            memcpy(j->grads[s] + o, j->p[k]->grad->data, sizeof(float) * (size_t)n);
            o += n;
            for (long i = 0; i < n; i++)
                j->p[k]->data[i] -= 0.1f * j->p[k]->grad->data[i];
        }
        os_step_reset();
    }
    if (c) {
        os_context_use(NULL);
        os_context_free(c);
    }
    return NULL; /* a default context is freed at thread exit */
}

Test(context, two_threads_two_contexts_same_gradients)
{
    int old_threads = os_threads();
    os_set_threads(1);
    tc_job ref[2], job[2];
    /* reference: each job run alone on this thread */
    for (int t = 0; t < 2; t++) {
        job_init(&ref[t], 100 + t);
        ref[t].explicit_context = 1;
        job_run(&ref[t]);
    }
    /* the same jobs, at the same time, one thread each */
    pthread_t th[2];
    for (int t = 0; t < 2; t++) {
        job_init(&job[t], 100 + t);
        job[t].explicit_context = t == 0; /* thread 1 uses its default context */
        cr_assert_eq(pthread_create(&th[t], NULL, job_run, &job[t]), 0);
    }
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);
    cr_expect_neq(job[0].ctx_seen, job[1].ctx_seen);
    cr_expect_neq(job[1].ctx_seen, os_context_current(), "a thread's default context is its own");
    for (int t = 0; t < 2; t++)
        for (int s = 0; s < TC_STEPS; s++) {
            int same = memcmp(job[t].grads[s], ref[t].grads[s], sizeof(float) * (size_t)ref[t].n_grad) == 0;
            cr_expect(same, "thread %d step %d: gradients differ from the single-thread run", t, s);
        }
    /* and the two jobs differ from each other (different seeds), so the test
     * would see a thread using the other's state */
    cr_expect_neq(memcmp(ref[0].grads[0], ref[1].grads[0], sizeof(float) * (size_t)ref[0].n_grad), 0);
    for (int t = 0; t < 2; t++) {
        job_free(&ref[t]);
        job_free(&job[t]);
    }
    os_set_threads(old_threads);
#ifdef TC_ASAN
    cr_expect_eq(__lsan_do_recoverable_leak_check(), 0, "LeakSanitizer found leaks (a thread's default context?)");
#endif
}
