#!/usr/bin/python3
"""tests/ref/gen_enas.py: PyTorch reference fixtures for tests/test_enas.c.

Run from tests/ref (`make ref`) with the Debian torch CPU build:
    /usr/bin/python3 gen_enas.py
Writes
  fixtures/lstm_cell.safetensors: torch.nn.LSTMCell on a batch of 3 (input 5,
      hidden 4): inputs, weights side by side w = [weight_ih | weight_hh],
      b = bias_ih + bias_hh, out = stack(h', c'), a random r and the gradients
      of sum(out * r) w.r.t. x, h, c, w, b.
  fixtures/enas_controller.safetensors: the ENAS controller written out in
      torch (an independent re-implementation of REFERENCE.md §5 as
      search/enas_controller.h states it) with fixed weights (hidden 16),
      fixed uniform draws u and the decision list DECISIONS below: the sampled
      values, sum log p, entropy, skip penalty, and the gradients of
      sum(-log p) ("gnlp.<param>") and of the penalty ("gpen.<param>").
Seeds are fixed: running it again rewrites identical files.
"""
import os

import numpy as np
import torch

from st_write import write_safetensors

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
torch.set_num_threads(1)


def lstm_fixture():
    g = torch.Generator().manual_seed(1010)
    cell = torch.nn.LSTMCell(5, 4)
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_(torch.rand(p.shape, generator=g) - 0.5)
    x = torch.randn(3, 5, generator=g).requires_grad_(True)
    h = torch.randn(3, 4, generator=g).requires_grad_(True)
    c = torch.randn(3, 4, generator=g).requires_grad_(True)
    h1, c1 = cell(x, (h, c))
    out = torch.stack([h1, c1])
    r = torch.randn(out.shape, generator=g)
    (out * r).sum().backward()
    t = {
        "x": x, "h": h, "c": c,
        "w": torch.cat([cell.weight_ih, cell.weight_hh], 1),
        "b": cell.bias_ih + cell.bias_hh,
        "out": out, "r": r,
        "dx": x.grad, "dh": h.grad, "dc": c.grad,
        "dw": torch.cat([cell.weight_ih.grad, cell.weight_hh.grad], 1),
        "db": cell.bias_ih.grad,
    }
    write_safetensors(os.path.join(OUT, "lstm_cell.safetensors"), t, {"what": "torch.nn.LSTMCell(5, 4)"})


# (kind, n, excluded earlier decisions, anchors); the same list is in tests/test_enas.c
DECISIONS = [
    ("cat", 3, [], []),
    ("cat", 4, [], []),
    ("subset", 2, [], [0, -1]),
    ("cat", 4, [1], []),
    ("subset", 3, [], [1, 3, -1]),
    ("cat", 2, [], []),
    ("subset", 4, [], [-1, 2, 4, 5]),
]
H, TANH_C, TEMP, SKIP_T = 16, 1.5, 2.0, 0.4


