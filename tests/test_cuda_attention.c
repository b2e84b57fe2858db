/* test_cuda_attention.c — CUDA vs CPU causal attention in every dtype, both blocked (no
 * (T,T) tensor), including GPT-2's shape (T=1024, C=768, NH=12). Both backends round at the
 * same points, but the GEMMs and the softmax sums accumulate in different orders, so a
 * rounded score may land on the other neighbour (for fp16 about one score in 8000 does):
 * that moves its probability by up to u = ulp_dt(max |score|) relative and, through the
 * normalisation, the rest of the row by as much. Tolerances: rowstats max within u, 1/sum
 * within (4 u + 1e-5) of itself; out within 2 ulps of dt plus (4 u + 4 eps_dt) max|v|; dqkv
 * within 2 ulps of dt plus 16 (u + eps_dt) max|dqkv| (a flipped probability or gradient term
 * perturbs each sum by at most that share of its largest terms). */
#include "test_cuda_util.h"
#include "test_deadline.h"

static double eps_of(dtype_t dt)
{
    return dt == DT_F16 ? 0x1p-10 : dt == DT_BF16 ? 0x1p-7 : 0x1p-20;
}

static double maxabs(const float *x, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

static void attn_case(tc_pair *p, dtype_t dt, int B, int T, int C, int NH)
{
    size_t nqkv = (size_t)B * T * 3 * C, nrs = (size_t)B * NH * T * 2, nout = (size_t)B * T * C;
    float *qkv = tc_rand(nqkv, 1, 2.0f, dt), *dout = tc_rand(nout, 2, 1.0f, dt);
    backend *be[2] = {p->gpu, p->cpu};
    float *out[2], *rs[2], *dqkv[2];
    num_stats st[2][2];
    for (int k = 0; k < 2; k++) {
        num_stats_reset(&st[k][0]);
        num_stats_reset(&st[k][1]);
        float *dq = tc_up(be[k], qkv, nqkv), *dd = tc_up(be[k], dout, nout);
        float *o = tc_buf(be[k], nout), *a = tc_buf(be[k], nrs), *g = tc_buf(be[k], nqkv);
        bk_attention_forward(be[k], o, a, dq, B, T, C, NH, dt, &st[k][0]);
        bk_attention_backward(be[k], g, dd, dq, a, B, T, C, NH, dt, &st[k][1]);
        out[k] = tc_down(be[k], o, nout);
        rs[k] = tc_down(be[k], a, nrs);
        dqkv[k] = tc_down(be[k], g, nqkv);
    }
    /* largest |score| = |q.k| / sqrt(hd), from the inputs, in double */
    int hd = C / NH;
    double smax = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < T; i++)
                for (int j = 0; j <= i; j++) {
                    const float *q = qkv + ((size_t)b * T + i) * 3 * C + h * hd;
                    const float *k = qkv + ((size_t)b * T + j) * 3 * C + C + h * hd;
                    double d = 0;
                    for (int c = 0; c < hd; c++) d += (double)q[c] * k[c];
                    d = fabs(d) / sqrt((double)hd);
                    smax = d > smax ? d : smax;
                }
    double eps = eps_of(dt), u = dt == DT_F32 ? 64 * 0x1p-24 * smax : tc_ulp(smax, dt);
    double *e = malloc(nrs * sizeof *e);
    for (size_t i = 0; i < nrs; i++)
        e[i] = i % 2 ? (4.0 * u + 1e-5) * fabs(rs[1][i]) : u + 1e-6;
    tc_close_ulp(rs[0], rs[1], nrs, DT_F32, 0.0, e, "rowstats");
    free(e);
    e = malloc(nout * sizeof *e);
    double vmax = maxabs(qkv, nqkv), gmax = maxabs(dqkv[1], nqkv);
    for (size_t i = 0; i < nout; i++) e[i] = (4.0 * u + 4.0 * eps) * vmax;
    tc_close_ulp(out[0], out[1], nout, dt, 2.0, e, "out");
    free(e);
    e = malloc(nqkv * sizeof *e);
    for (size_t i = 0; i < nqkv; i++) e[i] = 16.0 * (u + eps) * gmax;
    tc_close_ulp(dqkv[0], dqkv[1], nqkv, dt, 2.0, e, "dqkv");
    free(e);
    tc_stats_close(&st[0][0], &st[1][0], 1e-2, 8, "attn fwd stats");
    tc_stats_close(&st[0][1], &st[1][1], 1e-2, 8, "attn bwd stats");
    free(qkv), free(dout);
    for (int k = 0; k < 2; k++) free(out[k]), free(rs[k]), free(dqkv[k]);
}

/* T = 33 and 130: one partial block, several blocks with a partial last one. */
Test(cuda_attention, forward_backward_each_dtype)
{
    tc_pair p = tc_pair_or_skip();
    for (int d = 0; d < DT_COUNT; d++) {
        attn_case(&p, (dtype_t)d, 2, 33, 64, 4);
        attn_case(&p, (dtype_t)d, 1, 130, 128, 2);
    }
    tc_pair_free(&p);
}

Test(cuda_attention, gpt2_shape_each_dtype)
{
    test_deadline(300);
    tc_pair p = tc_pair_or_skip();
    for (int d = 0; d < DT_COUNT; d++) attn_case(&p, (dtype_t)d, 1, 1024, 768, 12);
    tc_pair_free(&p);
}

/* The workspace is what the op uses: far below one (T,T) fp32 matrix per head at T=1024. */
Test(cuda_attention, workspace_below_one_tt_per_head)
{
    backend *gpu = tc_gpu_or_skip();
    size_t ws = bk_attention_workspace(gpu, 4, 1024, 768, 12);
    cr_assert(ws > 0 && ws < (size_t)4 * 12 * 1024 * 1024 * sizeof(float) / 8, "%zu", ws);
    cr_assert_eq(bk_attention_workspace(gpu, 0, 1024, 768, 12), 0);
    bk_destroy(gpu);
}
