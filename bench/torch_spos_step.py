#!/usr/bin/env python3
"""Reference timing: one single-path (SPOS) training step of the DARTS search
network in PyTorch eager mode on the CPU (the yardstick for oneshot's `spos`
strategy on the cifar_cell space).

Network: the DARTS search model of ../shared/bench/torch_darts_step.py
(8 cells, C=16, 4 nodes, 8 primitives, stem x3, non-affine BN in the cells;
bench/torch_search_net.py).

One step, as search/spos.c spos_step does it:
  - a fresh uniform path (search/path.c os_path_sample with the cifar_cell
    path groups of supernet/spaces/cifar_cell.c): per cell type (normal,
    reduction: all cells of a type run the same path) and per node, two of
    its incoming edges uniformly, each running an op drawn uniformly from the
    7 other than `none`; the node's other edges run `none` (a zero tensor,
    no autograd node) and the node sums all its edges' outputs, as oneshot's
    supernet does (the zeros cost an allocation and an add each);
  - one forward, one backward of that path on the training batch, grad-norm
    clip 5 over all weights, SGD lr 0.025, momentum 0.9, weight decay 3e-4
    stepping every weight (weights off the path with gradient 0, as
    oneshot's optimizer does) (search/step.c os_weight_step). No
    architecture parameters, no validation batch.
The time of a step depends on the path (an edge running sep_conv_5x5 costs
several times one running a pooling or skip_connect), so single steps vary
and oneshot draws its paths with its own RNG: compare the averages over
several steps (`step_secs` lists each timed step), e.g. --steps 10.

usage: torch_spos_step.py [--batch 64] [--cells 8] [--C 16] [--size 32] [--cin 3]
                          [--steps 3] [--warmup 1] [--threads 2] [--seed 1]
"""
import random
import torch, torch.nn as nn, torch.nn.functional as F
from torch_search_net import PRIMS, STEPS, Network, zero_grads, bench_args, run_bench


def sample_path(rng):
    """one cell type's path: the op per edge (0 = none), edges in node order"""
    pick = []
    for i in range(STEPS):
        kept = rng.sample(range(2 + i), 2)
        pick += [rng.randrange(1, len(PRIMS)) if j in kept else 0 for j in range(2 + i)]
    return pick


if __name__ == '__main__':
    a = bench_args()
    torch.set_num_threads(a.threads); torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    net = Network(C=a.C, layers=a.cells, cin=a.cin)
    wp = net.weights()
    opt = torch.optim.SGD(wp, 0.025, momentum=0.9, weight_decay=3e-4)
    zero_grads(wp)
    net.an.requires_grad_(False); net.ar.requires_grad_(False)   # unused
    x = torch.randn(a.batch, a.cin, a.size, a.size); y = torch.randint(0, 10, (a.batch,))

    def step():
        opt.zero_grad(set_to_none=False)
        l = F.cross_entropy(net(x, sample_path(rng), sample_path(rng)), y); l.backward()
        nn.utils.clip_grad_norm_(wp, 5.); opt.step()
        return l.item()

    run_bench(a, 'spos', step)
