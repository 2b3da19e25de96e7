"""The DARTS search network in PyTorch, run ONE op per edge (single-path
forwards), for bench/torch_gdas_step.py and bench/torch_spos_step.py.

The same network as ../shared/bench/torch_darts_step.py (quark0/darts
model_search.py; oneshot's supernet/spaces/cifar_cell.c): stem 3x3 conv to
3C with an affine BN, `cells` cells (reductions at cells/3 and 2*cells/3),
4 nodes, 14 edges of 8 candidate ops, non-affine BNs in the cells, concat of
the 4 nodes, global average pool, linear.

Unlike the DARTS yardstick's MixedOp (every candidate, softmax-weighted), an
edge here runs only the candidate it is given, as oneshot's
os_layer_choice_forward (supernet/net.c) does when a choice has one active
candidate: the output times that candidate's weight when there are weights
(GDAS's straight-through one-hot), the bare output when there are none
(SPOS). Every node sums its terms from its earlier states; an edge whose op
is `none` adds zero and is left out of the sum, as the cifar_cell supernet
does (os_layer_choice_is_zero), unless it is the node's only term.
"""
import torch, torch.nn as nn, torch.nn.functional as F

PRIMS = ['none', 'max_pool_3x3', 'avg_pool_3x3', 'skip_connect',
         'sep_conv_3x3', 'sep_conv_5x5', 'dil_conv_3x3', 'dil_conv_5x5']
STEPS = 4                                      # nodes per cell
EDGES = sum(2 + i for i in range(STEPS))       # 14


class ReLUConvBN(nn.Sequential):
    def __init__(s, ci, co, k, st, p, affine=False):
        super().__init__(nn.ReLU(), nn.Conv2d(ci, co, k, st, p, bias=False), nn.BatchNorm2d(co, affine=affine))


class DilConv(nn.Sequential):
    def __init__(s, ci, co, k, st, p, d, affine=False):
        super().__init__(nn.ReLU(), nn.Conv2d(ci, ci, k, st, p, dilation=d, groups=ci, bias=False),
                         nn.Conv2d(ci, co, 1, bias=False), nn.BatchNorm2d(co, affine=affine))


class SepConv(nn.Sequential):
    def __init__(s, ci, co, k, st, p, affine=False):
        super().__init__(DilConv(ci, ci, k, st, p, 1, affine), DilConv(ci, co, k, 1, p, 1, affine))


