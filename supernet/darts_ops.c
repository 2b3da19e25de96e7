/* supernet/darts_ops.c — the DARTS candidate operations. */
#include "supernet/darts_ops.h"
#include "ops/ops.h"

#include <stdio.h>
#include <string.h>

const char *const os_darts_op_names[DARTS_NUM_OPS] = {
    "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
};

int os_darts_op_index(const char *name)
{
    for (int i = 0; i < DARTS_NUM_OPS; i++)
        if (!strcmp(name, os_darts_op_names[i]))
            return i;
    return -1;
}

static os_tensor *conv_weight(os_net *net, os_rng *r, const char *name, const char *part,
                              int cout, int cin_per_group, int k)
{
    char nm[64];
    snprintf(nm, sizeof nm, "%s.%s", name, part);
    int s[4] = {cout, cin_per_group, k, k};
    return os_net_weight(net, r, nm, 4, s, (long)cin_per_group * k * k);
}

static void bn_init(os_net *net, os_bn *bn, const char *name, const char *part, int C, int affine)
{
    char nm[64];
    snprintf(nm, sizeof nm, "%s.%s", name, part);
    os_bn_init(net, bn, nm, C, affine);
}

void os_rcb_init(os_net *net, os_rng *r, os_relu_conv_bn *m, const char *name,
                 int cin, int cout, int k, int stride, int pad, int affine)
{
    m->w = conv_weight(net, r, name, "conv", cout, cin, k);
    bn_init(net, &m->bn, name, "bn", cout, affine);
    m->stride = stride;
    m->pad = pad;
}

os_tensor *os_rcb_forward(os_relu_conv_bn *m, os_tensor *x, const os_forward_ctx *ctx)
{
    os_tensor *y = os_relu_conv2d(x, m->w, NULL, m->stride, m->pad, 1, 1);
    return os_bn_forward(&m->bn, y, ctx);
}

/* conv(relu(x)): on xr = relu(x) when a mixed edge shares it, else with the
 * relu recomputed inside the convolution and not kept (os_relu_conv2d) */
static os_tensor *conv_of_relu(os_tensor *x, os_tensor *xr, os_tensor *w, int stride, int pad, int dil, int groups)
{
    return xr ? os_conv2d(xr, w, NULL, stride, pad, dil, groups) : os_relu_conv2d(x, w, NULL, stride, pad, dil, groups);
}

void os_fr_init(os_net *net, os_rng *r, os_fact_reduce *m, const char *name, int cin, int cout, int affine)
{
    if (cout % 2)
        os_fatal("factorized_reduce '%s': output channels %d must be even", name, cout);
    m->w1 = conv_weight(net, r, name, "conv1", cout / 2, cin, 1);
    m->w2 = conv_weight(net, r, name, "conv2", cout / 2, cin, 1);
    bn_init(net, &m->bn, name, "bn", cout, affine);
}

os_tensor *os_fr_forward(os_fact_reduce *m, os_tensor *x, os_tensor *x_relu, const os_forward_ctx *ctx)
{
    /* relu(x) shared with other candidates when given, else recomputed
     * inside each convolution (not kept) */
    os_tensor *parts[2] = {
        conv_of_relu(x, x_relu, m->w1, 2, 0, 1, 1),
        x_relu ? os_conv2d(os_offset_hw(x_relu, 1, 1), m->w2, NULL, 2, 0, 1, 1)
               : os_relu_conv2d(os_offset_hw(x, 1, 1), m->w2, NULL, 2, 0, 1, 1),
    };
    /* odd sizes: the shifted branch is one pixel smaller; PyTorch's DARTS
     * code has the same constraint (even H and W) */
    if (!os_same_shape(parts[0], parts[1]))
        os_fatal("factorized_reduce: input %s must have even height and width", os_shape_str(x));
    return os_bn_forward(&m->bn, os_concat_channels(2, parts), ctx);
}

