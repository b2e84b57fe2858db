/* cpu_attention.c — causal multi-head self-attention, emulated precision: QK^T and AV
 * (and their backward GEMMs) round inputs/outputs to dt, the softmax runs in fp32. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "cpu_backend.h"

/* Choices (documented for the CUDA port to match):
 * - Q, K, V, dout are strided views into qkv (B,T,3C) / dout (B,T,C); they are taken as
 *   already stored in dt (their producers rounded them), so they are not rounded again.
 * - The score scale 1/sqrt(hd) is the sgemm alpha: scores = round_dt(fl(alpha * QK^T)).
 *   The backward uses the same float: dS = round_dt(dscores * (1/sqrt(hd))).
 * - Only causal entries (j <= i) are rounded and counted in st; masked ones are exact zeros
 *   in att and dS (never 0 * Inf from a masked fp16 overflow).
 * - st collects every rounding the op does: scores and out (forward); datt, dV, dS, dQ, dK.
 * - Heads run in parallel with OpenMP; each sgemm is then single-threaded (OpenBLAS told
 *   1 thread), which is the supported way to call it from several threads. */

static void round_rows(float *x, int ld, int rows, int cols, dtype_t dt, num_stats *st)
{
    for (int r = 0; r < rows; r++) num_round(x + (size_t)r * ld, x + (size_t)r * ld, (size_t)cols, dt, st);
}

static void sgemm1(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, 0.0f, C, ldc);
}

