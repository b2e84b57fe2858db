/* Tests for src/train/model.c: tensor table (HF names, Conv1D shapes), GPT-2 init,
 * whole-model gradient check in fp32 by central differences, precision effects, the chunked
 * and fused classifier (same bits either way), sampling rows, memory of the classifier, the
 * layout of 16-bit activations (same bits, refusal without memory). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "backend.h"
#include "model.h"
#include "precision.h"
#include "rng.h"

static backend *be;
static gpt *m;
static prec_policy pol;
static const gpt_config tiny = {2, 2, 16, 8, 32};
enum { B = 2, T = 8 };

static void setup(void)
{
    char err[256];
    be = bk_create(BK_CPU, 1, err, sizeof err);
    cr_assert_not_null(be, "%s", err);
    m = gpt_create(be, &tiny, B, T, err, sizeof err);
    cr_assert_not_null(m, "%s", err);
    rng_state r;
    rng_seed(&r, 7);
    gpt_init_weights(m, &r);
    cr_assert_eq(prec_init(&pol, tiny.n_layer, DT_F32), 0);
}

static void teardown(void)
{
    prec_free(&pol);
    gpt_free(m);
    bk_destroy(be);
}

TestSuite(model, .init = setup, .fini = teardown);

static void batch(int32_t *x, int32_t *y)
{
    for (int i = 0; i < B * T; i++) {
        x[i] = (i * 7 + 3) % tiny.vocab_size;
        y[i] = (i * 5 + 1) % tiny.vocab_size;
    }
}

Test(model, tensor_names_and_shapes_follow_hugging_face)
{
    cr_assert_eq(gpt_num_tensors(m), 2 + 12 * 2 + 2);
    const gpt_tensor *t = gpt_tensor_at(m, gpt_find_tensor(m, "transformer.h.1.attn.c_attn.weight"));
    cr_assert_eq(t->shape[0], 16);
    cr_assert_eq(t->shape[1], 48); /* Conv1D (in, out) */
    cr_assert(t->decay);
    t = gpt_tensor_at(m, gpt_find_tensor(m, "transformer.h.0.mlp.c_proj.weight"));
    cr_assert(t->shape[0] == 64 && t->shape[1] == 16);
    t = gpt_tensor_at(m, 0);
    cr_assert_str_eq(t->name, "transformer.wte.weight");
    cr_assert(t->shape[0] == 32 && t->shape[1] == 16 && !t->decay);
    cr_assert_str_eq(gpt_tensor_at(m, gpt_num_tensors(m) - 1)->name, "transformer.ln_f.bias");
    size_t total = 0;
    for (int i = 0; i < gpt_num_tensors(m); i++) total += gpt_tensor_at(m, i)->numel;
    cr_assert_eq(total, gpt_num_params(m));
    /* GPT-2 124M has 124,439,808 parameters; the same formula here */
    size_t C = 16, L = 2, V = 32, P = 8;
    cr_assert_eq(gpt_num_params(m), V * C + P * C + L * (12 * C * C + 13 * C) + 2 * C);
}

/* tiny: c_fc and mlp.c_proj (16 x 64) outgrow wte (32 x 16); a large vocabulary makes wte the
 * largest. */
Test(model, largest_tensor_is_c_fc_or_wte)
{
    cr_assert_eq(gpt_largest_tensor(m), (size_t)16 * 64);
    char err[256];
    gpt_config wide_vocab = tiny;
    wide_vocab.vocab_size = 1000; /* wte 1000 x 16 */
    gpt *g = gpt_create(be, &wide_vocab, 1, 2, err, sizeof err);
    cr_assert_not_null(g, "%s", err);
    cr_assert_eq(gpt_largest_tensor(g), (size_t)1000 * 16);
    gpt_free(g);
}

Test(model, config_num_params_counts_without_building)
{
    cr_assert_eq(gpt_config_num_params(&tiny), gpt_num_params(m));
    gpt_config g124m = {.n_layer = 12, .n_head = 12, .n_embd = 768, .block_size = 1024,
                        .vocab_size = 50257};
    cr_assert_eq(gpt_config_num_params(&g124m), 124439808); /* GPT-2 124M, tied lm_head */
}

Test(model, init_statistics)
{
    size_t n = gpt_num_params(m);
    float *h = malloc(n * sizeof *h);
    bk_download(be, h, gpt_params(m), n * sizeof *h);
    const gpt_tensor *ln = gpt_tensor_at(m, gpt_find_tensor(m, "transformer.h.0.ln_1.weight"));
    const gpt_tensor *lb = gpt_tensor_at(m, gpt_find_tensor(m, "transformer.h.0.ln_1.bias"));
    for (size_t i = 0; i < ln->numel; i++) {
        cr_assert_eq(h[ln->offset + i], 1.0f);
        cr_assert_eq(h[lb->offset + i], 0.0f);
    }
    const gpt_tensor *fc = gpt_tensor_at(m, gpt_find_tensor(m, "transformer.h.0.mlp.c_fc.weight"));
    const gpt_tensor *pj = gpt_tensor_at(m, gpt_find_tensor(m, "transformer.h.0.mlp.c_proj.weight"));
    double s1 = 0, s2 = 0;
    for (size_t i = 0; i < fc->numel; i++) s1 += (double)h[fc->offset + i] * h[fc->offset + i];
    for (size_t i = 0; i < pj->numel; i++) s2 += (double)h[pj->offset + i] * h[pj->offset + i];
    double std1 = sqrt(s1 / fc->numel), std2 = sqrt(s2 / pj->numel);
    cr_assert(fabs(std1 - 0.02) < 0.003, "c_fc std %g", std1);
    cr_assert(fabs(std2 - 0.02 / 2.0) < 0.0015, "c_proj std %g (0.02/sqrt(2*2))", std2);
    free(h);
}

/* Init draws in parameter order whatever the upload chunk: a model of more than one 2^20-float
 * chunk (wte 256 x 256 crosses none, the blocks do) gets exactly the values a single pass of
 * the same generator gives, tensor by tensor. */
Test(model, init_in_chunks_draws_in_parameter_order)
{
    const gpt_config big = {2, 2, 256, 16, 256}; /* 1.65 M parameters */
    char err[256];
    gpt *g = gpt_create(be, &big, 1, 4, err, sizeof err);
    cr_assert_not_null(g, "%s", err);
    size_t n = gpt_num_params(g);
    cr_assert_gt(n, (size_t)1 << 20);
    rng_state r, ref;
    rng_seed(&r, 11);
    rng_seed(&ref, 11);
    gpt_init_weights(g, &r);
    float *h = malloc(n * sizeof *h);
    cr_assert_not_null(h);
    bk_download(be, h, gpt_params(g), n * sizeof *h);
    float proj = 0.02f / sqrtf(2.0f * 2.0f);
    for (int i = 0; i < gpt_num_tensors(g); i++) {
        const gpt_tensor *t = gpt_tensor_at(g, i);
        int ln = strstr(t->name, ".ln_") != NULL, pj = strstr(t->name, "c_proj.weight") != NULL;
        for (size_t j = 0; j < t->numel; j++) {
            float want = ln ? (strstr(t->name, ".weight") ? 1.0f : 0.0f)
                       : t->ndim == 1 ? 0.0f : rng_normal(&ref) * (pj ? proj : 0.02f);
            cr_assert_eq(h[t->offset + j], want, "%s[%zu]", t->name, j);
        }
    }
    free(h);
    gpt_free(g);
}

