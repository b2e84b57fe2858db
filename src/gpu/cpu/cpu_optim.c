/* cpu_optim.c — loss-scale unscaling with the non-finite check, and the AdamW step
 * (PyTorch semantics: decoupled decay first, bias-corrected update), all fp32. */
#include <math.h>

#include "cpu_backend.h"

enum { OPT_BLK = 16384 };

/* As torch._amp_foreach_non_finite_check_and_unscale_: the check looks at the value
 * before scaling, and every value is scaled even when one is not finite. */
int cpu_unscale(backend *be, float *g, size_t n, float inv_scale)
{
    (void)be; /* only the OpenMP pragmas read it (none in the TSan build) */
    int found = 0;
#pragma omp parallel for num_threads(cpu_of(be)->nthreads) schedule(static) \
    reduction(| : found) if (n > OPT_BLK)
    for (size_t i = 0; i < n; i++) {
        found |= !isfinite(g[i]);
        g[i] *= inv_scale;
    }
    return found;
}

/* Scalars are formed in double and cast to float once, as PyTorch does with Python-float
 * hyper-parameters: decay = 1 - lr*wd, step = lr / (1 - b1^t), bc2s = sqrt(1 - b2^t). */
void cpu_adamw(backend *be, float *p, const float *g, float *m, float *v, size_t n, float lr,
               float beta1, float beta2, float eps, float weight_decay, int t, float grad_mult)
{
    (void)be; /* only the OpenMP pragmas read it (none in the TSan build) */
    double bc1 = 1.0 - pow((double)beta1, (double)t);
    double bc2 = 1.0 - pow((double)beta2, (double)t);
    float decay = (float)(1.0 - (double)lr * (double)weight_decay);
    float step = (float)((double)lr / bc1);
    float bc2s = (float)sqrt(bc2);
    float b1 = beta1, b2 = beta2, ob1 = (float)(1.0 - (double)beta1);
    float ob2 = (float)(1.0 - (double)beta2);
    int wd = weight_decay != 0.0f;
#pragma omp parallel for num_threads(cpu_of(be)->nthreads) schedule(static) if (n > OPT_BLK)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * grad_mult;
        float mi = b1 * m[i] + ob1 * gi;
        float vi = b2 * v[i] + ob2 * gi * gi;
        float pi = wd ? p[i] * decay : p[i];
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - step * (mi / (sqrtf(vi) / bc2s + eps)); /* as addcdiv */
    }
}
