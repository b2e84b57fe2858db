/* test_cuda_fp8.c — CUDA vs CPU FP8 ops (docs/cuda.md, "FP8"): per-tensor and MXFP8 casts and
 * amax bit for bit with their stats; FP8 Linear forward / backward on both CUDA GEMM paths.
 *
 * GEMM tolerance per element: 1 ulp of the output dtype (the single rounding may land on the
 * other neighbour) plus |alpha| (16 sqrt(K) 2^-24 + lt) sum_k |a b|. The products of fp8
 * values are exact in fp32, so what differs is the order of the fp32 additions: 16 sqrt(K) u
 * is the probabilistic bound of Higham and Mary (2019) for two such sums with a margin (the
 * classical 2 K u would let a wrong layout pass at K = 50257: a wrong sum is off by about
 * sum |a b| / sqrt(K)). lt = 2^-11 on the cuBLASLt path only: Hopper's FP8 tensor cores add
 * with about 14 significant bits inside an accumulation interval before cuBLASLt (fast
 * accumulation off) promotes the partial sum to fp32 (DeepSeek-V3 report, 3.3.2). That term is
 * a first estimate, to confirm on a GPU; the whole bound stays 6x (K = 50257) to 70x (K = 768)
 * below what a layout, transposition, padding or scale mistake does here. */
#include "test_cuda_util.h"
#include "test_deadline.h"

#include <float.h>
#include <stdio.h>

/* ---- backends ---- */

/* Frees (at once: the GPT-2 buffers are large) the buffers tc_alloc handed out since mark. */
static void free_since(int mark)
{
    while (tc_nbufs > mark) {
        tc_nbufs--;
        bk_free(tc_bufs[tc_nbufs].be, tc_bufs[tc_nbufs].p);
    }
}

/* A CUDA backend whose FP8 GEMMs run as MPTUI_CUDA_FP8_GEMM=mode says (docs/cuda.md). */
static backend *gpu_mode(const char *mode)
{
    setenv("MPTUI_CUDA_FP8_GEMM", mode, 1);
    backend *be = tc_gpu_or_skip();
    unsetenv("MPTUI_CUDA_FP8_GEMM");
    return be;
}

/* The compute capability in bk_describe's "(sm_90, ...)"; 0 for a CPU stand-in. */
static int gpu_cc(backend *be)
{
    const char *s = strstr(bk_describe(be), "(sm_");
    int cc = 0;
    return s && sscanf(s, "(sm_%d", &cc) == 1 ? cc : 0;
}

/* The reference with every core: the large GEMMs would take minutes on two threads, and the
 * CPU backend's results do not depend on the thread count. */
static backend *cpu_all_cores(void)
{
    char err[256] = "";
    backend *be = bk_create(BK_CPU, 0, err, sizeof err);
    cr_assert_not_null(be, "%s", err);
    return be;
}

/* ---- data ---- */

static float from_bits(uint32_t u)
{
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* Magnitudes from 2^-30 to 2^20 (both formats' subnormals, normals and overflow after
 * scaling), random signs and mantissas; then the edge cases of format f at scale 1. */
static float *fp8_inputs(size_t n, uint64_t seed, fp8_format f)
{
    float *x = malloc(n * sizeof *x);
    cr_assert_not_null(x);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 7;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = tu_next(&s);
        uint32_t e = 127u - 30u + (uint32_t)(r % 51u), m = (uint32_t)(r >> 20) & 0x7fffffu;
        x[i] = from_bits((uint32_t)((r >> 63) << 31) | e << 23 | m);
    }
    float mx = num_fp8_max(f), ulp = f == FP8_E4M3 ? 32.0f : 8192.0f;
    float sub = f == FP8_E4M3 ? 0x1p-9f : 0x1p-16f; /* smallest subnormal */
    const float edge[] = {0.0f, -0.0f, INFINITY, -INFINITY, from_bits(0x7fc00000u),
                          from_bits(0xffc00000u), from_bits(0x7fa12345u), FLT_MAX, -FLT_MAX,
                          0x1p-149f, FLT_MIN, mx, -mx, nextafterf(mx, INFINITY),
                          mx + ulp / 2, -(mx + ulp / 2), nextafterf(mx + ulp / 2, INFINITY),
                          nextafterf(mx + ulp / 2, 0.0f), mx + ulp, 2 * mx, sub, sub / 2,
                          nextafterf(sub / 2, 1.0f), sub * 0.75f, sub * 1.5f, sub * 2.5f,
                          f == FP8_E4M3 ? 0x1p-6f : 0x1p-14f, 1.0f, -1.0f, 3.0f};
    size_t ne = sizeof edge / sizeof edge[0];
    cr_assert_gt(n, 10 * ne);
    for (size_t k = 0; k < ne; k++) x[k * 7] = edge[k]; /* spread over blocks and warps */
    return x;
}

