/* test_cpu_elementwise.c — casts, stats, double reductions, scaling, GELU (values and
 * finite-difference gradient), residual adds. */
#include "test_cpu_util.h"

static double gelu_ref(double x)
{
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

Test(cpu_elementwise, gelu_forward_matches_tanh_formula)
{
    backend *be = tu_backend();
    enum { N = 40000 };
    float *x = tu_buf(be, N), *y = tu_buf(be, N);
    tu_fill(x, N, 50, 6.0f);
    bk_gelu_forward(be, y, x, N, DT_F32, NULL);
    for (int i = 0; i < N; i++)
        cr_assert(fabs(y[i] - gelu_ref(x[i])) < 2e-6 * (1 + fabs(x[i])), "x=%g", (double)x[i]);
    cr_assert(fabs(gelu_ref(1.0) - 0.841192) < 1e-6); /* known value of the approximation */
    bk_destroy(be);
}

/* The vectorized tanh inside GELU against libm's tanh in double, densely around the
 * switch between its two formulas (0.625 in the tanh argument) and out to saturation;
 * special values as tanhf would give them. */
Test(cpu_elementwise, gelu_dense_sweep_and_special_values)
{
    backend *be = tu_backend();
    enum { N = 200001 };
    float *x = tu_buf(be, N), *y = tu_buf(be, N), *d = tu_buf(be, N), *g = tu_buf(be, N);
    for (int i = 0; i < N; i++) x[i] = -12.0f + 24.0f * (float)i / (N - 1);
    for (int i = 0; i < N; i++) d[i] = 1.0f;
    bk_gelu_forward(be, y, x, N, DT_F32, NULL);
    bk_gelu_backward(be, g, x, d, N, DT_F32, NULL);
    for (int i = 0; i < N; i++) {
        double xd = x[i], u = sqrt(2.0 / M_PI) * (xd + 0.044715 * xd * xd * xd);
        double th = tanh(u);
        double dg = 0.5 * (1 + th) +
                    0.5 * xd * (1 - th * th) * sqrt(2.0 / M_PI) * (1 + 3 * 0.044715 * xd * xd);
        cr_assert(fabs(y[i] - gelu_ref(xd)) <= 4e-7 * fabs(gelu_ref(xd)) + 1e-30 + 6e-8 * fabs(xd),
                  "gelu(%.9g) = %.9g, want %.9g", xd, (double)y[i], gelu_ref(xd));
        cr_assert(fabs(g[i] - dg) <= 2e-6 * (1 + fabs(xd)), "gelu'(%.9g) = %.9g, want %.9g", xd,
                  (double)g[i], dg);
    }
    float sx[5] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f}, sy[5];
    bk_gelu_forward(be, sy, sx, 5, DT_F32, NULL);
    cr_assert(isnan(sy[0]));
    cr_assert(isinf(sy[1]) && sy[1] > 0);
    cr_assert(isnan(sy[2])); /* -inf * (1 + tanh(-inf)) = -inf * 0, as with tanhf */
    cr_assert_eq(sy[3], 0.0f);
    cr_assert_eq(sy[4], 0.0f);
    bk_destroy(be);
}

static double gelu_sum(const double *x, void *ctx)
{
    const double *r = ctx;
    double s = 0.0;
    for (int i = 0; i < 64; i++) s += gelu_ref(x[i]) * r[i];
    return s;
}

Test(cpu_elementwise, gelu_backward_matches_finite_differences)
{
    backend *be = tu_backend();
    float *x = tu_buf(be, 64), *d = tu_buf(be, 64), *dx = tu_buf(be, 64);
    tu_fill(x, 64, 51, 4.0f);
    tu_fill(d, 64, 52, 1.0f);
    bk_gelu_backward(be, dx, x, d, 64, DT_F32, NULL);
    double *xd = tu_to_double(x, 64), *rd = tu_to_double(d, 64), g[64];
    tu_fd_grad(gelu_sum, xd, 64, rd, 1e-5, g);
    tu_close(dx, g, 64, 1e-5, 1e-4, "dx");
    free(xd);
    free(rd);
    bk_destroy(be);
}

Test(cpu_elementwise, gelu_fp16_rounds_and_counts)
{
    backend *be = tu_backend();
    enum { N = 50000 };
    float *x = tu_buf(be, N), *y32 = tu_buf(be, N), *y16 = tu_buf(be, N);
    tu_fill(x, N, 53, 5.0f);
    x[7] = 1e6f; /* gelu(1e6) = 1e6 overflows fp16 */
    num_stats st;
    num_stats_reset(&st);
    bk_gelu_forward(be, y32, x, N, DT_F32, NULL);
    bk_gelu_forward(be, y16, x, N, DT_F16, &st);
    for (int i = 0; i < N; i++) cr_assert_eq(y16[i], num_round1(y32[i], DT_F16));
    cr_assert_eq(st.count, N);
    cr_assert_eq(st.overflow, 1);
    cr_assert(isinf(y16[7]));
    bk_destroy(be);
}

