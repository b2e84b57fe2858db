/* test_cpu_attention.c — blocked causal attention: against a double reference and finite
 * differences, against a float reference that materialises (T,T) with the same rounding
 * points (rowstats and stats exact), causality, T across query blocks, workspace, determinism. */
#include "test_cpu_util.h"
#include "test_deadline.h"

/* ---- double reference (no rounding), for finite differences ---- */

typedef struct {
    int B, T, C, NH;
    const double *r; /* loss = sum(out * r) */
} att_shape;

static void att_ref(const att_shape *s, const double *qkv, double *out, double *rs)
{
    int T = s->T, C = s->C, hd = C / s->NH;
    double sc = 1.0 / sqrt((double)hd), *e = malloc((size_t)T * sizeof *e);
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->NH; h++)
            for (int i = 0; i < T; i++) {
                const double *q = qkv + ((size_t)b * T + i) * 3 * C + h * hd;
                double mx = -INFINITY, sum = 0.0;
                for (int j = 0; j <= i; j++) {
                    const double *k = qkv + ((size_t)b * T + j) * 3 * C + C + h * hd;
                    e[j] = 0.0;
                    for (int d = 0; d < hd; d++) e[j] += q[d] * k[d];
                    e[j] *= sc;
                    mx = fmax(mx, e[j]);
                }
                for (int j = 0; j <= i; j++) sum += (e[j] = exp(e[j] - mx));
                if (rs) rs[(((size_t)b * s->NH + h) * T + i) * 2] = mx;
                if (rs) rs[(((size_t)b * s->NH + h) * T + i) * 2 + 1] = 1.0 / sum;
                for (int d = 0; d < hd; d++) {
                    double o = 0.0;
                    for (int j = 0; j <= i; j++)
                        o += e[j] / sum * qkv[((size_t)b * T + j) * 3 * C + 2 * C + h * hd + d];
                    out[((size_t)b * T + i) * C + h * hd + d] = o;
                }
            }
    free(e);
}

static double att_loss(const double *x, void *vctx)
{
    const att_shape *s = vctx;
    size_t n = (size_t)s->B * s->T * s->C;
    double *out = malloc(n * sizeof *out), l = 0.0;
    att_ref(s, x, out, NULL);
    for (size_t i = 0; i < n; i++) l += out[i] * s->r[i];
    free(out);
    return l;
}

Test(cpu_attention, forward_and_backward_match_reference)
{
    enum { B = 2, T = 5, C = 8, NH = 2, NQ = B * T * 3 * C, NO = B * T * C };
    backend *be = tu_backend();
    float *qkv = tu_buf(be, NQ), *out = tu_buf(be, NO), *rs = tu_buf(be, B * NH * T * 2);
    float *dout = tu_buf(be, NO), *dqkv = tu_buf(be, NQ);
    tu_fill(qkv, NQ, 30, 1.5f);
    tu_fill(dout, NO, 31, 1.0f);
    bk_attention_forward(be, out, rs, qkv, B, T, C, NH, DT_F32, NULL);
    double *x = tu_to_double(qkv, NQ), *r = tu_to_double(dout, NO);
    double want[NO], wrs[B * NH * T * 2], g[NQ];
    att_shape s = {B, T, C, NH, r};
    att_ref(&s, x, want, wrs);
    tu_close(out, want, NO, 1e-5, 1e-5, "out");
    tu_close(rs, wrs, B * NH * T * 2, 1e-6, 1e-5, "rowstats (max, 1/sum)");
    for (int i = 0; i < NQ; i++) dqkv[i] = 99.0f; /* overwritten */
    bk_attention_backward(be, dqkv, dout, qkv, rs, B, T, C, NH, DT_F32, NULL);
    tu_fd_grad(att_loss, x, NQ, &s, 1e-5, g);
    tu_close(dqkv, g, NQ, 2e-5, 1e-4, "dqkv");
    free(x), free(r);
    bk_destroy(be);
}

/* Across query blocks (T = 130: two full blocks and a partial one): the directional
 * derivative of the double reference along a random direction u equals dqkv . u. */
