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

int bk_host_readable(const backend *be) { return be->kind == BK_CPU; }

/* bk_name for every op of BK_OPS: straight through the table. */
#define BK_FORWARD(ret, name, params, args) \
    ret bk_##name params { return be->ops->name args; }
#define BK_FORWARD_VOID(ret, name, params, args) \
    ret bk_##name params { be->ops->name args; }
BK_OPS(BK_FORWARD, BK_FORWARD_VOID)
#undef BK_FORWARD
#undef BK_FORWARD_VOID

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
