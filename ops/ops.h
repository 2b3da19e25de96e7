/* ops/ops.h — every differentiable op: forward builders that record on the tape.
 *
 * Each op: checks its arguments (a misuse is fatal with a message naming the
 * op and the shapes, see tensor/error.h), adds its multiply-adds and the
 * parameters it reads to the cost counter when a counting window is open
 * (ops/count.h), allocates its output from the step arena, records a tape
 * node when gradients are needed, and runs its kernel through os_dispatch(). Gradient rules live next to the forward, in the same
 * file (ops/<op>.c); kernels live per backend (ops/cpu/<op>_cpu.c).
 *
 * Shapes: activations are NCHW [N,C,H,W]; linear layers use [N,F].
 * Inputs may be views (channel slices, spatial offsets) unless stated.
 */
#ifndef OS_OPS_H
#define OS_OPS_H

#include <stdint.h>
#include "tensor/tensor.h"

/* ---- parameter structs (also the kernels' params, see ops/kernels.def; the
 * optimizer kernels' are in autograd/optim_kernels.h) ---- */
typedef enum { OS_RELU, OS_RELU6, OS_SIGMOID, OS_TANH } os_unary_kind;
typedef struct { os_unary_kind kind; } os_unary_params;

/* WSUM / WSUM_BWD: the operands travel by value as device data pointers of
 * contiguous tensors shaped like t0 (ops/kernels.def); NULL = a zero input
 * (x) or no gradient wanted (dx). At most OS_WSUM_MAX per launch: the op
 * splits a longer sum into launches (w0 = index of the first weight, acc =
 * add to t0 instead of overwriting it). */
#define OS_WSUM_MAX 16
typedef struct { int n, w0, acc; const float *x[OS_WSUM_MAX]; } os_wsum_params;
typedef struct { int n, w0; const float *x[OS_WSUM_MAX]; float *dx[OS_WSUM_MAX]; } os_wsum_bwd_params;

/* AXPY_POW: t0 += a * max(t2[0], 1e-24)^e * t1 */
typedef struct { float a, e; } os_axpy_pow_params;

typedef struct {
    int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
} os_conv2d_params;

typedef struct {
    int kh, kw, stride, pad;
    int count_include_pad; /* avg pool only; 0 = PyTorch count_include_pad=False */
} os_pool_params;

typedef struct { float eps, momentum; } os_bn_params;

typedef struct { int trans_a, trans_b; float alpha, beta; } os_gemm_params;

typedef struct { int outer, dim, inner, log; } os_softmax_params;

/* labels: device int32 [n] on the logits' device (the op copies them there) */
typedef struct { const int32_t *labels; int n, k; float smoothing; } os_xent_params;

typedef struct { float p; uint64_t seed; } os_dropout_params;

/* idx: device int32 [n] on the table's device (the op copies it there) */
typedef struct { const int32_t *idx; int n; } os_embed_params;

/* ---- convolution / pooling --------------------------------------------- */
/* x [N,Ci,H,W], w [Co,Ci/groups,KH,KW], bias [Co] or NULL -> [N,Co,OH,OW] */
os_tensor *os_conv2d(os_tensor *x, os_tensor *w, os_tensor *bias,
                     int stride, int pad, int dilation, int groups);
os_tensor *os_conv2d_ex(os_tensor *x, os_tensor *w, os_tensor *bias, const os_conv2d_params *p);
/* conv2d(relu(x), ...) with relu(x) never kept: recomputed in the backward
 * from x (ops/conv2d.c). The same numbers as os_conv2d(os_relu(x), ...). */
os_tensor *os_relu_conv2d(os_tensor *x, os_tensor *w, os_tensor *bias,
                          int stride, int pad, int dilation, int groups);
os_tensor *os_relu_conv2d_ex(os_tensor *x, os_tensor *w, os_tensor *bias, const os_conv2d_params *p);
/* kernel k, stride s, padding p; avg excludes padding from the mean. */
os_tensor *os_max_pool2d(os_tensor *x, int k, int stride, int pad);
os_tensor *os_avg_pool2d(os_tensor *x, int k, int stride, int pad);
os_tensor *os_global_avg_pool(os_tensor *x); /* [N,C,H,W] -> [N,C] */

/* ---- batch norm ---------------------------------------------------------- */
/* gamma/beta: [C] params or NULL (affine=False). running_mean/var: [C]
 * persistent or NULL. training: batch statistics, running stats updated with
 * momentum (unbiased var); eval: running stats. eps 1e-5, momentum 0.1 usual. */
os_tensor *os_batch_norm(os_tensor *x, os_tensor *gamma, os_tensor *beta,
                         os_tensor *running_mean, os_tensor *running_var,
                         int training, float momentum, float eps);

