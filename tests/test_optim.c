/* test_optim.c — Hugging Face LR schedules at hand-computed points, torch clip coefficient,
 * global grad norm, and optim_step against a double-precision AdamW written here. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "optim.h"

#define EPS_EQ(a, b) cr_assert(fabs((a) - (b)) < 1e-12, "%.17g != %.17g", (double)(a), (double)(b))

Test(optim, linear_schedule_points)
{
    /* warmup 10, total 110: ramp 0, .1, ..., .9, then (110 - d) / 100 */
    EPS_EQ(optim_lr_lambda(SCHED_LINEAR, 0, 10, 110), 0.0);
    EPS_EQ(optim_lr_lambda(SCHED_LINEAR, 1, 10, 110), 0.1);
    EPS_EQ(optim_lr_lambda(SCHED_LINEAR, 9, 10, 110), 0.9);
    EPS_EQ(optim_lr_lambda(SCHED_LINEAR, 10, 10, 110), 1.0);
    EPS_EQ(optim_lr_lambda(SCHED_LINEAR, 11, 10, 110), 0.99);
    EPS_EQ(optim_lr_lambda(SCHED_LINEAR, 60, 10, 110), 0.5);
    EPS_EQ(optim_lr_lambda(SCHED_LINEAR, 109, 10, 110), 0.01);
    EPS_EQ(optim_lr_lambda(SCHED_LINEAR, 110, 10, 110), 0.0);
    EPS_EQ(optim_lr_lambda(SCHED_LINEAR, 500, 10, 110), 0.0); /* clamped past total */
    /* no warmup: starts at 1 */
    EPS_EQ(optim_lr_lambda(SCHED_LINEAR, 0, 0, 4), 1.0);
    EPS_EQ(optim_lr_lambda(SCHED_LINEAR, 1, 0, 4), 0.75);
    EPS_EQ(optim_lr_lambda(SCHED_LINEAR, 3, 0, 4), 0.25);
    /* warmup 1: max(1, warmup) guards the division */
    EPS_EQ(optim_lr_lambda(SCHED_LINEAR, 0, 1, 3), 0.0);
    EPS_EQ(optim_lr_lambda(SCHED_LINEAR, 1, 1, 3), 1.0);
    EPS_EQ(optim_lr_lambda(SCHED_LINEAR, 2, 1, 3), 0.5);
    /* warmup == total: max(1, 0) in the denominator */
    EPS_EQ(optim_lr_lambda(SCHED_LINEAR, 5, 5, 5), 0.0);
}

Test(optim, cosine_schedule_points)
{
    /* warmup 4, total 104 */
    EPS_EQ(optim_lr_lambda(SCHED_COSINE, 0, 4, 104), 0.0);
    EPS_EQ(optim_lr_lambda(SCHED_COSINE, 2, 4, 104), 0.5);
    EPS_EQ(optim_lr_lambda(SCHED_COSINE, 4, 4, 104), 1.0);
    EPS_EQ(optim_lr_lambda(SCHED_COSINE, 29, 4, 104), 0.5 * (1.0 + sqrt(0.5))); /* 1/4 */
    EPS_EQ(optim_lr_lambda(SCHED_COSINE, 54, 4, 104), 0.5);                    /* half */
    EPS_EQ(optim_lr_lambda(SCHED_COSINE, 79, 4, 104), 0.5 * (1.0 - sqrt(0.5))); /* 3/4 */
    EPS_EQ(optim_lr_lambda(SCHED_COSINE, 104, 4, 104), 0.0);
    /* Hugging Face keeps following the cosine past the end (progress 1.5 -> cos(1.5 pi) = 0) */
    EPS_EQ(optim_lr_lambda(SCHED_COSINE, 154, 4, 104), 0.5);
    EPS_EQ(optim_lr_lambda(SCHED_COSINE, 0, 0, 10), 1.0);
}

Test(optim, constant_schedule_points)
{
    EPS_EQ(optim_lr_lambda(SCHED_CONSTANT, 0, 4, 100), 0.0);
    EPS_EQ(optim_lr_lambda(SCHED_CONSTANT, 1, 4, 100), 0.25);
    EPS_EQ(optim_lr_lambda(SCHED_CONSTANT, 3, 4, 100), 0.75);
    EPS_EQ(optim_lr_lambda(SCHED_CONSTANT, 4, 4, 100), 1.0);
    EPS_EQ(optim_lr_lambda(SCHED_CONSTANT, 1000, 4, 100), 1.0);
    EPS_EQ(optim_lr_lambda(SCHED_CONSTANT, 0, 0, 100), 1.0);
}