Test(model, bad_config_refused)
{
    char err[256] = "";
    gpt_config bad = tiny;
    bad.n_head = 3;
    cr_assert_null(gpt_create(be, &bad, B, T, err, sizeof err));
    cr_assert(strstr(err, "divisible") != NULL, "%s", err);
    bad = tiny;
    bad.n_layer = 0;
    cr_assert_null(gpt_create(be, &bad, B, T, err, sizeof err));
    cr_assert_null(gpt_create(be, &tiny, B, T + 1, err, sizeof err));
    cr_assert(strstr(err, "block_size") != NULL, "%s", err);
}

static double loss_at(const int32_t *x, const int32_t *y)
{
    gpt_refresh_copies(m, &pol);
    return gpt_forward(m, &pol, x, y, B, T, NULL);
}

/* Every tensor: a sample of parameters, analytic gradient vs central difference of the
 * fp32 loss. eps 1e-3: curvature error O(eps^2) stays small, while the fp32 rounding of the
 * loss (~3e-7 / 2e-3 = 1.5e-4 in the quotient) sets the absolute tolerance of 4e-4. */
Test(model, whole_model_gradient_check_fp32)
{
    int32_t x[B * T], y[B * T];
    batch(x, y);
    size_t n = gpt_num_params(m);
    float *p = malloc(n * sizeof *p), *g = malloc(n * sizeof *g);
    gpt_zero_grads(m);
    loss_at(x, y);
    gpt_backward(m, &pol, 1.0f, NULL);
    bk_download(be, g, gpt_grads(m), n * sizeof *g);
    bk_download(be, p, gpt_params(m), n * sizeof *p);
    const float eps = 1e-3f;
    int checked = 0;
    for (int ti = 0; ti < gpt_num_tensors(m); ti++) {
        const gpt_tensor *t = gpt_tensor_at(m, ti);
        for (int k = 0; k < 3; k++) {
            size_t j = t->offset + (size_t)(k * 7919 + ti * 13) % t->numel;
            float keep = p[j];
            p[j] = keep + eps;
            bk_upload(be, gpt_params(m), p, n * sizeof *p);
            double lp = loss_at(x, y);
            p[j] = keep - eps;
            bk_upload(be, gpt_params(m), p, n * sizeof *p);
            double lm = loss_at(x, y);
            p[j] = keep;
            double num = (lp - lm) / (2.0 * eps);
            double tol = 4e-4 + 3e-2 * fabs(num);
            cr_assert(fabs(num - g[j]) <= tol, "%s[%zu]: numeric %.6g analytic %.6g", t->name,
                      j - t->offset, num, (double)g[j]);
            checked++;
        }
    }
    bk_upload(be, gpt_params(m), p, n * sizeof *p);
    cr_assert_eq(checked, 3 * gpt_num_tensors(m));
    free(p);
    free(g);
}

Test(model, gradients_accumulate_and_scale_linearly)
{
    int32_t x[B * T], y[B * T];
    batch(x, y);
    size_t n = gpt_num_params(m);
    float *g1 = malloc(n * sizeof *g1), *g2 = malloc(n * sizeof *g2);
    gpt_zero_grads(m);
    loss_at(x, y);
    gpt_backward(m, &pol, 1.0f, NULL);
    bk_download(be, g1, gpt_grads(m), n * sizeof *g1);
    loss_at(x, y);
    gpt_backward(m, &pol, 1.0f, NULL); /* second micro-batch adds */
    bk_download(be, g2, gpt_grads(m), n * sizeof *g2);
    for (size_t i = 0; i < n; i++) cr_assert_float_eq(g2[i], 2.0f * g1[i], 1e-6f + 1e-5f * fabsf(g1[i]));
    /* a power-of-two loss scale multiplies fp32 gradients exactly */
    gpt_zero_grads(m);
    loss_at(x, y);
    gpt_backward(m, &pol, 1024.0f, NULL);
    bk_download(be, g2, gpt_grads(m), n * sizeof *g2);
    for (size_t i = 0; i < n; i++) cr_assert_eq(g2[i], 1024.0f * g1[i]);
    free(g1);
    free(g2);
}

Test(model, fp16_forward_close_to_fp32_and_stats_filled)
{
    int32_t x[B * T], y[B * T];
    batch(x, y);
    double l32 = loss_at(x, y);
    prec_set_mode(&pol, DT_F16);
    gpt_row_stats *st = calloc((size_t)pol.n, sizeof *st);
    gpt_refresh_copies(m, &pol);
    double l16 = gpt_forward(m, &pol, x, y, B, T, st);
    cr_assert(fabs(l16 - l32) < 2e-3, "fp16 %g vs fp32 %g", l16, l32);
    cr_assert(l16 != l32, "fp16 emulation changed nothing");
    int fc = prec_find(&pol, "h.0.mlp.c_fc");
    cr_assert_eq(st[fc].act.count, (uint64_t)B * T * 64);
    cr_assert(st[fc].act.amax > 0);
    gpt_backward(m, &pol, 1.0f, st);
    cr_assert(st[fc].grad.count > 0);
    /* unscaled fp16 gradients of a loss ~3.5 over 16 positions are tiny: some underflow */
    uint64_t uf = 0;
    for (int i = 0; i < pol.n; i++) uf += st[i].grad.underflow;
    cr_assert(uf > 0, "expected fp16 gradient underflow without loss scaling");
    free(st);
}

/* Each row's gradient is its output's gradient only (weight gradients apart), and the
 * unscaled view: equal to it at scale 1, counting more underflow at scale 2^16. */
