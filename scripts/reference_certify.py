#!/usr/bin/env python3
"""Independent recomputation of libcrmt's certified radii in NumPy (double precision).

Reads the plain-text dump written by tests/test_certify.c (test_numpy_reference): for each
case the path of a model saved with crmt_model_save (docs/file-format.md), then samples
(inputs as C99 hex floats, so they are exact) and the certifier's answers. Recomputes, without
any code shared with the library:

  * the model from the saved file (parsed here with struct), including the CRMT head rows
    Wt_m from the free parameters V_m (docs/design.md: rows centred and scaled to unit norm,
    or (V V^T + 1e-5 I)^(-1/2) V, rounded to float32 as the library's forward pass uses them);
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
import struct
import sys
import zlib

import numpy as np

REL_TOL = 1e-4


def read_tokens(path):
    with open(path, "r", encoding="ascii") as f:
        for line in f:
            line = line.strip()
            if line:
                yield line.split()


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


def read_model(path):
    """Parse a format-version-1 model file (docs/file-format.md)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89CRMT\r\n\x1a" or data[8:12] != b"\x04\x03\x02\x01":
        raise ValueError(f"{path}: not a libcrmt model")
    if struct.unpack_from("<I", data, 12)[0] != 1:
        raise ValueError(f"{path}: unsupported format version")
    if struct.unpack_from("<I", data, len(data) - 4)[0] != zlib.crc32(data[:-4]):
        raise ValueError(f"{path}: checksum mismatch")
    k, n_mod, head, head_norm = struct.unpack_from("<4I", data, 16)
    pos, specs = 40, []
    for _ in range(n_mod):
        in_dim, n_layers = struct.unpack_from("<2I", data, pos + 32)
        pos += 40
        layers = []
        for _ in range(n_layers):
            kind, n_fields = struct.unpack_from("<2I", data, pos)
            fields = struct.unpack_from(f"<{n_fields}I", data, pos + 8)
            pos += 8 + 4 * n_fields
            if kind == 0:
                layers.append(("linear", fields[0]))
            elif kind == 1:
                layers.append(("relu",))
            else:
                raise ValueError(f"{path}: layer kind {kind}")
        specs.append((in_dim, layers))
    (n_params,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    params = np.frombuffer(data, "<f4", n_params, pos).astype(np.float64)
    off = 0

    def take(n):
        nonlocal off
        v = params[off:off + n]
        off += n
        return v

    # Parameter order (src/model/model.c, crmti_model_build): for each modality its linear
    # layers (W row-major, then b) followed by its head block (W_m or V_m, K x d_m); then
    # the integration weights a (CRMT, M x K) and the fused bias b (K).
    mods = []
    for in_dim, layer_specs in specs:
        size, layers = in_dim, []
        for l in layer_specs:
            if l[0] == "relu":
                layers.append(("relu",))
            else:
                w = take(l[1] * size).reshape(l[1], size)
                b = take(l[1])
                layers.append(("linear", w, b))
                size = l[1]
        m = {"in": in_dim, "layers": layers, "d": size}
        mods.append(m)
        v = take(k * m["d"]).reshape(k, m["d"])
        if head == 0:
            m["head"] = v
            continue
        ortho = head_norm == 2 or (head_norm == 0 and k <= m["d"])
        if ortho:
            evals, evecs = np.linalg.eigh(v @ v.T + 1e-5 * np.eye(k))
            wt = (evecs @ np.diag(evals ** -0.5) @ evecs.T) @ v
        else:
            z = v - v.mean(axis=1, keepdims=True)
            wt = z / (np.linalg.norm(z, axis=1, keepdims=True) + 1e-12)
        m["head"] = wt.astype(np.float32).astype(np.float64)
    coef = take(n_mod * k).reshape(n_mod, k) if head == 1 else np.ones((n_mod, k))
    bias = take(k)
    assert off == n_params
    return dict(n_mod=n_mod, k=k, head=head, mods=mods, coef=coef, bias=bias)


def read_case(r):
    t = r.next()
    assert t[0] == "case", t
    case = read_model(t[1])
    n_mod = case["n_mod"]
    t = r.next()
    assert t[0] == "samples", t
    samples = []
    for _ in range(int(t[1])):
        t = r.next()
        assert t[0] == "sample", t
        label, pred, cert, closest = int(t[1]), int(t[2]), int(t[3]), int(t[4])
        radius, margin = float(t[5]), float(t[6])
        mrad = [float(v) for v in t[7:7 + n_mod]]
        xs = [r.floats(m["in"]) for m in case["mods"]]
        samples.append(dict(label=label, pred=pred, certified=cert, closest=closest,
                            radius=radius, margin=margin, mrad=mrad, x=xs))
    case["samples"] = samples
    return case


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
