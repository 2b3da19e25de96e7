/* ops/cuda/cu_drivers_eltwise.h — drivers of the memory, elementwise, dense, recurrent, dropout and optimizer kernels (included by cu_drivers.h, after its helpers). */
#ifndef OS_CU_DRIVERS_ELTWISE_H
#define OS_CU_DRIVERS_ELTWISE_H

/* ---- memory --------------------------------------------------------------------- */
static void os_cuk_fill(const os_kargs *a)
{
    os_ca_fill A = OS_CU_ZERO;
    A.t = os_cu_view(a->t[0]);
    A.v = *(const float *)a->params;
    OS_CU_RUN(os_cb_fill, A, os_numel(a->t[0]));
}

static void os_cuk_copy(const os_kargs *a)
{
    os_ca_copy A = OS_CU_ZERO;
    A.d = os_cu_view(a->t[0]);
    A.s = os_cu_view(a->t[1]);
    OS_CU_RUN(os_cb_copy, A, os_numel(a->t[0]));
}

static void os_cuk_axpy(const os_kargs *a)
{
    os_ca_axpy A = OS_CU_ZERO;
    A.d = os_cu_view(a->t[0]);
    A.s = os_cu_view(a->t[1]);
    A.al = *(const float *)a->params;
    OS_CU_RUN(os_cb_axpy, A, os_numel(a->t[0]));
}

static void os_cuk_scale(const os_kargs *a)
{
    os_cu_need_contig("t", a->t[0]);
    os_ca_scale A = OS_CU_ZERO;
    A.p = a->t[0]->data;
    A.al = *(const float *)a->params;
    OS_CU_RUN(os_cb_scale, A, os_numel(a->t[0]));
}

static void os_cuk_sumsq(const os_kargs *a)
{
    os_cu_need_contig("x", a->t[1]);
    os_cu_dot(a->t[1]->data, NULL, os_numel(a->t[1]), a->t[0]->data, 0);
}

/* t0[0] (any stride) += sum(x^2) */
static void os_cuk_sumsq_acc(const os_kargs *a)
{
    os_cu_need_contig("x", a->t[1]);
    os_cu_dot(a->t[1]->data, NULL, os_numel(a->t[1]), (float *)os_cu_elem_ptr(a->t[0], 0), 1);
}

/* t0 += a * max(t2[0], 1e-24)^e * t1: the coefficient by one thread, then the update */
static void os_cuk_axpy_pow(const os_kargs *a)
{
    const os_axpy_pow_params *p = (const os_axpy_pow_params *)a->params;
    os_ca_pow_coef C = OS_CU_ZERO;
    C.c = (float *)os_cu_scratch(sizeof(float));
    C.s = os_cu_elem_ptr(a->t[2], 0);
    C.a = p->a;
    C.e = p->e;
    OS_CU_RUN(os_cb_pow_coef, C, 1);
    os_ca_axpy_dev A = OS_CU_ZERO;
    A.d = a->t[0]->data;
    A.x = a->t[1]->data;
    A.c = C.c;
    OS_CU_RUN(os_cb_axpy_dev, A, os_numel(a->t[0]));
}

/* t0 *= max_norm / (sqrt(t1[0]) + 1e-6) when that is below 1 */
static void os_cuk_clip_scale(const os_kargs *a)
{
    os_cu_need_contig("t", a->t[0]);
    os_ca_clip A = OS_CU_ZERO;
    A.t = a->t[0]->data;
    A.s = os_cu_elem_ptr(a->t[1], 0);
    A.a = *(const float *)a->params;
    OS_CU_RUN(os_cb_clip_scale, A, os_numel(a->t[0]));
}

/* ---- elementwise ------------------------------------------------------------------ */
static void os_cuk_unary_fwd(const os_kargs *a)
{
    os_ca_unary A = OS_CU_ZERO;
    A.y = a->t[0]->data;
    A.x = a->t[1]->data;
    A.kind = (int)((const os_unary_params *)a->params)->kind;
    OS_CU_RUN(os_cb_unary_fwd, A, os_numel(a->t[0]));
}

static void os_cuk_unary_bwd(const os_kargs *a)
{
    os_ca_unary_bwd A = OS_CU_ZERO;
    A.dx = a->t[0]->data;
    A.dy = a->t[1]->data;
    A.y = a->t[3]->data;
    A.kind = (int)((const os_unary_params *)a->params)->kind;
    OS_CU_RUN(os_cb_unary_bwd, A, os_numel(a->t[0]));
}

