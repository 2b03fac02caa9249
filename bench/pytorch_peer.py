#!/usr/bin/python3
"""PyTorch peer of bench/bench_train.c: the same CRMT-shaped model, losses, data sizes, batch
sizes, optimizer and thread count, timed the same way, so that scripts/bench.sh can print
libcrmt and PyTorch side by side.

Model: two modalities (inputs 512 and 256), each encoder Linear 256 - ReLU - Linear 128,
10 classes.
  JT      h = sum_m W_m z_m + b, cross-entropy.
  CRMT-JT uni-modal logits g_m = Wt_m z_m with Wt_m = (V_m V_m^T + 1e-5 I)^{-1/2} V_m, the
          orthonormal rows of libcrmt's CRMT_NORM_ORTHONORMAL (computed the same way: in float64
          through a symmetric eigen-decomposition, autograd through torch.linalg.eigh);
          h = sum_m a_m * g_m + b (a initialised to 0.1); loss
          CE(h, y) + rho * log sum_m sum_{k != y} exp(g_{m,k} - g_{m,y}), rho = 2.
  CRMT-rows the same with row-normalised head rows (each row of V_m centred and scaled to unit
          norm, in float64, + 1e-12 on the norm: libcrmt's CRMT_NORM_ROWS, the official
          release's head).
SGD lr 0.01, momentum 0.9, weight decay 1e-4; shuffled mini-batches gathered from in-memory
tensors, one thread (torch.set_num_threads(1)).

Certification (the bound of crmt_certify_batch): constants precomputed once (not timed) --
the encoder's trailing linear layer folded into the head, U_m = Wt_m W2_m, G_m = U_m U_m^T,
P_m = ||W1_m||_2 (SVD, float64); the pair constant
  L_{m,y,j} = P_m sqrt(a_y^2 G_yy - 2 a_y a_j G_yj + a_j^2 G_jj);
then per sample, batched: forward, prediction, margins h_y - h_j, joint radius
min_j margin_j / sqrt(sum_m L_{m,y,j}^2), closest class, per-modality radii
min_j margin_j / L_{m,y,j}, missing-modality distances ||x_m|| and whether they survive.
Two variants are timed:
  float   float32 forward, margins in float64 from the float logits (what a PyTorch user
          would write);
  sound   the same bound as libcrmt: the margins from a float64 forward pass minus a bound of
          its rounding error built from per-sample activation norms (gamma_n ||W||_F ||x||
          per layer, carried through the layers), and the float32 forward for the
          prediction; the model's layers as written.
  folded  the same with the encoder's trailing linear layer folded into the head
          (U = H W2, c = H b2 formed once in float64, with its error bound), as libcrmt
          does. libcrmt also takes the prediction from the float64 logits where they
          settle it (no float forward for those samples); neither peer does.

Debian's python3-torch installs for /usr/bin/python3: run it with that interpreter.
Output: a human-readable report and "RESULT <name> <value> <unit> <kernel>" lines.
"""
import argparse
import ctypes
import math
import os
import statistics
import sys
import time

import torch

N_CLASSES = 10
INPUTS = (512, 256)
HIDDEN = 256
FEAT = 128
ORTHO_EPS = 1e-5


def openblas_kernel():
    """The OpenBLAS kernel PyTorch's BLAS calls use (Debian's torch links libblas.so.3, the
    OpenBLAS alternative; the library is already loaded, dlopen returns the same one)."""
    for name in ("libopenblas.so.0", "libopenblasp-r0.3.21.so", "libblas.so.3"):
        try:
            lib = ctypes.CDLL(name)
            fn = lib.openblas_get_corename
            fn.restype = ctypes.c_char_p
            return fn().decode()
        except (OSError, AttributeError):
            continue
    return "unknown"


KERNEL = "unknown"


def result(name, value, unit):
    print(f"RESULT {name} {value:.6g} {unit} {KERNEL}")


def synth(n, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, N_CLASSES, (n,), generator=g)
    xs = []
    for d in INPUTS:
        mu = torch.randn(N_CLASSES, d, generator=g) / math.sqrt(d)
        xs.append((mu[y] + torch.randn(n, d, generator=g) / math.sqrt(d)).contiguous())
    return xs, y


def centred_unit_rows(v):
    """Each row centred and scaled to unit norm in float64, as libcrmt's row normalisation."""
    c = v.double() - v.double().mean(dim=1, keepdim=True)
    return (c / (c.norm(dim=1, keepdim=True) + 1e-12)).float()