Test(optim, current_lr_follows_t)
{
    optim o;
    optim_init(&o, 1e-3, 0.9, 0.999, 1e-8, 0.0, 1.0, SCHED_LINEAR, 2, 10);
    cr_assert_eq(o.t, 0);
    EPS_EQ(optim_current_lr(&o), 0.0);
    o.t = 1;
    EPS_EQ(optim_current_lr(&o), 0.5e-3);
    o.t = 6;
    EPS_EQ(optim_current_lr(&o), 0.5e-3);
}

Test(optim, clip_coef)
{
    cr_assert_eq(optim_clip_coef(0.5, 1.0), 1.0f, "below max: no clipping");
    cr_assert_eq(optim_clip_coef(1.0, 1.0), 1.0f / (1.0f + 1e-6f), "at max: the 1e-6 bites");
    cr_assert_eq(optim_clip_coef(4.0, 1.0), 1.0f / (4.0f + 1e-6f));
    cr_assert(fabsf(optim_clip_coef(4.0, 1.0) - 0.25f) < 1e-7f);
    cr_assert_eq(optim_clip_coef(10.0, 2.5), 2.5f / (10.0f + 1e-6f));
    cr_assert_eq(optim_clip_coef(1e9, 0.0), 1.0f, "max_norm 0: off");
    cr_assert_eq(optim_clip_coef(1e9, -1.0), 1.0f, "negative: off");
    cr_assert_eq(optim_clip_coef(0.0, 1.0), 1.0f, "zero grads");
    cr_assert_eq(optim_clip_coef(INFINITY, 1.0), 0.0f, "Inf norm: coefficient 0 as torch");
    cr_assert(isnan(optim_clip_coef(NAN, 1.0)), "NaN norm stays NaN as torch.clamp");
}

static backend *make_cpu(void)
{
    char err[256] = "";
    backend *be = bk_create(BK_CPU, 1, err, sizeof err);
    cr_assert_not_null(be, "bk_create: %s", err);
    return be;
}

static float *upload(backend *be, const float *host, size_t n)
{
    float *d = bk_alloc(be, n * sizeof(float));
    cr_assert_not_null(d);
    if (host) bk_upload(be, d, host, n * sizeof(float));
    return d;
}

Test(optim, grad_norm_over_tensors)
{
    backend *be = make_cpu();
    const float g0[2] = {3.0f, 4.0f}, g1[3] = {12.0f, 0.0f, -0.0f};
    optim_tensor ts[2] = {{NULL, upload(be, g0, 2), NULL, NULL, 2, 1},
                          {NULL, upload(be, g1, 3), NULL, NULL, 3, 0}};
    cr_assert_eq(optim_grad_norm(be, ts, 2), 13.0);
    cr_assert_eq(optim_grad_norm(be, ts, 1), 5.0);
    cr_assert_eq(optim_grad_norm(be, ts, 0), 0.0);
    /* values whose squares overflow fp32 still sum in double */
    const float big[2] = {3e30f, 4e30f};
    optim_tensor tb = {NULL, upload(be, big, 2), NULL, NULL, 2, 1};
    double nb = optim_grad_norm(be, &tb, 1);
    cr_assert(fabs(nb - 5e30) / 5e30 < 1e-6, "%g", nb);
    bk_free(be, ts[0].g);
    bk_free(be, ts[1].g);
    bk_free(be, tb.g);
    bk_destroy(be);
}

/* Reference AdamW (torch.optim.AdamW, decoupled decay) in double. */
typedef struct { double p[4], m[4], v[4]; } ref_tensor;

static void ref_adamw(ref_tensor *r, const double *g, int n, double lr, double b1, double b2,
                      double eps, double wd, int t, double mult)
{
    for (int i = 0; i < n; i++) {
        double gi = g[i] * mult;
        r->m[i] = b1 * r->m[i] + (1 - b1) * gi;
        r->v[i] = b2 * r->v[i] + (1 - b2) * gi * gi;
        r->p[i] -= lr * wd * r->p[i];
        double mh = r->m[i] / (1 - pow(b1, t)), vh = r->v[i] / (1 - pow(b2, t));
        r->p[i] -= lr * mh / (sqrt(vh) + eps);
    }
}

