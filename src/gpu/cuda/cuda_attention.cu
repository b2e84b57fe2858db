/* cuda_attention.cu — causal multi-head self-attention with the reference's rounding points:
 * QK^T and AV (and the backward GEMMs) on tensor cores in dt, softmax in fp32, per head as
 * strided-batched cuBLAS calls over the (B,T,3C) layout. */
#include <math.h>

#include "cuda_backend.h"
#include "cuda_numerics.cuh"

/* Same choices as cpu_attention.c: q/k/v/dout are taken as already stored in dt; the score
 * scale is the GEMM alpha; only causal entries are rounded and counted; masked entries are
 * exact zeros. out / dq / dk / dv are rounded in one pass at the end of the op, which counts
 * the same elements the reference counts head by head. */

enum { SM_WARPS = 8 };

/* Row r of att (B*NH*T rows of T): x = round_dt(scores) on j <= i (stats), softmax in fp32,
 * zeros above the diagonal; ph gets the probabilities rounded to dt (for AV) when non-NULL. */
__global__ void attn_softmax_k(float *att, uint16_t *ph, long rows, int T, int dt,
                               cu_dstats *slot)
{
    long r = (long)blockIdx.x * SM_WARPS + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (r >= rows) return;
    int i = (int)(r % T);
    float *row = att + (size_t)r * T;
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
    for (int j = lane; j < T; j += 32) {
        float p = j <= i ? row[j] * inv : 0.0f;
        row[j] = p;
        if (ph) ph[(size_t)r * T + j] = cu_to_bits(p, dt);
    }
    cu_lstats_commit(&l, slot);
}

/* ds holds datt: round its causal part, dS = round(att * (datt - sum(att*datt)) * scale). */
__global__ void attn_dscores_k(float *ds, uint16_t *dsh, const float *att, long rows, int T,
                               float scale, int dt, cu_dstats *slot)
{
    long r = (long)blockIdx.x * SM_WARPS + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (r >= rows) return;
    int i = (int)(r % T);
    float *d = ds + (size_t)r * T;
    const float *a = att + (size_t)r * T;
    cu_lstats l;
    cu_lstats_init(&l);
    float s = 0.0f;
    for (int j = lane; j <= i; j += 32) {
        float x = d[j], y = cu_round(x, dt);
        if (slot) cu_lstats_add(&l, x, y);
        d[j] = y;
        s += a[j] * y;
    }
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    for (int j = lane; j < T; j += 32) {
        float y = 0.0f;
        if (j <= i) {
            float x = a[j] * (d[j] - s) * scale;
            y = cu_round(x, dt);
            if (slot) cu_lstats_add(&l, x, y);
        }
        d[j] = y;
        if (dsh) dsh[(size_t)r * T + j] = cu_to_bits(y, dt);
    }
    cu_lstats_commit(&l, slot);
}

/* Byte offset helper for operands that are fp32 or 16-bit. */
static const void *at(const void *base, size_t elems, dtype_t dt)
{
    return (const char *)base + elems * (dt == DT_F32 ? 4 : 2);
}

static size_t causal_count(int B, int NH, int T)
{
    return (size_t)B * NH * ((size_t)T * (T + 1) / 2);
}

/* What both directions derive from the shapes; rows: the B*NH*T rows of T of att. */
typedef struct {
    int hd, C3;
    float scale;
    size_t TT;
    long rows;
    unsigned row_blocks; /* grid of the row kernels, SM_WARPS rows a block */
} attn_dims;

/* Starts op (false: nothing to do) and fills g. */
static bool attn_begin(cuda_backend *cb, const char *op, int B, int T, int C, int NH,
                       attn_dims *g)
{
    if (cb->failed || B <= 0 || T <= 0) return false;
    cu_op(cb, op, B, T, C, NH);
    g->hd = C / NH, g->C3 = 3 * C;
    g->scale = 1.0f / sqrtf((float)g->hd);
    g->TT = (size_t)T * T;
    g->rows = (long)B * NH * T;
    g->row_blocks = (unsigned)((g->rows + SM_WARPS - 1) / SM_WARPS);
    return true;
}

/* The op's result x (n floats) rounded to dt in one pass with its stats, then the check. */
static void attn_finish(cuda_backend *cb, const char *op, float *x, size_t n, int B, int T,
                        int C, int NH, dtype_t dt, num_stats *st)
{
    if (dt != DT_F32 || st) cu_round_bias(cb, x, x, NULL, 1, n, dt, cu_stats_slot(cb, st, n));
    cu_check(cb, cudaGetLastError(), op, "B=%d T=%d C=%d NH=%d dt=%s", B, T, C, NH,
             dtype_name(dt));
}

