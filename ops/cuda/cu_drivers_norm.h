/* ops/cuda/cu_drivers_norm.h — drivers of pooling, batch norm, softmax, cross-entropy and the selection kernels (included by cu_drivers.h, after its helpers). */
#ifndef OS_CU_DRIVERS_NORM_H
#define OS_CU_DRIVERS_NORM_H

/* ---- pooling ------------------------------------------------------------------------ */
static os_cu_pool os_cu_pgeom(const os_tensor *x, const os_tensor *y, const os_pool_params *p)
{
    os_cu_pool g;
    g.H = x->shape[2];
    g.W = x->shape[3];
    g.OH = y->shape[2];
    g.OW = y->shape[3];
    g.kh = p->kh;
    g.kw = p->kw;
    g.s = p->stride;
    g.p = p->pad;
    g.incl = p->count_include_pad;
    return g;
}

static void os_cu_pool_fwd(const os_kargs *a, int is_max)
{
    os_ca_pool_fwd A = OS_CU_ZERO;
    A.y = os_cu_view(a->t[0]);
    A.x = os_cu_view(a->t[1]);
    A.g = os_cu_pgeom(a->t[1], a->t[0], (const os_pool_params *)a->params);
    A.is_max = is_max;
    OS_CU_RUN(os_cb_pool_fwd, A, os_numel(a->t[0]));
}
static void os_cuk_maxpool_fwd(const os_kargs *a) { os_cu_pool_fwd(a, 1); }
static void os_cuk_avgpool_fwd(const os_kargs *a) { os_cu_pool_fwd(a, 0); }

static void os_cu_pool_bwd(const os_kargs *a, int is_max)
{
    os_ca_pool_bwd A = OS_CU_ZERO;
    A.dx = os_cu_view(a->t[0]);
    A.dy = os_cu_view(a->t[1]);
    A.x = os_cu_view(is_max ? a->t[2] : NULL);
    A.g = os_cu_pgeom(a->t[0], a->t[1], (const os_pool_params *)a->params);
    A.is_max = is_max;
    OS_CU_RUN(os_cb_pool_bwd, A, os_numel(a->t[0]));
}
static void os_cuk_maxpool_bwd(const os_kargs *a) { os_cu_pool_bwd(a, 1); }
static void os_cuk_avgpool_bwd(const os_kargs *a) { os_cu_pool_bwd(a, 0); }

static void os_cuk_gap_fwd(const os_kargs *a)
{
    os_ca_gap A = OS_CU_ZERO;
    A.y = os_cu_view(a->t[0]);
    A.x = os_cu_view(a->t[1]);
    OS_CU_RUN(os_cb_gap_fwd, A, (long)a->t[1]->shape[0] * a->t[1]->shape[1]);
}
static void os_cuk_gap_bwd(const os_kargs *a)
{
    os_ca_gap A = OS_CU_ZERO;
    A.x = os_cu_view(a->t[0]);
    A.y = os_cu_view(a->t[1]);
    OS_CU_RUN(os_cb_gap_bwd, A, os_numel(a->t[0]));
}

/* ---- batch norm ------------------------------------------------------------------------ */
/* per-channel pass (statistics or running stats -> scale, shift), then y */
static void os_cu_bn_fwd(const os_kargs *a, int train)
{
    const os_bn_params *p = (const os_bn_params *)a->params;
    os_tensor *x = a->t[1];
    int C = x->shape[1];
    os_ca_bn_stats S = OS_CU_ZERO;
    S.x = os_cu_view(x);
    S.gamma = os_cu_view(a->t[2]);
    S.beta = os_cu_view(a->t[3]);
    if (train) {
        S.mean = os_cu_view(a->t[4]);
        S.invstd = os_cu_view(a->t[5]);
        S.rmean = os_cu_view(a->t[6]);
        S.rvar = os_cu_view(a->t[7]);
    } else {
        S.rmean = os_cu_view(a->t[4]);
        S.rvar = os_cu_view(a->t[5]);
    }
    S.ss = (float *)os_cu_scratch(sizeof(float) * 2 * (size_t)C);
    S.eps = p->eps;
    S.momentum = p->momentum;
    S.train = train;
    OS_CU_RUN(os_cb_bn_stats, S, C);
    os_ca_bn_apply A = OS_CU_ZERO;
    A.y = os_cu_view(a->t[0]);
    A.x = S.x;
    A.ss = S.ss;
    OS_CU_RUN(os_cb_bn_apply, A, os_numel(x));
}
static void os_cuk_bn_fwd_train(const os_kargs *a) { os_cu_bn_fwd(a, 1); }
static void os_cuk_bn_fwd_eval(const os_kargs *a) { os_cu_bn_fwd(a, 0); }