Test(cpu_attention, backward_directional_fd_across_blocks)
{
    enum { B = 1, T = 130, C = 16, NH = 2, NQ = B * T * 3 * C, NO = B * T * C };
    backend *be = tu_backend();
    float *qkv = tu_buf(be, NQ), *out = tu_buf(be, NO), *rs = tu_buf(be, B * NH * T * 2);
    float *dout = tu_buf(be, NO), *dqkv = tu_buf(be, NQ), *u = malloc(NQ * sizeof *u);
    tu_fill(qkv, NQ, 40, 1.5f);
    tu_fill(dout, NO, 41, 1.0f);
    tu_fill(u, NQ, 42, 1.0f);
    bk_attention_forward(be, out, rs, qkv, B, T, C, NH, DT_F32, NULL);
    bk_attention_backward(be, dqkv, dout, qkv, rs, B, T, C, NH, DT_F32, NULL);
    double *x = tu_to_double(qkv, NQ), *r = tu_to_double(dout, NO), h = 1e-4, dot = 0.0;
    double *xp = malloc(NQ * sizeof *xp), *xm = malloc(NQ * sizeof *xm);
    for (int i = 0; i < NQ; i++) {
        xp[i] = x[i] + h * u[i], xm[i] = x[i] - h * u[i];
        dot += (double)dqkv[i] * u[i];
    }
    att_shape s = {B, T, C, NH, r};
    double fd = (att_loss(xp, &s) - att_loss(xm, &s)) / (2 * h);
    cr_assert(fabs(fd - dot) <= 1e-4 * (1.0 + fabs(fd)), "fd %.9g vs dqkv.u %.9g", fd, dot);
    free(x), free(r), free(xp), free(xm), free(u);
    bk_destroy(be);
}

/* ---- float reference: the full (T,T) per head, the specified rounding points ---- */

typedef struct {
    float *out, *rs, *dqkv;
    num_stats sf, sb;
} ref_res;

static void ref_round(float *x, int n, dtype_t dt, num_stats *st)
{
    num_round(x, x, (size_t)n, dt, st);
}

/* One head's forward and backward; S, P, Pr, D are (T,T) scratch. */
static void ref_head(const float *q, const float *d, int T, int C, int hd, dtype_t dt,
                     float *o, float *rs, float *dq, float *S, float *P, float *Pr, float *D,
                     ref_res *res)
{
    int C3 = 3 * C;
    const float *k = q + C, *v = q + 2 * C;
    float sc = 1.0f / sqrtf((float)hd);
    for (int i = 0; i < T; i++) {
        float *s = S + (size_t)i * T, *p = P + (size_t)i * T, mx = -INFINITY, sum = 0.0f;
        for (int j = 0; j <= i; j++) {
            float a = 0.0f;
            for (int c = 0; c < hd; c++) a += q[(size_t)i * C3 + c] * k[(size_t)j * C3 + c];
            s[j] = sc * a;
        }
        ref_round(s, i + 1, dt, &res->sf);
        for (int j = 0; j <= i; j++) mx = s[j] > mx ? s[j] : mx;
        for (int j = 0; j <= i; j++) sum += (p[j] = expf(s[j] - mx));
        float inv = 1.0f / sum;
        for (int j = 0; j <= i; j++) p[j] *= inv;
        rs[2 * i] = mx, rs[2 * i + 1] = inv;
        for (int j = 0; j <= i; j++) Pr[(size_t)i * T + j] = num_round1(p[j], dt);
        for (int c = 0; c < hd; c++) {
            float a = 0.0f;
            for (int j = 0; j <= i; j++) a += Pr[(size_t)i * T + j] * v[(size_t)j * C3 + c];
            o[(size_t)i * C + c] = a;
        }
        ref_round(o + (size_t)i * C, hd, dt, &res->sf);
    }
    for (int i = 0; i < T; i++) { /* datt, dS */
        float *dr = D + (size_t)i * T, *p = P + (size_t)i * T, s = 0.0f;
        for (int j = 0; j <= i; j++) {
            float a = 0.0f;
            for (int c = 0; c < hd; c++) a += d[(size_t)i * C + c] * v[(size_t)j * C3 + c];
            dr[j] = a;
        }
        ref_round(dr, i + 1, dt, &res->sb);
        for (int j = 0; j <= i; j++) s += p[j] * dr[j];
        for (int j = 0; j <= i; j++) dr[j] = p[j] * (dr[j] - s) * sc;
        ref_round(dr, i + 1, dt, &res->sb);
    }
    for (int t = 0; t < T; t++)
        for (int c = 0; c < hd; c++) {
            float gq = 0.0f, gk = 0.0f, gv = 0.0f;
            for (int j = 0; j <= t; j++) gq += D[(size_t)t * T + j] * k[(size_t)j * C3 + c];
            for (int i = t; i < T; i++) {
                gk += D[(size_t)i * T + t] * q[(size_t)i * C3 + c];
                gv += Pr[(size_t)i * T + t] * d[(size_t)i * C + c];
            }
            dq[(size_t)t * C3 + c] = gq, dq[(size_t)t * C3 + C + c] = gk;
            dq[(size_t)t * C3 + 2 * C + c] = gv;
        }
    for (int t = 0; t < T; t++) ref_round(dq + (size_t)t * C3, hd, dt, &res->sb);
    for (int t = 0; t < T; t++) ref_round(dq + (size_t)t * C3 + C, hd, dt, &res->sb);
    for (int t = 0; t < T; t++) ref_round(dq + (size_t)t * C3 + 2 * C, hd, dt, &res->sb);
}

