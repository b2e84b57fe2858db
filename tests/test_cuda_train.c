/* test_cuda_train.c — whole training steps of a small GPT (2 layers, 64 wide, byte vocab) on
 * the CUDA and CPU backends from the same weights and batches, in fp32 / fp16 / bf16: the
 * loss-scale decisions must be identical and the losses close. Tolerances (absolute, on a
 * loss near ln 256 = 5.5): fp32 1e-4 (accumulation order only); bf16 3e-2 and fp16 1e-2
 * (a rounding landing on the other neighbour moves an activation by one ulp of its dtype,
 * and AdamW's normalized updates carry that into every later step). */
#include "mptui.h"
#include "test_cuda_util.h"

enum { L = 2, NH = 2, C = 64, T = 32, B = 4, V = 256, STEPS = 5 };

typedef struct {
    float loss[STEPS];
    int skipped[STEPS];
    float scale[STEPS];
    num_stats lm_grad; /* lm_head gradient stats of the last step */
} run_log;

static void run(backend *be, dtype_t mode, float init_scale, run_log *log)
{
    char err[512];
    gpt_config cfg = {.n_layer = L, .n_head = NH, .n_embd = C, .block_size = T, .vocab_size = V};
    gpt *m = gpt_create(be, &cfg, B, T, err, sizeof err);
    cr_assert_not_null(m, "%s", err);
    rng_state rng;
    rng_seed(&rng, 1234);
    gpt_init_weights(m, &rng);
    prec_policy pol;
    cr_assert_eq(prec_init(&pol, L, mode), 0);
    scaler sc;
    scaler_init(&sc, mode == DT_F16, 1, init_scale, 2.0f, 0.5f, 2, 0.0f);
    optim opt;
    optim_init(&opt, 1e-3, 0.9, 0.999, 1e-8, 0.1, 1.0, SCHED_CONSTANT, 0, STEPS);
    int nt;
    optim_tensor *ts = optim_tensors_from_model(m, &nt);
    gpt_row_stats *st = calloc((size_t)pol.n, sizeof *st);
    uint64_t s = 77; /* the same batches on both backends */
    int32_t x[B * T], y[B * T];
    for (int step = 0; step < STEPS; step++) {
        for (int i = 0; i < B * T; i++) x[i] = (int32_t)(tu_next(&s) % V);
        for (int i = 0; i < B * T; i++) y[i] = (x[i] * 7 + 3) % V; /* learnable */
        memset(st, 0, (size_t)pol.n * sizeof *st);
        gpt_refresh_copies(m, &pol);
        gpt_zero_grads(m);
        log->loss[step] = gpt_forward(m, &pol, x, y, B, T, st);
        log->scale[step] = scaler_loss_scale(&sc);
        gpt_backward(m, &pol, scaler_loss_scale(&sc), st);
        int found = 0;
        for (int i = 0; i < nt; i++) found |= bk_unscale(be, ts[i].g, ts[i].n, scaler_inv_scale(&sc));
        log->skipped[step] = scaler_update(&sc, found, step + 1, NULL);
        if (!log->skipped[step])
            optim_step(&opt, be, ts, nt, optim_clip_coef(optim_grad_norm(be, ts, nt), 1.0));
        cr_assert_eq(bk_status(be, err, sizeof err), 0, "step %d: %s", step, err);
    }
    log->lm_grad = st[prec_row_lmhead(&pol)].grad;
    free(st);
    free(ts);
    prec_free(&pol);
    gpt_free(m);
}

static void compare(dtype_t mode, float init_scale, double tol, int want_skips)
{
    tc_pair p = tc_pair_or_skip();
    run_log g, c;
    memset(&g, 0, sizeof g);
    memset(&c, 0, sizeof c);
    run(p.gpu, mode, init_scale, &g);
    run(p.cpu, mode, init_scale, &c);
    int skips = 0;
    for (int i = 0; i < STEPS; i++) {
        cr_assert_eq(g.skipped[i], c.skipped[i], "%s step %d: cuda %s, cpu %s",
                     dtype_name(mode), i + 1, g.skipped[i] ? "skipped" : "stepped",
                     c.skipped[i] ? "skipped" : "stepped");
        cr_assert_eq(g.scale[i], c.scale[i], "%s step %d scale", dtype_name(mode), i + 1);
        skips += c.skipped[i];
        if (isnan(c.loss[i])) {
            cr_assert(isnan(g.loss[i]), "%s step %d: cuda loss %g, cpu NaN", dtype_name(mode),
                      i + 1, (double)g.loss[i]);
            continue;
        }
        cr_assert(fabs((double)g.loss[i] - c.loss[i]) <= tol, "%s step %d: loss cuda %.7f cpu %.7f",
                  dtype_name(mode), i + 1, (double)g.loss[i], (double)c.loss[i]);
    }
    cr_assert(c.loss[STEPS - 1] < c.loss[0], "%s: training should lower the loss", dtype_name(mode));
    if (want_skips) cr_assert(skips > 0, "fp16 at this scale should overflow at least once");
    cr_assert_eq(g.lm_grad.count, c.lm_grad.count);
    tc_pair_free(&p);
}

Test(cuda_train, fp32_steps_match_cpu) { compare(DT_F32, 1.0f, 1e-4, 0); }
Test(cuda_train, bf16_steps_match_cpu) { compare(DT_BF16, 1.0f, 3e-2, 0); }
/* 2^24: the first steps overflow fp16 and back off; the decisions must be the same. */
Test(cuda_train, fp16_scaler_decisions_match_cpu) { compare(DT_F16, 16777216.0f, 1e-2, 1); }
