/* bench_gemm.c — GFLOP/s of the GEMMs of a small GPT (L4/H4/C128, T128, B16) through
 * bk_matmul_* in fp32 / fp16 / bf16 emulation, next to plain cblas_sgemm on the same shapes. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"

#include "blas_retune.h"

enum { ROWS = 16 * 128, REPS = 7 };
typedef enum { K_FWD = 0, K_DINP, K_DW } gemm_kind;
typedef struct {
    const char *name;
    int C, OC, w_trans;
} layer;

static const layer layers[] = {
    {"c_attn", 128, 384, 0}, {"c_proj", 128, 128, 0}, {"c_fc", 128, 512, 0},
    {"mlp.proj", 512, 128, 0}, {"lm_head", 128, 256, 1},
};
static const char *const kind_names[] = {"fwd", "dinp", "dw"};

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

typedef struct {
    float *inp, *w, *b, *out, *dout, *dinp, *dw;
} bufs;

/* One call of our op; dt < 0 means plain cblas_sgemm on the same shape. */
static void run_once(backend *be, const bufs *m, const layer *L, gemm_kind k, int dt)
{
    int N = ROWS, C = L->C, OC = L->OC, wt = L->w_trans;
    if (dt < 0) {
        if (k == K_FWD)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, wt ? CblasTrans : CblasNoTrans, N, OC, C,
                        1.0f, m->inp, C, m->w, wt ? C : OC, 0.0f, m->out, OC);
        else if (k == K_DINP)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, wt ? CblasNoTrans : CblasTrans, N, C, OC,
                        1.0f, m->dout, OC, m->w, wt ? C : OC, 0.0f, m->dinp, C);
        else if (!wt)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, OC, N, 1.0f, m->inp, C,
                        m->dout, OC, 1.0f, m->dw, OC);
        else
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, m->dout, OC,
                        m->inp, C, 1.0f, m->dw, C);
        return;
    }
    dtype_t d = (dtype_t)dt;
    num_stats st;
    num_stats_reset(&st);
    if (k == K_FWD)
        bk_matmul_forward(be, m->out, m->inp, m->w, wt ? NULL : m->b, N, C, OC, wt, d, d, d, &st);
    else if (k == K_DINP)
        bk_matmul_backward(be, m->dinp, NULL, NULL, m->dout, m->inp, m->w, N, C, OC, wt, d, &st,
                           NULL);
    else
        bk_matmul_backward(be, NULL, m->dw, wt ? NULL : m->b, m->dout, m->inp, m->w, N, C, OC, wt,
                           d, NULL, &st);
}

static double median_time(backend *be, const bufs *m, const layer *L, gemm_kind k, int dt)
{
    double t[REPS];
    /* The baseline is sgemm as a user calls it: OpenBLAS's own threads on every core. The
     * backend keeps OpenBLAS at 1 thread (its OpenMP team splits the GEMM), so restore that. */
    if (dt < 0) openblas_set_num_threads((int)sysconf(_SC_NPROCESSORS_ONLN));
    run_once(be, m, L, k, dt); /* warm-up: scratch growth, page faults, BLAS threads */
    for (int r = 0; r < REPS; r++) {
        double t0 = now_s();
        run_once(be, m, L, k, dt);
        t[r] = now_s() - t0;
    }
    if (dt < 0) { /* its idle threads spin for ~0.1 s: let them sleep before we measure ours */
        openblas_set_num_threads(1);
        struct timespec nap = {0, 300000000L};
        nanosleep(&nap, NULL);
    }
    qsort(t, REPS, sizeof *t, cmp_d);
    return t[REPS / 2];
}

static void fill(float *x, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((seed >> 8) & 0xffff) / 65536.0f - 0.5f;
    }
}

int main(int argc, char **argv)
{
    (void)argc;
    blas_retune(argv);
    char err[256];
    backend *be = bk_create(BK_CPU, 0, err, sizeof err);
    if (!be) {
        fprintf(stderr, "bench_gemm: %s\n", err);
        return 1;
    }
    size_t big = (size_t)ROWS * 512;
    bufs m = {bk_alloc(be, big * 4), bk_alloc(be, 512 * 512 * 4), bk_alloc(be, 512 * 4),
              bk_alloc(be, big * 4), bk_alloc(be, big * 4), bk_alloc(be, big * 4),
              bk_alloc(be, 512 * 512 * 4)};
    if (!m.inp || !m.w || !m.b || !m.out || !m.dout || !m.dinp || !m.dw) {
        fprintf(stderr, "bench_gemm: out of memory\n");
        return 1;
    }
    fill(m.inp, big, 1);
    fill(m.w, 512 * 512, 2);
    fill(m.b, 512, 3);
    fill(m.dout, big, 4);
    bk_cast(be, m.inp, m.inp, big, DT_F16, NULL); /* values representable in both formats */
    bk_cast(be, m.inp, m.inp, big, DT_BF16, NULL);
    printf("bench_gemm: %s, N = B*T = %d rows, median of %d\n", bk_describe(be), ROWS, REPS);
    printf("%-9s %-4s %5s %5s | %8s %8s %8s %8s | %7s %7s %8s\n", "layer", "gemm", "C", "OC",
           "fp32", "fp16", "bf16", "sgemm", "f16/f32", "bf16/32", "f32/sgm");
    printf("%-30s | %35s | %s\n", "", "GFLOP/s", "time ratios (target <=1.25, <=1.67)");
    double tot[4] = {0}, flops_tot = 0.0;
    for (size_t l = 0; l < sizeof layers / sizeof *layers; l++)
        for (int k = 0; k < 3; k++) {
            const layer *L = &layers[l];
            double fl = 2.0 * ROWS * L->C * L->OC, t[4];
            int dts[4] = {DT_F32, DT_F16, DT_BF16, -1};
            for (int i = 0; i < 4; i++) t[i] = median_time(be, &m, L, (gemm_kind)k, dts[i]);
            for (int i = 0; i < 4; i++) tot[i] += t[i];
            flops_tot += fl;
            printf("%-9s %-4s %5d %5d | %8.1f %8.1f %8.1f %8.1f | %7.3f %7.3f %8.3f\n", L->name,
                   kind_names[k], L->C, L->OC, fl / t[0] * 1e-9, fl / t[1] * 1e-9,
                   fl / t[2] * 1e-9, fl / t[3] * 1e-9, t[1] / t[0], t[2] / t[0], t[0] / t[3]);
        }
    printf("%-9s %-4s %5s %5s | %8.1f %8.1f %8.1f %8.1f | %7.3f %7.3f %8.3f\n", "TOTAL", "", "",
           "", flops_tot / tot[0] * 1e-9, flops_tot / tot[1] * 1e-9, flops_tot / tot[2] * 1e-9,
           flops_tot / tot[3] * 1e-9, tot[1] / tot[0], tot[2] / tot[0], tot[0] / tot[3]);
    printf("ours-fp32 / plain sgemm throughput: %.0f%% (target >= 60%%); "
           "emulation overhead fp16 %+.0f%%, bf16 %+.0f%% (target <= 25%%)\n",
           100.0 * tot[3] / tot[0], 100.0 * (tot[1] / tot[0] - 1), 100.0 * (tot[2] / tot[0] - 1));
    bk_destroy(be);
    return 0;
}