static void os_cu_bn_bwd(const os_kargs *a, int train, float eps)
{
    os_tensor *dx = a->t[0], *x = a->t[2];
    int C = x->shape[1];
    os_ca_bn_bstats S = OS_CU_ZERO;
    S.dy = os_cu_view(a->t[1]);
    S.x = os_cu_view(x);
    S.gamma = os_cu_view(a->t[3]);
    S.mean = os_cu_view(a->t[4]);
    S.stat = os_cu_view(a->t[5]);
    S.dgamma = os_cu_view(a->t[6]);
    S.dbeta = os_cu_view(a->t[7]);
    S.co = (float *)os_cu_scratch(sizeof(float) * 4 * (size_t)C);
    S.eps = eps;
    S.train = train;
    S.need_sums = a->t[6] || a->t[7] || (dx && train);
    OS_CU_RUN(os_cb_bn_bstats, S, C);
    if (!dx)
        return;
    os_ca_bn_dx D = OS_CU_ZERO;
    D.dx = os_cu_view(dx);
    D.dy = S.dy;
    D.x = S.x;
    D.co = S.co;
    OS_CU_RUN(os_cb_bn_dx, D, os_numel(x));
}
static void os_cuk_bn_bwd_train(const os_kargs *a) { os_cu_bn_bwd(a, 1, 0.0f); }
static void os_cuk_bn_bwd_eval(const os_kargs *a)
{
    os_cu_bn_bwd(a, 0, ((const os_bn_params *)a->params)->eps);
}

/* ---- softmax family ---------------------------------------------------------------------- */
static void os_cuk_softmax_fwd(const os_kargs *a)
{
    const os_softmax_params *p = (const os_softmax_params *)a->params;
    os_ca_softmax A = OS_CU_ZERO;
    A.y = a->t[0]->data;
    A.x = a->t[1]->data;
    A.D = p->dim;
    A.in = p->inner;
    A.log = p->log;
    OS_CU_RUN(os_cb_softmax_fwd, A, (long)p->outer * p->inner);
}

static void os_cuk_softmax_bwd(const os_kargs *a)
{
    const os_softmax_params *p = (const os_softmax_params *)a->params;
    os_ca_softmax_bwd A = OS_CU_ZERO;
    A.dx = a->t[0]->data;
    A.dy = a->t[1]->data;
    A.y = a->t[2]->data;
    A.D = p->dim;
    A.in = p->inner;
    A.log = p->log;
    OS_CU_RUN(os_cb_softmax_bwd, A, (long)p->outer * p->inner);
}

static void os_cuk_xent_fwd(const os_kargs *a)
{
    const os_xent_params *p = (const os_xent_params *)a->params;
    os_ca_xent R = OS_CU_ZERO;
    R.x = a->t[1]->data;
    R.pr = a->t[2]->data;
    R.labels = p->labels;
    R.row = (double *)os_cu_scratch(sizeof(double) * (size_t)(p->n > 0 ? p->n : 1));
    R.K = p->k;
    R.s = p->smoothing;
    OS_CU_RUN(os_cb_xent_row, R, p->n);
    os_ca_xent_sum S = OS_CU_ZERO;
    S.row = R.row;
    S.N = p->n;
    S.loss = a->t[0]->data;
    OS_CU_RUN(os_cb_xent_sum, S, 1);
}

static void os_cuk_xent_bwd(const os_kargs *a)
{
    const os_xent_params *p = (const os_xent_params *)a->params;
    os_ca_xent_bwd A = OS_CU_ZERO;
    A.dx = a->t[0]->data;
    A.dloss = a->t[1]->data;
    A.pr = a->t[2]->data;
    A.labels = p->labels;
    A.N = p->n;
    A.K = p->k;
    A.s = p->smoothing;
    OS_CU_RUN(os_cb_xent_bwd, A, (long)p->n * p->k);
}

/* count[0] += rows whose argmax is the label: a flag per row, then their sum in order */
static void os_cuk_acc_count(const os_kargs *a)
{
    const os_xent_params *p = (const os_xent_params *)a->params;
    os_cu_need_contig("logits", a->t[1]);
    os_ca_acc_hit A = OS_CU_ZERO;
    A.hit = (float *)os_cu_scratch(sizeof(float) * (size_t)(p->n > 0 ? p->n : 1));
    A.x = a->t[1]->data;
    A.labels = p->labels;
    A.K = p->k;
    OS_CU_RUN(os_cb_acc_hit, A, p->n);
    os_ca_acc_sum S = OS_CU_ZERO;
    S.hit = A.hit;
    S.N = p->n;
    S.out = (float *)os_cu_elem_ptr(a->t[0], 0);
    OS_CU_RUN(os_cb_acc_sum, S, 1);
}

/* K: the last dim of t (the only one when 1-D) */
static int os_cu_last_dim(const os_tensor *t) { return t->ndim == 1 ? t->shape[0] : t->shape[t->ndim - 1]; }

static void os_cuk_argmax(const os_kargs *a)
{
    os_cu_need_contig("x", a->t[1]);
    os_ca_argmax A = OS_CU_ZERO;
    A.idx = os_cu_view(a->t[0]);
    A.x = a->t[1]->data;
    A.K = os_cu_last_dim(a->t[1]);
    OS_CU_RUN(os_cb_argmax, A, A.K ? os_numel(a->t[1]) / A.K : 0);
}

static void os_cuk_onehot(const os_kargs *a)
{
    os_cu_need_contig("y", a->t[0]);
    os_ca_onehot A = OS_CU_ZERO;
    A.y = a->t[0]->data;
    A.idx = os_cu_view(a->t[1]);
    A.K = os_cu_last_dim(a->t[0]);
    OS_CU_RUN(os_cb_onehot, A, A.K ? os_numel(a->t[0]) : 0);
}

#endif
