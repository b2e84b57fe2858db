/* cpu_encoder.c — token + position embedding (fp32) and its scatter-add gradient,
 * threaded over channels so no two threads ever write the same element. */
#include "cpu_backend.h"

void cpu_encoder_forward(backend *be, float *out, const int32_t *tokens, const float *wte,
                         const float *wpe, int B, int T, int C)
{
    (void)be; /* only the OpenMP pragmas read it (none in the TSan build) */
#pragma omp parallel for num_threads(cpu_of(be)->nthreads) schedule(static) if (B * T > 64)
    for (int bt = 0; bt < B * T; bt++) {
        const float *te = wte + (size_t)tokens[bt] * C, *pe = wpe + (size_t)(bt % T) * C;
        float *o = out + (size_t)bt * C;
        for (int c = 0; c < C; c++) o[c] = te[c] + pe[c];
    }
}

/* Each thread owns a range of channels (16 = one cache line) and walks all positions in
 * order, so each gradient element receives its additions in the same order every run. */
void cpu_encoder_backward(backend *be, float *dwte, float *dwpe, const float *dout,
                          const int32_t *tokens, int B, int T, int C)
{
    (void)be; /* only the OpenMP pragmas read it (none in the TSan build) */
    enum { CH = 16 };
    int nb = (C + CH - 1) / CH;
#pragma omp parallel for num_threads(cpu_of(be)->nthreads) schedule(static) if (nb > 1)
    for (int blk = 0; blk < nb; blk++) {
        int c0 = blk * CH, c1 = c0 + CH < C ? c0 + CH : C;
        for (int bt = 0; bt < B * T; bt++) {
            const float *d = dout + (size_t)bt * C;
            float *te = dwte + (size_t)tokens[bt] * C, *pe = dwpe + (size_t)(bt % T) * C;
            for (int c = c0; c < c1; c++) {
                te[c] += d[c];
                pe[c] += d[c];
            }
        }
    }
}
