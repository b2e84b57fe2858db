/* test_health.c — tests for src/train/health.c: underflow %, overflow count and dynamic
 * range of tensors with known values, counted here from the format tables (docs/numerics.md), through
 * num_round (SIMD and portable) and the CPU backend's cast; the unscaled-gradient merge. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "health.h"
#include "numerics.h"

static float fb(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t bf(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* The test's own count, from docs/numerics.md and round-to-nearest-even: a nonzero finite value is
 * lost when |x| <= half the smallest subnormal (the tie goes to the even neighbour, zero);
 * it overflows when |x| >= the first value that rounds to Inf. */
static int ref_underflows(float x, dtype_t dt)
{
    double a = fabs((double)x);
    double half_min = dt == DT_F16 ? ldexp(1.0, -25) : ldexp(1.0, -134);
    return isfinite(x) && a != 0.0 && a <= half_min;
}

static int ref_overflows(float x, dtype_t dt)
{
    double a = fabs((double)x);
    /* fp16: 65520 = 65504 + half an ulp; bf16: 0x7f7f8000 = max finite + half an ulp */
    double lim = dt == DT_F16 ? 65520.0 : (double)fb(0x7f7f8000u);
    return isfinite(x) && a >= lim;
}

/* Values at the edges of both formats: every subnormal boundary and its neighbours. */
static size_t edge_values(float *x)
{
    size_t n = 0;
    const float pow2[] = {0x1p-24f, 0x1p-25f, 0x1p-26f, 0x1p-133f, 0x1p-134f, 0x1p-135f,
                          0x1p-14f, 0x1p-126f};
    for (size_t i = 0; i < sizeof pow2 / sizeof pow2[0]; i++) {
        float p = pow2[i];
        float v[] = {p, nextafterf(p, 0), nextafterf(p, 1), 1.5f * p, 0.75f * p};
        for (size_t k = 0; k < 5; k++) x[n++] = v[k], x[n++] = -v[k];
    }
    const float more[] = {0.0f, -0.0f, FLT_TRUE_MIN, 1.0f, 65504.0f, 65519.99f, 65520.0f,
                          -70000.0f, 1e38f, fb(0x7f7f0000u), fb(0x7f7f7fffu), fb(0x7f7f8000u),
                          FLT_MAX, INFINITY, -INFINITY, NAN};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) x[n++] = more[i];
    return n;
}

static void check_against_ref(const float *x, size_t n, dtype_t dt, const num_stats *st)
{
    uint64_t u = 0, o = 0, nf = 0;
    for (size_t i = 0; i < n; i++) {
        u += (uint64_t)ref_underflows(x[i], dt);
        o += (uint64_t)ref_overflows(x[i], dt);
        nf += (uint64_t)!isfinite(x[i]);
    }
    tensor_health h;
    health_from_stats(st, &h);
    cr_assert_eq(h.count, n);
    cr_assert_eq(st->underflow, u, "%s: underflow %llu, want %llu", dtype_name(dt),
                 (unsigned long long)st->underflow, (unsigned long long)u);
    cr_assert_eq(h.underflow_pct, 100.0 * (double)u / (double)n);
    cr_assert_eq(h.overflow, (int64_t)o, "%s: overflow %lld, want %llu", dtype_name(dt),
                 (long long)h.overflow, (unsigned long long)o);
    cr_assert_eq(h.nonfinite, (int64_t)nf);
}

Test(health, underflow_and_overflow_at_the_format_edges)
{
    float x[128], y[128];
    size_t n = edge_values(x);
    dtype_t dts[] = {DT_F16, DT_BF16};
    for (int portable = 0; portable < 2; portable++) {
        int was = num_set_portable(portable);
        for (int d = 0; d < 2; d++) {
            /* offsets 0..7 move the values across the SIMD body and the scalar tail */
            for (size_t off = 0; off < 8; off++) {
                num_stats st;
                num_stats_reset(&st);
                num_round(y, x + off, n - off, dts[d], &st);
                check_against_ref(x + off, n - off, dts[d], &st);
            }
        }
        num_set_portable(was);
    }
}

