/* cpu_layernorm.c — LayerNorm (eps 1e-5) with fp32 statistics and math, output rounded
 * to its dtype; backward into the fp32 residual gradient with ordered dw/db reductions. */
#include <math.h>
#include <string.h>

#include "cpu_backend.h"

#define LN_EPS 1e-5f

typedef struct {
    float *out, *mean, *rstd;
    const float *inp, *w, *b;
    int C;
    dtype_t dt_out;
} ln_job;

static void ln_forward_row(void *ctx, size_t n, size_t count, num_stats *ps)
{
    const ln_job *j = ctx;
    int C = j->C;
    const float *x = j->inp + n * C, *w = j->w, *b = j->b;
    float *o = j->out + n * C;
    (void)count;
    float m = 0.0f, v = 0.0f;
    for (int c = 0; c < C; c++) m += x[c];
    m /= (float)C;
    for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
    v /= (float)C; /* biased variance, as nn.LayerNorm */
    float s = 1.0f / sqrtf(v + LN_EPS);
    for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * w[c] + b[c];
    num_round(o, o, (size_t)C, j->dt_out, ps);
    j->mean[n] = m;
    j->rstd[n] = s;
}

void cpu_layernorm_forward(backend *be, float *out, float *mean, float *rstd, const float *inp,
                           const float *w, const float *b, int N, int C, dtype_t dt_out,
                           num_stats *st)
{
    ln_job j = {out, mean, rstd, inp, w, b, C, dt_out};
    cpu_parallel(cpu_of(be), cpu_items(N), 1, N > 16, st, ln_forward_row, &j);
}

void cpu_layernorm_backward(backend *be, float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const float *mean,
                            const float *rstd, int N, int C)
{
    cpu_backend *cb = cpu_of(be);
    int nb = (N + CPU_LN_ROWS - 1) / CPU_LN_ROWS;
    float *part = cpu_scratch(cb, CPU_SCR_RED, (size_t)nb * 2 * C * sizeof *part);
    if (!part) return;
#pragma omp parallel for num_threads(cb->nthreads) schedule(static) if (nb > 1)
    for (int blk = 0; blk < nb; blk++) {
        float *pw = part + (size_t)blk * 2 * C, *pb = pw + C;
        memset(pw, 0, 2 * (size_t)C * sizeof *pw);
        int n1 = (blk + 1) * CPU_LN_ROWS < N ? (blk + 1) * CPU_LN_ROWS : N;
        for (int n = blk * CPU_LN_ROWS; n < n1; n++) {
            const float *x = inp + (size_t)n * C, *d = dout + (size_t)n * C;
            float *di = dinp + (size_t)n * C;
            float m = mean[n], s = rstd[n], dnm = 0.0f, dnnm = 0.0f;
            for (int c = 0; c < C; c++) {
                float xh = (x[c] - m) * s, dn = w[c] * d[c];
                dnm += dn;
                dnnm += dn * xh;
            }
            dnm /= (float)C;
            dnnm /= (float)C;
            for (int c = 0; c < C; c++) {
                float xh = (x[c] - m) * s, dn = w[c] * d[c];
                pb[c] += d[c];
                pw[c] += xh * d[c];
                di[c] += (dn - dnm - xh * dnnm) * s;
            }
        }
    }
    for (int blk = 0; blk < nb; blk++) {
        const float *pw = part + (size_t)blk * 2 * C, *pb = pw + C;
        for (int c = 0; c < C; c++) {
            dw[c] += pw[c];
            db[c] += pb[c];
        }
    }
}
