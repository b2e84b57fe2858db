/* test_cpu_optim.c — unscale (non-finite check on the input, always scaled) and AdamW
 * against values worked by hand and, bit for bit, against torch.optim.AdamW's arithmetic. */
#include "test_cpu_util.h"

Test(cpu_optim, unscale_finds_single_inf_or_nan_anywhere)
{
    backend *be = tu_backend();
    enum { N = 50001 };
    float *g = tu_buf(be, N);
    size_t pos[3] = {0, 25000, N - 1};
    float bad[2] = {INFINITY, NAN};
    for (int b = 0; b < 2; b++)
        for (int k = 0; k < 3; k++) {
            for (int i = 0; i < N; i++) g[i] = 2.0f;
            g[pos[k]] = bad[b];
            cr_assert_eq(bk_unscale(be, g, N, 0.25f), 1);
            for (int i = 0; i < N; i++)
                if ((size_t)i != pos[k]) cr_assert_eq(g[i], 0.5f); /* still unscaled */
            cr_assert(b ? isnan(g[pos[k]]) : isinf(g[pos[k]]));
        }
    for (int i = 0; i < N; i++) g[i] = 3e38f;
    cr_assert_eq(bk_unscale(be, g, N, 4.0f), 0); /* input finite: overflow after is not counted */
    cr_assert(isinf(g[0]));
    for (int i = 0; i < N; i++) g[i] = 65536.0f;
    cr_assert_eq(bk_unscale(be, g, N, (float)(1.0 / 65536.0)), 0);
    cr_assert_eq(g[N - 1], 1.0f);
    bk_destroy(be);
}

Test(cpu_optim, adamw_two_steps_by_hand)
{
    backend *be = tu_backend();
    float p[1] = {1.0f}, g[1] = {0.5f}, m[1] = {0}, v[1] = {0};
    bk_adamw(be, p, g, m, v, 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.0f, 1, 1.0f);
    /* m = 0.05, v = 0.00025; mhat = 0.5, sqrt(vhat) = 0.5: p = 1 - 0.1 */
    cr_assert(fabsf(m[0] - 0.05f) < 2e-8f && fabsf(v[0] - 0.00025f) < 1e-8f);
    cr_assert(fabsf(p[0] - 0.9f) < 1e-7f, "%.9g", (double)p[0]);
    g[0] = -0.25f;
    bk_adamw(be, p, g, m, v, 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.0f, 2, 1.0f);
    /* m = 0.02, v = 0.00031225; mhat = 0.02/0.19 = 0.1052632,
     * sqrt(vhat) = sqrt(0.00031225/0.001999) = 0.3952250; p = 0.9 - 0.0266337 */
    cr_assert(fabsf(m[0] - 0.02f) < 2e-8f && fabsf(v[0] - 0.00031225f) < 1e-8f);
    cr_assert(fabsf(p[0] - 0.8733663f) < 2e-6f, "%.9g", (double)p[0]);
    bk_destroy(be);
}

Test(cpu_optim, adamw_weight_decay_and_grad_mult)
{
    backend *be = tu_backend();
    /* decoupled decay first: p = 1 * (1 - 0.1*0.1) = 0.99, then - lr * sign(g) = 0.89 */
    float p[2] = {1.0f, -2.0f}, g[2] = {1.0f, -3.0f}, m[2] = {0}, v[2] = {0};
    bk_adamw(be, p, g, m, v, 2, 0.1f, 0.9f, 0.999f, 1e-8f, 0.1f, 1, 0.5f);
    cr_assert(fabsf(p[0] - 0.89f) < 1e-6f, "%.9g", (double)p[0]);
    cr_assert(fabsf(p[1] - (-2.0f * 0.99f + 0.1f)) < 1e-6f, "%.9g", (double)p[1]);
    /* grad_mult scales g before the moments: m = 0.1 * 0.5 = 0.05, v = 0.001 * 0.25 */
    cr_assert(fabsf(m[0] - 0.05f) < 2e-8f && fabsf(v[0] - 0.00025f) < 1e-8f);
    cr_assert(fabsf(m[1] + 0.15f) < 5e-8f && fabsf(v[1] - 0.00225f) < 1e-7f);
    /* a zero gradient with zero state leaves p unchanged (without decay) */
    float p2[1] = {3.0f}, g2[1] = {0.0f}, m2[1] = {0}, v2[1] = {0};
    bk_adamw(be, p2, g2, m2, v2, 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.0f, 1, 1.0f);
    cr_assert_eq(p2[0], 3.0f);
    bk_destroy(be);
}

Test(cpu_optim, adamw_many_elements_match_scalar_formula)
{
    backend *be = tu_backend();
    enum { N = 40000 };
    float *p = tu_buf(be, N), *g = tu_buf(be, N), *m = tu_buf(be, N), *v = tu_buf(be, N);
    tu_fill(p, N, 70, 1.0f);
    tu_fill(g, N, 71, 1.0f);
    float p0 = p[123], g0 = g[123];
    for (int t = 1; t <= 3; t++) bk_adamw(be, p, g, m, v, N, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.01f, t, 1.0f);
    double pd = p0, md = 0, vd = 0;
    for (int t = 1; t <= 3; t++) {
        md = 0.9 * md + 0.1 * g0;
        vd = 0.95 * vd + 0.05 * (double)g0 * g0;
        pd *= 1.0 - 1e-5;
        pd -= 1e-3 * (md / (1 - pow(0.9, t))) / (sqrt(vd / (1 - pow(0.95, t))) + 1e-8);
    }
    cr_assert(fabs(p[123] - pd) < 1e-6, "%.9g vs %.9g", (double)p[123], pd);
    bk_destroy(be);
}