Test(health, subnormal_boundary_values_one_by_one)
{
    struct { float x; dtype_t dt; int under; } cases[] = {
        {0x1p-25f, DT_F16, 1},                    /* tie: rounds to even, zero */
        {nextafterf(0x1p-25f, 1), DT_F16, 0},    /* just above: min subnormal 2^-24 */
        {0x1p-24f, DT_F16, 0},                    /* min subnormal itself */
        {0.75f * 0x1p-24f, DT_F16, 0},            /* rounds up to 2^-24 */
        {0x1p-134f, DT_BF16, 1},                  /* bf16 tie at half of 2^-133 */
        {nextafterf(0x1p-134f, 1), DT_BF16, 0},
        {0x1p-133f, DT_BF16, 0},
        {FLT_TRUE_MIN, DT_BF16, 1},
        {0x1p-25f, DT_BF16, 0},                   /* fine in bf16 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        num_stats st;
        num_stats_reset(&st);
        float y;
        num_round(&y, &cases[i].x, 1, cases[i].dt, &st);
        cr_assert_eq(st.underflow, (uint64_t)cases[i].under, "case %zu (%a in %s)", i,
                     (double)cases[i].x, dtype_name(cases[i].dt));
        tensor_health h;
        health_from_stats(&st, &h);
        cr_assert_eq(h.underflow_pct, cases[i].under ? 100.0 : 0.0);
    }
}

/* A large tensor of small gradients, log-uniform over 2^-30 .. 2^-8, through the backend's
 * cast (the path the model takes): the percentage equals the test's own count exactly. */
Test(health, underflow_pct_of_small_values_through_the_backend)
{
    enum { N = 100003 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    cr_assert(x && y);
    uint64_t s = 12345;
    for (size_t i = 0; i < N; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        double e = -30.0 + 22.0 * (double)(s >> 11) / 9007199254740992.0;
        x[i] = (float)((s & 1 ? -1.0 : 1.0) * exp2(e));
    }
    x[7] = 0x1p-25f, x[8] = 0.0f, x[9] = 0x1p-24f; /* the boundary, explicitly */
    char err[256];
    backend *be = bk_create(BK_CPU, 2, err, sizeof err);
    cr_assert_not_null(be, "%s", err);
    float *d = bk_alloc(be, N * sizeof *d);
    bk_upload(be, d, x, N * sizeof *x);
    dtype_t dts[] = {DT_F16, DT_BF16};
    for (int k = 0; k < 2; k++) {
        num_stats st;
        num_stats_reset(&st);
        bk_cast(be, d, d, N, dts[k], &st);
        bk_upload(be, d, x, N * sizeof *x);
        check_against_ref(x, N, dts[k], &st);
        if (dts[k] == DT_F16) /* about 5 of 22 octaves lie below 2^-25 */
            cr_assert(st.underflow > N / 6 && st.underflow < N / 3, "%llu",
                      (unsigned long long)st.underflow);
        else
            cr_assert_eq(st.underflow, 0);
    }
    (void)y;
    bk_free(be, d);
    bk_destroy(be);
    free(x);
    free(y);
}

Test(health, dynamic_range_exact)
{
    float x[] = {0x1p-10f, 3.0f, -32.0f, 0.5f, 0.0f, -0.0f, INFINITY, NAN, 0x1p-12f};
    float y[9];
    num_stats st;
    num_stats_reset(&st);
    num_round(y, x, 9, DT_F32, &st); /* fp32: no rounding, stats of the values themselves */
    tensor_health h;
    health_from_stats(&st, &h);
    cr_assert_eq(h.amax, 32.0);       /* Inf / NaN are not part of amax */
    cr_assert_eq(h.dynamic_range, 17.0); /* log2 32 - log2 2^-12 */
    cr_assert_eq(h.nonfinite, 2);
    cr_assert_eq(h.underflow_pct, 0.0);
    cr_assert_eq(h.overflow, 0);
    float z[] = {3.0f, -0.75f, 1.0f};
    num_stats_reset(&st);
    num_round(y, z, 3, DT_F16, &st);
    health_from_stats(&st, &h);
    cr_assert_float_eq(h.dynamic_range, 2.0, 1e-12); /* log2 3 - log2 0.75 = log2 4 */
    /* a single nonzero value spans no range; zeros only: no range at all */
    float one[] = {0.0f, 5.0f};
    num_stats_reset(&st);
    num_round(y, one, 2, DT_BF16, &st);
    health_from_stats(&st, &h);
    cr_assert_eq(h.dynamic_range, 0.0);
    float zeros[] = {0.0f, -0.0f};
    num_stats_reset(&st);
    num_round(y, zeros, 2, DT_F16, &st);
    health_from_stats(&st, &h);
    cr_assert(isnan(h.dynamic_range));
    cr_assert_eq(h.amax, 0.0);
    num_stats_reset(&st);
    health_from_stats(&st, &h);
    cr_assert(isnan(h.dynamic_range));
    cr_assert_eq(h.underflow_pct, 0.0);
    cr_assert_eq(h.count, 0);
}

Test(health, tensor_names)
{
    cr_assert_str_eq(health_tensor_name(HT_ACTIVATION), "activation");
    cr_assert_str_eq(health_tensor_name(HT_GRADIENT), "gradient");
    cr_assert_str_eq(health_tensor_name(HT_GRADIENT_SCALED), "gradient_scaled");
    cr_assert_str_eq(health_tensor_name(HT_WGRAD_SCALED), "weight_gradient_scaled");
    cr_assert_str_eq(health_tensor_name(HT_FP8_INPUT), "fp8_input");
    cr_assert_str_eq(health_tensor_name(HT_FP8_WEIGHT), "fp8_weight");
    cr_assert_str_eq(health_tensor_name(HT_FP8_GRAD), "fp8_grad");
    cr_assert_str_eq(health_tensor_name(HT_COUNT), "?");
    cr_assert_str_eq(health_tensor_name((health_tensor)-1), "?");
    cr_assert_eq(HT_ROUNDINGS, 4, "the FP8 casts come after every row's roundings");
}

/* Each FP8 tensor has its record, named after fp8_tensor_name; anything else has none. */
Test(health, fp8_tensor_records)
{
    for (int t = 0; t < FP8_TENSORS; t++) {
        health_tensor h = health_fp8_tensor((fp8_tensor)t);
        cr_assert_eq(h, HT_FP8_INPUT + t);
        char want[32];
        snprintf(want, sizeof want, "fp8_%s", fp8_tensor_name((fp8_tensor)t));
        cr_assert_str_eq(health_tensor_name(h), want);
    }
    cr_assert_eq(health_fp8_tensor(FP8_TENSORS), HT_COUNT);
    cr_assert_eq(health_fp8_tensor((fp8_tensor)-1), HT_COUNT);
}

/* The unscaled view of a gradient stored at scale 2^16: what the scaled rounding lost stays
 * lost, the pass adds what unscaling flushes, amax / amin move by the scale exactly. */
Test(health, unscaled_merges_the_pass)
{
    /* stored fp16 gradient values (scale 2^16) and the true gradient they stand for */
    float g[] = {1.0f, 0x1p-8f, 0x1p-9f, 0x1p-10f, 0x1p-20f, 0x1p-24f, 0.0f, 3.0f};
    float pre[] = {1.0f, 0x1p-8f, 0x1p-9f, 0x1p-10f, 0x1p-20f, 0x1p-24f, 0x1p-27f, 3.0f};
    size_t n = 8;
    float inv = 0x1p-16f, tmp[8];
    num_stats scaled, pass, un;
    num_stats_reset(&scaled);
    num_stats_reset(&pass);
    num_round(tmp, pre, n, DT_F16, &scaled); /* 2^-27 is lost at the scaled rounding */
    for (size_t i = 0; i < n; i++) tmp[i] = g[i] * inv;
    num_round(tmp, tmp, n, DT_F16, &pass);
    health_unscaled(&scaled, &pass, inv, &un);
    /* unscaled: 2^-8 -> 2^-24 (min subnormal, kept); 2^-9 -> 2^-25 is the tie (lost);
     * 2^-10, 2^-20, 2^-24 go below it */
    cr_assert_eq(scaled.underflow, 1);
    cr_assert_eq(pass.underflow, 4);
    cr_assert_eq(un.underflow, 5);
    cr_assert_eq(un.count, n);
    cr_assert_eq(un.amax, 3.0f * 0x1p-16f);
    cr_assert_eq(un.amin_nz, 0x1p-27f * 0x1p-16f);
    tensor_health hs, hu;
    health_from_stats(&scaled, &hs);
    health_from_stats(&un, &hu);
    cr_assert_eq(hu.dynamic_range, hs.dynamic_range);
    cr_assert_eq(hu.underflow_pct, 62.5);
    /* scale 1: nothing to add, identical */
    num_stats none;
    num_stats_reset(&none);
    health_unscaled(&scaled, &none, 1.0f, &un);
    cr_assert_eq(memcmp(&un, &scaled, sizeof un), 0);
    /* a scale below 1 can overflow when unscaling: counted */
    pass.overflow = 2;
    health_unscaled(&scaled, &pass, 2.0f, &un);
    cr_assert_eq(un.overflow, scaled.overflow + 2);
    (void)bf;
}
