/* cuda_fp8.cu — FP8 on the device (docs/cuda.md, "FP8"): per-tensor and MXFP8 casts with stats,
 * amax, and FP8 Linear GEMMs (cuBLASLt FP8 on sm_89+, else fp32 GEMMs of the exact values). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_backend.h"
#include "cuda_fp8.cuh"
#include "cuda_numerics.cuh"

#define GRID_STRIDE(i, n)                                                                   \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n);                 \
         i += (size_t)gridDim.x * blockDim.x)

enum { FP8_THREADS = 256 };

/* cuBLASLt's workspace: the size the cuBLAS docs recommend for Hopper (32 MiB). */
static const size_t LT_WORKSPACE = (size_t)32 << 20;

/* ---- casts ---- */

/* x * s, except that a NaN x stays itself: the GPU's NaN arithmetic returns a canonical NaN,
 * the CPU's keeps the operand's sign and payload, which the cast keeps (sign, E5M2 bit). */
__device__ __forceinline__ float fp8_scaled(float x, float s) { return x != x ? x : x * s; }

/* num_fp8_quantize's counts for input x, scaled value y and stored value r: amax, amin_nz and
 * non-finite as any rounding; overflow = finite x whose y saturated, or whose MXFP8 value
 * passed fp32's maximum when scaled back (r Inf); underflow = nonzero x stored as zero. */
__device__ __forceinline__ void fp8_lstats_add(cu_lstats *l, float x, float y, float r, int f)
{
    cu_lstats_add(l, x, x); /* amax, amin_nz, non-finite; no overflow or underflow */
    uint32_t a = __float_as_uint(x) & 0x7fffffffu, b = __float_as_uint(r) & 0x7fffffffu;
    l->ovf += (a < 0x7f800000u) && (cu_fp8_overflows(y, f) || b == 0x7f800000u);
    l->unf += (a != 0u) & (b == 0u);
}

__global__ void fp8_quantize_k(float *dst, const float *src, size_t n, int f, float scale,
                               cu_dstats *slot)
{
    cu_lstats l;
    cu_lstats_init(&l);
    GRID_STRIDE(i, n)
    {
        float x = src[i], y = fp8_scaled(x, scale), r = cu_fp8_round(y, f);
        if (slot) fp8_lstats_add(&l, x, y, r, f);
        dst[i] = r;
    }
    cu_lstats_commit(&l, slot);
}

void cuda_fp8_quantize(backend *be, float *dst, const float *src, size_t n, fp8_format f,
                       float scale, num_stats *st)
{
    cuda_backend *cb = cu_of(be);
    const char *op = "bk_fp8_quantize";
    if (cb->failed || !n) return; /* a format other than E5M2 casts as E4M3 (numerics.h) */
    cu_op(cb, op, (long)n, f, 0, 0);
    fp8_quantize_k<<<cu_blocks(cb, n, FP8_THREADS), FP8_THREADS, 0, cb->stream>>>(
        dst, src, n, f, scale, cu_stats_slot(cb, st, n));
    cu_check(cb, cudaGetLastError(), op, "n=%zu %s scale=%g", n, num_fp8_name(f), (double)scale);
}

/* One MXFP8 element: x scaled by the block's 2^-e, cast, scaled back (exact; a NaN keeps its
 * bits, as the CPU's multiplication would). */
__device__ __forceinline__ float mx_one(cu_lstats *l, float x, int e, int f, cu_dstats *slot)
{
    float y = fp8_scaled(x, cu_pow2f(-e)), q = cu_fp8_round(y, f);
    float r = q != q ? q : q * cu_pow2f(e);
    if (slot) fp8_lstats_add(l, x, y, r, f);
    return r;
}

__device__ __forceinline__ uint32_t finite_abs_bits(float x)
{
    uint32_t a = __float_as_uint(x) & 0x7fffffffu;
    return a < 0x7f800000u ? a : 0u;
}

