/* test_cuda_optim.c — CUDA vs CPU: unscale (bit-exact, same non-finite decision) and AdamW
 * (the same fp32 expressions: within 4 fp32 ulps, which covers a compiler contracting a
 * multiply-add on one side). */
#include "test_cuda_util.h"

Test(cuda_optim, unscale_bit_exact_and_found_flag)
{
    tc_pair p = tc_pair_or_skip();
    size_t n = 500001;
    float *h = tc_rand(n, 5, 1e4f, DT_F32);
    float *dg = tc_up(p.gpu, h, n), *dc = tc_up(p.cpu, h, n);
    cr_assert_eq(bk_unscale(p.gpu, dg, n, 1.0f / 65536.0f), 0);
    cr_assert_eq(bk_unscale(p.cpu, dc, n, 1.0f / 65536.0f), 0);
    float *g = tc_down(p.gpu, dg, n), *c = tc_down(p.cpu, dc, n);
    tc_bits_eq(g, c, n, "unscaled");
    free(g);
    free(c);
    h[n - 1] = NAN;
    h[7] = -INFINITY;
    bk_upload(p.gpu, dg, h, n * sizeof *h);
    cr_assert_eq(bk_unscale(p.gpu, dg, n, 0.5f), 1);
    bk_upload(p.gpu, dg, h + 8, 100 * sizeof *h); /* a finite prefix is not flagged */
    cr_assert_eq(bk_unscale(p.gpu, dg, 100, 0.5f), 0);
    free(h);
    tc_pair_free(&p);
}

Test(cuda_optim, adamw_matches_cpu)
{
    tc_pair p = tc_pair_or_skip();
    size_t n = 100003;
    float *w = tc_rand(n, 1, 0.1f, DT_F32), *gr = tc_rand(n, 2, 0.01f, DT_F32);
    float *m = tc_rand(n, 3, 0.001f, DT_F32), *v = tc_rand(n, 4, 1e-5f, DT_F32);
    for (size_t i = 0; i < n; i++) v[i] = fabsf(v[i]);
    backend *be[2] = {p.gpu, p.cpu};
    float *out[2][3];
    for (int k = 0; k < 2; k++) {
        float *dp = tc_up(be[k], w, n), *dgr = tc_up(be[k], gr, n);
        float *dm = tc_up(be[k], m, n), *dv = tc_up(be[k], v, n);
        for (int t = 1; t <= 3; t++)
            bk_adamw(be[k], dp, dgr, dm, dv, n, 3e-4, t == 3 ? 0.3 : 0.9, 0.999, 1e-8,
                     t == 2 ? 0.1 : 0.0, t, 0.75f);
        out[k][0] = tc_down(be[k], dp, n);
        out[k][1] = tc_down(be[k], dm, n);
        out[k][2] = tc_down(be[k], dv, n);
    }
    const char *names[3] = {"p", "m", "v"};
    for (int j = 0; j < 3; j++) {
        tc_close_ulp(out[0][j], out[1][j], n, DT_F32, 4.0, NULL, names[j]);
        free(out[0][j]);
        free(out[1][j]);
    }
    free(w);
    free(gr);
    free(m);
    free(v);
    tc_pair_free(&p);
}

/* The fused multi-tensor forms give the per-tensor results: same bits, same first index. */
Test(cuda_optim, multi_tensor_unscale_and_sumsq)
{
    tc_pair p = tc_pair_or_skip();
    size_t n[5] = {1, 70001, 0, 16384, 16385};
    float *h[5];
    for (int i = 0; i < 5; i++) h[i] = tc_rand(n[i] ? n[i] : 1, 30 + (uint64_t)i, 50.0f, DT_F32);
    h[4][16384] = INFINITY; /* the last element of the last block */
    backend *be[2] = {p.gpu, p.cpu};
    double ss[2][5];
    int first[2];
    float *back[2][5];
    for (int k = 0; k < 2; k++) {
        float *g[5];
        for (int i = 0; i < 5; i++) g[i] = tc_up(be[k], h[i], n[i] ? n[i] : 1);
        bk_sumsq_multi(be[k], (const float *const *)g, n, 5, ss[k]);
        for (int i = 0; i < 5; i++) {
            double one = bk_sumsq(be[k], g[i], n[i]);
            cr_assert_eq(memcmp(&one, &ss[k][i], sizeof one), 0, "sumsq_multi[%d]", i);
        }
        first[k] = bk_unscale_multi(be[k], g, n, 5, 1.0f / 1024.0f);
        for (int i = 0; i < 5; i++) back[k][i] = tc_down(be[k], g[i], n[i] ? n[i] : 1);
    }
    cr_assert_eq(first[0], 4);
    cr_assert_eq(first[1], 4);
    for (int i = 0; i < 5; i++) {
        cr_assert(ss[0][i] == ss[1][i] || fabs(ss[0][i] - ss[1][i]) <= 1e-12 * ss[1][i],
                  "sumsq[%d]: %.17g vs %.17g", i, ss[0][i], ss[1][i]); /* [4] is Inf on both */
        tc_bits_eq(back[0][i], back[1][i], n[i], "unscaled");
        free(back[0][i]), free(back[1][i]), free(h[i]);
    }
    tc_pair_free(&p);
}