/* ---- elementwise --------------------------------------------------------- */
os_tensor *os_relu(os_tensor *x);
os_tensor *os_relu6(os_tensor *x);
os_tensor *os_sigmoid(os_tensor *x);
os_tensor *os_tanh(os_tensor *x);
os_tensor *os_add(os_tensor *a, os_tensor *b);
os_tensor *os_sum_n(int n, os_tensor *const *x);                /* x_0 + ... + x_{n-1} */
os_tensor *os_mul(os_tensor *a, os_tensor *b);
os_tensor *os_scale_by(os_tensor *x, os_tensor *s);             /* s: 1 element; ds flows */
os_tensor *os_weighted_sum(int n, os_tensor *const *x, os_tensor *w); /* sum_i w[i] x_i */
os_tensor *os_concat_channels(int n, os_tensor *const *x);
/* zeros shaped like x strided by `stride` in H and W; no gradient work. */
os_tensor *os_zero(os_tensor *x, int stride);
os_tensor *os_dropout(os_tensor *x, float p, int training, uint64_t seed);

/* ---- dense ---------------------------------------------------------------- */
os_tensor *os_matmul(os_tensor *a, os_tensor *b);                   /* [M,K] x [K,N] */
os_tensor *os_linear(os_tensor *x, os_tensor *w, os_tensor *bias);  /* x [N,F], w [O,F] */
os_tensor *os_flatten(os_tensor *x);                                /* [N,...] -> [N,F] */
os_tensor *os_reshape(os_tensor *x, int ndim, const int *shape);    /* keeps the tape */
/* x[:, :, dh:, dw:] as a view (gradient flows back; FactorizedReduce's shift) */
os_tensor *os_offset_hw(os_tensor *x, int dh, int dw);
/* select element/row i of dim 0 as a view (gradient flows back) */
os_tensor *os_select(os_tensor *x, int i);

/* ---- recurrent (ENAS controller) ------------------------------------------- */
/* Rows of table [V,D] by index: idx[0..n) in [0,V) -> [n,D] (torch
 * nn.Embedding). The gradient scatters back into the table's rows in index
 * order (repeated indices add up, deterministically). idx is copied. */
os_tensor *os_embedding(os_tensor *table, int n, const int32_t *idx);
/* torch.nn.LSTMCell as one op: x [N,I], h [N,H], c [N,H], w [4H,I+H] (torch's
 * weight_ih and weight_hh side by side), b [4H] (bias_ih + bias_hh) or NULL.
 * gates = [x, h] w^T + b, split i, f, g, o; c' = sig(f) c + sig(i) tanh(g);
 * h' = sig(o) tanh(c'). Returns [2,N,H]: row 0 = h', row 1 = c' (take them
 * with os_select). */
os_tensor *os_lstm_cell(os_tensor *x, os_tensor *h, os_tensor *c, os_tensor *w, os_tensor *b);

/* ---- softmax & loss -------------------------------------------------------- */
os_tensor *os_softmax(os_tensor *x, int dim);
os_tensor *os_log_softmax(os_tensor *x, int dim);
/* logits [N,K], labels[N] in [0,K): mean cross-entropy, optional label smoothing. */
os_tensor *os_cross_entropy(os_tensor *logits, const int32_t *labels, float smoothing);
/* The same with the labels already on the logits' device (device int32 [N],
 * e.g. a staged batch's, search/stage.h): no host check and no copy; the
 * caller checked that they lie in [0,K). */
os_tensor *os_cross_entropy_dev(os_tensor *logits, const int32_t *dev_labels, float smoothing);

/* ---- device helpers (no tape) ---------------------------------------------- */
/* count [1] += number of rows of logits [N,K] whose argmax (the first on
 * ties) is labels[n] (host labels, copied): the accuracy, on the device. */
void os_accuracy_count(os_tensor *count, os_tensor *logits, const int32_t *labels);
/* The same with device labels (as os_cross_entropy_dev). */
void os_accuracy_count_dev(os_tensor *count, os_tensor *logits, const int32_t *dev_labels);
/* host int32[n] copied to a step buffer on dev (labels, indices for kernels) */
const int32_t *os_int32_to_device(os_device dev, int n, const int32_t *host);
/* a tensor shaped like x: every element of sample n is 1/(1-p) when
 * os_hash_uniform(seed, n) >= p, else 0 (drop path; multiply with os_mul) */
os_tensor *os_drop_path_mask(const os_tensor *x, float p, uint64_t seed);
/* x * that mask, the mask drawn again in the backward instead of kept
 * (ops/arith.c): the same numbers as os_mul(x, os_drop_path_mask(x, p, seed)) */
os_tensor *os_drop_path(os_tensor *x, float p, uint64_t seed);
/* sum_i of x_i, each times its drop-path mask when p[i] > 0 (p[i] = 0: as
 * it is), the masked terms never kept (ops/arith.c): the same numbers as
 * os_sum_n over os_drop_path(x_i, p[i], seed[i]). n <= OS_SUM_DROP_MAX. */
#define OS_SUM_DROP_MAX 8
os_tensor *os_sum_drop_path(int n, os_tensor *const *x, const float *p, const uint64_t *seed);

#endif
