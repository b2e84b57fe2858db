/* backend.c — bk_* entry points: pick a backend at creation, then forward every call
 * through its ops table (so CUDA slots in without the engine knowing). */
#include "backend.h"

#include <math.h>
#include <stdio.h>

#include "backend_impl.h"

backend *bk_create(bk_kind kind, int nthreads, char *err, size_t errlen)
{
    switch (kind) {
    case BK_CPU: return cpu_backend_create(nthreads, err, errlen);
    case BK_CUDA:
#ifdef MPTUI_CUDA
        return cuda_backend_create(nthreads, err, errlen);
#else
        if (err && errlen)
            snprintf(err, errlen, "CUDA backend not built into this binary: rebuild where nvcc "
                                  "is found (docs/cuda.md)");
        return NULL;
#endif
    }
    if (err && errlen) snprintf(err, errlen, "unknown backend kind %d (backend.c)", (int)kind);
    return NULL;
}

void bk_destroy(backend *be)
{
    if (be) be->ops->destroy(be);
}

bk_kind bk_get_kind(const backend *be) { return be->kind; }
const char *bk_describe(const backend *be) { return be->ops->describe(be); }
int bk_status(const backend *be, char *err, size_t errlen)
{
    return be->ops->status(be, err, errlen);
}

void *bk_alloc(backend *be, size_t bytes) { return be->ops->alloc(be, bytes); }
void bk_free(backend *be, void *p) { be->ops->free(be, p); }
void bk_zero(backend *be, void *p, size_t bytes) { be->ops->zero(be, p, bytes); }
void bk_upload(backend *be, void *dst, const void *host_src, size_t bytes)
{
    be->ops->upload(be, dst, host_src, bytes);
}
void bk_download(backend *be, void *host_dst, const void *src, size_t bytes)
{
    be->ops->download(be, host_dst, src, bytes);
}
void bk_copy(backend *be, void *dst, const void *src, size_t bytes)
{
    be->ops->copy(be, dst, src, bytes);
}

void bk_cast(backend *be, float *dst, const float *src, size_t n, dtype_t dt, num_stats *st)
{
    be->ops->cast(be, dst, src, n, dt, st);
}
void bk_stats(backend *be, const float *x, size_t n, num_stats *st)
{
    be->ops->stats(be, x, n, st);
}
double bk_sum(backend *be, const float *x, size_t n) { return be->ops->sum(be, x, n); }
double bk_sumsq(backend *be, const float *x, size_t n) { return be->ops->sumsq(be, x, n); }
void bk_scale(backend *be, float *x, size_t n, float s) { be->ops->scale(be, x, n, s); }

void bk_gemm(backend *be, float *C, dtype_t dtc, const float *A, dtype_t dta, int transA,
             const float *B, dtype_t dtb, int transB, int M, int N, int K, float alpha,
             int accumulate, num_stats *st)
{
    be->ops->gemm(be, C, dtc, A, dta, transA, B, dtb, transB, M, N, K, alpha, accumulate, st);
}

void bk_encoder_forward(backend *be, float *out, const int32_t *tokens, const float *wte,
                        const float *wpe, int B, int T, int C)
{
    be->ops->encoder_forward(be, out, tokens, wte, wpe, B, T, C);
}
void bk_encoder_backward(backend *be, float *dwte, float *dwpe, const float *dout,
                         const int32_t *tokens, int B, int T, int C)
{
    be->ops->encoder_backward(be, dwte, dwpe, dout, tokens, B, T, C);
}

void bk_layernorm_forward(backend *be, float *out, float *mean, float *rstd, const float *inp,
                          const float *w, const float *b, int N, int C, dtype_t dt_out,
                          num_stats *st)
{
    be->ops->layernorm_forward(be, out, mean, rstd, inp, w, b, N, C, dt_out, st);
}
void bk_layernorm_backward(backend *be, float *dinp, float *dw, float *db, const float *dout,
                           const float *inp, const float *w, const float *mean,
                           const float *rstd, int N, int C)
{
    be->ops->layernorm_backward(be, dinp, dw, db, dout, inp, w, mean, rstd, N, C);
}

