/* test_cuda_gemm.c — CUDA (cuBLAS, tensor cores) vs CPU (rounded inputs, sgemm) GEMMs and
 * Linear forward / backward in every dtype. Tolerance per element: 1 ulp of the output
 * dtype (the single rounding may land on the other neighbour) plus 2 K 2^-23 sum_k |a b|,
 * twice the classical bound for two fp32 accumulations of K products in different orders. */
#include "test_cuda_util.h"

/* bound[i][j] = 2 K 2^-23 sum_k |A(i,k) B(k,j)| (+ |bias|), row-major, op() applied. */
static double *acc_bound(const float *A, int ta, const float *B, int tb, int M, int N, int K,
                         const float *bias, double extra)
{
    double *e = calloc((size_t)M * N, sizeof *e);
    cr_assert_not_null(e);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = bias ? fabs(bias[j]) : 0.0;
            for (int k = 0; k < K; k++) {
                float a = ta ? A[(size_t)k * M + i] : A[(size_t)i * K + k];
                float b = tb ? B[(size_t)j * K + k] : B[(size_t)k * N + j];
                s += fabs((double)a * b);
            }
            e[(size_t)i * N + j] = (2.0 * K * 0x1p-23 + extra) * s;
        }
    return e;
}

static void gemm_case(tc_pair *p, dtype_t dta, dtype_t dtb, dtype_t dtc, int ta, int tb,
                      int M, int N, int K, float alpha, int acc)
{
    /* unrounded fp32 inputs: the op itself rounds them to dta / dtb */
    float *A = tc_rand((size_t)M * K, 1 + ta, 2.0f, DT_F32);
    float *B = tc_rand((size_t)K * N, 3 + tb, 2.0f, DT_F32);
    float *C0 = tc_rand((size_t)M * N, 5, 1.0f, DT_F32);
    backend *be[2] = {p->gpu, p->cpu};
    float *out[2];
    num_stats st[2];
    for (int k = 0; k < 2; k++) {
        num_stats_reset(&st[k]);
        float *a = tc_up(be[k], A, (size_t)M * K), *b = tc_up(be[k], B, (size_t)K * N);
        float *c = tc_up(be[k], C0, (size_t)M * N);
        bk_gemm(be[k], c, dtc, a, dta, ta, b, dtb, tb, M, N, K, alpha, acc, &st[k]);
        out[k] = tc_down(be[k], c, (size_t)M * N);
    }
    float *Ar = malloc((size_t)M * K * sizeof *Ar), *Br = malloc((size_t)K * N * sizeof *Br);
    num_round(Ar, A, (size_t)M * K, dta, NULL);
    num_round(Br, B, (size_t)K * N, dtb, NULL);
    double *e = acc_bound(Ar, ta, Br, tb, M, N, K, NULL, 0.0);
    for (size_t i = 0; i < (size_t)M * N; i++) e[i] = e[i] * fabs(alpha) + (acc ? 1e-7 : 0.0);
    char what[64];
    snprintf(what, sizeof what, "gemm %s*%s->%s t%d%d acc%d", dtype_name(dta),
             dtype_name(dtb), dtype_name(dtc), ta, tb, acc);
    tc_close_ulp(out[0], out[1], (size_t)M * N, dtc, dtc == DT_F32 ? 0.0 : 1.0, e, what);
    tc_stats_close(&st[0], &st[1], 1e-3, 2, what);
    free(e), free(Ar), free(Br), free(A), free(B), free(C0), free(out[0]), free(out[1]);
}

Test(cuda_gemm, gemm_dtypes_transposes_accumulate)
{
    tc_pair p = tc_pair_or_skip();
    for (int d = 0; d < DT_COUNT; d++)
        for (int t = 0; t < 4; t++)
            gemm_case(&p, (dtype_t)d, (dtype_t)d, (dtype_t)d, t & 1, t >> 1, 37, 53, 70, 0.5f,
                      t == 3);
    gemm_case(&p, DT_F16, DT_BF16, DT_F32, 0, 1, 16, 24, 40, 1.0f, 0); /* mixed operands */
    gemm_case(&p, DT_F32, DT_F16, DT_BF16, 1, 0, 16, 24, 40, 1.0f, 1);
    gemm_case(&p, DT_F16, DT_F16, DT_F16, 0, 0, 8, 8, 0, 1.0f, 0); /* K = 0: zeros */
    tc_pair_free(&p);
}

/* Large products overflow fp16: the same elements become Inf on both backends. */
Test(cuda_gemm, fp16_overflow_counts)
{
    tc_pair p = tc_pair_or_skip();
    enum { M = 32, N = 32, K = 64 };
    float *A = tc_rand(M * K, 1, 200.0f, DT_F16), *B = tc_rand(K * N, 2, 200.0f, DT_F16);
    backend *be[2] = {p.gpu, p.cpu};
    num_stats st[2];
    float *out[2];
    for (int k = 0; k < 2; k++) {
        num_stats_reset(&st[k]);
        float *a = tc_up(be[k], A, M * K), *b = tc_up(be[k], B, K * N), *c = tc_buf(be[k], M * N);
        bk_gemm(be[k], c, DT_F16, a, DT_F16, 0, b, DT_F16, 0, M, N, K, 1.0f, 0, &st[k]);
        out[k] = tc_down(be[k], c, M * N);
    }
    cr_assert(st[1].overflow > 0, "test data should overflow fp16");
    tc_stats_close(&st[0], &st[1], 1e-3, 2, "overflow");
    free(A), free(B), free(out[0]), free(out[1]);
    tc_pair_free(&p);
}

