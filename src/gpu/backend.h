/* backend.h — the one compute interface the engine calls for all math: memory, GEMMs
 * and the forward/backward op of every GPT-2 layer. CPU reference and CUDA (src/gpu/cuda). */
#ifndef MPTUI_BACKEND_H
#define MPTUI_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "numerics.h"

/*
 * Conventions
 * - Every tensor is a float buffer in backend memory (bk_alloc). Its dtype tag says which
 *   values it may hold: a DT_F16 / DT_BF16 tensor holds only values exactly representable in
 *   that format (the producing op rounds its output). A backend may store such tensors
 *   more compactly; callers only ever pass pointers they got from the backend.
 * - Row-major, shapes in comments: (B, T, C) means C is contiguous.
 * - Outputs in a low dtype are rounded once, from the fp32 accumulator (tensor-core style).
 * - `num_stats *st` arguments may be NULL; when given, the op ADDS what rounding its output
 *   did (amax, overflow, underflow, non-finite) to it. On CUDA the counts are gathered on
 *   the device and land in *st at the next synchronizing call (bk_sum, bk_sumsq, bk_unscale,
 *   bk_unscale_multi, bk_sumsq_multi, bk_amax, bk_download, bk_status; an empty one does not
 *   synchronize), so *st must stay valid until then and is read after one.
 *   bk_cpu_defer_stats makes the CPU backend deliver them the same way (tests).
 * - Weight / bias gradients are ADDED (+=) into fp32 buffers after being rounded to the
 *   gradient dtype (docs/precision.md); activation gradients named `dinp` are overwritten unless
 *   the comment says +=.
 * - Ops do not fail on the CPU. A backend that can fail (CUDA) records the first error;
 *   bk_status() reports it, so the engine checks once per step.
 */

typedef struct backend backend;

/* The largest operands one training step hands the ops, in values (0 = none): what
 * bk_workspace_bytes sizes a backend's scratch from (memory planning, docs/memory.md). */
/* A Linear's GEMM that reads its weight from the fp32 master rounded to 16 bits:
 * out(M,N) = in(M,K) @ W with W K x N values (the forward: rows, OC, IC; the input gradient:
 * rows, IC, OC). A backend rounds W whole, or one output tile at a time when its tiles split
 * W (the CPU, where that takes less: cpu_gemm.c), so the shape says what it takes. */
typedef struct {
    int M, N, K;
} bk_gemm_dims;

enum { BK_WGEMMS = 16 };

typedef struct {
    size_t gemm_a;   /* largest GEMM left operand rounded to a 16-bit dtype (inputs, dout) */
    size_t gemm_b;   /* largest right operand rounded to a 16-bit dtype other than weights */
    bk_gemm_dims wgemm[BK_WGEMMS]; /* the distinct weight-rounding GEMMs (the first n_wgemm) */
    int n_wgemm;
    size_t gemm_c;   /* largest weight-gradient input rounded to a 16-bit dtype */
    size_t wgrad;    /* largest weight gradient (C x OC), formed in fp32 before it is added */
    size_t ln_rows, ln_c; /* LayerNorm backward rows and width */
    size_t reduce;   /* largest tensor reduced (bk_sum, bk_sumsq) */
    size_t fp8;      /* largest operand or result of an FP8 Linear (bk_fp8_matmul_*): the max
                      * of N*C, C*OC and N*OC over them; 0: no FP8 GEMM */
    int att_B, att_T, att_C, att_NH; /* attention's shape (bk_attention_workspace); 0: none */
} bk_workspace_req;

typedef enum { BK_CPU = 0, BK_CUDA = 1 } bk_kind;

/* nthreads <= 0: all cores. Returns NULL and fills err when the backend cannot start. */
backend *bk_create(bk_kind kind, int nthreads, char *err, size_t errlen);
void bk_destroy(backend *be);
/* The OPENBLAS_CORETYPE worth forcing when OpenBLAS did not recognise this CPU and fell
 * back to its generic Prescott (SSE3) kernels although the CPU has AVX2 / AVX-512, else
 * NULL. OpenBLAS reads the variable only when it is loaded, so a program must set it and
 * re-execute itself (main.c does); 2.2x faster training on such CPUs (VMs, new models). */
const char *bk_cpu_blas_coretype_hint(void);
/* Testing aid emulating CUDA's stats delivery on the CPU backend (docs/cuda.md, "Stats
 * delivery"): on, the counts an op owes a caller's num_stats are held by the backend and
 * land only at the next synchronizing call (above); off (the default), at once. Values and
 * bits are the same either way. Switching lands what is held; no-op on other backends. */