Test(model, row_gradient_tensors_and_unscaled_view)
{
    int32_t x[B * T], y[B * T];
    batch(x, y);
    prec_set_mode(&pol, DT_F16);
    gpt_refresh_copies(m, &pol);
    size_t sz = (size_t)pol.n * sizeof(gpt_row_stats);
    gpt_row_stats *st = calloc(1, sz), *s2 = calloc(1, sz);
    const uint64_t N = B * T, C = 16, V = 32;
    gpt_forward(m, &pol, x, y, B, T, st);
    gpt_backward(m, &pol, 1.0f, st); /* default: no unscale pass */
    for (int i = 0; i < pol.n; i++)
        cr_assert_eq(memcmp(&st[i].grad_unscaled, &st[i].grad, sizeof st[i].grad), 0, "%s",
                     pol.rows[i].name);
    const struct { const char *row; uint64_t grad, wgrad; } want[] = {
        {"wte", N * C, 0}, {"wpe", N * C, 0}, {"h.0.ln_1", N * C, 0},
        {"h.0.attn", N * C, 0}, {"h.0.attn.c_proj", N * C, C * C + C},
        {"h.1.ln_2", N * C, 0}, {"h.1.mlp.c_fc", N * 4 * C, C * 4 * C + 4 * C},
        {"h.1.mlp.gelu", N * 4 * C, 0}, {"h.1.mlp.c_proj", N * C, 4 * C * C + C},
        {"h.0.attn.c_attn", 0, C * 3 * C + 3 * C}, {"ln_f", N * C, 0}, {"lm_head", N * V, V * C},
        {"loss", 0, 0},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        int i = prec_find(&pol, want[k].row);
        cr_assert(i >= 0);
        if (want[k].grad) /* c_attn's also counts the attention's internal roundings */
            cr_assert_eq(st[i].grad.count, want[k].grad, "%s grad", want[k].row);
        cr_assert_eq(st[i].wgrad.count, want[k].wgrad, "%s wgrad", want[k].row);
    }
    cr_assert(st[prec_find(&pol, "h.0.attn.c_attn")].grad.count > N * 3 * C);
    cr_assert_eq(st[prec_row_loss(&pol)].grad.count, 0);
    cr_assert_eq(st[prec_row_loss(&pol)].act.count, N);
    cr_assert_eq(st[1].act.count, N * C); /* wpe shares the encoder output */

    /* scale 2^16, two micro-batches into the same stats */
    gpt_set_stats_unscale(m, 0x1p-16f);
    for (int k = 0; k < 2; k++) {
        gpt_forward(m, &pol, x, y, B, T, s2);
        gpt_backward(m, &pol, 65536.0f, s2);
    }
    gpt_set_stats_unscale(m, 1.0f);
    uint64_t us = 0, uu = 0;
    for (int i = 0; i < pol.n; i++) {
        const gpt_row_stats *r = &s2[i];
        cr_assert_eq(r->grad_unscaled.count, r->grad.count);
        cr_assert_eq(r->grad.count, 2 * st[i].grad.count, "%s", pol.rows[i].name);
        cr_assert(r->grad_unscaled.underflow >= r->grad.underflow);
        cr_assert_eq(r->grad_unscaled.underflow, r->grad.underflow + r->grad_pass.underflow);
        cr_assert_eq(r->grad_unscaled.amax, r->grad.amax * 0x1p-16f);
        if (pol.rows[i].grad == DT_F32) cr_assert_eq(r->grad_pass.count, 0, "%s", pol.rows[i].name);
        else if (r->grad.count && i != prec_find(&pol, "h.0.attn.c_attn") &&
                 i != prec_find(&pol, "h.1.attn.c_attn"))
            cr_assert_eq(r->grad_pass.count, r->grad.count, "%s", pol.rows[i].name);
        us += r->grad.underflow;
        uu += r->grad_unscaled.underflow;
    }
    cr_assert(uu > us, "unscaled underflow %llu, scaled %llu", (unsigned long long)uu,
              (unsigned long long)us);
    free(st);
    free(s2);
}

/* When a consumer runs in another dtype (override), the row's gradient statistics describe
 * the conversion into the row's own dtype, counted once. */
Test(model, gradient_stats_follow_the_rows_dtype_under_overrides)
{
    int32_t x[B * T], y[B * T];
    batch(x, y);
    char err[128];
    prec_set_mode(&pol, DT_F32);
    cr_assert_eq(prec_set_override(&pol, "h.*.ln_1", DT_F16, err, sizeof err), 2);
    gpt_refresh_copies(m, &pol);
    gpt_row_stats *st = calloc((size_t)pol.n, sizeof *st);
    gpt_forward(m, &pol, x, y, B, T, st);
    gpt_backward(m, &pol, 0x1p-20f, st); /* a tiny scale: some fp16 gradients flush */
    int ln1 = prec_find(&pol, "h.0.ln_1");
    cr_assert_eq(pol.rows[ln1].grad, DT_F16);
    cr_assert_eq(pol.rows[ln1 + 1].grad, DT_F32);
    /* produced exactly by c_attn's fp32 GEMM, then rounded to fp16: one count per element */
    cr_assert_eq(st[ln1].grad.count, (uint64_t)B * T * 16);
    cr_assert(st[ln1].grad.underflow > 0, "fp32 -> fp16 at scale 2^-20 should lose some (amax %g amin %g)", (double)st[ln1].grad.amax, (double)st[ln1].grad.amin_nz);
    free(st);
    cr_assert_eq(prec_set_override(&pol, "h.*.ln_1", -1, err, sizeof err), 2);
}

Test(model, sampling_forward_without_targets)
{
    int32_t x[T];
    for (int i = 0; i < T; i++) x[i] = i;
    gpt_refresh_copies(m, &pol);
    cr_assert(isnan(gpt_forward(m, &pol, x, NULL, 1, 5, NULL)));
    float logits[32];
    gpt_logits_row(m, 0, 4, logits);
    for (int i = 0; i < 32; i++) cr_assert(isfinite(logits[i]));
}

/* ---- chunked classifier (docs/layers.md, "Classifier") ---- */

typedef struct {
    double loss;
    float *g;          /* gradients, gpt_num_params floats */
    gpt_row_stats *st; /* pol.n rows */
} step_out;

static void step_free(step_out *o)
{
    free(o->g);
    free(o->st);
}

/* One forward + backward from zero gradients with the classifier cut into `rows`-row
 * chunks; `fused`: gpt_prepare_backward(mult) first. */
static step_out step_run(int rows, int fused, float mult)
{
    int32_t x[B * T], y[B * T];
    batch(x, y);
    step_out o = {0, malloc(gpt_num_params(m) * sizeof(float)),
                  calloc((size_t)pol.n, sizeof(gpt_row_stats))};
    cr_assert(o.g && o.st);
    gpt_set_classifier_rows(m, rows);
    gpt_refresh_copies(m, &pol);
    gpt_zero_grads(m);
    if (fused) gpt_prepare_backward(m, mult);
    o.loss = gpt_forward(m, &pol, x, y, B, T, o.st);
    gpt_backward(m, &pol, mult, o.st);
    bk_download(be, o.g, gpt_grads(m), gpt_num_params(m) * sizeof(float));
    gpt_set_classifier_rows(m, 0);
    return o;
}

static void assert_same_step(const step_out *a, const step_out *b, const char *what)
{
    cr_assert_eq(memcmp(&a->loss, &b->loss, sizeof a->loss), 0, "%s: loss", what);
    cr_assert_eq(memcmp(a->g, b->g, gpt_num_params(m) * sizeof(float)), 0, "%s: gradients", what);
    for (int i = 0; i < pol.n; i++)
        cr_assert_eq(memcmp(&a->st[i], &b->st[i], sizeof a->st[i]), 0, "%s: stats of %s", what,
                     pol.rows[i].name);
}