def orthonormal_rows(v):
    """(V V^T + eps I)^{-1/2} V in float64, as libcrmt's head normalisation."""
    vd = v.double()
    s = vd @ vd.t() + ORTHO_EPS * torch.eye(v.shape[0], dtype=torch.float64)
    evals, evecs = torch.linalg.eigh(s)
    p = (evecs * evals.rsqrt()) @ evecs.t()
    return (p @ vd).float()


class Net(torch.nn.Module):
    def __init__(self, crmt, rows=False):
        super().__init__()
        self.crmt = crmt
        self.rows = rows
        self.enc = torch.nn.ModuleList(
            torch.nn.Sequential(torch.nn.Linear(d, HIDDEN), torch.nn.ReLU(),
                                torch.nn.Linear(HIDDEN, FEAT)) for d in INPUTS)
        bound = 1.0 / math.sqrt(FEAT)
        self.head = torch.nn.ParameterList(
            torch.nn.Parameter(torch.empty(N_CLASSES, FEAT).uniform_(-bound, bound))
            for _ in INPUTS)
        if crmt:
            self.a = torch.nn.Parameter(torch.full((len(INPUTS), N_CLASSES), 0.1))
        self.b = torch.nn.Parameter(torch.zeros(N_CLASSES))

    def head_rows(self):
        if not self.crmt:
            return list(self.head)
        norm = centred_unit_rows if self.rows else orthonormal_rows
        return [norm(v) for v in self.head]

    def forward(self, xs):
        rows = self.head_rows()
        h = self.b
        gs = []
        for m, x in enumerate(xs):
            g = self.enc[m](x) @ rows[m].t()
            gs.append(g)
            h = h + (self.a[m] * g if self.crmt else g)
        return h, gs


def margin_loss(gs, y):
    """log sum_m sum_{k != y} exp(g_{m,k} - g_{m,y}), mean over the batch (log-sum-exp with
    the usual max shift inside torch.logsumexp)."""
    parts = []
    mask = torch.nn.functional.one_hot(y, N_CLASSES).bool()
    for g in gs:
        d = g - g.gather(1, y[:, None])
        parts.append(d.masked_fill(mask, float("-inf")))
    return torch.logsumexp(torch.cat(parts, dim=1), dim=1).mean()


def train_rates(xs, y, crmt, batch, epochs, rho=2.0, rows=False):
    torch.manual_seed(1)
    net = Net(crmt, rows)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    n = y.shape[0]
    ce = torch.nn.CrossEntropyLoss()
    rates = []
    for epoch in range(epochs + 1):  # epoch 0: warm-up, not timed
        t = time.perf_counter()
        perm = torch.randperm(n)
        for s in range(0, n, batch):
            idx = perm[s:s + batch]
            xb = [x[idx] for x in xs]
            yb = y[idx]
            opt.zero_grad(set_to_none=True)
            h, gs = net(xb)
            loss = ce(h, yb)
            if crmt and rho > 0:
                loss = loss + rho * margin_loss(gs, yb)
            loss.backward()
            opt.step()
        dt = time.perf_counter() - t
        if not math.isfinite(loss.item()):
            sys.exit("pytorch_peer: training diverged")
        if epoch > 0:
            rates.append(n / dt)
    return net, max(rates), statistics.median(rates)


