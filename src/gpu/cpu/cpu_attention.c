/* cpu_attention.c — causal multi-head self-attention, emulated precision, in query blocks
 * that never hold a (T,T) matrix: QK^T and AV (and their backward GEMMs) round to dt, the
 * softmax runs in fp32 and saves per-row stats from which the backward recomputes it. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "cpu_backend.h"

/* Choices (documented for the CUDA port to match; docs/precision.md "Attention"):
 * - Q, K, V, dout are strided views into qkv (B,T,3C) / dout (B,T,C); they are taken as
 *   already stored in dt (their producers rounded them), so they are not rounded again.
 * - The score scale 1/sqrt(hd) is the sgemm alpha: scores = round_dt(fl(alpha * QK^T)).
 *   The backward uses the same float: dS = round_dt(dscores * (1/sqrt(hd))).
 * - Only causal entries (j <= i) are rounded and counted in st; masked ones are exact zeros
 *   in the probabilities and dS (never 0 * Inf from a masked fp16 overflow).
 * - st collects every rounding the op does: scores and out (forward); datt, dV, dS, dQ, dK.
 *   The backward's recomputation of the scores is not counted again.
 * - Query blocks of ATT_QB rows (a constant: blocks depend on T only) against keys
 *   0 .. i0 + qn - 1, the causal prefix. The softmax saves rowstats (max, 1/sum) per row;
 *   the backward recomputes the block's scores with the very sgemm call of the forward
 *   (same shape, operands, alpha and ld) and P = expf(s - max) * (1/sum), the forward's
 *   own expressions, so its probabilities are bit-identical to the forward's.
 * - dK and dV sum over query blocks in fp32 (sgemm beta = 1 into a per-thread (T,hd)
 *   accumulator) and round once at the end: the reference's rounding point, another order
 *   of the fp32 sum than one (T,T) GEMM.
 * - Forward items are (head, query block); backward items are heads (dK, dV accumulate over
 *   the head's blocks). Each sgemm is single-threaded (OpenBLAS told 1 thread), the
 *   supported way to call it from several threads. */

enum { ATT_QB = 64 };

static int att_qb(int T) { return T < ATT_QB ? T : ATT_QB; }

/* Floats of per-thread workspace: the backward's two (qb, T) blocks and its dK, dV
 * accumulators (T, hd); the forward uses the first block only. Rounded up to 16 floats so
 * every thread's block starts 64-byte aligned, as the forward's did for its backward. */
static size_t att_ws_floats(int T, int hd)
{
    return (2 * (size_t)att_qb(T) * T + 2 * (size_t)T * hd + 15) & ~(size_t)15;
}

size_t cpu_attention_workspace(const backend *be, int B, int T, int C, int NH)
{
    const cpu_backend *cb = (const cpu_backend *)be;
    if (B <= 0 || T <= 0 || NH <= 0) return 0;
    return (size_t)cb->nthreads * att_ws_floats(T, C / NH) * sizeof(float);
}

static void round_rows(float *x, int ld, int rows, int cols, dtype_t dt, num_stats *st)
{
    for (int r = 0; r < rows; r++) num_round(x + (size_t)r * ld, x + (size_t)r * ld, (size_t)cols, dt, st);
}

