/* test_cpu_fp8.c — the CPU backend's FP8 ops: quantization equal to numerics.c bit for bit,
 * amax, the FP8 GEMMs against double references, and bit-identical results for 1 and 2 threads. */
#include "test_cpu_util.h"

#include <float.h>

#include "cpu/cpu_backend.h"

static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static backend *tu_backend1(void)
{
    char err[256];
    backend *be = bk_create(BK_CPU, 1, err, sizeof err);
    cr_assert_not_null(be, "%s", err);
    return be;
}

/* Wide magnitudes (2^-24 .. 2^8) and a few specials, so every count of the stats moves. */
static void fp8_fill(float *x, size_t n, uint64_t seed)
{
    tu_fill(x, n, seed, 1.0f);
    for (size_t i = 0; i < n; i++) x[i] = ldexpf(x[i], (int)(i * 7919 % 33) - 24);
    for (size_t i = 0; i < n; i += 4099) x[i] = (i / 4099) % 2 ? INFINITY : NAN;
    for (size_t i = 5; i < n; i += 3001) x[i] = 0.0f;
}

static void stats_eq(const num_stats *a, const num_stats *b, const char *what)
{
    cr_assert(memcmp(a, b, sizeof *a) == 0,
              "%s: stats differ (count %llu/%llu ovf %llu/%llu unf %llu/%llu amax %a/%a)", what,
              (unsigned long long)a->count, (unsigned long long)b->count,
              (unsigned long long)a->overflow, (unsigned long long)b->overflow,
              (unsigned long long)a->underflow, (unsigned long long)b->underflow,
              (double)a->amax, (double)b->amax);
}

/* ---- fp8_quantize, mx_quantize, amax ---- */

Test(cpu_fp8, quantize_equals_numerics_for_1_and_2_threads)
{
    enum { N = 3 * CPU_EW_CHUNK + 123 };
    backend *bes[2] = {tu_backend1(), tu_backend()};
    float *src = malloc(N * sizeof *src), *want = malloc(N * sizeof *want);
    cr_assert(src && want);
    fp8_fill(src, N, 1);
    for (int f = 0; f < FP8_FORMATS; f++) {
        float scale = f ? 1234.5f : 3.7f;
        num_stats sw;
        num_stats_reset(&sw);
        num_fp8_quantize(want, src, N, (fp8_format)f, scale, &sw);
        cr_assert_gt(sw.overflow, 0);
        cr_assert_gt(sw.underflow, 0);
        for (int t = 0; t < 2; t++) {
            float *x = tu_buf(bes[t], N), *q = tu_buf(bes[t], N);
            memcpy(x, src, N * sizeof *x);
            num_stats st;
            num_stats_reset(&st);
            bk_fp8_quantize(bes[t], q, x, N, (fp8_format)f, scale, &st);
            cr_assert_eq(memcmp(q, want, N * sizeof *q), 0, "%d thread(s)", t + 1);
            stats_eq(&st, &sw, "fp8_quantize");
            bk_fp8_quantize(bes[t], x, x, N, (fp8_format)f, scale, NULL); /* in place */
            cr_assert_eq(memcmp(x, want, N * sizeof *x), 0);
            bk_free(bes[t], x);
            bk_free(bes[t], q);
        }
    }
    free(src);
    free(want);
    bk_destroy(bes[0]);
    bk_destroy(bes[1]);
}