Test(cpu_elementwise, cast_in_place_and_stats)
{
    backend *be = tu_backend();
    enum { N = 70000 };
    float *x = tu_buf(be, N);
    for (int i = 0; i < N; i++) x[i] = 1.0f + (float)i * 1e-6f;
    x[5] = NAN;
    x[6] = 1e-30f;
    num_stats st;
    num_stats_reset(&st);
    bk_stats(be, x, N, &st);
    cr_assert_eq(st.count, N);
    cr_assert_eq(st.nonfinite, 1);
    cr_assert_eq(st.overflow + st.underflow, 0);
    cr_assert_eq(st.amin_nz, 1e-30f);
    cr_assert_eq(st.amax, x[N - 1]);
    num_stats_reset(&st);
    bk_cast(be, x, x, N, DT_BF16, &st);
    cr_assert_eq(st.underflow, 0); /* bf16 keeps 1e-30 */
    cr_assert(isnan(x[5]));
    for (int i = 0; i < N; i += 997)
        if (i != 5) cr_assert_eq(x[i], num_round1(1.0f + (float)i * 1e-6f, DT_BF16));
    bk_destroy(be);
}

Test(cpu_elementwise, sum_and_sumsq_in_double)
{
    backend *be = tu_backend();
    enum { N = 100001 };
    float *x = tu_buf(be, N);
    for (int i = 0; i < N; i++) x[i] = (float)(i % 7) - 3.0f + 0.25f; /* exact in double */
    double s = 0.0, q = 0.0;
    for (int i = 0; i < N; i++) s += x[i], q += (double)x[i] * x[i];
    cr_assert_eq(bk_sum(be, x, N), s);
    cr_assert_eq(bk_sumsq(be, x, N), q);
    /* 2^24 + 1 ones: an fp32 accumulator would stop at 2^24 */
    size_t n = (1u << 24) + 1;
    float *ones = tu_buf(be, n);
    for (size_t i = 0; i < n; i++) ones[i] = 1.0f;
    cr_assert_eq(bk_sum(be, ones, n), (double)n);
    cr_assert_eq(bk_sum(be, ones, 0), 0.0);
    bk_free(be, ones);
    bk_destroy(be);
}

Test(cpu_elementwise, scale_residual_add)
{
    backend *be = tu_backend();
    enum { N = 33000 };
    float *a = tu_buf(be, N), *b = tu_buf(be, N), *o = tu_buf(be, N);
    tu_fill(a, N, 54, 1.0f);
    tu_fill(b, N, 55, 1.0f);
    bk_residual_forward(be, o, a, b, N);
    for (int i = 0; i < N; i++) cr_assert_eq(o[i], a[i] + b[i]);
    bk_add_inplace(be, o, a, N);
    for (int i = 0; i < N; i++) cr_assert_eq(o[i], (a[i] + b[i]) + a[i]);
    bk_scale(be, a, N, 0.5f);
    tu_fill(b, N, 54, 1.0f);
    for (int i = 0; i < N; i++) cr_assert_eq(a[i], b[i] * 0.5f);
    bk_destroy(be);
}

/* 16-bit storage: a value already in the format packs to its bits and unpacks to itself;
 * another rounds to nearest even on the way in; every one of the 65536 bit patterns of both
 * formats survives unpack -> pack (NaN payloads included), over chunk and thread borders. */
Test(cpu_elementwise, pack_unpack_bits_and_round_trip)
{
    backend *be = tu_backend();
    enum { N = 65536 };
    float *x = tu_buf(be, N);
    uint16_t *h = bk_alloc(be, N * sizeof *h), *back = bk_alloc(be, N * sizeof *back);
    cr_assert(h && back);
    float v[] = {1.0f, -2.0f, 65504.0f, 0x1p-24f, 1.0f + 0x1p-10f, 1.0f + 0x1p-11f, INFINITY};
    uint16_t f16[] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x3c01, 0x3c00, 0x7c00};
    uint16_t b16[] = {0x3f80, 0xc000, 0x4780, 0x3380, 0x3f80, 0x3f80, 0x7f80};
    for (int i = 0; i < 7; i++) x[i] = v[i];
    bk_pack(be, h, x, 7, DT_F16);
    for (int i = 0; i < 7; i++) cr_assert_eq(h[i], f16[i], "fp16 %d: %04x", i, h[i]);
    bk_pack(be, h, x, 7, DT_BF16);
    for (int i = 0; i < 7; i++) cr_assert_eq(h[i], b16[i], "bf16 %d: %04x", i, h[i]);
    for (int dt = DT_F16; dt <= DT_BF16; dt++) {
        for (int i = 0; i < N; i++) h[i] = (uint16_t)i;
        bk_unpack(be, x, h, N, (dtype_t)dt);
        for (int i = 0; i < N; i++) {
            float want = dt == DT_F16 ? num_f16_to_f32((uint16_t)i) : num_bf16_to_f32((uint16_t)i);
            cr_assert(memcmp(&x[i], &want, 4) == 0, "%s %04x", dtype_name((dtype_t)dt), i);
        }
        bk_pack(be, back, x, N, (dtype_t)dt);
        for (int i = 0; i < N; i++)
            if (!isnan(x[i])) cr_assert_eq(back[i], (uint16_t)i, "%s %04x", dtype_name((dtype_t)dt), i);
            else cr_assert(isnan(dt == DT_F16 ? num_f16_to_f32(back[i]) : num_bf16_to_f32(back[i])));
    }
    bk_pack(be, h, x, 0, DT_BF16); /* empty: nothing written, no crash */
    bk_destroy(be);
}
