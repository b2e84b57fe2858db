/* test_cuda_train.c — whole training steps of a small GPT (2 layers, 64 wide, byte vocab) on
 * the CUDA and CPU backends from the same weights and batches, in fp32 / fp16 / bf16: the
 * loss-scale decisions must be identical and the losses close. Tolerances (absolute, on a
 * loss near ln 256 = 5.5): fp32 1e-4 (accumulation order only); bf16 3e-2 and fp16 1e-2
 * (a rounding landing on the other neighbour moves an activation by one ulp of its dtype,
 * and AdamW's normalized updates carry that into every later step). Also one step at GPT-2
 * 124M's shapes (T = 1024, V = 50257) with every row's statistics. */
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

/* One forward + backward at GPT-2 124M's widths, context and vocabulary (one layer: the
 * shapes, not the depth, are what the kernels see): T = 1024, C = 768, 12 heads, V = 50257,
 * in bf16 with a loss scale of 1024 and statistics. The flash-style attention, the chunked
 * classifier (166-row chunks, the last one short) and the 16-bit packed activations run at
 * full size. Loss within 1e-2; every row's act, grad, unscaled-grad and weight-gradient
 * counts equal, amax within 2% (bf16's ulp is 2^-8 relative, and one rounding landing on
 * the other neighbour moves what follows); the gradient norm within 1%. */
Test(cuda_train, gpt2_shapes_one_step_with_stats)
{
    tc_pair p = tc_pair_or_skip();
    enum { GL = 1, GT = 1024, GV = 50257, GC = 768, GNH = 12, GB = 1 };
    gpt_config cfg = {.n_layer = GL, .n_head = GNH, .n_embd = GC, .block_size = GT,
                      .vocab_size = GV};
    prec_policy pol;
    cr_assert_eq(prec_init(&pol, GL, DT_BF16), 0);
    int32_t *x = malloc(GT * sizeof *x), *y = malloc(GT * sizeof *y);
    cr_assert(x && y);
    uint64_t s = 2024;
    for (int i = 0; i < GT; i++) x[i] = (int32_t)(tu_next(&s) % GV), y[i] = (x[i] * 31 + 7) % GV;
    float loss[2];
    double norm[2];
    gpt_row_stats *st[2];
    backend *bes[2] = {p.gpu, p.cpu};
    for (int k = 0; k < 2; k++) {
        char err[512];
        gpt *m = gpt_create_for(bes[k], &cfg, &pol, GB, GT, err, sizeof err);
        cr_assert_not_null(m, "%s", err);
        rng_state rng;
        rng_seed(&rng, 99);
        gpt_init_weights(m, &rng);
        st[k] = calloc((size_t)pol.n, sizeof *st[k]);
        cr_assert_not_null(st[k]);
        gpt_refresh_copies(m, &pol);
        gpt_zero_grads(m);
        gpt_set_stats_unscale(m, 1.0f / 1024.0f);
        gpt_prepare_backward(m, 1024.0f);
        loss[k] = gpt_forward(m, &pol, x, y, GB, GT, st[k]);
        gpt_backward(m, &pol, 1024.0f, st[k]);
        norm[k] = sqrt(bk_sumsq(bes[k], gpt_grads(m), gpt_num_params(m)));
        cr_assert_eq(bk_status(bes[k], err, sizeof err), 0, "%s", err);
        gpt_free(m);
    }
    cr_assert(isfinite(loss[1]) && fabs(loss[1] - log((double)GV)) < 0.1, "cpu loss %g", loss[1]);
    cr_assert(fabs((double)loss[0] - loss[1]) <= 1e-2, "loss cuda %.7f cpu %.7f", loss[0], loss[1]);
    cr_assert(fabs(norm[0] - norm[1]) <= 1e-2 * norm[1], "norm cuda %g cpu %g", norm[0], norm[1]);
    for (int i = 0; i < pol.n; i++) {
        char what[96];
        const char *nm = pol.rows[i].name;
        snprintf(what, sizeof what, "%s act", nm);
        tc_stats_close(&st[0][i].act, &st[1][i].act, 0.02, st[1][i].act.count / 1000 + 2, what);
        snprintf(what, sizeof what, "%s grad", nm);
        tc_stats_close(&st[0][i].grad, &st[1][i].grad, 0.02, st[1][i].grad.count / 1000 + 2, what);
        snprintf(what, sizeof what, "%s grad_unscaled", nm);
        tc_stats_close(&st[0][i].grad_unscaled, &st[1][i].grad_unscaled, 0.02,
                       st[1][i].grad_unscaled.count / 1000 + 2, what);
        snprintf(what, sizeof what, "%s wgrad", nm);
        tc_stats_close(&st[0][i].wgrad, &st[1][i].wgrad, 0.02, st[1][i].wgrad.count / 1000 + 2,
                       what);
    }
    int rh = prec_row_lmhead(&pol);
    cr_assert_eq(st[1][rh].grad.count, (uint64_t)GT * GV, "every dlogits element once");
    cr_assert_eq(st[1][rh].act.count, (uint64_t)GT * GV, "every logit once");
    for (int k = 0; k < 2; k++) free(st[k]);
    free(x);
    free(y);
    prec_free(&pol);
    tc_pair_free(&p);
}