/* The fused classifier (backward inside the forward) and the recomputing backward give the
 * same bits: loss, every gradient, every statistic; N = 16 rows in chunks of 3 (6 chunks,
 * the last one short). */
static void fused_equals_recompute(dtype_t dt, float mult)
{
    prec_set_mode(&pol, dt);
    if (mult != 1.0f) gpt_set_stats_unscale(m, 1.0f / mult);
    step_out f = step_run(3, 1, mult), r = step_run(3, 0, mult);
    assert_same_step(&f, &r, dtype_name(dt));
    int rh = prec_row_lmhead(&pol);
    cr_assert_eq(f.st[rh].grad.count, (uint64_t)B * T * 32); /* every dlogits element once */
    cr_assert_eq(f.st[rh].wgrad.count, (uint64_t)32 * 16);    /* dW rounded once */
    if (mult != 1.0f && dt != DT_F32) cr_assert_eq(f.st[rh].grad_pass.count, (uint64_t)B * T * 32);
    gpt_set_stats_unscale(m, 1.0f);
    step_free(&f);
    step_free(&r);
}

Test(model, classifier_fused_equals_recompute_fp32) { fused_equals_recompute(DT_F32, 1.0f); }
Test(model, classifier_fused_equals_recompute_bf16) { fused_equals_recompute(DT_BF16, 1.0f); }
Test(model, classifier_fused_equals_recompute_fp16_scaled)
{
    fused_equals_recompute(DT_F16, 1024.0f);
}

/* The backward's idle-buffer choices depend on the batch the model was made for: from batch 3
 * up dc holds a batch row of c_attn's output (else the unp buffer), and the unscaled pass
 * works in chunks of dc or d4c. A model made for batch 4 and the fixture's (batch 2) give
 * the same bits on the same batch of 2, with the statistics and their unscaled pass, and with
 * attention in another dtype than its c_attn (the row cast into that buffer). */
static void larger_batch_same_bits(dtype_t dt, float mult, const char *attn_override)
{
    char err[256];
    prec_set_mode(&pol, dt);
    if (attn_override)
        cr_assert_eq(prec_set_override(&pol, attn_override, DT_F16, err, sizeof err), 1, "%s", err);
    gpt_set_stats_unscale(m, 1.0f / mult);
    step_out small = step_run(3, 1, mult);
    gpt *big = gpt_create_for(be, &tiny, &pol, 2 * B, T, err, sizeof err);
    cr_assert_not_null(big, "%s", err);
    bk_upload(be, gpt_params(big), gpt_params(m), gpt_num_params(m) * sizeof(float));
    gpt_set_stats_unscale(big, 1.0f / mult);
    gpt *fixture = m;
    m = big;
    step_out large = step_run(3, 1, mult);
    m = fixture;
    assert_same_step(&small, &large, dtype_name(dt));
    if (mult != 1.0f) cr_assert_gt(small.st[prec_row_lmhead(&pol)].grad_pass.count, 0);
    gpt_free(big);
    gpt_set_stats_unscale(m, 1.0f);
    step_free(&small);
    step_free(&large);
}

Test(model, scratch_of_a_larger_batch_same_bits_fp16_scaled)
{
    larger_batch_same_bits(DT_F16, 4096.0f, NULL);
}
Test(model, scratch_of_a_larger_batch_same_bits_bf16_attention_fp16)
{
    larger_batch_same_bits(DT_BF16, 1.0f, "h.0.attn");
}

/* A prepare for another multiplier is not used (the backward recomputes), and a second
 * backward of the same forward recomputes too: both as a plain backward. */
/* lm_head's weight gradient sums over the classifier's chunks in wte's own gradient when every
 * gradient is zero (a step's first micro-batch), with no (V, C) buffer apart; a backward into
 * gradients that may not be zero (here: after gpt_grads handed the pointer out) sums apart,
 * rounds and adds, allocating that buffer then. Both routes give the same bits, fused or
 * not, in each mode; a second micro-batch then accumulates through the buffer. */
static void grad_sum_routes(dtype_t dt, float mult, int fused)
{
    prec_set_mode(&pol, dt);
    if (mult != 1.0f) gpt_set_stats_unscale(m, 1.0f / mult);
    cr_assert_eq(gpt_has_grad_sum(m), 0);
    step_out direct = step_run(3, fused, mult); /* step_run: gpt_zero_grads, then the step */
    cr_assert_eq(gpt_has_grad_sum(m), 0, "the first micro-batch needs no sum apart");
    int32_t x[B * T], y[B * T];
    batch(x, y);
    step_out apart = {0, malloc(gpt_num_params(m) * sizeof(float)),
                      calloc((size_t)pol.n, sizeof(gpt_row_stats))};
    cr_assert(apart.g && apart.st);
    gpt_set_classifier_rows(m, 3);
    gpt_zero_grads(m);
    (void)gpt_grads(m); /* zero still, but no longer known to be */
    if (fused) gpt_prepare_backward(m, mult);
    apart.loss = gpt_forward(m, &pol, x, y, B, T, apart.st);
    gpt_backward(m, &pol, mult, apart.st);
    cr_assert_eq(gpt_status(m, NULL, 0), 0);
    cr_assert_eq(gpt_has_grad_sum(m), 1, "allocated at the backward that needed it");
    bk_download(be, apart.g, gpt_grads(m), gpt_num_params(m) * sizeof(float));
    assert_same_step(&direct, &apart, dtype_name(dt));
    /* a second micro-batch adds lm_head's rounded sum to the first one's gradient */
    size_t wte = (size_t)tiny.vocab_size * tiny.n_embd;
    float *g2 = malloc(gpt_num_params(m) * sizeof *g2);
    cr_assert_not_null(g2);
    if (fused) gpt_prepare_backward(m, mult);
    gpt_forward(m, &pol, x, y, B, T, NULL);
    gpt_backward(m, &pol, mult, NULL);
    bk_download(be, g2, gpt_grads(m), gpt_num_params(m) * sizeof *g2);
    int changed = 0;
    for (size_t i = 0; i < wte; i++) changed += g2[i] != direct.g[i];
    cr_assert_gt(changed, (int)wte / 2, "wte's gradient accumulated");
    gpt_set_classifier_rows(m, 0);
    gpt_set_stats_unscale(m, 1.0f);
    free(g2);
    step_free(&direct);
    step_free(&apart);
}

Test(model, grad_sum_in_place_or_apart_same_bits_fp32) { grad_sum_routes(DT_F32, 1.0f, 0); }
Test(model, grad_sum_in_place_or_apart_same_bits_bf16_fused) { grad_sum_routes(DT_BF16, 1.0f, 1); }
Test(model, grad_sum_in_place_or_apart_same_bits_fp16_scaled) { grad_sum_routes(DT_F16, 4096.0f, 1); }