static void sgemm1(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* One attention call, either direction: shapes, inputs, outputs, the per-thread workspace. */
typedef struct {
    int T, C, NH, hd, C3, nqb;
    float scale;
    dtype_t dt;
    const float *qkv, *dout, *rs;  /* rs: the backward's rowstats (B,NH,T,2) */
    float *out, *rs_out, *dqkv;    /* rs_out: the forward's */
    float *ws;
    size_t ws_n; /* floats per thread */
} attn_job;

static int attn_begin(cpu_backend *cb, attn_job *j, int B, int T, int C, int NH, dtype_t dt)
{
    if (B <= 0 || T <= 0 || NH <= 0) return -1;
    j->T = T, j->C = C, j->NH = NH, j->hd = C / NH, j->C3 = 3 * C, j->dt = dt;
    j->nqb = (T + ATT_QB - 1) / ATT_QB;
    j->scale = 1.0f / sqrtf((float)j->hd);
    j->ws_n = att_ws_floats(T, j->hd);
    j->ws = cpu_scratch(cb, CPU_SCR_ATT, (size_t)cb->nthreads * j->ws_n * sizeof(float));
    if (!j->ws) return -1;
    cpu_blas_threads(cb, 1);
    return 0;
}

/* s (qn, kn) = scale * Q[i0 .. i0+qn) K[0 .. kn)^T for head q (a view into qkv): the one
 * call both directions make, so the backward's scores are the forward's bits. */
static void attn_scores(const attn_job *j, const float *q, int i0, int qn, int kn, float *s)
{
    sgemm1(0, 1, qn, kn, j->hd, j->scale, q + (size_t)i0 * j->C3, j->C3, q + j->C, j->C3,
           0.0f, s, kn);
}

/* s (qn, kn) holds the block's scores: round the causal part (row r is query i0 + r),
 * softmax it in fp32 saving (max, 1/sum) to rs (qn, 2), zero the rest. */
static void attn_softmax(float *s, int i0, int qn, int kn, float *rs, dtype_t dt,
                         num_stats *st)
{
    for (int r = 0; r < qn; r++) {
        float *row = s + (size_t)r * kn;
        int n = i0 + r + 1;
        num_round(row, row, (size_t)n, dt, st);
        float mx = -INFINITY, sum = 0.0f;
        for (int j = 0; j < n; j++) mx = row[j] > mx ? row[j] : mx;
        for (int j = 0; j < n; j++) {
            row[j] = expf(row[j] - mx);
            sum += row[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j < n; j++) row[j] *= inv;
        memset(row + n, 0, (size_t)(kn - n) * sizeof *row);
        rs[2 * r] = mx, rs[2 * r + 1] = inv;
    }
}

/* The forward's probabilities again from the block's scores s and its rowstats rs. */
static void attn_probs(float *s, int i0, int qn, int kn, const float *rs, dtype_t dt)
{
    for (int r = 0; r < qn; r++) {
        float *row = s + (size_t)r * kn;
        int n = i0 + r + 1;
        float mx = rs[2 * r], inv = rs[2 * r + 1];
        num_round(row, row, (size_t)n, dt, NULL);
        for (int j = 0; j < n; j++) {
            row[j] = expf(row[j] - mx);
            row[j] *= inv;
        }
        memset(row + n, 0, (size_t)(kn - n) * sizeof *row);
    }
}

/* Item = bh * nqb + query block, bh = b * NH + h. */
static void attn_forward_block(void *ctx, size_t item, size_t count, num_stats *ps)
{
    const attn_job *j = ctx;
    int T = j->T, C = j->C, C3 = j->C3, hd = j->hd;
    size_t bh = item / (size_t)j->nqb;
    int b = (int)bh / j->NH, h = (int)bh % j->NH;
    int i0 = (int)(item % (size_t)j->nqb) * ATT_QB;
    int qn = T - i0 < ATT_QB ? T - i0 : ATT_QB, kn = i0 + qn;
    (void)count;
    const float *q = j->qkv + (size_t)b * T * C3 + (size_t)h * hd;
    float *o = j->out + ((size_t)b * T + i0) * C + (size_t)h * hd;
    float *s = j->ws + (size_t)CPU_TID() * j->ws_n; /* (qn, kn) */
    attn_scores(j, q, i0, qn, kn, s);
    attn_softmax(s, i0, qn, kn, j->rs_out + (bh * T + (size_t)i0) * 2, j->dt, ps);
    num_round(s, s, (size_t)qn * kn, j->dt, NULL); /* AV's operand in dt */
    sgemm1(0, 0, qn, hd, kn, 1.0f, s, kn, q + 2 * C, C3, 0.0f, o, C); /* (qn,hd) = P V */
    round_rows(o, C, qn, hd, j->dt, ps);
}

void cpu_attention_forward(backend *be, float *out, float *rowstats, const float *qkv, int B,
                           int T, int C, int NH, dtype_t dt, num_stats *st)
{
    cpu_backend *cb = cpu_of(be);
    attn_job j = {.qkv = qkv, .out = out, .rs_out = rowstats};
    if (attn_begin(cb, &j, B, T, C, NH, dt)) return;
    cpu_parallel(cb, (size_t)B * NH * j.nqb, 1, 1, st, attn_forward_block, &j);
}

/* d (qn, kn) holds datt, p the fp32 probabilities: round datt's causal part, then
 * dS = round(p * (datt - sum_j p * datt) * scale), zeros above the diagonal. */
static void attn_dscores(float *d, const float *p, int i0, int qn, int kn, float scale,
                         dtype_t dt, num_stats *st)
{
    for (int r = 0; r < qn; r++) {
        float *dr = d + (size_t)r * kn;
        const float *pr = p + (size_t)r * kn;
        int n = i0 + r + 1;
        num_round(dr, dr, (size_t)n, dt, st);
        float s = 0.0f;
        for (int j = 0; j < n; j++) s += pr[j] * dr[j];
        for (int j = 0; j < n; j++) dr[j] = pr[j] * (dr[j] - s) * scale;
        num_round(dr, dr, (size_t)n, dt, st);
        memset(dr + n, 0, (size_t)(kn - n) * sizeof *dr);
    }
}

/* One query block of head (q, d, dq): dQ rows written, dK and dV (T,hd) accumulated. */
static void attn_backward_block(const attn_job *j, const float *q, const float *d, float *dq,
                                const float *rs, int i0, float *ws, float *dk, float *dv,
                                num_stats *ps)
{
    int T = j->T, C = j->C, C3 = j->C3, hd = j->hd;
    int qn = T - i0 < ATT_QB ? T - i0 : ATT_QB, kn = i0 + qn;
    const float *k = q + C, *v = q + 2 * C, *qb = q + (size_t)i0 * C3, *db = d + (size_t)i0 * C;
    float *p = ws, *da = ws + (size_t)att_qb(T) * T; /* (qn, kn) each */
    attn_scores(j, q, i0, qn, kn, p);
    attn_probs(p, i0, qn, kn, rs, j->dt);
    const float *pl = p;
    if (j->dt != DT_F32) { /* dV's operand in dt */
        num_round(da, p, (size_t)qn * kn, j->dt, NULL);
        pl = da;
    }
    sgemm1(1, 0, kn, hd, qn, 1.0f, pl, kn, db, C, 1.0f, dv, hd);  /* dV += P^T dout */
    sgemm1(0, 1, qn, kn, hd, 1.0f, db, C, v, C3, 0.0f, da, kn);   /* datt = dout V^T */
    attn_dscores(da, p, i0, qn, kn, j->scale, j->dt, ps);
    sgemm1(0, 0, qn, hd, kn, 1.0f, da, kn, k, C3, 0.0f, dq + (size_t)i0 * C3, C3); /* dS K */
    round_rows(dq + (size_t)i0 * C3, C3, qn, hd, j->dt, ps);
    sgemm1(1, 0, kn, hd, qn, 1.0f, da, kn, qb, C3, 1.0f, dk, hd); /* dK += dS^T Q */
}

/* Head bh = b * NH + h. */
static void attn_backward_head(void *ctx, size_t bh, size_t count, num_stats *ps)
{
    const attn_job *j = ctx;
    int T = j->T, C = j->C, C3 = j->C3, hd = j->hd, b = (int)bh / j->NH, h = (int)bh % j->NH;
    (void)count;
    const float *q = j->qkv + (size_t)b * T * C3 + (size_t)h * hd;
    const float *d = j->dout + (size_t)b * T * C + (size_t)h * hd;
    float *dq = j->dqkv + (size_t)b * T * C3 + (size_t)h * hd;
    float *ws = j->ws + (size_t)CPU_TID() * j->ws_n;
    float *dk = ws + 2 * (size_t)att_qb(T) * T, *dv = dk + (size_t)T * hd; /* (T,hd) each */
    memset(dk, 0, 2 * (size_t)T * hd * sizeof *dk);
    for (int blk = 0; blk < j->nqb; blk++)
        attn_backward_block(j, q, d, dq, j->rs + (bh * T + (size_t)blk * ATT_QB) * 2,
                            blk * ATT_QB, ws, dk, dv, ps);
    for (int t = 0; t < T; t++) { /* the one rounding of dK and dV */
        num_round(dq + (size_t)t * C3 + C, dk + (size_t)t * hd, (size_t)hd, j->dt, ps);
        num_round(dq + (size_t)t * C3 + 2 * C, dv + (size_t)t * hd, (size_t)hd, j->dt, ps);
    }
}

void cpu_attention_backward(backend *be, float *dqkv, const float *dout, const float *qkv,
                            const float *rowstats, int B, int T, int C, int NH, dtype_t dt,
                            num_stats *st)
{
    cpu_backend *cb = cpu_of(be);
    attn_job j = {.qkv = qkv, .dout = dout, .dqkv = dqkv, .rs = rowstats};
    if (attn_begin(cb, &j, B, T, C, NH, dt)) return;
    cpu_parallel(cb, cpu_items(B * NH), 1, 1, st, attn_backward_head, &j);
}
