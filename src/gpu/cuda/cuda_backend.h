/* cuda_backend.h — state of the CUDA backend (stream, cuBLAS handle, arena, scratch,
 * device-side stats slots, first error) and the internal entry points of its op files. */
#ifndef MPTUI_CUDA_BACKEND_H
#define MPTUI_CUDA_BACKEND_H

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "backend_impl.h"
}

/*
 * Storage: every tensor stays an fp32 array holding values rounded to its dtype, exactly as
 * on the CPU. Why: backend.h hands out float pointers that the engine slices (weight copies at
 * tensor offsets, strided q/k/v views into qkv, logits rows to download), and a dtype is a
 * property of the op, not of the buffer (the same buffer is read as fp16 by one op and fp32 by
 * the next). Keeping fp32 storage makes every pointer the engine holds mean the same thing on
 * both backends, and the numerics identical by construction: rounding kernels apply the same
 * RNE at the same points. Tensor-core GEMMs get their fp16 / bf16 operands from a conversion
 * kernel into scratch (exact: the values are already representable), then
 * cublasGemmStridedBatchedEx with CUBLAS_COMPUTE_32F writes fp32, and one epilogue kernel adds the bias and
 * rounds to the output dtype with stats. The cost is extra memory traffic (about 2 bytes per
 * operand element per GEMM), paid for exact agreement with the reference.
 */

/* Device-side num_stats accumulator. amin is stored complemented (atomicMax finds the min; 0
 * means none yet). Counts are 64-bit so a whole step fits. */
typedef struct cu_dstats {
    uint32_t amax;
    uint32_t namin;
    unsigned long long count, overflow, underflow, nonfinite;
} cu_dstats;

enum { CU_MAX_STATS = 1024 };

typedef enum {
    CU_SCR_A = 0, /* low-precision GEMM operands */
    CU_SCR_B,
    CU_SCR_C,
    CU_SCR_OUT,   /* fp32 GEMM results before rounding (weight gradients) */
    CU_SCR_RED,   /* reduction partials */
    CU_SCR_FLAG,  /* small results copied back (sums, non-finite flags) */
    CU_SCR_TOK,   /* encoder backward buckets */
    CU_SCR_LIST,  /* tensor lists of the multi-tensor ops */
    CU_SCR_LT,    /* cuBLASLt's workspace (FP8 GEMMs) */
    CU_SCR_COUNT
} cu_scratch_slot;

typedef struct cu_chunk {
    char *base;
    size_t size, used;
    long live; /* allocations handed out and not freed */
} cu_chunk;

enum { CU_MAX_CHUNKS = 256 };

/* How FP8 GEMMs run (cuda_fp8.cu, docs/cuda.md "FP8"): cuBLASLt FP8 on sm_89+ falling back to
 * the fp32 GEMM when it cannot, the fp32 GEMM only, or cuBLASLt where a failure is an error
 * (MPTUI_CUDA_FP8_GEMM=auto|fp32|cublaslt; the last two are for tests). */
typedef enum { CU_FP8_AUTO = 0, CU_FP8_FP32, CU_FP8_LT_STRICT } cu_fp8_mode;

typedef struct cuda_backend {
    backend base; /* must stay first */
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    int sm_count;
    int cc;                 /* compute capability, 10 major + minor (90: H100 / H200) */
    cu_fp8_mode fp8_mode;   /* set once at creation (cu_fp8_init) */
    int fp8_lt;             /* 1 while FP8 GEMMs may use cuBLASLt (cleared after a failure) */
    cublasLtHandle_t lt;    /* created at the first FP8 GEMM that uses it */
    char desc[160];
    char err[512];
    int failed;
    /* the op that was launched last, for errors found later at a synchronizing call */
    const char *last_op;
    long last_sz[4];
    /* arena: chunks of device memory, bump-allocated; a chunk is released when its last
     * allocation is freed (tensors are allocated once per run, so this never fragments) */
    cu_chunk chunks[CU_MAX_CHUNKS];
    int n_chunks;
    void *scr[CU_SCR_COUNT];
    size_t scr_cap[CU_SCR_COUNT];
    /* stats: slot i accumulates for host struct st_host[i]; merged at the next sync */
    cu_dstats *st_dev;
    cu_dstats *st_pinned;
    num_stats *st_host[CU_MAX_STATS];
    int n_st;
    void *pinned; /* small pinned buffer for scalar results */
    /* host copies for the encoder backward buckets */
    int32_t *tok_host;
    int *tok_order, *tok_start;
    size_t tok_cap, tok_vcap;
    void *list_host; /* staging of cu_tlist_upload */
    size_t list_cap;
} cuda_backend;

static inline cuda_backend *cu_of(backend *be) { return (cuda_backend *)be; }

/* A list of tensors on the device for the multi-tensor ops: tensor t covers global blocks
 * [bstart[t], bstart[t + 1]) of `block` elements each. */
typedef struct cu_tlist {
    float *const *ptr;
    const size_t *n;
    const long long *bstart;
} cu_tlist;

/* The tensor global block b belongs to: the last t with bstart[t] <= b (an empty tensor's
 * range is empty, so it is skipped over). */