class Certifier:
    """Precomputed constants of the sound bound (see the module docstring)."""

    def __init__(self, net):
        with torch.no_grad():
            rows = [r.double() for r in net.head_rows()]
            a = net.a.double() if net.crmt else torch.ones(len(INPUTS), N_CLASSES,
                                                          dtype=torch.float64)
            self.net = net
            self.bias = net.b.double()
            self.coef = a
            lpair = []
            for m, enc in enumerate(net.enc):
                w1 = enc[0].weight.double()
                w2 = enc[2].weight.double()
                prefix = torch.linalg.matrix_norm(w1, ord=2) * (1 + 1e-6)
                u = rows[m] @ w2                       # K x HIDDEN
                gram = u @ u.t()                       # K x K
                ay = a[m][:, None]
                aj = a[m][None, :]
                d = torch.diagonal(gram)
                q = ay * ay * d[:, None] - 2 * ay * aj * gram + aj * aj * d[None, :]
                lpair.append(prefix * q.clamp_min(0).sqrt())
            self.lpair = torch.stack(lpair)                       # M x K x K (y, j)
            self.den = self.lpair.pow(2).sum(0).sqrt()            # K x K
            # float64 copies for the "sound" variant
            self.w = [[enc[0].weight.double(), enc[0].bias.double(), enc[2].weight.double(),
                       enc[2].bias.double()] for enc in net.enc]
            self.rows = rows
            u = 2.0 ** -52
            # per layer: gamma_{n+2} and the Frobenius norms of W and b (libcrmt's
            # layer_error_gains); per class: the head row norms
            self.gam = [[(d + 2) * u, (HIDDEN + 2) * u, (FEAT + 2) * u] for d in INPUTS]
            self.fro = [[w.norm() for w in ws] for ws in self.w]
            self.row_norm = [r.norm(dim=1) for r in rows]
            self.gamma_fuse = (len(INPUTS) + 4) * u
            # folded head: U = H W2, c = H b2 and the error of forming them
            self.fold = []
            for m, (w1, b1, w2, b2) in enumerate(self.w):
                uf, cf = rows[m] @ w2, rows[m] @ b2
                g_fold = 2 * (FEAT + 2) * u
                du = g_fold * (rows[m].abs() @ w2.abs()).norm(dim=1)
                dc = g_fold * (rows[m].abs() @ b2.abs())
                rn = uf.norm(dim=1)
                self.fold.append((uf, cf, self.gam[m][1] * rn + du, rn + du,
                                  self.gam[m][1] * cf.abs() + dc))

    def margins_folded(self, xs):
        """margins_sound with the trailing linear layer folded into the head."""
        h = self.bias.expand(xs[0].shape[0], -1).clone()
        e = self.gamma_fuse * self.bias.abs().expand_as(h).clone()
        for m, x in enumerate(xs):
            w1, b1, _, _ = self.w[m]
            f1, fb1, _, _ = self.fro[m]
            uf, cf, norm_gain, err_gain, floor = self.fold[m]
            xd = x.double()
            z = torch.relu(torch.addmm(b1, xd, w1.t()))
            e1 = self.gam[m][0] * (fb1 + f1 * xd.norm(dim=1))
            g = torch.addmm(cf, z, uf.t())
            t_err = norm_gain * z.norm(dim=1)[:, None] + err_gain * e1[:, None] + floor
            h = h + self.coef[m] * g
            e = e + self.coef[m].abs() * (t_err + self.gamma_fuse * g.abs())
        return h, e

    def margins_sound(self, xs):
        """float64 fused logits and a bound of their rounding error (libcrmt's
        forward_double, without its folding of the last layer)."""
        h = self.bias.expand(xs[0].shape[0], -1).clone()
        e = self.gamma_fuse * self.bias.abs().expand_as(h).clone()
        for m, x in enumerate(xs):
            w1, b1, w2, b2 = self.w[m]
            f1, fb1, f2, fb2 = self.fro[m]
            g1, g2, gh = self.gam[m]
            xd = x.double()
            z = torch.relu(torch.addmm(b1, xd, w1.t()))
            e1 = g1 * (fb1 + f1 * xd.norm(dim=1))
            e2 = g2 * (fb2 + f2 * z.norm(dim=1)) + f2 * e1
            z = torch.addmm(b2, z, w2.t())
            g = z @ self.rows[m].t()
            rn = self.row_norm[m]
            t_err = gh * rn * z.norm(dim=1)[:, None] + rn * e2[:, None]
            h = h + self.coef[m] * g
            e = e + self.coef[m].abs() * (t_err + self.gamma_fuse * g.abs())
        return h, e

    def certify(self, xs, y, variant):
        with torch.no_grad():
            hf, _ = self.net(xs)
            pred = hf.argmax(1)
            if variant != "float":
                h, e = (self.margins_folded if variant == "folded" else self.margins_sound)(xs)
                ey = e.gather(1, y[:, None])
                hy = h.gather(1, y[:, None])
                margin = hy - h
                mc = margin - (ey + e + 2 * 2.0 ** -52 * (hy.abs() + h.abs()))
            else:
                h = hf.double()
                margin = h.gather(1, y[:, None]) - h
                mc = margin
            self_mask = torch.nn.functional.one_hot(y, N_CLASSES).bool()
            den = self.den[y]                                     # B x K
            r = (mc / den).masked_fill(self_mask, float("inf"))
            radius, closest = r.min(1)
            rm = (mc[None] / self.lpair[:, y, :]).masked_fill(self_mask[None], float("inf"))
            rm = rm.min(2).values                                 # M x B
            certified = (pred == y) & (radius > 0) & (rm > 0).all(0)
            dist = torch.stack([x.double().norm(dim=1) for x in xs])  # fill = zeros
            survives = (dist < rm) & certified[None]
            radius = torch.where(certified, radius, torch.zeros_like(radius))
            return certified, radius, closest, rm, survives


