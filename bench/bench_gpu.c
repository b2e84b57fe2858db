/* bench_gpu.c — GPT-2 124M (12 layers, 12 heads, 768 wide, T = 1024, vocab 50257) training
 * throughput on the CUDA backend through the real trainer, in fp32 / fp16 / bf16: tokens/s
 * and MFU. `make bench-gpu` runs it, then bench/pytorch_amp.py for the ratio.
 * usage: bench_gpu [--batch B] [--steps S] [--peak-tflops X] [--out FILE]
 *
 * FLOPs per token = 6 N + 6 L C T (N = all parameters, the tied lm_head counted once through
 * wte; the second term is attention's QK^T and AV, forward and backward), as in the PaLM and
 * llm.c accounting. MFU = achieved FLOP/s over the GPU's dense peak for the mode's math:
 * H200 / H100 SXM: 989.4 TFLOP/s fp16 and bf16 tensor cores (dense, no sparsity), 66.9 TFLOP/s
 * fp32 (CUDA cores; mptui's fp32 mode does not use TF32, to match the CPU reference).
 * A100: 312 / 19.5. Other GPUs: pass --peak-tflops (applied to fp16 / bf16; fp32 gets 1/15). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "config.h"
#include "trainer.h"

enum { L = 12, NH = 12, C = 768, T = 1024, V = 50257 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Log lines arrive at logging steps: the first one closes warm-up, the last one the run. */
typedef struct {
    int n;
    double t_first, t_last;
} log_clock;

static void on_log(void *ud, const char *line)
{
    log_clock *lc = ud;
    fprintf(stderr, "  %s\n", line);
    if (strncmp(line, "step", 4) != 0) return; /* notices */
    double t = now_s();
    if (lc->n++ == 0) lc->t_first = t;
    lc->t_last = t;
}

/* llm.c token file: 256 int32 header (magic, version, count), then uint16 tokens. Random
 * tokens: throughput does not depend on what is learned. */
static int write_tokens(const char *path, int n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int32_t hdr[256] = {20240520, 1, n};
    uint16_t *tok = malloc((size_t)n * sizeof *tok);
    if (!tok) {
        fclose(f);
        return -1;
    }
    uint64_t s = 88172645463325252ull;
    for (int i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        tok[i] = (uint16_t)(s % V);
    }
    int ok = fwrite(hdr, sizeof hdr, 1, f) == 1 && fwrite(tok, sizeof *tok, (size_t)n, f) == (size_t)n;
    free(tok);
    return fclose(f) == 0 && ok ? 0 : -1;
}

static double gpt2_params(void)
{
    double per_block = 2.0 * C + (C * 3.0 * C + 3.0 * C) + (C * (double)C + C) + 2.0 * C +
                       (C * 4.0 * C + 4.0 * C) + (4.0 * C * C + C);
    return (double)V * C + (double)T * C + L * per_block + 2.0 * C;
}

