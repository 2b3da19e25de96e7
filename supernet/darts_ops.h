/* supernet/darts_ops.h — the DARTS candidate operations (REFERENCE.md §2).
 *
 * Op order is alpha's column order: none, max_pool_3x3, avg_pool_3x3,
 * skip_connect, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5.
 * The same code builds the search versions (BN affine=False, pools followed
 * by BN) and the child versions (affine BN, bare pools). */
#ifndef OS_DARTS_OPS_H
#define OS_DARTS_OPS_H

#include "supernet/supernet.h"

enum { DARTS_NONE, DARTS_MAX_POOL, DARTS_AVG_POOL, DARTS_SKIP, DARTS_SEP3, DARTS_SEP5,
       DARTS_DIL3, DARTS_DIL5, DARTS_NUM_OPS };
extern const char *const os_darts_op_names[DARTS_NUM_OPS];
int os_darts_op_index(const char *name); /* -1 if unknown */

/* ReLU -> conv kxk (stride, pad) -> BN */
typedef struct { os_tensor *w; os_bn bn; int stride, pad; } os_relu_conv_bn;
/* ReLU -> two 1x1 stride-2 convs (the second on x[:, :, 1:, 1:]) -> concat -> BN */
typedef struct { os_tensor *w1, *w2; os_bn bn; } os_fact_reduce;

typedef struct os_darts_op {
    int kind, C, stride, search;
    os_tensor *w[4];        /* sep: dw1 pw1 dw2 pw2; dil: dw pw */
    os_bn bn[2];
    os_fact_reduce fr;      /* skip_connect with stride 2 */
} os_darts_op;

void os_rcb_init(os_net *net, os_rng *r, os_relu_conv_bn *m, const char *name,
                 int cin, int cout, int k, int stride, int pad, int affine);
os_tensor *os_rcb_forward(os_relu_conv_bn *m, os_tensor *x, const os_forward_ctx *ctx);
void os_fr_init(os_net *net, os_rng *r, os_fact_reduce *m, const char *name, int cin, int cout, int affine);
/* x_relu: relu(x) when the caller already has it (shared per edge), else NULL */
os_tensor *os_fr_forward(os_fact_reduce *m, os_tensor *x, os_tensor *x_relu, const os_forward_ctx *ctx);

/* search: 1 = search version (affine-free BN, BN after pools) */
void os_darts_op_init(os_net *net, os_rng *r, os_darts_op *op, const char *name,
                      int kind, int C, int stride, int search);
/* x_relu may be NULL; ops that start with ReLU then compute it themselves. */
os_tensor *os_darts_op_forward(os_darts_op *op, os_tensor *x, os_tensor *x_relu, const os_forward_ctx *ctx);
/* op kinds whose first layer is ReLU (they can share relu(x) on an edge) */
int os_darts_op_starts_with_relu(int kind, int stride);

#endif