/* ---- per-tensor cast ---- */

static void quantize_case(tc_pair *p, fp8_format f, float scale, int in_place)
{
    enum { N = 100003 }; /* not a multiple of any block or warp */
    float *x = fp8_inputs(N, 11 + (uint64_t)f, f);
    backend *be[2] = {p->gpu, p->cpu};
    float *out[2];
    num_stats st[2];
    for (int k = 0; k < 2; k++) {
        num_stats_reset(&st[k]);
        float *src = tc_up(be[k], x, N), *dst = in_place ? src : tc_buf(be[k], N);
        bk_fp8_quantize(be[k], dst, src, N, f, scale, &st[k]);
        out[k] = tc_down(be[k], dst, N); /* a synchronizing call: the stats land */
    }
    char what[80];
    snprintf(what, sizeof what, "fp8_quantize %s scale %g%s", num_fp8_name(f), (double)scale,
             in_place ? " in place" : "");
    tc_bits_eq(out[0], out[1], N, what);
    tc_stats_eq(&st[0], &st[1], what);
    cr_assert_eq(st[1].count, N, "%s: count", what);
    cr_assert_gt(st[1].nonfinite, 0, "%s: the data holds Inf and NaN", what);
    if (scale < 1e6f) cr_assert_gt(st[1].underflow, 0, "%s: the data underflows", what);
    cr_assert_gt(st[1].overflow, 0, "%s: the data saturates", what);
    free(x), free(out[0]), free(out[1]);
}

Test(cuda_fp8, quantize_bits_and_stats)
{
    tc_pair p = tc_pair_or_skip();
    for (int f = 0; f < FP8_FORMATS; f++) {
        quantize_case(&p, (fp8_format)f, 1.0f, 0);
        quantize_case(&p, (fp8_format)f, 0.3f, 0);              /* not a power of two */
        quantize_case(&p, (fp8_format)f, 448.0f / 3.1f, 1);     /* a recipe's scale, in place */
        quantize_case(&p, (fp8_format)f, 1e30f, 0);             /* src * scale overflows fp32 */
    }
    tc_pair_free(&p);
}

/* Every fp8 value of f, decoded on the host, survives the device cast unchanged at scale 1. */
Test(cuda_fp8, quantize_every_fp8_value)
{
    tc_pair p = tc_pair_or_skip();
    for (int f = 0; f < FP8_FORMATS; f++) {
        float v[256];
        for (int b = 0; b < 256; b++) v[b] = num_fp8_to_f32((uint8_t)b, (fp8_format)f);
        float *d = tc_up(p.gpu, v, 256);
        bk_fp8_quantize(p.gpu, d, d, 256, (fp8_format)f, 1.0f, NULL);
        float *got = tc_down(p.gpu, d, 256);
        for (int b = 0; b < 256; b++) {
            uint32_t g, w;
            memcpy(&g, &got[b], 4);
            memcpy(&w, &v[b], 4);
            /* NaN codes all become the one NaN the cast produces, with their sign */
            if (isnan(v[b])) cr_assert(isnan(got[b]) && signbit(got[b]) == signbit(v[b]));
            else if (!isinf(v[b])) cr_assert_eq(g, w, "%s 0x%02x: %08x -> %08x",
                                                num_fp8_name((fp8_format)f), b, w, g);
        }
        free(got);
    }
    tc_pair_free(&p);
}

/* ---- MXFP8 ---- */

/* Rows of magnitudes 2^-20 .. 2^19 (one block exponent each), a zero block, a block of fp32
 * subnormals (exponent clamped to -127), one of huge values, and NaN / Inf in others. */