Test(model, classifier_fused_only_for_its_multiplier)
{
    prec_set_mode(&pol, DT_BF16);
    int32_t x[B * T], y[B * T];
    batch(x, y);
    step_out r = step_run(3, 0, 4.0f);
    size_t n = gpt_num_params(m);
    float *g = malloc(n * sizeof *g), *g2 = malloc(n * sizeof *g2);
    gpt_set_classifier_rows(m, 3);
    gpt_zero_grads(m);
    gpt_prepare_backward(m, 2.0f);
    gpt_forward(m, &pol, x, y, B, T, NULL);
    gpt_backward(m, &pol, 4.0f, NULL);
    bk_download(be, g, gpt_grads(m), n * sizeof *g);
    cr_assert_eq(memcmp(g, r.g, n * sizeof *g), 0, "prepared for 2, backward for 4");
    gpt_backward(m, &pol, 4.0f, NULL); /* the same forward again: adds the same again */
    bk_download(be, g2, gpt_grads(m), n * sizeof *g2);
    for (size_t i = 0; i < n; i++) /* wte's two parts add one after the other */
        cr_assert_float_eq(g2[i], 2.0f * g[i], 1e-6f * fabsf(g[i]) + 1e-12f, "%zu", i);
    gpt_set_classifier_rows(m, 0);
    free(g);
    free(g2);
    step_free(&r);
}

/* Chunks change only where each row's GEMM and the rows' sum of dW = dlogits^T lnf round:
 * against one chunk of all 16 rows (the unchunked shapes), loss and gradients agree to fp32
 * summation-order error and the statistics count the same elements. */
Test(model, classifier_chunks_match_one_chunk_to_summation_order)
{
    step_out one = step_run(0, 1, 1.0f), ch = step_run(3, 1, 1.0f), row = step_run(1, 0, 1.0f);
    cr_assert_eq(gpt_classifier_rows(tiny.vocab_size, B * T), B * T, "the default is one chunk");
    size_t n = gpt_num_params(m);
    for (int k = 0; k < 2; k++) {
        const step_out *c = k ? &row : &ch;
        cr_assert(fabs(c->loss - one.loss) <= 1e-6 * one.loss, "loss %.9g vs %.9g", c->loss,
                  one.loss);
        for (int ti = 0; ti < gpt_num_tensors(m); ti++) {
            const gpt_tensor *t = gpt_tensor_at(m, ti);
            float mx = 0;
            for (size_t j = 0; j < t->numel; j++) mx = fmaxf(mx, fabsf(one.g[t->offset + j]));
            for (size_t j = 0; j < t->numel; j++)
                cr_assert(fabsf(c->g[t->offset + j] - one.g[t->offset + j]) <= 1e-5f * mx,
                          "%s[%zu]: %.9g vs %.9g", t->name, j, (double)c->g[t->offset + j],
                          (double)one.g[t->offset + j]);
        }
        for (int i = 0; i < pol.n; i++) {
            cr_assert_eq(c->st[i].act.count, one.st[i].act.count, "%s", pol.rows[i].name);
            cr_assert_eq(c->st[i].grad.count, one.st[i].grad.count, "%s", pol.rows[i].name);
            cr_assert_eq(c->st[i].wgrad.count, one.st[i].wgrad.count, "%s", pol.rows[i].name);
            cr_assert_float_eq(c->st[i].act.amax, one.st[i].act.amax, 1e-5f * one.st[i].act.amax);
        }
    }
    (void)n;
    step_free(&one);
    step_free(&ch);
    step_free(&row);
}

/* A forward never touches the gradients: eval's (no prepare) nor a fused one (its weight
 * gradient waits in the model until gpt_backward). */
Test(model, forward_leaves_gradients_untouched)
{
    int32_t x[B * T], y[B * T];
    batch(x, y);
    size_t n = gpt_num_params(m);
    float *pat = malloc(n * sizeof *pat), *g = malloc(n * sizeof *g);
    for (size_t i = 0; i < n; i++) pat[i] = (float)(i % 97) * 0.25f - 3.0f;
    bk_upload(be, gpt_grads(m), pat, n * sizeof *pat);
    gpt_refresh_copies(m, &pol);
    gpt_set_classifier_rows(m, 3);
    gpt_forward(m, &pol, x, y, B, T, NULL);
    bk_download(be, g, gpt_grads(m), n * sizeof *g);
    cr_assert_eq(memcmp(g, pat, n * sizeof *g), 0, "eval forward");
    gpt_prepare_backward(m, 1.0f);
    gpt_forward(m, &pol, x, y, B, T, NULL);
    bk_download(be, g, gpt_grads(m), n * sizeof *g);
    cr_assert_eq(memcmp(g, pat, n * sizeof *g), 0, "fused forward");
    /* from zero gradients the fused part sums in wte's own (no buffer apart): still, whoever
     * reads the gradients before the backward sees them as they were */
    gpt_zero_grads(m);
    gpt_prepare_backward(m, 1.0f);
    gpt_forward(m, &pol, x, y, B, T, NULL);
    bk_download(be, g, gpt_grads(m), n * sizeof *g);
    for (size_t i = 0; i < n; i++) cr_assert_eq(g[i], 0.0f, "fused forward from zero: %zu", i);
    gpt_set_classifier_rows(m, 0);
    free(pat);
    free(g);
}

/* gpt_logits_row gives the bits the chunked forward computed: the last chunk's rows are still
 * in the buffer after a forward with targets; any other row recomputes its chunk, and
 * a later row of the last chunk then recomputes it with the same bits. A sampling forward
 * (no targets) gives the same rows. */
Test(model, logits_row_is_the_chunked_forwards_row)
{
    int32_t x[B * T], y[B * T];
    batch(x, y);
    enum { V = 32 };
    prec_set_mode(&pol, DT_BF16);
    gpt_refresh_copies(m, &pol);
    gpt_set_classifier_rows(m, 3);
    float kept[V], again[V], r0[V], s[V];
    gpt_forward(m, &pol, x, y, B, T, NULL);
    gpt_logits_row(m, 1, 7, kept); /* row 15: in the last chunk [15, 16) */
    gpt_logits_row(m, 0, 0, r0);
    gpt_logits_row(m, 1, 7, again);
    cr_assert_eq(memcmp(kept, again, sizeof kept), 0);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) { /* row by row after a forward without targets */
            float a[V];
            gpt_forward(m, &pol, x, y, B, T, NULL);
            gpt_logits_row(m, b, t, a);
            gpt_forward(m, &pol, x, NULL, B, T, NULL);
            gpt_logits_row(m, b, t, s);
            cr_assert_eq(memcmp(a, s, sizeof a), 0, "row %d", b * T + t);
            if (b == 0 && t == 0) cr_assert_eq(memcmp(a, r0, sizeof a), 0);
            for (int v = 0; v < V; v++) /* rounded to lm_head's act dtype, bf16 */
                cr_assert_eq(s[v], num_round1(s[v], DT_BF16));
        }
    gpt_set_classifier_rows(m, 0);
}