static void ref_attention(const float *qkv, const float *dout, int B, int T, int C, int NH,
                          dtype_t dt, ref_res *res)
{
    int hd = C / NH;
    size_t TT = (size_t)T * T;
    res->out = malloc((size_t)B * T * C * sizeof(float));
    res->rs = malloc((size_t)B * NH * T * 2 * sizeof(float));
    res->dqkv = malloc((size_t)B * T * 3 * C * sizeof(float));
    num_stats_reset(&res->sf);
    num_stats_reset(&res->sb);
    float *S = malloc(4 * TT * sizeof *S);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            ref_head(qkv + (size_t)b * T * 3 * C + h * hd, dout + (size_t)b * T * C + h * hd,
                     T, C, hd, dt, res->out + (size_t)b * T * C + h * hd,
                     res->rs + ((size_t)b * NH + h) * T * 2,
                     res->dqkv + (size_t)b * T * 3 * C + h * hd, S, S + TT, S + 2 * TT,
                     S + 3 * TT, res);
    free(S);
}

static void ref_free(ref_res *r) { free(r->out), free(r->rs), free(r->dqkv); }

static double eps_of(dtype_t dt)
{
    return dt == DT_F16 ? 0x1p-11 : dt == DT_BF16 ? 0x1p-8 : 0x1p-24;
}

/* Only the fp32 summation order of AV and the backward GEMMs differs from the reference:
 * within one rounding of dt (or a few fp32 ulps) plus 1e-5 of the largest value. */
static void close_dt(const float *got, const float *want, size_t n, dtype_t dt,
                     const char *what)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(want[i])) m = fmax(m, fabs(want[i]));
    for (size_t i = 0; i < n; i++) {
        double tol = 2.0 * eps_of(dt) * fabs(want[i]) + 1e-5 * m;
        cr_assert(got[i] == want[i] || fabs((double)got[i] - want[i]) <= tol ||
                      (isnan(got[i]) && isnan(want[i])),
                  "%s[%zu]: got %.9g want %.9g", what, i, (double)got[i], (double)want[i]);
    }
}

/* Dyadic inputs (multiples of 1/8 in [-2, 2]) with hd = 16 or 64 make every QK^T and
 * dout V^T dot product exact in fp32, whatever the order: the scores, the softmax and its
 * rowstats must then equal the reference's bit for bit, and so must dS. */
static void fill_dyadic(float *x, size_t n, uint64_t seed, dtype_t dt)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++)
        x[i] = num_round1((float)((int)(tu_next(&s) % 33) - 16) / 8.0f, dt);
}

typedef struct {
    float *out, *rs, *dqkv;
    num_stats sf, sb;
} op_res;

