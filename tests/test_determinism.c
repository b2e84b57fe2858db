/* test_determinism.c — results do not depend on the thread count: every CPU op (GEMM tiles,
 * reductions, attention heads) gives the same bits with 1, 2 and 3 threads for awkward
 * shapes, and a short training run logs the same losses with --threads 1 and 2 under each
 * OpenBLAS kernel family this CPU can run (the variable is read when OpenBLAS loads, so the
 * run is a subprocess). CI runs this suite again with the whole binary under several
 * OPENBLAS_CORETYPE values. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_cpu_util.h"
#include "test_deadline.h"

/* All the outputs of one pass of ops, appended in order, and every stats record. */
typedef struct {
    float *v;
    size_t n, cap;
    num_stats st[64];
    int nst;
} trace;

static void tr_add(trace *t, const float *x, size_t n)
{
    if (t->n + n > t->cap) {
        t->cap = (t->n + n) * 2;
        t->v = realloc(t->v, t->cap * sizeof *t->v);
        cr_assert_not_null(t->v);
    }
    memcpy(t->v + t->n, x, n * sizeof *x);
    t->n += n;
}

static void tr_add_double(trace *t, double d)
{
    float f[2];
    memcpy(f, &d, sizeof d);
    tr_add(t, f, 2);
}

static num_stats *tr_st(trace *t)
{
    cr_assert_lt(t->nst, 64);
    num_stats *s = &t->st[t->nst++];
    num_stats_reset(s);
    return s;
}

/* Shapes around the 64-wide tiles: remainders of 1, 2, 33, rows and columns, odd K. */
static const int gemm_shapes[][3] = {{130, 48, 33}, {65, 50, 29}, {97, 257, 41},
                                     {40, 150, 29}, {1, 300, 7},  {300, 1, 7},
                                     {129, 77, 64}, {1100, 70, 5}};

static void run_gemms(backend *be, trace *t)
{
    enum { MAXE = 1100 * 300 };
    float *A = tu_buf(be, MAXE), *B = tu_buf(be, MAXE), *C = tu_buf(be, MAXE);
    tu_fill(A, MAXE, 31, 1.0f);
    tu_fill(B, MAXE, 32, 1.0f);
    for (size_t s = 0; s < sizeof gemm_shapes / sizeof gemm_shapes[0]; s++) {
        int M = gemm_shapes[s][0], N = gemm_shapes[s][1], K = gemm_shapes[s][2];
        for (int tr = 0; tr < 4; tr++) {
            tu_fill(C, (size_t)M * N, 33, 1.0f);
            bk_gemm(be, C, DT_F16, A, DT_BF16, tr & 1, B, DT_F32, tr >> 1, M, N, K, 1.0f,
                    tr == 3, tr_st(t));
            tr_add(t, C, (size_t)M * N);
        }
        bk_gemm(be, C, DT_F32, A, DT_F32, 0, B, DT_F32, 0, M, N, K, 0.5f, 0, NULL);
        tr_add(t, C, (size_t)M * N);
    }
    bk_free(be, A);
    bk_free(be, B);
    bk_free(be, C);
}

/* Linear forward and backward (bias gradient, weight gradient), both weight layouts. */
static void run_linear(backend *be, trace *t)
{
    enum { N = 130, C = 50, OC = 97 };
    float *inp = tu_buf(be, N * C), *w = tu_buf(be, C * OC), *b = tu_buf(be, OC);
    float *out = tu_buf(be, N * OC), *dinp = tu_buf(be, N * C), *dw = tu_buf(be, C * OC);
    float *db = tu_buf(be, OC);
    tu_fill(inp, N * C, 41, 2.0f);
    tu_fill(w, C * OC, 42, 0.5f);
    tu_fill(b, OC, 43, 0.5f);
    for (int wt = 0; wt < 2; wt++) {
        bk_matmul_forward(be, out, inp, w, b, N, C, OC, wt, DT_F16, DT_F16, DT_F16, tr_st(t));
        tr_add(t, out, N * OC);
        tu_fill(dw, C * OC, 44, 0.1f);
        tu_fill(db, OC, 45, 0.1f);
        bk_matmul_backward(be, dinp, dw, db, out, inp, w, N, C, OC, wt, DT_BF16, tr_st(t),
                           tr_st(t));
        tr_add(t, dinp, N * C);
        tr_add(t, dw, C * OC);
        tr_add(t, db, OC);
    }
    float *bufs[] = {inp, w, b, out, dinp, dw, db};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) bk_free(be, bufs[i]);
}