static void os_cu_binary(const os_kargs *a, const os_tensor *p, const os_tensor *q, int op)
{
    os_ca_binary A = OS_CU_ZERO;
    A.o = a->t[0]->data;
    A.p = p->data;
    A.q = q->data;
    A.op = op;
    OS_CU_RUN(os_cb_binary, A, os_numel(a->t[0]));
}
static void os_cuk_add(const os_kargs *a) { os_cu_binary(a, a->t[1], a->t[2], 0); }
static void os_cuk_mul(const os_kargs *a) { os_cu_binary(a, a->t[1], a->t[2], 1); }
static void os_cuk_mul_bwd(const os_kargs *a) { os_cu_binary(a, a->t[2], a->t[3], 2); }

static void os_cuk_scale_by(const os_kargs *a)
{
    os_ca_scale_by A = OS_CU_ZERO;
    A.y = a->t[0]->data;
    A.x = a->t[1]->data;
    A.s = a->t[2]->data;
    OS_CU_RUN(os_cb_scale_by, A, os_numel(a->t[0]));
}

static void os_cuk_dot_acc(const os_kargs *a)
{
    os_cu_dot(a->t[1]->data, a->t[2]->data, os_numel(a->t[1]), a->t[0]->data, 1);
}

/* y (= | +=) sum_i w[w0+i] x_i: one launch per non-NULL input, in order (the
 * first overwrites unless acc); all NULL: y = 0 (or kept with acc) */
static void os_cuk_wsum(const os_kargs *a)
{
    const os_wsum_params *p = (const os_wsum_params *)a->params;
    os_ca_scale_by A = OS_CU_ZERO;
    A.y = a->t[0]->data;
    int first = !p->acc;
    for (int i = 0; i < p->n; i++) {
        if (!p->x[i])
            continue;
        A.x = p->x[i];
        A.s = os_cu_elem_ptr(a->t[1], p->w0 + i);
        A.acc = !first;
        OS_CU_RUN(os_cb_scale_by, A, os_numel(a->t[0]));
        first = 0;
    }
    if (first) {
        float zero = 0.0f;
        os_kargs f = *a;
        f.params = &zero;
        os_cuk_fill(&f);
    }
}

/* dx_i += w[w0+i] dy; dw[w0+i] += sum(dy * x_i) (two passes each) */
static void os_cuk_wsum_bwd(const os_kargs *a)
{
    const os_wsum_bwd_params *p = (const os_wsum_bwd_params *)a->params;
    long len = os_numel(a->t[0]);
    for (int i = 0; i < p->n; i++) {
        if (p->dx[i]) {
            os_ca_scale_by A = OS_CU_ZERO;
            A.y = p->dx[i];
            A.x = a->t[0]->data;
            A.s = os_cu_elem_ptr(a->t[1], p->w0 + i);
            A.acc = 1;
            OS_CU_RUN(os_cb_scale_by, A, len);
        }
        if (a->t[2] && p->x[i])
            os_cu_dot(a->t[0]->data, p->x[i], len, (float *)os_cu_elem_ptr(a->t[2], p->w0 + i), 1);
    }
}

/* ---- dense ------------------------------------------------------------------------------- */
/* C [M,N] = alpha op(A) op(B) + beta C, row-major contiguous; beta 0 first
 * zeroes C (it may hold the arena's garbage, NaN included) */
static void os_cuk_gemm(const os_kargs *a)
{
    const os_gemm_params *p = (const os_gemm_params *)a->params;
    os_tensor *C = a->t[0], *A = a->t[1], *B = a->t[2];
    int M = C->shape[0], N = C->shape[1];
    int K = p->trans_a ? A->shape[0] : A->shape[1];
    if (M == 0 || N == 0)
        return;
    float beta = p->beta;
    if (beta == 0.0f) {
        float zero = 0.0f;
        os_kargs f = *a;
        f.params = &zero;
        os_cuk_fill(&f);
        beta = 1.0f;
    }
    if (K == 0) {
        if (beta != 1.0f) {
            os_ca_scale S = OS_CU_ZERO;
            S.p = C->data;
            S.al = beta;
            OS_CU_RUN(os_cb_scale, S, (long)M * N);
        }
        return;
    }
    os_cu_gemm_rm(p->trans_a, p->trans_b, M, N, K, p->alpha, A->data, A->shape[1], 0, B->data, B->shape[1], 0,
                  beta, C->data, N, 0, 1);
}

static void os_cuk_bias_rows(const os_kargs *a)
{
    os_ca_bias_rows A = OS_CU_ZERO;
    A.y = a->t[0]->data;
    A.b = a->t[1]->data;
    A.N = a->t[0]->shape[1];
    OS_CU_RUN(os_cb_bias_rows, A, os_numel(a->t[0]));
}

static void os_cuk_sum_rows(const os_kargs *a)
{
    os_ca_sum_rows A = OS_CU_ZERO;
    A.s = a->t[0]->data;
    A.x = a->t[1]->data;
    A.M = a->t[1]->shape[0];
    A.N = a->t[1]->shape[1];
    OS_CU_RUN(os_cb_sum_rows, A, A.N);
}

