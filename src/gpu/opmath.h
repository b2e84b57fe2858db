/* opmath.h — per-element formulas both backends evaluate (GELU, the AdamW update), written
 * once so that the CPU reference (cpu/) and the CUDA kernels (cuda/) compute the same
 * expressions by construction. Plain C11 and CUDA device code; neither side contracts to
 * FMA (gcc in ISO C mode, nvcc -fmad=false), so each operation rounds once. */
#ifndef MPTUI_OPMATH_H
#define MPTUI_OPMATH_H

#include <math.h>

#ifdef __cplusplus
extern "C" {
#endif
#include "backend_impl.h"
#ifdef __cplusplus
}
#endif

#ifdef __CUDACC__
#define OPMATH_FN static __host__ __device__ __forceinline__
#else
#define OPMATH_FN static inline
#endif

/* ---- GELU, tanh approximation (GPT-2); each backend brings its own tanh ---- */
#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

/* The argument of the tanh: sqrt(2/pi) (x + 0.044715 x^3). */
OPMATH_FN float gelu_arg(float x)
{
    float cube = 0.044715f * x * x * x;
    return GELU_K * (x + cube);
}

/* gelu(x), given th = tanh(gelu_arg(x)). */
OPMATH_FN float gelu_from_tanh(float x, float th) { return 0.5f * x * (1.0f + th); }

/* gelu'(x), given th = tanh(gelu_arg(x)). */
OPMATH_FN float gelu_grad_from_tanh(float x, float th)
{
    float sech2 = 1.0f - th * th;
    return 0.5f * (1.0f + th) + 0.5f * x * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
}

/* ---- AdamW (docs/optimizer.md) ---- */
/* torch.lerp's formula (ATen Lerp.h) for a scalar weight: exact at both ends. */
OPMATH_FN float adamw_lerp(float a, float b, float w)
{
    return fabsf(w) < 0.5f ? a + w * (b - a) : b - (b - a) * (1.0f - w);
}

/* One element of torch.optim.AdamW, one fp32 tensor op after another with the scalars of c
 * (formed in double by bk_adamw, as PyTorch forms its Python-float scalars): p.mul_(decay);
 * m.lerp_(g, 1-b1); v.mul_(b2).addcmul_(g, g, 1-b2); p.addcdiv_(m, v.sqrt() / bc2s + eps,
 * -step). g is the gradient times the clip coefficient. */
OPMATH_FN void adamw_update(float *p, float *m, float *v, float g, const bk_adamw_scalars *c)
{
    float mi = adamw_lerp(*m, g, c->w1);
    float vi = *v * c->b2;
    vi = vi + c->ob2 * g * g; /* addcmul: self + value * t1 * t2 */
    float pi = c->wd ? *p * c->decay : *p;
    *m = mi;
    *v = vi;
    *p = pi + c->nstep * (mi / (sqrtf(vi) / c->bc2s + c->eps)); /* addcdiv */
}

#endif