Test(model, classifier_rows_follow_the_shape_only)
{
    cr_assert_eq(gpt_classifier_rows(50257, 4 * 1024), (8 << 20) / 50257); /* 166 */
    cr_assert_eq(gpt_classifier_rows(50257, 100), 100);
    cr_assert_eq(gpt_classifier_rows(1 << 24, 1024), 1);
    cr_assert_eq(gpt_classifier_rows(256, 1 << 20), 32768);
    /* GPT-2 124M at B=4, T=1024 in fp32: one more vocabulary entry costs a row in each of the
     * four parameter-sized buffers (masters, gradients, AdamW m and v: fp32 keeps no weight
     * copies; lm_head's gradient sums in wte's own) and in the 166-row chunk that holds the
     * logits, then their gradient; not 2 B*T floats of whole-batch logits and dlogits */
    gpt_config g = {12, 12, 768, 1024, 50257}, g1 = g;
    g1.vocab_size = 50256;
    cr_assert_eq(gpt_memory_bytes(&g, 4, 1024) - gpt_memory_bytes(&g1, 4, 1024),
                 (4 * 768 + 166) * sizeof(float));
    cr_assert_eq(gpt_max_batch(m), B);
}

/* The fused part really runs inside the forward: weights changed between the forward and
 * the backward leave its gradients as they were, while the recomputing backward sees them. */
Test(model, classifier_fused_backward_uses_the_forwards_logits)
{
    int32_t x[B * T], y[B * T];
    batch(x, y);
    step_out ref = step_run(3, 0, 1.0f);
    size_t n = gpt_num_params(m), V = 32, C = 16;
    float *p = malloc(n * sizeof *p), *g = malloc(n * sizeof *g);
    bk_download(be, p, gpt_params(m), n * sizeof *p);
    /* wte's rows of tokens the batch does not hold: read by the classifier only (the backward
     * forms the encoder's output again from the rows it does hold) */
    int held[32] = {0}, changed = 0;
    for (int i = 0; i < B * T; i++) held[x[i]] = 1;
    for (size_t v = 0; v < V; v++) changed += !held[v];
    cr_assert_gt(changed, 0);
    for (int fused = 1; fused >= 0; fused--) {
        gpt_set_classifier_rows(m, 3);
        gpt_refresh_copies(m, &pol);
        gpt_zero_grads(m);
        if (fused) gpt_prepare_backward(m, 1.0f);
        gpt_forward(m, &pol, x, y, B, T, NULL);
        for (size_t i = 0; i < V * C; i++) p[i] *= held[i / C] ? 1.0f : 2.0f; /* wte, tensor 0 */
        bk_upload(be, gpt_params(m), p, n * sizeof *p);
        gpt_refresh_copies(m, &pol);
        gpt_backward(m, &pol, 1.0f, NULL);
        for (size_t i = 0; i < V * C; i++) p[i] *= held[i / C] ? 1.0f : 0.5f;
        bk_upload(be, gpt_params(m), p, n * sizeof *p);
        bk_download(be, g, gpt_grads(m), n * sizeof *g);
        int same = memcmp(g, ref.g, n * sizeof *g) == 0;
        cr_assert_eq(same, fused, "%s", fused ? "the fused backward recomputed" : "no recompute?");
    }
    gpt_set_classifier_rows(m, 0);
    free(p);
    free(g);
    step_free(&ref);
}

/* ---- stats delivery (backend.h: on CUDA counts land at the next synchronizing call) ---- */

enum { DS_STEPS = 2, DS_ACCUM = 2, DS_SNAPS = DS_STEPS * DS_ACCUM * 2 + 1 };

/* What a short training run saw: every row's stats right after each gpt_forward and
 * gpt_backward (and a sampling forward at the end), the losses and the final weights. */
typedef struct {
    gpt_row_stats *snap; /* DS_SNAPS x pol.n */
    float loss[DS_STEPS * DS_ACCUM];
    float *w;
} ds_run;

/* DS_STEPS optimizer steps of DS_ACCUM micro-batches with per-row stats, as lane_step
 * drives the model: a loss scale and its unscaled view, the fused classifier on the first
 * micro-batch (the recomputing backward on the second), then unscale and AdamW. The stats
 * are read as soon as each call returns. defer: the CPU backend delivers counts as CUDA. */
static ds_run ds_train(dtype_t dt, float scale, int defer)
{
    char err[256];
    backend *b2 = bk_create(BK_CPU, 2, err, sizeof err);
    cr_assert_not_null(b2, "%s", err);
    bk_cpu_defer_stats(b2, defer);
    gpt *g = gpt_create(b2, &tiny, B, T, err, sizeof err);
    cr_assert_not_null(g, "%s", err);
    rng_state r;
    rng_seed(&r, 11);
    gpt_init_weights(g, &r);
    prec_policy p;
    cr_assert_eq(prec_init(&p, tiny.n_layer, dt), 0);
    gpt_set_classifier_rows(g, 5); /* 4 chunks, the last short */
    size_t n = gpt_num_params(g), rs = (size_t)p.n * sizeof(gpt_row_stats);
    ds_run o = {calloc(DS_SNAPS, rs), {0}, malloc(n * sizeof(float))};
    gpt_row_stats *st = calloc(1, rs);
    cr_assert(o.snap && o.w && st);
    int s = 0;
    for (int step = 0; step < DS_STEPS; step++) {
        memset(st, 0, rs);
        gpt_refresh_copies(g, &p);
        gpt_zero_grads(g);
        gpt_set_stats_unscale(g, 1.0f / scale);
        float mult = scale / DS_ACCUM;
        for (int k = 0; k < DS_ACCUM; k++) {
            int32_t x[B * T], y[B * T];
            for (int i = 0; i < B * T; i++) {
                x[i] = (i * 7 + 3 + 11 * (step * DS_ACCUM + k)) % tiny.vocab_size;
                y[i] = (i * 5 + 1 + 3 * k) % tiny.vocab_size;
            }
            if (k == 0) gpt_prepare_backward(g, mult);
            o.loss[step * DS_ACCUM + k] = gpt_forward(g, &p, x, y, B, T, st);
            memcpy(&o.snap[(size_t)s++ * p.n], st, rs);
            gpt_backward(g, &p, mult, st);
            memcpy(&o.snap[(size_t)s++ * p.n], st, rs);
        }
        bk_unscale(b2, gpt_grads(g), n, 1.0f / scale);
        bk_adamw(b2, gpt_params(g), gpt_grads(g), gpt_adam_m(g), gpt_adam_v(g), n, 1e-2, 0.9,
                 0.95, 1e-8, 0.1, step + 1, 1.0f);
    }
    int32_t x[T];
    for (int i = 0; i < T; i++) x[i] = (i * 3 + 1) % tiny.vocab_size;
    memset(st, 0, rs);
    gpt_refresh_copies(g, &p);
    cr_assert(isnan(gpt_forward(g, &p, x, NULL, 1, T, st))); /* sampling: no sum to sync */
    memcpy(&o.snap[(size_t)s++ * p.n], st, rs);
    bk_download(b2, o.w, gpt_params(g), n * sizeof(float));
    cr_assert_eq(bk_status(b2, err, sizeof err), 0, "%s", err);
    free(st);
    prec_free(&p);
    gpt_free(g);
    bk_destroy(b2);
    return o;
}