/* Along 1 the chunks are rows, along 0 bands of 32 rows (100 rows: the last band short). */
Test(cpu_fp8, mx_quantize_equals_numerics_for_1_and_2_threads)
{
    enum { R = 100, C = 600 };
    backend *bes[2] = {tu_backend1(), tu_backend()};
    float *src = malloc(R * C * sizeof *src), *want = malloc(R * C * sizeof *want);
    cr_assert(src && want);
    fp8_fill(src, R * C, 2);
    for (int f = 0; f < FP8_FORMATS; f++)
        for (int along = 0; along <= 1; along++) {
            num_stats sw;
            num_stats_reset(&sw);
            num_mx_quantize(want, src, R, C, along, (fp8_format)f, &sw);
            for (int t = 0; t < 2; t++) {
                float *x = tu_buf(bes[t], R * C), *q = tu_buf(bes[t], R * C);
                memcpy(x, src, R * C * sizeof *x);
                num_stats st;
                num_stats_reset(&st);
                bk_mx_quantize(bes[t], q, x, R, C, along, (fp8_format)f, &st);
                cr_assert_eq(memcmp(q, want, R * C * sizeof *q), 0, "along %d, %d thread(s)",
                             along, t + 1);
                stats_eq(&st, &sw, "mx_quantize");
                bk_mx_quantize(bes[t], x, x, R, C, along, (fp8_format)f, NULL);
                cr_assert_eq(memcmp(x, want, R * C * sizeof *x), 0);
                bk_free(bes[t], x);
                bk_free(bes[t], q);
            }
        }
    /* an empty shape does nothing */
    num_stats st;
    num_stats_reset(&st);
    float y = 3.0f;
    bk_mx_quantize(bes[1], &y, &y, 0, 5, 0, FP8_E4M3, &st);
    cr_assert_eq(y, 3.0f);
    cr_assert_eq(st.count, 0);
    free(src);
    free(want);
    bk_destroy(bes[0]);
    bk_destroy(bes[1]);
}

Test(cpu_fp8, amax_of_finite_values)
{
    enum { N = 2 * CPU_EW_CHUNK + 9 };
    backend *bes[2] = {tu_backend1(), tu_backend()};
    for (int t = 0; t < 2; t++) {
        backend *be = bes[t];
        float *x = tu_buf(be, N);
        tu_fill(x, N, 3, 2.0f);
        x[N - 1] = -7.5f;                       /* the largest magnitude is negative */
        x[10] = INFINITY, x[11] = -INFINITY;    /* not finite: ignored */
        x[CPU_EW_CHUNK + 1] = NAN;
        cr_assert_eq(bk_amax(be, x, N), 7.5f);
        float m = 0;
        for (int i = 0; i < 10; i++) m = fabsf(x[i]) > m ? fabsf(x[i]) : m;
        cr_assert_eq(bk_amax(be, x, 10), m);
        cr_assert_gt(m, 0.0f);
        cr_assert_eq(bk_amax(be, x + 10, 2), 0.0f); /* nothing finite */
        cr_assert_eq(bk_amax(be, x, 0), 0.0f);
        for (int i = 0; i < N; i++) x[i] = -0.0f;
        cr_assert_eq(fbits(bk_amax(be, x, N)), 0u);
        bk_free(be, x);
    }
    bk_destroy(bes[0]);
    bk_destroy(bes[1]);
}

/* amax is a synchronizing call (backend.h): deferred counts land in their callers' objects. */
Test(cpu_fp8, amax_lands_deferred_stats)
{
    backend *be = tu_backend();
    float x[64], q[64];
    for (int i = 0; i < 64; i++) x[i] = (float)i * 100.0f;
    bk_cpu_defer_stats(be, 1);
    num_stats st;
    num_stats_reset(&st);
    bk_fp8_quantize(be, q, x, 64, FP8_E4M3, 1.0f, &st);
    cr_assert_eq(st.count, 0, "deferred: nothing yet");
    cr_assert_eq(bk_amax(be, x, 64), 6300.0f);
    cr_assert_eq(st.count, 64);
    cr_assert_eq(st.overflow, 59); /* 500 .. 6300 saturate */
    bk_destroy(be);
}

/* ---- the FP8 GEMMs ---- */

/* Quantized operands as the model makes them: per-tensor scaled E4M3 / E5M2 values. */
typedef struct {
    int N, C, OC, w_trans;
    float *inp, *w, *b, *dout;   /* fp32 originals */
    float *inq, *wq, *doutq;     /* fp8 values in the scaled domain */
    float s_in, s_w, s_g;
} fp8_case;

