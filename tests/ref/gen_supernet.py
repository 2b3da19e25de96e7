#!/usr/bin/python3
"""tests/ref/gen_supernet.py: PyTorch reference for tests/test_supernet_parity.c.

Run from tests/ref (`make ref`) with the Debian torch 1.13 CPU build:
    /usr/bin/python3 gen_supernet.py
Writes fixtures/supernet_darts.safetensors: the DARTS search network
(REFERENCE.md section 2; the same structure as shared/bench/torch_darts_step.py)
configured tiny -- 3 cells (reductions at cells 1 and 2), C = 4, stem x3,
input 3x8x8, 10 classes, batch 2 -- with
  - every weight and alpha under the C implementation's names
    (supernet/spaces/cifar_cell.c, supernet/darts_ops.c), the two batches
    x_train, y_train, x_val, y_val (labels I32);
  - loss_train and grad/<weight>: d loss_train / d w;
  - alpha_grad1/<label>: first-order d L_val / d alpha;
  - alpha_grad2/<label>: the second-order approximation of quark0/darts
    architect.py (_backward_step_unrolled) with a fresh SGD optimizer
    (no momentum buffer), xi = 0.025, weight decay 3e-4, r = 0.01;
  - alpha_grad2_mom/<label>: the same at the same weights for an optimizer
    that has taken a step: its momentum buffers hold the stored grad/<weight>
    values (float32, as the C test loads them), and weight decay 0.1, so the
    momentum and weight-decay terms of the virtual step matter (at 3e-4 the
    decay term moves alpha_grad2 by 0.5% of the test's tolerance only).
    (Not a real SGD step: after one, float32 and float64 PyTorch disagree by
    more than the gradients themselves at this tiny batch -- BN on 8 values.)
All BNs use batch statistics (training mode). The references are computed in
float64 and stored as float32; the script also runs the same computation in
float32 and prints how far float32 PyTorch lands from the float64 values under
the test's tolerance rule (the noise floor a float32 implementation can be
held to).
Seeds are fixed: running it again rewrites an identical file.
The safetensors file is written by st_write.py (torch and its numpy only).
"""
import copy
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from st_write import write_safetensors

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
PRIMS = ['none', 'max_pool_3x3', 'avg_pool_3x3', 'skip_connect',
         'sep_conv_3x3', 'sep_conv_5x5', 'dil_conv_3x3', 'dil_conv_5x5']
CELLS, C, STEM, IN_C, HW, CLASSES, BATCH = 3, 4, 3, 3, 8, 10, 2
XI, MOMENTUM, WD, R = 0.025, 0.9, 3e-4, 0.01
WD_MOM = 0.1  # the alpha_grad2_mom case
torch.set_num_threads(1)


# ---- the search network; attribute names give the C names ----------------------
class ReLUConvBN(nn.Module):
    """ReLU, conv (no bias), BN: parts "conv", "bn"."""

    def __init__(s, ci, co, k, st, p):
        super().__init__()
        s.conv = nn.Conv2d(ci, co, k, st, p, bias=False)
        s.bn = nn.BatchNorm2d(co, affine=False)

    def forward(s, x):
        return s.bn(s.conv(F.relu(x)))


class DilConv(nn.Module):
    """ReLU, depthwise conv (dilation 2), 1x1 conv, BN: parts "dw", "pw", "bn"."""

    def __init__(s, C_, k, st, p, d):
        super().__init__()
        s.dw = nn.Conv2d(C_, C_, k, st, p, dilation=d, groups=C_, bias=False)
        s.pw = nn.Conv2d(C_, C_, 1, bias=False)
        s.bn = nn.BatchNorm2d(C_, affine=False)

    def forward(s, x):
        return s.bn(s.pw(s.dw(F.relu(x))))


class SepConv(nn.Module):
    """Two (ReLU, depthwise, 1x1, BN) blocks, the first with the stride:
    parts "dw1", "pw1", "bn1", "dw2", "pw2", "bn2"."""

    def __init__(s, C_, k, st, p):
        super().__init__()
        s.dw1 = nn.Conv2d(C_, C_, k, st, p, groups=C_, bias=False)
        s.pw1 = nn.Conv2d(C_, C_, 1, bias=False)
        s.bn1 = nn.BatchNorm2d(C_, affine=False)
        s.dw2 = nn.Conv2d(C_, C_, k, 1, p, groups=C_, bias=False)
        s.pw2 = nn.Conv2d(C_, C_, 1, bias=False)
        s.bn2 = nn.BatchNorm2d(C_, affine=False)

    def forward(s, x):
        y = s.bn1(s.pw1(s.dw1(F.relu(x))))
        return s.bn2(s.pw2(s.dw2(F.relu(y))))