/* Blocks along rows (along 1): one warp per block of up to 32 contiguous values. */
__global__ void mx_rows_k(float *dst, const float *src, int rows, int cols, int f,
                          cu_dstats *slot)
{
    cu_lstats l;
    cu_lstats_init(&l);
    int lane = threadIdx.x & 31;
    long long per_row = (cols + 31) / 32, total = (long long)rows * per_row;
    long long nwarps = ((long long)gridDim.x * blockDim.x) >> 5;
    for (long long b = (blockIdx.x * (long long)blockDim.x + threadIdx.x) >> 5; b < total;
         b += nwarps) { /* uniform across the warp: every lane reaches the shuffles */
        long long r = b / per_row;
        int c = (int)(b % per_row) * 32 + lane;
        size_t i = (size_t)r * cols + c;
        float x = c < cols ? src[i] : 0.0f;
        uint32_t am = finite_abs_bits(x);
        for (int o = 16; o > 0; o >>= 1) am = max(am, __shfl_xor_sync(0xffffffffu, am, o));
        int e = cu_mx_exponent(__uint_as_float(am), f);
        if (c < cols) dst[i] = mx_one(&l, x, e, f, slot);
    }
    cu_lstats_commit(&l, slot);
}

/* Blocks down columns (along 0): one thread per block of up to 32 values of a column;
 * neighbouring threads take neighbouring columns, so every row access is coalesced. */
__global__ void mx_cols_k(float *dst, const float *src, int rows, int cols, int f,
                          cu_dstats *slot)
{
    cu_lstats l;
    cu_lstats_init(&l);
    size_t total = (size_t)((rows + 31) / 32) * (size_t)cols;
    GRID_STRIDE(t, total)
    {
        size_t c = t % (size_t)cols, r0 = t / (size_t)cols * 32;
        size_t r1 = r0 + 32 < (size_t)rows ? r0 + 32 : (size_t)rows;
        uint32_t am = 0;
        for (size_t r = r0; r < r1; r++) am = max(am, finite_abs_bits(src[r * cols + c]));
        int e = cu_mx_exponent(__uint_as_float(am), f);
        for (size_t r = r0; r < r1; r++) dst[r * cols + c] = mx_one(&l, src[r * cols + c], e, f, slot);
    }
    cu_lstats_commit(&l, slot);
}

void cuda_mx_quantize(backend *be, float *dst, const float *src, int rows, int cols, int along,
                      fp8_format f, num_stats *st)
{
    cuda_backend *cb = cu_of(be);
    const char *op = "bk_mx_quantize";
    if (cb->failed || rows <= 0 || cols <= 0) return;
    cu_op(cb, op, rows, cols, along, f);
    size_t n = (size_t)rows * cols;
    cu_dstats *slot = cu_stats_slot(cb, st, n);
    if (along) {
        size_t threads = (size_t)rows * ((cols + 31) / 32) * 32;
        mx_rows_k<<<cu_blocks(cb, threads, FP8_THREADS), FP8_THREADS, 0, cb->stream>>>(
            dst, src, rows, cols, f, slot);
    } else {
        size_t threads = (size_t)((rows + 31) / 32) * cols;
        mx_cols_k<<<cu_blocks(cb, threads, FP8_THREADS), FP8_THREADS, 0, cb->stream>>>(
            dst, src, rows, cols, f, slot);
    }
    cu_check(cb, cudaGetLastError(), op, "rows=%d cols=%d along=%d %s", rows, cols, along,
             num_fp8_name(f));
}

/* ---- amax: a max is order-free, so atomics keep it deterministic ---- */

__global__ void amax_k(uint32_t *out, const float *x, size_t n)
{
    uint32_t m = 0;
    GRID_STRIDE(i, n) m = max(m, finite_abs_bits(x[i]));
    for (int o = 16; o > 0; o >>= 1) m = max(m, __shfl_xor_sync(0xffffffffu, m, o));
    if ((threadIdx.x & 31) == 0 && m) atomicMax(out, m);
}