static void fp8_case_make(backend *be, fp8_case *c, int N, int C, int OC, int w_trans)
{
    *c = (fp8_case){.N = N, .C = C, .OC = OC, .w_trans = w_trans};
    c->inp = tu_buf(be, (size_t)N * C), c->inq = tu_buf(be, (size_t)N * C);
    c->w = tu_buf(be, (size_t)C * OC), c->wq = tu_buf(be, (size_t)C * OC);
    c->dout = tu_buf(be, (size_t)N * OC), c->doutq = tu_buf(be, (size_t)N * OC);
    c->b = tu_buf(be, OC);
    tu_fill(c->inp, (size_t)N * C, 31, 3.0f);
    tu_fill(c->w, (size_t)C * OC, 32, 0.05f);
    tu_fill(c->dout, (size_t)N * OC, 33, 1e-3f);
    tu_fill(c->b, OC, 34, 0.5f);
    bk_cast(be, c->dout, c->dout, (size_t)N * OC, DT_BF16, NULL); /* a bf16 gradient */
    /* scales as delayed scaling picks them: max / amax, not powers of two */
    c->s_in = 448.0f / 3.0f, c->s_w = 448.0f / 0.05f, c->s_g = 57344.0f / 1e-3f;
    bk_fp8_quantize(be, c->inq, c->inp, (size_t)N * C, FP8_E4M3, c->s_in, NULL);
    bk_fp8_quantize(be, c->wq, c->w, (size_t)C * OC, FP8_E4M3, c->s_w, NULL);
    bk_fp8_quantize(be, c->doutq, c->dout, (size_t)N * OC, FP8_E5M2, c->s_g, NULL);
}

static void fp8_case_free(backend *be, fp8_case *c)
{
    float *p[] = {c->inp, c->inq, c->w, c->wq, c->dout, c->doutq, c->b};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) bk_free(be, p[i]);
}

/* w(k, o) of either layout. */
static double wat(const fp8_case *c, const float *w, int k, int o)
{
    return c->w_trans ? w[(size_t)o * c->C + k] : w[(size_t)k * c->OC + o];
}

/* |got - want| within fp32 accumulation (K terms, relative 2^-24 each, of sum |terms|) plus
 * one rounding to dt (half an ulp, relative). */
static void close_acc(float got, double want, double abs_sum, int K, dtype_t dt,
                      const char *what, int i)
{
    double rel = dt == DT_BF16 ? 0x1p-8 : dt == DT_F16 ? 0x1p-11 : 0x1p-24;
    double tol = abs_sum * K * 0x1p-23 + fabs(want) * rel + 1e-30;
    cr_assert(fabs((double)got - want) <= tol, "%s[%d]: got %.9g want %.9g (tol %.3g)", what, i,
              (double)got, want, tol);
}

static void check_forward(int w_trans, int with_bias, dtype_t dt_out)
{
    enum { N = 37, C = 64, OC = 48 };
    backend *be = tu_backend();
    fp8_case c;
    fp8_case_make(be, &c, N, C, OC, w_trans);
    float *out = tu_buf(be, N * OC);
    float alpha = 1.0f / (c.s_in * c.s_w);
    num_stats st;
    num_stats_reset(&st);
    bk_fp8_matmul_forward(be, out, c.inq, FP8_E4M3, c.wq, FP8_E4M3, with_bias ? c.b : NULL, N,
                          C, OC, w_trans, alpha, dt_out, &st);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = 0, abs_sum = 0;
            for (int k = 0; k < C; k++) {
                double t = (double)c.inq[n * C + k] * wat(&c, c.wq, k, o);
                s += t, abs_sum += fabs(t);
            }
            double want = (double)alpha * s + (with_bias ? c.b[o] : 0.0);
            close_acc(out[n * OC + o], want, abs_sum * alpha, C, dt_out, "out", n * OC + o);
        }
    cr_assert_eq(num_is_exact(out, N * OC, dt_out), 1, "output stored in %s", dtype_name(dt_out));
    cr_assert_eq(st.count, N * OC);
    /* the result is the unquantized product up to fp8 precision (a sanity check of alpha) */
    double err = 0, mag = 0;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = with_bias ? c.b[o] : 0.0;
            for (int k = 0; k < C; k++) s += (double)c.inp[n * C + k] * wat(&c, c.w, k, o);
            err += fabs(out[n * OC + o] - s), mag += fabs(s);
        }
    cr_assert_lt(err, 0.1 * mag, "fp8 product far from the fp32 one: %g vs %g", err, mag);
    bk_free(be, out);
    fp8_case_free(be, &c);
    bk_destroy(be);
}

