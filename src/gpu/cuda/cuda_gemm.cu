/* cuda_gemm.cu — GEMMs on tensor cores: fp16 / bf16 operands (or fp32), CUBLAS_COMPUTE_32F
 * accumulation, fp32 result, then one epilogue (bias, round to the output dtype, stats). */
#include "cuda_backend.h"
#include "cuda_numerics.cuh"

static cudaDataType_t cu_type(dtype_t dt)
{
    return dt == DT_F16 ? CUDA_R_16F : dt == DT_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

/* Row-major C(M,N) = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: cuBLAS gets B first.
 * lda / ldb are the row-major leading dimensions of A and B as stored. */
int cu_gemm_raw(cuda_backend *cb, const char *op, float *C, long ldc, long strideC,
                const void *A, long lda, long strideA, int transA, const void *B, long ldb,
                long strideB, int transB, dtype_t dt, int M, int N, int K, float alpha,
                float beta, int batch)
{
    if (cb->failed) return -1;
    cudaDataType_t t = cu_type(dt);
    cublasStatus_t s = cublasGemmStridedBatchedEx(
        cb->blas, transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N, N, M,
        K, &alpha, B, t, (int)ldb, strideB, A, t, (int)lda, strideA, &beta, C, CUDA_R_32F,
        (int)ldc, strideC, batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    return cu_check_blas(cb, s, op, "M=%d N=%d K=%d batch=%d %s%s %s", M, N, K, batch,
                         transA ? "A^T" : "A", transB ? "B^T" : "B", dtype_name(dt));
}

/* An operand as the GEMM reads it: 16-bit bits in scratch for a low dtype, else x itself. */
static const void *operand(cuda_backend *cb, cu_scratch_slot slot, const float *x, size_t n,
                           dtype_t dt)
{
    if (dt == DT_F32) return x;
    uint16_t *h = (uint16_t *)cu_scratch(cb, slot, n * sizeof *h);
    if (h) cu_to_lowp(cb, h, x, n, dt);
    return h;
}

/* Mixed operand dtypes (e.g. fp16 x bf16) have no tensor-core GEMM: round each to its dtype
 * in fp32 scratch and multiply in fp32, which is the reference's definition. */
static const float *rounded_f32(cuda_backend *cb, cu_scratch_slot slot, const float *x,
                                size_t n, dtype_t dt)
{
    if (dt == DT_F32) return x;
    float *r = (float *)cu_scratch(cb, slot, n * sizeof *r);
    if (r) cu_round_bias(cb, r, x, NULL, 1, n, dt, NULL);
    return r;
}

/* A(na) and B(nb) as one GEMM reads them, in the dtype it returns: 16-bit operands of their
 * common dtype (tensor cores), else each rounded to its dtype and multiplied in fp32. */
static dtype_t gemm_operands(cuda_backend *cb, const float *A, size_t na, dtype_t dta,
                             const float *B, size_t nb, dtype_t dtb, const void **a,
                             const void **b)
{
    if (dta == dtb) {
        *a = operand(cb, CU_SCR_A, A, na, dta);
        *b = operand(cb, CU_SCR_B, B, nb, dtb);
        return dta;
    }
    *a = rounded_f32(cb, CU_SCR_A, A, na, dta);
    *b = rounded_f32(cb, CU_SCR_B, B, nb, dtb);
    return DT_F32;
}

void cuda_gemm(backend *be, float *C, dtype_t dtc, const float *A, dtype_t dta, int transA,
               const float *B, dtype_t dtb, int transB, int M, int N, int K, float alpha,
               int accumulate, num_stats *st)
{
    cuda_backend *cb = cu_of(be);
    if (cb->failed || M <= 0 || N <= 0) return;
    cu_op(cb, "bk_gemm", M, N, K, dtc);
    float beta = accumulate ? 1.0f : 0.0f;
    if (K <= 0) {
        if (!accumulate) cudaMemsetAsync(C, 0, (size_t)M * N * sizeof *C, cb->stream);
    } else {
        const void *a, *b;
        dtype_t dt = gemm_operands(cb, A, (size_t)M * K, dta, B, (size_t)K * N, dtb, &a, &b);
        if (!a || !b ||
            cu_gemm_raw(cb, "bk_gemm", C, N, 0, a, transA ? M : K, 0, transA, b,
                        transB ? K : N, 0, transB, dt, M, N, K, alpha, beta, 1))
            return;
    }
    if (dtc != DT_F32 || st)
        cu_round_bias(cb, C, C, NULL, (size_t)M, (size_t)N, dtc,
                      cu_stats_slot(cb, st, (size_t)M * N));
    cu_check(cb, cudaGetLastError(), "bk_gemm", "M=%d N=%d K=%d", M, N, K);
}

void cuda_matmul_forward(backend *be, float *out, const float *inp, const float *w,
                         const float *b, int N, int C, int OC, int w_trans, dtype_t dt_in,
                         dtype_t dt_w, dtype_t dt_out, num_stats *st)
{
    cuda_backend *cb = cu_of(be);
    if (cb->failed || N <= 0 || OC <= 0) return;
    cu_op(cb, "bk_matmul_forward", N, C, OC, dt_out);
    const void *x, *y;
    dtype_t dt = gemm_operands(cb, inp, (size_t)N * C, dt_in, w, (size_t)C * OC, dt_w, &x, &y);
    if (!x || !y ||
        cu_gemm_raw(cb, "bk_matmul_forward", out, OC, 0, x, C, 0, 0, y, w_trans ? C : OC, 0,
                    w_trans, dt, N, OC, C, 1.0f, 0.0f, 1))
        return;
    /* the bias joins the fp32 accumulator before the single rounding */
    if (dt_out != DT_F32 || b || st)
        cu_round_bias(cb, out, out, b, (size_t)N, (size_t)OC, dt_out,
                      cu_stats_slot(cb, st, (size_t)N * OC));
    cu_check(cb, cudaGetLastError(), "bk_matmul_forward", "N=%d C=%d OC=%d", N, C, OC);
}

/* dw(n) += round_g(g(n)), stats of the rounding into slot. */
__global__ void grad_round_add_k(float *dw, const float *g, size_t n, int dt, cu_dstats *slot)
{
    cu_lstats l;
    cu_lstats_init(&l);
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float x = g[i], r = cu_round(x, dt);
        if (slot) cu_lstats_add(&l, x, r);
        dw[i] += r;
    }
    cu_lstats_commit(&l, slot);
}

enum { DB_ROWS = 256 }; /* rows per partial column sum */

/* part[chunk][j] = sum of dout rows in the chunk, fp32 in row order. */
__global__ void bias_partial_k(float *part, const float *dout, int N, int OC)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x, chunk = blockIdx.y;
    if (j >= OC) return;
    int r0 = chunk * DB_ROWS, r1 = min(N, r0 + DB_ROWS);
    float s = 0.0f;
    for (int r = r0; r < r1; r++) s += dout[(size_t)r * OC + j];
    part[(size_t)chunk * OC + j] = s;
}