def controller(P, u):
    x, h, c = P["ctrl.g_emb"], torch.zeros(1, H), torch.zeros(1, H)
    rec, values, nlp, pen, ent, lp_sum, ui = [], [], 0, 0, 0.0, 0.0, 0
    for d, (kind, n, excl, anchors) in enumerate(DECISIONS):
        gates = torch.cat([x, h], 1) @ P["ctrl.w_lstm"].t()
        gi, gf, gg, go = gates.chunk(4, 1)
        c = torch.sigmoid(gf) * c + torch.sigmoid(gi) * torch.tanh(gg)
        h = torch.sigmoid(go) * torch.tanh(c)
        rec.append(h)
        if kind == "cat":
            logit = h @ P["ctrl.head.%d" % d].t()
            logit = TANH_C * torch.tanh(logit / TEMP)
            if excl:
                m = torch.zeros(1, n)
                for e in excl:
                    m[0, values[e]] = -1e30
                logit = logit + m
            lsm = torch.log_softmax(logit, 1)
            p = np.exp(lsm.detach().double().numpy()[0])
            cum, v = 0.0, None
            for k in range(n):
                cum += p[k]
                if v is None and p[k] > 0 and u[ui] < cum:
                    v = k
            ui += 1
            values.append(v)
            lp = lsm[0, v]
            nlp = nlp - lp
            lp_sum += lp.item()
            ent += -lp.item() * np.exp(lp.item())
            x = P["ctrl.emb.%d" % d][v:v + 1]
        else:
            A = torch.cat([rec[a] if a >= 0 else P["ctrl.anchor0"] for a in anchors], 0)
            l = torch.tanh(A @ P["ctrl.w_anchor"].t() + h @ P["ctrl.w_query"].t()) @ P["ctrl.v_attn"].t()
            l = TANH_C * torch.tanh(l / TEMP)
            z2 = torch.cat([-l, l], 1)
            lsm = torch.log_softmax(z2, 1)
            mask, chosen = 0, []
            for j in range(n):
                if u[ui] < np.exp(lsm[j, 1].item()):
                    mask |= 1 << j
                    chosen.append(j)
                ui += 1
                lab = (mask >> j) & 1
                nlp = nlp - lsm[j, lab]
                lp_sum += lsm[j, lab].item()
                ent += -lsm[j, lab].item() * np.exp(lsm[j, lab].item())
            values.append(mask)
            sp = torch.sigmoid(z2)
            pen = pen + torch.sum(sp * torch.log(sp / torch.tensor([1 - SKIP_T, SKIP_T])))
            if chosen:
                x = P["ctrl.emb.%d" % d][chosen].sum(0, keepdim=True) / (1.0 + len(chosen))
            else:
                x = torch.zeros(1, H)
    return values, nlp, pen, ent, lp_sum


def controller_fixture():
    g = torch.Generator().manual_seed(2020)
    P = {"ctrl.w_lstm": torch.rand(4 * H, 2 * H, generator=g) - 0.5,
         "ctrl.g_emb": torch.randn(1, H, generator=g) * 0.1}
    for nm in ("w_anchor", "w_query"):
        P["ctrl." + nm] = torch.rand(H, H, generator=g) - 0.5
    P["ctrl.v_attn"] = torch.rand(1, H, generator=g) - 0.5
    P["ctrl.anchor0"] = torch.rand(1, H, generator=g) - 0.5
    for d, (kind, n, _, _) in enumerate(DECISIONS):
        P["ctrl.emb.%d" % d] = torch.rand(n, H, generator=g) - 0.5
        if kind == "cat":
            P["ctrl.head.%d" % d] = torch.rand(n, H, generator=g) * 2 - 1
    for p in P.values():
        p.requires_grad_(True)
    u = torch.rand(32, generator=g).numpy()
    values, nlp, pen, ent, lp_sum = controller(P, u)
    t = dict(P)
    gn = torch.autograd.grad(nlp, list(P.values()), allow_unused=True, retain_graph=True)
    gp = torch.autograd.grad(pen, list(P.values()), allow_unused=True)
    for (name, p), a, b in zip(P.items(), gn, gp):
        t["gnlp." + name] = a if a is not None else torch.zeros_like(p)
        t["gpen." + name] = b if b is not None else torch.zeros_like(p)
    t["u"] = torch.tensor(u)
    t["values"] = np.array(values, dtype=np.int32)
    t["log_prob"] = torch.tensor([lp_sum])
    t["nlp"] = nlp.detach().reshape(1)
    t["entropy"] = torch.tensor([ent])
    t["penalty"] = pen.detach().reshape(1)
    write_safetensors(os.path.join(OUT, "enas_controller.safetensors"), t,
                      {"hidden": H, "tanh_constant": TANH_C, "temperature": TEMP, "skip_target": SKIP_T})
    print("values", values, "log_prob", lp_sum, "entropy", ent, "penalty", pen.item())


if __name__ == "__main__":
    lstm_fixture()
    controller_fixture()