static float *mx_inputs(int rows, int cols, uint64_t seed)
{
    size_t n = (size_t)rows * cols;
    float *x = malloc(n * sizeof *x);
    cr_assert_not_null(x);
    tu_fill(x, n, seed, 1.0f);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) x[(size_t)r * cols + c] *= ldexpf(1.0f, r % 40 - 20 + c % 3);
    for (int c = 0; c < 32 && c < cols; c++) {
        x[c] = 0.0f;                                       /* row 0, first block: zeros */
        if (rows > 1) x[(size_t)cols + c] = 1e-41f * (float)(c + 1); /* row 1: subnormal */
        if (rows > 2) x[2 * (size_t)cols + c] = 3e38f / (float)(c + 1); /* row 2: huge */
    }
    x[n / 2] = NAN;
    x[n / 3] = -INFINITY;
    x[n - 1] = INFINITY;
    return x;
}

static void mx_case(tc_pair *p, int rows, int cols, int along, fp8_format f)
{
    size_t n = (size_t)rows * cols;
    float *x = mx_inputs(rows, cols, 21 + (uint64_t)along);
    backend *be[2] = {p->gpu, p->cpu};
    float *out[2];
    num_stats st[2];
    for (int k = 0; k < 2; k++) {
        num_stats_reset(&st[k]);
        float *src = tc_up(be[k], x, n), *dst = tc_buf(be[k], n);
        bk_mx_quantize(be[k], dst, src, rows, cols, along, f, &st[k]);
        out[k] = tc_down(be[k], dst, n);
    }
    char what[80];
    snprintf(what, sizeof what, "mx_quantize %dx%d along %d %s", rows, cols, along,
             num_fp8_name(f));
    tc_bits_eq(out[0], out[1], n, what);
    tc_stats_eq(&st[0], &st[1], what);
    free(x), free(out[0]), free(out[1]);
}

Test(cuda_fp8, mx_quantize_both_orientations)
{
    tc_pair p = tc_pair_or_skip();
    for (int f = 0; f < FP8_FORMATS; f++)
        for (int along = 0; along < 2; along++) {
            mx_case(&p, 70, 100, along, (fp8_format)f); /* short last blocks both ways */
            mx_case(&p, 4096, 768, along, (fp8_format)f); /* GPT-2's activations */
        }
    tc_pair_free(&p);
}

/* ---- amax ---- */

Test(cuda_fp8, amax_matches_cpu)
{
    tc_pair p = tc_pair_or_skip();
    enum { N = 300007 };
    float *x = fp8_inputs(N, 31, FP8_E4M3);
    x[5] = FLT_MAX; /* the largest finite value wins over the Inf and NaN around it */
    float want = 0.0f;
    for (size_t i = 0; i < N; i++)
        if (isfinite(x[i]) && fabsf(x[i]) > want) want = fabsf(x[i]);
    backend *be[2] = {p.gpu, p.cpu};
    float nf[3] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < 2; k++) {
        float *d = tc_up(be[k], x, N), *dn = tc_up(be[k], nf, 3);
        cr_assert_eq(bk_amax(be[k], d, N), want, "amax on %s", bk_describe(be[k]));
        cr_assert_eq(bk_amax(be[k], d + 6, 1), fabsf(x[6]));
        cr_assert_eq(bk_amax(be[k], dn, 3), 0.0f, "no finite value: 0");
        cr_assert_eq(bk_amax(be[k], d, 0), 0.0f, "empty: 0");
    }
    free(x);
    tc_pair_free(&p);
}

/* ---- FP8 Linear ---- */

typedef struct {
    int N, C, OC, w_trans;
    int f_in, f_w, f_g;         /* fp8_format or FP8_DEQUANTIZED */
    dtype_t dt;                 /* dt_out and dt_g */
    int bias, dw_zero;          /* a bias (and db); dw starts at zero (else random) */
    float alpha, alpha_dinp, alpha_dw;
    /* host data: quantized inputs (scaled domain), bias, dout and its quantized copy */
    float *inq, *wq, *b, *dout, *doutq, *dw0, *db0;
} mm_case;