static void run_op(backend *be, const float *qkv, const float *dout, int B, int T, int C,
                   int NH, dtype_t dt, op_res *r)
{
    size_t nq = (size_t)B * T * 3 * C, no = (size_t)B * T * C, ns = (size_t)B * NH * T * 2;
    float *q = tu_buf(be, nq), *d = tu_buf(be, no);
    memcpy(q, qkv, nq * sizeof *q);
    memcpy(d, dout, no * sizeof *d);
    r->out = tu_buf(be, no), r->rs = tu_buf(be, ns), r->dqkv = tu_buf(be, nq);
    num_stats_reset(&r->sf);
    num_stats_reset(&r->sb);
    bk_attention_forward(be, r->out, r->rs, q, B, T, C, NH, dt, &r->sf);
    bk_attention_backward(be, r->dqkv, d, q, r->rs, B, T, C, NH, dt, &r->sb);
}

static void stats_equal(const num_stats *got, const num_stats *want, const char *what)
{
    cr_assert_eq(got->count, want->count, "%s count %llu vs %llu", what,
                 (unsigned long long)got->count, (unsigned long long)want->count);
    cr_assert_eq(got->overflow, want->overflow, "%s overflow %llu vs %llu", what,
                 (unsigned long long)got->overflow, (unsigned long long)want->overflow);
    cr_assert_eq(got->underflow, want->underflow, "%s underflow %llu vs %llu", what,
                 (unsigned long long)got->underflow, (unsigned long long)want->underflow);
    cr_assert_eq(got->nonfinite, want->nonfinite, "%s nonfinite", what);
}

static void compare_with_ref(const float *qkv, const float *dout, int B, int T, int C, int NH,
                             dtype_t dt)
{
    backend *be = tu_backend();
    size_t nq = (size_t)B * T * 3 * C, no = (size_t)B * T * C, ns = (size_t)B * NH * T * 2;
    op_res r;
    ref_res w;
    run_op(be, qkv, dout, B, T, C, NH, dt, &r);
    ref_attention(qkv, dout, B, T, C, NH, dt, &w);
    cr_assert_eq(memcmp(r.rs, w.rs, ns * sizeof(float)), 0, "rowstats differ (T=%d %s)", T,
                 dtype_name(dt));
    close_dt(r.out, w.out, no, dt, "out");
    close_dt(r.dqkv, w.dqkv, nq, dt, "dqkv");
    for (size_t i = 0; i < no; i++) cr_assert_eq(r.out[i], num_round1(r.out[i], dt));
    for (size_t i = 0; i < nq; i++) cr_assert_eq(r.dqkv[i], num_round1(r.dqkv[i], dt));
    stats_equal(&r.sf, &w.sf, "forward");
    stats_equal(&r.sb, &w.sb, "backward");
    ref_free(&w);
    bk_destroy(be);
}

static void dyadic_case(int B, int T, int C, int NH, dtype_t dt, uint64_t seed)
{
    size_t nq = (size_t)B * T * 3 * C, no = (size_t)B * T * C;
    float *qkv = malloc(nq * sizeof *qkv), *dout = malloc(no * sizeof *dout);
    fill_dyadic(qkv, nq, seed, dt);
    fill_dyadic(dout, no, seed + 1, dt);
    compare_with_ref(qkv, dout, B, T, C, NH, dt);
    free(qkv), free(dout);
}

/* T = 70, 130: not multiples of the 64-row query block. */
Test(cpu_attention, matches_materialised_reference_each_dtype)
{
    test_deadline(120);
    for (int d = 0; d < DT_COUNT; d++) {
        dyadic_case(2, 70, 32, 2, (dtype_t)d, 60);
        dyadic_case(1, 130, 64, 4, (dtype_t)d, 61);
        dyadic_case(2, 1, 32, 2, (dtype_t)d, 62);
        dyadic_case(1, 64, 32, 2, (dtype_t)d, 63);
    }
}

/* fp16: some queries are huge and negative (their scores fall below -65504 and overflow to
 * -Inf; key 0's small k keeps each row's max finite), some queries and keys tiny (their
 * scores fall below fp16's smallest subnormal and underflow to 0): the scores are exact in
 * fp32, so the op's overflow / underflow counts must equal the reference's. */
