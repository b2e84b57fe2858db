#!/usr/bin/env python3
"""gpt2_reference.py - an independent GPT-2 forward in double precision, standard library only.

Reads a Hugging Face GPT-2 folder (config.json + model.safetensors, F32/F16/BF16, keys with
or without the "transformer." prefix) and prints the mean cross-entropy of a token sequence,
the way transformers' GPT2LMHeadModel computes it: Conv1D weights stored (in, out), the tanh
GELU ("gelu_new"), LayerNorm with layer_norm_epsilon, the lm_head tied to wte.

    gpt2_reference.py loss DIR TOKENS...      mean loss of predicting tokens[1:] from tokens[:-1]
    gpt2_reference.py fixture DIR SEED        writes a tiny random GPT-2 folder into DIR and
                                              prints {"tokens": [...], "loss": ...} as JSON

The fixture is what tests/test_hf_reference.c compares mptui's fp32 loss against
(docs/files.md, "The loss, checked against an independent forward"): no PyTorch is needed to check that the
folder's layout is read the way transformers reads it.
"""
import json
import math
import random
import struct
import sys


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + hlen])
    base = 8 + hlen
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        raw = data[base + a:base + b]
        dt = e["dtype"]
        if dt == "F32":
            vals = list(struct.unpack("<%df" % (len(raw) // 4), raw))
        elif dt == "F16":
            vals = list(struct.unpack("<%de" % (len(raw) // 2), raw))
        elif dt == "BF16":
            u16 = struct.unpack("<%dH" % (len(raw) // 2), raw)
            vals = [struct.unpack("<f", struct.pack("<I", u << 16))[0] for u in u16]
        else:
            raise SystemExit("unsupported dtype %s in %s" % (dt, name))
        out[name] = (e["shape"], vals)
    return out


def load(folder):
    with open(folder + "/config.json") as f:
        cfg = json.load(f)
    raw = read_safetensors(folder + "/model.safetensors")
    w = {}
    for name, (shape, vals) in raw.items():
        key = name[len("transformer."):] if name.startswith("transformer.") else name
        w[key] = (shape, vals)
    return cfg, w


def matrix(w, name):
    shape, vals = w[name]
    rows, cols = shape
    return [vals[r * cols:(r + 1) * cols] for r in range(rows)]


def vec(w, name):
    return w[name][1]


def layernorm(x, g, b, eps):
    out = []
    for row in x:
        n = len(row)
        mean = sum(row) / n
        var = sum((v - mean) ** 2 for v in row) / n
        r = 1.0 / math.sqrt(var + eps)
        out.append([(v - mean) * r * g[i] + b[i] for i, v in enumerate(row)])
    return out


def conv1d(x, W, bias):
    """x (T, in) @ W (in, out) + bias: GPT-2's Conv1D layout."""
    cols = len(W[0])
    out = []
    for row in x:
        acc = list(bias)
        for i, v in enumerate(row):
            if v:
                wr = W[i]
                for j in range(cols):
                    acc[j] += v * wr[j]
        out.append(acc)
    return out


def gelu_new(v):
    return 0.5 * v * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (v + 0.044715 * v ** 3)))


def forward_loss(cfg, w, tokens):
    C, NH, L = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    hd = C // NH
    inp, tgt = tokens[:-1], tokens[1:]
    T = len(inp)
    wte, wpe = matrix(w, "wte.weight"), matrix(w, "wpe.weight")
    x = [[wte[t][c] + wpe[p][c] for c in range(C)] for p, t in enumerate(inp)]
    for l in range(L):
        h = "h.%d." % l
        a = layernorm(x, vec(w, h + "ln_1.weight"), vec(w, h + "ln_1.bias"), eps)
        qkv = conv1d(a, matrix(w, h + "attn.c_attn.weight"), vec(w, h + "attn.c_attn.bias"))
        y = [[0.0] * C for _ in range(T)]
        for n in range(NH):
            q0, k0, v0 = n * hd, C + n * hd, 2 * C + n * hd
            for t in range(T):
                s = [sum(qkv[t][q0 + d] * qkv[u][k0 + d] for d in range(hd)) / math.sqrt(hd)
                     for u in range(t + 1)]
                m = max(s)
                e = [math.exp(v - m) for v in s]
                z = sum(e)
                for d in range(hd):
                    y[t][n * hd + d] = sum(e[u] / z * qkv[u][v0 + d] for u in range(t + 1))
        y = conv1d(y, matrix(w, h + "attn.c_proj.weight"), vec(w, h + "attn.c_proj.bias"))
        x = [[x[t][c] + y[t][c] for c in range(C)] for t in range(T)]
        m2 = layernorm(x, vec(w, h + "ln_2.weight"), vec(w, h + "ln_2.bias"), eps)
        f = conv1d(m2, matrix(w, h + "mlp.c_fc.weight"), vec(w, h + "mlp.c_fc.bias"))
        f = [[gelu_new(v) for v in row] for row in f]
        f = conv1d(f, matrix(w, h + "mlp.c_proj.weight"), vec(w, h + "mlp.c_proj.bias"))
        x = [[x[t][c] + f[t][c] for c in range(C)] for t in range(T)]
    x = layernorm(x, vec(w, "ln_f.weight"), vec(w, "ln_f.bias"), eps)
    total = 0.0
    for t in range(T):
        logits = [sum(x[t][c] * wte[v][c] for c in range(C)) for v in range(len(wte))]
        m = max(logits)
        lse = m + math.log(sum(math.exp(z - m) for z in logits))
        total += lse - logits[tgt[t]]
    return total / T


def write_safetensors(path, tensors):
    """tensors: list of (name, shape, float values) written as F32."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, shape, vals in tensors:
        blob = struct.pack("<%df" % len(vals), *vals)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))


def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


def fixture(folder, seed):
    rnd = random.Random(seed)
    L, NH, C, P, V = 2, 2, 16, 16, 256
    cfg = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_layer": L,
           "n_head": NH, "n_embd": C, "n_positions": P, "n_ctx": P, "vocab_size": V,
           "n_inner": None, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
           "tie_word_embeddings": True, "scale_attn_weights": True}

    def rand(n, scale=0.3, mean=0.0):
        return [f32(mean + rnd.gauss(0.0, scale)) for _ in range(n)]

    t = [("transformer.wte.weight", [V, C], rand(V * C)),
         ("transformer.wpe.weight", [P, C], rand(P * C, 0.1))]
    for l in range(L):
        h = "transformer.h.%d." % l
        t += [(h + "ln_1.weight", [C], rand(C, 0.1, 1.0)), (h + "ln_1.bias", [C], rand(C, 0.1)),
              (h + "attn.bias", [1, 1, P, P], [1.0] * (P * P)),  # an old file's mask buffer
              (h + "attn.c_attn.weight", [C, 3 * C], rand(C * 3 * C)),
              (h + "attn.c_attn.bias", [3 * C], rand(3 * C, 0.1)),
              (h + "attn.c_proj.weight", [C, C], rand(C * C)),
              (h + "attn.c_proj.bias", [C], rand(C, 0.1)),
              (h + "ln_2.weight", [C], rand(C, 0.1, 1.0)), (h + "ln_2.bias", [C], rand(C, 0.1)),
              (h + "mlp.c_fc.weight", [C, 4 * C], rand(C * 4 * C)),
              (h + "mlp.c_fc.bias", [4 * C], rand(4 * C, 0.1)),
              (h + "mlp.c_proj.weight", [4 * C, C], rand(4 * C * C)),
              (h + "mlp.c_proj.bias", [C], rand(C, 0.1))]
    t += [("transformer.ln_f.weight", [C], rand(C, 0.1, 1.0)),
          ("transformer.ln_f.bias", [C], rand(C, 0.1)),
          ("lm_head.weight", [V, C], t[0][2])]  # present and equal to wte: tied
    with open(folder + "/config.json", "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(folder + "/model.safetensors", t)
    tokens = [rnd.randrange(V) for _ in range(P + 1)]
    c, w = load(folder)
    print(json.dumps({"tokens": tokens, "loss": repr(forward_loss(c, w, tokens))}))


def main(argv):
    if len(argv) >= 4 and argv[1] == "loss":
        cfg, w = load(argv[2])
        print(repr(forward_loss(cfg, w, [int(v) for v in argv[3:]])))
    elif len(argv) == 4 and argv[1] == "fixture":
        fixture(argv[2], int(argv[3]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
