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

static float *attn_thread_scratch(cpu_backend *cb, int T)
{
    return cpu_scratch(cb, CPU_SCR_ATT, (size_t)cb->nthreads * T * T * sizeof(float));
}

void cpu_attention_forward(backend *be, float *out, float *att, const float *qkv, int B, int T,
                           int C, int NH, dtype_t dt, num_stats *st)
{
    cpu_backend *cb = cpu_of(be);
    int hd = C / NH, C3 = 3 * C, nt = cb->nthreads;
    float scale = 1.0f / sqrtf((float)hd);
    float *pbuf = dt == DT_F32 ? NULL : attn_thread_scratch(cb, T);
    if (dt != DT_F32 && !pbuf) return;
    num_stats part[CPU_MAX_THREADS];
    memset(part, 0, sizeof(num_stats) * (size_t)nt);
    cpu_blas_threads(cb, 1);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH, tid = CPU_TID();
        num_stats *ps = st ? &part[tid] : NULL;
        const float *q = qkv + (size_t)b * T * C3 + (size_t)h * hd;
        float *a = att + (size_t)bh * T * T, *o = out + (size_t)b * T * C + (size_t)h * hd;
        sgemm1(0, 1, T, T, hd, scale, q, C3, q + C, C3, a, T); /* (T,T) = Q K^T */
        attn_softmax(a, T, dt, ps);
        const float *p = a;
        if (pbuf) { /* AV takes the probabilities in dt */
            float *pr = pbuf + (size_t)tid * T * T;
            num_round(pr, a, (size_t)T * T, dt, NULL);
            p = pr;
        }
        sgemm1(0, 0, T, hd, T, 1.0f, p, T, q + 2 * C, C3, o, C); /* (T,hd) = P V */
        round_rows(o, C, T, hd, dt, ps);
    }
    cpu_stats_gather(st, part, nt);
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

void cpu_attention_backward(backend *be, float *dqkv, float *scratch, const float *dout,
                            const float *qkv, const float *att, int B, int T, int C, int NH,
                            dtype_t dt, num_stats *st)
{
    cpu_backend *cb = cpu_of(be);
    int hd = C / NH, C3 = 3 * C, nt = cb->nthreads;
    float scale = 1.0f / sqrtf((float)hd);
    float *pbuf = dt == DT_F32 ? NULL : attn_thread_scratch(cb, T);
    if (dt != DT_F32 && !pbuf) return;
    num_stats part[CPU_MAX_THREADS];
    memset(part, 0, sizeof(num_stats) * (size_t)nt);
    cpu_blas_threads(cb, 1);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH, tid = CPU_TID();
        num_stats *ps = st ? &part[tid] : NULL;
        const float *q = qkv + (size_t)b * T * C3 + (size_t)h * hd, *k = q + C, *v = q + 2 * C;
        const float *a = att + (size_t)bh * T * T;
        const float *d = dout + (size_t)b * T * C + (size_t)h * hd;
        float *dq = dqkv + (size_t)b * T * C3 + (size_t)h * hd, *dk = dq + C, *dv = dq + 2 * C;
        float *ds = scratch + (size_t)bh * T * T;
        const float *p = a;
        if (pbuf) {
            float *pr = pbuf + (size_t)tid * T * T;
            num_round(pr, a, (size_t)T * T, dt, NULL);
            p = pr;
        }
        sgemm1(0, 1, T, T, hd, 1.0f, d, C, v, C3, ds, T); /* datt (T,T) = dout V^T */
        sgemm1(1, 0, T, hd, T, 1.0f, p, T, d, C, dv, C3); /* dV (T,hd) = P^T dout */
        round_rows(dv, C3, T, hd, dt, ps);
        attn_dscores(ds, a, T, scale, dt, ps);
        sgemm1(0, 0, T, hd, T, 1.0f, ds, T, k, C3, dq, C3); /* dQ = dS K */
        round_rows(dq, C3, T, hd, dt, ps);
        sgemm1(1, 0, T, hd, T, 1.0f, ds, T, q, C3, dk, C3); /* dK = dS^T Q */
        round_rows(dk, C3, T, hd, dt, ps);
    }
    cpu_stats_gather(st, part, nt);
}