Test(cpu_fp8, forward_conv1d_layout_bias_bf16) { check_forward(0, 1, DT_BF16); }
Test(cpu_fp8, forward_transposed_weight_no_bias_bf16) { check_forward(1, 0, DT_BF16); }
Test(cpu_fp8, forward_transposed_weight_bias_fp32) { check_forward(1, 1, DT_F32); }
Test(cpu_fp8, forward_conv1d_layout_no_bias_fp16) { check_forward(0, 0, DT_F16); }

/* alpha multiplies the fp32 accumulator, the bias joins it, one rounding: 0.5 * (256 * 16 +
 * 2 * 1) + 2 = 2051, a tie in fp16 (2050 / 2052) going to even 2052. The bias scaled too
 * would give 2050, and rounding before the bias 2048 + 2 = 2050. */
Test(cpu_fp8, forward_alpha_then_bias_then_one_rounding)
{
    backend *be = tu_backend();
    float inq[2] = {256.0f, 2.0f}, wq[2] = {16.0f, 1.0f}, b[1] = {2.0f}, out[1];
    bk_fp8_matmul_forward(be, out, inq, FP8_E4M3, wq, FP8_E4M3, b, 1, 2, 1, 0, 0.5f, DT_F16,
                          NULL);
    cr_assert_eq(out[0], 2052.0f);
    bk_destroy(be);
}

/* MXFP8 operands: dequantized values, alpha 1: exactly the fp32 Linear on the same values. */
Test(cpu_fp8, forward_dequantized_operands_equal_the_fp32_linear)
{
    enum { N = 70, C = 96, OC = 40 };
    backend *be = tu_backend();
    float *inp = tu_buf(be, N * C), *w = tu_buf(be, C * OC), *b = tu_buf(be, OC);
    float *o1 = tu_buf(be, N * OC), *o2 = tu_buf(be, N * OC);
    tu_fill(inp, N * C, 41, 2.0f);
    tu_fill(w, C * OC, 42, 0.1f);
    tu_fill(b, OC, 43, 0.1f);
    bk_mx_quantize(be, inp, inp, N, C, 1, FP8_E4M3, NULL);
    bk_mx_quantize(be, w, w, C, OC, 0, FP8_E4M3, NULL); /* blocks along C, the reduction */
    bk_fp8_matmul_forward(be, o1, inp, FP8_DEQUANTIZED, w, FP8_DEQUANTIZED, b, N, C, OC, 0,
                          1.0f, DT_BF16, NULL);
    bk_matmul_forward(be, o2, inp, w, b, N, C, OC, 0, DT_F32, DT_F32, DT_BF16, NULL);
    cr_assert_eq(memcmp(o1, o2, N * OC * sizeof *o1), 0);
    bk_destroy(be);
}