/* LayerNorm (dw / db are reductions over rows), attention (heads in parallel), loss. */
static void run_blocks(backend *be, trace *t)
{
    enum { B = 3, T = 43, C = 48, N = B * T, V = 257 };
    float *x = tu_buf(be, N * C), *w = tu_buf(be, C), *b = tu_buf(be, C), *y = tu_buf(be, N * C);
    float *mean = tu_buf(be, N), *rstd = tu_buf(be, N), *dx = tu_buf(be, N * C);
    float *dw = tu_buf(be, C), *db = tu_buf(be, C);
    tu_fill(x, N * C, 51, 3.0f);
    tu_fill(w, C, 52, 1.0f);
    tu_fill(b, C, 53, 1.0f);
    bk_layernorm_forward(be, y, mean, rstd, x, w, b, N, C, DT_F16, tr_st(t));
    tr_add(t, y, N * C);
    tu_fill(dx, N * C, 54, 1.0f);
    bk_layernorm_backward(be, dx, dw, db, y, x, w, mean, rstd, N, C);
    tr_add(t, dx, N * C);
    tr_add(t, dw, C);
    tr_add(t, db, C);

    /* attention at its own shape: T = 150 spans three query blocks (the last partial) */
    enum { AB = 2, AT = 150, AC = 32, ANH = 2, AN = AB * AT };
    float *qkv = tu_buf(be, AN * 3 * AC), *rs = tu_buf(be, AB * ANH * AT * 2);
    float *o = tu_buf(be, AN * AC), *dqkv = tu_buf(be, AN * 3 * AC), *ao = tu_buf(be, AN * AC);
    tu_fill(qkv, AN * 3 * AC, 55, 2.0f);
    tu_fill(ao, AN * AC, 58, 1.0f);
    bk_attention_forward(be, o, rs, qkv, AB, AT, AC, ANH, DT_BF16, tr_st(t));
    tr_add(t, o, AN * AC);
    tr_add(t, rs, AB * ANH * AT * 2);
    bk_attention_backward(be, dqkv, ao, qkv, rs, AB, AT, AC, ANH, DT_BF16, tr_st(t));
    tr_add(t, dqkv, AN * 3 * AC);

    float *logits = tu_buf(be, N * V), *losses = tu_buf(be, N), *dl = tu_buf(be, N * V);
    int32_t tok[N];
    uint64_t s = 57;
    for (int i = 0; i < N; i++) tok[i] = (int32_t)(tu_next(&s) % V);
    tu_fill(logits, N * V, 56, 8.0f);
    bk_crossentropy_forward(be, losses, logits, tok, N, V);
    tr_add(t, losses, N);
    bk_crossentropy_backward(be, dl, logits, tok, N, V, 1.0f / N, DT_F16, tr_st(t));
    tr_add(t, dl, N * V);

    float *dwte = tu_buf(be, V * C), *dwpe = tu_buf(be, T * C);
    bk_encoder_backward(be, dwte, dwpe, y, tok, B, T, C);
    tr_add(t, dwte, V * C);
    tr_add(t, dwpe, T * C);
    float *bufs[] = {x, w, b, y, mean, rstd, dx, dw, db, qkv, rs, o, dqkv, ao, logits,
                     losses, dl, dwte, dwpe};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) bk_free(be, bufs[i]);
}