/* Synchronizing, like bk_sum (so pending stats land too); NaN once the backend has failed. */
float cuda_amax(backend *be, const float *x, size_t n)
{
    cuda_backend *cb = cu_of(be);
    const char *op = "bk_amax";
    if (cb->failed) return NAN;
    if (!n) return 0.0f;
    cu_op(cb, op, (long)n, 0, 0, 0);
    uint32_t *d = (uint32_t *)cu_scratch(cb, CU_SCR_FLAG, sizeof *d);
    uint32_t *h = (uint32_t *)cb->pinned;
    if (!d || cu_check(cb, cudaMemsetAsync(d, 0, sizeof *d, cb->stream), op, "n=%zu", n))
        return NAN;
    amax_k<<<cu_blocks(cb, n, FP8_THREADS), FP8_THREADS, 0, cb->stream>>>(d, x, n);
    if (cu_check(cb, cudaGetLastError(), op, "n=%zu", n) ||
        cu_check(cb, cudaMemcpyAsync(h, d, sizeof *h, cudaMemcpyDeviceToHost, cb->stream), op,
                 "n=%zu", n) ||
        cu_sync(cb, op))
        return NAN;
    return cu_fp8_float(*h);
}

/* ---- FP8 GEMMs ----
 * Every GEMM here is written Out(R,S) = alpha sum_k P(r,k) Q(s,k): P and Q are fp32 buffers of
 * fp8 values (or dequantized values), each either K-contiguous (X(i,k) = X[i ld + k]) or
 * stored the other way (X(i,k) = X[k ld + i]). */
typedef struct {
    int R, S, K;
    const float *P;
    long ldp;
    int p_kc, fp; /* P is K-contiguous; its format (FP8_DEQUANTIZED: plain fp32) */
    const float *Q;
    long ldq;
    int q_kc, fq;
    float alpha;
} fp8_gemm;

static int pad16(int x) { return (x + 15) & ~15; }

/* dst(Rp, Kp) bytes = fp8 bits of X(i,k), zero outside (R, K): the operand as cuBLASLt's TN
 * form reads it. The values are fp8 already, so the cast is exact. */
__global__ void pack_kc_k(uint8_t *dst, const float *x, long ld, int R, int K, int Kp, size_t n,
                          int f)
{
    GRID_STRIDE(t, n)
    {
        size_t i = t / (size_t)Kp, k = t % (size_t)Kp;
        dst[t] = i < (size_t)R && k < (size_t)K ? cu_f32_to_fp8(x[i * ld + k], f, 0) : 0;
    }
}

enum { TILE = 32, TILE_ROWS = 8 };

/* The same from X(i,k) = x[k ld + i]: a fused cast + transpose through a 32 x 32 tile, so the
 * reads (along i) and the writes (along k) are both coalesced. grid (ceil(Kp/32), ceil(Rp/32));
 * a tile may overhang the padded (Rp, Kp) buffer and writes only inside it. */
__global__ void pack_t_k(uint8_t *dst, const float *x, long ld, int R, int K, int Rp, int Kp,
                         int f)
{
    __shared__ uint8_t tile[TILE][TILE + 4];
    int i0 = blockIdx.y * TILE, k0 = blockIdx.x * TILE;
    for (int dy = threadIdx.y; dy < TILE; dy += TILE_ROWS) { /* row k0+dy of x, along i */
        int k = k0 + dy, i = i0 + threadIdx.x;
        tile[dy][threadIdx.x] = i < R && k < K ? cu_f32_to_fp8(x[(size_t)k * ld + i], f, 0) : 0;
    }
    __syncthreads();
    for (int dy = threadIdx.y; dy < TILE; dy += TILE_ROWS) { /* row i0+dy of dst, along k */
        int i = i0 + dy, k = k0 + threadIdx.x;
        if (i < Rp && k < Kp) dst[(size_t)i * Kp + k] = tile[threadIdx.x][dy];
    }
}

static void pack(cuda_backend *cb, uint8_t *dst, const float *x, long ld, int kc, int R, int K,
                 int f)
{
    int Rp = pad16(R), Kp = pad16(K);
    if (kc) {
        size_t n = (size_t)Rp * Kp;
        pack_kc_k<<<cu_blocks(cb, n, FP8_THREADS), FP8_THREADS, 0, cb->stream>>>(dst, x, ld, R, K,
                                                                                 Kp, n, f);
    } else {
        dim3 grid((unsigned)((Kp + TILE - 1) / TILE), (unsigned)((Rp + TILE - 1) / TILE));
        pack_t_k<<<grid, dim3(TILE, TILE_ROWS), 0, cb->stream>>>(dst, x, ld, R, K, Rp, Kp, f);
    }
}

