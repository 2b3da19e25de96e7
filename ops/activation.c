/* ops/activation.c — relu, relu6, sigmoid, tanh.
 * y = f(x), same shape; the backward uses the saved output y:
 *   relu'  = 1 where y > 0 (0 at x = 0, as PyTorch)
 *   relu6' = 1 where 0 < y < 6 (0 at 0 and at 6)
 *   sigmoid' = y (1 - y),  tanh' = 1 - y^2 */
#include "ops/ops.h"
#include "ops/count.h"
#include "ops/op_util.h"
#include "autograd/autograd.h"
#include "tensor/backend.h"

static void unary_backward(os_node *n)
{
    os_tensor *g = os_grad_acc(n->in[0]);
    if (g)
        OS_RUN(UNARY_BWD, n->params, g, n->out->grad, n->saved[0], n->out);
}

static os_tensor *unary(const char *op, os_unary_kind kind, os_tensor *x)
{
    if (!x)
        os_fatal("%s: input is NULL", op);
    os_count_op(0, 1, &x);
    os_unary_params p = {.kind = kind};
    os_tensor *xc = os_op_contig(x);
    os_tensor *y = os_tensor_like(x);
    os_node *n = os_tape_record(op, unary_backward, y, 1, &x, &p, sizeof p);
    if (n)
        n->saved[0] = xc;
    OS_RUN(UNARY_FWD, &p, y, xc);
    return y;
}

os_tensor *os_relu(os_tensor *x) { return unary("relu", OS_RELU, x); }
os_tensor *os_relu6(os_tensor *x) { return unary("relu6", OS_RELU6, x); }
os_tensor *os_sigmoid(os_tensor *x) { return unary("sigmoid", OS_SIGMOID, x); }
os_tensor *os_tanh(os_tensor *x) { return unary("tanh", OS_TANH, x); }
