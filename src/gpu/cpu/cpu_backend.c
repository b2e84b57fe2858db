/* cpu_backend.c — CPU backend lifetime: thread counts (OpenMP ops, OpenBLAS GEMMs),
 * host memory, reusable scratch, the first-error record and the ops table. */
#include "cpu_backend.h"

#include <cblas.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Every bk_alloc block sits behind this header, linked into its backend's list so that
 * bk_destroy releases whatever is still allocated (the backend owns its memory, as a
 * device arena would). 64 bytes keep the returned pointer 64-byte aligned. */
typedef struct cpu_block {
    struct cpu_block *prev, *next;
    char pad[64 - 2 * sizeof(void *)];
} cpu_block;

void cpu_destroy(backend *be)
{
    cpu_backend *cb = cpu_of(be);
    for (int i = 0; i < CPU_SCR_COUNT; i++) free(cb->scr[i]);
    for (cpu_block *b = cb->blocks, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    pthread_mutex_destroy(&cb->lock);
    free(cb);
}

const char *cpu_describe(const backend *be)
{
    return ((const cpu_backend *)be)->desc;
}

int cpu_status(const backend *be, char *err, size_t errlen)
{
    /* the once-per-step check synchronizes (backend.h); the backend was created writable */
    cpu_backend *cb = (cpu_backend *)be;
    cpu_stats_land(cb);
    if (!cb->failed) return 0;
    if (err && errlen) snprintf(err, errlen, "%s", cb->err);
    return -1;
}

/* ---- stats delivery (docs/cuda.md "Stats delivery") ---- */

num_stats *cpu_stats_dst(cpu_backend *cb, num_stats *st)
{
    if (!st || !cb->defer_stats) return st;
    int i = 0;
    while (i < cb->n_pending && cb->pending[i].dst != st) i++;
    if (i == cb->n_pending) {
        if (cb->n_pending == CPU_PENDING_STATS) cpu_stats_land(cb); /* as CUDA's, full: sync */
        i = cb->n_pending++;
        cb->pending[i].dst = st;
        num_stats_reset(&cb->pending[i].acc);
    }
    return &cb->pending[i].acc;
}

void cpu_stats_land(cpu_backend *cb)
{
    if (!cb->n_pending) return; /* off: no write, so a sync from another thread is no race */
    for (int i = 0; i < cb->n_pending; i++)
        num_stats_merge(cb->pending[i].dst, &cb->pending[i].acc);
    cb->n_pending = 0;
}

void bk_cpu_defer_stats(backend *be, int on)
{
    if (!be || be->kind != BK_CPU) return;
    cpu_backend *cb = cpu_of(be);
    cpu_stats_land(cb); /* counts owed so far are not lost by switching */
    cb->defer_stats = on != 0;
}

void cpu_fail(cpu_backend *cb, const char *msg)
{
    if (cb->failed) return;
    cb->failed = 1;
    snprintf(cb->err, sizeof cb->err, "%s", msg);
}

static size_t round_up64(size_t n) { return (n + 63) & ~(size_t)63; }

void *cpu_alloc(backend *be, size_t bytes)
{
    cpu_backend *cb = cpu_of(be);
    size_t sz = round_up64(bytes ? bytes : 1);
    if (sz > SIZE_MAX - sizeof(cpu_block)) return NULL;
    cpu_block *b = aligned_alloc(64, sizeof *b + sz);
    if (!b) return NULL;
    memset(b, 0, sizeof *b + sz);
    pthread_mutex_lock(&cb->lock);
    b->next = cb->blocks;
    if (cb->blocks) cb->blocks->prev = b;
    cb->blocks = b;
    pthread_mutex_unlock(&cb->lock);
    return b + 1;
}

void cpu_free(backend *be, void *p)
{
    cpu_backend *cb = cpu_of(be);
    if (!p) return;
    cpu_block *b = (cpu_block *)p - 1;
    pthread_mutex_lock(&cb->lock);
    if (b->prev) b->prev->next = b->next;
    else cb->blocks = b->next;
    if (b->next) b->next->prev = b->prev;
    pthread_mutex_unlock(&cb->lock);
    free(b);
}
void cpu_zero(backend *be, void *p, size_t bytes) { (void)be; memset(p, 0, bytes); }
void cpu_copy(backend *be, void *dst, const void *src, size_t bytes)
{
    (void)be;
    if (dst != src) memmove(dst, src, bytes);
}
/* Backend memory is host memory: uploads and downloads are copies. */
void cpu_upload(backend *be, void *dst, const void *host_src, size_t bytes)
{
    cpu_copy(be, dst, host_src, bytes);
}
void cpu_download(backend *be, void *host_dst, const void *src, size_t bytes)
{
    cpu_copy(be, host_dst, src, bytes);
    if (bytes) cpu_stats_land(cpu_of(be)); /* as CUDA: an empty download does not sync */
}

void *cpu_scratch(cpu_backend *cb, cpu_scratch_slot slot, size_t bytes)
{
    if (bytes <= cb->scr_cap[slot]) return cb->scr[slot];
    free(cb->scr[slot]);
    /* Exactly the request: a step asks the same few shapes every time, so a slot grows a
     * few times in the first step and never again, and its size is what cpu_workspace_bytes
     * plans (docs/memory.md). */
    size_t cap = round_up64(bytes);
    cb->scr[slot] = aligned_alloc(64, cap);
    cb->scr_cap[slot] = cb->scr[slot] ? cap : 0;
    if (!cb->scr[slot])
        cpu_fail(cb, "out of memory for CPU backend scratch (cpu_backend.c): "
                     "use a smaller batch or model");
    return cb->scr[slot];
}

size_t cpu_mem_available(const backend *be)
{
    (void)be;
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        unsigned long long kb;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
                fclose(f);
                return (size_t)kb * 1024;
            }
        fclose(f);
    }
    long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (size_t)pages * (size_t)size : SIZE_MAX;
}

