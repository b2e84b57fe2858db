/* test_cpu_util.h — helpers shared by the tests of the CPU backend: seeded random data,
 * a 2-thread backend, bit comparison and central finite differences in double. */
#ifndef MPTUI_TEST_CPU_UTIL_H
#define MPTUI_TEST_CPU_UTIL_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

static inline uint64_t tu_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Uniform in [-1, 1). */
static inline float tu_uniform(uint64_t *s)
{
    return (float)((double)(tu_next(s) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static inline void tu_fill(float *x, size_t n, uint64_t seed, float scale)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) x[i] = scale * tu_uniform(&s);
}

static inline float *tu_buf(backend *be, size_t n)
{
    float *p = bk_alloc(be, n * sizeof(float));
    cr_assert_not_null(p);
    return p;
}

static inline backend *tu_backend(void)
{
    char err[256];
    backend *be = bk_create(BK_CPU, 2, err, sizeof err);
    cr_assert_not_null(be, "%s", err);
    return be;
}

/* |got - want| <= atol + rtol |want| for every element. */
static inline void tu_close(const float *got, const double *want, size_t n, double atol,
                            double rtol, const char *what)
{
    for (size_t i = 0; i < n; i++)
        cr_assert(fabs((double)got[i] - want[i]) <= atol + rtol * fabs(want[i]),
                  "%s[%zu]: got %.9g want %.9g", what, i, (double)got[i], want[i]);
}

/* Central difference of a scalar function of a double vector, at every coordinate. */
typedef double (*tu_fn)(const double *x, void *ctx);
static inline void tu_fd_grad(tu_fn f, double *x, size_t n, void *ctx, double h, double *g)
{
    for (size_t i = 0; i < n; i++) {
        double x0 = x[i];
        x[i] = x0 + h;
        double fp = f(x, ctx);
        x[i] = x0 - h;
        double fm = f(x, ctx);
        x[i] = x0;
        g[i] = (fp - fm) / (2.0 * h);
    }
}

static inline double *tu_to_double(const float *x, size_t n)
{
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

#endif
