#!/usr/bin/python3
"""tests/ref/gen_proxyless.py: PyTorch reference for the proxyless strategy's
two-path architecture step (tests/test_proxyless_ref.c).

Run from tests/ref (`make ref`) with the Debian torch build:
    /usr/bin/python3 gen_proxyless.py
It reuses gen_supernet.py's tiny DARTS search network (3 cells, C = 4, input
3x8x8, 10 classes, batch 2; its weights, alphas and validation batch are in
fixtures/supernet_darts.safetensors, made by the same build() with the same
seed) and runs ONE architecture step of ProxylessNAS as mit-han-lab/proxylessnas
does it in mode "two" (MixedEdge.binarize / set_arch_param_grad /
rescale_updated_arch_param, nas_manager.gradient_step), with the sampled pair
of every choice FIXED here instead of drawn:
  - binary gates g (1 for the active candidate, 0 for the other) replace the
    softmax weights of each edge; the loss is the validation cross-entropy
    times the mul#log latency factor 0.2 * (log E / log T)^0.3, where
    E = fixed + sum over choices of sum over the pair of q_j * LAT_j,
    q = softmax of the pair's alphas (current_prob_over_ops), `none` 0 ms;
  - dL/dg by autograd; then per choice, as set_arch_param_grad does,
    alpha.grad[i] += sum_j dL/dg_j q_j (delta_ij - q_i) over the pair, on top
    of the latency term autograd already put there; a choice whose active
    candidate is `none` gets no gradient at all (grad None);
  - one Adam step (lr 1e-3, betas (0, 0.999), eps 1e-8), one parameter per
    choice, then the pair's alphas shifted so that sum exp over the pair is
    what it was.
Stored (float64 computed, float32 stored): pair/<label> (I32 [active, other]),
latency/<label> [8] and latency_fixed, gate_grad/<label> [8] (only the
pair's entries mean anything), alpha_grad/<label>, alpha_after/<label>, ce and
the metadata target, alpha, beta. Seeds are fixed: rerunning rewrites an
identical file. It also prints how far float32 PyTorch lands.
"""
import math
import os

import torch
import torch.nn.functional as F

import gen_supernet as gs
from st_write import write_safetensors

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
TARGET, A, BETA, FIXED = 4.0, 0.2, 0.3, 1.25
torch.set_num_threads(1)


def pair_of(r, typ):
    """(active, other) of alpha row r of the normal (typ 0) or reduce (1) cells:
    fixed, distinct, some with `none` (index 0) active or as the other one."""
    act = (3 * r + 5 * typ + 1) % 8
    other = (act + 1 + (r + typ) % 7) % 8
    return act, other


def latency(r, typ, j):
    return 0.0 if j == 0 else 0.05 + 0.04 * ((5 * j + 3 * r + typ) % 7)


def forward_gates(net, x, gates):
    s0 = s1 = net.stem.bn(net.stem.conv(x))
    for c in net.cells:
        s0, s1 = s1, c(s0, s1, gates[1 if c.red else 0])
    return net.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))