Test(cpu_attention, fp16_overflow_underflow_counts_match_reference)
{
    test_deadline(60);
    enum { B = 2, T = 100, C = 32, NH = 2, NQ = B * T * 3 * C, NO = B * T * C };
    float *qkv = malloc(NQ * sizeof *qkv), *dout = malloc(NO * sizeof *dout);
    uint64_t s = 71;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int c = 0; c < 3 * C; c++) {
                float u = (float)(1 + tu_next(&s) % 15) / 8.0f; /* (0, 1.875] */
                float n = (float)(1 + tu_next(&s) % 4), x = u;
                int isq = c < C, isk = c >= C && c < 2 * C;
                if (isq && t % 3 == 1) x = -32768.0f * u;     /* scores overflow */
                if (isq && t % 3 == 2) x = 0x1p-24f * n;      /* with tiny keys: underflow */
                if (isk && t % 5 == 3) x = 0x1p-14f * n;
                if (isk && t == 0) x = 0.125f;
                qkv[((size_t)b * T + t) * 3 * C + c] = num_round1(x, DT_F16);
            }
    for (int i = 0; i < NO; i++) dout[i] = (float)(1 + tu_next(&s) % 16) / 8.0f;
    backend *be = tu_backend();
    op_res r;
    run_op(be, qkv, dout, B, T, C, NH, DT_F16, &r);
    cr_assert(r.sf.overflow > 0 && r.sf.underflow > 0, "the data should overflow (%llu) and "
              "underflow (%llu)", (unsigned long long)r.sf.overflow,
              (unsigned long long)r.sf.underflow);
    for (int i = 0; i < NO; i++) cr_assert(isfinite(r.out[i]), "out[%d] not finite", i);
    bk_destroy(be);
    compare_with_ref(qkv, dout, B, T, C, NH, DT_F16);
    free(qkv), free(dout);
}

/* GPT-2's head size at T = 1024: the workspace is a few query blocks, far below one (T,T)
 * matrix per thread, and the results still match the materialised reference. */
Test(cpu_attention, long_sequence_small_workspace)
{
    test_deadline(120);
    enum { B = 1, T = 1024, C = 128, NH = 2 };
    backend *be = tu_backend();
    size_t ws = bk_attention_workspace(be, B, T, C, NH);
    /* 2 threads x (2 x 64 x 1024 + 2 x 1024 x 64) floats */
    cr_assert_eq(ws, 2 * (2 * 64 * 1024 + 2 * 1024 * 64) * sizeof(float));
    cr_assert(ws / 2 <= (size_t)T * T * sizeof(float) / 2, "per-thread workspace %zu", ws / 2);
    cr_assert_eq(bk_attention_workspace(be, 0, T, C, NH), 0);
    cr_assert_eq(bk_attention_workspace(be, B, 0, C, NH), 0);
    bk_destroy(be);
    dyadic_case(B, T, C, NH, DT_BF16, 80);
}

static void check_causal(dtype_t dt)
{
    enum { B = 2, T = 130, C = 8, NH = 2, NQ = B * T * 3 * C, NO = B * T * C };
    backend *be = tu_backend();
    float *qkv = tu_buf(be, NQ), *out1 = tu_buf(be, NO), *out2 = tu_buf(be, NO);
    float *rs = tu_buf(be, B * NH * T * 2);
    tu_fill(qkv, NQ, 32, 2.0f);
    bk_cast(be, qkv, qkv, NQ, dt, NULL);
    int t = 66; /* in the second query block */
    bk_attention_forward(be, out1, rs, qkv, B, T, C, NH, dt, NULL);
    for (int b = 0; b < B; b++) /* change all of token t+1's q, k, v */
        for (int c = 0; c < 3 * C; c++)
            qkv[(b * T + t + 1) * 3 * C + c] = num_round1(3.0f + 0.25f * c, dt);
    bk_attention_forward(be, out2, rs, qkv, B, T, C, NH, dt, NULL);
    int changed = 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < T; i++) {
            const float *o1 = out1 + (b * T + i) * C, *o2 = out2 + (b * T + i) * C;
            if (i <= t)
                cr_assert_eq(memcmp(o1, o2, C * 4), 0, "position %d changed", i);
            else
                changed |= memcmp(o1, o2, C * 4) != 0;
        }
    cr_assert(changed, "later positions should see the change");
    bk_destroy(be);
}

Test(cpu_attention, causal_fp32) { check_causal(DT_F32); }
Test(cpu_attention, causal_fp16) { check_causal(DT_F16); }

