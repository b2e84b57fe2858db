/* cuda_attention.cu — causal multi-head self-attention with the reference's rounding points,
 * in query blocks that never hold a (T,T) tensor: QK^T and AV (and the backward GEMMs) on
 * tensor cores in dt, softmax in fp32 with per-row stats the backward recomputes from. */
#include <math.h>

#include "cuda_backend.h"
#include "cuda_numerics.cuh"

/* Same choices as cpu_attention.c (docs/precision.md, docs/cuda.md "Attention"): q/k/v/dout
 * are taken as already stored in dt; the score scale is the GEMM alpha; only causal entries
 * are rounded and counted; masked entries are exact zeros. Per batch row and block of
 * CU_ATT_QB queries, strided-batched cuBLAS calls over the heads compute the block's scores
 * against its causal key prefix into scratch; a warp per row rounds and softmaxes them. The
 * backward repeats the forward's score GEMM call (same shapes, operands and scratch) and the
 * forward's expressions P = expf(s - max) * (1/sum), so its probabilities are the forward's
 * bits. dK and dV accumulate over query blocks in fp32 (beta = 1) inside dqkv; out and dqkv
 * are rounded in one pass at the end of the op, which counts the same elements the
 * reference counts head by head. */

enum { SM_WARPS = 8, CU_ATT_QB = 256 };

static int cu_att_qb(int T) { return T < CU_ATT_QB ? T : CU_ATT_QB; }

/* Block row r (NH * qn rows of kn; head h = r / qn, query i = i0 + r % qn): x = round_dt(s)
 * on j <= i (stats), softmax in fp32 with (max, 1/sum) saved to rs (NH,T,2), zeros up to kn;
 * ph gets the probabilities rounded to dt (AV's operand) when non-NULL. */
__global__ void attn_softmax_k(float *S, uint16_t *ph, float *rs, int NH, int qn, int i0,
                               int kn, int T, int dt, cu_dstats *slot)
{
    long r = (long)blockIdx.x * SM_WARPS + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (r >= (long)NH * qn) return;
    int h = (int)(r / qn), i = i0 + (int)(r % qn);
    float *row = S + (size_t)r * kn;
    cu_lstats l;
    cu_lstats_init(&l);
    float mx = -INFINITY;
    for (int j = lane; j <= i; j += 32) {
        float x = row[j], y = cu_round(x, dt);
        if (slot) cu_lstats_add(&l, x, y);
        row[j] = y;
        mx = fmaxf(mx, y);
    }
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    float sum = 0.0f;
    for (int j = lane; j <= i; j += 32) {
        float e = expf(row[j] - mx);
        row[j] = e;
        sum += e;
    }
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    float inv = 1.0f / sum;
    for (int j = lane; j < kn; j += 32) {
        float p = j <= i ? row[j] * inv : 0.0f;
        row[j] = p;
        if (ph) ph[(size_t)r * kn + j] = cu_to_bits(p, dt);
    }
    if (lane == 0) {
        rs[((size_t)h * T + i) * 2] = mx;
        rs[((size_t)h * T + i) * 2 + 1] = inv;
    }
    cu_lstats_commit(&l, slot);
}

/* Block row r as above. S holds the scores again: P = expf(round_dt(s) - max) * (1/sum)
 * (the forward's bits, not counted again), kept in S and, rounded, in ph (dV's operand).
 * D holds datt: round its causal part (stats), then dS = round(P * (datt - sum(P datt)) *
 * scale) into D and dsh. Masked entries of S and D become exact zeros. */
__global__ void attn_dscores_k(float *S, uint16_t *ph, float *D, uint16_t *dsh,
                               const float *rs, int NH, int qn, int i0, int kn, int T,
                               float scale, int dt, cu_dstats *slot)
{
    long r = (long)blockIdx.x * SM_WARPS + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (r >= (long)NH * qn) return;
    int h = (int)(r / qn), i = i0 + (int)(r % qn);
    float *srow = S + (size_t)r * kn, *d = D + (size_t)r * kn;
    float mx = rs[((size_t)h * T + i) * 2], inv = rs[((size_t)h * T + i) * 2 + 1];
    cu_lstats l;
    cu_lstats_init(&l);
    float s = 0.0f;
    for (int j = lane; j <= i; j += 32) {
        float e = expf(cu_round(srow[j], dt) - mx);
        float p = e * inv;
        srow[j] = p;
        float x = d[j], y = cu_round(x, dt);
        if (slot) cu_lstats_add(&l, x, y);
        d[j] = y;
        s += p * y;
    }
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    for (int j = lane; j < kn; j += 32) {
        float p = 0.0f, y = 0.0f;
        if (j <= i) {
            p = srow[j];
            float x = p * (d[j] - s) * scale;
            y = cu_round(x, dt);
            if (slot) cu_lstats_add(&l, x, y);
        } else {
            srow[j] = 0.0f;
        }
        d[j] = y;
        if (ph) ph[(size_t)r * kn + j] = cu_to_bits(p, dt);
        if (dsh) dsh[(size_t)r * kn + j] = cu_to_bits(y, dt);
    }
    cu_lstats_commit(&l, slot);
}