static void matmul_case(tc_pair *p, dtype_t dt, int w_trans)
{
    enum { N = 48, C = 40, OC = 72 };
    float *x = tc_rand(N * C, 1, 1.0f, dt), *w = tc_rand(C * OC, 2, 0.3f, dt);
    float *bias = tc_rand(OC, 3, 0.5f, dt), *dout = tc_rand(N * OC, 4, 1.0f, dt);
    float *dw0 = tc_rand(C * OC, 5, 0.01f, DT_F32), *db0 = tc_rand(OC, 6, 0.01f, DT_F32);
    backend *be[2] = {p->gpu, p->cpu};
    float *out[2], *dinp[2], *dw[2], *db[2];
    num_stats st[2][3];
    for (int k = 0; k < 2; k++) {
        for (int j = 0; j < 3; j++) num_stats_reset(&st[k][j]);
        float *dx = tc_up(be[k], x, N * C), *dwt = tc_up(be[k], w, C * OC);
        float *dbias = tc_up(be[k], bias, OC), *dd = tc_up(be[k], dout, N * OC);
        float *o = tc_buf(be[k], N * OC), *di = tc_buf(be[k], N * C);
        float *gw = tc_up(be[k], dw0, C * OC), *gb = tc_up(be[k], db0, OC);
        bk_matmul_forward(be[k], o, dx, dwt, dbias, N, C, OC, w_trans, dt, dt, dt, &st[k][0]);
        bk_matmul_backward(be[k], di, gw, gb, dd, dx, dwt, N, C, OC, w_trans, dt, &st[k][1],
                           &st[k][2]);
        out[k] = tc_down(be[k], o, N * OC);
        dinp[k] = tc_down(be[k], di, N * C);
        dw[k] = tc_down(be[k], gw, C * OC);
        db[k] = tc_down(be[k], gb, OC);
    }
    /* w as (C,OC) for the bounds, whatever its storage */
    float *wc = malloc(C * OC * sizeof *wc);
    for (int i = 0; i < C; i++)
        for (int j = 0; j < OC; j++)
            wc[i * OC + j] = w_trans ? w[j * C + i] : w[i * OC + j];
    double *e = acc_bound(x, 0, wc, 0, N, OC, C, bias, 0.0);
    tc_close_ulp(out[0], out[1], N * OC, dt, dt == DT_F32 ? 0.0 : 1.0, e, "matmul out");
    free(e);
    e = acc_bound(dout, 0, wc, 1, N, C, OC, NULL, 0.0);
    tc_close_ulp(dinp[0], dinp[1], N * C, dt, dt == DT_F32 ? 0.0 : 1.0, e, "matmul dinp");
    free(e);
    double *ew = acc_bound(x, 1, dout, 0, C, OC, N, NULL, 0.0); /* (C,OC) */
    double *ewl = malloc(C * OC * sizeof *ewl);
    for (int i = 0; i < C; i++)
        for (int j = 0; j < OC; j++) /* in w's layout, plus the ulp of the rounded gradient */
            ewl[w_trans ? j * C + i : i * OC + j] =
                ew[i * OC + j] + (dt == DT_F32 ? 0.0 : 1.0) * tc_ulp(ew[i * OC + j] / (2.0 * N * 0x1p-23), dt);
    tc_close_ulp(dw[0], dw[1], C * OC, DT_F32, 2.0, ewl, "matmul dw");
    double eb[OC];
    for (int j = 0; j < OC; j++) {
        double s = 0;
        for (int n = 0; n < N; n++) s += fabs(dout[n * OC + j]);
        eb[j] = 2.0 * N * 0x1p-23 * s + (dt == DT_F32 ? 0.0 : tc_ulp(s, dt));
    }
    tc_close_ulp(db[0], db[1], OC, DT_F32, 2.0, eb, "matmul db");
    for (int j = 0; j < 3; j++) tc_stats_close(&st[0][j], &st[1][j], 1e-3, 2, "matmul stats");
    free(ew), free(ewl), free(wc), free(x), free(w), free(bias), free(dout), free(dw0),
        free(db0);
    for (int k = 0; k < 2; k++) free(out[k]), free(dinp[k]), free(dw[k]), free(db[k]);
}

Test(cuda_gemm, matmul_forward_backward_each_dtype)
{
    tc_pair p = tc_pair_or_skip();
    for (int d = 0; d < DT_COUNT; d++) {
        matmul_case(&p, (dtype_t)d, 0);
        matmul_case(&p, (dtype_t)d, 1);
    }
    tc_pair_free(&p);
}