Test(cpu_attention, bf16_outputs_representable_and_counted)
{
    enum { B = 2, T = 5, C = 8, NH = 2, NQ = B * T * 3 * C, NO = B * T * C };
    backend *be = tu_backend();
    float *qkv = tu_buf(be, NQ), *out = tu_buf(be, NO), *rs = tu_buf(be, B * NH * T * 2);
    float *dout = tu_buf(be, NO), *dqkv = tu_buf(be, NQ);
    tu_fill(qkv, NQ, 33, 1.0f);
    tu_fill(dout, NO, 34, 1.0f);
    bk_cast(be, qkv, qkv, NQ, DT_BF16, NULL);
    bk_cast(be, dout, dout, NO, DT_BF16, NULL);
    num_stats sf, sb;
    num_stats_reset(&sf);
    num_stats_reset(&sb);
    bk_attention_forward(be, out, rs, qkv, B, T, C, NH, DT_BF16, &sf);
    bk_attention_backward(be, dqkv, dout, qkv, rs, B, T, C, NH, DT_BF16, &sb);
    for (int i = 0; i < NO; i++) cr_assert_eq(out[i], num_round1(out[i], DT_BF16));
    for (int i = 0; i < NQ; i++) cr_assert_eq(dqkv[i], num_round1(dqkv[i], DT_BF16));
    /* forward: causal scores (T(T+1)/2 per head) + out; backward: datt, dS (causal) + dV, dQ, dK */
    uint64_t causal = B * NH * T * (T + 1) / 2;
    cr_assert_eq(sf.count, causal + NO);
    cr_assert_eq(sb.count, 2 * causal + NQ);
    /* bf16 result stays close to the fp32 one */
    float *o32 = tu_buf(be, NO);
    bk_attention_forward(be, o32, rs, qkv, B, T, C, NH, DT_F32, NULL);
    for (int i = 0; i < NO; i++) cr_assert(fabsf(o32[i] - out[i]) < 0.03f);
    bk_destroy(be);
}

/* An empty shape writes nothing. */
Test(cpu_attention, empty_shape_is_a_no_op)
{
    backend *be = tu_backend();
    float *out = tu_buf(be, 8), *rs = tu_buf(be, 8), *qkv = tu_buf(be, 24);
    for (int i = 0; i < 8; i++) out[i] = rs[i] = 7.0f;
    bk_attention_forward(be, out, rs, qkv, 0, 4, 2, 1, DT_F32, NULL);
    bk_attention_forward(be, out, rs, qkv, 1, 0, 2, 1, DT_F32, NULL);
    bk_attention_backward(be, out, qkv, qkv, rs, 0, 4, 2, 1, DT_F32, NULL);
    for (int i = 0; i < 8; i++) cr_assert(out[i] == 7.0f && rs[i] == 7.0f);
    bk_destroy(be);
}

Test(cpu_attention, deterministic_fp16)
{
    backend *be = tu_backend();
    enum { B = 3, T = 97, C = 32, NH = 4 };
    size_t nq = B * T * 3 * C, no = B * T * C, ns = B * NH * T * 2;
    float *qkv = tu_buf(be, nq), *dout = tu_buf(be, no);
    float *out[2], *rs[2], *dq[2];
    tu_fill(qkv, nq, 35, 2.0f);
    tu_fill(dout, no, 36, 1.0f);
    bk_cast(be, qkv, qkv, nq, DT_F16, NULL);
    bk_cast(be, dout, dout, no, DT_F16, NULL);
    for (int r = 0; r < 2; r++) {
        out[r] = tu_buf(be, no);
        rs[r] = tu_buf(be, ns);
        dq[r] = tu_buf(be, nq);
        bk_attention_forward(be, out[r], rs[r], qkv, B, T, C, NH, DT_F16, NULL);
        bk_attention_backward(be, dq[r], dout, qkv, rs[r], B, T, C, NH, DT_F16, NULL);
    }
    cr_assert_eq(memcmp(out[0], out[1], no * 4), 0);
    cr_assert_eq(memcmp(rs[0], rs[1], ns * 4), 0);
    cr_assert_eq(memcmp(dq[0], dq[1], nq * 4), 0);
    bk_destroy(be);
}