/* Long vectors: double sums, stats, casts, GELU, the optimizer. */
static void run_vectors(backend *be, trace *t)
{
    enum { N = 100003 };
    float *x = tu_buf(be, N), *y = tu_buf(be, N), *m = tu_buf(be, N), *v = tu_buf(be, N);
    tu_fill(x, N, 61, 7.0f);
    x[77777] = 1e-9f;
    tr_add_double(t, bk_sum(be, x, N));
    tr_add_double(t, bk_sumsq(be, x, N));
    bk_stats(be, x, N, tr_st(t));
    bk_cast(be, y, x, N, DT_F16, tr_st(t));
    tr_add(t, y, N);
    bk_gelu_forward(be, y, x, N, DT_BF16, tr_st(t));
    tr_add(t, y, N);
    bk_gelu_backward(be, y, x, y, N, DT_F16, tr_st(t));
    tr_add(t, y, N);
    tu_fill(y, N, 62, 1.0f);
    for (int s = 1; s <= 2; s++) bk_adamw(be, x, y, m, v, N, 1e-3, 0.9, 0.999, 1e-8, 0.1, s, 0.5f);
    tr_add(t, x, N);
    tr_add(t, v, N);
    float *bufs[] = {x, y, m, v};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) bk_free(be, bufs[i]);
}

typedef void (*ops_fn)(backend *be, trace *t);

static void run_with_threads(ops_fn fn, int nthreads, trace *t)
{
    char err[256];
    backend *be = bk_create(BK_CPU, nthreads, err, sizeof err);
    cr_assert_not_null(be, "%s", err);
    memset(t, 0, sizeof *t);
    fn(be, t);
    cr_assert_eq(bk_status(be, err, sizeof err), 0, "%s", err);
    bk_destroy(be);
}

static void check_thread_counts(ops_fn fn, const char *what)
{
    trace ref, got;
    run_with_threads(fn, 1, &ref);
    for (int nt = 2; nt <= 3; nt++) {
        run_with_threads(fn, nt, &got);
        cr_assert_eq(got.n, ref.n);
        for (size_t i = 0; i < ref.n; i++)
            cr_assert_eq(memcmp(&got.v[i], &ref.v[i], sizeof(float)), 0,
                         "%s, %d threads: value %zu is %.9g, 1 thread %.9g", what, nt, i,
                         (double)got.v[i], (double)ref.v[i]);
        cr_assert_eq(got.nst, ref.nst);
        for (int s = 0; s < ref.nst; s++) {
            const num_stats *a = &got.st[s], *b = &ref.st[s];
            cr_assert(a->count == b->count && a->overflow == b->overflow &&
                          a->underflow == b->underflow && a->nonfinite == b->nonfinite &&
                          a->amax == b->amax && a->amin_nz == b->amin_nz,
                      "%s, %d threads: stats record %d differs", what, nt, s);
            if (s == 0) cr_assert_gt(b->count, 0, "%s: stats recorded nothing", what);
        }
        free(got.v);
    }
    free(ref.v);
}

static void deadline(void) { test_deadline(300); }

TestSuite(determinism, .init = deadline);

Test(determinism, gemm_bits_same_for_1_2_3_threads) { check_thread_counts(run_gemms, "gemm"); }
Test(determinism, linear_bits_same_for_1_2_3_threads)
{
    check_thread_counts(run_linear, "linear");
}
Test(determinism, reductions_attention_loss_same_for_1_2_3_threads)
{
    check_thread_counts(run_blocks, "layernorm/attention/loss/encoder");
}
Test(determinism, vectors_and_adamw_same_for_1_2_3_threads)
{
    check_thread_counts(run_vectors, "sum/stats/cast/gelu/adamw");
}

/* ---- end to end: mptui --threads 1 vs 2 under each OpenBLAS kernel family ---- */

static const char *mptui_bin(void)
{
    const char *b = getenv("MPTUI_BIN");
    cr_assert_not_null(b, "MPTUI_BIN is not set (run through make test)");
    return b;
}