static cudaDataType_t fp8_type(int f) { return f == FP8_E5M2 ? CUDA_R_8F_E5M2 : CUDA_R_8F_E4M3; }

/* D(Rp, Sp) fp32 row-major = alpha P Q^T through cuBLASLt FP8: column-major that is
 * D^T(Sp, Rp) = Q^T P with A = Q stored (Kp, Sp) transposed and B = P (Kp, Rp): the TN form
 * FP8 kernels require, every dimension padded to 16. Scale pointers are left unset (1.0): alpha
 * carries 1 / (scale_P scale_Q) as the contract hands it. Returns the cuBLAS status. */
static cublasStatus_t lt_matmul(cuda_backend *cb, float *D, const uint8_t *p, int fp,
                                const uint8_t *q, int fq, int Rp, int Sp, int Kp, float alpha)
{
    cublasStatus_t s = CUBLAS_STATUS_SUCCESS;
    if (!cb->lt) s = cublasLtCreate(&cb->lt);
    void *ws = s == CUBLAS_STATUS_SUCCESS ? cu_scratch(cb, CU_SCR_LT, LT_WORKSPACE) : NULL;
    if (s != CUBLAS_STATUS_SUCCESS || !ws) return s != CUBLAS_STATUS_SUCCESS ? s : CUBLAS_STATUS_ALLOC_FAILED;
    cublasLtMatmulDesc_t desc = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, ld = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    int8_t fast = 0; /* fp32 promotion of the partial sums: TE's choice for the gradients */
    size_t wsb = LT_WORKSPACE;
    cublasLtMatmulHeuristicResult_t res;
    int nres = 0;
    float beta = 0.0f;
    memset(&res, 0, sizeof res);
#define LT(call) (s == CUBLAS_STATUS_SUCCESS ? (s = (call)) : s)
    LT(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    LT(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    LT(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    LT(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast, sizeof fast));
    LT(cublasLtMatrixLayoutCreate(&la, fp8_type(fq), (uint64_t)Kp, (uint64_t)Sp, Kp));
    LT(cublasLtMatrixLayoutCreate(&lb, fp8_type(fp), (uint64_t)Kp, (uint64_t)Rp, Kp));
    LT(cublasLtMatrixLayoutCreate(&ld, CUDA_R_32F, (uint64_t)Sp, (uint64_t)Rp, Sp));
    LT(cublasLtMatmulPreferenceCreate(&pref));
    LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb,
                                            sizeof wsb));
    LT(cublasLtMatmulAlgoGetHeuristic(cb->lt, desc, la, lb, ld, ld, pref, 1, &res, &nres));
    if (s == CUBLAS_STATUS_SUCCESS && nres < 1) s = CUBLAS_STATUS_NOT_SUPPORTED;
    LT(cublasLtMatmul(cb->lt, desc, &alpha, q, la, p, lb, &beta, D, ld, D, ld, &res.algo, ws, wsb,
                      cb->stream));
#undef LT
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (ld) cublasLtMatrixLayoutDestroy(ld);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (desc) cublasLtMatmulDescDestroy(desc);
    return s;
}

/* The fp32 GEMM of the same product (the values are exact in fp32, so this is the CPU's
 * definition up to summation order): D(R,S), ld S. */
static int fp32_matmul(cuda_backend *cb, const char *op, float *D, const fp8_gemm *g)
{
    if (g->K <= 0)
        return cu_check(cb, cudaMemsetAsync(D, 0, (size_t)g->R * g->S * sizeof *D, cb->stream), op,
                        "R=%d S=%d K=0", g->R, g->S);
    /* Out = op(A) op(B) with op(A) = P (R,K) and op(B) = Q^T (K,S) */
    return cu_gemm_raw(cb, op, D, g->S, 0, g->P, g->ldp, 0, !g->p_kc, g->Q, g->ldq, 0, g->q_kc,
                       DT_F32, g->R, g->S, g->K, g->alpha, 0.0f, 1);
}