static void check_tensor(backend *be, const optim_tensor *t, const ref_tensor *r, int step,
                         const char *name)
{
    float p[4], m[4], v[4];
    bk_download(be, p, t->p, t->n * sizeof(float));
    bk_download(be, m, t->m, t->n * sizeof(float));
    bk_download(be, v, t->v, t->n * sizeof(float));
    for (size_t i = 0; i < t->n; i++) {
        cr_assert(fabs(p[i] - r->p[i]) < 2e-6, "step %d %s p[%zu] %.9g vs %.9g", step, name, i,
                  p[i], r->p[i]);
        cr_assert(fabs(m[i] - r->m[i]) <= 1e-6 * fabs(r->m[i]) + 1e-12, "step %d %s m[%zu]",
                  step, name, i);
        cr_assert(fabs(v[i] - r->v[i]) <= 1e-6 * fabs(r->v[i]) + 1e-15, "step %d %s v[%zu]",
                  step, name, i);
    }
}

Test(optim, step_matches_reference_adamw)
{
    backend *be = make_cpu();
    const float w0[4] = {0.5f, -1.25f, 2.0f, 0.0f}; /* decayed (a Linear weight) */
    const float b0[3] = {0.1f, -0.2f, 0.3f};        /* not decayed (a bias) */
    optim_tensor ts[2] = {
        {upload(be, w0, 4), upload(be, NULL, 4), upload(be, NULL, 4), upload(be, NULL, 4), 4, 1},
        {upload(be, b0, 3), upload(be, NULL, 3), upload(be, NULL, 3), upload(be, NULL, 3), 3, 0},
    };
    ref_tensor rw = {{0.5, -1.25, 2.0, 0.0}, {0}, {0}}, rb = {{0.1, -0.2, 0.3}, {0}, {0}};
    const double lr = 1e-2, b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1;
    optim o;
    optim_init(&o, lr, b1, b2, eps, wd, 1.0, SCHED_LINEAR, 2, 10);
    static const float gw[3][4] = {{0.3f, -0.1f, 0.02f, 1.0f},
                                   {-0.4f, 0.25f, 0.0f, 0.5f},
                                   {0.05f, 0.05f, -2.0f, -0.75f}};
    static const float gb[3][3] = {{1.0f, -1.0f, 0.5f}, {0.2f, 0.0f, -0.3f}, {-0.6f, 0.9f, 0.1f}};
    static const float mult[3] = {1.0f, 0.5f, 1.0f};
    static const double want_lr[3] = {0.0, 0.5e-2, 1e-2}; /* linear warmup over 2 updates */
    for (int s = 0; s < 3; s++) {
        bk_upload(be, ts[0].g, gw[s], sizeof gw[s]);
        bk_upload(be, ts[1].g, gb[s], sizeof gb[s]);
        double used = optim_step(&o, be, ts, 2, mult[s]);
        EPS_EQ(used, want_lr[s]);
        cr_assert_eq(o.t, s + 1);
        double dgw[4], dgb[3];
        for (int i = 0; i < 4; i++) dgw[i] = gw[s][i];
        for (int i = 0; i < 3; i++) dgb[i] = gb[s][i];
        /* the backend gets lr and hyper-parameters as doubles (Python floats) */
        ref_adamw(&rw, dgw, 4, used, b1, b2, eps, wd, s + 1, mult[s]);
        ref_adamw(&rb, dgb, 3, used, b1, b2, eps, 0.0, s + 1, mult[s]);
        check_tensor(be, &ts[0], &rw, s, "weight");
        check_tensor(be, &ts[1], &rb, s, "bias");
    }
    /* the first update ran at lr 0 but still counted as t = 1 for bias correction */
    cr_assert(fabs(rw.p[0] - 0.5) > 1e-4, "later updates moved the weight");
    for (int i = 0; i < 2; i++) {
        bk_free(be, ts[i].p);
        bk_free(be, ts[i].g);
        bk_free(be, ts[i].m);
        bk_free(be, ts[i].v);
    }
    bk_destroy(be);
}

