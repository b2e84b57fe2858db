/* test_cpu_attention.c — causal attention: forward against a double reference, backward
 * against finite differences, causality, fp16 rounding and stats, determinism. */
#include "test_cpu_util.h"

enum { AB = 2, AT = 5, AC = 8, ANH = 2, AHD = AC / ANH };
enum { QKV_N = AB * AT * 3 * AC, OUT_N = AB * AT * AC, ATT_N = AB * ANH * AT * AT };

typedef struct {
    double r[OUT_N]; /* loss = sum(out * r) */
} att_ctx;

static void att_ref(const double *qkv, double *out)
{
    double sc = 1.0 / sqrt((double)AHD);
    for (int b = 0; b < AB; b++)
        for (int h = 0; h < ANH; h++)
            for (int i = 0; i < AT; i++) {
                const double *q = qkv + (b * AT + i) * 3 * AC + h * AHD;
                double s[AT], mx = -INFINITY, sum = 0.0;
                for (int j = 0; j <= i; j++) {
                    const double *k = qkv + (b * AT + j) * 3 * AC + AC + h * AHD;
                    s[j] = 0.0;
                    for (int d = 0; d < AHD; d++) s[j] += q[d] * k[d];
                    s[j] *= sc;
                    mx = fmax(mx, s[j]);
                }
                for (int j = 0; j <= i; j++) sum += (s[j] = exp(s[j] - mx));
                for (int d = 0; d < AHD; d++) {
                    double o = 0.0;
                    for (int j = 0; j <= i; j++)
                        o += s[j] / sum * qkv[(b * AT + j) * 3 * AC + 2 * AC + h * AHD + d];
                    out[(b * AT + i) * AC + h * AHD + d] = o;
                }
            }
}

static double att_loss(const double *x, void *vctx)
{
    att_ctx *c = vctx;
    double out[OUT_N], l = 0.0;
    att_ref(x, out);
    for (int i = 0; i < OUT_N; i++) l += out[i] * c->r[i];
    return l;
}

Test(cpu_attention, forward_and_backward_match_reference)
{
    backend *be = tu_backend();
    float *qkv = tu_buf(be, QKV_N), *out = tu_buf(be, OUT_N), *att = tu_buf(be, ATT_N);
    float *dout = tu_buf(be, OUT_N), *dqkv = tu_buf(be, QKV_N), *scr = tu_buf(be, ATT_N);
    tu_fill(qkv, QKV_N, 30, 1.5f);
    tu_fill(dout, OUT_N, 31, 1.0f);
    bk_attention_forward(be, out, att, qkv, AB, AT, AC, ANH, DT_F32, NULL);
    double *x = tu_to_double(qkv, QKV_N), want[OUT_N], g[QKV_N];
    att_ref(x, want);
    tu_close(out, want, OUT_N, 1e-5, 1e-5, "out");
    /* att rows sum to 1 over j <= i, masked entries exactly 0 */
    for (int bh = 0; bh < AB * ANH; bh++)
        for (int i = 0; i < AT; i++) {
            double s = 0.0;
            for (int j = 0; j < AT; j++) {
                float a = att[(bh * AT + i) * AT + j];
                if (j > i) cr_assert_eq(a, 0.0f);
                s += a;
            }
            cr_assert(fabs(s - 1.0) < 1e-6);
        }
    for (int i = 0; i < QKV_N; i++) dqkv[i] = 99.0f; /* overwritten */
    bk_attention_backward(be, dqkv, scr, dout, qkv, att, AB, AT, AC, ANH, DT_F32, NULL);
    att_ctx c;
    for (int i = 0; i < OUT_N; i++) c.r[i] = dout[i];
    tu_fd_grad(att_loss, x, QKV_N, &c, 1e-5, g);
    tu_close(dqkv, g, QKV_N, 2e-5, 1e-4, "dqkv");
    free(x);
    bk_destroy(be);
}

