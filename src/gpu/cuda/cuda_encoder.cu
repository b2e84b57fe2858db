/* cuda_encoder.cu — token + position embedding (fp32) and its gradient, which adds each
 * position's contribution in position order, exactly as the CPU reference does. */
#include <stdlib.h>
#include <string.h>

#include "cuda_backend.h"

__global__ void encoder_fwd_k(float *out, const int32_t *tokens, const float *wte,
                              const float *wpe, int BT, int T, int C)
{
    size_t n = (size_t)BT * C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t bt = i / (size_t)C, c = i % (size_t)C;
        out[i] = wte[(size_t)tokens[bt] * C + c] + wpe[(bt % (size_t)T) * C + c];
    }
}

void cuda_encoder_forward(backend *be, float *out, const int32_t *tokens, const float *wte,
                          const float *wpe, int B, int T, int C)
{
    cuda_backend *cb = cu_of(be);
    size_t n = (size_t)B * T * C;
    if (cb->failed || !n) return;
    cu_op(cb, "bk_encoder_forward", B, T, C, 0);
    encoder_fwd_k<<<cu_blocks(cb, n, 256), 256, 0, cb->stream>>>(out, tokens, wte, wpe, B * T,
                                                                  T, C);
    cu_check(cb, cudaGetLastError(), "bk_encoder_forward", "B=%d T=%d C=%d", B, T, C);
}

/* dwpe[t][c] += dout[b][t][c] for b = 0, 1, ... (the reference's order for each element). */
__global__ void dwpe_k(float *dwpe, const float *dout, int B, int T, int C)
{
    size_t n = (size_t)T * C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float acc = dwpe[i];
        for (int b = 0; b < B; b++) acc += dout[(size_t)b * n + i];
        dwpe[i] = acc;
    }
}

/* One block row per distinct token: its positions, ascending, are added in order. */
__global__ void dwte_k(float *dwte, const float *dout, const int32_t *uniq, const int *start,
                       const int *order, int C)
{
    int u = blockIdx.x, c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float *row = dwte + (size_t)uniq[u] * C;
    float acc = row[c];
    for (int k = start[u]; k < start[u + 1]; k++) acc += dout[(size_t)order[k] * C + c];
    row[c] = acc;
}

/* Host bucketing of positions by token (a stable counting sort): a few tens of microseconds
 * for a batch, and it makes the gradient bit-identical to the reference and run to run. */
static int token_buckets(cuda_backend *cb, const int32_t *tokens, int BT, int *n_uniq)
{
    if ((size_t)BT > cb->tok_cap) {
        free(cb->tok_host);
        free(cb->tok_order);
        cb->tok_host = (int32_t *)malloc((size_t)BT * 2 * sizeof(int32_t));
        cb->tok_order = (int *)malloc(((size_t)BT * 2 + 1) * sizeof(int)); /* order | start */
        cb->tok_cap = cb->tok_host && cb->tok_order ? (size_t)BT : 0;
        if (!cb->tok_cap) return -1;
    }
    if (cu_check(cb, cudaMemcpyAsync(cb->tok_host, tokens, (size_t)BT * sizeof(int32_t),
                                     cudaMemcpyDeviceToHost, cb->stream),
                 "bk_encoder_backward", "download of %d tokens", BT) ||
        cu_sync(cb, "bk_encoder_backward"))
        return -1;
    int32_t mx = -1;
    for (int i = 0; i < BT; i++) mx = cb->tok_host[i] > mx ? cb->tok_host[i] : mx;
    size_t need = (size_t)mx + 2;
    if (need > cb->tok_vcap) {
        free(cb->tok_start);
        cb->tok_start = (int *)malloc(need * sizeof(int));
        cb->tok_vcap = cb->tok_start ? need : 0;
        if (!cb->tok_start) return -1;
    }
    int *cnt = cb->tok_start; /* cnt[t + 1] = positions with token t, then prefix sums */
    memset(cnt, 0, need * sizeof(int));
    for (int i = 0; i < BT; i++)
        if (cb->tok_host[i] >= 0) cnt[cb->tok_host[i] + 1]++;
    /* layout sent to the device: uniq[U] | start[U + 1] | order[placed] */
    int32_t *uniq = cb->tok_host + BT; /* second half of tok_host */
    int *start = cb->tok_order + BT, U = 0, pos = 0;
    for (int32_t t = 0; t <= mx; t++) {
        int c = cnt[t + 1];
        cnt[t + 1] = pos; /* becomes the write cursor of token t */
        if (c) {
            uniq[U] = t;
            start[U++] = pos;
        }
        pos += c;
    }
    start[U] = pos;
    for (int i = 0; i < BT; i++)
        if (cb->tok_host[i] >= 0) cb->tok_order[cnt[cb->tok_host[i] + 1]++] = i;
    *n_uniq = U;
    return 0;
}

void cuda_encoder_backward(backend *be, float *dwte, float *dwpe, const float *dout,
                           const int32_t *tokens, int B, int T, int C)
{
    cuda_backend *cb = cu_of(be);
    int BT = B * T;
    if (cb->failed || BT <= 0 || C <= 0) return;
    const char *op = "bk_encoder_backward";
    cu_op(cb, op, B, T, C, 0);
    size_t n = (size_t)T * C;
    dwpe_k<<<cu_blocks(cb, n, 256), 256, 0, cb->stream>>>(dwpe, dout, B, T, C);
    int U = 0;
    if (token_buckets(cb, tokens, BT, &U)) {
        cu_fail(cb, "%s: cannot bucket %d tokens (B=%d T=%d C=%d)", op, BT, B, T, C);
        return;
    }
    if (!U) return;
    size_t bytes = ((size_t)U + (size_t)U + 1 + (size_t)BT) * sizeof(int);
    int *d = (int *)cu_scratch(cb, CU_SCR_TOK, bytes);
    if (!d) return;
    int npos = cb->tok_order[BT + U]; /* positions with a valid token */
    if (cu_check(cb, cudaMemcpyAsync(d, cb->tok_host + BT, (size_t)U * sizeof(int),
                                     cudaMemcpyHostToDevice, cb->stream), op, "U=%d", U) ||
        cu_check(cb, cudaMemcpyAsync(d + U, cb->tok_order + BT, ((size_t)U + 1) * sizeof(int),
                                     cudaMemcpyHostToDevice, cb->stream), op, "U=%d", U) ||
        cu_check(cb, cudaMemcpyAsync(d + 2 * U + 1, cb->tok_order, (size_t)npos * sizeof(int),
                                     cudaMemcpyHostToDevice, cb->stream), op, "BT=%d", BT))
        return;
    dim3 grid((unsigned)U, (unsigned)((C + 127) / 128));
    dwte_k<<<grid, 128, 0, cb->stream>>>(dwte, dout, d, d + U, d + 2 * U + 1, C);
    cu_check(cb, cudaGetLastError(), op, "B=%d T=%d C=%d", B, T, C);
}