Test(optim, weight_decay_only_on_decay_tensors)
{
    backend *be = make_cpu();
    const float one[2] = {1.0f, -2.0f};
    optim_tensor ts[2] = {
        {upload(be, one, 2), upload(be, NULL, 2), upload(be, NULL, 2), upload(be, NULL, 2), 2, 1},
        {upload(be, one, 2), upload(be, NULL, 2), upload(be, NULL, 2), upload(be, NULL, 2), 2, 0},
    };
    optim o; /* zero gradients: only the decay can move a weight */
    optim_init(&o, 0.1, 0.9, 0.999, 1e-8, 0.5, 1.0, SCHED_CONSTANT, 0, 10);
    optim_step(&o, be, ts, 2, 1.0f);
    float p0[2], p1[2];
    bk_download(be, p0, ts[0].p, sizeof p0);
    bk_download(be, p1, ts[1].p, sizeof p1);
    cr_assert(fabsf(p0[0] - 0.95f) < 1e-7f && fabsf(p0[1] + 1.9f) < 1e-7f, "%g %g", p0[0], p0[1]);
    cr_assert_eq(p1[0], 1.0f);
    cr_assert_eq(p1[1], -2.0f);
    for (int i = 0; i < 2; i++) {
        bk_free(be, ts[i].p);
        bk_free(be, ts[i].g);
        bk_free(be, ts[i].m);
        bk_free(be, ts[i].v);
    }
    bk_destroy(be);
}

/* optim passes its double hyper-parameters through: 1 - beta2 and lr are not rounded to
 * fp32 first (a float beta2 = 0.999f gives a v 1.3e-5 relative off PyTorch's). */
Test(optim, step_forms_scalars_from_double_hyper_parameters)
{
    backend *be = make_cpu();
    const float w0[1] = {0.5f}, g0[1] = {0.75f};
    optim_tensor ts[1] = {
        {upload(be, w0, 1), upload(be, g0, 1), upload(be, NULL, 1), upload(be, NULL, 1), 1, 1}};
    optim o;
    optim_init(&o, 0.1, 0.9, 0.999, 1e-8, 0.3, 1.0, SCHED_CONSTANT, 0, 10);
    optim_step(&o, be, ts, 1, 1.0f);
    float p, v;
    bk_download(be, &p, ts[0].p, sizeof p);
    bk_download(be, &v, ts[0].v, sizeof v);
    float want_v = (float)(1.0 - 0.999) * 0.75f * 0.75f;
    cr_assert_eq(v, want_v, "v %.9g want %.9g", (double)v, (double)want_v);
    /* step 1: m / (sqrt(v) / sqrt(1 - b2) + eps) with m = 0.075: decay 1 - 0.1 * 0.3 first */
    float m = 0.0f + (float)(1.0 - 0.9) * (0.75f - 0.0f);
    float den = sqrtf(want_v) / (float)sqrt(1.0 - 0.999) + 1e-8f;
    float want_p = 0.5f * (float)(1.0 - 0.1 * 0.3) + (float)-(0.1 / (1.0 - 0.9)) * (m / den);
    cr_assert_eq(p, want_p, "p %.9g want %.9g", (double)p, (double)want_p);
    bk_free(be, ts[0].p);
    bk_free(be, ts[0].g);
    bk_free(be, ts[0].m);
    bk_free(be, ts[0].v);
    bk_destroy(be);
}

/* The table walks every tensor of the model in order, over the four flat buffers, and marks
 * weight decay on 2-D Linear weights only. */
Test(optim, tensors_from_model)
{
    char err[256];
    backend *be = bk_create(BK_CPU, 1, err, sizeof err);
    cr_assert_not_null(be, "%s", err);
    gpt_config gc = {1, 1, 8, 4, 16};
    gpt *m = gpt_create(be, &gc, 1, 4, err, sizeof err);
    cr_assert_not_null(m, "%s", err);
    int n = -1;
    optim_tensor *ts = optim_tensors_from_model(m, &n);
    cr_assert_not_null(ts);
    cr_assert_eq(n, gpt_num_tensors(m));
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        const gpt_tensor *g = gpt_tensor_at(m, i);
        cr_assert_eq(ts[i].p, gpt_params(m) + g->offset);
        cr_assert_eq(ts[i].g, gpt_grads(m) + g->offset);
        cr_assert_eq(ts[i].m, gpt_adam_m(m) + g->offset);
        cr_assert_eq(ts[i].v, gpt_adam_v(m) + g->offset);
        cr_assert_eq(ts[i].n, g->numel);
        cr_assert_eq(ts[i].decay, g->decay);
        total += ts[i].n;
    }
    cr_assert_eq(total, gpt_num_params(m));
    cr_assert_str_eq(gpt_tensor_at(m, 0)->name, "transformer.wte.weight");
    cr_assert_eq(ts[0].decay, 0, "embeddings are not decayed");
    cr_assert_str_eq(gpt_tensor_at(m, 4)->name, "transformer.h.0.attn.c_attn.weight");
    cr_assert_eq(ts[4].decay, 1);
    free(ts);
    gpt_free(m);
    bk_destroy(be);
}