static void check_causal(dtype_t dt)
{
    backend *be = tu_backend();
    float *qkv = tu_buf(be, QKV_N), *out1 = tu_buf(be, OUT_N), *out2 = tu_buf(be, OUT_N);
    float *att = tu_buf(be, ATT_N);
    tu_fill(qkv, QKV_N, 32, 2.0f);
    bk_cast(be, qkv, qkv, QKV_N, dt, NULL);
    int t = 2;
    bk_attention_forward(be, out1, att, qkv, AB, AT, AC, ANH, dt, NULL);
    for (int b = 0; b < AB; b++) /* change all of token t+1's q, k, v */
        for (int c = 0; c < 3 * AC; c++)
            qkv[(b * AT + t + 1) * 3 * AC + c] = num_round1(3.0f + 0.25f * c, dt);
    bk_attention_forward(be, out2, att, qkv, AB, AT, AC, ANH, dt, NULL);
    int changed = 0;
    for (int b = 0; b < AB; b++)
        for (int i = 0; i < AT; i++) {
            const float *o1 = out1 + (b * AT + i) * AC, *o2 = out2 + (b * AT + i) * AC;
            if (i <= t)
                cr_assert_eq(memcmp(o1, o2, AC * 4), 0, "position %d changed", i);
            else
                changed |= memcmp(o1, o2, AC * 4) != 0;
        }
    cr_assert(changed, "later positions should see the change");
    bk_destroy(be);
}

Test(cpu_attention, causal_fp32) { check_causal(DT_F32); }
Test(cpu_attention, causal_fp16) { check_causal(DT_F16); }

Test(cpu_attention, fp16_outputs_representable_and_counted)
{
    backend *be = tu_backend();
    float *qkv = tu_buf(be, QKV_N), *out = tu_buf(be, OUT_N), *att = tu_buf(be, ATT_N);
    float *dout = tu_buf(be, OUT_N), *dqkv = tu_buf(be, QKV_N), *scr = tu_buf(be, ATT_N);
    tu_fill(qkv, QKV_N, 33, 1.0f);
    tu_fill(dout, OUT_N, 34, 1.0f);
    bk_cast(be, qkv, qkv, QKV_N, DT_BF16, NULL);
    bk_cast(be, dout, dout, OUT_N, DT_BF16, NULL);
    num_stats sf, sb;
    num_stats_reset(&sf);
    num_stats_reset(&sb);
    bk_attention_forward(be, out, att, qkv, AB, AT, AC, ANH, DT_BF16, &sf);
    bk_attention_backward(be, dqkv, scr, dout, qkv, att, AB, AT, AC, ANH, DT_BF16, &sb);
    for (int i = 0; i < OUT_N; i++) cr_assert_eq(out[i], num_round1(out[i], DT_BF16));
    for (int i = 0; i < QKV_N; i++) cr_assert_eq(dqkv[i], num_round1(dqkv[i], DT_BF16));
    /* forward: causal scores (T(T+1)/2 per head) + out; backward: datt, dS (causal) + dV, dQ, dK */
    uint64_t causal = AB * ANH * AT * (AT + 1) / 2;
    cr_assert_eq(sf.count, causal + OUT_N);
    cr_assert_eq(sb.count, 2 * causal + QKV_N);
    /* bf16 result stays close to the fp32 one */
    float *o32 = tu_buf(be, OUT_N);
    bk_attention_forward(be, o32, att, qkv, AB, AT, AC, ANH, DT_F32, NULL);
    for (int i = 0; i < OUT_N; i++) cr_assert(fabsf(o32[i] - out[i]) < 0.03f);
    bk_destroy(be);
}

Test(cpu_attention, deterministic_fp16)
{
    backend *be = tu_backend();
    enum { B = 3, T = 33, C = 32, NH = 4 };
    size_t nq = B * T * 3 * C, no = B * T * C, na = B * NH * T * T;
    float *qkv = tu_buf(be, nq), *dout = tu_buf(be, no), *scr = tu_buf(be, na);
    float *out[2], *att[2], *dq[2];
    tu_fill(qkv, nq, 35, 2.0f);
    tu_fill(dout, no, 36, 1.0f);
    bk_cast(be, qkv, qkv, nq, DT_F16, NULL);
    bk_cast(be, dout, dout, no, DT_F16, NULL);
    for (int r = 0; r < 2; r++) {
        out[r] = tu_buf(be, no);
        att[r] = tu_buf(be, na);
        dq[r] = tu_buf(be, nq);
        bk_attention_forward(be, out[r], att[r], qkv, B, T, C, NH, DT_F16, NULL);
        bk_attention_backward(be, dq[r], scr, dout, qkv, att[r], B, T, C, NH, DT_F16, NULL);
    }
    cr_assert_eq(memcmp(out[0], out[1], no * 4), 0);
    cr_assert_eq(memcmp(att[0], att[1], na * 4), 0);
    cr_assert_eq(memcmp(dq[0], dq[1], nq * 4), 0);
    bk_destroy(be);
}