def step(net, data, dtype):
    net = net.to(dtype)
    net.train()
    x, y = data["x_val"].to(dtype), data["y_val"]
    rows = gs.alphas_of(net)  # (label, matrix, row)
    alphas = [torch.nn.Parameter(a.detach()[r].clone()) for _, a, r in rows]
    pairs = [pair_of(r, 0 if label.startswith("normal") else 1) for label, _, r in rows]
    gates = []
    for typ in range(2):
        g = torch.zeros(len(gs.EDGES), len(gs.PRIMS), dtype=dtype)
        for k, (label, _, r) in enumerate(rows):
            if (label.startswith("reduce")) == (typ == 1):
                g[r, pairs[k][0]] = 1.0
        gates.append(g.requires_grad_())
    for p in net.parameters():
        p.requires_grad_(False)
    ce = F.cross_entropy(forward_gates(net, x, gates), y)
    e = torch.tensor(FIXED, dtype=dtype)
    for k, (label, _, r) in enumerate(rows):
        typ = 0 if label.startswith("normal") else 1
        q = F.softmax(torch.stack([alphas[k][i] for i in pairs[k]]), dim=0)
        for i, j in enumerate(pairs[k]):
            e = e + q[i] * latency(r, typ, j)
    factor = A * (torch.log(e) / math.log(TARGET)) ** BETA
    loss = ce * factor
    loss.backward()
    res = {"ce": ce.detach().reshape(1), "E": e.detach().reshape(1), "gate_grad": [], "alpha_grad": []}
    for k, (label, _, r) in enumerate(rows):
        typ = 0 if label.startswith("normal") else 1
        binary = gates[typ].grad[r]
        res["gate_grad"].append(binary.detach().clone())
        act, other = pairs[k]
        if act == 0:  # the active op is the zero layer: no gradient
            alphas[k].grad = None
            continue
        if alphas[k].grad is None:
            alphas[k].grad = torch.zeros_like(alphas[k])
        involved = [act, other]
        q = F.softmax(torch.stack([alphas[k][i] for i in involved]), dim=0).detach()
        for i in range(2):
            for j in range(2):
                alphas[k].grad.data[involved[i]] += binary[involved[j]] * q[j] * (float(i == j) - q[i])
    res["alpha_grad"] = [a.grad.detach().clone() if a.grad is not None else torch.zeros_like(a) for a in alphas]
    old = [a.detach().clone() for a in alphas]
    opt = torch.optim.Adam(alphas, lr=1e-3, betas=(0, 0.999), eps=1e-8)
    opt.step()
    with torch.no_grad():
        for k, a in enumerate(alphas):
            act, other = pairs[k]
            if act == 0:
                continue
            inv = [act, other]
            off = math.log(sum(math.exp(a[i].item()) for i in inv) / sum(math.exp(old[k][i].item()) for i in inv))
            for i in inv:
                a[i] -= off
    res["alpha_after"] = [a.detach().clone() for a in alphas]
    return res, rows, pairs


def main():
    net, data = gs.build()
    ref, rows, pairs = step(net, data, torch.float64)
    net32, data32 = gs.build()
    f32, _, _ = step(net32, data32, torch.float32)
    t = {"ce": ref["ce"], "expected_latency": ref["E"], "latency_fixed": torch.tensor([FIXED])}
    for k, (label, _, r) in enumerate(rows):
        typ = 0 if label.startswith("normal") else 1
        t["pair/" + label] = torch.tensor(pairs[k], dtype=torch.int32)
        t["latency/" + label] = torch.tensor([latency(r, typ, j) for j in range(len(gs.PRIMS))])
        t["gate_grad/" + label] = ref["gate_grad"][k]
        t["alpha_grad/" + label] = ref["alpha_grad"][k]
        t["alpha_after/" + label] = ref["alpha_after"][k]
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "proxyless_step.safetensors")
    write_safetensors(path, t, dict(target=TARGET, alpha=A, beta=BETA, fixed=FIXED, loss="mul-log",
                                    weights="supernet_darts.safetensors",
                                    dtype="float64 reference stored as float32"))
    print("gen_proxyless: ce %.6f, E[LAT] %.6f ms, %d choices, %d with `none` active, %d bytes in %s"
          % (ref["ce"].item(), ref["E"].item(), len(rows), sum(p[0] == 0 for p in pairs), os.path.getsize(path),
             path))
    for key in ("gate_grad", "alpha_grad", "alpha_after"):
        worst = 0.0
        for x, y in zip(f32[key], ref[key]):
            x, y = x.double(), y.double()
            tol = 1e-3 * max(y.abs().max().item(), 1e-12) + 1e-3 * y.abs()
            worst = max(worst, ((x - y).abs() / tol).max().item())
        print("  float32 PyTorch: %-12s worst %.3g of the test's allowance" % (key, worst))


if __name__ == "__main__":
    main()