/* Byte offset helper for operands that are fp32 or 16-bit. */
static const void *at(const void *base, size_t elems, dtype_t dt)
{
    return (const char *)base + elems * (dt == DT_F32 ? 4 : 2);
}

/* Causal (j <= i) entries of a block of qn queries from i0, over NH heads. */
static size_t causal_in_block(int NH, int i0, int qn)
{
    return (size_t)NH * ((size_t)qn * i0 + (size_t)qn * (qn + 1) / 2);
}

/* Bytes of one (NH, qb, T) block buffer: fp32 values and their 16-bit copy. */
static size_t block_bytes(int T, int NH)
{
    return (size_t)NH * cu_att_qb(T) * T * (sizeof(float) + sizeof(uint16_t));
}

size_t cuda_attention_workspace(const backend *be, int B, int T, int C, int NH)
{
    (void)be;
    if (B <= 0 || T <= 0 || NH <= 0) return 0;
    /* two block buffers (scores / P, datt / dS) and, in a 16-bit dtype, 16-bit copies of
     * qkv (B,T,3C) and dout (B,T,C) */
    return 2 * block_bytes(T, NH) + (size_t)B * T * 4 * C * sizeof(uint16_t);
}

/* What both directions derive from the shapes. */
typedef struct {
    int hd, C3;
    float scale;
    size_t blk; /* elements of one (NH, qb, T) block buffer */
} attn_dims;

/* Starts op (false: nothing to do) and fills g. */
static bool attn_begin(cuda_backend *cb, const char *op, int B, int T, int C, int NH,
                       attn_dims *g)
{
    if (cb->failed || B <= 0 || T <= 0 || NH <= 0) return false;
    cu_op(cb, op, B, T, C, NH);
    g->hd = C / NH, g->C3 = 3 * C;
    g->scale = 1.0f / sqrtf((float)g->hd);
    g->blk = (size_t)NH * cu_att_qb(T) * T;
    return true;
}

/* A block buffer from scratch: n fp32 values, then (16-bit dtypes) their 16-bit copy. */
static float *block_buf(cuda_backend *cb, cu_scratch_slot slot, size_t n, dtype_t dt,
                        uint16_t **h)
{
    float *f = (float *)cu_scratch(cb, slot, n * (sizeof(float) + sizeof(uint16_t)));
    *h = f && dt != DT_F32 ? (uint16_t *)(f + n) : NULL;
    return f;
}

/* x (n floats) in dt as a GEMM operand: 16-bit bits in scratch, or x itself in fp32. */
static const void *lowp_operand(cuda_backend *cb, cu_scratch_slot slot, const float *x,
                                size_t n, dtype_t dt)
{
    if (dt == DT_F32) return x;
    uint16_t *h = (uint16_t *)cu_scratch(cb, slot, n * sizeof *h);
    if (h) cu_to_lowp(cb, h, x, n, dt);
    return h;
}

static unsigned row_blocks(int NH, int qn)
{
    return (unsigned)(((long)NH * qn + SM_WARPS - 1) / SM_WARPS);
}

/* The op's result x (n floats) rounded to dt in one pass with its stats, then the check. */
static void attn_finish(cuda_backend *cb, const char *op, float *x, size_t n, int B, int T,
                        int C, int NH, dtype_t dt, num_stats *st)
{
    if (dt != DT_F32 || st) cu_round_bias(cb, x, x, NULL, 1, n, dt, cu_stats_slot(cb, st, n));
    cu_check(cb, cudaGetLastError(), op, "B=%d T=%d C=%d NH=%d dt=%s", B, T, C, NH,
             dtype_name(dt));
}

/* S (NH x (qn,kn)) = scale * Q[i0..i0+qn) K[0..kn)^T of batch row qb: the one call both
 * directions make. */
static int attn_scores(cuda_backend *cb, const char *op, const attn_dims *g, float *S,
                       const void *qb, int i0, int qn, int kn, dtype_t dt, int NH)
{
    return cu_gemm_raw(cb, op, S, kn, (long)qn * kn, at(qb, (size_t)i0 * g->C3, dt), g->C3,
                       g->hd, 0, at(qb, (size_t)g->C3 / 3, dt), g->C3, g->hd, 1, dt, qn, kn,
                       g->hd, g->scale, 0.0f, NH);
}

