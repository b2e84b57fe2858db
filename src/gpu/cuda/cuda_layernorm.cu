/* cuda_layernorm.cu — LayerNorm (eps 1e-5), fp32 statistics and math, output rounded to its
 * dtype; backward with dw/db reduced in the reference's fixed 64-row blocks (bit-identical). */
#include "cuda_backend.h"
#include "cuda_numerics.cuh"

#define LN_EPS 1e-5f
enum { LN_ROWS = 64, LN_WARPS = 8 };

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* One warp per row. Row sums are warp trees rather than the reference's left-to-right loop:
 * mean / rstd agree to a few fp32 ulps (see the tolerance in test_cuda_layernorm.c). */
__global__ void ln_fwd_k(float *out, float *mean, float *rstd, const float *inp, const float *w,
                         const float *b, int N, int C, int dt, cu_dstats *slot)
{
    int row = blockIdx.x * LN_WARPS + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (row >= N) return; /* whole warps leave together */
    cu_lstats l;
    cu_lstats_init(&l);
    const float *x = inp + (size_t)row * C;
    float *o = out + (size_t)row * C;
    float m = 0.0f, v = 0.0f;
    for (int c = lane; c < C; c += 32) m += x[c];
    m = warp_sum(m) / (float)C;
    for (int c = lane; c < C; c += 32) v += (x[c] - m) * (x[c] - m);
    v = warp_sum(v) / (float)C; /* biased variance, as nn.LayerNorm */
    float s = 1.0f / sqrtf(v + LN_EPS);
    for (int c = lane; c < C; c += 32) {
        float y = (x[c] - m) * s * w[c] + b[c], r = cu_round(y, dt);
        if (slot) cu_lstats_add(&l, y, r);
        o[c] = r;
    }
    if (lane == 0) {
        mean[row] = m;
        rstd[row] = s;
    }
    cu_lstats_commit(&l, slot);
}

void cuda_layernorm_forward(backend *be, float *out, float *mean, float *rstd, const float *inp,
                            const float *w, const float *b, int N, int C, dtype_t dt_out,
                            num_stats *st)
{
    cuda_backend *cb = cu_of(be);
    if (cb->failed || N <= 0 || C <= 0) return;
    cu_op(cb, "bk_layernorm_forward", N, C, dt_out, 0);
    ln_fwd_k<<<(N + LN_WARPS - 1) / LN_WARPS, LN_WARPS * 32, 0, cb->stream>>>(
        out, mean, rstd, inp, w, b, N, C, dt_out, cu_stats_slot(cb, st, (size_t)N * C));
    cu_check(cb, cudaGetLastError(), "bk_layernorm_forward", "N=%d C=%d", N, C);
}

/* dinp += (dn - mean(dn) - xh * mean(dn * xh)) * rstd, one warp per row. */
__global__ void ln_bwd_dinp_k(float *dinp, const float *dout, const float *inp, const float *w,
                              const float *mean, const float *rstd, int N, int C)
{
    int row = blockIdx.x * LN_WARPS + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (row >= N) return;
    const float *x = inp + (size_t)row * C, *d = dout + (size_t)row * C;
    float *di = dinp + (size_t)row * C;
    float m = mean[row], s = rstd[row], dnm = 0.0f, dnnm = 0.0f;
    for (int c = lane; c < C; c += 32) {
        float xh = (x[c] - m) * s, dn = w[c] * d[c];
        dnm += dn;
        dnnm += dn * xh;
    }
    dnm = warp_sum(dnm) / (float)C;
    dnnm = warp_sum(dnnm) / (float)C;
    for (int c = lane; c < C; c += 32) {
        float xh = (x[c] - m) * s, dn = w[c] * d[c];
        di[c] += (dn - dnm - xh * dnnm) * s;
    }
}

/* part[blk] = (sum over the block's rows of xh*d, of d), per column, rows in order. */
__global__ void ln_bwd_part_k(float *part, const float *dout, const float *inp,
                              const float *mean, const float *rstd, int N, int C)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x, blk = blockIdx.y;
    if (c >= C) return;
    float pw = 0.0f, pb = 0.0f;
    int n1 = min(N, (blk + 1) * LN_ROWS);
    for (int n = blk * LN_ROWS; n < n1; n++) {
        float xv = inp[(size_t)n * C + c], dv = dout[(size_t)n * C + c];
        float xh = (xv - mean[n]) * rstd[n];
        pb += dv;
        pw += xh * dv;
    }
    part[(size_t)blk * 2 * C + c] = pw;
    part[(size_t)blk * 2 * C + C + c] = pb;
}

__global__ void ln_bwd_finish_k(float *dw, float *db, const float *part, int nb, int C)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float w = dw[c], b = db[c];
    for (int k = 0; k < nb; k++) { /* += one block at a time, as the reference */
        w += part[(size_t)k * 2 * C + c];
        b += part[(size_t)k * 2 * C + C + c];
    }
    dw[c] = w;
    db[c] = b;
}

void cuda_layernorm_backward(backend *be, float *dinp, float *dw, float *db, const float *dout,
                             const float *inp, const float *w, const float *mean,
                             const float *rstd, int N, int C)
{
    cuda_backend *cb = cu_of(be);
    if (cb->failed || N <= 0 || C <= 0) return;
    const char *op = "bk_layernorm_backward";
    cu_op(cb, op, N, C, 0, 0);
    int nb = (N + LN_ROWS - 1) / LN_ROWS;
    float *part = (float *)cu_scratch(cb, CU_SCR_RED, (size_t)nb * 2 * C * sizeof *part);
    if (!part) return;
    ln_bwd_dinp_k<<<(N + LN_WARPS - 1) / LN_WARPS, LN_WARPS * 32, 0, cb->stream>>>(
        dinp, dout, inp, w, mean, rstd, N, C);
    dim3 grid((unsigned)((C + 127) / 128), (unsigned)nb);
    ln_bwd_part_k<<<grid, 128, 0, cb->stream>>>(part, dout, inp, mean, rstd, N, C);
    ln_bwd_finish_k<<<(C + 127) / 128, 128, 0, cb->stream>>>(dw, db, part, nb, C);
    cu_check(cb, cudaGetLastError(), op, "N=%d C=%d", N, C);
}
