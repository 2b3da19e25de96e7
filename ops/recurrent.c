/* ops/recurrent.c — the ENAS controller's ops: embedding lookup and a fused
 * LSTM cell (torch.nn.Embedding, torch.nn.LSTMCell).
 *   embedding  table [V,D], idx[n] -> y [n,D] = table[idx]
 *              dtable[idx[i]] += dy[i], i in order (deterministic)
 *   lstm_cell  x [N,I], h [N,H], c [N,H], w [4H,I+H], b [4H]|NULL -> [2,N,H]
 *              xh = [x, h] [N,I+H]; gates = xh w^T + b [N,4H] (i, f, g, o);
 *              c' = sig(f) c + sig(i) tanh(g); h' = sig(o) tanh(c');
 *              dgates from dh', dc' (LSTM_BWD), then dw += dgates^T xh,
 *              db += column sums of dgates, [dx, dh] += dgates w. */
#include "ops/ops.h"
#include "ops/count.h"
#include "ops/op_util.h"
#include "autograd/autograd.h"
#include "tensor/arena.h"
#include "tensor/backend.h"

#include <string.h>

static const float one = 1.0f;

/* ---- embedding ---------------------------------------------------------------- */
static void embedding_backward(os_node *n)
{
    os_tensor *g = os_grad_acc(n->in[0]);
    if (g)
        OS_RUN(EMBED_BWD, n->params, g, n->out->grad);
}

os_tensor *os_embedding(os_tensor *table, int n, const int32_t *idx)
{
    if (!table || table->ndim != 2)
        os_fatal("embedding: table %s must be [V,D]", os_shape_str(table));
    if (n < 1 || !idx)
        os_fatal("embedding: need at least one index (got %d) for table %s", n, os_shape_str(table));
    for (int i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= table->shape[0])
            os_fatal("embedding: index %d (position %d) out of range for table %s", (int)idx[i], i,
                     os_shape_str(table));
    os_count_op(0, 1, &table);
    os_embed_params p = {.idx = os_int32_to_device(table->device, n, idx), .n = n};
    os_tensor *tc = os_op_contig(table);
    os_tensor *y = os_tensor_new_on(table->device, 2, (int[]){n, table->shape[1]});
    os_tape_record("embedding", embedding_backward, y, 1, &table, &p, sizeof p);
    OS_RUN(EMBED_FWD, &p, y, tc);
    return y;
}

/* ---- LSTM cell ------------------------------------------------------------------ */
/* saved: xh [N,I+H], gates (activated) [N,4H], c (contiguous), w (contiguous) */
static void lstm_backward(os_node *n)
{
    os_tensor *xh = n->saved[0], *gates = n->saved[1], *c = n->saved[2], *w = n->saved[3];
    os_tensor *gx = os_grad_acc(n->in[0]), *gh = os_grad_acc(n->in[1]), *gc = os_grad_acc(n->in[2]);
    os_tensor *gw = os_grad_acc(n->in[3]), *gb = os_grad_acc(n->in[4]);
    os_tensor *dg = os_tensor_like(gates);
    OS_RUN(LSTM_BWD, NULL, dg, n->out->grad, gates, c, n->out, gc);
    if (gw) {
        os_gemm_params p = {.trans_a = 1, .trans_b = 0, .alpha = 1, .beta = 1};
        OS_RUN(GEMM, &p, gw, dg, xh);
    }
    if (gb)
        OS_RUN(SUM_ROWS, NULL, gb, dg);
    if (gx || gh) {
        int I = n->in[0]->shape[1], H = n->in[1]->shape[1];
        os_tensor *dxh = os_tensor_like(xh);
        os_gemm_params p = {.trans_a = 0, .trans_b = 0, .alpha = 1, .beta = 0};
        OS_RUN(GEMM, &p, dxh, dg, w);
        if (gx)
            OS_RUN(AXPY, &one, gx, os_view_channels(dxh, 0, I));
        if (gh)
            OS_RUN(AXPY, &one, gh, os_view_channels(dxh, I, H));
    }
}

os_tensor *os_lstm_cell(os_tensor *x, os_tensor *h, os_tensor *c, os_tensor *w, os_tensor *b)
{
    if (!x || !h || !c || !w || x->ndim != 2 || h->ndim != 2 || c->ndim != 2 || w->ndim != 2)
        os_fatal("lstm_cell: need x [N,I], h [N,H], c [N,H], w [4H,I+H]: x %s h %s c %s w %s", os_shape_str(x),
                 os_shape_str(h), os_shape_str(c), os_shape_str(w));
    int N = x->shape[0], I = x->shape[1], H = h->shape[1];
    if (h->shape[0] != N || !os_same_shape(h, c) || w->shape[0] != 4 * H || w->shape[1] != I + H)
        os_fatal("lstm_cell: shapes do not fit: x %s h %s c %s w %s (w must be [4H,I+H])", os_shape_str(x),
                 os_shape_str(h), os_shape_str(c), os_shape_str(w));
    if (b && (b->ndim != 1 || b->shape[0] != 4 * H))
        os_fatal("lstm_cell: bias %s must be [4H] = [%d]", os_shape_str(b), 4 * H);
    os_tensor *in[5] = {x, h, c, w, b};
    os_count_op((int64_t)N * 4 * H * (I + H), 5, in);
    os_tensor *xh = os_tensor_new_on(x->device, 2, (int[]){N, I + H});
    OS_RUN(COPY, NULL, os_view_channels(xh, 0, I), x);
    OS_RUN(COPY, NULL, os_view_channels(xh, I, H), h);
    os_tensor *wc = os_op_contig(w), *cc = os_op_contig(c);
    os_tensor *gates = os_tensor_new_on(x->device, 2, (int[]){N, 4 * H});
    os_gemm_params p = {.trans_a = 0, .trans_b = 1, .alpha = 1, .beta = 0};
    OS_RUN(GEMM, &p, gates, xh, wc);
    if (b)
        OS_RUN(BIAS_ROWS, NULL, gates, os_op_contig(b));
    os_tensor *y = os_tensor_new_on(x->device, 3, (int[]){2, N, H});
    OS_RUN(LSTM_FWD, NULL, y, gates, cc);
    os_node *n = os_tape_record("lstm_cell", lstm_backward, y, 5, in, NULL, 0);
    if (n) {
        n->saved[0] = xh;
        n->saved[1] = gates;
        n->saved[2] = cc;
        n->saved[3] = wc;
    }
    return y;
}