static int lt_usable(const cuda_backend *cb, const fp8_gemm *g)
{
    int fp_ok = g->fp == FP8_E4M3 || g->fp == FP8_E5M2, fq_ok = g->fq == FP8_E4M3 || g->fq == FP8_E5M2;
    /* E5M2 x E5M2 has no FP8 kernel (cuBLASLt's FP8 type table) */
    return cb->fp8_lt && fp_ok && fq_ok && !(g->fp == FP8_E5M2 && g->fq == FP8_E5M2) &&
           g->K > 0;
}

/* Out(R,S) through cuBLASLt: the packed operands in scratch A / B, D(Rp, Sp) in OUT. Returns
 * D (ld *ldd), or NULL when cuBLASLt could not run it (the caller falls back; *ldd untouched)
 * or on a recorded error. */
static float *lt_gemm(cuda_backend *cb, const char *op, const fp8_gemm *g, long *ldd)
{
    int Rp = pad16(g->R), Sp = pad16(g->S), Kp = pad16(g->K);
    uint8_t *p = (uint8_t *)cu_scratch(cb, CU_SCR_A, (size_t)Rp * Kp);
    uint8_t *q = (uint8_t *)cu_scratch(cb, CU_SCR_B, (size_t)Sp * Kp);
    float *D = (float *)cu_scratch(cb, CU_SCR_OUT, (size_t)Rp * Sp * sizeof *D);
    if (!p || !q || !D) return NULL;
    pack(cb, p, g->P, g->ldp, g->p_kc, g->R, g->K, g->fp);
    pack(cb, q, g->Q, g->ldq, g->q_kc, g->S, g->K, g->fq);
    cublasStatus_t s = lt_matmul(cb, D, p, g->fp, q, g->fq, Rp, Sp, Kp, g->alpha);
    if (s == CUBLAS_STATUS_SUCCESS) {
        *ldd = Sp;
        return D;
    }
    if (cb->fp8_mode == CU_FP8_LT_STRICT)
        cu_check_blas(cb, s, op, "cuBLASLt FP8 %s x %s, R=%d S=%d K=%d", num_fp8_name((fp8_format)g->fp),
                      num_fp8_name((fp8_format)g->fq), g->R, g->S, g->K);
    cb->fp8_lt = 0; /* the padded TN form fits every shape: a failure is not about this one */
    return NULL;
}

/* dst(R,S) = round_dt(D(r,s) + bias[s]) (accumulate: dst +=), stats of the rounding into slot:
 * cu_round_bias / grad_round_add_k's arithmetic with D's leading dimension. */
__global__ void fp8_epilogue_k(float *dst, const float *D, long ldd, const float *bias, int R,
                               int S, int dt, int accumulate, cu_dstats *slot)
{
    cu_lstats l;
    cu_lstats_init(&l);
    size_t n = (size_t)R * S;
    GRID_STRIDE(i, n)
    {
        size_t r = i / (size_t)S, s = i % (size_t)S;
        float x = D[r * ldd + s];
        if (bias) x += bias[s];
        float v = cu_round(x, dt);
        if (slot) cu_lstats_add(&l, x, v);
        dst[i] = accumulate ? dst[i] + v : v;
    }
    cu_lstats_commit(&l, slot);
}

/* dst(R,S) (=, or += with accumulate) round_dt(alpha P Q^T + bias): cuBLASLt FP8 when it can,
 * else the fp32 GEMM (straight into dst unless accumulating). */