/* Deferred delivery gives exactly the immediate mode's stats, field by field, at every
 * point the engine reads them: what the model promises is complete when a call returns. */
static void stats_same_when_deferred(dtype_t dt, float scale)
{
    ds_run now = ds_train(dt, scale, 0), later = ds_train(dt, scale, 1);
    static const char *const field[] = {"act", "grad", "grad_unscaled", "grad_pass", "wgrad"};
    int nrows = pol.n; /* the same rows: the same tiny shape */
    uint64_t counted = 0, passed = 0;
    for (int s = 0; s < DS_SNAPS; s++)
        for (int i = 0; i < nrows; i++) {
            const gpt_row_stats *ra = &now.snap[(size_t)s * nrows + i];
            const gpt_row_stats *rb = &later.snap[(size_t)s * nrows + i];
            const num_stats *a[5] = {&ra->act, &ra->grad, &ra->grad_unscaled, &ra->grad_pass,
                                     &ra->wgrad};
            const num_stats *b[5] = {&rb->act, &rb->grad, &rb->grad_unscaled, &rb->grad_pass,
                                     &rb->wgrad};
            for (int f = 0; f < 5; f++) {
                cr_assert_eq(memcmp(a[f], b[f], sizeof *a[f]), 0,
                             "%s: snapshot %d (%s), row %s, %s: count %llu vs %llu deferred, "
                             "amax %g vs %g", dtype_name(dt), s,
                             s == DS_SNAPS - 1 ? "sampling forward"
                             : s % 2           ? "after gpt_backward"
                                               : "after gpt_forward",
                             pol.rows[i].name, field[f], (unsigned long long)a[f]->count,
                             (unsigned long long)b[f]->count, (double)a[f]->amax,
                             (double)b[f]->amax);
                counted += a[f]->count;
            }
            passed += ra->grad_pass.count;
        }
    cr_assert_gt(counted, 0);
    cr_assert_eq(passed > 0, dt != DT_F32 && scale != 1.0f, "grad_pass ran (%s)", dtype_name(dt));
    /* wte's row: the encoder's counts (landed after a sync, merged by the model) */
    cr_assert_eq(now.snap[0].act.count, (uint64_t)B * T * tiny.n_embd);
    cr_assert_eq(now.snap[(size_t)1 * nrows].grad.count, (uint64_t)B * T * tiny.n_embd);
    cr_assert_eq(memcmp(now.loss, later.loss, sizeof now.loss), 0, "losses");
    cr_assert_eq(memcmp(now.w, later.w, gpt_num_params(m) * sizeof(float)), 0, "weights");
    free(now.snap);
    free(now.w);
    free(later.snap);
    free(later.w);
}

Test(model, stats_same_when_delivered_at_the_sync_fp16_scaled)
{
    stats_same_when_deferred(DT_F16, 1024.0f);
}
Test(model, stats_same_when_delivered_at_the_sync_bf16) { stats_same_when_deferred(DT_BF16, 1.0f); }
Test(model, stats_same_when_delivered_at_the_sync_fp32) { stats_same_when_deferred(DT_F32, 1.0f); }

/* Activations are stored in their row's dtype (docs/memory.md): a model laid out for a mixed
 * bf16 policy (attention in fp16: a cast copy of c_attn's output; c_fc in fp32) gives the same
 * bits as one re-laid out to it from fp32 at its first step, and as itself after a detour
 * through fp32 and back; its plan stores the 16-bit activations in 2 bytes. */
Test(model, layout_follows_the_policy_and_keeps_the_bits)
{
    char err[256];
    prec_set_mode(&pol, DT_BF16);
    cr_assert_eq(prec_set_override(&pol, "h.0.attn", DT_F16, err, sizeof err), 1, "%s", err);
    cr_assert_eq(prec_set_override(&pol, "h.*.mlp.c_fc", DT_F32, err, sizeof err), 2, "%s", err);
    gpt_set_stats_unscale(m, 1.0f / 256.0f);
    step_out a = step_run(0, 1, 256.0f); /* m was created fp32: re-laid out here */
    prec_policy f32;
    cr_assert_eq(prec_init(&f32, tiny.n_layer, DT_F32), 0);
    cr_assert_eq(gpt_set_layout(m, &f32, err, sizeof err), 0, "%s", err);
    gpt_mem_plan plan;
    gpt_model_memory_plan(m, &f32, &plan);
    for (int i = 0; i < plan.n; i++) cr_assert_eq(plan.rows[i].bytes, plan.rows[i].fp32_bytes);
    step_out b = step_run(0, 1, 256.0f); /* gpt_refresh_copies lays it out for pol again */
    assert_same_step(&a, &b, "bf16 after fp32");
    gpt_model_memory_plan(m, &pol, &plan);
    size_t act16 = 0;
    for (int i = 0; i < plan.n; i++)
        if (plan.rows[i].kind == MEM_ACT && plan.rows[i].store != DT_F32) {
            cr_assert_eq(plan.rows[i].bytes * 2, plan.rows[i].fp32_bytes);
            act16 += plan.rows[i].values;
        }
    /* per block: ln_1 16, c_attn 48, attn 16 (fp16 in block 0), ln_2 16, gelu 64 values a row;
     * c_fc (64) is fp32; ln_f's output 16 */
    cr_assert_eq(act16, (size_t)2 * B * T * (16 + 48 + 16 + 16 + 64) + (size_t)B * T * 16);
    gpt *fresh = gpt_create_for(be, &tiny, &pol, B, T, err, sizeof err);
    cr_assert_not_null(fresh, "%s", err);
    bk_copy(be, gpt_params(fresh), gpt_params(m), gpt_num_params(m) * sizeof(float));
    gpt *keep = m;
    m = fresh;
    gpt_set_stats_unscale(m, 1.0f / 256.0f);
    step_out c = step_run(0, 1, 256.0f);
    assert_same_step(&a, &c, "created for the policy");
    m = keep;
    gpt_free(fresh);
    prec_free(&f32);
    step_free(&a);
    step_free(&b);
    step_free(&c);
}

/* A layout that cannot get its memory: one "memory:" line, the model refuses to run (NaN,
 * gpt_status) instead of writing into buffers too small, and works again once a layout fits. */
