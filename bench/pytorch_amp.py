#!/usr/bin/env python3
"""pytorch_amp.py — the reference point for `make bench-gpu`: GPT-2 124M (12 layers, 12 heads,
768 wide, T=1024, vocab 50257) trained with transformers' GPT2LMHeadModel, torch.autocast,
GradScaler (fp16) and fused AdamW, eager attention, dropout off — the same shapes and the same
FLOP accounting (6N + 6LCT per token) as bench/bench_gpu.c. With --compare FILE (bench_gpu's
--out) it prints mptui / PyTorch ratios.

usage: python3 bench/pytorch_amp.py [--batch 16] [--steps 10] [--attn eager|sdpa]
                                    [--peak-tflops X] [--compare build/bench-gpu.tsv]
"""
import argparse
import sys
import time

L, NH, C, T, V = 12, 12, 768, 1024, 50257


def peaks(name, override):
    """Dense peak TFLOP/s for (fp16/bf16 tensor cores, fp32) — as in bench_gpu.c."""
    if override:
        return override, override / 15.0
    if "H200" in name or "H100" in name:
        return 989.4, 66.9
    if "A100" in name:
        return 312.0, 19.5
    return 0.0, 0.0


def make_model(attn):
    """transformers' GPT2LMHeadModel; without transformers installed, the same architecture
    written out (pre-LN, tied lm_head, GELU tanh, eager softmax attention) so a machine
    that only has torch still gets a baseline — the output says which one ran."""
    import torch
    try:
        from transformers import GPT2Config, GPT2LMHeadModel
    except ImportError:
        GPT2LMHeadModel = None
    if GPT2LMHeadModel is not None:
        cfg = GPT2Config(n_layer=L, n_head=NH, n_embd=C, n_positions=T, vocab_size=V,
                         resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
        try:
            return GPT2LMHeadModel(cfg, attn_implementation=attn), "transformers"
        except TypeError:  # older transformers: no attn_implementation argument
            return GPT2LMHeadModel(cfg), "transformers"
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
            self.c_attn, self.c_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
            self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)
            self.register_buffer("mask", torch.tril(torch.ones(T, T, dtype=torch.bool)))

        def forward(self, x):
            B_, T_, _ = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
            q, k, v = (t.view(B_, T_, NH, C // NH).transpose(1, 2) for t in (q, k, v))
            if attn == "sdpa":
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                s = (q @ k.transpose(-2, -1)) / (C // NH) ** 0.5
                s = s.masked_fill(~self.mask[:T_, :T_], torch.finfo(s.dtype).min)
                y = F.softmax(s, dim=-1, dtype=torch.float32).to(v.dtype) @ v
            x = x + self.c_proj(y.transpose(1, 2).reshape(B_, T_, C))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
            self.h = nn.ModuleList(Block() for _ in range(L))
            self.ln_f = nn.LayerNorm(C)

        def forward(self, input_ids, labels):
            pos = torch.arange(input_ids.shape[1], device=input_ids.device)
            x = self.wte(input_ids) + self.wpe(pos)
            for b in self.h:
                x = b(x)
            logits = self.ln_f(x) @ self.wte.weight.t()
            loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, V),
                                   labels[:, 1:].reshape(-1))
            return type("Out", (), {"loss": loss})

    return GPT(), "built-in GPT-2 (transformers not installed)"


def bench(mode, batch, steps, attn):
    import torch

    torch.manual_seed(0)
    model, impl = make_model(attn)
    bench.impl = impl
    model = model.cuda().train()
    n_params = sum(p.numel() for p in model.parameters())  # tied lm_head counted once
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, fused=True)
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": None}[mode]
    scaler = torch.amp.GradScaler("cuda", enabled=mode == "fp16")
    # fp32 as mptui's: true fp32 GEMMs, no TF32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    g = torch.Generator(device="cuda").manual_seed(1)

    def step():
        x = torch.randint(0, V, (batch, T), device="cuda", generator=g)
        with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = model(input_ids=x, labels=x).loss
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        return loss

    for _ in range(steps):  # warm-up (allocator, cuBLAS heuristics)
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    del model, opt
    torch.cuda.empty_cache()
    return batch * T * steps / dt, n_params, float(loss)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--attn", default="eager", choices=["eager", "sdpa"])
    ap.add_argument("--peak-tflops", type=float, default=0.0)
    ap.add_argument("--compare", default="")
    a = ap.parse_args()
    try:
        import torch
    except ImportError as e:
        print(f"pytorch_amp: {e} (needs torch; transformers too for the reference model)",
              file=sys.stderr)
        return 1
    try:
        import transformers
        tver = transformers.__version__
    except ImportError:
        tver = "not installed"
    if not torch.cuda.is_available():
        print("pytorch_amp: no CUDA device visible to torch", file=sys.stderr)
        return 1
    name = torch.cuda.get_device_name(0)
    p16, p32 = peaks(name, a.peak_tflops)
    print(f"pytorch_amp: torch {torch.__version__}, transformers {tver}, "
          f"{name}, batch {a.batch}, T={T}, {a.attn} attention, {a.steps} warm-up + "
          f"{a.steps} timed steps")
    res = {}
    for mode in ("fp32", "fp16", "bf16"):
        tps, n, loss = bench(mode, a.batch, a.steps, a.attn)
        flops_tok = 6.0 * n + 6.0 * L * C * T
        peak = (p32 if mode == "fp32" else p16) * 1e12
        mfu = tps * flops_tok / peak if peak else 0.0
        res[mode] = (tps, mfu)
        print(f"{mode:6s} {tps:12.0f} tok/s  MFU {100 * mfu:5.1f}%  (loss {loss:.3f}, "
              f"{n / 1e6:.1f}M params, {bench.impl})", flush=True)
    if not a.compare:
        return 0
    try:
        rows = [l.rstrip("\n").split("\t") for l in open(a.compare)][1:]
    except OSError as e:
        print(f"pytorch_amp: --compare: {e}", file=sys.stderr)
        return 1
    mp = {r[0]: (float(r[1]), float(r[2])) for r in rows if len(r) == 3}
    print("\nmode    mptui tok/s  MFU     PyTorch AMP tok/s  MFU     mptui / PyTorch")
    for mode in ("fp32", "fp16", "bf16"):
        if mode not in mp:
            print(f"{mode:6s}  (no mptui result)")
            continue
        (mt, mm), (pt, pm) = mp[mode], res[mode]
        print(f"{mode:6s} {mt:12.0f} {100 * mm:5.1f}%  {pt:17.0f} {100 * pm:5.1f}%  "
              f"{mt / pt:8.2f}x")
    bf = mp.get("bf16")
    if bf:
        print(f"targets: bf16 >= 1.0x PyTorch eager AMP ({bf[0] / res['bf16'][0]:.2f}x), "
              f"MFU >= 40% ({100 * bf[1]:.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