static void fp8_linear(cuda_backend *cb, const char *op, float *dst, const fp8_gemm *g,
                       const float *bias, dtype_t dt, int accumulate, num_stats *st)
{
    long ldd = g->S;
    float *D = lt_usable(cb, g) ? lt_gemm(cb, op, g, &ldd) : NULL;
    if (cb->failed) return;
    if (!D) {
        D = accumulate ? (float *)cu_scratch(cb, CU_SCR_OUT, (size_t)g->R * g->S * sizeof *D) : dst;
        if (!D || fp32_matmul(cb, op, D, g)) return;
    }
    size_t n = (size_t)g->R * g->S;
    fp8_epilogue_k<<<cu_blocks(cb, n, FP8_THREADS), FP8_THREADS, 0, cb->stream>>>(
        dst, D, ldd, bias, g->R, g->S, dt, accumulate, cu_stats_slot(cb, st, n));
    cu_check(cb, cudaGetLastError(), op, "R=%d S=%d K=%d", g->R, g->S, g->K);
}

void cuda_fp8_matmul_forward(backend *be, float *out, const float *inq, int f_in,
                             const float *wq, int f_w, const float *b, int N, int C, int OC,
                             int w_trans, float alpha, dtype_t dt_out, num_stats *st)
{
    cuda_backend *cb = cu_of(be);
    const char *op = "bk_fp8_matmul_forward";
    if (cb->failed || N <= 0 || OC <= 0) return;
    cu_op(cb, op, N, C, OC, dt_out);
    /* out(n,oc) = sum_c inq(n,c) w(c,oc): P = inq, Q(oc,c) = w, K-contiguous when (OC,C) */
    fp8_gemm g = {N, OC, C, inq, C, 1, f_in, wq, w_trans ? C : OC, w_trans, f_w, alpha};
    fp8_linear(cb, op, out, &g, b, dt_out, 0, st);
}

void cuda_fp8_matmul_backward(backend *be, float *dinp, float *dw, float *db, const float *dout,
                              const float *doutq, int f_g, const float *inq, int f_in,
                              const float *wq, int f_w, int N, int C, int OC, int w_trans,
                              float alpha_dinp, float alpha_dw, dtype_t dt_g,
                              num_stats *st_dinp, num_stats *st_dw)
{
    cuda_backend *cb = cu_of(be);
    const char *op = "bk_fp8_matmul_backward";
    if (cb->failed || N <= 0) return;
    cu_op(cb, op, N, C, OC, dt_g);
    if (dinp && C > 0) { /* dinp(n,c) = sum_oc doutq(n,oc) w(c,oc) */
        fp8_gemm g = {N, C, OC, doutq, OC, 1, f_g, wq, w_trans ? C : OC, !w_trans, f_w,
                      alpha_dinp};
        fp8_linear(cb, op, dinp, &g, NULL, dt_g, 0, st_dinp);
    }
    if (dw && C > 0 && OC > 0) { /* dw in w's layout: sum_n of the two inputs, both along n */
        fp8_gemm gw = {C, OC, N, inq, C, 0, f_in, doutq, OC, 0, f_g, alpha_dw};
        fp8_gemm gt = {OC, C, N, doutq, OC, 0, f_g, inq, C, 0, f_in, alpha_dw};
        fp8_linear(cb, op, dw, w_trans ? &gt : &gw, NULL, dt_g, 1, st_dw);
    }
    if (db) cu_bias_grad(cb, op, db, dout, N, OC, dt_g, st_dw); /* the unquantized dout */
}

/* ---- mode ---- */

int cu_fp8_init(cuda_backend *cb, char *err, size_t errlen)
{
    const char *m = getenv("MPTUI_CUDA_FP8_GEMM");
    cb->fp8_mode = CU_FP8_AUTO;
    if (m && *m && strcmp(m, "auto")) {
        if (!strcmp(m, "fp32")) cb->fp8_mode = CU_FP8_FP32;
        else if (!strcmp(m, "cublaslt")) cb->fp8_mode = CU_FP8_LT_STRICT;
        else {
            snprintf(err, errlen, "MPTUI_CUDA_FP8_GEMM=%s: use auto, fp32 or cublaslt", m);
            return -1;
        }
    }
    /* FP8 tensor cores: Ada (sm_89), Hopper (sm_90) and newer; cublaslt asks for them even
     * below, so that a test sees the failure rather than a silent fallback */
    cb->fp8_lt = cb->fp8_mode == CU_FP8_LT_STRICT || (cb->fp8_mode == CU_FP8_AUTO && cb->cc >= 89);
    return 0;
}