/* torch.optim.AdamW (_single_tensor_adam, decoupled decay), written out op by op: the
 * Python-float scalars in double, each tensor op in fp32 with the scalar cast to fp32. */
typedef struct {
    double lr, b1, b2, eps, wd;
} torch_hp;

static float torch_lerp(float self, float end, float w) /* ATen Lerp.h */
{
    if (fabsf(w) < 0.5f) return self + w * (end - self);
    return end - (end - self) * (1.0f - w);
}

static void torch_adamw(float *p, const float *g, float *m, float *v, size_t n, torch_hp h,
                        int step, float clip)
{
    double bias_correction1 = 1.0 - pow(h.b1, step), bias_correction2 = 1.0 - pow(h.b2, step);
    double step_size = h.lr / bias_correction1, bias_correction2_sqrt = sqrt(bias_correction2);
    for (size_t i = 0; i < n; i++) {
        float grad = g[i] * clip;                                /* g.mul_(clip_coef) */
        if (h.wd != 0.0) p[i] = p[i] * (float)(1.0 - h.lr * h.wd); /* param.mul_ */
        m[i] = torch_lerp(m[i], grad, (float)(1.0 - h.b1));     /* exp_avg.lerp_ */
        v[i] = v[i] * (float)h.b2;                              /* exp_avg_sq.mul_ */
        v[i] = v[i] + (float)(1.0 - h.b2) * grad * grad;        /* .addcmul_ */
        float denom = sqrtf(v[i]);                              /* exp_avg_sq.sqrt() */
        denom = denom / (float)bias_correction2_sqrt;           /* / bias_correction2_sqrt */
        denom = denom + (float)h.eps;                           /* .add_(eps) */
        p[i] = p[i] + (float)-step_size * (m[i] / denom);       /* addcdiv_ */
    }
}

static void check_adamw_bits(torch_hp h, const char *what)
{
    backend *be = tu_backend();
    enum { N = 40000, STEPS = 6 };
    float *p = tu_buf(be, N), *g = tu_buf(be, N), *m = tu_buf(be, N), *v = tu_buf(be, N);
    float *rp = malloc(4 * N * sizeof(float)), *rg = rp + N, *rm = rg + N, *rv = rm + N;
    cr_assert_not_null(rp);
    tu_fill(p, N, 80, 1.0f);
    memset(m, 0, N * sizeof *m);
    memset(v, 0, N * sizeof *v);
    memcpy(rp, p, N * sizeof *p);
    memcpy(rm, m, N * sizeof *m);
    memcpy(rv, v, N * sizeof *v);
    for (int t = 1; t <= STEPS; t++) {
        tu_fill(g, N, 80 + (uint64_t)t, t == 3 ? 1e-4f : 1.0f);
        memcpy(rg, g, N * sizeof *g);
        float clip = t == 2 ? 0.375f : 1.0f;
        bk_adamw(be, p, g, m, v, N, h.lr, h.b1, h.b2, h.eps, h.wd, t, clip);
        torch_adamw(rp, rg, rm, rv, N, h, t, clip);
        cr_assert_eq(memcmp(v, rv, N * sizeof *v), 0, "%s step %d: exp_avg_sq bits", what, t);
        cr_assert_eq(memcmp(m, rm, N * sizeof *m), 0, "%s step %d: exp_avg bits", what, t);
        cr_assert_eq(memcmp(p, rp, N * sizeof *p), 0, "%s step %d: param bits", what, t);
    }
    free(rp);
    bk_destroy(be);
}

/* beta2 = 0.999: 1 - beta2 from the float 0.999f is 1.3e-5 relative off 1 - 0.999 (the v
 * of a float-beta implementation differs in most elements); beta1 = 0.3 takes lerp's other
 * branch; an lr that is not a float and a weight decay test 1 - lr * wd in double. */
Test(cpu_optim, adamw_matches_torch_arithmetic_bit_for_bit)
{
    check_adamw_bits((torch_hp){1e-3, 0.9, 0.999, 1e-8, 0.0}, "defaults");
    check_adamw_bits((torch_hp){3.3e-4, 0.9, 0.95, 1e-6, 0.1}, "decay");
    check_adamw_bits((torch_hp){0.1, 0.3, 0.999, 1e-8, 0.01}, "beta1 0.3");
}

Test(cpu_optim, adamw_one_minus_beta2_comes_from_the_double)
{
    /* first step from v = 0: v = (1 - beta2) g^2 with 1 - beta2 formed in double */
    backend *be = tu_backend();
    float p[1] = {1.0f}, g[1] = {0.75f}, m[1] = {0}, v[1] = {0};
    bk_adamw(be, p, g, m, v, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0, 1, 1.0f);
    float want = (float)(1.0 - 0.999) * 0.75f * 0.75f;
    float from_float = (float)(1.0 - (double)0.999f) * 0.75f * 0.75f;
    cr_assert_neq(want, from_float, "test data cannot tell the two apart");
    cr_assert_eq(v[0], want, "v %.9g, want %.9g (float beta2 gives %.9g)", (double)v[0],
                 (double)want, (double)from_float);
    bk_destroy(be);
}