/* The loss, grad_norm and eval_loss columns of metrics.csv, one line per row. */
static void run_training(const char *dir, const char *core, int threads, const char *extra,
                         char *cols, size_t cap)
{
    char cmd[2048], path[512];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && OPENBLAS_CORETYPE=%s MPTUI_NO_REEXEC=1 '%s' --headless --threads %d "
             "--max_steps 4 --logging_steps 1 --warmup_steps 0 --learning_rate 3e-3 "
             "--n_layer 2 --n_head 4 --n_embd 48 --block_size 43 "
             "--per_device_train_batch_size 3 --eval_steps 4 --eval_max_batches 1 "
             "--per_device_eval_batch_size 3 --sample_length 0 --save_strategy no --seed 7 %s "
             "--output_dir out-%s-%d >log-%s-%d.txt 2>&1 </dev/null",
             dir, core, mptui_bin(), threads, extra, core, threads, core, threads);
    int st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s --threads %d: mptui failed (%s/log-%s-%d.txt)",
              core, threads, dir, core, threads);
    snprintf(path, sizeof path, "%s/out-%s-%d/logs/metrics.csv", dir, core, threads);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s missing", path);
    char line[2048];
    int col_loss = -1, col_norm = -1, col_eval = -1, rows = 0;
    size_t len = 0;
    cols[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char keep[3][64] = {"", "", ""}, *rest = line, *tok;
        for (int c = 0; (tok = strsep(&rest, ",")) != NULL; c++) { /* keeps empty fields */
            if (rows == 0) {
                if (!strcmp(tok, "loss")) col_loss = c;
                if (!strcmp(tok, "grad_norm")) col_norm = c;
                if (!strcmp(tok, "eval_loss")) col_eval = c;
            } else {
                if (c == col_loss) snprintf(keep[0], sizeof keep[0], "%s", tok);
                if (c == col_norm) snprintf(keep[1], sizeof keep[1], "%s", tok);
                if (c == col_eval) snprintf(keep[2], sizeof keep[2], "%s", tok);
            }
        }
        if (rows++ == 0) {
            cr_assert(col_loss >= 0 && col_norm >= 0 && col_eval >= 0,
                      "%s: no loss / grad_norm / eval_loss column", path);
            continue;
        }
        len += (size_t)snprintf(cols + len, cap - len, "%s %s %s\n", keep[0], keep[1], keep[2]);
        cr_assert_lt(len, cap);
    }
    fclose(f);
    cr_assert_geq(rows, 5, "%s: %d rows, want 4 steps and an eval", path, rows - 1);
}

static int cpu_runs(const char *core)
{
    __builtin_cpu_init();
    if (!strcmp(core, "SkylakeX")) /* AVX-512 kernels: SIGILL elsewhere */
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static void threads_agree(const char *extra)
{
    char dir[] = "/tmp/mptui-determinism-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    static const char *const cores[] = {"Haswell", "SkylakeX", "Zen"};
    static char a[8192], b[8192];
    int ran = 0;
    for (int i = 0; i < 3; i++) {
        if (!cpu_runs(cores[i])) {
            fprintf(stderr, "[SKIP] determinism: OPENBLAS_CORETYPE=%s not run: this CPU lacks %s\n",
                    cores[i], strcmp(cores[i], "SkylakeX") ? "AVX2/FMA" : "AVX-512");
            continue;
        }
        run_training(dir, cores[i], 1, extra, a, sizeof a);
        run_training(dir, cores[i], 2, extra, b, sizeof b);
        cr_assert_str_eq(b, a, "OPENBLAS_CORETYPE=%s: --threads 2 logged\n%swhere --threads 1 "
                         "logged\n%s", cores[i], b, a);
        ran++;
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    if (!ran) cr_skip_test("determinism: no OpenBLAS core type of the list runs on this CPU");
}

Test(determinism, training_losses_same_for_threads_1_and_2_per_coretype) { threads_agree(""); }

/* FP8 (docs/fp8.md): the casts, their amaxes and the scales that follow are shape-blocked too. */
Test(determinism, fp8_training_same_for_threads_1_and_2_per_coretype)
{
    threads_agree("--precision fp8 --fp8_amax_history_len 2");
}
Test(determinism, mxfp8_training_same_for_threads_1_and_2_per_coretype)
{
    threads_agree("--precision fp8 --fp8_recipe mxfp8");
}
