#!/usr/bin/env python3
"""Independent recomputation of libcrmt's certified radii in NumPy (double precision).

Reads the plain-text dump written by tests/test_certify.c (test_numpy_reference): for each
case the path of a model saved with crmt_model_save (docs/file-format.md, format versions 1
and 2), then samples (inputs as C99 hex floats, so they are exact) and the certifier's
answers. Recomputes, without any code shared with the library:

  * the model from the saved file (parsed here with struct), including the image shapes and
    the conv2d / average pooling / max pooling / flatten layers of version 2, and the CRMT
    head rows Wt_m from the free parameters V_m (docs/design.md: rows centred and scaled to
    unit norm, or (V V^T + 1e-5 I)^(-1/2) V, rounded to float32 as the library's forward pass
    uses them);
  * the fused logits h by a double-precision forward pass (conv2d in NCHW with zero padding
    and stride, pooling windows without padding, written here with explicit loops);
  * the Lipschitz constant of every pair function x_m -> c_y g_{m,y} - c_j g_{m,j}, with the
    library's factorisation (src/robust/lipschitz.c, docs/conv.md) and exact norms where the
    library uses bounds. The encoder is cut after its last layer that is neither linear nor
    flatten (ReLU, conv2d, pooling); the head rows are multiplied into the linear layers after
    that cut (U_m = H_m W_L ... W_s; flatten is the identity). Before the cut, every run of
    consecutive linear layers contributes the exact spectral norm of its product, every conv2d
    and every average pooling layer the exact spectral norm of its explicit operator matrix
    (out_size x in_size, padding and stride included), every max pooling layer
    sqrt(largest number of windows covering one input cell), ReLU and flatten 1; so
    L = prod(factors) * ||c_y U_y - c_j U_j||. Spectral norms are numpy.linalg.norm(., 2)
    (an SVD);
  * r(x) = min_j (h_y - h_j) / sqrt(sum_m L_{m,j}^2), r_m(x) = min_j (h_y - h_j) / L_{m,j},
    and the minimising class j.

The library bounds the spectral norms by Gram iteration (on the explicit operator for small
conv and pooling layers: the test models are kept below CRMTI_CONV_EXPLICIT_MAX_ENTRIES) and
adds a relative slack of 1e-6 plus rounding allowances, so its radii must be <= the reference
(up to 1e-12) and within REL_TOL relative of it. For each case the largest relative gap
(1 - library / reference over the certified samples' joint and per-modality radii) is
printed. Exit status 0 when every sample agrees, 1 otherwise.

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


KIND_NAMES = ("linear", "relu", "conv2d", "avgpool", "maxpool", "flatten")
N_FIELDS = (1, 0, 4, 2, 2, 0)


def read_model(path):
    """Parse a model file of format version 1 or 2 (docs/file-format.md)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89CRMT\r\n\x1a" or data[8:12] != b"\x04\x03\x02\x01":
        raise ValueError(f"{path}: not a libcrmt model")
    (version,) = struct.unpack_from("<I", data, 12)
    if version not in (1, 2):
        raise ValueError(f"{path}: unsupported format version {version}")
    if struct.unpack_from("<I", data, len(data) - 4)[0] != zlib.crc32(data[:-4]):
        raise ValueError(f"{path}: checksum mismatch")
    k, n_mod, head, head_norm = struct.unpack_from("<4I", data, 16)
    pos, specs = 40, []
    for _ in range(n_mod):
        in_dim, n_layers = struct.unpack_from("<2I", data, pos + 32)
        pos += 40
        image = None
        if version >= 2:
            c, h, w = struct.unpack_from("<3I", data, pos)
            pos += 12
            if c:
                if c * h * w != in_dim:
                    raise ValueError(f"{path}: image {c}x{h}x{w} != input_dim {in_dim}")
                image = (c, h, w)
        layers = []
        for _ in range(n_layers):
            kind, n_fields = struct.unpack_from("<2I", data, pos)
            if kind >= (2 if version == 1 else 6) or n_fields != N_FIELDS[kind]:
                raise ValueError(f"{path}: layer kind {kind} with {n_fields} fields "
                                 f"(version {version})")
            fields = struct.unpack_from(f"<{n_fields}I", data, pos + 8)
            pos += 8 + 4 * n_fields
            layers.append((KIND_NAMES[kind],) + tuple(fields))
        specs.append((in_dim, image, layers))
    (n_params,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    if pos + 4 * n_params + 4 != len(data):
        raise ValueError(f"{path}: size mismatch")
    params = np.frombuffer(data, "<f4", n_params, pos).astype(np.float64)
    off = 0

    def take(n):
        nonlocal off
        v = params[off:off + n]
        off += n
        return v

    # Parameter order (docs/file-format.md): for each modality its linear and conv2d layers
    # (W, then b) followed by its head block (W_m or V_m, K x d_m); then the integration
    # weights a (CRMT, M x K) and the fused bias b (K).
    mods = []
    for in_dim, image, layer_specs in specs:
        # shape: (C, H, W) while the activation is an image, (n,) once it is flat
        shape, layers = (image if image else (in_dim,)), []
        for l in layer_specs:
            kind = l[0]
            lay = {"kind": kind, "in_shape": shape}
            if kind == "linear":
                n_in = int(np.prod(shape))  # a linear layer reads an image in NCHW order
                lay["w"] = take(l[1] * n_in).reshape(l[1], n_in)
                lay["b"] = take(l[1])
                shape = (l[1],)
            elif kind == "relu":
                pass
            elif kind == "flatten":
                shape = (int(np.prod(shape)),)
            else:
                if len(shape) != 3:
                    raise ValueError(f"{path}: {kind} on a flat input")
                c, h, w = shape
                if kind == "conv2d":
                    oc, kk, s, p = l[1:]
                    lay["w"] = take(oc * c * kk * kk).reshape(oc, c, kk, kk)
                    lay["b"] = take(oc)
                    lay.update(k=kk, s=s, p=p)
                    shape = (oc, (h + 2 * p - kk) // s + 1, (w + 2 * p - kk) // s + 1)
                else:
                    kk, s = l[1:]
                    lay.update(k=kk, s=s, p=0)
                    shape = (c, (h - kk) // s + 1, (w - kk) // s + 1)
                if shape[1] < 1 or shape[2] < 1:
                    raise ValueError(f"{path}: {kind} output {shape}")
            lay["out_shape"] = shape
            layers.append(lay)
        m = {"in": in_dim, "image": image, "layers": layers, "d": int(np.prod(shape)),
             "desc": describe(image, layer_specs)}
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
    return dict(n_mod=n_mod, k=k, head=head, version=version, mods=mods, coef=coef, bias=bias)


def describe(image, layer_specs):
    parts = ["x".join(map(str, image)) if image else "flat"]
    for l in layer_specs:
        if l[0] == "conv2d":
            parts.append(f"conv2d({l[1]},k{l[2]},s{l[3]},p{l[4]})")
        elif l[0] in ("avgpool", "maxpool"):
            parts.append(f"{l[0]}({l[1]},{l[2]})")
        elif l[0] == "linear":
            parts.append(f"linear({l[1]})")
        else:
            parts.append(l[0])
    return " ".join(parts)


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


# ---- layers: double-precision forward and explicit operators ------------------------------

def windows(shape_out, s, k):
    """(i, j, row slice, column slice) of every output position of a k x k, stride-s window."""
    for i in range(shape_out[1]):
        for j in range(shape_out[2]):
            yield i, j, slice(i * s, i * s + k), slice(j * s, j * s + k)


def layer_forward(lay, z, bias=True):
    """One layer on the flat activation z (NCHW order for images), in double."""
    kind = lay["kind"]
    if kind == "linear":
        return lay["w"] @ z + (lay["b"] if bias else 0.0)
    if kind == "relu":
        return np.maximum(z, 0.0)
    if kind == "flatten":
        return z
    c, h, w = lay["in_shape"]
    x = z.reshape(c, h, w)
    y = np.empty(lay["out_shape"])
    k, s, p = lay["k"], lay["s"], lay["p"]
    if kind == "conv2d":
        xp = np.zeros((c, h + 2 * p, w + 2 * p))  # zero padding on every side
        xp[:, p:p + h, p:p + w] = x
        for i, j, rs, cs in windows(y.shape, s, k):
            y[:, i, j] = np.tensordot(lay["w"], xp[:, rs, cs], axes=3)
            if bias:
                y[:, i, j] += lay["b"]
    else:  # pooling: windows inside the image, no padding
        for i, j, rs, cs in windows(y.shape, s, k):
            win = x[:, rs, cs]
            y[:, i, j] = win.max(axis=(1, 2)) if kind == "maxpool" else win.mean(axis=(1, 2))
    return y.ravel()


def operator_matrix(lay):
    """Explicit out_size x in_size matrix of a conv2d (without its bias) or average pooling
    layer, padding and stride included, built entry by entry."""
    c, h, w = lay["in_shape"]
    oc, oh, ow = lay["out_shape"]
    k, s, p = lay["k"], lay["s"], lay["p"]
    a = np.zeros((oc * oh * ow, c * h * w))
    for o in range(oc):
        for i in range(oh):
            for j in range(ow):
                row = (o * oh + i) * ow + j
                for ci in range(c):
                    if lay["kind"] == "avgpool" and ci != o:
                        continue  # pooling acts on each channel separately
                    for ki in range(k):
                        r = i * s - p + ki
                        if r < 0 or r >= h:
                            continue  # zero padding
                        for kj in range(k):
                            q = j * s - p + kj
                            if q < 0 or q >= w:
                                continue
                            col = (ci * h + r) * w + q
                            if lay["kind"] == "conv2d":
                                a[row, col] = lay["w"][o, ci, ki, kj]
                            else:
                                a[row, col] = 1.0 / (k * k)
    # the matrix must be the forward pass's linear map (checked on a random vector)
    v = np.random.default_rng(0).standard_normal(a.shape[1])
    fwd = layer_forward(lay, v, bias=False)
    assert np.allclose(a @ v, fwd, rtol=1e-12, atol=1e-12 * np.abs(fwd).max()), lay["kind"]
    return a


def max_cover(lay):
    """Largest number of pooling windows covering one input cell (counted window by window)."""
    _, h, w = lay["in_shape"]
    count = np.zeros((h, w), dtype=np.int64)
    for _, _, rs, cs in windows(lay["out_shape"], lay["s"], lay["k"]):
        count[rs, cs] += 1
    return int(count.max())


def lipschitz_parts(mod):
    """The library's factorisation with exact norms: returns (prefix, U, factors).

    The encoder is cut after its last layer that is neither linear nor flatten; U = head rows
    times the linear layers after the cut (flatten is the identity); prefix = the product of
    the factors before the cut: each run of consecutive linear layers (the exact spectral
    norm of its product), each conv2d and each average pooling (the exact spectral norm of
    its explicit operator), each max pooling sqrt(max cover); ReLU and flatten are 1."""
    layers = mod["layers"]
    cut = max([i for i, l in enumerate(layers) if l["kind"] not in ("linear", "flatten")],
              default=-1)
    factors = []
    i = 0
    while i <= cut:
        kind = layers[i]["kind"]
        if kind in ("relu", "flatten"):
            i += 1
            continue
        if kind in ("conv2d", "avgpool"):
            factors.append((kind, np.linalg.norm(operator_matrix(layers[i]), 2)))
        elif kind == "maxpool":
            # The library's bound sqrt(cov) is also the exact Lipschitz constant of max
            # pooling in the worst case (docs/conv.md 3.4): a cell covered cov times that is
            # the maximum of each of its windows moves cov outputs by the same amount, and
            # no input can do better since each window moves by at most its largest change.
            factors.append((kind, np.sqrt(max_cover(layers[i]))))
        else:
            run = layers[i]["w"]
            while i + 1 <= cut and layers[i + 1]["kind"] == "linear":
                i += 1
                run = layers[i]["w"] @ run
            factors.append(("linear run", np.linalg.norm(run, 2)))
        i += 1
    prefix = float(np.prod([f[1] for f in factors])) if factors else 1.0
    u = mod["head"].copy()
    for l in reversed(layers[cut + 1:]):
        if l["kind"] == "linear":
            u = u @ l["w"]
    return prefix, u, factors



def forward(case, xs):
    h = case["bias"].copy()
    for m, mod in enumerate(case["mods"]):
        z = xs[m]
        for lay in mod["layers"]:
            z = layer_forward(lay, z)
        h += case["coef"][m] * (mod["head"] @ z)
    return h


def say(line):
    """Every line starts with the script's name (the test's output is grepped for it)."""
    print(f"reference_certify: {line}", flush=True)


def rel(a, b):
    if np.isinf(a) and np.isinf(b):
        return 0.0
    return abs(a - b) / max(abs(b), 1e-300)


def check_case(case, idx):
    parts = [lipschitz_parts(m) for m in case["mods"]]
    k, n_mod = case["k"], case["n_mod"]
    bad = 0
    worst = 0.0  # largest relative gap, joint and per-modality radii of certified samples
    worst_joint = 0.0
    runner_up_differs = 0
    certified = 0
    for s_i, s in enumerate(case["samples"]):
        h = forward(case, s["x"])
        order = np.argsort(-h)
        top, second = int(order[0]), int(order[1])
        scale = np.max(np.abs(h)) + 1.0
        y = s["label"] if s["label"] >= 0 else s["pred"]
        if top != s["pred"] and h[top] - h[s["pred"]] > 1e-9 * scale:
            say(f"case {idx} sample {s_i}: library predicts {s['pred']}, reference {top}")
            bad += 1
            continue
        radii, mr = {}, np.full(n_mod, np.inf)
        for j in range(k):
            if j == y:
                continue
            margin = h[y] - h[j]
            ls = []
            for m in range(n_mod):
                prefix, u, _ = parts[m]
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
                worst_joint = max(worst_joint, e)
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
                say(f"case {idx} sample {s_i}: " + "; ".join(problems))
                bad += 1
        else:
            # Not certified by the library: the reference must agree up to rounding-size margins.
            if ref_cert and r > 1e-9 * scale:
                say(f"case {idx} sample {s_i}: library did not certify, reference radius {r:.6g}")
                bad += 1
            if s["radius"] != 0.0:
                say(f"case {idx} sample {s_i}: uncertified sample with radius {s['radius']}")
                bad += 1
    say(f"case {idx}: format v{case['version']}, {len(case['samples'])} samples, M={n_mod}, "
          f"K={k}, {'CRMT' if case['head'] else 'JT'} head, {certified} certified, largest "
          f"relative gap {worst:.3e} (joint radius {worst_joint:.3e}), {runner_up_differs} with "
          f"closest class != runner-up")
    if case["version"] >= 2:
        for m, mod in enumerate(case["mods"]):
            fac = ", ".join(f"{name} {v:.6g}" for name, v in parts[m][2]) or "none"
            say(f"  modality {m}: {mod['desc']}; factors before the folded run: {fac}")
    if certified == 0:
        say(f"case {idx}: no certified sample, nothing checked")
        bad += 1
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
    say(f"{idx} cases, {total_bad} disagreements, {differs} samples whose "
          f"closest class is not the runner-up")
    return 1 if total_bad or idx == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
