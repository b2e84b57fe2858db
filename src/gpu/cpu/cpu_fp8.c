/* cpu_fp8.c — the FP8 casts of the CPU backend: per-tensor scaled quantization, MXFP8 block
 * quantization and the amax of current scaling, threaded in shape-only chunks. */
#include <string.h>

#include "cpu_backend.h"

typedef struct {
    float *dst;
    const float *src;
    fp8_format f;
    float scale;
    int rows, cols, along;
} fp8_job;

static void fp8_quantize_chunk(void *ctx, size_t i0, size_t k, num_stats *ps)
{
    const fp8_job *j = ctx;
    num_fp8_quantize(j->dst + i0, j->src + i0, k, j->f, j->scale, ps);
}

void cpu_fp8_quantize(backend *be, float *dst, const float *src, size_t n, fp8_format f,
                      float scale, num_stats *st)
{
    fp8_job j = {.dst = dst, .src = src, .f = f, .scale = scale};
    cpu_parallel(cpu_of(be), n, CPU_EW_CHUNK, 1, st, fp8_quantize_chunk, &j);
}

/* Items are rows (along 1) or bands of MX_BLOCK rows (along 0): a block never straddles two
 * chunks, so each chunk is num_mx_quantize on a sub-matrix and gives the same bits. */
static void mx_quantize_chunk(void *ctx, size_t i0, size_t k, num_stats *ps)
{
    const fp8_job *j = ctx;
    size_t rows_per = j->along == 0 ? MX_BLOCK : 1, r0 = i0 * rows_per;
    size_t r1 = (i0 + k) * rows_per < (size_t)j->rows ? (i0 + k) * rows_per : (size_t)j->rows;
    size_t off = r0 * (size_t)j->cols;
    num_mx_quantize(j->dst + off, j->src + off, (int)(r1 - r0), j->cols, j->along, j->f, ps);
}

void cpu_mx_quantize(backend *be, float *dst, const float *src, int rows, int cols, int along,
                     fp8_format f, num_stats *st)
{
    if (rows <= 0 || cols <= 0) return;
    fp8_job j = {.dst = dst, .src = src, .f = f, .rows = rows, .cols = cols, .along = along};
    size_t rows_per = along == 0 ? MX_BLOCK : 1;
    size_t items = ((size_t)rows + rows_per - 1) / rows_per;
    size_t per_item = rows_per * (size_t)cols;
    size_t chunk = per_item >= CPU_EW_CHUNK ? 1 : CPU_EW_CHUNK / per_item;
    cpu_parallel(cpu_of(be), items, chunk, 1, st, mx_quantize_chunk, &j);
}

/* The bits of the largest finite |x|: a max is order-free, so the threads' split does not
 * matter. A synchronizing call (backend.h): pending stats land first, as bk_sum. */
float cpu_amax(backend *be, const float *x, size_t n)
{
    cpu_backend *cb = cpu_of(be);
    if (n) cpu_stats_land(cb);
    uint32_t m = 0;
#pragma omp parallel for num_threads(cb->nthreads) schedule(static) reduction(max : m) \
    if (n > CPU_EW_CHUNK)
    for (size_t i = 0; i < n; i++) {
        uint32_t a;
        memcpy(&a, &x[i], sizeof a);
        a &= 0x7fffffffu;
        a = a < 0x7f800000u ? a : 0u;
        m = a > m ? a : m;
    }
    float r;
    memcpy(&r, &m, sizeof r);
    return r;
}
