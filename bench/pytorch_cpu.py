#!/usr/bin/env python3
"""pytorch_cpu.py — the CPU reference point of `make bench` (bench/bench_gpt2.c): GPT-2 124M
(the model of bench/pytorch_amp.py: transformers' GPT2LMHeadModel, else the same architecture
written out) trained in fp32 eager on the CPU with AdamW and clipping, dropout off. One warm-up
step, then --steps timed steps; the last line is "tok/s X" for bench_gpt2 to read.

usage: python3 bench/pytorch_cpu.py [--batch 4] [--seq 256] [--steps 3] [--threads N]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    try:
        import torch
    except ImportError as e:
        print(f"pytorch_cpu: {e}", file=sys.stderr)
        return 1
    import pytorch_amp

    if not 1 <= a.seq <= pytorch_amp.T:
        print(f"pytorch_cpu: --seq must be 1..{pytorch_amp.T}", file=sys.stderr)
        return 2
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model, impl = pytorch_amp.make_model("eager")
    model = model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    g = torch.Generator().manual_seed(1)

    def step():
        x = torch.randint(0, pytorch_amp.V, (a.batch, a.seq), generator=g)
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss)

    step()  # warm-up: allocator, AdamW state
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    dt = time.perf_counter() - t0
    print(f"  PyTorch {torch.__version__} fp32 eager on CPU ({torch.get_num_threads()} threads, "
          f"{impl}), batch {a.batch}, T={a.seq}, 1 warm-up + {a.steps} timed steps, "
          f"loss {loss:.3f}")
    print(f"tok/s {a.batch * a.seq * a.steps / dt:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