void cuda_attention_forward(backend *be, float *out, float *rowstats, const float *qkv, int B,
                            int T, int C, int NH, dtype_t dt, num_stats *st)
{
    cuda_backend *cb = cu_of(be);
    const char *op = "bk_attention_forward";
    attn_dims g;
    if (!attn_begin(cb, op, B, T, C, NH, &g)) return;
    int hd = g.hd, C3 = g.C3;
    uint16_t *ph;
    const void *q = lowp_operand(cb, CU_SCR_A, qkv, (size_t)B * T * C3, dt);
    float *S = block_buf(cb, CU_SCR_B, g.blk, dt, &ph);
    if (!q || !S) return;
    for (int b = 0; b < B; b++) {
        const void *qb = at(q, (size_t)b * T * C3, dt);
        float *rsb = rowstats + (size_t)b * NH * T * 2;
        for (int i0 = 0; i0 < T; i0 += CU_ATT_QB) {
            int qn = T - i0 < CU_ATT_QB ? T - i0 : CU_ATT_QB, kn = i0 + qn;
            if (attn_scores(cb, op, &g, S, qb, i0, qn, kn, dt, NH)) return;
            attn_softmax_k<<<row_blocks(NH, qn), SM_WARPS * 32, 0, cb->stream>>>(
                S, ph, rsb, NH, qn, i0, kn, T, dt,
                cu_stats_slot(cb, st, causal_in_block(NH, i0, qn)));
            const void *p = ph ? (const void *)ph : (const void *)S;
            /* (qn,hd) = P V[0..kn), per head */
            if (cu_gemm_raw(cb, op, out + ((size_t)b * T + i0) * C, C, hd, p, kn,
                            (long)qn * kn, 0, at(qb, (size_t)2 * C, dt), C3, hd, 0, dt, qn,
                            hd, kn, 1.0f, 0.0f, NH))
                return;
        }
    }
    attn_finish(cb, op, out, (size_t)B * T * C, B, T, C, NH, dt, st);
}

void cuda_attention_backward(backend *be, float *dqkv, const float *dout, const float *qkv,
                             const float *rowstats, int B, int T, int C, int NH, dtype_t dt,
                             num_stats *st)
{
    cuda_backend *cb = cu_of(be);
    const char *op = "bk_attention_backward";
    attn_dims g;
    if (!attn_begin(cb, op, B, T, C, NH, &g)) return;
    int hd = g.hd, C3 = g.C3;
    uint16_t *ph, *dsh;
    const void *q = lowp_operand(cb, CU_SCR_A, qkv, (size_t)B * T * C3, dt);
    const void *d = lowp_operand(cb, CU_SCR_C, dout, (size_t)B * T * C, dt);
    float *S = block_buf(cb, CU_SCR_B, g.blk, dt, &ph);
    float *D = block_buf(cb, CU_SCR_OUT, g.blk, dt, &dsh);
    if (!q || !d || !S || !D) return;
    /* dK and dV accumulate (beta = 1) over the query blocks */
    if (cu_check(cb, cudaMemsetAsync(dqkv, 0, (size_t)B * T * C3 * sizeof(float), cb->stream),
                 op, "B=%d T=%d C=%d NH=%d", B, T, C, NH))
        return;
    for (int b = 0; b < B; b++) {
        const void *qb = at(q, (size_t)b * T * C3, dt), *db = at(d, (size_t)b * T * C, dt);
        float *dqb = dqkv + (size_t)b * T * C3;
        const float *rsb = rowstats + (size_t)b * NH * T * 2;
        for (int i0 = 0; i0 < T; i0 += CU_ATT_QB) {
            int qn = T - i0 < CU_ATT_QB ? T - i0 : CU_ATT_QB, kn = i0 + qn;
            const void *dblk = at(db, (size_t)i0 * C, dt);
            if (attn_scores(cb, op, &g, S, qb, i0, qn, kn, dt, NH) ||
                /* datt (qn,kn) = dout V^T */
                cu_gemm_raw(cb, op, D, kn, (long)qn * kn, dblk, C, hd, 0,
                            at(qb, (size_t)2 * C, dt), C3, hd, 1, dt, qn, kn, hd, 1.0f, 0.0f,
                            NH))
                return;
            attn_dscores_k<<<row_blocks(NH, qn), SM_WARPS * 32, 0, cb->stream>>>(
                S, ph, D, dsh, rsb, NH, qn, i0, kn, T, g.scale, dt,
                cu_stats_slot(cb, st, 2 * causal_in_block(NH, i0, qn)));
            const void *p = ph ? (const void *)ph : (const void *)S;
            const void *ds = dsh ? (const void *)dsh : (const void *)D;
            /* dV[0..kn) += P^T dout; dQ[i0..) = dS K[0..kn); dK[0..kn) += dS^T Q */
            if (cu_gemm_raw(cb, op, dqb + 2 * C, C3, hd, p, kn, (long)qn * kn, 1, dblk, C, hd,
                            0, dt, kn, hd, qn, 1.0f, 1.0f, NH) ||
                cu_gemm_raw(cb, op, dqb + (size_t)i0 * C3, C3, hd, ds, kn, (long)qn * kn, 0,
                            at(qb, (size_t)C, dt), C3, hd, 0, dt, qn, hd, kn, 1.0f, 0.0f, NH) ||
                cu_gemm_raw(cb, op, dqb + C, C3, hd, ds, kn, (long)qn * kn, 1,
                            at(qb, (size_t)i0 * C3, dt), C3, hd, 0, dt, kn, hd, qn, 1.0f, 1.0f,
                            NH))
                return;
        }
    }
    attn_finish(cb, op, dqkv, (size_t)B * T * C3, B, T, C, NH, dt, st);
}