/* att (T,T) holds scale*QK^T: round the causal part, softmax it in fp32, zero the rest. */
static void attn_softmax(float *att, int T, dtype_t dt, num_stats *st)
{
    for (int i = 0; i < T; i++) {
        float *row = att + (size_t)i * T;
        num_round(row, row, (size_t)i + 1, dt, st);
        float mx = -INFINITY, sum = 0.0f;
        for (int j = 0; j <= i; j++) mx = row[j] > mx ? row[j] : mx;
        for (int j = 0; j <= i; j++) {
            row[j] = expf(row[j] - mx);
            sum += row[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j <= i; j++) row[j] *= inv;
        memset(row + i + 1, 0, (size_t)(T - 1 - i) * sizeof *row);
    }
}

/* One attention call, either direction: shapes, inputs and outputs, and the per-thread
 * (T,T) buffers for the probabilities in dt (NULL in fp32). */
typedef struct {
    int T, C, NH, hd, C3;
    float scale;
    dtype_t dt;
    float *pbuf;
    const float *qkv, *att, *dout; /* att: the backward's input */
    float *out, *att_out, *dqkv, *scratch;
} attn_job;

static int attn_begin(cpu_backend *cb, attn_job *j, int T, int C, int NH, dtype_t dt)
{
    j->T = T, j->C = C, j->NH = NH, j->hd = C / NH, j->C3 = 3 * C, j->dt = dt;
    j->scale = 1.0f / sqrtf((float)j->hd);
    j->pbuf = NULL;
    if (dt != DT_F32) {
        j->pbuf = cpu_scratch(cb, CPU_SCR_ATT, (size_t)cb->nthreads * T * T * sizeof(float));
        if (!j->pbuf) return -1;
    }
    cpu_blas_threads(cb, 1);
    return 0;
}

/* The probabilities a (T,T) as AV's operand: in dt, in this thread's buffer. */
static const float *attn_probs(const attn_job *j, const float *a)
{
    if (!j->pbuf) return a;
    float *pr = j->pbuf + (size_t)CPU_TID() * j->T * j->T;
    num_round(pr, a, (size_t)j->T * j->T, j->dt, NULL);
    return pr;
}

/* Head bh = b * NH + h. */
static void attn_forward_head(void *ctx, size_t bh, size_t count, num_stats *ps)
{
    const attn_job *j = ctx;
    int T = j->T, C = j->C, C3 = j->C3, hd = j->hd, b = (int)bh / j->NH, h = (int)bh % j->NH;
    (void)count;
    const float *q = j->qkv + (size_t)b * T * C3 + (size_t)h * hd;
    float *a = j->att_out + bh * T * T, *o = j->out + (size_t)b * T * C + (size_t)h * hd;
    sgemm1(0, 1, T, T, hd, j->scale, q, C3, q + C, C3, a, T); /* (T,T) = Q K^T */
    attn_softmax(a, T, j->dt, ps);
    sgemm1(0, 0, T, hd, T, 1.0f, attn_probs(j, a), T, q + 2 * C, C3, o, C); /* (T,hd) = P V */
    round_rows(o, C, T, hd, j->dt, ps);
}

void cpu_attention_forward(backend *be, float *out, float *att, const float *qkv, int B, int T,
                           int C, int NH, dtype_t dt, num_stats *st)
{
    cpu_backend *cb = cpu_of(be);
    attn_job j = {.qkv = qkv, .out = out, .att_out = att};
    if (attn_begin(cb, &j, T, C, NH, dt)) return;
    cpu_parallel(cb, cpu_items(B * NH), 1, 1, st, attn_forward_head, &j);
}

/* ds (T,T) holds datt: round its causal part, then dS = round(att*(datt - sum)*scale). */
static void attn_dscores(float *ds, const float *a, int T, float scale, dtype_t dt,
                         num_stats *st)
{
    for (int i = 0; i < T; i++) {
        float *d = ds + (size_t)i * T;
        const float *ar = a + (size_t)i * T;
        num_round(d, d, (size_t)i + 1, dt, st);
        float s = 0.0f;
        for (int j = 0; j <= i; j++) s += ar[j] * d[j];
        for (int j = 0; j <= i; j++) d[j] = ar[j] * (d[j] - s) * scale;
        num_round(d, d, (size_t)i + 1, dt, st);
        memset(d + i + 1, 0, (size_t)(T - 1 - i) * sizeof *d);
    }
}

static void attn_backward_head(void *ctx, size_t bh, size_t count, num_stats *ps)
{
    const attn_job *j = ctx;
    int T = j->T, C = j->C, C3 = j->C3, hd = j->hd, b = (int)bh / j->NH, h = (int)bh % j->NH;
    (void)count;
    const float *q = j->qkv + (size_t)b * T * C3 + (size_t)h * hd, *k = q + C, *v = q + 2 * C;
    const float *a = j->att + bh * T * T;
    const float *d = j->dout + (size_t)b * T * C + (size_t)h * hd;
    float *dq = j->dqkv + (size_t)b * T * C3 + (size_t)h * hd, *dk = dq + C, *dv = dq + 2 * C;
    float *ds = j->scratch + bh * T * T;
    const float *p = attn_probs(j, a);
    sgemm1(0, 1, T, T, hd, 1.0f, d, C, v, C3, ds, T); /* datt (T,T) = dout V^T */
    sgemm1(1, 0, T, hd, T, 1.0f, p, T, d, C, dv, C3); /* dV (T,hd) = P^T dout */
    round_rows(dv, C3, T, hd, j->dt, ps);
    attn_dscores(ds, a, T, j->scale, j->dt, ps);
    sgemm1(0, 0, T, hd, T, 1.0f, ds, T, k, C3, dq, C3); /* dQ = dS K */
    round_rows(dq, C3, T, hd, j->dt, ps);
    sgemm1(1, 0, T, hd, T, 1.0f, ds, T, q, C3, dk, C3); /* dK = dS^T Q */
    round_rows(dk, C3, T, hd, j->dt, ps);
}

void cpu_attention_backward(backend *be, float *dqkv, float *scratch, const float *dout,
                            const float *qkv, const float *att, int B, int T, int C, int NH,
                            dtype_t dt, num_stats *st)
{
    cpu_backend *cb = cpu_of(be);
    attn_job j = {.qkv = qkv, .att = att, .dout = dout, .dqkv = dqkv, .scratch = scratch};
    if (attn_begin(cb, &j, T, C, NH, dt)) return;
    cpu_parallel(cb, cpu_items(B * NH), 1, 1, st, attn_backward_head, &j);
}