static mm_case mm_shape(int N, int C, int OC, int w_trans, int f_in, int f_w, int f_g,
                        dtype_t dt, int bias, int dw_zero)
{
    mm_case c;
    memset(&c, 0, sizeof c);
    c.N = N, c.C = C, c.OC = OC, c.w_trans = w_trans;
    c.f_in = f_in, c.f_w = f_w, c.f_g = f_g, c.dt = dt, c.bias = bias, c.dw_zero = dw_zero;
    return c;
}

typedef struct {
    float *out, *dinp, *dw, *db;
    num_stats st[3]; /* out, dinp, dw (+ db) */
} mm_result;

/* x (n values, uniform in [-amp, amp)) cast as the recipes do: per-tensor fp8 at the scale
 * max / amax (returned), or MXFP8 along `along` of a (rows, cols) matrix (scale 1). */
static float *quantized(size_t rows, size_t cols, uint64_t seed, float amp, int f, int along,
                        float *scale)
{
    size_t n = rows * cols;
    float *x = tc_rand(n, seed, amp, DT_BF16);
    *scale = 1.0f;
    if (f == FP8_DEQUANTIZED) {
        num_mx_quantize(x, x, (int)rows, (int)cols, along, FP8_E4M3, NULL);
    } else {
        float amax = 0.0f;
        for (size_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(x[i]));
        *scale = num_fp8_max((fp8_format)f) / amax;
        num_fp8_quantize(x, x, n, (fp8_format)f, *scale, NULL);
    }
    return x;
}

static void mm_make(mm_case *c, uint64_t seed)
{
    size_t N = (size_t)c->N, C = (size_t)c->C, OC = (size_t)c->OC;
    float s_in, s_w, s_g;
    c->inq = quantized(N, C, seed, 2.0f, c->f_in, 1, &s_in);
    /* the weight's reduction dimension is C: blocks along it in either layout */
    c->wq = quantized(c->w_trans ? OC : C, c->w_trans ? C : OC, seed + 1, 0.05f, c->f_w,
                      c->w_trans ? 1 : 0, &s_w);
    c->dout = tc_rand(N * OC, seed + 2, 1e-3f, c->dt);
    c->doutq = malloc(N * OC * sizeof *c->doutq);
    cr_assert_not_null(c->doutq);
    memcpy(c->doutq, c->dout, N * OC * sizeof *c->doutq);
    if (c->f_g == FP8_DEQUANTIZED) {
        num_mx_quantize(c->doutq, c->doutq, (int)N, (int)OC, 1, FP8_E5M2, NULL);
        s_g = 1.0f;
    } else {
        float amax = 0.0f;
        for (size_t i = 0; i < N * OC; i++) amax = fmaxf(amax, fabsf(c->dout[i]));
        s_g = num_fp8_max((fp8_format)c->f_g) / amax;
        num_fp8_quantize(c->doutq, c->dout, N * OC, (fp8_format)c->f_g, s_g, NULL);
    }
    c->alpha = 1.0f / (s_in * s_w);
    c->alpha_dinp = 1.0f / (s_g * s_w);
    c->alpha_dw = 1.0f / (s_in * s_g);
    c->b = c->bias ? tc_rand(OC, seed + 3, 0.5f, c->dt) : NULL;
    c->dw0 = c->dw_zero ? calloc(C * OC, sizeof(float)) : tc_rand(C * OC, seed + 4, 0.01f, DT_F32);
    c->db0 = tc_rand(OC, seed + 5, 0.01f, DT_F32);
    cr_assert_not_null(c->dw0);
}

static void mm_free_case(mm_case *c)
{
    free(c->inq), free(c->wq), free(c->b), free(c->dout), free(c->doutq), free(c->dw0),
        free(c->db0);
}

