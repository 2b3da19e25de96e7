/* oneshot/protocol.h — `train --protocol nb201`: NAS-Bench-201's search
 * settings for a strategy (the NAS-Bench-201 paper, arXiv 2001.00326, and
 * its search code, AutoDL-Projects configs/nas-benchmark/algos/).
 *
 * Common to every strategy: nb201 at its defaults (5 cells a stage, C = 16),
 * BN without running statistics (--bn-batch-stats 1), the training set split
 * in halves (--train-portion 0.5: 25k / 25k on CIFAR-10), batch 64, crop
 * (pad 4) + flip, no cutout, SGD lr 0.025 cosine to 0.001, momentum 0.9,
 * weight decay 5e-4, grad-norm clip 5. Per strategy: epochs and the
 * strategy's own options, one row of the table in protocol.c. A flag given
 * on the command line always wins over the protocol. */
#ifndef OS_PROTOCOL_H
#define OS_PROTOCOL_H

#include "oneshot/config.h"

/* Apply c->protocol (when set) to what was not given on the command line,
 * and print what it set. 0, or -1 with os_error() (unknown protocol, a
 * space or a strategy it has no row for: a usage error). */
int os_protocol_apply(os_config *c);

#endif
