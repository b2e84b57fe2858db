/* cpu_elementwise.c — casts, statistics, reductions (double, fixed blocks), scaling,
 * GELU (tanh approximation, GPT-2) and residual adds, threaded with OpenMP. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cpu_backend.h"
#include "opmath.h"

void cpu_cast(backend *be, float *dst, const float *src, size_t n, dtype_t dt, num_stats *st)
{
    cpu_round_par(cpu_of(be), dst, src, n, dt, st);
}

typedef struct {
    void *dst;
    const void *src;
    dtype_t dt;
} pack_job;

static void pack_chunk(void *ctx, size_t i0, size_t k, num_stats *ps)
{
    (void)ps;
    const pack_job *j = ctx;
    uint16_t *d = (uint16_t *)j->dst + i0;
    const float *s = (const float *)j->src + i0;
    if (j->dt == DT_F16) num_f32_to_f16_array(d, s, k);
    else num_f32_to_bf16_array(d, s, k);
}

static void unpack_chunk(void *ctx, size_t i0, size_t k, num_stats *ps)
{
    (void)ps;
    const pack_job *j = ctx;
    float *d = (float *)j->dst + i0;
    const uint16_t *s = (const uint16_t *)j->src + i0;
    if (j->dt == DT_F16) num_f16_to_f32_array(d, s, k);
    else num_bf16_to_f32_array(d, s, k);
}

void cpu_pack(backend *be, void *dst, const float *src, size_t n, dtype_t dt)
{
    pack_job j = {dst, src, dt};
    if (dt == DT_F16 || dt == DT_BF16)
        cpu_parallel(cpu_of(be), n, CPU_EW_CHUNK, 1, NULL, pack_chunk, &j);
}

void cpu_unpack(backend *be, float *dst, const void *src, size_t n, dtype_t dt)
{
    pack_job j = {dst, src, dt};
    if (dt == DT_F16 || dt == DT_BF16)
        cpu_parallel(cpu_of(be), n, CPU_EW_CHUNK, 1, NULL, unpack_chunk, &j);
}

typedef struct {
    float *out;
    const float *inp, *dout;
    dtype_t dt;
} ew_job;

/* Stats "as stored": rounding to fp32 is the identity, so num_round's counters see exactly
 * amax / amin_nz / non-finite of x and report no overflow or underflow. */
static void stats_chunk(void *ctx, size_t i0, size_t k, num_stats *ps)
{
    const ew_job *j = ctx;
    float tmp[1024];
    for (size_t i = i0, end = i0 + k; i < end; i += 1024)
        num_round(tmp, j->inp + i, end - i < 1024 ? end - i : 1024, DT_F32, ps);
}

void cpu_stats(backend *be, const float *x, size_t n, num_stats *st)
{
    if (!st) return;
    ew_job j = {.inp = x};
    cpu_parallel(cpu_of(be), n, CPU_EW_CHUNK, 1, st, stats_chunk, &j);
}

/* Sum (sq = 0) or sum of squares in double over fixed blocks, combined in block order:
 * bit-identical for any thread count. */
static double reduce_blocks(cpu_backend *cb, const float *x, size_t n, int sq)
{
    size_t nb = (n + CPU_RED_BLOCK - 1) / CPU_RED_BLOCK;
    if (nb == 0) return 0.0;
    double *part = cpu_scratch(cb, CPU_SCR_RED, nb * sizeof *part);
    if (!part) return NAN;
#pragma omp parallel for num_threads(cb->nthreads) schedule(static) if (nb > 1)
    for (size_t b = 0; b < nb; b++) {
        size_t i0 = b * CPU_RED_BLOCK, end = i0 + CPU_RED_BLOCK < n ? i0 + CPU_RED_BLOCK : n;
        double s = 0.0;
        if (sq)
            for (size_t i = i0; i < end; i++) s += (double)x[i] * (double)x[i];
        else
            for (size_t i = i0; i < end; i++) s += (double)x[i];
        part[b] = s;
    }
    double s = 0.0;
    for (size_t b = 0; b < nb; b++) s += part[b];
    return s;
}

/* Sums synchronize (backend.h): pending stats land, except for an empty one (as CUDA). */
double cpu_sum(backend *be, const float *x, size_t n)
{
    if (n) cpu_stats_land(cpu_of(be));
    return reduce_blocks(cpu_of(be), x, n, 0);
}
double cpu_sumsq(backend *be, const float *x, size_t n)
{
    if (n) cpu_stats_land(cpu_of(be));
    return reduce_blocks(cpu_of(be), x, n, 1);
}

