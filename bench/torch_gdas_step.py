#!/usr/bin/env python3
"""Reference timing: one GDAS search step of the DARTS search network in
PyTorch eager mode on the CPU (the yardstick for oneshot's `gdas` strategy).

Network: the DARTS search model of ../shared/bench/torch_darts_step.py
(8 cells, C=16, 4 nodes, 8 primitives, stem x3, non-affine BN in the cells;
bench/torch_search_net.py), alphas [14, 8] per cell type shared by its cells.

One step, as search/gdas.c gdas_step (hard, the default) does it:
  1. architecture step on the validation batch: the weights stop requiring
     grad; one Gumbel sample per edge and cell type, soft = softmax((alpha + g)
     / tau), g = -log(-log u); the argmax op alone runs on each edge, its output
     times the straight-through weight onehot - soft.detach() + soft (value 1,
     gradient of soft); every node sums its edges from all earlier states (no
     input choices: the cifar_cell supernet has none); one forward, one
     backward (to the alphas only); Adam on the alphas (lr 3e-4, betas
     (0.5, 0.999), eps 1e-8, coupled weight decay 1e-3: OS_ALPHA_OPTIONS in
     search/strategy.h, os_alpha_adam in search/alpha.c);
  2. weight step on the training batch (search/step.c os_weight_step): the
     alphas stop requiring grad; a NEW Gumbel sample (oneshot's chooser runs
     on every forward, supernet/net.c os_net_begin_forward); one forward, one
     backward; grad-norm clip 5 over all weights; SGD lr 0.025, momentum 0.9,
     weight decay 3e-4 (api/run.c defaults) stepping every weight (the
     candidates not sampled with gradient 0, as oneshot's optimizer does).
So 2 forwards and 2 backwards a step, one op per edge in each, like oneshot.
tau is fixed (--tau, default 10 = oneshot's --tau-max, the first epoch's);
it changes which ops are drawn, not the work per op. The ops drawn differ
from step to step (and from oneshot's, which draws with its own RNG), so
compare averages over several steps; `step_secs` lists each timed step.

usage: torch_gdas_step.py [--batch 64] [--cells 8] [--C 16] [--size 32] [--cin 3]
                          [--steps 3] [--warmup 1] [--threads 2] [--seed 1] [--tau 10]
"""
import torch, torch.nn as nn, torch.nn.functional as F
from torch_search_net import Network, zero_grads, bench_args, run_bench


def gumbel_hard(alpha, tau):
    """GDAS's hard sample of every row of alpha: (argmax per row, straight-through weights)"""
    u = torch.rand_like(alpha).clamp_min(1e-10)
    g = -torch.log(-torch.log(u) + 1e-20)
    soft = F.softmax((alpha + g) / tau, -1)
    idx = soft.argmax(-1)
    hard = F.one_hot(idx, alpha.shape[-1]).to(soft) - soft.detach() + soft
    return idx.tolist(), hard


if __name__ == '__main__':
    a = bench_args(dict(tau=10.0))
    torch.set_num_threads(a.threads); torch.manual_seed(a.seed)
    net = Network(C=a.C, layers=a.cells, cin=a.cin)
    wp, A = net.weights(), [net.an, net.ar]
    opt = torch.optim.SGD(wp, 0.025, momentum=0.9, weight_decay=3e-4)
    aopt = torch.optim.Adam(A, 3e-4, betas=(0.5, 0.999), eps=1e-8, weight_decay=1e-3)
    zero_grads(wp + A)
    x = torch.randn(a.batch, a.cin, a.size, a.size); y = torch.randint(0, 10, (a.batch,))
    xv = torch.randn(a.batch, a.cin, a.size, a.size); yv = torch.randint(0, 10, (a.batch,))

    def forward(xb):
        pn, wn = gumbel_hard(net.an, a.tau)
        pr, wr = gumbel_hard(net.ar, a.tau)
        return net(xb, pn, pr, wn, wr)

    def step():
        # 1. first-order architecture step on the validation batch
        for p in wp: p.requires_grad_(False)
        aopt.zero_grad(set_to_none=False)
        F.cross_entropy(forward(xv), yv).backward()
        for p in wp: p.requires_grad_(True)
        aopt.step()
        # 2. weight step on the training batch
        for p in A: p.requires_grad_(False)
        opt.zero_grad(set_to_none=False)
        l = F.cross_entropy(forward(x), y); l.backward()
        nn.utils.clip_grad_norm_(wp, 5.); opt.step()
        for p in A: p.requires_grad_(True)
        return l.item()

    run_bench(a, 'gdas', step)