static void mm_run(backend *be, const mm_case *c, mm_result *r)
{
    size_t N = (size_t)c->N, C = (size_t)c->C, OC = (size_t)c->OC;
    int mark = tc_nbufs;
    for (int j = 0; j < 3; j++) num_stats_reset(&r->st[j]);
    float *x = tc_up(be, c->inq, N * C), *w = tc_up(be, c->wq, C * OC);
    float *d = tc_up(be, c->dout, N * OC), *dq = tc_up(be, c->doutq, N * OC);
    float *b = c->b ? tc_up(be, c->b, OC) : NULL, *o = tc_buf(be, N * OC);
    float *di = tc_buf(be, N * C), *dw = tc_up(be, c->dw0, C * OC);
    float *db = c->b ? tc_up(be, c->db0, OC) : NULL;
    bk_fp8_matmul_forward(be, o, x, c->f_in, w, c->f_w, b, c->N, c->C, c->OC, c->w_trans,
                          c->alpha, c->dt, &r->st[0]);
    bk_fp8_matmul_backward(be, di, dw, db, d, dq, c->f_g, x, c->f_in, w, c->f_w, c->N, c->C,
                           c->OC, c->w_trans, c->alpha_dinp, c->alpha_dw, c->dt, &r->st[1],
                           &r->st[2]);
    r->out = tc_down(be, o, N * OC);
    r->dinp = tc_down(be, di, N * C);
    r->dw = tc_down(be, dw, C * OC);
    r->db = c->b ? tc_down(be, db, OC) : NULL;
    free_since(mark);
}

static void mm_result_free(mm_result *r) { free(r->out), free(r->dinp), free(r->dw), free(r->db); }

/* |op(A)| |op(B)| on the CPU backend in fp32 (bk_gemm): sum_k |a b| for the bounds, within
 * K 2^-24 of itself (the caller adds 1%). */
static float *abs_product(backend *cpu, const float *A, int ta, const float *B, int tb, int M,
                          int N, int K)
{
    size_t na = (size_t)M * K, nb = (size_t)K * N;
    int mark = tc_nbufs;
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b);
    cr_assert(a && b);
    for (size_t i = 0; i < na; i++) a[i] = fabsf(A[i]);
    for (size_t i = 0; i < nb; i++) b[i] = fabsf(B[i]);
    float *da = tc_up(cpu, a, na), *db = tc_up(cpu, b, nb), *dc = tc_buf(cpu, (size_t)M * N);
    bk_gemm(cpu, dc, DT_F32, da, DT_F32, ta, db, DT_F32, tb, M, N, K, 1.0f, 0, NULL);
    float *s = tc_down(cpu, dc, (size_t)M * N);
    free_since(mark);
    free(a), free(b);
    return s;
}

/* abs_err[i] = |alpha| (16 sqrt(K) 2^-24 + lt) 1.01 S[i] (+ the ulp of dt at that size, for
 * gradients added into fp32). */
static double *gemm_err(const float *S, size_t n, int K, float alpha, double lt, dtype_t ulp_dt)
{
    double *e = malloc(n * sizeof *e);
    cr_assert_not_null(e);
    for (size_t i = 0; i < n; i++) {
        double s = fabs((double)alpha) * 1.01 * S[i];
        e[i] = (16.0 * sqrt((double)K) * 0x1p-24 + lt) * s + (ulp_dt != DT_F32 ? tc_ulp(s, ulp_dt) : 0.0);
    }
    return e;
}

static void bf16_exact(const float *x, size_t n, dtype_t dt, const char *what)
{
    if (dt == DT_F32) return;
    cr_assert(num_is_exact(x, n, dt), "%s: a value not representable in %s", what,
              dtype_name(dt));
}

/* sum_k |a b| of the three products (for the bounds), computed once per case. */
typedef struct {
    float *out, *dinp, *dw;
} mm_sums;

static mm_sums mm_abs_sums(backend *cpu, const mm_case *c)
{
    mm_sums s;
    s.out = abs_product(cpu, c->inq, 0, c->wq, c->w_trans, c->N, c->OC, c->C);
    s.dinp = abs_product(cpu, c->doutq, 0, c->wq, !c->w_trans, c->N, c->C, c->OC);
    /* dw in w's layout: inq^T @ doutq (C,OC), or doutq^T @ inq (OC,C) */
    s.dw = c->w_trans ? abs_product(cpu, c->doutq, 1, c->inq, 0, c->OC, c->C, c->N)
                      : abs_product(cpu, c->inq, 1, c->doutq, 0, c->C, c->OC, c->N);
    return s;
}

