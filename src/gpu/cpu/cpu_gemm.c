/* cpu_gemm.c — emulated low-precision GEMMs: inputs rounded to their dtype, OpenBLAS
 * sgemm with fp32 accumulation, one rounding of the output (tensor-core style); Linear. */
#include <cblas.h>
#include <string.h>

#include "cpu_backend.h"

typedef struct {
    const float *x;
    dtype_t dt;
    int changed; /* set by any chunk that finds a value rounding would change */
} exact_job;

static void exact_chunk(void *ctx, size_t i0, size_t k, num_stats *ps)
{
    (void)ps;
    exact_job *j = ctx;
    if (__atomic_load_n(&j->changed, __ATOMIC_RELAXED)) return;
    if (!num_is_exact(j->x + i0, k, j->dt)) __atomic_store_n(&j->changed, 1, __ATOMIC_RELAXED);
}

/* Whether every one of the n values at x is already a value of dt (a read-only pass). */
static int operand_exact(cpu_backend *cb, const float *x, size_t n, dtype_t dt)
{
    exact_job j = {x, dt, 0};
    cpu_parallel(cb, n, CPU_EW_CHUNK, 1, NULL, exact_chunk, &j);
    return !j.changed;
}

/* x rounded to dt into scratch `slot`; NULL when the scratch cannot be had (error set). */
static const float *round_whole(cpu_backend *cb, cpu_scratch_slot slot, const float *x,
                                size_t n, dtype_t dt)
{
    float *r = cpu_scratch(cb, slot, n * sizeof *r);
    if (r) cpu_round_par(cb, r, x, n, dt, NULL);
    return r;
}

/* x as a tensor of dtype dt: itself for fp32 or when every value is already stored in dt
 * (the usual case: weight copies and activations are rounded where they are written, so a
 * read-only check replaces a rounding pass and its scratch, with the same bits), else a
 * rounded copy in scratch `slot`. */
static const float *gemm_input(cpu_backend *cb, cpu_scratch_slot slot, const float *x,
                               size_t n, dtype_t dt)
{
    if (dt == DT_F32 || operand_exact(cb, x, n, dt)) return x;
    return round_whole(cb, slot, x, n, dt);
}

/* Rows [r0,r1) of C (width N, stride ldc): + bias per column, rounded to dtc in place. */
static void gemm_finish(float *C, int ldc, const float *bias, int r0, int r1, int N,
                        dtype_t dtc, num_stats *st)
{
    if (dtc == DT_F32 && !bias && !st) return;
    for (int r = r0; r < r1; r++) {
        float *row = C + (size_t)r * ldc;
        if (bias)
            for (int j = 0; j < N; j++) row[j] += bias[j];
    }
    if (ldc == N) {
        num_round(C + (size_t)r0 * N, C + (size_t)r0 * N, (size_t)(r1 - r0) * N, dtc, st);
    } else {
        for (int r = r0; r < r1; r++)
            num_round(C + (size_t)r * ldc, C + (size_t)r * ldc, (size_t)N, dtc, st);
    }
}

/* An operand as an op hands it over: its values, the dtype the GEMM reads them in (DT_F32:
 * as they are), the scratch slot of a whole rounded copy, and whether it is a Linear's
 * weight, which may be rounded one tile at a time instead (bk_gemm_dims: the memory plan
 * knows the shapes of those GEMMs only). */
typedef struct {
    const float *x;
    dtype_t dt;
    cpu_scratch_slot slot;
    int weight;
} gemm_src;

static gemm_src src_f32(const float *x) { return (gemm_src){x, DT_F32, CPU_SCR_A, 0}; }

/* One GEMM problem; the blocks below are sub-rectangles of its output. */
typedef struct {
    float *C;
    const float *A, *B, *bias;
    int ldc, transA, transB, M, N, K;
    float alpha, beta;
    dtype_t dtc;
    int by_rows;    /* tiles of rows (M >= N) or of columns */
    dtype_t tile_dt; /* not fp32: each tile rounds its columns of op(B) (a weight) */
    float *tile_ws; /* per thread, tile_n floats */
    size_t tile_n;
} gemm_job;