int os_darts_op_starts_with_relu(int kind, int stride)
{
    return kind >= DARTS_SEP3 || (kind == DARTS_SKIP && stride == 2);
}

void os_darts_op_init(os_net *net, os_rng *r, os_darts_op *op, const char *name,
                      int kind, int C, int stride, int search)
{
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->C = C;
    op->stride = stride;
    op->search = search;
    int affine = !search;
    switch (kind) {
    case DARTS_NONE:
        break;
    case DARTS_MAX_POOL:
    case DARTS_AVG_POOL:
        if (search)
            bn_init(net, &op->bn[0], name, "bn", C, 0);
        break;
    case DARTS_SKIP:
        if (stride == 2)
            os_fr_init(net, r, &op->fr, name, C, C, affine);
        break;
    case DARTS_SEP3:
    case DARTS_SEP5: {
        int k = kind == DARTS_SEP3 ? 3 : 5;
        op->w[0] = conv_weight(net, r, name, "dw1", C, 1, k);
        op->w[1] = conv_weight(net, r, name, "pw1", C, C, 1);
        bn_init(net, &op->bn[0], name, "bn1", C, affine);
        op->w[2] = conv_weight(net, r, name, "dw2", C, 1, k);
        op->w[3] = conv_weight(net, r, name, "pw2", C, C, 1);
        bn_init(net, &op->bn[1], name, "bn2", C, affine);
        break;
    }
    case DARTS_DIL3:
    case DARTS_DIL5: {
        int k = kind == DARTS_DIL3 ? 3 : 5;
        op->w[0] = conv_weight(net, r, name, "dw", C, 1, k);
        op->w[1] = conv_weight(net, r, name, "pw", C, C, 1);
        bn_init(net, &op->bn[0], name, "bn", C, affine);
        break;
    }
    default:
        os_fatal("darts op '%s': unknown kind %d", name, kind);
    }
}

os_tensor *os_darts_op_forward(os_darts_op *op, os_tensor *x, os_tensor *xr, const os_forward_ctx *ctx)
{
    int s = op->stride, C = op->C;
    /* xr: relu(x) shared by the candidates of a mixed edge; NULL: each
     * convolution recomputes it (os_relu_conv2d) and nothing is kept */
    switch (op->kind) {
    case DARTS_NONE:
        return os_zero(x, s);
    case DARTS_MAX_POOL: {
        os_tensor *y = os_max_pool2d(x, 3, s, 1);
        return op->search ? os_bn_forward(&op->bn[0], y, ctx) : y;
    }
    case DARTS_AVG_POOL: {
        os_tensor *y = os_avg_pool2d(x, 3, s, 1);
        return op->search ? os_bn_forward(&op->bn[0], y, ctx) : y;
    }
    case DARTS_SKIP:
        return s == 1 ? x : os_fr_forward(&op->fr, x, xr, ctx);
    case DARTS_SEP3:
    case DARTS_SEP5: {
        int p = op->kind == DARTS_SEP3 ? 1 : 2;
        os_tensor *y = conv_of_relu(x, xr, op->w[0], s, p, 1, C);
        y = os_bn_forward(&op->bn[0], os_conv2d(y, op->w[1], NULL, 1, 0, 1, 1), ctx);
        y = os_relu_conv2d(y, op->w[2], NULL, 1, p, 1, C);
        return os_bn_forward(&op->bn[1], os_conv2d(y, op->w[3], NULL, 1, 0, 1, 1), ctx);
    }
    case DARTS_DIL3:
    case DARTS_DIL5: {
        int p = op->kind == DARTS_DIL3 ? 2 : 4;
        os_tensor *y = conv_of_relu(x, xr, op->w[0], s, p, 2, C);
        return os_bn_forward(&op->bn[0], os_conv2d(y, op->w[1], NULL, 1, 0, 1, 1), ctx);
    }
    }
    os_fatal("darts op: unknown kind %d", op->kind);
}
