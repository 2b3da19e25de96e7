/* search/step.h — the pieces every training step is made of: a batch, the
 * loss of a forward pass, one weight step, one evaluation batch. */
#ifndef OS_STEP_H
#define OS_STEP_H

#include <stdint.h>
#include "supernet/supernet.h"
#include "autograd/optim.h"

typedef struct os_batch {
    const float *x;      /* n images, NCHW, the net's input shape */
    const int32_t *y;    /* n labels */
    int n;
    /* A staged batch (search/stage.h) also has them on the net's device:
     * xd [n, C, H, W] and yd (device int32 [n], in [0, classes)), used
     * instead of copying x and y at each use. NULL (a batch made of host
     * buffers only): x and y are copied to the device where used. */
    os_tensor *xd;
    const int32_t *yd;
} os_batch;

typedef struct os_step_result {
    float loss;          /* mean cross-entropy of the batch (not finite: the step was not taken) */
    int correct;         /* correct top-1 predictions */
} os_step_result;

/* The batch as a tensor [n, C, H, W] on the net's device: xd when staged,
 * else a step tensor copied from x. */
os_tensor *os_batch_tensor(const os_net *net, const os_batch *b);
/* forward + cross-entropy (+ aux_weight * the auxiliary head's); counts
 * correct predictions into *correct when given; records on the tape when
 * grad mode is on. */
os_tensor *os_forward_loss(os_net *net, const os_batch *b, const os_forward_ctx *ctx, float aux_weight,
                           float smoothing, int *correct);
/* The same with the count kept on the device: count [1] += correct
 * predictions (count NULL: not counted). No host read. */
os_tensor *os_forward_loss_dev(os_net *net, const os_batch *b, const os_forward_ctx *ctx, float aux_weight,
                               float smoothing, os_tensor *count);
/* One SGD step of the weights on b; the architecture parameters get no
 * gradient. A non-finite loss leaves the weights as they were. One host read
 * (loss and correct count together, 8 bytes); clipping stays on the device. */
os_step_result os_weight_step(os_net *net, os_optim *wopt, const os_batch *b, const os_forward_ctx *ctx,
                              float aux_weight, float smoothing, float grad_clip);
/* Loss and accuracy without gradients (BN in eval mode unless ctx->training). */
os_step_result os_eval_batch(os_net *net, const os_batch *b, const os_forward_ctx *ctx);

#endif