void bk_cpu_defer_stats(backend *be, int on);
bk_kind bk_get_kind(const backend *be);
/* 1 when the host may read the backend's memory in place through the pointers bk_alloc gave
 * (the CPU backend: its memory is the host's), so a writer needs no bk_download copy; else 0. */
int bk_host_readable(const backend *be);

/*
 * The ops, each listed once: OP(ret, name, (parameters), (arguments)) declares
 * `ret bk_name(parameters)` below, the `name` slot of every backend's ops table
 * (backend_impl.h), its forwarder (backend.c) and each backend's `cpu_name` / `cuda_name`.
 * OPV is the same for an op that returns void (its forwarder has no `return`).
 * Adding an op: one entry here, then its function in each backend.
 */
#define BK_OPS(OP, OPV)                                                                      \
    /* Human description for headers and logs, e.g. "cpu (2 threads, openblas)". */          \
    OP(const char *, describe, (const backend *be), (be))                                    \
    /* 0 when no op has failed since creation; else -1 and the first error message. */        \
    OP(int, status, (const backend *be, char *err, size_t errlen), (be, err, errlen))        \
                                                                                             \
    /* ---- memory ---- */                                                                   \
    /* Zeroed, 64-byte aligned; NULL on failure. The backend owns the block: bk_free returns  \
     * it, and bk_destroy frees every block still allocated. */                              \
    OP(void *, alloc, (backend *be, size_t bytes), (be, bytes))                              \
    OPV(void, free, (backend *be, void *p), (be, p))                                         \
    OPV(void, zero, (backend *be, void *p, size_t bytes), (be, p, bytes))                    \
    OPV(void, upload, (backend *be, void *dst, const void *host_src, size_t bytes),          \
        (be, dst, host_src, bytes))                                                          \
    OPV(void, download, (backend *be, void *host_dst, const void *src, size_t bytes),        \
        (be, host_dst, src, bytes))                                                          \
    OPV(void, copy, (backend *be, void *dst, const void *src, size_t bytes),                 \
        (be, dst, src, bytes))                                                               \
    /* Bytes this backend can still allocate (CPU: MemAvailable; CUDA: free device bytes) */ \
    OP(size_t, mem_available, (const backend *be), (be))                                     \
    /* Bytes of scratch the ops take for a step of operands up to r (docs/memory.md) */      \
    OP(size_t, workspace_bytes, (const backend *be, const bk_workspace_req *r), (be, r))     \
                                                                                             \
    /* ---- casts and reductions ---- */                                                     \
    /* dst = round_dt(src), n floats; dst may equal src. */                                  \
    OPV(void, cast,                                                                          \
        (backend *be, float *dst, const float *src, size_t n, dtype_t dt, num_stats *st),    \
        (be, dst, src, n, dt, st))                                                           \
    /* 16-bit storage (docs/memory.md, "Activations stored in 16 bits"): dst holds n values \
     * of 2 bytes, the bits of dt (fp16 or bf16), of src rounded to nearest even (exact for \
     * values already in dt, the only ones the engine packs). */                             \
    OPV(void, pack, (backend *be, void *dst, const float *src, size_t n, dtype_t dt),         \
        (be, dst, src, n, dt))                                                               \
    /* dst (n floats) = the values of n 2-byte dt values at src: exact. */                    \
    OPV(void, unpack, (backend *be, float *dst, const void *src, size_t n, dtype_t dt),       \
        (be, dst, src, n, dt))                                                               \
    /* Statistics of a tensor as stored (amax, amin_nz, non-finite), no rounding. */          \
    OPV(void, stats, (backend *be, const float *x, size_t n, num_stats *st), (be, x, n, st)) \
    OP(double, sum, (backend *be, const float *x, size_t n), (be, x, n))                     \
    OP(double, sumsq, (backend *be, const float *x, size_t n), (be, x, n))                   \
    /* x *= s, in fp32. */                                                                   \
    OPV(void, scale, (backend *be, float *x, size_t n, float s), (be, x, n, s))              \
                                                                                             \
    /* ---- GEMM ----                                                                         \
     * C(M,N) = alpha * op(A)(M,K) @ op(B)(K,N) (+ C when accumulate), fp32 accumulation,     \
     * the result rounded to dtc. A is (M,K) or, with transA, stored (K,M); B is (K,N) or     \
     * (N,K). Inputs are rounded to their dtypes first (so an fp16 input above 65504          \
     * becomes Inf). */                                                                      \
    OPV(void, gemm,                                                                          \
        (backend *be, float *C, dtype_t dtc, const float *A, dtype_t dta, int transA,        \
         const float *B, dtype_t dtb, int transB, int M, int N, int K, float alpha,          \
         int accumulate, num_stats *st),                                                     \
        (be, C, dtc, A, dta, transA, B, dtb, transB, M, N, K, alpha, accumulate, st))        \
                                                                                             \
    /* ---- encoder: token + position embedding, fp32 ---- */                                \
    /* out (B,T,C) */                                                                        \
    OPV(void, encoder_forward,                                                               \
        (backend *be, float *out, const int32_t *tokens, const float *wte, const float *wpe, \
         int B, int T, int C),                                                               \
        (be, out, tokens, wte, wpe, B, T, C))                                                \
    /* dwte, dwpe += */                                                                      \
    OPV(void, encoder_backward,                                                              \
        (backend *be, float *dwte, float *dwpe, const float *dout, const int32_t *tokens,    \
         int B, int T, int C),                                                               \
        (be, dwte, dwpe, dout, tokens, B, T, C))                                             \
                                                                                             \
    /* ---- LayerNorm: fp32 statistics and math, output rounded to dt_out ---- */            \
    /* inp, out (N,C); mean, rstd (N) */                                                     \
    OPV(void, layernorm_forward,                                                             \
        (backend *be, float *out, float *mean, float *rstd, const float *inp,                \
         const float *w, const float *b, int N, int C, dtype_t dt_out, num_stats *st),       \
        (be, out, mean, rstd, inp, w, b, N, C, dt_out, st))                                  \
    /* dinp += (fp32, into the residual gradient); dw, db += (fp32). */                      \
    OPV(void, layernorm_backward,                                                            \
        (backend *be, float *dinp, float *dw, float *db, const float *dout,                  \
         const float *inp, const float *w, const float *mean, const float *rstd, int N,      \
         int C),                                                                             \
        (be, dinp, dw, db, dout, inp, w, mean, rstd, N, C))                                  \
                                                                                             \
    /* ---- Linear, Conv1D layout: out(N,OC) = inp(N,C) @ w(C,OC) + b(OC) ----               \
     * With w_trans the weight is stored (OC,C) (nn.Linear / tied lm_head). b may be NULL.    \
     * The bias is added to the fp32 accumulator before the single rounding to dt_out. */    \
    OPV(void, matmul_forward,                                                                \
        (backend *be, float *out, const float *inp, const float *w, const float *b, int N,   \
         int C, int OC, int w_trans, dtype_t dt_in, dtype_t dt_w, dtype_t dt_out,            \
         num_stats *st),                                                                     \
        (be, out, inp, w, b, N, C, OC, w_trans, dt_in, dt_w, dt_out, st))                    \
    /* dinp(N,C) = round_g(dout @ w^T) (overwritten; skipped when dinp is NULL);              \
     * dw += round_g(inp^T @ dout) in w's layout; db += round_g(sum over N of dout) (db may   \
     * be NULL). st_dinp / st_dw collect the rounding of dinp and of the weight gradient. */ \
    OPV(void, matmul_backward,                                                               \
        (backend *be, float *dinp, float *dw, float *db, const float *dout,                  \
         const float *inp, const float *w, int N, int C, int OC, int w_trans, dtype_t dt_g,  \
         num_stats *st_dinp, num_stats *st_dw),                                              \
        (be, dinp, dw, db, dout, inp, w, N, C, OC, w_trans, dt_g, st_dinp, st_dw))           \
                                                                                             \
    /* ---- FP8 Linear (docs/fp8.md): the model casts, these ops multiply ----             \
     * num_fp8_quantize on the backend: dst = fp8(src * scale) as fp32 values, counted. */    \
    OPV(void, fp8_quantize,                                                                  \
        (backend *be, float *dst, const float *src, size_t n, fp8_format f, float scale,     \
         num_stats *st),                                                                     \
        (be, dst, src, n, f, scale, st))                                                     \
    /* num_mx_quantize on the backend: (rows, cols), blocks of MX_BLOCK along `along`. */      \
    OPV(void, mx_quantize,                                                                   \
        (backend *be, float *dst, const float *src, int rows, int cols, int along,           \
         fp8_format f, num_stats *st),                                                       \
        (be, dst, src, rows, cols, along, f, st))                                            \
    /* Largest finite |x| (0 for none), synchronizing: current scaling's amax. */             \
    OP(float, amax, (backend *be, const float *x, size_t n), (be, x, n))                      \
    /* out(N,OC) = round_dt_out(alpha * (inq @ wq) + b): inq (N,C) and wq ((C,OC), or (OC,C) \
     * with w_trans) hold fp8 values of formats f_in / f_w in the scaled domain               \
     * (bk_fp8_quantize), or dequantized fp32 values (FP8_DEQUANTIZED, alpha 1: MXFP8). fp32  \
     * accumulation; alpha = 1 / (scale_in scale_w) and the bias join the accumulator before  \
     * the one rounding, as cuBLASLt's FP8 GEMM with scale pointers and a bias epilogue. */   \
    OPV(void, fp8_matmul_forward,                                                            \
        (backend *be, float *out, const float *inq, int f_in, const float *wq, int f_w,      \
         const float *b, int N, int C, int OC, int w_trans, float alpha, dtype_t dt_out,     \
         num_stats *st),                                                                     \
        (be, out, inq, f_in, wq, f_w, b, N, C, OC, w_trans, alpha, dt_out, st))              \
    /* dinp(N,C) = round_g(alpha_dinp * doutq @ wq^T); dw += round_g(alpha_dw * inq^T @     \
     * doutq) in w's layout; db += round_g(column sums of dout), the unquantized gradient (as \
     * Transformer Engine's fused cast + dbias). Each of dinp, dw, db may be NULL: that part  \
     * is skipped (MXFP8 quantizes dout along OC for dinp and along N for dw: two calls).      \
     * Operands as in fp8_matmul_forward: doutq in f_g, inq in f_in, wq in f_w; dout is read \
     * for db only (NULL without it), inq for dw only, wq for dinp only. */                  \
    OPV(void, fp8_matmul_backward,                                                           \
        (backend *be, float *dinp, float *dw, float *db, const float *dout,                  \
         const float *doutq, int f_g, const float *inq, int f_in, const float *wq, int f_w,  \
         int N, int C, int OC, int w_trans, float alpha_dinp, float alpha_dw, dtype_t dt_g,  \
         num_stats *st_dinp, num_stats *st_dw),                                              \
        (be, dinp, dw, db, dout, doutq, f_g, inq, f_in, wq, f_w, N, C, OC, w_trans,           \
         alpha_dinp, alpha_dw, dt_g, st_dinp, st_dw))                                        \
                                                                                             \
    /* ---- causal self-attention (docs/precision.md), never a (T,T) tensor ----              \
     * qkv (B,T,3C) in dt -> out (B,T,C) in dt. Per head: scores = round_dt(QK^T / sqrt(hd)), \
     * causal mask, softmax in fp32, AV with the probabilities rounded to dt. rowstats        \
     * (B,NH,T,2) fp32: each query row's softmax max and 1/sum, from which the backward       \
     * recomputes the forward's probabilities bit for bit. */                                 \
    OPV(void, attention_forward,                                                             \
        (backend *be, float *out, float *rowstats, const float *qkv, int B, int T, int C,    \
         int NH, dtype_t dt, num_stats *st),                                                 \
        (be, out, rowstats, qkv, B, T, C, NH, dt, st))                                       \
    /* dqkv (B,T,3C) overwritten, rounded to dt; rowstats from attention_forward. */          \
    OPV(void, attention_backward,                                                            \
        (backend *be, float *dqkv, const float *dout, const float *qkv,                      \
         const float *rowstats, int B, int T, int C, int NH, dtype_t dt, num_stats *st),     \
        (be, dqkv, dout, qkv, rowstats, B, T, C, NH, dt, st))                                \
    /* Bytes of backend-owned scratch the two attention ops use at this shape (a memory       \
     * budget adds it): CPU nthreads x (2 min(T,64) T + 2 T hd) floats, rounded up to 16;    \
     * docs/cuda.md "Attention". 0 for an empty shape. */                                    \
    OP(size_t, attention_workspace, (const backend *be, int B, int T, int C, int NH),        \
       (be, B, T, C, NH))                                                                    \
                                                                                             \
    /* ---- GELU (tanh approximation), computed in fp32, stored in dt; out may be inp ---- */ \
    OPV(void, gelu_forward,                                                                  \
        (backend *be, float *out, const float *inp, size_t n, dtype_t dt, num_stats *st),    \
        (be, out, inp, n, dt, st))                                                           \
    /* dinp = round_dt(gelu'(inp) * dout); dinp may be dout (elementwise, in place) */       \
    OPV(void, gelu_backward,                                                                 \
        (backend *be, float *dinp, const float *inp, const float *dout, size_t n,            \
         dtype_t dt, num_stats *st),                                                         \
        (be, dinp, inp, dout, n, dt, st))                                                    \
                                                                                             \
    /* ---- residual: out = a + b in fp32 (b may hold low-precision values) ---- */          \
    OPV(void, residual_forward,                                                              \
        (backend *be, float *out, const float *a, const float *b, size_t n),                 \
        (be, out, a, b, n))                                                                  \
    /* acc += x, fp32 (gradient of a residual branch flowing back into the stream). */       \
    OPV(void, add_inplace, (backend *be, float *acc, const float *x, size_t n),              \
        (be, acc, x, n))                                                                     \
                                                                                             \
    /* ---- cross-entropy from logits (N,V), in fp32 ---- */                                 \
    /* losses (N) */                                                                         \
    OPV(void, crossentropy_forward,                                                          \
        (backend *be, float *losses, const float *logits, const int32_t *targets, int N,     \
         int V),                                                                             \
        (be, losses, logits, targets, N, V))                                                 \
    /* dlogits(N,V) = round_dt(dloss * (softmax(logits) - onehot(target))), dloss being the   \
     * gradient of the (scaled) total loss w.r.t. each position's loss; dlogits may be logits \
     * (in place: each row is read whole before it is written). */                           \
    OPV(void, crossentropy_backward,                                                         \
        (backend *be, float *dlogits, const float *logits, const int32_t *targets, int N,    \
         int V, float dloss, dtype_t dt, num_stats *st),                                     \
        (be, dlogits, logits, targets, N, V, dloss, dt, st))                                 \
                                                                                             \
    /* ---- loss scaling (docs/loss-scaling.md) ---- */                                      \
    /* g *= inv_scale in place (always, even when non-finite values are found); returns 1     \
     * when any input value was Inf or NaN, else 0                                            \
     * (torch._amp_foreach_non_finite_check_and_unscale_). */                                \
    OP(int, unscale, (backend *be, float *g, size_t n, float inv_scale), (be, g, n, inv_scale))

