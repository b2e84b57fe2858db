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

/* The ops whose bk_ entry point is written by hand in backend.c (bk_destroy accepts NULL;
 * bk_adamw forms the scalars), in the form of BK_OPS. */
#define BK_OPS_BACKEND(OP, OPV)                                                              \
    OPV(void, destroy, (backend *be), (be))                                                  \
    OPV(void, adamw,                                                                         \
        (backend *be, float *p, const float *g, float *m, float *v, size_t n,                \
         const bk_adamw_scalars *s, float grad_mult),                                        \
        (be, p, g, m, v, n, s, grad_mult))

/* One slot per op. The optional ones may be NULL; the rest never are. */
#define BK_OPS_SLOT(ret, name, params, args) ret(*name) params;
typedef struct bk_ops {
    BK_OPS(BK_OPS_SLOT, BK_OPS_SLOT)
    BK_OPS_OPTIONAL(BK_OPS_SLOT, BK_OPS_SLOT)
    BK_OPS_BACKEND(BK_OPS_SLOT, BK_OPS_SLOT)
} bk_ops;
#undef BK_OPS_SLOT

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
