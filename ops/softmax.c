/* ops/softmax.c — softmax, log_softmax over any dim, and cross-entropy.
 *   softmax(x, dim): x seen as [outer, D, inner] with D = shape[dim]
 *     (dim < 0 counts from the end); both save their output y for the backward.
 *   cross_entropy(logits [N,K], labels[N], s): mean over rows of
 *     -sum_k t_k log softmax(logits)_k with t = (1-s) onehot(label) + s/K
 *     (PyTorch label_smoothing); saves the probabilities, so the backward is
 *     dlogits += dloss * (probs - t) / N. */
#include "ops/ops.h"
#include "ops/count.h"
#include "ops/op_util.h"
#include "autograd/autograd.h"
#include "tensor/arena.h"
#include "tensor/backend.h"

#include <string.h>

static void softmax_backward(os_node *n)
{
    os_tensor *g = os_grad_acc(n->in[0]);
    if (g)
        OS_RUN(SOFTMAX_BWD, n->params, g, n->out->grad, n->out);
}

static os_tensor *softmax_op(const char *op, os_tensor *x, int dim, int log)
{
    if (!x)
        os_fatal("%s: x is NULL", op);
    int d = dim < 0 ? dim + x->ndim : dim;
    if (d < 0 || d >= x->ndim)
        os_fatal("%s: dim %d out of range for x %s", op, dim, os_shape_str(x));
    os_count_op(0, 1, &x);
    os_softmax_params p = {.outer = 1, .dim = x->shape[d], .inner = 1, .log = log};
    for (int i = 0; i < d; i++)
        p.outer *= x->shape[i];
    for (int i = d + 1; i < x->ndim; i++)
        p.inner *= x->shape[i];
    os_tensor *y = os_tensor_like(x);
    os_tape_record(op, softmax_backward, y, 1, &x, &p, sizeof p);
    OS_RUN(SOFTMAX_FWD, &p, y, os_op_contig(x));
    return y;
}

os_tensor *os_softmax(os_tensor *x, int dim) { return softmax_op("softmax", x, dim, 0); }
os_tensor *os_log_softmax(os_tensor *x, int dim) { return softmax_op("log_softmax", x, dim, 1); }

static void xent_backward(os_node *n)
{
    os_tensor *g = os_grad_acc(n->in[0]);
    if (g)
        OS_RUN(XENT_BWD, n->params, g, n->out->grad, n->saved[0]);
}

/* logits [N,K] checked; labels: host (copied to the device after the range check) or device */
static os_tensor *xent_op(os_tensor *logits, const int32_t *labels, bool on_device, float smoothing)
{
    const char *name = on_device ? "cross_entropy_dev" : "cross_entropy";
    if (!logits || logits->ndim != 2)
        os_fatal("%s: logits %s must be [N,K]", name, os_shape_str(logits));
    int N = logits->shape[0], K = logits->shape[1];
    if (K < 1)
        os_fatal("%s: logits %s has no classes", name, os_shape_str(logits));
    if (N > 0 && !labels)
        os_fatal("%s: labels are NULL (logits %s)", name, os_shape_str(logits));
    if (!(smoothing >= 0.0f && smoothing <= 1.0f))
        os_fatal("%s: smoothing %g outside [0, 1] (logits %s)", name, (double)smoothing, os_shape_str(logits));
    if (!on_device)
        for (int i = 0; i < N; i++)
            if (labels[i] < 0 || labels[i] >= K)
                os_fatal("cross_entropy: label %d at index %d out of range [0, K = %d) (logits %s)",
                         (int)labels[i], i, K, os_shape_str(logits));
    os_count_op(0, 1, &logits);
    /* on the logits' device, for the step: the backward runs later */
    os_xent_params p = {.labels = on_device ? labels : os_int32_to_device(logits->device, N, labels), .n = N,
                        .k = K, .smoothing = smoothing};
    os_tensor *probs = os_tensor_like(logits);
    os_tensor *loss = os_tensor_new_on(logits->device, 1, (int[]){1});
    os_node *n = os_tape_record("cross_entropy", xent_backward, loss, 1, &logits, &p, sizeof p);
    if (n)
        n->saved[0] = probs;
    OS_RUN(XENT_FWD, &p, loss, os_op_contig(logits), probs);
    return loss;
}

os_tensor *os_cross_entropy(os_tensor *logits, const int32_t *labels, float smoothing)
{
    return xent_op(logits, labels, false, smoothing);
}

os_tensor *os_cross_entropy_dev(os_tensor *logits, const int32_t *dev_labels, float smoothing)
{
    return xent_op(logits, dev_labels, true, smoothing);
}

/* ---- accuracy count: no gradient, no host read ------------------------------------ */
static void acc_op(os_tensor *count, os_tensor *logits, const int32_t *labels, bool on_device)
{
    const char *name = on_device ? "accuracy_count_dev" : "accuracy_count";
    if (!logits || logits->ndim != 2)
        os_fatal("%s: logits %s must be [N,K]", name, os_shape_str(logits));
    if (!count || os_numel(count) != 1)
        os_fatal("%s: count %s must have 1 element (logits %s)", name, os_shape_str(count), os_shape_str(logits));
    int N = logits->shape[0], K = logits->shape[1];
    if (N > 0 && !labels)
        os_fatal("%s: labels are NULL (logits %s)", name, os_shape_str(logits));
    os_xent_params p = {.labels = on_device ? labels : os_int32_to_device(logits->device, N, labels), .n = N,
                        .k = K};
    OS_RUN(ACC_COUNT, &p, count, os_op_contig(logits));
}

void os_accuracy_count(os_tensor *count, os_tensor *logits, const int32_t *labels)
{
    acc_op(count, logits, labels, false);
}

void os_accuracy_count_dev(os_tensor *count, os_tensor *logits, const int32_t *dev_labels)
{
    acc_op(count, logits, dev_labels, true);
}