/* ---- recurrent controller ------------------------------------------------------------------ */
static void os_cuk_embed_fwd(const os_kargs *a)
{
    const os_embed_params *p = (const os_embed_params *)a->params;
    os_ca_embed A = OS_CU_ZERO;
    A.y = a->t[0]->data;
    A.table = a->t[1]->data;
    A.idx = p->idx;
    A.D = a->t[1]->shape[1];
    OS_CU_RUN(os_cb_embed_fwd, A, (long)p->n * A.D);
}

static void os_cuk_embed_bwd(const os_kargs *a)
{
    const os_embed_params *p = (const os_embed_params *)a->params;
    os_ca_embed_bwd A = OS_CU_ZERO;
    A.dt = a->t[0]->data;
    A.dy = a->t[1]->data;
    A.idx = p->idx;
    A.D = a->t[0]->shape[1];
    A.n = p->n;
    OS_CU_RUN(os_cb_embed_bwd, A, os_numel(a->t[0]));
}

static void os_cuk_lstm_fwd(const os_kargs *a)
{
    os_ca_lstm A = OS_CU_ZERO;
    A.out = a->t[0]->data;
    A.g = a->t[1]->data;
    A.c = a->t[2]->data;
    A.N = a->t[2]->shape[0];
    A.H = a->t[2]->shape[1];
    OS_CU_RUN(os_cb_lstm_fwd, A, A.N * A.H);
}

static void os_cuk_lstm_bwd(const os_kargs *a)
{
    os_ca_lstm_bwd A = OS_CU_ZERO;
    A.dg = a->t[0]->data;
    A.dout = a->t[1]->data;
    A.g = a->t[2]->data;
    A.c = a->t[3]->data;
    A.out = a->t[4]->data;
    A.dc = a->t[5] ? a->t[5]->data : NULL;
    A.N = a->t[3]->shape[0];
    A.H = a->t[3]->shape[1];
    OS_CU_RUN(os_cb_lstm_bwd, A, A.N * A.H);
}

/* ---- dropout ------------------------------------------------------------------------------ */
static void os_cu_dropout(const os_kargs *a, int acc)
{
    const os_dropout_params *p = (const os_dropout_params *)a->params;
    os_ca_dropout A = OS_CU_ZERO;
    A.o = a->t[0]->data;
    A.x = a->t[1]->data;
    A.seed = p->seed;
    A.p = p->p;
    A.scale = 1.0f / (1.0f - p->p);
    A.acc = acc;
    OS_CU_RUN(os_cb_dropout, A, os_numel(a->t[0]));
}
static void os_cuk_dropout_fwd(const os_kargs *a) { os_cu_dropout(a, 0); }
static void os_cuk_dropout_bwd(const os_kargs *a) { os_cu_dropout(a, 1); }

static void os_cuk_droppath_mask(const os_kargs *a)
{
    const os_dropout_params *p = (const os_dropout_params *)a->params;
    os_cu_need_contig("mask", a->t[0]);
    int N = a->t[0]->shape[0];
    os_ca_droppath A = OS_CU_ZERO;
    A.m = a->t[0]->data;
    A.per = N ? os_numel(a->t[0]) / N : 1;
    A.seed = p->seed;
    A.p = p->p;
    A.scale = 1.0f / (1.0f - p->p);
    OS_CU_RUN(os_cb_droppath, A, N ? os_numel(a->t[0]) : 0);
}

/* ---- optimizers ------------------------------------------------------------------------------ */
static void os_cuk_sgd_step(const os_kargs *a)
{
    const os_sgd_step_params *sp = (const os_sgd_step_params *)a->params;
    os_ca_sgd A = OS_CU_ZERO;
    A.p = a->t[0]->data;
    A.gr = a->t[1]->data;
    A.buf = a->t[2] ? a->t[2]->data : NULL;
    A.lr = sp->lr;
    A.wd = sp->weight_decay;
    A.mom = sp->momentum;
    A.damp1 = 1.0f - sp->dampening;
    A.first = sp->first_step;
    A.nesterov = sp->nesterov;
    OS_CU_RUN(os_cb_sgd, A, os_numel(a->t[0]));
}

static void os_cuk_adam_step(const os_kargs *a)
{
    const os_adam_step_params *ap = (const os_adam_step_params *)a->params;
    os_ca_adam A = OS_CU_ZERO;
    A.p = a->t[0]->data;
    A.gr = a->t[1]->data;
    A.m = a->t[2]->data;
    A.v = a->t[3]->data;
    A.b1 = ap->beta1;
    A.b2 = ap->beta2;
    A.wd = ap->weight_decay;
    A.eps = ap->eps;
    A.step = ap->lr / ap->bias_corr1;
    A.bc2s = sqrtf(ap->bias_corr2);
    OS_CU_RUN(os_cb_adam, A, os_numel(a->t[0]));
}

#endif