/* Tokens/s of `steps` measured steps after as many warm-up steps; -1 on error. */
static double run(const char *mode, const char *data, const char *dir, int batch, int steps)
{
    mp_config c;
    char err[512], v[64];
    cfg_defaults(&c);
    snprintf(v, sizeof v, "%d", batch);
    char steps2[32], stepsn[32];
    snprintf(steps2, sizeof steps2, "%d", 2 * steps);
    snprintf(stepsn, sizeof stepsn, "%d", steps);
    const char *kv[][2] = {
        {"precision", mode}, {"device", "cuda"}, {"n_layer", "12"}, {"n_head", "12"},
        {"n_embd", "768"}, {"block_size", "1024"}, {"data", data}, {"per_device_train_batch_size", v},
        {"max_steps", steps2}, {"logging_steps", stepsn}, {"eval_strategy", "no"},
        {"save_strategy", "no"}, {"sample_length", "0"}, {"output_dir", dir},
        {"learning_rate", "3e-4"}, {"warmup_steps", "0"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (cfg_set(&c, kv[i][0], kv[i][1], err, sizeof err)) goto fail;
    log_clock lc = {0, 0, 0};
    trainer *t = trainer_create(&c, NULL, on_log, &lc, err, sizeof err);
    if (!t) goto fail;
    if (trainer_run(t, err, sizeof err)) {
        trainer_free(t);
        goto fail;
    }
    trainer_free(t);
    if (lc.n < 2) {
        snprintf(err, sizeof err, "expected 2 log lines, got %d", lc.n);
        goto fail;
    }
    return (double)steps * batch * T / (lc.t_last - lc.t_first);
fail:
    fprintf(stderr, "bench_gpu %s: %s\n", mode, err);
    return -1;
}

int main(int argc, char **argv)
{
    int batch = 16, steps = 10;
    double peak_lowp = 0;
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--peak-tflops") && i + 1 < argc) peak_lowp = atof(argv[++i]);
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else {
            fprintf(stderr, "usage: bench_gpu [--batch B] [--steps S] [--peak-tflops X] [--out FILE]\n");
            return 2;
        }
    }
    if (batch < 1 || steps < 1) {
        fprintf(stderr, "bench_gpu: --batch and --steps must be >= 1\n");
        return 2;
    }
    char err[512];
    backend *be = bk_create(BK_CUDA, 0, err, sizeof err);
    if (!be) {
        fprintf(stderr, "bench_gpu: no usable CUDA device (%s)\n", err);
        return 1;
    }
    char desc[160];
    snprintf(desc, sizeof desc, "%s", bk_describe(be));
    bk_destroy(be);
    double peak_f32 = 0;
    if (peak_lowp > 0) peak_f32 = peak_lowp / 15.0;
    else if (strstr(desc, "H200") || strstr(desc, "H100")) peak_lowp = 989.4, peak_f32 = 66.9;
    else if (strstr(desc, "A100")) peak_lowp = 312.0, peak_f32 = 19.5;
    char dir[] = "/tmp/mptui-bench-gpu-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char data[sizeof dir + 16];
    snprintf(data, sizeof data, "%s/tokens.bin", dir);
    if (write_tokens(data, 4 << 20)) {
        fprintf(stderr, "bench_gpu: cannot write %s\n", data);
        return 1;
    }
    double N = gpt2_params(), flops_tok = 6.0 * N + 6.0 * L * C * T;
    printf("bench_gpu: GPT-2 124M (%.1fM params), T=%d, batch %d, %d warm-up + %d timed steps\n",
           N / 1e6, T, batch, steps, steps);
    printf("device: %s; %.3f GFLOP/token (6N + 6LCT); peak %.1f (fp16/bf16) / %.1f (fp32) TFLOP/s\n",
           desc, flops_tok / 1e9, peak_lowp, peak_f32);
    FILE *f = out ? fopen(out, "w") : NULL;
    if (out && !f) fprintf(stderr, "bench_gpu: cannot write %s\n", out);
    if (f) fprintf(f, "mode\ttokens_per_s\tmfu\n");
    const char *modes[] = {"fp32", "fp16", "bf16"};
    int rc = 0;
    printf("%-6s %12s %8s\n", "mode", "tokens/s", "MFU");
    for (int m = 0; m < 3; m++) {
        double tps = run(modes[m], data, dir, batch, steps);
        if (tps < 0) {
            rc = 1;
            continue;
        }
        double peak = (m == 0 ? peak_f32 : peak_lowp) * 1e12;
        double mfu = peak > 0 ? tps * flops_tok / peak : 0.0;
        printf("%-6s %12.0f %7.1f%%\n", modes[m], tps, 100.0 * mfu);
        fflush(stdout);
        if (f) fprintf(f, "%s\t%.1f\t%.4f\n", modes[m], tps, mfu);
    }
    if (f) fclose(f);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) rc = 1;
    return rc;
}
