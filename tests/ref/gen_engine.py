#!/usr/bin/python3
"""tests/ref/gen_engine.py: PyTorch reference fixtures for tests/test_ref.c.

Run from tests/ref (`make ref`) with the Debian torch 1.13 CPU build:
    /usr/bin/python3 gen_engine.py
Each case becomes fixtures/<case>.safetensors (float32 "F32", labels "I32")
holding the inputs, the output and the gradients of sum(out * r) for a stored
random r (so every output element matters), with the op's settings as string
metadata. Seeds are fixed: running it again rewrites identical files.
The safetensors files are written by st_write.py (no package beyond torch/numpy).
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

from st_write import write_safetensors

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
torch.set_num_threads(1)


class Case:
    """Collects one fixture: tensors in insertion order plus metadata."""

    def __init__(self, name, seed, **meta):
        self.name, self.meta, self.t = name, dict(meta), {}
        self.g = torch.Generator().manual_seed(seed)

    def randn(self, *shape, scale=1.0, shift=0.0):
        return torch.randn(*shape, generator=self.g) * scale + shift

    def leaf(self, name, *shape, scale=1.0, shift=0.0):
        x = self.randn(*shape, scale=scale, shift=shift).requires_grad_(True)
        self.t[name] = x
        return x

    def backward(self, out, grads):
        """Store out, r and the gradients of sum(out * r)."""
        r = self.randn(*out.shape)
        self.t["out"], self.t["r"] = out, r
        (out * r).sum().backward()
        for name in grads:
            self.t["grad_" + name] = self.t[name].grad

    def save(self):
        write_safetensors(os.path.join(OUT, self.name + ".safetensors"), self.t, self.meta)


def conv_cases():
    # name, cin, cout, k, stride, pad, dil, groups, bias
    specs = [
        ("conv_3x3_p1", 3, 4, 3, 1, 1, 1, 1, True),
        ("conv_3x3_s2", 3, 4, 3, 2, 1, 1, 1, False),
        ("conv_3x3_d2", 3, 4, 3, 1, 2, 2, 1, True),
        ("conv_1x1", 4, 3, 1, 1, 0, 1, 1, False),
        ("conv_1x1_s2", 4, 3, 1, 2, 0, 1, 1, True),
        ("dw_3x3_s1", 4, 4, 3, 1, 1, 1, 4, False),
        ("dw_3x3_s2", 4, 4, 3, 2, 1, 1, 4, False),
        ("dw_5x5_s1", 4, 4, 5, 1, 2, 1, 4, False),
        ("dw_5x5_s2", 4, 4, 5, 2, 2, 1, 4, True),
        ("dw_3x3_d2", 4, 4, 3, 1, 2, 2, 4, False),
        ("dw_5x5_d2", 4, 4, 5, 1, 4, 2, 4, False),
        ("dw_3x3_d2_s2", 4, 4, 3, 2, 2, 2, 4, False),
        ("dw_7x7_s1", 4, 4, 7, 1, 3, 1, 4, False),
        ("dw_7x7_s2", 4, 4, 7, 2, 3, 1, 4, True),
    ]
    for i, (name, ci, co, k, s, p, d, g, bias) in enumerate(specs):
        c = Case(name, 100 + i, op="conv2d", stride=s, pad=p, dilation=d, groups=g, bias=int(bias))
        x = c.leaf("x", 2, ci, 7, 5)
        w = c.leaf("w", co, ci // g, k, k, scale=0.5)
        b = c.leaf("b", co) if bias else None
        out = F.conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=g)
        c.backward(out, ["x", "w"] + (["b"] if bias else []))
        c.save()


def bn_cases():
    for i, (name, training, affine, eps) in enumerate([
            ("bn_train_affine", True, True, 1e-5), ("bn_train_plain", True, False, 1e-5),
            ("bn_eval_affine", False, True, 1e-5), ("bn_eval_plain", False, False, 1e-5),
            ("bn_train_eps1e-3", True, True, 1e-3), ("bn_eval_eps1e-3", False, True, 1e-3)]):
        c = Case(name, 200 + i, op="batch_norm", training=int(training), affine=int(affine),
                 momentum=0.1, eps=eps)
        x = c.leaf("x", 2, 4, 7, 5, scale=2.0, shift=0.5)
        gamma = c.leaf("gamma", 4, scale=0.3, shift=1.0) if affine else None
        beta = c.leaf("beta", 4, scale=0.3) if affine else None
        rm = c.randn(4, scale=0.2)
        rv = torch.rand(4, generator=c.g) + 0.5
        c.t["running_mean"], c.t["running_var"] = rm.clone(), rv.clone()
        out = F.batch_norm(x, rm, rv, gamma, beta, training=training, momentum=0.1, eps=eps)
        c.backward(out, ["x"] + (["gamma", "beta"] if affine else []))
        if training:  # F.batch_norm updated rm / rv in place
            c.t["running_mean_after"], c.t["running_var_after"] = rm, rv
        c.save()


def pool_cases():
    for i, (kind, s) in enumerate([("max", 1), ("max", 2), ("avg", 1), ("avg", 2)]):
        c = Case("%spool_3x3_s%d" % (kind, s), 300 + i, op=kind + "_pool2d", kernel=3, stride=s, pad=1,
                 count_include_pad=0)
        x = c.leaf("x", 2, 3, 7, 5)
        if kind == "max":
            out = F.max_pool2d(x, 3, stride=s, padding=1)
        else:
            out = F.avg_pool2d(x, 3, stride=s, padding=1, count_include_pad=False)
        c.backward(out, ["x"])
        c.save()


def relu6_cases():
    # values spread over both kinks (0 and 6), none within 1e-3 of them
    c = Case("relu6", 450, op="relu6")
    x = c.randn(2, 3, 5, 4, scale=4.0, shift=3.0)
    x = torch.where((x.abs() < 1e-3) | ((x - 6).abs() < 1e-3), x + 0.01, x).requires_grad_(True)
    c.t["x"] = x
    c.backward(F.relu6(x), ["x"])
    c.save()


def softmax_cases():
    for i, (log, shape) in enumerate([(False, (2, 5, 3, 4)), (True, (2, 5, 3, 4)),
                                      (False, (3, 7)), (True, (3, 7))]):
        name = "%ssoftmax_%dd" % ("log_" if log else "", len(shape))
        c = Case(name, 400 + i, op="log_softmax" if log else "softmax", dim=1)
        x = c.leaf("x", *shape, scale=2.0)
        out = F.log_softmax(x, dim=1) if log else F.softmax(x, dim=1)
        c.backward(out, ["x"])
        c.save()


def xent_cases():
    for i, smooth in enumerate([0.0, 0.1]):
        c = Case("xent_smooth" if smooth else "xent_plain", 500 + i, op="cross_entropy", label_smoothing=smooth)
        x = c.leaf("logits", 6, 7, scale=2.0)
        labels = torch.randint(0, 7, (6,), generator=c.g)
        c.t["labels"] = labels.numpy().astype(np.int32)
        out = F.cross_entropy(x, labels, label_smoothing=smooth)
        c.backward(out.reshape(1), ["logits"])
        c.save()


def optim_cases():
    """3 steps from one start on L = sum(c p^2 / 2 + q p + p^4 / 20) over two
    tensors; stores the gradient used at step t and the params after it."""
    specs = [
        ("sgd_momentum", dict(kind="sgd", lr=0.1, momentum=0.9, weight_decay=3e-4, nesterov=0)),
        ("sgd_nesterov", dict(kind="sgd", lr=0.1, momentum=0.9, weight_decay=3e-4, nesterov=1)),
        ("sgd_plain", dict(kind="sgd", lr=0.1, momentum=0.0, weight_decay=3e-4, nesterov=0)),
        # strong weight decay and dampening: tells the orders of the terms apart
        ("sgd_strong_wd", dict(kind="sgd", lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.05,
                               nesterov=0)),
        ("adam_darts", dict(kind="adam", lr=0.05, beta1=0.5, beta2=0.999, eps=1e-8, weight_decay=1e-3)),
        ("adam_default", dict(kind="adam", lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0)),
        ("adam_big_eps", dict(kind="adam", lr=0.05, beta1=0.9, beta2=0.999, eps=0.1, weight_decay=0.0)),
        ("adam_strong_wd", dict(kind="adam", lr=0.05, beta1=0.5, beta2=0.999, eps=1e-8, weight_decay=0.1)),
    ]
    for name, m in specs:
        c = Case("optim_" + name, 600, **m)  # same seed: same start and loss for all
        shapes = {"w": (3, 4), "b": (5,)}
        ps, coef = {}, {}
        for k, s in shapes.items():
            ps[k] = c.randn(*s).requires_grad_(True)
            coef[k] = (torch.rand(*s, generator=c.g) + 0.5, c.randn(*s))
            c.t["param0." + k] = ps[k].detach().clone()
        if m["kind"] == "sgd":
            m.setdefault("dampening", 0.0)
            c.meta["dampening"] = m["dampening"]
            opt = torch.optim.SGD(list(ps.values()), lr=m["lr"], momentum=m["momentum"],
                                  dampening=m["dampening"], weight_decay=m["weight_decay"],
                                  nesterov=bool(m["nesterov"]))
        else:
            opt = torch.optim.Adam(list(ps.values()), lr=m["lr"], betas=(m["beta1"], m["beta2"]),
                                   eps=m["eps"], weight_decay=m["weight_decay"])
        c.meta["steps"] = 3
        for t in range(1, 4):
            opt.zero_grad()
            loss = sum((cw * p * p / 2 + q * p + p ** 4 / 20).sum() for p, (cw, q) in
                       ((ps[k], coef[k]) for k in shapes))
            loss.backward()
            for k in shapes:
                c.t["grad%d.%s" % (t, k)] = ps[k].grad.detach().clone()
            opt.step()
            for k in shapes:
                c.t["param%d.%s" % (t, k)] = ps[k].detach().clone()
        c.save()


def clip_and_schedule_cases():
    for i, max_norm in enumerate([1.0, 100.0]):
        c = Case("clip_grad_norm_%g" % max_norm, 700 + i, max_norm=max_norm)
        ps = [torch.zeros(3, 4, requires_grad=True), torch.zeros(5, requires_grad=True)]
        for k, p in zip(("w", "b"), ps):
            p.grad = c.randn(*p.shape, scale=0.7)
            c.t["grad_in." + k] = p.grad.clone()
        norm = torch.nn.utils.clip_grad_norm_(ps, max_norm)
        c.t["total_norm"] = norm.reshape(1)
        for k, p in zip(("w", "b"), ps):
            c.t["grad_out." + k] = p.grad.clone()
        c.save()

    lr0, eta_min, t_max = 0.025, 0.001, 10
    c = Case("cosine_lr", 800, lr0=lr0, eta_min=eta_min, t_max=t_max)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t_max, eta_min=eta_min)
    lrs = []
    for _ in range(t_max + 1):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    c.t["lr"] = torch.tensor(lrs, dtype=torch.float32)
    c.save()


def main():
    os.makedirs(OUT, exist_ok=True)
    conv_cases()
    bn_cases()
    pool_cases()
    relu6_cases()
    softmax_cases()
    xent_cases()
    optim_cases()
    clip_and_schedule_cases()
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print("gen_engine: %d fixtures, %d bytes in %s" % (len(os.listdir(OUT)), total, OUT))


if __name__ == "__main__":
    main()