/* db[j] += round_g(sum of the partials in chunk order). */
__global__ void bias_finish_k(float *db, const float *part, int nchunks, int OC, int dt,
                              cu_dstats *slot)
{
    cu_lstats l;
    cu_lstats_init(&l);
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j < OC) {
        float s = 0.0f;
        for (int c = 0; c < nchunks; c++) s += part[(size_t)c * OC + j];
        float r = cu_round(s, dt);
        if (slot) cu_lstats_add(&l, s, r);
        db[j] += r;
    }
    cu_lstats_commit(&l, slot);
}

/* column sums of dout as stored in dt_g: dout is already representable (it was cast to dt_g
 * by its producer), so summing the fp32 buffer equals summing the operand */
void cu_bias_grad(cuda_backend *cb, const char *op, float *db, const float *dout, int N, int OC,
                  dtype_t dt_g, num_stats *st)
{
    if (cb->failed || N <= 0 || OC <= 0) return;
    int nchunks = (N + DB_ROWS - 1) / DB_ROWS;
    float *part = (float *)cu_scratch(cb, CU_SCR_RED, (size_t)nchunks * OC * sizeof *part);
    if (!part) return;
    const float *dr = dout;
    if (dt_g != DT_F32) { /* the reference rounds dout first: same here, in fp32 scratch */
        float *r = (float *)cu_scratch(cb, CU_SCR_OUT, (size_t)N * OC * sizeof *r);
        if (!r) return;
        cu_round_bias(cb, r, dout, NULL, 1, (size_t)N * OC, dt_g, NULL);
        dr = r;
    }
    dim3 grid((unsigned)((OC + 127) / 128), (unsigned)nchunks);
    bias_partial_k<<<grid, 128, 0, cb->stream>>>(part, dr, N, OC);
    bias_finish_k<<<(OC + 127) / 128, 128, 0, cb->stream>>>(db, part, nchunks, OC, dt_g,
                                                             cu_stats_slot(cb, st, (size_t)OC));
    cu_check(cb, cudaGetLastError(), op, "bias gradient N=%d OC=%d", N, OC);
}