/* Columns [lo,hi) of op(B), rounded to dt into buf as a dense matrix; returns its leading
 * dimension. B is stored as `len` x K (transposed: the tile's rows are contiguous) or, strided,
 * K x `len` (a segment of each of its K rows). The tile's sgemm
 * then reads the same values as from a whole rounded copy: OpenBLAS packs its operands
 * before multiplying, so the leading dimension does not change the bits (test_cpu_gemm). */
static int tile_round(float *buf, const float *x, int strided, int lo, int hi, int K, int len,
                      dtype_t dt)
{
    size_t w = (size_t)(hi - lo);
    if (!strided) {
        num_round(buf, x + (size_t)lo * K, w * (size_t)K, dt, NULL);
        return K;
    }
    for (int k = 0; k < K; k++)
        num_round(buf + (size_t)k * w, x + (size_t)k * len + lo, w, dt, NULL);
    return (int)w;
}

/* Output rows [r0,r1) x columns [c0,c1): a single-threaded sgemm on that block, then its
 * bias / rounding / stats while the block is still in cache. */
static void gemm_block(const gemm_job *g, int r0, int r1, int c0, int c1, num_stats *st)
{
    int lda = g->transA ? g->M : g->K, ldb = g->transB ? g->K : g->N;
    const float *A = g->transA ? g->A + r0 : g->A + (size_t)r0 * lda;
    const float *B = g->transB ? g->B + (size_t)c0 * ldb : g->B + c0;
    float *C = g->C + (size_t)r0 * g->ldc + c0;
    int m = r1 - r0, n = c1 - c0;
    if (g->tile_dt != DT_F32 && g->K > 0) { /* tiles of columns (cpu_gemm_tile_floats) */
        float *buf = g->tile_ws + (size_t)CPU_TID() * g->tile_n;
        ldb = tile_round(buf, g->B, !g->transB, c0, c1, g->K, g->N, g->tile_dt);
        B = buf;
    }
    if (g->K > 0) {
        cblas_sgemm(CblasRowMajor, g->transA ? CblasTrans : CblasNoTrans,
                    g->transB ? CblasTrans : CblasNoTrans, m, n, g->K, g->alpha, A, lda, B, ldb,
                    g->beta, C, g->ldc);
    } else if (g->beta == 0.0f) {
        for (int r = 0; r < m; r++) memset(C + (size_t)r * g->ldc, 0, (size_t)n * sizeof *C);
    }
    gemm_finish(C, g->ldc, g->bias ? g->bias + c0 : NULL, 0, m, n, g->dtc, st);
}

/* Width of the tiles a GEMM's output is cut into along its longer side `len`: at most
 * GEMM_MAX_TILES tiles, at least GEMM_MIN_TILE wide, a multiple of 16. Each tile re-packs
 * the other operand: on the bench_gemm shapes (2 cores) 16 tiles cost about 5% more GEMM
 * time than one block per thread (2-3% of a training step), 8 tiles 3%, 64-wide tiles
 * 10-15%; 16 keeps up to 16 cores busy. */
enum { GEMM_MIN_TILE = 64, GEMM_MAX_TILES = 16 };

static int gemm_tile(int len)
{
    int t = ((len + GEMM_MAX_TILES - 1) / GEMM_MAX_TILES + 15) & ~15;
    return t < GEMM_MIN_TILE ? GEMM_MIN_TILE : t;
}

/* Tile [lo, lo + k) of rows or columns. */
static void gemm_tile_chunk(void *ctx, size_t lo, size_t k, num_stats *ps)
{
    const gemm_job *g = ctx;
    int r0 = (int)lo, r1 = (int)(lo + k);
    if (g->by_rows)
        gemm_block(g, r0, r1, 0, g->N, ps);
    else
        gemm_block(g, 0, g->M, r0, r1, ps);
}