void cpu_scale(backend *be, float *x, size_t n, float s)
{
    (void)be; /* only the OpenMP pragmas read it (none in the TSan build) */
#pragma omp parallel for num_threads(cpu_of(be)->nthreads) schedule(static) if (n > CPU_EW_CHUNK)
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

/* e^r for r in [0, 20]: Cody-Waite reduction and Cephes' expf polynomial (~1 ulp), with
 * 2^n put in through the exponent bits. Written out so that the GELU loops vectorize:
 * glibc's tanhf / expm1f are scalar calls and took 40% of a training step. */
static inline float gelu_exp(float r)
{
    float n = (float)(int32_t)(r * 1.44269504088896341f + 0.5f); /* r >= 0: truncation rounds */
    float x = r - n * 0.693359375f;
    x = x + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * x + 1.3981999507e-3f;
    p = p * x + 8.3334519073e-3f;
    p = p * x + 4.1665795894e-2f;
    p = p * x + 1.6666665459e-1f;
    p = p * x + 5.0000001201e-1f;
    float e = p * x * x + x + 1.0f;
    union { float f; int32_t i; } two_n = {.i = ((int32_t)n + 127) << 23};
    return e * two_n.f;
}

/* tanh to ~2 ulp (Cephes tanhf): odd polynomial below 0.625, 1 - 2/(e^2t + 1) above;
 * |y| >= 10 gives 1 exactly, NaN stays NaN. */
static inline float gelu_tanh(float y)
{
    float t = fabsf(y), z = y * y;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    float small = y + y * z * p;
    float tc = t < 10.0f ? t : 10.0f; /* 1 exactly from here; NaN: fixed below */
    float big = 1.0f - 2.0f / (gelu_exp(2.0f * tc) + 1.0f);
    big = y < 0.0f ? -big : big;
    float r = t < 0.625f ? small : big;
    return y != y ? y : r;
}

static inline float gelu_fwd1(float x) { return gelu_from_tanh(x, gelu_tanh(gelu_arg(x))); }
static inline float gelu_bwd1(float x) { return gelu_grad_from_tanh(x, gelu_tanh(gelu_arg(x))); }

/* out = round_dt(gelu(inp)), or round_dt(gelu'(inp) * dout) when the job has a dout. */
static void gelu_chunk(void *ctx, size_t i0, size_t k, num_stats *ps)
{
    const ew_job *j = ctx;
    float *out = j->out;
    const float *inp = j->inp, *dout = j->dout;
    if (dout)
        for (size_t i = i0; i < i0 + k; i++) out[i] = gelu_bwd1(inp[i]) * dout[i];
    else
        for (size_t i = i0; i < i0 + k; i++) out[i] = gelu_fwd1(inp[i]);
    num_round(out + i0, out + i0, k, j->dt, ps);
}

void cpu_gelu_forward(backend *be, float *out, const float *inp, size_t n, dtype_t dt,
                      num_stats *st)
{
    ew_job j = {out, inp, NULL, dt};
    cpu_parallel(cpu_of(be), n, CPU_EW_CHUNK, 1, st, gelu_chunk, &j);
}

void cpu_gelu_backward(backend *be, float *dinp, const float *inp, const float *dout, size_t n,
                       dtype_t dt, num_stats *st)
{
    ew_job j = {dinp, inp, dout, dt};
    cpu_parallel(cpu_of(be), n, CPU_EW_CHUNK, 1, st, gelu_chunk, &j);
}

void cpu_residual_forward(backend *be, float *out, const float *a, const float *b, size_t n)
{
    (void)be; /* only the OpenMP pragmas read it (none in the TSan build) */
#pragma omp parallel for num_threads(cpu_of(be)->nthreads) schedule(static) if (n > CPU_EW_CHUNK)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void cpu_add_inplace(backend *be, float *acc, const float *x, size_t n)
{
    (void)be; /* only the OpenMP pragmas read it (none in the TSan build) */
#pragma omp parallel for num_threads(cpu_of(be)->nthreads) schedule(static) if (n > CPU_EW_CHUNK)
    for (size_t i = 0; i < n; i++) acc[i] += x[i];
}
