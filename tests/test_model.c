/* Tests for src/train/model.c: tensor table (HF names, Conv1D shapes), GPT-2 init,
 * whole-model gradient check in fp32 by central differences, precision effects. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