/* Whether the work of an M x N x K GEMM pays for the thread team. */
static int gemm_par(const cpu_backend *cb, int M, int N, int K)
{
    return cb->nthreads > 1 && (double)M * N * (K > 0 ? K : 1) >= 65536.0;
}

size_t cpu_gemm_tile_floats(const cpu_backend *cb, int M, int N, int K)
{
    if (M >= N || K <= 0) return 0; /* the tiles split A: B is rounded whole */
    size_t threads = gemm_par(cb, M, N, K) ? (size_t)cb->nthreads : 1;
    size_t per = (size_t)gemm_tile(N) * (size_t)K;
    return threads * per < (size_t)N * (size_t)K ? threads * per : 0;
}

/* beta is 0 or 1 (accumulate into C in fp32 before rounding). Operands in a 16-bit dtype
 * are read as they are when every value is already in it (the usual case: activations and
 * gradients are rounded where they are written), else rounded whole into their slot; a
 * weight (operand B) the tiles split into columns is rounded one tile at a time into
 * per-thread scratch instead where that is smaller (docs/memory.md: lm_head reads the tied
 * wte from its fp32 master so, with no whole 16-bit copy of it).
 * The output is cut into tiles of gemm_tile(len) rows (M >= N) or columns (M < N), the last
 * one the remainder, and each tile is one single-threaded sgemm. An sgemm's bits for a row
 * depend on the call's whole shape (OpenBLAS's Haswell/Zen kernels give other bits for the
 * same rows when M changes: 130 rows vs 65 + 65 or 64 + 66), so the tiles depend on the
 * shape only and one thread walks the same tiles as many: results are bit-identical for
 * any thread count. Threads take whole tiles; OpenBLAS's own pthread pool would spin next
 * to our OpenMP team and fight it for the cores (measured 1.6x slower end to end on 2
 * cores). Splitting the longer of M and N keeps the re-packing of the other operand, once
 * per tile, small next to the tile's own work. */
static void gemm_raw(cpu_backend *cb, float *C, int ldc, dtype_t dtc, gemm_src a, int transA,
                     gemm_src b, int transB, int M, int N, int K, float alpha, float beta,
                     const float *bias, num_stats *st)
{
    if (M <= 0 || N <= 0) return;
    int by_rows = M >= N;
    gemm_src *split = by_rows ? &a : &b, *whole = by_rows ? &b : &a;
    size_t ns = (size_t)(by_rows ? M : N) * (size_t)K, nw = (size_t)(by_rows ? N : M) * K;
    const float *W = gemm_input(cb, whole->slot, whole->x, nw, whole->dt);
    if (!W) return;
    gemm_job g = {C, by_rows ? split->x : W, by_rows ? W : split->x, bias, ldc, transA, transB,
                  M, N, K, alpha, beta, dtc, by_rows, DT_F32, NULL, 0};
    int len = by_rows ? M : N;
    if (split->dt != DT_F32 && !operand_exact(cb, split->x, ns, split->dt)) {
        size_t all = split->weight ? cpu_gemm_tile_floats(cb, M, N, K) : 0;
        if (all) {
            g.tile_dt = split->dt;
            g.tile_n = (size_t)gemm_tile(len) * (size_t)K; /* one thread's tile */
            g.tile_ws = cpu_scratch(cb, CPU_SCR_TILE, all * sizeof(float));
            if (!g.tile_ws) return;
        } else {
            const float *r = round_whole(cb, split->slot, split->x, ns, split->dt);
            if (!r) return;
            *(by_rows ? &g.A : &g.B) = r;
        }
    }
    /* Threads only where the work pays for the team; the tiles are the same either way. */
    cpu_parallel(cb, (size_t)len, (size_t)gemm_tile(len), gemm_par(cb, M, N, K), st,
                 gemm_tile_chunk, &g);
}