/* Backward: which = bit 0 dinp, bit 1 dw, bit 2 db; the parts left out stay untouched. */
static void check_backward(int w_trans, int which, dtype_t dt_g)
{
    enum { N = 29, C = 40, OC = 24 };
    backend *be = tu_backend();
    fp8_case c;
    fp8_case_make(be, &c, N, C, OC, w_trans);
    float *dinp = tu_buf(be, N * C), *dw = tu_buf(be, C * OC), *db = tu_buf(be, OC);
    for (int i = 0; i < N * C; i++) dinp[i] = 123.0f;
    for (int i = 0; i < C * OC; i++) dw[i] = 0.25f; /* accumulated into */
    for (int i = 0; i < OC; i++) db[i] = -0.5f;
    float a_dinp = 1.0f / (c.s_g * c.s_w), a_dw = 1.0f / (c.s_in * c.s_g);
    num_stats sd, sw;
    num_stats_reset(&sd);
    num_stats_reset(&sw);
    bk_fp8_matmul_backward(be, which & 1 ? dinp : NULL, which & 2 ? dw : NULL,
                           which & 4 ? db : NULL, c.dout, c.doutq, FP8_E5M2, c.inq, FP8_E4M3,
                           c.wq, FP8_E4M3, N, C, OC, w_trans, a_dinp, a_dw, dt_g, &sd, &sw);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < C; k++) {
            if (!(which & 1)) {
                cr_assert_eq(dinp[n * C + k], 123.0f);
                continue;
            }
            double s = 0, abs_sum = 0;
            for (int o = 0; o < OC; o++) {
                double t = (double)c.doutq[n * OC + o] * wat(&c, c.wq, k, o);
                s += t, abs_sum += fabs(t);
            }
            close_acc(dinp[n * C + k], a_dinp * s, abs_sum * a_dinp, OC, dt_g, "dinp", n * C + k);
        }
    for (int k = 0; k < C; k++)
        for (int o = 0; o < OC; o++) {
            /* in w's layout */
            float got = w_trans ? dw[o * C + k] : dw[k * OC + o];
            if (!(which & 2)) {
                cr_assert_eq(got, 0.25f);
                continue;
            }
            double s = 0, abs_sum = 0;
            for (int n = 0; n < N; n++) {
                double t = (double)c.inq[n * C + k] * c.doutq[n * OC + o];
                s += t, abs_sum += fabs(t);
            }
            /* round_g(g) then += in fp32: g's rounding plus the add's */
            close_acc(got, 0.25 + a_dw * s, abs_sum * a_dw + 0.25 * 0x1p-23 * N, N, dt_g, "dw",
                      k * OC + o);
        }
    for (int o = 0; o < OC; o++) {
        if (!(which & 4)) {
            cr_assert_eq(db[o], -0.5f);
            continue;
        }
        float s = 0; /* the unquantized dout, fp32 sums in row order, rounded, added */
        for (int n = 0; n < N; n++) s += c.dout[n * OC + o];
        cr_assert_eq(db[o], -0.5f + num_round1(s, dt_g), "db[%d]", o);
    }
    if (which & 1) cr_assert_eq(num_is_exact(dinp, N * C, dt_g), 1);
    cr_assert_eq(sd.count, which & 1 ? N * C : 0);
    cr_assert_eq(sw.count, (which & 2 ? C * OC : 0) + (which & 4 ? OC : 0));
    bk_free(be, dinp);
    bk_free(be, dw);
    bk_free(be, db);
    fp8_case_free(be, &c);
    bk_destroy(be);
}

Test(cpu_fp8, backward_all_parts_conv1d_layout) { check_backward(0, 7, DT_BF16); }
Test(cpu_fp8, backward_all_parts_transposed_weight) { check_backward(1, 7, DT_BF16); }
Test(cpu_fp8, backward_fp32_gradients) { check_backward(1, 7, DT_F32); }
Test(cpu_fp8, backward_dinp_only) { check_backward(0, 1, DT_BF16); }
Test(cpu_fp8, backward_dw_only) { check_backward(1, 2, DT_BF16); }
Test(cpu_fp8, backward_db_only) { check_backward(0, 4, DT_BF16); }
Test(cpu_fp8, backward_dw_and_db_without_dinp) { check_backward(0, 6, DT_F16); }

