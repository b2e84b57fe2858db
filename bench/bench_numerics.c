/* bench_numerics.c — elements/s of num_round (fp16 / bf16, with and without stats), of
 * num_is_exact on values already stored in the dtype (the check that lets a GEMM skip its
 * rounded input copy: compare with num_round) and of the array conversions, SIMD path vs
 * portable, median of 5 runs on 4M-element arrays; then num_fp8_quantize (E4M3 / E5M2, per-tensor
 * scale, with stats: what every FP8 GEMM input costs) next to num_round+stats to bf16. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "numerics.h"

enum { N = 1 << 22, REPS = 5 };

typedef enum { OP_ROUND, OP_ROUND_STATS, OP_EXACT, OP_TO_HALF, OP_FROM_HALF } op_kind;
static const char *const op_names[] = {"num_round", "num_round+stats", "num_is_exact (yes)",
                                       "f32->half array", "half->f32 array"};

typedef struct {
    float *src, *dst;
    uint16_t *half;
    float *exact; /* src rounded to the dtype being measured: num_is_exact scans it all */
} bufs;

static volatile int sink;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void run_once(const bufs *b, op_kind op, dtype_t dt)
{
    num_stats st;
    num_stats_reset(&st);
    switch (op) {
    case OP_ROUND: num_round(b->dst, b->src, N, dt, NULL); break;
    case OP_ROUND_STATS: num_round(b->dst, b->src, N, dt, &st); break;
    case OP_EXACT: sink = num_is_exact(b->exact, N, dt); break;
    case OP_TO_HALF:
        if (dt == DT_F16) num_f32_to_f16_array(b->half, b->src, N);
        else num_f32_to_bf16_array(b->half, b->src, N);
        break;
    case OP_FROM_HALF:
        if (dt == DT_F16) num_f16_to_f32_array(b->dst, b->half, N);
        else num_bf16_to_f32_array(b->dst, b->half, N);
        break;
    }
}

/* Elements per second, median of REPS timed runs after one warm-up. */
static double median_rate(const bufs *b, op_kind op, dtype_t dt)
{
    double t[REPS];
    run_once(b, op, dt);
    for (int r = 0; r < REPS; r++) {
        double t0 = now_s();
        run_once(b, op, dt);
        t[r] = now_s() - t0;
    }
    qsort(t, REPS, sizeof t[0], cmp_d);
    return (double)N / t[REPS / 2];
}

/* num_fp8_quantize with stats, scale 100 (a typical delayed-scaling scale for O(1) values):
 * elements per second, median of REPS after one warm-up. */
static double fp8_rate(const bufs *b, fp8_format f)
{
    double t[REPS];
    for (int r = -1; r < REPS; r++) {
        num_stats st;
        num_stats_reset(&st);
        double t0 = now_s();
        num_fp8_quantize(b->dst, b->src, N, f, 100.0f, &st);
        if (r >= 0) t[r] = now_s() - t0;
    }
    qsort(t, REPS, sizeof t[0], cmp_d);
    return (double)N / t[REPS / 2];
}

/* Activation-like values: mostly O(1), some tiny, a few beyond the fp16 range. */
static void fill(float *x)
{
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < N; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        float u = (float)(s >> 40) * 0x1p-24f * 8.0f - 4.0f;
        x[i] = (i % 97 == 0) ? u * 1e-7f : (i % 1009 == 0) ? u * 3e4f : u;
    }
}

int main(void)
{
    bufs b = {malloc(N * sizeof(float)), malloc(N * sizeof(float)), malloc(N * sizeof(uint16_t)),
              malloc(N * sizeof(float))};
    if (!b.src || !b.dst || !b.half || !b.exact) {
        fprintf(stderr, "bench_numerics: out of memory for %d-element arrays\n", N);
        return 1;
    }
    fill(b.src);
    memset(b.dst, 0, N * sizeof(float));
    num_f32_to_f16_array(b.half, b.src, N);
    printf("numerics: %d elements, median of %d, F16C/AVX2 %s\n", N, REPS,
           num_has_f16c() ? "available" : "absent");
    printf("%-18s %-5s %14s %14s %7s\n", "op", "dtype", "simd Melem/s", "portable Melem/s",
           "speedup");
    static const dtype_t dts[] = {DT_F16, DT_BF16};
    for (int op = OP_ROUND; op <= OP_FROM_HALF; op++) {
        for (int d = 0; d < 2; d++) {
            num_set_portable(0);
            num_round(b.exact, b.src, N, dts[d], NULL);
            double simd = median_rate(&b, (op_kind)op, dts[d]);
            num_set_portable(1);
            double port = median_rate(&b, (op_kind)op, dts[d]);
            num_set_portable(0);
            printf("%-18s %-5s %14.1f %16.1f %6.1fx\n", op_names[op], dtype_name(dts[d]),
                   simd / 1e6, port / 1e6, simd / port);
        }
    }
    printf("\n%-18s %-5s %14s %16s\n", "op", "fmt", "Melem/s", "vs bf16 round");
    double bf = median_rate(&b, OP_ROUND_STATS, DT_BF16);
    for (int f = 0; f < FP8_FORMATS; f++) {
        double r = fp8_rate(&b, (fp8_format)f);
        printf("%-18s %-5s %14.1f %15.2fx\n", "num_fp8_quantize", num_fp8_name((fp8_format)f),
               r / 1e6, r / bf);
    }
    free(b.src);
    free(b.dst);
    free(b.half);
    free(b.exact);
    return 0;
}
