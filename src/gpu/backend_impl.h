/* backend_impl.h — the ops table behind backend.h: every backend (CPU, CUDA) fills one
 * and embeds `struct backend` as the first member of its own state. Private to src/gpu. */
#ifndef MPTUI_BACKEND_IMPL_H
#define MPTUI_BACKEND_IMPL_H

#include "backend.h"

/* The fp32 scalars of one AdamW step, formed once on the host in double from the double
 * hyper-parameters (backend.c), so every backend computes the same update:
 * p = p * decay (if wd); m = lerp(m, g, w1); v = v * b2 + ob2 * g * g;
 * p = p + nstep * (m / (sqrt(v) / bc2s + eps)). */
typedef struct {
    float decay, w1, b2, ob2, bc2s, eps, nstep;
    int wd; /* weight decay applies */
    int t;  /* the step they were formed for (diagnostics) */
} bk_adamw_scalars;

typedef struct bk_ops {
    void (*destroy)(backend *be);
    const char *(*describe)(const backend *be);
    int (*status)(const backend *be, char *err, size_t errlen);

    void *(*alloc)(backend *be, size_t bytes);
    void (*free)(backend *be, void *p);
    void (*zero)(backend *be, void *p, size_t bytes);
    void (*upload)(backend *be, void *dst, const void *host_src, size_t bytes);
    void (*download)(backend *be, void *host_dst, const void *src, size_t bytes);
    void (*copy)(backend *be, void *dst, const void *src, size_t bytes);

    void (*cast)(backend *be, float *dst, const float *src, size_t n, dtype_t dt, num_stats *st);
    void (*stats)(backend *be, const float *x, size_t n, num_stats *st);
    double (*sum)(backend *be, const float *x, size_t n);
    double (*sumsq)(backend *be, const float *x, size_t n);
    void (*scale)(backend *be, float *x, size_t n, float s);

    void (*gemm)(backend *be, float *C, dtype_t dtc, const float *A, dtype_t dta, int transA,
                 const float *B, dtype_t dtb, int transB, int M, int N, int K, float alpha,
                 int accumulate, num_stats *st);

    void (*encoder_forward)(backend *be, float *out, const int32_t *tokens, const float *wte,
                            const float *wpe, int B, int T, int C);
    void (*encoder_backward)(backend *be, float *dwte, float *dwpe, const float *dout,
                             const int32_t *tokens, int B, int T, int C);

    void (*layernorm_forward)(backend *be, float *out, float *mean, float *rstd,
                              const float *inp, const float *w, const float *b, int N, int C,
                              dtype_t dt_out, num_stats *st);
    void (*layernorm_backward)(backend *be, float *dinp, float *dw, float *db,
                               const float *dout, const float *inp, const float *w,
                               const float *mean, const float *rstd, int N, int C);

    void (*matmul_forward)(backend *be, float *out, const float *inp, const float *w,
                           const float *b, int N, int C, int OC, int w_trans, dtype_t dt_in,
                           dtype_t dt_w, dtype_t dt_out, num_stats *st);
    void (*matmul_backward)(backend *be, float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, int N, int C, int OC,
                            int w_trans, dtype_t dt_g, num_stats *st_dinp, num_stats *st_dw);

    void (*attention_forward)(backend *be, float *out, float *att, const float *qkv, int B,
                              int T, int C, int NH, dtype_t dt, num_stats *st);
    void (*attention_backward)(backend *be, float *dqkv, float *scratch, const float *dout,
                               const float *qkv, const float *att, int B, int T, int C,
                               int NH, dtype_t dt, num_stats *st);

    void (*gelu_forward)(backend *be, float *out, const float *inp, size_t n, dtype_t dt,
                         num_stats *st);
    void (*gelu_backward)(backend *be, float *dinp, const float *inp, const float *dout,
                          size_t n, dtype_t dt, num_stats *st);

    void (*residual_forward)(backend *be, float *out, const float *a, const float *b, size_t n);
    void (*add_inplace)(backend *be, float *acc, const float *x, size_t n);

    void (*crossentropy_forward)(backend *be, float *losses, const float *logits,
                                 const int32_t *targets, int N, int V);
    void (*crossentropy_backward)(backend *be, float *dlogits, const float *logits,
                                  const int32_t *targets, int N, int V, float dloss,
                                  dtype_t dt, num_stats *st);

    int (*unscale)(backend *be, float *g, size_t n, float inv_scale);
    /* optional (NULL: backend.c loops over unscale / sumsq) */
    int (*unscale_multi)(backend *be, float *const *g, const size_t *n, int count,
                         float inv_scale);
    void (*sumsq_multi)(backend *be, const float *const *x, const size_t *n, int count,
                        double *out);
    void (*adamw)(backend *be, float *p, const float *g, float *m, float *v, size_t n,
                  const bk_adamw_scalars *s, float grad_mult);
} bk_ops;

/* The common head of every backend's state. */
struct backend {
    const bk_ops *ops;
    bk_kind kind;
};

/* Constructors, each in its backend's own directory. */
backend *cpu_backend_create(int nthreads, char *err, size_t errlen);
#ifdef MPTUI_CUDA
backend *cuda_backend_create(int nthreads, char *err, size_t errlen);
#endif

#endif
