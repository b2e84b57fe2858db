/* cuda_elementwise.cu — conversions, rounding with stats, statistics, deterministic double
 * reductions, scaling, GELU (tanh approximation) and residual adds on the device. */
#include "cuda_backend.h"
#include "cuda_numerics.cuh"
#include "opmath.h"

#define GRID_STRIDE(i, n)                                                                   \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n);                 \
         i += (size_t)gridDim.x * blockDim.x)

enum { EW_THREADS = 256 };

__global__ void to_lowp_k(uint16_t *dst, const float *src, size_t n, int dt)
{
    GRID_STRIDE(i, n) dst[i] = cu_to_bits(src[i], dt);
}

void cu_to_lowp(cuda_backend *cb, uint16_t *dst, const float *src, size_t n, dtype_t dt)
{
    if (cb->failed || !n) return;
    to_lowp_k<<<cu_blocks(cb, n, EW_THREADS), EW_THREADS, 0, cb->stream>>>(dst, src, n, dt);
}

/* dst = round(src + bias[i % cols]); bias may be NULL. src may equal dst. */
__global__ void round_bias_k(float *dst, const float *src, const float *bias, size_t n,
                             size_t cols, int dt, cu_dstats *slot)
{
    cu_lstats l;
    cu_lstats_init(&l);
    GRID_STRIDE(i, n)
    {
        float x = src[i];
        if (bias) x += bias[i % cols];
        float r = cu_round(x, dt);
        if (slot) cu_lstats_add(&l, x, r);
        dst[i] = r;
    }
    cu_lstats_commit(&l, slot);
}

void cu_round_bias(cuda_backend *cb, float *dst, const float *src, const float *bias,
                   size_t rows, size_t cols, dtype_t dt, cu_dstats *slot)
{
    size_t n = rows * cols;
    if (cb->failed || !n) return;
    round_bias_k<<<cu_blocks(cb, n, EW_THREADS), EW_THREADS, 0, cb->stream>>>(
        dst, src, bias, n, cols, dt, slot);
}

void cuda_cast(backend *be, float *dst, const float *src, size_t n, dtype_t dt, num_stats *st)
{
    cuda_backend *cb = cu_of(be);
    if (cb->failed || !n) return;
    cu_op(cb, "bk_cast", (long)n, dt, 0, 0);
    if (dt == DT_F32 && !st) {
        if (dst != src)
            cu_check(cb, cudaMemcpyAsync(dst, src, n * sizeof *dst, cudaMemcpyDeviceToDevice,
                                         cb->stream), "bk_cast", "n=%zu", n);
        return;
    }
    cu_round_bias(cb, dst, src, NULL, 1, n, dt, cu_stats_slot(cb, st, n));
    cu_check(cb, cudaGetLastError(), "bk_cast", "n=%zu dt=%s", n, dtype_name(dt));
}

__global__ void from_lowp_k(float *dst, const uint16_t *src, size_t n, int dt)
{
    GRID_STRIDE(i, n) dst[i] = dt == DT_F16 ? cu_f16_to_f32(src[i]) : cu_bf16_to_f32(src[i]);
}

void cuda_pack(backend *be, void *dst, const float *src, size_t n, dtype_t dt)
{
    cuda_backend *cb = cu_of(be);
    if (cb->failed || !n || (dt != DT_F16 && dt != DT_BF16)) return;
    cu_op(cb, "bk_pack", (long)n, dt, 0, 0);
    cu_to_lowp(cb, (uint16_t *)dst, src, n, dt);
    cu_check(cb, cudaGetLastError(), "bk_pack", "n=%zu dt=%s", n, dtype_name(dt));
}

void cuda_unpack(backend *be, float *dst, const void *src, size_t n, dtype_t dt)
{
    cuda_backend *cb = cu_of(be);
    if (cb->failed || !n || (dt != DT_F16 && dt != DT_BF16)) return;
    cu_op(cb, "bk_unpack", (long)n, dt, 0, 0);
    from_lowp_k<<<cu_blocks(cb, n, EW_THREADS), EW_THREADS, 0, cb->stream>>>(
        dst, (const uint16_t *)src, n, dt);
    cu_check(cb, cudaGetLastError(), "bk_unpack", "n=%zu dt=%s", n, dtype_name(dt));
}

/* Stats "as stored": before == after, so there is never overflow or underflow. */
__global__ void stats_k(const float *x, size_t n, cu_dstats *slot)
{
    cu_lstats l;
    cu_lstats_init(&l);
    GRID_STRIDE(i, n) cu_lstats_add(&l, x[i], x[i]);
    cu_lstats_commit(&l, slot);
}

void cuda_stats(backend *be, const float *x, size_t n, num_stats *st)
{
    cuda_backend *cb = cu_of(be);
    if (cb->failed || !st) return;
    cu_op(cb, "bk_stats", (long)n, 0, 0, 0);
    cu_dstats *slot = cu_stats_slot(cb, st, n);
    if (!n || !slot) return;
    stats_k<<<cu_blocks(cb, n, EW_THREADS), EW_THREADS, 0, cb->stream>>>(x, n, slot);
    cu_check(cb, cudaGetLastError(), "bk_stats", "n=%zu", n);
}