/* Compares GPU result g (its GEMMs on cuBLASLt when lt) with the CPU's r. */
static void mm_compare(const mm_case *c, const mm_sums *S, const mm_result *g,
                       const mm_result *r, int lt, const char *label)
{
    size_t N = (size_t)c->N, C = (size_t)c->C, OC = (size_t)c->OC;
    double ltb = lt ? 0x1p-11 : 0.0;
    char what[160];
    double *e = gemm_err(S->out, N * OC, c->C, c->alpha, ltb, DT_F32);
    snprintf(what, sizeof what, "%s out", label);
    tc_close_ulp(g->out, r->out, N * OC, c->dt, c->dt == DT_F32 ? 0.0 : 1.0, e, what);
    bf16_exact(g->out, N * OC, c->dt, what);
    free(e);
    e = gemm_err(S->dinp, N * C, c->OC, c->alpha_dinp, ltb, DT_F32);
    snprintf(what, sizeof what, "%s dinp", label);
    tc_close_ulp(g->dinp, r->dinp, N * C, c->dt, c->dt == DT_F32 ? 0.0 : 1.0, e, what);
    bf16_exact(g->dinp, N * C, c->dt, what);
    free(e);
    e = gemm_err(S->dw, C * OC, c->N, c->alpha_dw, ltb, c->dt);
    snprintf(what, sizeof what, "%s dw", label);
    tc_close_ulp(g->dw, r->dw, C * OC, DT_F32, 2.0, e, what);
    if (c->dw_zero) bf16_exact(g->dw, C * OC, c->dt, what);
    free(e);
    if (c->b) { /* db from the unquantized dout, fp32 sums in another order */
        double *eb = malloc(OC * sizeof *eb);
        cr_assert_not_null(eb);
        for (size_t j = 0; j < OC; j++) {
            double s = 0;
            for (size_t n = 0; n < N; n++) s += fabs(c->dout[n * OC + j]);
            eb[j] = 16.0 * sqrt((double)N) * 0x1p-24 * s + (c->dt == DT_F32 ? 0.0 : tc_ulp(s, c->dt));
        }
        snprintf(what, sizeof what, "%s db", label);
        tc_close_ulp(g->db, r->db, OC, DT_F32, 2.0, eb, what);
        free(eb);
    }
    const char *part[3] = {"out", "dinp", "dw"};
    for (int j = 0; j < 3; j++) {
        snprintf(what, sizeof what, "%s stats %s", label, part[j]);
        /* amax within 1 ulp of dt (a last-bit difference before the rounding); overflow and
         * underflow of the rounding may differ where a value sits at a boundary */
        tc_stats_close(&g->st[j], &r->st[j], 1.0 / 128, 2 + (N * OC) / 1000000, what);
    }
}

/* The case on the CPU and on every CUDA GEMM path this GPU has: cuBLASLt FP8 (sm_89+, where a
 * cuBLASLt failure fails the test instead of falling back) and the fp32 GEMM. */
static void mm_case_run(mm_case *c, uint64_t seed, const char *name)
{
    backend *probe = tc_gpu_or_skip();
    int lt = gpu_cc(probe) >= 89;
    bk_destroy(probe);
    backend *cpu = cpu_all_cores();
    mm_make(c, seed);
    mm_result want;
    mm_run(cpu, c, &want);
    mm_sums S = mm_abs_sums(cpu, c);
    const char *modes[2] = {lt ? "cublaslt" : "auto", "fp32"};
    for (int m = 0; m < 2; m++) {
        backend *gpu = gpu_mode(modes[m]);
        mm_result got;
        mm_run(gpu, c, &got);
        char label[120];
        snprintf(label, sizeof label, "%s N=%d C=%d OC=%d w_trans=%d f %d/%d/%d [%s]", name,
                 c->N, c->C, c->OC, c->w_trans, c->f_in, c->f_w, c->f_g, modes[m]);
        mm_compare(c, &S, &got, &want, m == 0 && lt, label);
        mm_result_free(&got);
        bk_destroy(gpu);
    }
    free(S.out), free(S.dinp), free(S.dw);
    mm_result_free(&want);
    mm_free_case(c);
    bk_destroy(cpu);
}

/* Odd shapes (every dimension padded for cuBLASLt), both layouts, every format pair (E5M2 x
 * E5M2 has no cuBLASLt kernel: the fp32 GEMM), MXFP8's dequantized operands, fp32 outputs. */
