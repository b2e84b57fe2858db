/* test_cuda_layernorm.c — CUDA vs CPU LayerNorm. Row statistics are warp trees instead of
 * left-to-right sums: over C terms the mean and variance differ by at most ~C 2^-24
 * relative, so mean / rstd within 64 fp32 ulps and outputs within 1 output ulp plus
 * 1e-5 |out|. Given the same mean / rstd, dw / db use the reference's block order (4 ulps
 * allow a contracted multiply-add on either side); dinp's row sums differ as the forward's. */
#include "test_cuda_util.h"

static void ln_case(tc_pair *p, dtype_t dt)
{
    enum { N = 150, C = 96 };
    float *x = tc_rand(N * C, 1, 3.0f, DT_F32), *w = tc_rand(C, 2, 1.0f, DT_F32);
    float *b = tc_rand(C, 3, 0.5f, DT_F32), *d = tc_rand(N * C, 4, 2.0f, DT_F32);
    for (int i = 0; i < N * C; i++) x[i] += (float)(i / C % 7); /* row means away from 0 */
    backend *be[2] = {p->gpu, p->cpu};
    float *out[2], *mean[2], *rstd[2], *dinp[2], *dw[2], *db[2];
    num_stats st[2];
    float *cpu_mean = NULL, *cpu_rstd = NULL;
    for (int k = 1; k >= 0; k--) { /* CPU first: its mean / rstd feed both backwards */
        num_stats_reset(&st[k]);
        float *dx = tc_up(be[k], x, N * C), *dwt = tc_up(be[k], w, C), *dbs = tc_up(be[k], b, C);
        float *dd = tc_up(be[k], d, N * C), *o = tc_buf(be[k], N * C);
        float *m = tc_buf(be[k], N), *r = tc_buf(be[k], N);
        float *di = tc_up(be[k], d, N * C); /* += into an existing gradient */
        float *gw = tc_up(be[k], w, C), *gb = tc_up(be[k], b, C);
        bk_layernorm_forward(be[k], o, m, r, dx, dwt, dbs, N, C, dt, &st[k]);
        out[k] = tc_down(be[k], o, N * C);
        mean[k] = tc_down(be[k], m, N);
        rstd[k] = tc_down(be[k], r, N);
        if (k == 1) cpu_mean = mean[1], cpu_rstd = rstd[1];
        bk_upload(be[k], m, cpu_mean, N * sizeof(float));
        bk_upload(be[k], r, cpu_rstd, N * sizeof(float));
        bk_layernorm_backward(be[k], di, gw, gb, dd, dx, dwt, m, r, N, C);
        dinp[k] = tc_down(be[k], di, N * C);
        dw[k] = tc_down(be[k], gw, C);
        db[k] = tc_down(be[k], gb, C);
    }
    tc_close_ulp(mean[0], mean[1], N, DT_F32, 64.0, NULL, "mean");
    tc_close_ulp(rstd[0], rstd[1], N, DT_F32, 64.0, NULL, "rstd");
    double *e = malloc(N * C * sizeof *e);
    for (int i = 0; i < N * C; i++) e[i] = 1e-5 * fabs(out[1][i]) + 1e-6;
    tc_close_ulp(out[0], out[1], N * C, dt, dt == DT_F32 ? 0.0 : 1.0, e, "ln out");
    for (int i = 0; i < N * C; i++) e[i] = 1e-5 * (fabs(dinp[1][i]) + 10.0);
    tc_close_ulp(dinp[0], dinp[1], N * C, DT_F32, 4.0, e, "ln dinp");
    tc_close_ulp(dw[0], dw[1], C, DT_F32, 4.0, NULL, "ln dw");
    tc_close_ulp(db[0], db[1], C, DT_F32, 4.0, NULL, "ln db");
    tc_stats_close(&st[0], &st[1], 1e-5, 2, "ln stats");
    free(e), free(x), free(w), free(b), free(d);
    for (int k = 0; k < 2; k++)
        free(out[k]), free(mean[k]), free(rstd[k]), free(dinp[k]), free(dw[k]), free(db[k]);
}

Test(cuda_layernorm, forward_backward_each_dtype)
{
    tc_pair p = tc_pair_or_skip();
    for (int d = 0; d < DT_COUNT; d++) ln_case(&p, (dtype_t)d);
    tc_pair_free(&p);
}