def main():
    global KERNEL
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="CI-sized run (a few seconds)")
    ap.add_argument("--n", type=int, default=10240)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--only", choices=["train", "certify"])
    args = ap.parse_args()
    if args.quick:
        args.n, args.epochs = 2048, 2
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    KERNEL = openblas_kernel()
    print(f"pytorch_peer: torch {torch.__version__}, OpenBLAS kernel {KERNEL}, "
          f"{torch.get_num_threads()} thread(s) (OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', 'unset')})")
    print(f"model: inputs 512 + 256, encoders 256-ReLU-128, {N_CLASSES} classes; n = {args.n}, "
          f"{args.epochs} timed epochs{' (quick)' if args.quick else ''}")
    xs, y = synth(args.n, 1)
    crmt_net = None
    if args.only in (None, "train"):
        print(f"\n== training (PyTorch, SGD momentum 0.9, one thread) [kernel {KERNEL}] ==")
        print(f"{'method':<10} {'batch':>6} {'best/s':>12} {'median/s':>12}")
        variants = (("jt", "JT", False, False), ("crmt", "CRMT-JT", True, False),
                    ("crmtrows", "CRMT-rows", True, True))
        for batch in (64, 256):
            for name, label, crmt, rows in variants:
                net, best, med = train_rates(xs, y, crmt, batch, args.epochs, rows=rows)
                print(f"{label:<10} {batch:>6} {best:>12.0f} {med:>12.0f}")
                result(f"torch_train_{name}_b{batch}_best", best, "samples/s")
                result(f"torch_train_{name}_b{batch}_median", med, "samples/s")
                if name == "crmt" and batch == 256:
                    crmt_net = net
    if args.only in (None, "certify"):
        if crmt_net is None:
            crmt_net, _, _ = train_rates(xs, y, True, 256, 1)
        nc = 1024 if args.quick else min(8192, args.n)
        print(f"\n== certification (PyTorch, precomputed sound constants, {nc} samples) "
              f"[kernel {KERNEL}] ==")
        t = time.perf_counter()
        cert = Certifier(crmt_net)
        t_create = time.perf_counter() - t
        xc = [x[:nc] for x in xs]
        yc = y[:nc]
        reps = 2 if args.quick else 5
        chunk = 128  # libcrmt certifies in chunks of 128 samples as well
        for label in ("float", "sound", "folded"):
            times = []
            for r in range(reps + 1):
                t = time.perf_counter()
                ncert = 0
                for s in range(0, nc, chunk):
                    c = cert.certify([x[s:s + chunk] for x in xc], yc[s:s + chunk], label)
                    ncert += int(c[0].sum())
                if r > 0:
                    times.append(time.perf_counter() - t)
            print(f"{label:>6}: {nc / min(times):.0f} certificates/s (best of {reps}), median "
                  f"{nc / statistics.median(times):.0f}; {ncert} of {nc} certified")
            result(f"torch_certify_{label}_per_s", nc / min(times), "certificates/s")
        # consistency of the two variants: same certified set up to the rounding allowance
        cf = cert.certify([x[:chunk] for x in xc], yc[:chunk], "float")
        cs = cert.certify([x[:chunk] for x in xc], yc[:chunk], "sound")
        cfo = cert.certify([x[:chunk] for x in xc], yc[:chunk], "folded")
        if not bool((cfo[0] == cs[0]).all()) or float(
                ((cfo[1] - cs[1]).abs() / cs[1].clamp_min(1e-30))[cs[0]].max()
                if bool(cs[0].any()) else 0.0) > 1e-6:
            sys.exit("pytorch_peer: the folded and unfolded sound variants disagree: "
                     f"{int(cfo[0].sum())} vs {int(cs[0].sum())} certified, "
                     f"{float(((cfo[1] - cs[1]).abs() / cs[1].clamp_min(1e-30))[cs[0]].max()):.3g}")
        both = cf[0] & cs[0]
        rel = ((cf[1] - cs[1]).abs() / cs[1].clamp_min(1e-30))[both]
        print(f"constants (SVD, folded Gram matrices): {1e3 * t_create:.1f} ms; float vs sound "
              f"variant on {chunk} samples: {int(cf[0].sum())} / {int(cs[0].sum())} certified, "
              f"largest relative radius difference {float(rel.max()) if rel.numel() else 0:.1e}")


if __name__ == "__main__":
    main()
