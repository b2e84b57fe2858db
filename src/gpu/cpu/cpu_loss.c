/* cpu_loss.c — cross-entropy from logits in fp32 (max-subtracted log-sum-exp) and its
 * gradient, rounded once to the logits' gradient dtype. */
#include <math.h>
#include <string.h>

#include "cpu_backend.h"

/* A target outside [0, V) is ignored (loss 0, gradient 0), like PyTorch's ignore_index,
 * rather than reading out of bounds. */
static int ce_valid(int32_t t, int V) { return t >= 0 && t < V; }

/* sum exp(x - max) over one row, fp32, left-to-right; the max goes to *max_out. */
static float ce_sumexp(const float *x, int V, float *max_out)
{
    float mx = -INFINITY;
    for (int j = 0; j < V; j++) mx = x[j] > mx ? x[j] : mx;
    float s = 0.0f;
    for (int j = 0; j < V; j++) s += expf(x[j] - mx);
    *max_out = mx;
    return s;
}

void cpu_crossentropy_forward(backend *be, float *losses, const float *logits,
                              const int32_t *targets, int N, int V)
{
    (void)be; /* only the OpenMP pragmas read it (none in the TSan build) */
#pragma omp parallel for num_threads(cpu_of(be)->nthreads) schedule(static) if (N > 16)
    for (int n = 0; n < N; n++) {
        const float *x = logits + (size_t)n * V;
        float mx;
        /* log(s) + (max - x_t): the two large terms cancel before meeting the small one */
        losses[n] = ce_valid(targets[n], V) ? logf(ce_sumexp(x, V, &mx)) + (mx - x[targets[n]])
                                            : 0.0f;
    }
}

typedef struct {
    float *dlogits;
    const float *logits;
    const int32_t *targets;
    int V;
    float dloss;
    dtype_t dt;
} ce_job;

static void ce_backward_row(void *ctx, size_t n, size_t count, num_stats *ps)
{
    const ce_job *j = ctx;
    int V = j->V;
    const float *x = j->logits + n * V;
    float *d = j->dlogits + n * V;
    int32_t t = j->targets[n];
    (void)count;
    if (!ce_valid(t, V)) {
        memset(d, 0, (size_t)V * sizeof *d);
    } else {
        /* softmax as exp(x - max) / sum: exp(x - lse) would lose bits to lse's ulp */
        float mx, inv = 1.0f / ce_sumexp(x, V, &mx);
        for (int k = 0; k < V; k++)
            d[k] = j->dloss * (expf(x[k] - mx) * inv - (k == t ? 1.0f : 0.0f));
    }
    num_round(d, d, (size_t)V, j->dt, ps);
}

void cpu_crossentropy_backward(backend *be, float *dlogits, const float *logits,
                               const int32_t *targets, int N, int V, float dloss, dtype_t dt,
                               num_stats *st)
{
    ce_job j = {dlogits, logits, targets, V, dloss, dt};
    cpu_parallel(cpu_of(be), cpu_items(N), 1, N > 16, st, ce_backward_row, &j);
}