void cpu_gemm(backend *be, float *C, dtype_t dtc, const float *A, dtype_t dta, int transA,
              const float *B, dtype_t dtb, int transB, int M, int N, int K, float alpha,
              int accumulate, num_stats *st)
{
    gemm_raw(cpu_of(be), C, N, dtc, (gemm_src){A, dta, CPU_SCR_A, 0}, transA,
             (gemm_src){B, dtb, CPU_SCR_B, 0}, transB, M, N, K, alpha, accumulate ? 1.0f : 0.0f,
             NULL, st);
}

void cpu_matmul_forward(backend *be, float *out, const float *inp, const float *w,
                        const float *b, int N, int C, int OC, int w_trans, dtype_t dt_in,
                        dtype_t dt_w, dtype_t dt_out, num_stats *st)
{
    /* out(N,OC) = inp(N,C) @ w(C,OC), or @ w(OC,C)^T; bias joins the fp32 accumulator. */
    gemm_raw(cpu_of(be), out, OC, dt_out, (gemm_src){inp, dt_in, CPU_SCR_A, 0}, 0,
             (gemm_src){w, dt_w, CPU_SCR_B, 1}, w_trans, N, OC, C, 1.0f, 0.0f, b, st);
}

/* Weight and bias gradients: dw += round_g(g) elementwise, db += round_g(column sums of
 * dout (N,OC)). */
typedef struct {
    float *acc;
    float *g;
    const float *dout;
    int N, OC;
    dtype_t dt_g;
} grad_job;

enum { DB_COLS = 64 }; /* columns per db chunk */

/* Columns [c0, c0 + nc) of db: fp32 sums in row order. */
static void bias_grad_chunk(void *ctx, size_t c0, size_t nc, num_stats *ps)
{
    const grad_job *j = ctx;
    float acc[DB_COLS] = {0};
    for (int n = 0; n < j->N; n++) {
        const float *row = j->dout + (size_t)n * j->OC + c0;
        for (size_t c = 0; c < nc; c++) acc[c] += row[c];
    }
    num_round(acc, acc, nc, j->dt_g, ps);
    for (size_t c = 0; c < nc; c++) j->acc[c0 + c] += acc[c];
}

static void matmul_bias_grad(cpu_backend *cb, float *db, const float *dout, int N, int OC,
                             dtype_t dt_g, num_stats *st)
{
    grad_job j = {.acc = db, .dout = dout, .N = N, .OC = OC, .dt_g = dt_g};
    cpu_parallel(cb, cpu_items(OC), DB_COLS, 1, st, bias_grad_chunk, &j);
}

/* g is fp32 scratch, rounded in place before it is added. */
static void grad_round_add_chunk(void *ctx, size_t i0, size_t k, num_stats *ps)
{
    const grad_job *j = ctx;
    float *dw = j->acc, *g = j->g;
    num_round(g + i0, g + i0, k, j->dt_g, ps);
    for (size_t i = i0; i < i0 + k; i++) dw[i] += g[i];
}

static void grad_round_add(cpu_backend *cb, float *dw, float *g, size_t n, dtype_t dt_g,
                           num_stats *st)
{
    grad_job j = {.acc = dw, .g = g, .dt_g = dt_g};
    cpu_parallel(cb, n, CPU_EW_CHUNK, 1, st, grad_round_add_chunk, &j);
}

/* Backward GEMMs run in dt_g (tensor-core style: every input rounded to the compute dtype,
 * a no-op for inputs already stored in it); the bias gradient counts in st_dw too. */
