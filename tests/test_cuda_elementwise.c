/* test_cuda_elementwise.c — CUDA vs CPU: stats, double sums, scale, GELU, residual adds,
 * 16-bit pack / unpack.
 * Tolerances: adds and scales are single fp32 operations (bit-exact); GELU differs by tanhf's
 * implementation (CUDA <= 2 ulp, glibc <= 1 ulp; 4 ulps of 1 = 2^-22 between them): the
 * forward moves by 0.5 |x| 2^-22, the backward by (0.5 + |x| (1 + 0.134 x^2)) 2^-22 |dout|
 * (its derivative in tanh), plus 8 fp32 ulps of the other arithmetic, plus 1 ulp of the
 * output dtype; sums are double over 4096-element blocks in another tree: 1e-12 relative. */
#include "test_cuda_util.h"

Test(cuda_elementwise, stats_sum_sumsq_scale)
{
    tc_pair p = tc_pair_or_skip();
    size_t n = 1000003;
    float *h = tc_rand(n, 11, 5.0f, DT_F32);
    h[17] = 0.0f;
    h[18] = -3e-30f;
    float *dg = tc_up(p.gpu, h, n), *dc = tc_up(p.cpu, h, n);
    num_stats sg, sc;
    num_stats_reset(&sg);
    num_stats_reset(&sc);
    bk_stats(p.gpu, dg, n, &sg);
    bk_stats(p.cpu, dc, n, &sc);
    double s1 = bk_sum(p.gpu, dg, n), s2 = bk_sum(p.cpu, dc, n);
    double q1 = bk_sumsq(p.gpu, dg, n), q2 = bk_sumsq(p.cpu, dc, n);
    tc_stats_eq(&sg, &sc, "stats"); /* bk_sum synchronized: the stats have landed */
    cr_assert(fabs(s1 - s2) <= 1e-12 * q2, "sum %.17g vs %.17g", s1, s2);
    cr_assert(fabs(q1 - q2) <= 1e-12 * q2, "sumsq %.17g vs %.17g", q1, q2);
    cr_assert_eq(bk_sum(p.gpu, dg, 0), 0.0);
    bk_scale(p.gpu, dg, n, 0.3f);
    bk_scale(p.cpu, dc, n, 0.3f);
    float *g = tc_down(p.gpu, dg, n), *c = tc_down(p.cpu, dc, n);
    tc_bits_eq(g, c, n, "scale");
    free(g);
    free(c);
    free(h);
    tc_pair_free(&p);
}

Test(cuda_elementwise, residual_and_add_bit_exact)
{
    tc_pair p = tc_pair_or_skip();
    size_t n = 300007;
    float *a = tc_rand(n, 1, 2.0f, DT_F32), *b = tc_rand(n, 2, 2.0f, DT_F16);
    float *ag = tc_up(p.gpu, a, n), *bg = tc_up(p.gpu, b, n), *og = tc_buf(p.gpu, n);
    float *ac = tc_up(p.cpu, a, n), *bc = tc_up(p.cpu, b, n), *oc = tc_buf(p.cpu, n);
    bk_residual_forward(p.gpu, og, ag, bg, n);
    bk_residual_forward(p.cpu, oc, ac, bc, n);
    bk_add_inplace(p.gpu, og, bg, n);
    bk_add_inplace(p.cpu, oc, bc, n);
    float *g = tc_down(p.gpu, og, n), *c = tc_down(p.cpu, oc, n);
    tc_bits_eq(g, c, n, "residual + add");
    free(g);
    free(c);
    free(a);
    free(b);
    tc_pair_free(&p);
}

