/* test_cuda_util.h — helpers for the CUDA-vs-CPU cross-checks: a backend pair (the test is
 * skipped, with the reason, when no usable GPU is present), transfers, and comparisons in
 * units of the output dtype's ulp. */
#ifndef MPTUI_TEST_CUDA_UTIL_H
#define MPTUI_TEST_CUDA_UTIL_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "test_cpu_util.h"

typedef struct {
    backend *cpu, *gpu;
} tc_pair;

/* The CUDA backend, or a visible skip saying why there is none. MPTUI_TEST_CUDA_AS_CPU=1
 * pairs two CPU backends instead (1 and 2 threads): it exercises these tests' own code on a
 * machine without a GPU, and proves nothing about CUDA. */
static inline backend *tc_gpu_or_skip(void)
{
    char err[256] = "";
    const char *fake = getenv("MPTUI_TEST_CUDA_AS_CPU");
    backend *be = bk_create(fake && *fake == '1' ? BK_CPU : BK_CUDA, 1, err, sizeof err);
    if (!be) cr_skip_test("no usable CUDA device (%s)", err);
    return be;
}

static inline tc_pair tc_pair_or_skip(void)
{
    tc_pair p;
    p.gpu = tc_gpu_or_skip();
    p.cpu = tu_backend();
    return p;
}

/* Backend buffers of the running test (each test is its own process), freed with the pair. */
enum { TC_MAX_BUFS = 256 };
static struct {
    backend *be;
    void *p;
} tc_bufs[TC_MAX_BUFS];
static int tc_nbufs;

static inline void *tc_alloc(backend *be, size_t bytes)
{
    void *p = bk_alloc(be, bytes);
    cr_assert_not_null(p, "bk_alloc(%zu)", bytes);
    cr_assert_lt(tc_nbufs, TC_MAX_BUFS);
    tc_bufs[tc_nbufs].be = be;
    tc_bufs[tc_nbufs++].p = p;
    return p;
}

static inline float *tc_buf(backend *be, size_t n) { return tc_alloc(be, n * sizeof(float)); }

static inline void tc_pair_free(tc_pair *p)
{
    for (int i = 0; i < tc_nbufs; i++) bk_free(tc_bufs[i].be, tc_bufs[i].p);
    tc_nbufs = 0;
    bk_destroy(p->cpu);
    bk_destroy(p->gpu);
}

/* A backend copy of host data (n floats). */
static inline float *tc_up(backend *be, const float *host, size_t n)
{
    float *d = tc_buf(be, n);
    bk_upload(be, d, host, n * sizeof *host);
    return d;
}

static inline int32_t *tc_up_i32(backend *be, const int32_t *host, size_t n)
{
    int32_t *d = tc_alloc(be, n * sizeof *d);
    bk_upload(be, d, host, n * sizeof *host);
    return d;
}

/* Host copy of a backend buffer (malloc'd); fails the test when the backend has failed. */
static inline float *tc_down(backend *be, const float *dev, size_t n)
{
    float *h = malloc(n * sizeof *h);
    cr_assert_not_null(h);
    bk_download(be, h, dev, n * sizeof *h);
    char err[512] = "";
    cr_assert_eq(bk_status(be, err, sizeof err), 0, "backend failed: %s", err);
    return h;
}

/* Rounded random data: values representable in dt, as an op's inputs of that dtype are. */
static inline float *tc_rand(size_t n, uint64_t seed, float scale, dtype_t dt)
{
    float *h = malloc(n * sizeof *h);
    cr_assert_not_null(h);
    tu_fill(h, n, seed, scale);
    num_round(h, h, n, dt, NULL);
    return h;
}

/* One unit in the last place of dt at |x| (the spacing of dt's values there). */
static inline double tc_ulp(double x, dtype_t dt)
{
    int mant = dt == DT_F16 ? 10 : dt == DT_BF16 ? 7 : 23;
    double min_exp = dt == DT_F16 ? -14 : -126;
    x = fabs(x);
    int e;
    frexp(x, &e); /* x = f * 2^e, f in [0.5, 1) */
    double ex = x > 0 ? (double)(e - 1) : min_exp;
    if (ex < min_exp) ex = min_exp;
    return ldexp(1.0, (int)ex - mant);
}

static inline void tc_bits_eq(const float *got, const float *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t a, b;
        memcpy(&a, &got[i], 4);
        memcpy(&b, &want[i], 4);
        cr_assert_eq(a, b, "%s[%zu]: cuda %08x (%.9g) cpu %08x (%.9g)", what, i, a,
                     (double)got[i], b, (double)want[i]);
    }
}

/* |got - want| <= ulps * ulp_dt(want) + abs_err[i] (abs_err may be NULL): `ulps` covers the
 * output rounding landing on a neighbour, abs_err the fp32 work before it. Non-finite values
 * must match exactly. */
static inline void tc_close_ulp(const float *got, const float *want, size_t n, dtype_t dt,
                                double ulps, const double *abs_err, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        if (!isfinite(w) || !isfinite(g)) {
            cr_assert((isnan(g) && isnan(w)) || g == w, "%s[%zu]: cuda %.9g cpu %.9g", what, i,
                      g, w);
            continue;
        }
        double tol = ulps * tc_ulp(w, dt) + (abs_err ? abs_err[i] : 0.0);
        cr_assert(fabs(g - w) <= tol, "%s[%zu]: cuda %.9g cpu %.9g (|diff| %.3g > tol %.3g)",
                  what, i, g, w, fabs(g - w), tol);
    }
}

/* Stats of two backends for the same op: counts equal; amax within rel; overflow / underflow
 * within `slack` elements (values at a rounding boundary may fall either way when the fp32
 * work before the rounding differs in the last bit). */
static inline void tc_stats_close(const num_stats *g, const num_stats *c, double rel,
                                  uint64_t slack, const char *what)
{
    cr_assert_eq(g->count, c->count, "%s count: cuda %llu cpu %llu", what,
                 (unsigned long long)g->count, (unsigned long long)c->count);
    cr_assert_eq(g->nonfinite, c->nonfinite, "%s nonfinite", what);
    cr_assert(fabs((double)g->amax - c->amax) <= rel * c->amax, "%s amax: cuda %.9g cpu %.9g",
              what, (double)g->amax, (double)c->amax);
    /* amin_nz within rel of amax: the smallest magnitude often comes from cancellation,
     * where a last-bit difference of the fp32 work is large relative to it */
    cr_assert(fabs((double)g->amin_nz - c->amin_nz) <= rel * c->amax,
              "%s amin_nz: cuda %.9g cpu %.9g", what, (double)g->amin_nz, (double)c->amin_nz);
    uint64_t dov = g->overflow > c->overflow ? g->overflow - c->overflow
                                             : c->overflow - g->overflow;
    uint64_t dun = g->underflow > c->underflow ? g->underflow - c->underflow
                                               : c->underflow - g->underflow;
    cr_assert(dov <= slack, "%s overflow: cuda %llu cpu %llu", what,
              (unsigned long long)g->overflow, (unsigned long long)c->overflow);
    cr_assert(dun <= slack, "%s underflow: cuda %llu cpu %llu", what,
              (unsigned long long)g->underflow, (unsigned long long)c->underflow);
}

static inline void tc_stats_eq(const num_stats *g, const num_stats *c, const char *what)
{
    tc_stats_close(g, c, 0.0, 0, what);
    cr_assert_eq(g->amax, c->amax, "%s amax", what);
    cr_assert_eq(g->amin_nz, c->amin_nz, "%s amin_nz", what);
}


#endif