Test(cuda_fp8, matmul_shapes_formats_layouts)
{
    for (int wt = 0; wt < 2; wt++) {
        mm_case a = mm_shape(37, 50, 70, wt, FP8_E4M3, FP8_E4M3, FP8_E5M2, DT_BF16, 1, 0);
        mm_case_run(&a, 100 + (uint64_t)wt, "hybrid");
        mm_case b = mm_shape(64, 48, 80, wt, FP8_E4M3, FP8_E4M3, FP8_E4M3, DT_BF16, 1, 1);
        mm_case_run(&b, 200 + (uint64_t)wt, "e4m3");
        mm_case d = mm_shape(33, 96, 17, wt, FP8_E5M2, FP8_E5M2, FP8_E5M2, DT_F32, 0, 0);
        mm_case_run(&d, 300 + (uint64_t)wt, "e5m2 x e5m2");
        int dq = FP8_DEQUANTIZED;
        mm_case m = mm_shape(64, 96, 40, wt, dq, dq, dq, DT_BF16, 1, 0);
        mm_case_run(&m, 400 + (uint64_t)wt, "mxfp8");
    }
}

/* GPT-2 124M's MLP up-projection at B x T = 4 x 1024 (TE's hybrid formats, bf16). */
Test(cuda_fp8, matmul_gpt2_fc)
{
    test_deadline(280);
    mm_case c = mm_shape(4 * 1024, 768, 3072, 0, FP8_E4M3, FP8_E4M3, FP8_E5M2, DT_BF16, 1, 1);
    mm_case_run(&c, 500, "gpt2 fc");
}

/* The tied lm_head: w is wte (V, C), stored transposed; V = 50257 pads to 50272. */
Test(cuda_fp8, matmul_gpt2_lm_head)
{
    test_deadline(280);
    mm_case c = mm_shape(4 * 1024, 768, 50257, 1, FP8_E4M3, FP8_E4M3, FP8_E5M2, DT_BF16, 0, 1);
    mm_case_run(&c, 600, "gpt2 lm_head");
}

/* ---- bad inputs ---- */

/* A format value other than E5M2 casts as E4M3 on both backends (numerics.h): no error. */
Test(cuda_fp8, other_format_casts_as_e4m3)
{
    tc_pair p = tc_pair_or_skip();
    enum { N = 4099 };
    float *x = fp8_inputs(N, 41, FP8_E4M3);
    backend *be[2] = {p.gpu, p.cpu};
    float *out[2], *ref;
    num_stats st[2], st_ref;
    for (int k = 0; k < 2; k++) {
        num_stats_reset(&st[k]);
        float *d = tc_up(be[k], x, N);
        bk_fp8_quantize(be[k], d, d, N, (fp8_format)7, 0.3f, &st[k]);
        out[k] = tc_down(be[k], d, N);
    }
    ref = tc_up(p.gpu, x, N);
    num_stats_reset(&st_ref);
    bk_fp8_quantize(p.gpu, ref, ref, N, FP8_E4M3, 0.3f, &st_ref);
    float *want = tc_down(p.gpu, ref, N);
    tc_bits_eq(out[0], out[1], N, "format 7");
    tc_bits_eq(out[0], want, N, "format 7 vs e4m3");
    tc_stats_eq(&st[0], &st[1], "format 7");
    tc_stats_eq(&st[0], &st_ref, "format 7 vs e4m3");
    free(x), free(out[0]), free(out[1]), free(want);
    tc_pair_free(&p);
}

Test(cuda_fp8, unknown_gemm_mode_refuses_to_start)
{
    backend *gpu = tc_gpu_or_skip();
    int cuda = bk_get_kind(gpu) == BK_CUDA;
    bk_destroy(gpu);
    if (!cuda) cr_skip_test("CUDA-only error path");
    setenv("MPTUI_CUDA_FP8_GEMM", "tf32", 1);
    char err[256] = "";
    backend *be = bk_create(BK_CUDA, 1, err, sizeof err);
    unsetenv("MPTUI_CUDA_FP8_GEMM");
    cr_assert_null(be);
    cr_assert(strstr(err, "MPTUI_CUDA_FP8_GEMM=tf32"), "%s", err);
}