class Zero(nn.Module):
    """zeros [N, C, ceil(H/s), ceil(W/s)], no autograd node (oneshot's os_zero)"""
    def __init__(s, st): super().__init__(); s.st = st
    def forward(s, x):
        n, c, h, w = x.shape
        return x.new_zeros(n, c, (h + s.st - 1) // s.st, (w + s.st - 1) // s.st)


class FactorizedReduce(nn.Module):
    def __init__(s, ci, co, affine=False):
        super().__init__()
        s.c1 = nn.Conv2d(ci, co // 2, 1, 2, bias=False); s.c2 = nn.Conv2d(ci, co // 2, 1, 2, bias=False)
        s.bn = nn.BatchNorm2d(co, affine=affine)
    def forward(s, x):
        x = F.relu(x)
        return s.bn(torch.cat([s.c1(x), s.c2(x[:, :, 1:, 1:])], 1))


def make_op(p, C, st):
    if p == 'none': return Zero(st)
    if p == 'max_pool_3x3': return nn.Sequential(nn.MaxPool2d(3, st, 1), nn.BatchNorm2d(C, affine=False))
    if p == 'avg_pool_3x3': return nn.Sequential(nn.AvgPool2d(3, st, 1, count_include_pad=False), nn.BatchNorm2d(C, affine=False))
    if p == 'skip_connect': return nn.Identity() if st == 1 else FactorizedReduce(C, C)
    if p == 'sep_conv_3x3': return SepConv(C, C, 3, st, 1)
    if p == 'sep_conv_5x5': return SepConv(C, C, 5, st, 2)
    if p == 'dil_conv_3x3': return DilConv(C, C, 3, st, 2, 2)
    if p == 'dil_conv_5x5': return DilConv(C, C, 5, st, 4, 2)


class Cell(nn.Module):
    def __init__(s, cpp, cp, C, red, red_prev):
        super().__init__()
        s.red = red
        s.pre0 = FactorizedReduce(cpp, C) if red_prev else ReLUConvBN(cpp, C, 1, 1, 0)
        s.pre1 = ReLUConvBN(cp, C, 1, 1, 0)
        s.edges = nn.ModuleList(nn.ModuleList(make_op(p, C, 2 if red and j < 2 else 1) for p in PRIMS)
                                for i in range(STEPS) for j in range(2 + i))

    def forward(s, s0, s1, pick, w):
        """pick[e]: the op edge e runs; w: None or [EDGES, 8] weights (the
        edge's output is scaled by w[e, pick[e]])"""
        st = [s.pre0(s0), s.pre1(s1)]; e = 0
        for i in range(STEPS):
            terms = []
            for k, x in enumerate(st):
                if PRIMS[pick[e]] == 'none' and (terms or k < len(st) - 1):
                    e += 1; continue  # adds zero
                y = s.edges[e][pick[e]](x)
                if w is not None:
                    y = y * w[e, pick[e]]
                terms.append(y); e += 1
            h = terms[0]
            for t in terms[1:]:
                h = h + t
            st.append(h)
        return torch.cat(st[2:], 1)


class Network(nn.Module):
    """alphas an / ar [14, 8] (normal / reduction), shared by all cells of a
    type, as oneshot's choices "normal/edge_N_J" / "reduce/edge_N_J"."""
    def __init__(s, C=16, ncls=10, layers=8, stem=3, cin=3):
        super().__init__()
        cc = stem * C
        s.stem = nn.Sequential(nn.Conv2d(cin, cc, 3, padding=1, bias=False), nn.BatchNorm2d(cc))
        cpp, cp, cc = cc, cc, C; s.cells = nn.ModuleList(); rp = False
        for i in range(layers):
            red = i in (layers // 3, 2 * layers // 3)
            if red: cc *= 2
            s.cells.append(Cell(cpp, cp, cc, red, rp)); rp = red
            cpp, cp = cp, STEPS * cc
        s.gap = nn.AdaptiveAvgPool2d(1); s.fc = nn.Linear(cp, ncls)
        s.an = nn.Parameter(1e-3 * torch.randn(EDGES, len(PRIMS)))
        s.ar = nn.Parameter(1e-3 * torch.randn(EDGES, len(PRIMS)))

    def weights(s):
        return [p for n, p in s.named_parameters() if n not in ('an', 'ar')]

    def forward(s, x, pick_n, pick_r, w_n=None, w_r=None):
        s0 = s1 = s.stem(x)
        for c in s.cells:
            s0, s1 = s1, c(s0, s1, pick_r if c.red else pick_n, w_r if c.red else w_n)
        return s.fc(s.gap(s1).flatten(1))


def zero_grads(params):
    """a zero gradient on every parameter now: oneshot's optimizers step the
    whole group every time (a candidate not run gets gradient 0, so weight
    decay and momentum still move it), and PyTorch's SGD/Adam skip a
    parameter whose .grad is None; zero_grad(set_to_none=False) then keeps
    them all."""
    for p in params:
        p.grad = torch.zeros_like(p)


def bench_args(extra=None):
    import argparse
    ap = argparse.ArgumentParser()
    for k, v in dict(batch=64, cells=8, C=16, size=32, cin=3, steps=3, warmup=1, threads=2, seed=1).items():
        ap.add_argument('--' + k, type=int, default=v)
    for k, v in (extra or {}).items():
        ap.add_argument('--' + k, type=type(v), default=v)
    return ap.parse_args()


def run_bench(a, strategy, step):
    """warmup + timed steps; the output format of torch_darts_step.py"""
    import time, resource
    for _ in range(a.warmup): step()
    secs = []
    for _ in range(a.steps):
        t = time.perf_counter(); l = step(); secs.append(time.perf_counter() - t)
    dt = sum(secs) / len(secs)
    print(f'torch {torch.__version__} threads={a.threads} batch={a.batch} cells={a.cells} C={a.C} size={a.size} strategy={strategy}')
    print('step_secs ' + ' '.join(f'{s:.4f}' for s in secs))
    print(f'sec_per_search_step {dt:.4f}  images_per_sec {a.batch / dt:.1f}  loss {l:.4f}  peak_rss_mb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}')