void bk_matmul_forward(backend *be, float *out, const float *inp, const float *w,
                       const float *b, int N, int C, int OC, int w_trans, dtype_t dt_in,
                       dtype_t dt_w, dtype_t dt_out, num_stats *st)
{
    be->ops->matmul_forward(be, out, inp, w, b, N, C, OC, w_trans, dt_in, dt_w, dt_out, st);
}
void bk_matmul_backward(backend *be, float *dinp, float *dw, float *db, const float *dout,
                        const float *inp, const float *w, int N, int C, int OC, int w_trans,
                        dtype_t dt_g, num_stats *st_dinp, num_stats *st_dw)
{
    be->ops->matmul_backward(be, dinp, dw, db, dout, inp, w, N, C, OC, w_trans, dt_g, st_dinp,
                             st_dw);
}

void bk_attention_forward(backend *be, float *out, float *att, const float *qkv, int B, int T,
                          int C, int NH, dtype_t dt, num_stats *st)
{
    be->ops->attention_forward(be, out, att, qkv, B, T, C, NH, dt, st);
}
void bk_attention_backward(backend *be, float *dqkv, float *scratch, const float *dout,
                           const float *qkv, const float *att, int B, int T, int C, int NH,
                           dtype_t dt, num_stats *st)
{
    be->ops->attention_backward(be, dqkv, scratch, dout, qkv, att, B, T, C, NH, dt, st);
}

void bk_gelu_forward(backend *be, float *out, const float *inp, size_t n, dtype_t dt,
                     num_stats *st)
{
    be->ops->gelu_forward(be, out, inp, n, dt, st);
}
void bk_gelu_backward(backend *be, float *dinp, const float *inp, const float *dout, size_t n,
                      dtype_t dt, num_stats *st)
{
    be->ops->gelu_backward(be, dinp, inp, dout, n, dt, st);
}

void bk_residual_forward(backend *be, float *out, const float *a, const float *b, size_t n)
{
    be->ops->residual_forward(be, out, a, b, n);
}
void bk_add_inplace(backend *be, float *acc, const float *x, size_t n)
{
    be->ops->add_inplace(be, acc, x, n);
}

void bk_crossentropy_forward(backend *be, float *losses, const float *logits,
                             const int32_t *targets, int N, int V)
{
    be->ops->crossentropy_forward(be, losses, logits, targets, N, V);
}
void bk_crossentropy_backward(backend *be, float *dlogits, const float *logits,
                              const int32_t *targets, int N, int V, float dloss, dtype_t dt,
                              num_stats *st)
{
    be->ops->crossentropy_backward(be, dlogits, logits, targets, N, V, dloss, dt, st);
}

int bk_unscale(backend *be, float *g, size_t n, float inv_scale)
{
    return be->ops->unscale(be, g, n, inv_scale);
}
int bk_unscale_multi(backend *be, float *const *g, const size_t *n, int count, float inv_scale)
{
    if (be->ops->unscale_multi) return be->ops->unscale_multi(be, g, n, count, inv_scale);
    int first = -1;
    for (int i = 0; i < count; i++)
        if (be->ops->unscale(be, g[i], n[i], inv_scale) && first < 0) first = i;
    return first;
}

void bk_sumsq_multi(backend *be, const float *const *x, const size_t *n, int count, double *out)
{
    if (be->ops->sumsq_multi) {
        be->ops->sumsq_multi(be, x, n, count, out);
        return;
    }
    for (int i = 0; i < count; i++) out[i] = be->ops->sumsq(be, x[i], n[i]);
}

void bk_adamw(backend *be, float *p, const float *g, float *m, float *v, size_t n, double lr,
              double beta1, double beta2, double eps, double weight_decay, int t,
              float grad_mult)
{
    /* As torch.optim.AdamW's single-tensor and foreach paths: Python-float scalars
     * (1 - beta, bias_correction1/2, step_size, bias_correction2 ** 0.5, 1 - lr * wd) in
     * double, each cast to fp32 once by the tensor op that takes it. */
    double bc1 = 1.0 - pow(beta1, (double)t), bc2 = 1.0 - pow(beta2, (double)t);
    bk_adamw_scalars s = {
        .decay = (float)(1.0 - lr * weight_decay),
        .w1 = (float)(1.0 - beta1),
        .b2 = (float)beta2,
        .ob2 = (float)(1.0 - beta2),
        .bc2s = (float)sqrt(bc2),
        .eps = (float)eps,
        .nstep = (float)(-(lr / bc1)),
        .wd = weight_decay != 0.0,
        .t = t,
    };
    be->ops->adamw(be, p, g, m, v, n, &s, grad_mult);
}
