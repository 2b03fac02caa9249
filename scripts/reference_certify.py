#!/usr/bin/env python3
"""Independent recomputation of libcrmt's certified radii in NumPy (double precision).

Reads the plain-text dump written by tests/test_certify.c (test_numpy_reference): for each
case a model (float32 parameters written as C99 hex floats, so they are exact), samples and
the certifier's answers. Recomputes, without any code shared with the library:

  * the fused logits h by a double-precision forward pass;
  * the Lipschitz constant of every pair function x_m -> c_y g_{m,y} - c_j g_{m,j}:
    the head rows are multiplied into the linear layers after the encoder's last ReLU
    (U_m = H_m W_L ... W_s), every earlier run of linear layers contributes its exact
    spectral norm (numpy.linalg.norm(., 2), an SVD), so L = prod ||R||_2 * ||c_y U_y - c_j U_j||;
  * r(x) = min_j (h_y - h_j) / sqrt(sum_m L_{m,j}^2), r_m(x) = min_j (h_y - h_j) / L_{m,j},
    and the minimising class j.

The library bounds the spectral norms by Gram iteration and adds a relative slack of 1e-6 plus
rounding allowances, so its radii must be <= the reference (up to 1e-12) and within 1e-4
relative of it. Exit status 0 when every sample agrees, 1 otherwise.

Usage: reference_certify.py DUMP_FILE
"""
import sys

import numpy as np

REL_TOL = 1e-4


def read_tokens(path):
    with open(path, "r", encoding="ascii") as f:
        for line in f:
            line = line.strip()
            if line:
                yield line.split()


def hexf(tok):
    return float.fromhex(tok[0]) if isinstance(tok, list) else float.fromhex(tok)


class Reader:
    def __init__(self, path):
        self.it = read_tokens(path)
        self.peeked = None

    def next(self):
        if self.peeked is not None:
            t, self.peeked = self.peeked, None
            return t
        return next(self.it)

    def peek(self):
        if self.peeked is None:
            try:
                self.peeked = next(self.it)
            except StopIteration:
                return None
        return self.peeked

    def floats(self, n):
        return np.array([float.fromhex(self.next()[0]) for _ in range(n)], dtype=np.float64)


def read_case(r):
    t = r.next()
    assert t[0] == "case", t
    n_mod, k, head = int(t[1]), int(t[2]), int(t[3])
    mods = []
    for _ in range(n_mod):
        t = r.next()
        assert t[0] == "modality", t
        in_dim, n_layers = int(t[1]), int(t[2])
        layers = []
        for _ in range(n_layers):
            t = r.next()
            if t[0] == "relu":
                layers.append(("relu",))
            else:
                assert t[0] == "linear", t
                out, inp = int(t[1]), int(t[2])
                w = r.floats(out * inp).reshape(out, inp)
                b = r.floats(out)
                layers.append(("linear", w, b))
        t = r.next()
        assert t[0] == "head", t
        rows = r.floats(int(t[1]) * int(t[2])).reshape(int(t[1]), int(t[2]))
        mods.append({"in": in_dim, "layers": layers, "head": rows})
    assert r.next()[0] == "coef"
    coef = r.floats(n_mod * k).reshape(n_mod, k)
    assert r.next()[0] == "bias"
    bias = r.floats(k)
    t = r.next()
    assert t[0] == "samples", t
    samples = []
    for _ in range(int(t[1])):
        t = r.next()
        assert t[0] == "sample", t
        label, pred, cert, closest = int(t[1]), int(t[2]), int(t[3]), int(t[4])
        radius, margin = float(t[5]), float(t[6])
        mrad = [float(v) for v in t[7:7 + n_mod]]
        xs = [r.floats(m["in"]) for m in mods]
        samples.append(dict(label=label, pred=pred, certified=cert, closest=closest,
                            radius=radius, margin=margin, mrad=mrad, x=xs))
    return dict(n_mod=n_mod, k=k, head=head, mods=mods, coef=coef, bias=bias,
                samples=samples)


def lipschitz_parts(mod):
    """prefix = product of exact spectral norms of the linear runs before the last ReLU;
    U = head rows times the trailing linear run."""
    layers = mod["layers"]
    last_relu = max([i for i, l in enumerate(layers) if l[0] == "relu"], default=-1)
    prefix = 1.0
    run = None
    for l in layers[:last_relu + 1]:
        if l[0] == "relu":
            if run is not None:
                prefix *= np.linalg.norm(run, 2)
            run = None
        else:
            run = l[1] if run is None else l[1] @ run
    if run is not None:
        prefix *= np.linalg.norm(run, 2)
    u = mod["head"].copy()
    for l in reversed(layers[last_relu + 1:]):
        u = u @ l[1]
    return prefix, u