static __device__ __forceinline__ int cu_tlist_tensor(const cu_tlist &list, int count,
                                                     long long b)
{
    int lo = 0, hi = count - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (list.bstart[mid] <= b) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

/* cuda_backend.cu */
/* The result of a CUDA runtime or cuBLAS call as text; kind is NULL on success. */
typedef struct cu_result {
    const char *kind, *name, *desc;
} cu_result;

static inline cu_result cu_runtime_result(cudaError_t e)
{
    if (e == cudaSuccess) return cu_result{NULL, NULL, NULL};
    return cu_result{"error", cudaGetErrorName(e), cudaGetErrorString(e)};
}

static inline cu_result cu_blas_result(cublasStatus_t s)
{
    if (s == CUBLAS_STATUS_SUCCESS) return cu_result{NULL, NULL, NULL};
    return cu_result{"cuBLAS error", cublasGetStatusName(s), cublasGetStatusString(s)};
}

/* Records the first error, "CUDA <kind> <name>: <desc> in <op> (<sizes>)", fmt describing
 * the sizes. Returns -1 when r is an error, else 0. */
int cu_check_result(cuda_backend *cb, cu_result r, const char *op, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define cu_check(cb, code, ...) cu_check_result((cb), cu_runtime_result(code), __VA_ARGS__)
#define cu_check_blas(cb, code, ...) cu_check_result((cb), cu_blas_result(code), __VA_ARGS__)
void cu_fail(cuda_backend *cb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Remember which op is being launched (for errors that surface at a later sync). */
void cu_op(cuda_backend *cb, const char *op, long a, long b, long c, long d);
void *cu_scratch(cuda_backend *cb, cu_scratch_slot slot, size_t bytes); /* NULL: error set */
/* Device slot for host stats st (NULL for NULL); count of elements is added here. */
cu_dstats *cu_stats_slot(cuda_backend *cb, num_stats *st, size_t count);
/* Wait for the stream, merge pending stats; returns -1 on an (async) CUDA error. */
int cu_sync(cuda_backend *cb, const char *where);
int cu_blocks(cuda_backend *cb, size_t n, int threads);
/* Copies the list to the device (scratch); returns the total block count, -1 on error. */
long long cu_tlist_upload(cuda_backend *cb, cu_tlist *list, float *const *ptr, const size_t *n,
                          int count, size_t block, const char *op);

/* cuda_elementwise.cu */
/* dst16 = bits of src (already representable in dt, or rounded here: RNE either way). */
void cu_to_lowp(cuda_backend *cb, uint16_t *dst, const float *src, size_t n, dtype_t dt);
/* dst = round_dt(src + bias[col]) for an (rows, cols) matrix, stats into slot. */
void cu_round_bias(cuda_backend *cb, float *dst, const float *src, const float *bias,
                   size_t rows, size_t cols, dtype_t dt, cu_dstats *slot);

/* cuda_fp8.cu */
/* Chooses how FP8 GEMMs run from cb->cc and MPTUI_CUDA_FP8_GEMM; 0, or -1 with err for a
 * value it does not know. */
int cu_fp8_init(cuda_backend *cb, char *err, size_t errlen);

/* cuda_gemm.cu */
/* Column-major-agnostic helper: C(M,N) fp32 row-major (ldc) = alpha op(A) op(B) + beta C,
 * A and B either fp32 (dt DT_F32) or 16-bit storage of dt. Strided batch over `batch`. */
int cu_gemm_raw(cuda_backend *cb, const char *op, float *C, long ldc, long strideC,
                const void *A, long lda, long strideA, int transA, const void *B, long ldb,
                long strideB, int transB, dtype_t dt, int M, int N, int K, float alpha,
                float beta, int batch);
/* db(OC) += round_g(column sums of dout(N,OC) rounded to dt_g), stats into st: the bias
 * gradient of bk_matmul_backward and bk_fp8_matmul_backward. */
void cu_bias_grad(cuda_backend *cb, const char *op, float *db, const float *dout, int N, int OC,
                  dtype_t dt_g, num_stats *st);

/* cuda_<name> for every op of backend_impl.h, multi-tensor forms included. Lifetime and
 * memory live in cuda_backend.cu, the rest in the file of their layer: cuda_gemm.cu (gemm,
 * matmul_*), cuda_encoder.cu, cuda_layernorm.cu, cuda_attention.cu, cuda_elementwise.cu
 * (cast, stats, sum, sumsq, sumsq_multi, scale, gelu_*, residual_forward, add_inplace),
 * cuda_fp8.cu (fp8_quantize, mx_quantize, amax, fp8_matmul_*),
 * cuda_loss.cu (crossentropy_*), cuda_optim.cu (unscale, unscale_multi, adamw). */
#define CUDA_DECLARE(ret, name, params, args) ret cuda_##name params;
BK_OPS(CUDA_DECLARE, CUDA_DECLARE)
BK_OPS_OPTIONAL(CUDA_DECLARE, CUDA_DECLARE)
BK_OPS_BACKEND(CUDA_DECLARE, CUDA_DECLARE)
#undef CUDA_DECLARE

#endif