/*
 * Multi-tensor forms, one pass and (on CUDA) one synchronization for all tensors. A backend
 * may leave them out of its table; backend.c then loops over the single-tensor op.
 */
#define BK_OPS_OPTIONAL(OP, OPV)                                                             \
    /* bk_unscale over g[0..count) (n[i] floats each); returns the index of the first tensor  \
     * that held a non-finite value, or -1. */                                               \
    OP(int, unscale_multi,                                                                   \
       (backend *be, float *const *g, const size_t *n, int count, float inv_scale),          \
       (be, g, n, count, inv_scale))                                                         \
    /* out[i] = bk_sumsq(x[i], n[i]), bit-identical to it. */                                \
    OPV(void, sumsq_multi,                                                                   \
        (backend *be, const float *const *x, const size_t *n, int count, double *out),       \
        (be, x, n, count, out))

#define BK_DECLARE_PUBLIC(ret, name, params, args) ret bk_##name params;
BK_OPS(BK_DECLARE_PUBLIC, BK_DECLARE_PUBLIC)
BK_OPS_OPTIONAL(BK_DECLARE_PUBLIC, BK_DECLARE_PUBLIC)
#undef BK_DECLARE_PUBLIC

/* ---- optimizer (docs/optimizer.md) ---- */
/* One AdamW step on fp32 tensors, as torch.optim.AdamW: g' = g * grad_mult (clip
 * coefficient); p *= 1 - lr wd (decoupled); m = lerp(m, g', 1-b1); v = b2 v + (1-b2) g'^2;
 * p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). t counts from 1. The
 * hyper-parameters are doubles (Python floats): every scalar is formed from them in double
 * and cast to fp32 once, where PyTorch's tensor ops take it. */
void bk_adamw(backend *be, float *p, const float *g, float *m, float *v, size_t n, double lr,
              double beta1, double beta2, double eps, double weight_decay, int t,
              float grad_mult);

#endif