def forward(case, xs):
    h = case["bias"].copy()
    for m, mod in enumerate(case["mods"]):
        z = xs[m]
        for l in mod["layers"]:
            z = np.maximum(z, 0.0) if l[0] == "relu" else l[1] @ z + l[2]
        h += case["coef"][m] * (mod["head"] @ z)
    return h


def rel(a, b):
    if np.isinf(a) and np.isinf(b):
        return 0.0
    return abs(a - b) / max(abs(b), 1e-300)


def check_case(case, idx):
    parts = [lipschitz_parts(m) for m in case["mods"]]
    k, n_mod = case["k"], case["n_mod"]
    bad = 0
    worst = 0.0
    runner_up_differs = 0
    certified = 0
    for s_i, s in enumerate(case["samples"]):
        h = forward(case, s["x"])
        order = np.argsort(-h)
        top, second = int(order[0]), int(order[1])
        scale = np.max(np.abs(h)) + 1.0
        y = s["label"] if s["label"] >= 0 else s["pred"]
        if top != s["pred"] and h[top] - h[s["pred"]] > 1e-9 * scale:
            print(f"case {idx} sample {s_i}: library predicts {s['pred']}, reference {top}")
            bad += 1
            continue
        radii, mr = {}, np.full(n_mod, np.inf)
        for j in range(k):
            if j == y:
                continue
            margin = h[y] - h[j]
            ls = []
            for m in range(n_mod):
                prefix, u = parts[m]
                c = case["coef"][m]
                ls.append(prefix * np.linalg.norm(c[y] * u[y] - c[j] * u[j]))
            ls = np.array(ls)
            den = np.sqrt(np.sum(ls ** 2))
            radii[j] = margin / den if den > 0 else (np.inf if margin > 0 else -np.inf)
            for m in range(n_mod):
                rm = margin / ls[m] if ls[m] > 0 else (np.inf if margin > 0 else -np.inf)
                mr[m] = min(mr[m], rm)
        jmin = min(radii, key=lambda j: radii[j])
        r = radii[jmin]
        ref_cert = (y == top) and r > 0
        if s["certified"]:
            certified += 1
            if second != jmin and y == top:
                runner_up_differs += 1
            problems = []
            if not ref_cert:
                problems.append(f"reference radius {r:.6g} (not certified)")
            else:
                e = rel(s["radius"], r)
                worst = max(worst, e)
                if e > REL_TOL or s["radius"] > r * (1 + 1e-12):
                    problems.append(f"radius {s['radius']:.12g} vs reference {r:.12g}")
                if s["closest"] != jmin and rel(radii[s["closest"]], r) > 1e-9:
                    problems.append(f"closest class {s['closest']} vs reference {jmin}")
                for m in range(n_mod):
                    e = rel(s["mrad"][m], mr[m])
                    if np.isfinite(mr[m]):
                        worst = max(worst, e)
                    if e > REL_TOL or s["mrad"][m] > mr[m] * (1 + 1e-12):
                        problems.append(f"modality {m} radius {s['mrad'][m]:.12g} vs {mr[m]:.12g}")
            if problems:
                print(f"case {idx} sample {s_i}: " + "; ".join(problems))
                bad += 1
        else:
            # Not certified by the library: the reference must agree up to rounding-size margins.
            if ref_cert and r > 1e-9 * scale:
                print(f"case {idx} sample {s_i}: library did not certify, reference radius {r:.6g}")
                bad += 1
            if s["radius"] != 0.0:
                print(f"case {idx} sample {s_i}: uncertified sample with radius {s['radius']}")
                bad += 1
    print(f"case {idx}: {len(case['samples'])} samples, M={n_mod}, K={k}, "
          f"{'CRMT' if case['head'] else 'JT'} head, {certified} certified, worst relative "
          f"difference {worst:.3g}, {runner_up_differs} with closest class != runner-up")
    return bad, runner_up_differs


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    r = Reader(sys.argv[1])
    total_bad, idx, differs = 0, 0, 0
    while r.peek() is not None:
        bad, d = check_case(read_case(r), idx)
        total_bad += bad
        differs += d
        idx += 1
    print(f"reference_certify: {idx} cases, {total_bad} disagreements, {differs} samples whose "
          f"closest class is not the runner-up")
    return 1 if total_bad or idx == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
