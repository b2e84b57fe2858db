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

/* torch.lerp's formula (ATen Lerp.h) for a scalar weight: exact at both ends. */
static inline float adamw_lerp(float a, float b, float w)
{
    return fabsf(w) < 0.5f ? a + w * (b - a) : b - (b - a) * (1.0f - w);
}

/* torch.optim.AdamW, one fp32 tensor op after another with the scalars of s (formed in
 * double by bk_adamw, as PyTorch forms its Python-float scalars): p.mul_(decay);
 * m.lerp_(g, 1-b1); v.mul_(b2).addcmul_(g, g, 1-b2);
 * p.addcdiv_(m, v.sqrt() / bc2s + eps, -step). Each op rounds once (no FMA). */
void cpu_adamw(backend *be, float *p, const float *g, float *m, float *v, size_t n,
               const bk_adamw_scalars *s, float grad_mult)
{
    (void)be; /* only the OpenMP pragmas read it (none in the TSan build) */
    const bk_adamw_scalars c = *s;
#pragma omp parallel for num_threads(cpu_of(be)->nthreads) schedule(static) if (n > OPT_BLK)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * grad_mult;
        float mi = adamw_lerp(m[i], gi, c.w1);
        float vi = v[i] * c.b2;
        vi = vi + c.ob2 * gi * gi; /* addcmul: self + value * t1 * t2 */
        float pi = c.wd ? p[i] * c.decay : p[i];
        m[i] = mi;
        v[i] = vi;
        p[i] = pi + c.nstep * (mi / (sqrtf(vi) / c.bc2s + c.eps)); /* addcdiv */
    }
}