class FactorizedReduce(nn.Module):
    """ReLU, two 1x1 stride-2 convs (the second on x[:, :, 1:, 1:]), concat, BN:
    parts "conv1", "conv2", "bn"."""

    def __init__(s, ci, co):
        super().__init__()
        s.conv1 = nn.Conv2d(ci, co // 2, 1, 2, bias=False)
        s.conv2 = nn.Conv2d(ci, co // 2, 1, 2, bias=False)
        s.bn = nn.BatchNorm2d(co, affine=False)

    def forward(s, x):
        x = F.relu(x)
        return s.bn(torch.cat([s.conv1(x), s.conv2(x[:, :, 1:, 1:])], 1))


class Zero(nn.Module):
    def __init__(s, st):
        super().__init__()
        s.st = st

    def forward(s, x):
        return x[:, :, ::s.st, ::s.st].mul(0.)


class PoolBN(nn.Module):
    """Search-time pool followed by an affine-free BN: part "bn"."""

    def __init__(s, kind, C_, st):
        super().__init__()
        s.kind, s.st = kind, st
        s.bn = nn.BatchNorm2d(C_, affine=False)

    def forward(s, x):
        if s.kind == 'max':
            y = F.max_pool2d(x, 3, s.st, 1)
        else:
            y = F.avg_pool2d(x, 3, s.st, 1, count_include_pad=False)
        return s.bn(y)


def make_op(p, C_, st):
    if p == 'none':
        return Zero(st)
    if p == 'max_pool_3x3':
        return PoolBN('max', C_, st)
    if p == 'avg_pool_3x3':
        return PoolBN('avg', C_, st)
    if p == 'skip_connect':
        return nn.Identity() if st == 1 else FactorizedReduce(C_, C_)
    if p == 'sep_conv_3x3':
        return SepConv(C_, 3, st, 1)
    if p == 'sep_conv_5x5':
        return SepConv(C_, 5, st, 2)
    if p == 'dil_conv_3x3':
        return DilConv(C_, 3, st, 2, 2)
    if p == 'dil_conv_5x5':
        return DilConv(C_, 5, st, 4, 2)
    raise ValueError(p)


EDGES = [(n, j) for n in range(2, 6) for j in range(n)]  # alpha row order


class Cell(nn.Module):
    def __init__(s, cpp, cp, C_, red, red_prev):
        super().__init__()
        s.red = red
        s.pre0 = FactorizedReduce(cpp, C_) if red_prev else ReLUConvBN(cpp, C_, 1, 1, 0)
        s.pre1 = ReLUConvBN(cp, C_, 1, 1, 0)
        # "e<n>_<j>" -> the 8 candidate ops, index k = position in PRIMS
        s.edges = nn.ModuleDict()
        for n, j in EDGES:
            st = 2 if red and j < 2 else 1
            s.edges["e%d_%d" % (n, j)] = nn.ModuleList(make_op(p, C_, st) for p in PRIMS)

    def forward(s, s0, s1, W):
        st = [s.pre0(s0), s.pre1(s1)]
        for n in range(2, 6):
            terms = []
            for j in range(n):
                w = W[EDGES.index((n, j))]
                ops = s.edges["e%d_%d" % (n, j)]
                terms.append(sum(wk * op(st[j]) for wk, op in zip(w, ops)))
            st.append(sum(terms))
        return torch.cat(st[2:], 1)


class Network(nn.Module):
    def __init__(s):
        super().__init__()
        cc = STEM * C
        s.stem = nn.Module()
        s.stem.conv = nn.Conv2d(IN_C, cc, 3, padding=1, bias=False)
        s.stem.bn = nn.BatchNorm2d(cc)  # affine
        cpp, cp, cc = cc, cc, C
        s.cells = nn.ModuleList()
        red_prev = False
        for i in range(CELLS):
            red = i in (CELLS // 3, 2 * CELLS // 3)
            if red:
                cc *= 2
            s.cells.append(Cell(cpp, cp, cc, red, red_prev))
            red_prev = red
            cpp, cp = cp, 4 * cc
        s.classifier = nn.Linear(cp, CLASSES)
        s.alpha_normal = nn.Parameter(torch.zeros(len(EDGES), len(PRIMS)))
        s.alpha_reduce = nn.Parameter(torch.zeros(len(EDGES), len(PRIMS)))

    def forward(s, x):
        s0 = s1 = s.stem.bn(s.stem.conv(x))
        for c in s.cells:
            W = F.softmax(s.alpha_reduce if c.red else s.alpha_normal, -1)
            s0, s1 = s1, c(s0, s1, W)
        return s.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))


def c_name(net, torch_name):
    """The C parameter name of a torch weight: conv weights drop ".weight",
    ".edges.e2_0." becomes ".e2_0.", and the stem's BN keeps .weight/.bias."""
    mod_name, _, leaf = torch_name.rpartition(".")
    mod = net.get_submodule(mod_name)
    name = mod_name if isinstance(mod, nn.Conv2d) else torch_name
    return name.replace(".edges.", ".")


def weights_of(net):
    """(C name, parameter) for every trainable weight, alphas excluded."""
    return [(c_name(net, n), p) for n, p in net.named_parameters() if not n.startswith("alpha_")]


def alphas_of(net):
    """(label, alpha row) for every choice; rows are views of the two matrices."""
    out = []
    for typ, a in (("normal", net.alpha_normal), ("reduce", net.alpha_reduce)):
        for r, (n, j) in enumerate(EDGES):
            out.append(("%s/edge_%d_%d" % (typ, n, j), a, r))
    return out


# ---- the reference computation -----------------------------------------------------
def build():
    torch.manual_seed(0)
    net = Network()
    with torch.no_grad():
        net.alpha_normal.copy_(0.5 * torch.randn(len(EDGES), len(PRIMS)))
        net.alpha_reduce.copy_(0.5 * torch.randn(len(EDGES), len(PRIMS)))
        net.stem.bn.weight.copy_(1.0 + 0.2 * torch.randn(STEM * C))
        net.stem.bn.bias.copy_(0.2 * torch.randn(STEM * C))
    data = {
        "x_train": torch.randn(BATCH, IN_C, HW, HW),
        "y_train": torch.randint(0, CLASSES, (BATCH,)),
        "x_val": torch.randn(BATCH, IN_C, HW, HW),
        "y_val": torch.randint(0, CLASSES, (BATCH,)),
    }
    return net, data


def batches(data, dtype):
    return (data["x_train"].to(dtype), data["y_train"]), (data["x_val"].to(dtype), data["y_val"])


def grads(net, batch, wrt):
    loss = F.cross_entropy(net(batch[0]), batch[1])
    return loss, torch.autograd.grad(loss, wrt)


def second_order(net, train, val, wd, bufs=None):
    """architect.py's unrolled gradient, in place on net's weights (restored):
    w' = w - xi * (momentum * buf + dL_train/dw + wd * w), buf the weight
    optimizer's momentum buffer (none before its first step: bufs None);
    v = dL_val(w')/dw';
    grad = dL_val(w')/dalpha - xi * (dL_train(w+)/dalpha - dL_train(w-)/dalpha) / (2 eps),
    w+- = w +- eps * v, eps = r / ||v||. Returns (grad, the finite-difference term)."""
    W = [p for _, p in weights_of(net)]
    A = [net.alpha_normal, net.alpha_reduce]
    _, gw = grads(net, train, W)
    w0 = [p.detach().clone() for p in W]
    with torch.no_grad():
        for i, (p, g) in enumerate(zip(W, gw)):
            moment = MOMENTUM * bufs[i] if bufs is not None else torch.zeros_like(p)
            p.sub_(XI * (moment + g + wd * p))
    _, g = grads(net, val, A + W)
    dalpha, v = g[:len(A)], g[len(A):]
    eps = R / torch.cat([t.reshape(-1) for t in v]).norm()
    hv = []
    for sign in (1, -1):
        with torch.no_grad():
            for p, p0, vi in zip(W, w0, v):
                p.copy_(p0 + sign * eps * vi)
        hv.append(grads(net, train, A)[1])
    with torch.no_grad():
        for p, p0 in zip(W, w0):
            p.copy_(p0)
    hterm = [XI * (gp - gn) / (2 * eps) for gp, gn in zip(hv[0], hv[1])]
    return [da - h for da, h in zip(dalpha, hterm)], hterm


def compute(net, data, dtype, bufs=None):
    """Loss, weight grads, first- and second-order alpha grads in dtype, and
    with bufs (float32 momentum buffers) the second-order grad once more with
    those buffers and weight decay WD_MOM. The weights are left as they were."""
    net = net.to(dtype)
    net.train()
    train, val = batches(data, dtype)
    W = [p for _, p in weights_of(net)]
    A = [net.alpha_normal, net.alpha_reduce]
    res = {}
    loss, gw = grads(net, train, W)
    res["loss_train"] = loss.detach().reshape(1)
    res["grad"] = [g.detach().clone() for g in gw]
    res["alpha_grad1"] = list(grads(net, val, A)[1])
    res["alpha_grad2"], res["hterm"] = second_order(net, train, val, WD)
    if bufs is not None:
        res["alpha_grad2_mom"], _ = second_order(net, train, val, WD_MOM, [b.to(dtype) for b in bufs])
    return res


def float32_noise(f32, ref):
    """How far float32 PyTorch lands from the float64 values under the rule of
    test_supernet_parity.c (|d| <= 1e-3 * max|ref| + 1e-3 * |ref| per tensor):
    the worst fraction of that allowance used, and the relative L2 error over
    the whole group."""
    worst, d2, r2 = 0.0, 0.0, 0.0
    for x, y in zip(f32, ref):
        x, y = x.double(), y.double()
        tol = 1e-3 * y.abs().max() + 1e-3 * y.abs()
        worst = max(worst, ((x - y).abs() / tol).max().item())
        d2 += ((x - y) ** 2).sum().item()
        r2 += (y ** 2).sum().item()
    return worst, (d2 / r2) ** 0.5


def main():
    net, data = build()
    # the stored weights: float32 values, so both sides start from the same numbers
    names = [n for n, _ in weights_of(net)]
    assert len(set(names)) == len(names)
    t = {}
    for n, p in weights_of(net):
        t[n] = p.detach().clone()
    for label, a, r in alphas_of(net):
        t[label] = a.detach()[r].clone()
    t.update(data)

    grads32 = compute(copy.deepcopy(net), data, torch.float64)["grad"]
    bufs = [g.to(torch.float32) for g in grads32]
    ref = compute(net, data, torch.float64, bufs)
    f32 = compute(net, data, torch.float32, bufs)
    t["loss_train"] = ref["loss_train"]
    for n, g in zip(names, ref["grad"]):
        t["grad/" + n] = g
    for key in ("alpha_grad1", "alpha_grad2", "alpha_grad2_mom"):
        for label, a, r in alphas_of(net):
            t["%s/%s" % (key, label)] = ref[key][0 if label.startswith("normal") else 1][r]

    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "supernet_darts.safetensors")
    write_safetensors(path, t, dict(cells=CELLS, channels=C, in_c=IN_C, in_h=HW, in_w=HW,
                                    classes=CLASSES, batch=BATCH, xi=XI, momentum=MOMENTUM,
                                    weight_decay=WD, r=R, mom_weight_decay=WD_MOM,
                                    dtype="float64 reference stored as float32"))
    nw = sum(p.numel() for _, p in weights_of(net))
    print("gen_supernet: %d weight tensors (%d floats), %d alphas, loss_train %.6f, %d bytes in %s"
          % (len(names), nw, len(alphas_of(net)), ref["loss_train"].item(), os.path.getsize(path), path))
    print("float32 PyTorch against the float64 reference: loss |diff| %.2g" %
          abs(f32["loss_train"].item() - ref["loss_train"].item()))
    for key in ("grad", "alpha_grad1", "alpha_grad2", "hterm", "alpha_grad2_mom"):
        print("  %-16s worst %.3g of the test's allowance, relative L2 error %.3g"
              % ((key,) + float32_noise(f32[key], ref[key])))

if __name__ == "__main__":
    main()