Test(model, layout_without_memory_refuses_then_recovers)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    cr_skip_test("the sanitizers reserve address space beyond any small RLIMIT_AS");
#endif
    char err[256];
    gpt_config big = {2, 2, 64, 64, 256};
    prec_policy bf;
    cr_assert_eq(prec_init(&bf, big.n_layer, DT_BF16), 0);
    gpt *g = gpt_create_for(be, &big, &bf, 8, 64, err, sizeof err);
    cr_assert_not_null(g, "%s", err);
    gpt_mem_plan p16, p32;
    prec_policy f32;
    cr_assert_eq(prec_init(&f32, big.n_layer, DT_F32), 0);
    gpt_model_memory_plan(g, &bf, &p16);
    gpt_model_memory_plan(g, &f32, &p32);
    cr_assert_gt(p32.total, p16.total + (1 << 20), "fp32 needs more: %zu vs %zu", p32.total,
                 p16.total);
    FILE *f = fopen("/proc/self/statm", "r");
    cr_assert_not_null(f);
    unsigned long pages = 0;
    cr_assert_eq(fscanf(f, "%lu", &pages), 1);
    fclose(f);
    struct rlimit old, lim;
    cr_assert_eq(getrlimit(RLIMIT_AS, &old), 0);
    lim = old;
    lim.rlim_cur = pages * (rlim_t)sysconf(_SC_PAGESIZE) + (256 << 10);
    cr_assert_eq(setrlimit(RLIMIT_AS, &lim), 0);
    int32_t x[8 * 64], y[8 * 64];
    for (int i = 0; i < 8 * 64; i++) x[i] = i % 256, y[i] = (i * 3) % 256;
    int rc = gpt_set_layout(g, &f32, err, sizeof err);
    float refused = gpt_forward(g, &f32, x, y, 8, 64, NULL); /* tries again, in vain */
    cr_assert_eq(setrlimit(RLIMIT_AS, &old), 0);
    cr_assert_eq(rc, -1);
    cr_assert(strncmp(err, "memory: out of memory laying out the activations of a fp32 policy "
                           "(batch 8 x 64)", 80) == 0, "%s", err);
    cr_assert(isnan(refused));
    char why[256];
    cr_assert_eq(gpt_status(g, why, sizeof why), -1);
    cr_assert_str_eq(why, err);
    cr_assert(isfinite(gpt_forward(g, &f32, x, y, 8, 64, NULL)), "laid out once memory is there");
    cr_assert_eq(gpt_status(g, why, sizeof why), 0, "%s", why);
    cr_assert_eq(gpt_set_layout(g, &bf, err, sizeof err), 0, "%s", err);
    cr_assert(isfinite(gpt_forward(g, &bf, x, y, 8, 64, NULL)));
    gpt_free(g);
    prec_free(&f32);
    prec_free(&bf);
}

/* A policy built for another depth is refused by name, not read past its rows. */
Test(model, layout_for_a_policy_of_another_depth_refused)
{
    char err[256];
    prec_policy deep;
    cr_assert_eq(prec_init(&deep, 3, DT_BF16), 0);
    cr_assert_eq(gpt_set_layout(m, &deep, err, sizeof err), -1);
    cr_assert_str_eq(err, "model: a precision policy of 29 rows for a 2-layer model (21 rows)");
    cr_assert_eq(gpt_status(m, NULL, 0), -1);
    prec_set_mode(&pol, DT_BF16);
    cr_assert_eq(gpt_set_layout(m, &pol, err, sizeof err), 0, "%s", err);
    cr_assert_eq(gpt_status(m, NULL, 0), 0);
    prec_free(&deep);
}

/* ZeRO-1 (docs/dist.md): for any number of ranks, the shares are contiguous runs of whole
 * tensors in rank order that cover every parameter once; a model and its memory plan hold
 * just the share; out-of-range ranks fall back to the whole state. */
static size_t plan_adam_m_values(const gpt_mem_plan *p)
{
    size_t v = 0;
    for (int i = 0; i < p->n; i++)
        if (p->rows[i].kind == MEM_ADAM_M) v += p->rows[i].values;
    return v;
}

Test(model, zero1_shares_tile_the_parameters)
{
    char err[256];
    const gpt_config c = {3, 2, 16, 8, 50};
    for (int R = 1; R <= 6; R++) {
        size_t next = 0;
        for (int r = 0; r < R; r++) {
            gpt *m = gpt_create_shard(be, &c, NULL, 1, 8, r, R, err, sizeof err);
            cr_assert_not_null(m, "%s", err);
            cr_assert_eq(gpt_adam_rank(m), r);
            cr_assert_eq(gpt_adam_ranks(m), R);
            size_t held = 0;
            for (int i = 0; i < gpt_num_tensors(m); i++) {
                const gpt_tensor *t = gpt_tensor_at(m, i);
                int mine = gpt_adam_owner(m, i, R) == r;
                cr_assert_eq(gpt_tensor_adam_m(m, i) != NULL, mine, "R %d r %d %s", R, r, t->name);
                cr_assert_eq(gpt_tensor_adam_v(m, i) != NULL, mine);
                if (!mine) continue;
                cr_assert_eq(t->offset, next, "R %d r %d: %s starts where the last ended", R,
                             r, t->name);
                cr_assert_eq(gpt_tensor_adam_m(m, i) - gpt_adam_m(m), (ptrdiff_t)held);
                next += t->numel;
                held += t->numel;
            }
            cr_assert_eq(gpt_adam_numel(m), held);
            gpt_mem_plan plan;
            cr_assert_eq(gpt_memory_plan_shard(&c, NULL, 1, 8, NULL, r, R, &plan, err,
                                               sizeof err), 0, "%s", err);
            cr_assert_eq(plan_adam_m_values(&plan), held, "R %d r %d", R, r);
            gpt_free(m);
        }
        cr_assert_eq(next, gpt_config_num_params(&c), "R %d", R);
    }
    /* 2 ranks of GPT-2's shape split the state near the middle (wte sits with rank 0) */
    const gpt_config g2 = {12, 12, 768, 1024, 50257};
    gpt_mem_plan p0, p1;
    cr_assert_eq(gpt_memory_plan_shard(&g2, NULL, 1, 8, NULL, 0, 2, &p0, err, sizeof err), 0);
    cr_assert_eq(gpt_memory_plan_shard(&g2, NULL, 1, 8, NULL, 1, 2, &p1, err, sizeof err), 0);
    double f = (double)plan_adam_m_values(&p0) / (double)gpt_config_num_params(&g2);
    cr_assert(f > 0.4 && f < 0.6, "rank 0 holds %.3f of the state", f);
    cr_assert_eq(plan_adam_m_values(&p0) + plan_adam_m_values(&p1), gpt_config_num_params(&g2));
    gpt *bad = gpt_create_shard(be, &c, NULL, 1, 8, 5, 2, err, sizeof err);
    cr_assert_not_null(bad, "%s", err);
    cr_assert_eq(gpt_adam_numel(bad), gpt_num_params(bad), "a rank outside ranks: all of it");
    gpt_free(bad);
}