/* ---- deterministic sums: fixed blocks, fixed trees, so the result depends only on n ---- */

enum { RED_BLOCK = 4096, RED_THREADS = 256 };

__device__ double block_sum_d(double v, double *sh)
{
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    return sh[0];
}

/* Block blk (RED_BLOCK elements) of x: the same arithmetic for bk_sum(sq) and the
 * multi-tensor form, so both give bit-identical results. */
__device__ double reduce_one_block(const float *x, size_t n, size_t blk, int sq, double *sh)
{
    size_t i0 = blk * RED_BLOCK, end = min(n, i0 + RED_BLOCK);
    double s = 0.0;
    for (size_t i = i0 + threadIdx.x; i < end; i += RED_THREADS) {
        double v = (double)x[i];
        s += sq ? v * v : v;
    }
    return block_sum_d(s, sh);
}

__device__ double reduce_partials(const double *part, size_t nb, double *sh)
{
    double s = 0.0;
    for (size_t i = threadIdx.x; i < nb; i += RED_THREADS) s += part[i];
    return block_sum_d(s, sh);
}

__global__ void reduce_blocks_k(double *part, const float *x, size_t n, int sq)
{
    __shared__ double sh[RED_THREADS];
    double s = reduce_one_block(x, n, blockIdx.x, sq, sh);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

__global__ void reduce_final_k(double *out, const double *part, size_t nb)
{
    __shared__ double sh[RED_THREADS];
    double s = reduce_partials(part, nb, sh);
    if (threadIdx.x == 0) *out = s;
}

__global__ void reduce_multi_blocks_k(double *part, const cu_tlist list, int count)
{
    __shared__ double sh[RED_THREADS];
    long long b = blockIdx.x;
    int t = cu_tlist_tensor(list, count, b);
    double s = reduce_one_block(list.ptr[t], list.n[t], (size_t)(b - list.bstart[t]), 1, sh);
    if (threadIdx.x == 0) part[b] = s;
}

__global__ void reduce_multi_final_k(double *out, const double *part, const cu_tlist list)
{
    __shared__ double sh[RED_THREADS];
    int t = blockIdx.x;
    long long b0 = list.bstart[t];
    double s = reduce_partials(part + b0, (size_t)(list.bstart[t + 1] - b0), sh);
    if (threadIdx.x == 0) out[t] = s;
}

void cuda_sumsq_multi(backend *be, const float *const *x, const size_t *n, int count,
                      double *out)
{
    cuda_backend *cb = cu_of(be);
    const char *op = "bk_sumsq_multi";
    if (count <= 0) return;
    for (int i = 0; i < count; i++) out[i] = NAN;
    if (cb->failed) return;
    cu_op(cb, op, count, 0, 0, 0);
    cu_tlist list;
    long long nb = cu_tlist_upload(cb, &list, (float *const *)x, n, count, RED_BLOCK, op);
    if (nb < 0) return;
    double *part = (double *)cu_scratch(cb, CU_SCR_RED, ((size_t)nb + (size_t)count) * sizeof *part);
    if (!part) return;
    if (nb > 0)
        reduce_multi_blocks_k<<<(unsigned)nb, RED_THREADS, 0, cb->stream>>>(part + count, list,
                                                                            count);
    reduce_multi_final_k<<<count, RED_THREADS, 0, cb->stream>>>(part, part + count, list);
    if (cu_check(cb, cudaGetLastError(), op, "%d tensors, %lld blocks", count, nb) ||
        cu_check(cb, cudaMemcpyAsync(out, part, (size_t)count * sizeof *out,
                                     cudaMemcpyDeviceToHost, cb->stream),
                 op, "%d tensors", count) ||
        cu_sync(cb, op))
        for (int i = 0; i < count; i++) out[i] = NAN;
}

static double reduce(cuda_backend *cb, const float *x, size_t n, int sq, const char *op)
{
    if (cb->failed) return NAN;
    if (!n) return 0.0;
    cu_op(cb, op, (long)n, 0, 0, 0);
    size_t nb = (n + RED_BLOCK - 1) / RED_BLOCK;
    double *part = (double *)cu_scratch(cb, CU_SCR_RED, (nb + 1) * sizeof *part);
    if (!part) return NAN;
    reduce_blocks_k<<<(unsigned)nb, RED_THREADS, 0, cb->stream>>>(part + 1, x, n, sq);
    reduce_final_k<<<1, RED_THREADS, 0, cb->stream>>>(part, part + 1, nb);
    double *h = (double *)cb->pinned;
    if (cu_check(cb, cudaGetLastError(), op, "n=%zu", n) ||
        cu_check(cb, cudaMemcpyAsync(h, part, sizeof *h, cudaMemcpyDeviceToHost, cb->stream),
                 op, "n=%zu", n) ||
        cu_sync(cb, op))
        return NAN;
    return *h;
}

double cuda_sum(backend *be, const float *x, size_t n) { return reduce(cu_of(be), x, n, 0, "bk_sum"); }
double cuda_sumsq(backend *be, const float *x, size_t n)
{
    return reduce(cu_of(be), x, n, 1, "bk_sumsq");
}

__global__ void scale_k(float *x, size_t n, float s) { GRID_STRIDE(i, n) x[i] *= s; }

void cuda_scale(backend *be, float *x, size_t n, float s)
{
    cuda_backend *cb = cu_of(be);
    if (cb->failed || !n) return;
    cu_op(cb, "bk_scale", (long)n, 0, 0, 0);
    scale_k<<<cu_blocks(cb, n, EW_THREADS), EW_THREADS, 0, cb->stream>>>(x, n, s);
    cu_check(cb, cudaGetLastError(), "bk_scale", "n=%zu", n);
}

/* ---- GELU: opmath.h's expressions with CUDA's tanhf (-fmad=false keeps them unfused) ---- */

__device__ __forceinline__ float gelu_fwd1(float x)
{
    return gelu_from_tanh(x, tanhf(gelu_arg(x)));
}

__device__ __forceinline__ float gelu_bwd1(float x)
{
    return gelu_grad_from_tanh(x, tanhf(gelu_arg(x)));
}

__global__ void gelu_fwd_k(float *out, const float *inp, size_t n, int dt, cu_dstats *slot)
{
    cu_lstats l;
    cu_lstats_init(&l);
    GRID_STRIDE(i, n)
    {
        float y = gelu_fwd1(inp[i]), r = cu_round(y, dt);
        if (slot) cu_lstats_add(&l, y, r);
        out[i] = r;
    }
    cu_lstats_commit(&l, slot);
}

__global__ void gelu_bwd_k(float *dinp, const float *inp, const float *dout, size_t n, int dt,
                           cu_dstats *slot)
{
    cu_lstats l;
    cu_lstats_init(&l);
    GRID_STRIDE(i, n)
    {
        float y = gelu_bwd1(inp[i]) * dout[i], r = cu_round(y, dt);
        if (slot) cu_lstats_add(&l, y, r);
        dinp[i] = r;
    }
    cu_lstats_commit(&l, slot);
}

void cuda_gelu_forward(backend *be, float *out, const float *inp, size_t n, dtype_t dt,
                       num_stats *st)
{
    cuda_backend *cb = cu_of(be);
    if (cb->failed || !n) return;
    cu_op(cb, "bk_gelu_forward", (long)n, dt, 0, 0);
    gelu_fwd_k<<<cu_blocks(cb, n, EW_THREADS), EW_THREADS, 0, cb->stream>>>(
        out, inp, n, dt, cu_stats_slot(cb, st, n));
    cu_check(cb, cudaGetLastError(), "bk_gelu_forward", "n=%zu dt=%s", n, dtype_name(dt));
}

void cuda_gelu_backward(backend *be, float *dinp, const float *inp, const float *dout, size_t n,
                        dtype_t dt, num_stats *st)
{
    cuda_backend *cb = cu_of(be);
    if (cb->failed || !n) return;
    cu_op(cb, "bk_gelu_backward", (long)n, dt, 0, 0);
    gelu_bwd_k<<<cu_blocks(cb, n, EW_THREADS), EW_THREADS, 0, cb->stream>>>(
        dinp, inp, dout, n, dt, cu_stats_slot(cb, st, n));
    cu_check(cb, cudaGetLastError(), "bk_gelu_backward", "n=%zu dt=%s", n, dtype_name(dt));
}

__global__ void residual_k(float *out, const float *a, const float *b, size_t n)
{
    GRID_STRIDE(i, n) out[i] = a[i] + b[i];
}

__global__ void add_k(float *acc, const float *x, size_t n) { GRID_STRIDE(i, n) acc[i] += x[i]; }

void cuda_residual_forward(backend *be, float *out, const float *a, const float *b, size_t n)
{
    cuda_backend *cb = cu_of(be);
    if (cb->failed || !n) return;
    cu_op(cb, "bk_residual_forward", (long)n, 0, 0, 0);
    residual_k<<<cu_blocks(cb, n, EW_THREADS), EW_THREADS, 0, cb->stream>>>(out, a, b, n);
    cu_check(cb, cudaGetLastError(), "bk_residual_forward", "n=%zu", n);
}

void cuda_add_inplace(backend *be, float *acc, const float *x, size_t n)
{
    cuda_backend *cb = cu_of(be);
    if (cb->failed || !n) return;
    cu_op(cb, "bk_add_inplace", (long)n, 0, 0, 0);
    add_k<<<cu_blocks(cb, n, EW_THREADS), EW_THREADS, 0, cb->stream>>>(acc, x, n);
    cu_check(cb, cudaGetLastError(), "bk_add_inplace", "n=%zu", n);
}
