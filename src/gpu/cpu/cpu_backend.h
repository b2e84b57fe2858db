/* cpu_backend.h — state of the CPU reference backend (threads, scratch, first error) and
 * the internal entry points of its op files. Private to src/gpu/cpu. */
#ifndef MPTUI_CPU_BACKEND_H
#define MPTUI_CPU_BACKEND_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "backend_impl.h"

#ifdef _OPENMP
#include <omp.h>
#define CPU_TID() omp_get_thread_num()
#else
#define CPU_TID() 0
#endif

enum { CPU_MAX_THREADS = 256 };
/* Fixed-size blocks for reductions: partial results depend on the block, not the thread,
 * so sums are bit-identical run to run and for any thread count. */
enum { CPU_RED_BLOCK = 4096 };
/* Elements per chunk of the elementwise loops, and the size below which they stay on one
 * thread (the team costs more than the work). */
enum { CPU_EW_CHUNK = 16384 };
/* Rows per partial of the LayerNorm backward's dw / db sums (fixed, for the same reason). */
enum { CPU_LN_ROWS = 64 };

/* Scratch slots, each grown on demand and reused (no allocation in the steady state). */
typedef enum {
    CPU_SCR_A = 0,  /* rounded GEMM inputs */
    CPU_SCR_B,
    CPU_SCR_C,
    CPU_SCR_OUT,    /* fp32 GEMM result before rounding (weight gradients) */
    CPU_SCR_TILE,   /* per-thread tiles of a GEMM operand rounded one tile at a time */
    CPU_SCR_ATT,    /* attention: per-thread query-block workspace (cpu_attention.c) */
    CPU_SCR_RED,    /* reduction partials */
    CPU_SCR_COUNT
} cpu_scratch_slot;

/* Deferred stats (bk_cpu_defer_stats, docs/cuda.md "Stats delivery"): the counts an op owes
 * a caller's num_stats, held until the next synchronizing call. As many records as CUDA has
 * device slots; a full table lands early, as CUDA synchronizes then too. Like CUDA's stream,
 * one thread at a time drives a backend's ops, so the table needs no lock. */
enum { CPU_PENDING_STATS = 1024 };
typedef struct {
    num_stats *dst; /* the caller's object */
    num_stats acc;  /* what it is owed */
} cpu_pending_stats;

typedef struct cpu_backend {
    backend base; /* must stay first */
    int nthreads;
    char desc[96];
    char err[256];
    int failed;
    void *scr[CPU_SCR_COUNT];
    size_t scr_cap[CPU_SCR_COUNT];
    pthread_mutex_t lock;     /* guards blocks: bk_alloc may be called from any thread */
    struct cpu_block *blocks; /* live bk_alloc blocks, freed by bk_destroy */
    int defer_stats;          /* bk_cpu_defer_stats: counts land at the next sync */
    int n_pending;
    cpu_pending_stats pending[CPU_PENDING_STATS];
} cpu_backend;

static inline cpu_backend *cpu_of(backend *be) { return (cpu_backend *)be; }

/* cpu_backend.c */
void *cpu_scratch(cpu_backend *cb, cpu_scratch_slot slot, size_t bytes); /* NULL: error set */
void cpu_fail(cpu_backend *cb, const char *msg);
void cpu_blas_threads(cpu_backend *cb, int n);
/* Where an op adds the counts it owes st: st itself, or in deferred mode st's pending record.
 * NULL for a NULL st. Every op adds into a caller's st through this (cpu_parallel). */
num_stats *cpu_stats_dst(cpu_backend *cb, num_stats *st);
/* A synchronizing call (bk_sum, bk_sumsq, bk_unscale, bk_amax, bk_download, bk_status): pending
 * counts land in their callers' objects. */
void cpu_stats_land(cpu_backend *cb);
/* One chunk of a cpu_parallel loop: items [i0, i0 + k). ps is the running thread's own
 * stats (NULL when the loop's st is NULL), so threads never share one. */
typedef void (*cpu_chunk_fn)(void *ctx, size_t i0, size_t k, num_stats *ps);
/* fn over items [0, n) in chunks of `chunk` (the last one shorter), spread over the threads
 * (static schedule) when par and there is more than one chunk. The chunks depend on n and
 * chunk only, never on the thread count, so results are bit-identical for any number of
 * threads; the threads' stats are merged into st (may be NULL) at the end, an order-free
 * merge (max, min, counts), through cpu_stats_dst. */
void cpu_parallel(cpu_backend *cb, size_t n, size_t chunk, int par, num_stats *st,
                  cpu_chunk_fn fn, void *ctx);
/* An int count as cpu_parallel's n: a negative one is empty, as in a for loop. */
static inline size_t cpu_items(int n) { return n > 0 ? (size_t)n : 0; }
/* dst = round_dt(src), threaded, stats added to st (may be NULL). */
void cpu_round_par(cpu_backend *cb, float *dst, const float *src, size_t n, dtype_t dt,
                   num_stats *st);

/* cpu_gemm.c: floats of scratch that rounding the weight B of an M x N x K GEMM one tile at a
 * time takes (a tile's columns times K, per thread), or 0 where it is rounded whole in its slot
 * instead: when the tiles split A (M >= N), or when whole takes no more. cpu_gemm.c decides by
 * it, and cpu_workspace_bytes plans by it. */
size_t cpu_gemm_tile_floats(const cpu_backend *cb, int M, int N, int K);

/* cpu_<name> for every op of BK_OPS and BK_OPS_BACKEND (no multi-tensor forms: backend.c
 * loops). Lifetime and memory live in cpu_backend.c, the rest in the file of their layer:
 * cpu_gemm.c (gemm, matmul_*, fp8_matmul_*), cpu_fp8.c (fp8_quantize, mx_quantize, amax),
 * cpu_encoder.c, cpu_layernorm.c, cpu_attention.c,
 * cpu_elementwise.c (cast, stats, sum, sumsq, scale, gelu_*, residual_forward,
 * add_inplace), cpu_loss.c (crossentropy_*), cpu_optim.c (unscale, adamw). */
#define CPU_DECLARE(ret, name, params, args) ret cpu_##name params;
BK_OPS(CPU_DECLARE, CPU_DECLARE)
BK_OPS_BACKEND(CPU_DECLARE, CPU_DECLARE)
#undef CPU_DECLARE

#endif