Test(cuda_elementwise, gelu_forward_backward_each_dtype)
{
    tc_pair p = tc_pair_or_skip();
    size_t n = 200003;
    for (int k = 0; k < DT_COUNT; k++) {
        dtype_t dt = (dtype_t)k;
        float *x = tc_rand(n, 3 + k, 6.0f, dt), *d = tc_rand(n, 9 + k, 3000.0f, dt);
        x[0] = 1e5f; /* fp16 overflow */
        float *xg = tc_up(p.gpu, x, n), *dg = tc_up(p.gpu, d, n), *yg = tc_buf(p.gpu, n);
        float *xc = tc_up(p.cpu, x, n), *dc = tc_up(p.cpu, d, n), *yc = tc_buf(p.cpu, n);
        num_stats s[4];
        for (int i = 0; i < 4; i++) num_stats_reset(&s[i]);
        bk_gelu_forward(p.gpu, yg, xg, n, dt, &s[0]);
        bk_gelu_forward(p.cpu, yc, xc, n, dt, &s[1]);
        float *g = tc_down(p.gpu, yg, n), *c = tc_down(p.cpu, yc, n);
        double *abs_err = malloc(n * sizeof *abs_err);
        for (size_t i = 0; i < n; i++)
            abs_err[i] = 8.0 * tc_ulp(c[i], DT_F32) + 0.5 * fabs(x[i]) * 0x1p-22;
        tc_close_ulp(g, c, n, dt, dt == DT_F32 ? 0.0 : 1.0, abs_err, "gelu fwd");
        tc_stats_close(&s[0], &s[1], 1e-6, 2, "gelu fwd");
        free(g);
        free(c);
        bk_gelu_backward(p.gpu, yg, xg, dg, n, dt, &s[2]);
        bk_gelu_backward(p.cpu, yc, xc, dc, n, dt, &s[3]);
        g = tc_down(p.gpu, yg, n);
        c = tc_down(p.cpu, yc, n);
        for (size_t i = 0; i < n; i++) {
            double xi = fabs(x[i]);
            abs_err[i] = 8.0 * tc_ulp(c[i], DT_F32) +
                         (0.5 + xi * (1.0 + 0.134 * xi * xi)) * 0x1p-22 * fabs(d[i]);
        }
        tc_close_ulp(g, c, n, dt, dt == DT_F32 ? 0.0 : 1.0, abs_err, "gelu bwd");
        tc_stats_close(&s[2], &s[3], 1e-6, 2, "gelu bwd");
        free(abs_err);
        free(g);
        free(c);
        free(x);
        free(d);
    }
    tc_pair_free(&p);
}

/* 16-bit storage: every fp16 / bf16 bit pattern unpacks to the CPU's float bits, and random
 * fp32 values (not representable: rounded to nearest even) pack to the CPU's bits. */
Test(cuda_elementwise, pack_unpack_bit_exact)
{
    tc_pair p = tc_pair_or_skip();
    enum { N = 65536 };
    uint16_t pat[N];
    for (int i = 0; i < N; i++) pat[i] = (uint16_t)i;
    float *x = tc_rand(N, 5, 1e4f, DT_F32);
    for (int dt = DT_F16; dt <= DT_BF16; dt++) {
        const char *name = dtype_name((dtype_t)dt);
        void *hg = bk_alloc(p.gpu, sizeof pat), *hc = bk_alloc(p.cpu, sizeof pat);
        cr_assert(hg && hc);
        bk_upload(p.gpu, hg, pat, sizeof pat);
        bk_upload(p.cpu, hc, pat, sizeof pat);
        float *ug = tc_buf(p.gpu, N), *uc = tc_buf(p.cpu, N);
        bk_unpack(p.gpu, ug, hg, N, (dtype_t)dt);
        bk_unpack(p.cpu, uc, hc, N, (dtype_t)dt);
        float *g = tc_down(p.gpu, ug, N), *c = tc_down(p.cpu, uc, N);
        tc_bits_eq(g, c, N, name);
        free(g);
        free(c);
        float *xg = tc_up(p.gpu, x, N), *xc = tc_up(p.cpu, x, N);
        bk_pack(p.gpu, hg, xg, N, (dtype_t)dt);
        bk_pack(p.cpu, hc, xc, N, (dtype_t)dt);
        uint16_t bg[N], bc[N];
        bk_download(p.gpu, bg, hg, sizeof bg);
        bk_download(p.cpu, bc, hc, sizeof bc);
        cr_assert_eq(memcmp(bg, bc, sizeof bg), 0, "%s pack", name);
    }
    free(x);
    tc_pair_free(&p);
}