void cpu_matmul_backward(backend *be, float *dinp, float *dw, float *db, const float *dout,
                         const float *inp, const float *w, int N, int C, int OC, int w_trans,
                         dtype_t dt_g, num_stats *st_dinp, num_stats *st_dw)
{
    cpu_backend *cb = cpu_of(be);
    /* dout is read three times: rounded once */
    const float *dr = gemm_input(cb, CPU_SCR_A, dout, (size_t)N * OC, dt_g);
    if (!dr) return;
    gemm_src w_g = {w, dt_g, CPU_SCR_B, 1}, inp_g = {inp, dt_g, CPU_SCR_C, 0};
    if (dinp) /* dinp(N,C) = dout(N,OC) @ w^T: w (C,OC) is op(B) transposed; w (OC,C) is op(B). */
        gemm_raw(cb, dinp, C, dt_g, src_f32(dr), 0, w_g, !w_trans, N, C, OC, 1.0f, 0.0f, NULL,
                 st_dinp);
    if (dw) {
        float *g = cpu_scratch(cb, CPU_SCR_OUT, (size_t)C * OC * sizeof *g);
        if (!g) return;
        if (!w_trans) /* g(C,OC) = inp^T @ dout */
            gemm_raw(cb, g, OC, DT_F32, inp_g, 1, src_f32(dr), 0, C, OC, N, 1.0f, 0.0f, NULL,
                     NULL);
        else /* g(OC,C) = dout^T @ inp */
            gemm_raw(cb, g, C, DT_F32, src_f32(dr), 1, inp_g, 0, OC, C, N, 1.0f, 0.0f, NULL,
                     NULL);
        grad_round_add(cb, dw, g, (size_t)C * OC, dt_g, st_dw);
    }
    if (db) matmul_bias_grad(cb, db, dr, N, OC, dt_g, st_dw);
}

/* ---- FP8 Linear (docs/fp8.md) ----
 * The operands are fp32 buffers that already hold exact fp8 values (scaled domain) or
 * dequantized MXFP8 values, so they are read as fp32: nothing is rounded on the way in, and
 * f_in / f_w / f_g only describe them. alpha is sgemm's alpha: alpha * (A @ B) on the fp32
 * accumulator, one multiply, as cuBLASLt applies scaleA * scaleB * alpha to its fp32
 * accumulator before the bias epilogue and the output conversion. */
void cpu_fp8_matmul_forward(backend *be, float *out, const float *inq, int f_in, const float *wq,
                            int f_w, const float *b, int N, int C, int OC, int w_trans,
                            float alpha, dtype_t dt_out, num_stats *st)
{
    (void)f_in, (void)f_w;
    gemm_raw(cpu_of(be), out, OC, dt_out, src_f32(inq), 0, src_f32(wq), w_trans, N, OC, C,
             alpha, 0.0f, b, st);
}

/* As cpu_matmul_backward with the scaled operands as they are: dinp and the weight gradient
 * each get their alpha on the accumulator before the one rounding to dt_g; db sums the
 * unquantized dout (Transformer Engine's fused cast + dbias). */
void cpu_fp8_matmul_backward(backend *be, float *dinp, float *dw, float *db, const float *dout,
                             const float *doutq, int f_g, const float *inq, int f_in,
                             const float *wq, int f_w, int N, int C, int OC, int w_trans,
                             float alpha_dinp, float alpha_dw, dtype_t dt_g, num_stats *st_dinp,
                             num_stats *st_dw)
{
    (void)f_g, (void)f_in, (void)f_w;
    cpu_backend *cb = cpu_of(be);
    if (dinp) /* dinp(N,C) = doutq(N,OC) @ wq^T */
        gemm_raw(cb, dinp, C, dt_g, src_f32(doutq), 0, src_f32(wq), !w_trans, N, C, OC,
                 alpha_dinp, 0.0f, NULL, st_dinp);
    if (dw) {
        float *g = cpu_scratch(cb, CPU_SCR_OUT, (size_t)C * OC * sizeof *g);
        if (!g) return;
        if (!w_trans) /* g(C,OC) = inq^T @ doutq */
            gemm_raw(cb, g, OC, DT_F32, src_f32(inq), 1, src_f32(doutq), 0, C, OC, N, alpha_dw,
                     0.0f, NULL, NULL);
        else /* g(OC,C) = doutq^T @ inq */
            gemm_raw(cb, g, C, DT_F32, src_f32(doutq), 1, src_f32(inq), 0, OC, C, N, alpha_dw,
                     0.0f, NULL, NULL);
        grad_round_add(cb, dw, g, (size_t)C * OC, dt_g, st_dw);
    }
    if (db) matmul_bias_grad(cb, db, dout, N, OC, dt_g, st_dw);
}
