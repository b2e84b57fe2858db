/* cpu_optim.c — loss-scale unscaling with the non-finite check, and the AdamW step
 * (PyTorch semantics: decoupled decay first, bias-corrected update), all fp32. */
#include <math.h>

#include "cpu_backend.h"
#include "opmath.h"

/* As torch._amp_foreach_non_finite_check_and_unscale_: the check looks at the value
 * before scaling, and every value is scaled even when one is not finite. */
int cpu_unscale(backend *be, float *g, size_t n, float inv_scale)
{
    if (n) cpu_stats_land(cpu_of(be)); /* a synchronizing call (backend.h), as CUDA's */
    int found = 0;
#pragma omp parallel for num_threads(cpu_of(be)->nthreads) schedule(static) \
    reduction(| : found) if (n > CPU_EW_CHUNK)
    for (size_t i = 0; i < n; i++) {
        found |= !isfinite(g[i]);
        g[i] *= inv_scale;
    }
    return found;
}

/* The update of opmath.h, element by element. */
void cpu_adamw(backend *be, float *p, const float *g, float *m, float *v, size_t n,
               const bk_adamw_scalars *s, float grad_mult)
{
    (void)be; /* only the OpenMP pragmas read it (none in the TSan build) */
    const bk_adamw_scalars c = *s;
#pragma omp parallel for num_threads(cpu_of(be)->nthreads) schedule(static) if (n > CPU_EW_CHUNK)
    for (size_t i = 0; i < n; i++) adamw_update(p + i, m + i, v + i, g[i] * grad_mult, &c);
}
