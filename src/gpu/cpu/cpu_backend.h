/* cpu_backend.h — state of the CPU reference backend (threads, scratch, first error) and
 * the internal entry points of its op files. Private to src/gpu/cpu. */
#ifndef MPTUI_CPU_BACKEND_H
#define MPTUI_CPU_BACKEND_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "backend_impl.h"

#ifdef _OPENMP
#include <omp.h>
#define CPU_TID() omp_get_thread_num()
#else
#define CPU_TID() 0
#endif

enum { CPU_MAX_THREADS = 256 };
/* Fixed-size blocks for reductions: partial results depend on the block, not the thread,
 * so sums are bit-identical run to run and for any thread count. */
enum { CPU_RED_BLOCK = 4096 };

/* Scratch slots, each grown on demand and reused (no allocation in the steady state). */
typedef enum {
    CPU_SCR_A = 0,  /* rounded GEMM inputs */
    CPU_SCR_B,
    CPU_SCR_C,
    CPU_SCR_OUT,    /* fp32 GEMM result before rounding (weight gradients) */
    CPU_SCR_ATT,    /* attention: per-thread (T,T) rounded probabilities */
    CPU_SCR_RED,    /* reduction partials */
    CPU_SCR_COUNT
} cpu_scratch_slot;

typedef struct cpu_backend {
    backend base; /* must stay first */
    int nthreads;
    char desc[96];
    char err[256];
    int failed;
    void *scr[CPU_SCR_COUNT];
    size_t scr_cap[CPU_SCR_COUNT];
    pthread_mutex_t lock;     /* guards blocks: bk_alloc may be called from any thread */
    struct cpu_block *blocks; /* live bk_alloc blocks, freed by bk_destroy */
} cpu_backend;

static inline cpu_backend *cpu_of(backend *be) { return (cpu_backend *)be; }

/* cpu_backend.c */
void *cpu_scratch(cpu_backend *cb, cpu_scratch_slot slot, size_t bytes); /* NULL: error set */
void cpu_fail(cpu_backend *cb, const char *msg);
void cpu_blas_threads(cpu_backend *cb, int n);
/* dst = round_dt(src), threaded, stats added to st (may be NULL). */
void cpu_round_par(cpu_backend *cb, float *dst, const float *src, size_t n, dtype_t dt,
                   num_stats *st);
void cpu_stats_gather(num_stats *st, const num_stats *part, int nt);

/* cpu_gemm.c */
void cpu_gemm(backend *be, float *C, dtype_t dtc, const float *A, dtype_t dta, int transA,
              const float *B, dtype_t dtb, int transB, int M, int N, int K, float alpha,
              int accumulate, num_stats *st);
void cpu_matmul_forward(backend *be, float *out, const float *inp, const float *w,
                        const float *b, int N, int C, int OC, int w_trans, dtype_t dt_in,
                        dtype_t dt_w, dtype_t dt_out, num_stats *st);
void cpu_matmul_backward(backend *be, float *dinp, float *dw, float *db, const float *dout,
                         const float *inp, const float *w, int N, int C, int OC, int w_trans,
                         dtype_t dt_g, num_stats *st_dinp, num_stats *st_dw);

/* cpu_encoder.c */
void cpu_encoder_forward(backend *be, float *out, const int32_t *tokens, const float *wte,
                         const float *wpe, int B, int T, int C);
void cpu_encoder_backward(backend *be, float *dwte, float *dwpe, const float *dout,
                          const int32_t *tokens, int B, int T, int C);

/* cpu_layernorm.c */
void cpu_layernorm_forward(backend *be, float *out, float *mean, float *rstd, const float *inp,
                           const float *w, const float *b, int N, int C, dtype_t dt_out,
                           num_stats *st);
void cpu_layernorm_backward(backend *be, float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const float *mean,
                            const float *rstd, int N, int C);

/* cpu_attention.c */
void cpu_attention_forward(backend *be, float *out, float *att, const float *qkv, int B, int T,
                           int C, int NH, dtype_t dt, num_stats *st);
void cpu_attention_backward(backend *be, float *dqkv, float *scratch, const float *dout,
                            const float *qkv, const float *att, int B, int T, int C, int NH,
                            dtype_t dt, num_stats *st);

/* cpu_elementwise.c */
void cpu_cast(backend *be, float *dst, const float *src, size_t n, dtype_t dt, num_stats *st);
void cpu_stats(backend *be, const float *x, size_t n, num_stats *st);
double cpu_sum(backend *be, const float *x, size_t n);
double cpu_sumsq(backend *be, const float *x, size_t n);
void cpu_scale(backend *be, float *x, size_t n, float s);
void cpu_gelu_forward(backend *be, float *out, const float *inp, size_t n, dtype_t dt,
                      num_stats *st);
void cpu_gelu_backward(backend *be, float *dinp, const float *inp, const float *dout, size_t n,
                       dtype_t dt, num_stats *st);
void cpu_residual_forward(backend *be, float *out, const float *a, const float *b, size_t n);
void cpu_add_inplace(backend *be, float *acc, const float *x, size_t n);

/* cpu_loss.c */
void cpu_crossentropy_forward(backend *be, float *losses, const float *logits,
                              const int32_t *targets, int N, int V);
void cpu_crossentropy_backward(backend *be, float *dlogits, const float *logits,
                               const int32_t *targets, int N, int V, float dloss, dtype_t dt,
                               num_stats *st);

/* cpu_optim.c */
int cpu_unscale(backend *be, float *g, size_t n, float inv_scale);
void cpu_adamw(backend *be, float *p, const float *g, float *m, float *v, size_t n,
               const bk_adamw_scalars *s, float grad_mult);

#endif