/* alpha 1 and the same operands: the fp32 Linear backward's bits (MXFP8's path). */
Test(cpu_fp8, backward_dequantized_operands_equal_the_fp32_linear)
{
    enum { N = 70, C = 96, OC = 40 };
    backend *be = tu_backend();
    float *inp = tu_buf(be, N * C), *w = tu_buf(be, OC * C), *g = tu_buf(be, N * OC);
    float *d1 = tu_buf(be, N * C), *d2 = tu_buf(be, N * C);
    float *w1 = tu_buf(be, OC * C), *w2 = tu_buf(be, OC * C), *b1 = tu_buf(be, OC),
          *b2 = tu_buf(be, OC);
    tu_fill(inp, N * C, 51, 2.0f);
    tu_fill(w, OC * C, 52, 0.1f);
    tu_fill(g, N * OC, 53, 0.01f);
    bk_mx_quantize(be, g, g, N, OC, 1, FP8_E5M2, NULL);
    bk_mx_quantize(be, inp, inp, N, C, 1, FP8_E4M3, NULL);
    for (int i = 0; i < OC * C; i++) w1[i] = w2[i] = 0.125f;
    for (int i = 0; i < OC; i++) b1[i] = b2[i] = 1.0f;
    bk_fp8_matmul_backward(be, d1, w1, b1, g, g, FP8_DEQUANTIZED, inp, FP8_DEQUANTIZED, w,
                           FP8_DEQUANTIZED, N, C, OC, 1, 1.0f, 1.0f, DT_F32, NULL, NULL);
    bk_matmul_backward(be, d2, w2, b2, g, inp, w, N, C, OC, 1, DT_F32, NULL, NULL);
    cr_assert_eq(memcmp(d1, d2, N * C * sizeof *d1), 0);
    cr_assert_eq(memcmp(w1, w2, OC * C * sizeof *w1), 0);
    cr_assert_eq(memcmp(b1, b2, OC * sizeof *b1), 0);
    bk_destroy(be);
}

/* Forward and backward with stats; the results copied to the host (out, dinp, dw, db). */
enum { TN = 130, TC = 96, TOC = 80 };
static void run_gemms(backend *be, int w_trans, float *host[4], num_stats st[3])
{
    fp8_case c;
    fp8_case_make(be, &c, TN, TC, TOC, w_trans);
    const size_t sz[4] = {TN * TOC, TN * TC, TC * TOC, TOC};
    float *dev[4];
    for (int k = 0; k < 4; k++) {
        dev[k] = tu_buf(be, sz[k]);
        memset(dev[k], 0, sz[k] * sizeof(float));
        num_stats_reset(&st[k < 3 ? k : 2]);
    }
    bk_fp8_matmul_forward(be, dev[0], c.inq, FP8_E4M3, c.wq, FP8_E4M3, c.b, TN, TC, TOC,
                          w_trans, 1.0f / (c.s_in * c.s_w), DT_BF16, &st[0]);
    bk_fp8_matmul_backward(be, dev[1], dev[2], dev[3], c.dout, c.doutq, FP8_E5M2, c.inq,
                           FP8_E4M3, c.wq, FP8_E4M3, TN, TC, TOC, w_trans,
                           1.0f / (c.s_g * c.s_w), 1.0f / (c.s_in * c.s_g), DT_BF16, &st[1],
                           &st[2]);
    for (int k = 0; k < 4; k++) {
        host[k] = malloc(sz[k] * sizeof(float));
        cr_assert_not_null(host[k]);
        bk_download(be, host[k], dev[k], sz[k] * sizeof(float));
        bk_free(be, dev[k]);
    }
    fp8_case_free(be, &c);
}

/* Shapes past the threading threshold (130 rows: tiles 64 + 64 + 2): 1 and 2 threads give
 * the same bits and the same stats. */
Test(cpu_fp8, gemms_bit_identical_for_1_and_2_threads)
{
    backend *bes[2] = {tu_backend1(), tu_backend()};
    const size_t sz[4] = {TN * TOC, TN * TC, TC * TOC, TOC};
    for (int w_trans = 0; w_trans <= 1; w_trans++) {
        float *res[2][4];
        num_stats st[2][3];
        for (int t = 0; t < 2; t++) run_gemms(bes[t], w_trans, res[t], st[t]);
        for (int k = 0; k < 4; k++) {
            cr_assert_eq(memcmp(res[0][k], res[1][k], sz[k] * sizeof(float)), 0,
                         "w_trans %d: result %d differs between 1 and 2 threads", w_trans, k);
            free(res[0][k]);
            free(res[1][k]);
        }
        for (int k = 0; k < 3; k++) stats_eq(&st[0][k], &st[1][k], "gemm stats");
        cr_assert_eq(st[0][0].count, TN * TOC);
        cr_assert_eq(st[0][2].count, TC * TOC + TOC);
    }
    bk_destroy(bes[0]);
    bk_destroy(bes[1]);
}