/* What the scratch slots grow to (cpu_scratch: exactly the largest request): rounded GEMM
 * operands (A, B, C), a weight rounded per tile (TILE: per thread, where the tiles split it,
 * else whole in B, as cpu_gemm.c decides), the fp32 weight gradient (OUT), attention's
 * per-thread query blocks (ATT, cpu_attention.c) and the larger of the LayerNorm backward's
 * and the sums' partials (RED). */
size_t cpu_workspace_bytes(const backend *be, const bk_workspace_req *r)
{
    const cpu_backend *cb = (const cpu_backend *)be;
    size_t f = sizeof(float);
    size_t ln = (r->ln_rows + CPU_LN_ROWS - 1) / CPU_LN_ROWS * 2 * r->ln_c * f;
    size_t sums = (r->reduce + CPU_RED_BLOCK - 1) / CPU_RED_BLOCK * sizeof(double);
    size_t att = r->att_T ? cpu_attention_workspace(be, r->att_B, r->att_T, r->att_C, r->att_NH) : 0;
    size_t b = r->gemm_b, tile = 0;
    for (int i = 0; i < r->n_wgemm && i < BK_WGEMMS; i++) {
        const bk_gemm_dims *d = &r->wgemm[i];
        size_t t = cpu_gemm_tile_floats(cb, d->M, d->N, d->K);
        size_t whole = (size_t)d->K * (size_t)d->N;
        if (t)
            tile = t > tile ? t : tile;
        else
            b = whole > b ? whole : b;
    }
    size_t slot[] = {r->gemm_a * f, b * f, r->gemm_c * f, r->wgrad * f, tile * f, att,
                     ln > sums ? ln : sums};
    size_t total = 0;
    for (size_t i = 0; i < sizeof slot / sizeof slot[0]; i++)
        total += slot[i] ? round_up64(slot[i]) : 0;
    return total;
}

void cpu_blas_threads(cpu_backend *cb, int n)
{
    /* OpenBLAS's count is process-wide: ask it rather than trusting a cached value, since
     * another backend (or the attention op) may have changed it. */
    (void)cb;
    if (openblas_get_num_threads() != n) openblas_set_num_threads(n);
}

void cpu_parallel(cpu_backend *cb, size_t n, size_t chunk, int par, num_stats *st,
                  cpu_chunk_fn fn, void *ctx)
{
    (void)par; /* only the OpenMP pragma reads it (none in the TSan build) */
    size_t nb = (n + chunk - 1) / chunk;
    int nt = cb->nthreads;
    num_stats part[CPU_MAX_THREADS];
    memset(part, 0, sizeof(num_stats) * (size_t)nt);
#pragma omp parallel for num_threads(nt) schedule(static) if (par && nb > 1)
    for (size_t b = 0; b < nb; b++) {
        size_t i0 = b * chunk;
        fn(ctx, i0, n - i0 < chunk ? n - i0 : chunk, st ? &part[CPU_TID()] : NULL);
    }
    num_stats *dst = cpu_stats_dst(cb, st);
    if (dst)
        for (int t = 0; t < nt; t++) num_stats_merge(dst, &part[t]);
}

typedef struct {
    float *dst;
    const float *src;
    dtype_t dt;
} round_job;

static void round_chunk(void *ctx, size_t i0, size_t k, num_stats *ps)
{
    const round_job *j = ctx;
    num_round(j->dst + i0, j->src + i0, k, j->dt, ps);
}

void cpu_round_par(cpu_backend *cb, float *dst, const float *src, size_t n, dtype_t dt,
                   num_stats *st)
{
    if (dt == DT_F32 && !st) {
        if (dst != src) memmove(dst, src, n * sizeof *dst);
        return;
    }
    round_job j = {dst, src, dt};
    cpu_parallel(cb, n, CPU_EW_CHUNK, 1, st, round_chunk, &j);
}

#define CPU_SLOT(ret, name, params, args) .name = cpu_##name,
static const bk_ops cpu_ops = {BK_OPS(CPU_SLOT, CPU_SLOT) BK_OPS_BACKEND(CPU_SLOT, CPU_SLOT)};
#undef CPU_SLOT

const char *bk_cpu_blas_coretype_hint(void)
{
#if defined(__x86_64__) || defined(__i386__)
    const char *core = openblas_get_corename();
    if (!core || strcasecmp(core, "prescott") != 0) return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return "SkylakeX";
    if (__builtin_cpu_supports("avx2")) return "Haswell";
#endif
    return NULL;
}

static int cpu_count_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

backend *cpu_backend_create(int nthreads, char *err, size_t errlen)
{
    cpu_backend *cb = calloc(1, sizeof *cb);
    if (!cb) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory creating the CPU backend (cpu_backend.c)");
        return NULL;
    }
    if (nthreads <= 0) nthreads = cpu_count_cores();
#ifndef _OPENMP
    nthreads = 1; /* ops run single-threaded without OpenMP (thread-sanitizer build) */
#endif
    if (nthreads > CPU_MAX_THREADS) nthreads = CPU_MAX_THREADS;
    pthread_mutex_init(&cb->lock, NULL);
    cb->base.ops = &cpu_ops;
    cb->base.kind = BK_CPU;
    cb->nthreads = nthreads;
    /* Our OpenMP team splits every GEMM (cpu_gemm.c); OpenBLAS runs each block alone. */
    cpu_blas_threads(cb, 1);
    snprintf(cb->desc, sizeof cb->desc, "cpu (%d thread%s, openblas)", nthreads,
             nthreads == 1 ? "" : "s");
    return &cb->base;
}