void cuda_matmul_backward(backend *be, float *dinp, float *dw, float *db, const float *dout,
                          const float *inp, const float *w, int N, int C, int OC, int w_trans,
                          dtype_t dt_g, num_stats *st_dinp, num_stats *st_dw)
{
    cuda_backend *cb = cu_of(be);
    if (cb->failed || N <= 0) return;
    const char *op = "bk_matmul_backward";
    cu_op(cb, op, N, C, OC, dt_g);
    /* every operand in dt_g (tensor-core style), a no-op for inputs already stored in it */
    const void *d = dinp || dw ? operand(cb, CU_SCR_A, dout, (size_t)N * OC, dt_g) : dout;
    if (!d) return;
    if (dinp) {
        const void *wr = operand(cb, CU_SCR_B, w, (size_t)C * OC, dt_g);
        if (!wr) return;
        /* dinp(N,C) = dout(N,OC) @ w^T: w (C,OC) is op(B) transposed; w (OC,C) is op(B) */
        if (cu_gemm_raw(cb, op, dinp, C, 0, d, OC, 0, 0, wr, w_trans ? C : OC, 0, !w_trans,
                        dt_g, N, C, OC, 1.0f, 0.0f, 1))
            return;
        if (dt_g != DT_F32 || st_dinp)
            cu_round_bias(cb, dinp, dinp, NULL, (size_t)N, (size_t)C, dt_g,
                          cu_stats_slot(cb, st_dinp, (size_t)N * C));
    }
    if (dw) {
        const void *x = operand(cb, CU_SCR_C, inp, (size_t)N * C, dt_g);
        float *g = (float *)cu_scratch(cb, CU_SCR_OUT, (size_t)C * OC * sizeof *g);
        if (!x || !g) return;
        int rc = !w_trans ? /* g(C,OC) = inp^T @ dout */
                     cu_gemm_raw(cb, op, g, OC, 0, x, C, 0, 1, d, OC, 0, 0, dt_g, C, OC, N,
                                 1.0f, 0.0f, 1)
                          : /* g(OC,C) = dout^T @ inp */
                     cu_gemm_raw(cb, op, g, C, 0, d, OC, 0, 1, x, C, 0, 0, dt_g, OC, C, N,
                                 1.0f, 0.0f, 1);
        if (rc) return;
        size_t n = (size_t)C * OC;
        grad_round_add_k<<<cu_blocks(cb, n, 256), 256, 0, cb->stream>>>(
            dw, g, n, dt_g, cu_stats_slot(cb, st_dw, n));
    }
    if (db) cu_bias_grad(cb, op, db, dout, N, OC, dt_g, st_dw);
    cu_check(cb, cudaGetLastError(), op, "N=%d C=%d OC=%d dt_g=%s", N, C, OC,
             dtype_name(dt_g));
}