void cuda_attention_forward(backend *be, float *out, float *att, const float *qkv, int B, int T,
                            int C, int NH, dtype_t dt, num_stats *st)
{
    cuda_backend *cb = cu_of(be);
    const char *op = "bk_attention_forward";
    attn_dims g;
    if (!attn_begin(cb, op, B, T, C, NH, &g)) return;
    int hd = g.hd, C3 = g.C3;
    size_t TT = g.TT;
    const void *q = qkv;
    uint16_t *ph = NULL;
    if (dt != DT_F32) {
        uint16_t *h = (uint16_t *)cu_scratch(cb, CU_SCR_A, (size_t)B * T * C3 * sizeof *h);
        ph = (uint16_t *)cu_scratch(cb, CU_SCR_B, (size_t)B * NH * TT * sizeof *ph);
        if (!h || !ph) return;
        cu_to_lowp(cb, h, qkv, (size_t)B * T * C3, dt);
        q = h;
    }
    for (int b = 0; b < B; b++) { /* (T,T) = scale * Q K^T, heads batched */
        const void *qb = at(q, (size_t)b * T * C3, dt);
        if (cu_gemm_raw(cb, op, att + (size_t)b * NH * TT, T, (long)TT, qb, C3, hd, 0,
                        at(qb, (size_t)C, dt), C3, hd, 1, dt, T, T, hd, g.scale, 0.0f, NH))
            return;
    }
    attn_softmax_k<<<g.row_blocks, SM_WARPS * 32, 0, cb->stream>>>(
        att, ph, g.rows, T, dt, cu_stats_slot(cb, st, causal_count(B, NH, T)));
    const void *p = ph ? (const void *)ph : (const void *)att;
    for (int b = 0; b < B; b++) { /* (T,hd) = P V */
        const void *qb = at(q, (size_t)b * T * C3, dt);
        if (cu_gemm_raw(cb, op, out + (size_t)b * T * C, C, hd, at(p, (size_t)b * NH * TT, dt),
                        T, (long)TT, 0, at(qb, (size_t)2 * C, dt), C3, hd, 0, dt, T, hd, T,
                        1.0f, 0.0f, NH))
            return;
    }
    attn_finish(cb, op, out, (size_t)B * T * C, B, T, C, NH, dt, st);
}

void cuda_attention_backward(backend *be, float *dqkv, float *scratch, const float *dout,
                             const float *qkv, const float *att, int B, int T, int C, int NH,
                             dtype_t dt, num_stats *st)
{
    cuda_backend *cb = cu_of(be);
    const char *op = "bk_attention_backward";
    attn_dims g;
    if (!attn_begin(cb, op, B, T, C, NH, &g)) return;
    int hd = g.hd, C3 = g.C3;
    size_t TT = g.TT, nbh = (size_t)B * NH * TT;
    const void *q = qkv, *d = dout, *p = att, *ds = scratch;
    uint16_t *dsh = NULL;
    if (dt != DT_F32) {
        uint16_t *qh = (uint16_t *)cu_scratch(cb, CU_SCR_A, (size_t)B * T * C3 * 2);
        uint16_t *pp = (uint16_t *)cu_scratch(cb, CU_SCR_B, nbh * 2);
        uint16_t *dh = (uint16_t *)cu_scratch(cb, CU_SCR_C, (size_t)B * T * C * 2);
        dsh = (uint16_t *)cu_scratch(cb, CU_SCR_OUT, nbh * 2);
        if (!qh || !pp || !dh || !dsh) return;
        cu_to_lowp(cb, qh, qkv, (size_t)B * T * C3, dt);
        cu_to_lowp(cb, pp, att, nbh, dt); /* AV's operand: probabilities rounded to dt */
        cu_to_lowp(cb, dh, dout, (size_t)B * T * C, dt);
        q = qh, p = pp, d = dh, ds = dsh;
    }
    for (int b = 0; b < B; b++) {
        const void *qb = at(q, (size_t)b * T * C3, dt), *db = at(d, (size_t)b * T * C, dt);
        float *dqb = dqkv + (size_t)b * T * C3;
        /* datt (T,T) = dout V^T */
        if (cu_gemm_raw(cb, op, scratch + (size_t)b * NH * TT, T, (long)TT, db, C, hd, 0,
                        at(qb, (size_t)2 * C, dt), C3, hd, 1, dt, T, T, hd, 1.0f, 0.0f, NH) ||
            /* dV (T,hd) = P^T dout */
            cu_gemm_raw(cb, op, dqb + 2 * C, C3, hd, at(p, (size_t)b * NH * TT, dt), T,
                        (long)TT, 1, db, C, hd, 0, dt, T, hd, T, 1.0f, 0.0f, NH))
            return;
    }
    attn_dscores_k<<<g.row_blocks, SM_WARPS * 32, 0, cb->stream>>>(
        scratch, dsh, att, g.rows, T, g.scale, dt,
        cu_stats_slot(cb, st, 2 * causal_count(B, NH, T)));
    for (int b = 0; b < B; b++) {
        const void *qb = at(q, (size_t)b * T * C3, dt), *dsb = at(ds, (size_t)b * NH * TT, dt);
        float *dqb = dqkv + (size_t)b * T * C3;
        /* dQ = dS K, dK = dS^T Q */
        if (cu_gemm_raw(cb, op, dqb, C3, hd, dsb, T, (long)TT, 0, at(qb, (size_t)C, dt), C3,
                        hd, 0, dt, T, hd, T, 1.0f, 0.0f, NH) ||
            cu_gemm_raw(cb, op, dqb + C, C3, hd, dsb, T, (long)TT, 1, qb, C3, hd, 0, dt, T, hd,
                        T, 1.0f, 0.0f, NH))
            return;
    }
    attn_finish(cb, op, dqkv, (size_t)B * T * C3, B, T, C, NH, dt, st);
}
