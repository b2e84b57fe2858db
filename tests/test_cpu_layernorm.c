/* test_cpu_layernorm.c — LayerNorm forward against double, backward (+= semantics)
 * against finite differences, fp16 output rounding. */
#include "test_cpu_util.h"

enum { LN_N = 4, LN_C = 7 };
typedef struct {
    double inp[LN_N * LN_C], w[LN_C], b[LN_C], r[LN_N * LN_C];
    int which;
} ln_ctx;

static void ln_ref(const double *x, const double *w, const double *b, double *out)
{
    for (int n = 0; n < LN_N; n++) {
        double m = 0.0, v = 0.0;
        for (int c = 0; c < LN_C; c++) m += x[n * LN_C + c] / LN_C;
        for (int c = 0; c < LN_C; c++) v += (x[n * LN_C + c] - m) * (x[n * LN_C + c] - m) / LN_C;
        double s = 1.0 / sqrt(v + 1e-5);
        for (int c = 0; c < LN_C; c++) out[n * LN_C + c] = (x[n * LN_C + c] - m) * s * w[c] + b[c];
    }
}

static double ln_loss(const double *x, void *vctx)
{
    ln_ctx *c = vctx;
    double out[LN_N * LN_C], l = 0.0;
    ln_ref(c->which == 0 ? x : c->inp, c->which == 1 ? x : c->w, c->which == 2 ? x : c->b, out);
    for (int i = 0; i < LN_N * LN_C; i++) l += out[i] * c->r[i];
    return l;
}

Test(cpu_layernorm, forward_backward_match_reference)
{
    backend *be = tu_backend();
    enum { NC = LN_N * LN_C };
    float *inp = tu_buf(be, NC), *w = tu_buf(be, LN_C), *b = tu_buf(be, LN_C);
    float *out = tu_buf(be, NC), *mean = tu_buf(be, LN_N), *rstd = tu_buf(be, LN_N);
    float *dout = tu_buf(be, NC), *dinp = tu_buf(be, NC), *dw = tu_buf(be, LN_C);
    float *db = tu_buf(be, LN_C);
    tu_fill(inp, NC, 40, 2.0f);
    tu_fill(w, LN_C, 41, 1.0f);
    tu_fill(b, LN_C, 42, 1.0f);
    tu_fill(dout, NC, 43, 1.0f);
    ln_ctx c;
    for (int i = 0; i < NC; i++) c.inp[i] = inp[i], c.r[i] = dout[i];
    for (int i = 0; i < LN_C; i++) c.w[i] = w[i], c.b[i] = b[i];
    bk_layernorm_forward(be, out, mean, rstd, inp, w, b, LN_N, LN_C, DT_F32, NULL);
    double want[NC], g[NC];
    ln_ref(c.inp, c.w, c.b, want);
    tu_close(out, want, NC, 1e-5, 1e-5, "out");
    for (int i = 0; i < NC; i++) dinp[i] = 0.5f;
    for (int i = 0; i < LN_C; i++) dw[i] = db[i] = 2.0f;
    bk_layernorm_backward(be, dinp, dw, db, dout, inp, w, mean, rstd, LN_N, LN_C);
    c.which = 0;
    tu_fd_grad(ln_loss, c.inp, NC, &c, 1e-5, g);
    for (int i = 0; i < NC; i++) g[i] += 0.5;
    tu_close(dinp, g, NC, 1e-4, 1e-4, "dinp");
    c.which = 1;
    tu_fd_grad(ln_loss, c.w, LN_C, &c, 1e-5, g);
    for (int i = 0; i < LN_C; i++) g[i] += 2.0;
    tu_close(dw, g, LN_C, 1e-4, 1e-4, "dw");
    c.which = 2;
    tu_fd_grad(ln_loss, c.b, LN_C, &c, 1e-5, g);
    for (int i = 0; i < LN_C; i++) g[i] += 2.0;
    tu_close(db, g, LN_C, 1e-4, 1e-4, "db");
    bk_destroy(be);
}

Test(cpu_layernorm, fp16_output_is_rounded_fp32_result)
{
    backend *be = tu_backend();
    enum { N = 130, C = 33 };
    float *inp = tu_buf(be, N * C), *w = tu_buf(be, C), *b = tu_buf(be, C);
    float *o32 = tu_buf(be, N * C), *o16 = tu_buf(be, N * C), *m = tu_buf(be, N), *r = tu_buf(be, N);
    tu_fill(inp, N * C, 44, 3.0f);
    tu_fill(w, C, 45, 1.0f);
    tu_fill(b, C, 46, 1.0f);
    w[0] = 1e5f; /* overflows fp16 for most rows */
    num_stats st;
    num_stats_reset(&st);
    bk_layernorm_forward(be, o32, m, r, inp, w, b, N, C, DT_F32, NULL);
    bk_layernorm_forward(be, o16, m, r, inp, w, b, N, C, DT_F16, &st);
    uint64_t ovf = 0;
    for (int i = 0; i < N * C; i++) {
        float want = num_round1(o32[i], DT_F16);
        cr_assert_eq(memcmp(&want, &o16[i], 4), 0, "i=%d", i);
        ovf += isinf(o16[i]) && !isinf(o32[i]);
    }
    cr_assert(ovf > 0);
    cr_assert_eq(st.overflow, ovf);
    cr_assert_eq(st.count, N * C);
    bk_destroy(be);
}

Test(cpu_layernorm, backward_deterministic_over_many_rows)
{
    backend *be = tu_backend();
    enum { N = 1000, C = 48 };
    float *inp = tu_buf(be, N * C), *w = tu_buf(be, C), *b = tu_buf(be, C), *out = tu_buf(be, N * C);
    float *m = tu_buf(be, N), *r = tu_buf(be, N), *dout = tu_buf(be, N * C);
    float *dinp[2], *dw[2], *db[2];
    tu_fill(inp, N * C, 47, 1.0f);
    tu_fill(w, C, 48, 1.0f);
    tu_fill(dout, N * C, 49, 1.0f);
    bk_layernorm_forward(be, out, m, r, inp, w, b, N, C, DT_F32, NULL);
    for (int k = 0; k < 2; k++) {
        dinp[k] = tu_buf(be, N * C);
        dw[k] = tu_buf(be, C);
        db[k] = tu_buf(be, C);
        bk_layernorm_backward(be, dinp[k], dw[k], db[k], dout, inp, w, m, r, N, C);
    }
    cr_assert_eq(memcmp(dinp[0], dinp[1], N * C * 4), 0);
    cr_assert_eq(memcmp(dw[0], dw[1], C * 4), 0);
    cr_assert_eq(memcmp(db[0], db[1], C * 4), 0);
    double s = 0.0; /* db = column sums of dout */
    for (int n = 0; n < N; n++) s += dout[n * C];
    cr_assert(fabs(db[0][0] - s) < 1e-3);
    bk_destroy(be);
}
