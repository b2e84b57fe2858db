/* test_cpu_gemm.c — emulated GEMM and Linear: all transposes against a naive loop, fp16 /
 * bf16 input and output rounding, stats, finite-difference gradients, determinism. */
#include "test_cpu_util.h"

/* want(M,N) = alpha op(A) op(B) + beta want, in double. */
static void naive_gemm(double *want, const float *A, int ta, const float *B, int tb, int M,
                       int N, int K, double alpha, double beta)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[k * M + i] : A[i * K + k];
                double b = tb ? B[j * K + k] : B[k * N + j];
                s += a * b;
            }
            want[i * N + j] = alpha * s + beta * want[i * N + j];
        }
}

Test(cpu_gemm, all_transposes_match_naive_loop)
{
    backend *be = tu_backend();
    enum { M = 13, N = 7, K = 9 };
    float *A = tu_buf(be, M * K), *B = tu_buf(be, K * N), *C = tu_buf(be, M * N);
    double want[M * N];
    tu_fill(A, M * K, 1, 1.0f);
    tu_fill(B, K * N, 2, 1.0f);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int acc = 0; acc < 2; acc++) {
                tu_fill(C, M * N, 3, 1.0f);
                for (int i = 0; i < M * N; i++) want[i] = C[i];
                naive_gemm(want, A, ta, B, tb, M, N, K, 0.5, acc ? 1.0 : 0.0);
                bk_gemm(be, C, DT_F32, A, DT_F32, ta, B, DT_F32, tb, M, N, K, 0.5f, acc, NULL);
                tu_close(C, want, M * N, 1e-5, 1e-5, "C");
            }
    bk_free(be, A);
    bk_free(be, B);
    bk_free(be, C);
    bk_destroy(be);
}

Test(cpu_gemm, fp16_input_above_max_becomes_inf)
{
    backend *be = tu_backend();
    float A[2] = {70000.0f, 1.0f}, B[2] = {1.0f, 0.0f}, C[1] = {0};
    num_stats st;
    num_stats_reset(&st);
    bk_gemm(be, C, DT_F32, A, DT_F16, 0, B, DT_F32, 0, 1, 1, 2, 1.0f, 0, &st);
    cr_assert(isinf(C[0]) && C[0] > 0, "got %g", (double)C[0]);
    cr_assert_eq(st.nonfinite, 1);
    /* the same value in fp32 stays finite, and A itself is not modified */
    bk_gemm(be, C, DT_F32, A, DT_F32, 0, B, DT_F32, 0, 1, 1, 2, 1.0f, 0, NULL);
    cr_assert_eq(C[0], 70000.0f);
    cr_assert_eq(A[0], 70000.0f);
    bk_destroy(be);
}

Test(cpu_gemm, fp16_dot_of_4096_ones_is_exact)
{
    /* fp16 accumulation would stall at 2048; fp32 accumulation must reach 4096 */
    backend *be = tu_backend();
    enum { K = 4096 };
    float *A = tu_buf(be, K), *B = tu_buf(be, K), C[1];
    for (int i = 0; i < K; i++) A[i] = B[i] = 1.0f;
    bk_gemm(be, C, DT_F16, A, DT_F16, 0, B, DT_F16, 0, 1, 1, K, 1.0f, 0, NULL);
    cr_assert_eq(C[0], 4096.0f);
    bk_free(be, A);
    bk_free(be, B);
    bk_destroy(be);
}

Test(cpu_gemm, bf16_output_equals_num_round_of_fp32)
{
    backend *be = tu_backend();
    enum { M = 31, N = 17, K = 40 };
    float *A = tu_buf(be, M * K), *B = tu_buf(be, K * N);
    float *C32 = tu_buf(be, M * N), *Cb = tu_buf(be, M * N);
    tu_fill(A, M * K, 4, 3.0f);
    tu_fill(B, K * N, 5, 3.0f);
    bk_gemm(be, C32, DT_F32, A, DT_F32, 0, B, DT_F32, 1, M, N, K, 1.0f, 0, NULL);
    bk_gemm(be, Cb, DT_BF16, A, DT_F32, 0, B, DT_F32, 1, M, N, K, 1.0f, 0, NULL);
    int differs = 0;
    for (int i = 0; i < M * N; i++) {
        float r = num_round1(C32[i], DT_BF16);
        cr_assert_eq(memcmp(&r, &Cb[i], 4), 0, "i=%d %g vs %g", i, (double)r, (double)Cb[i]);
        differs |= r != C32[i];
    }
    cr_assert(differs, "rounding to bf16 changed nothing: test data too tame");
    bk_destroy(be);
}

Test(cpu_gemm, fp16_output_stats_count_overflow_underflow)
{
    backend *be = tu_backend();
    float A[5] = {1e5f, 1e-8f, 1.0f, 2.0f, -70000.0f}, B[1] = {1.0f}, C[5];
    num_stats st;
    num_stats_reset(&st);
    bk_gemm(be, C, DT_F16, A, DT_F32, 0, B, DT_F32, 0, 5, 1, 1, 1.0f, 0, &st);
    cr_assert_eq(st.count, 5);
    cr_assert_eq(st.overflow, 2);
    cr_assert_eq(st.underflow, 1);
    cr_assert_eq(st.nonfinite, 0);
    cr_assert_eq(st.amax, 1e5f);
    cr_assert_eq(st.amin_nz, 1e-8f);
    cr_assert(isinf(C[0]) && C[0] > 0 && C[1] == 0.0f && C[2] == 1.0f && isinf(C[4]) && C[4] < 0);
    bk_destroy(be);
}

Test(cpu_gemm, zero_k_gives_zero_or_keeps_c)
{
    backend *be = tu_backend();
    float C[4] = {1, 2, 3, 4}, A[1] = {0}, B[1] = {0};
    bk_gemm(be, C, DT_F32, A, DT_F32, 0, B, DT_F32, 0, 2, 2, 0, 1.0f, 1, NULL);
    cr_assert(C[0] == 1 && C[3] == 4);
    bk_gemm(be, C, DT_F32, A, DT_F32, 0, B, DT_F32, 0, 2, 2, 0, 1.0f, 0, NULL);
    cr_assert(C[0] == 0 && C[3] == 0);
    bk_destroy(be);
}

/* ---- Linear: forward against double, backward against finite differences ---- */

enum { LN = 6, LC = 5, LOC = 4 };
typedef struct {
    double inp[LN * LC], w[LC * LOC], b[LOC], r[LN * LOC];
    int w_trans, which; /* 0 inp, 1 w, 2 b */
} lin_ctx;

static void lin_ref(const lin_ctx *c, const double *inp, const double *w, const double *b,
                    double *out)
{
    for (int n = 0; n < LN; n++)
        for (int o = 0; o < LOC; o++) {
            double s = b ? b[o] : 0.0;
            for (int k = 0; k < LC; k++)
                s += inp[n * LC + k] * (c->w_trans ? w[o * LC + k] : w[k * LOC + o]);
            out[n * LOC + o] = s;
        }
}

static double lin_loss(const double *x, void *vctx)
{
    lin_ctx *c = vctx;
    double out[LN * LOC], l = 0.0;
    lin_ref(c, c->which == 0 ? x : c->inp, c->which == 1 ? x : c->w, c->which == 2 ? x : c->b,
            out);
    for (int i = 0; i < LN * LOC; i++) l += out[i] * c->r[i];
    return l;
}

static void check_linear(int w_trans, int with_bias)
{
    backend *be = tu_backend();
    float *inp = tu_buf(be, LN * LC), *w = tu_buf(be, LC * LOC), *b = tu_buf(be, LOC);
    float *out = tu_buf(be, LN * LOC), *dout = tu_buf(be, LN * LOC);
    float *dinp = tu_buf(be, LN * LC), *dw = tu_buf(be, LC * LOC), *db = tu_buf(be, LOC);
    tu_fill(inp, LN * LC, 10, 1.0f);
    tu_fill(w, LC * LOC, 11, 1.0f);
    tu_fill(b, LOC, 12, 1.0f);
    tu_fill(dout, LN * LOC, 13, 1.0f);
    lin_ctx c = {.w_trans = w_trans};
    for (int i = 0; i < LN * LC; i++) c.inp[i] = inp[i];
    for (int i = 0; i < LC * LOC; i++) c.w[i] = w[i];
    for (int i = 0; i < LOC; i++) c.b[i] = with_bias ? b[i] : 0.0;
    for (int i = 0; i < LN * LOC; i++) c.r[i] = dout[i];

    bk_matmul_forward(be, out, inp, w, with_bias ? b : NULL, LN, LC, LOC, w_trans, DT_F32,
                      DT_F32, DT_F32, NULL);
    double want[LN * LOC];
    lin_ref(&c, c.inp, c.w, c.b, want);
    tu_close(out, want, LN * LOC, 1e-5, 1e-5, "out");

    for (int i = 0; i < LN * LC; i++) dinp[i] = 123.0f; /* overwritten */
    for (int i = 0; i < LC * LOC; i++) dw[i] = 1.0f;    /* accumulated */
    for (int i = 0; i < LOC; i++) db[i] = 1.0f;
    bk_matmul_backward(be, dinp, dw, with_bias ? db : NULL, dout, inp, w, LN, LC, LOC, w_trans,
                       DT_F32, NULL, NULL);
    double g[LN * LC];
    c.which = 0;
    tu_fd_grad(lin_loss, c.inp, LN * LC, &c, 1e-4, g);
    tu_close(dinp, g, LN * LC, 1e-5, 1e-4, "dinp");
    c.which = 1;
    tu_fd_grad(lin_loss, c.w, LC * LOC, &c, 1e-4, g);
    for (int i = 0; i < LC * LOC; i++) g[i] += 1.0;
    tu_close(dw, g, LC * LOC, 1e-5, 1e-4, "dw");
    if (with_bias) {
        c.which = 2;
        tu_fd_grad(lin_loss, c.b, LOC, &c, 1e-4, g);
        for (int i = 0; i < LOC; i++) g[i] += 1.0;
        tu_close(db, g, LOC, 1e-5, 1e-4, "db");
    }
    bk_destroy(be);
}

Test(cpu_gemm, linear_conv1d_layout_with_bias) { check_linear(0, 1); }
Test(cpu_gemm, linear_conv1d_layout_no_bias) { check_linear(0, 0); }
Test(cpu_gemm, linear_transposed_weight_with_bias) { check_linear(1, 1); }
Test(cpu_gemm, linear_transposed_weight_no_bias) { check_linear(1, 0); }

Test(cpu_gemm, linear_bias_added_before_single_rounding)
{
    /* 2048 + 1 (from the product) + 0.5 (bias): rounding after each add would give 2048 in
     * fp16 twice; one rounding of the fp32 sum 2049.5 gives 2050. */
    backend *be = tu_backend();
    float inp[1] = {2049.0f}, w[1] = {1.0f}, b[1] = {0.5f}, out[1];
    bk_matmul_forward(be, out, inp, w, b, 1, 1, 1, 0, DT_F32, DT_F32, DT_F16, NULL);
    cr_assert_eq(out[0], 2050.0f);
    bk_destroy(be);
}

Test(cpu_gemm, weight_grad_rounded_to_dt_then_added)
{
    /* dw += round_f16(g): g = 1e-8 underflows to 0 in fp16; counted in st_dw. */
    backend *be = tu_backend();
    float inp[1] = {1e-4f}, w[1] = {1.0f}, dout[1] = {1e-4f}, dinp[1], dw[1] = {1.0f};
    float db[1] = {0.0f};
    num_stats sd, sw;
    num_stats_reset(&sd);
    num_stats_reset(&sw);
    bk_matmul_backward(be, dinp, dw, db, dout, inp, w, 1, 1, 1, 0, DT_F16, &sd, &sw);
    cr_assert_eq(dw[0], 1.0f);
    cr_assert_eq(sw.underflow, 1);
    cr_assert_eq(sw.count, 2); /* weight and bias gradient */
    cr_assert_eq(db[0], num_round1(1e-4f, DT_F16));
    cr_assert_eq(dinp[0], num_round1(1e-4f, DT_F16));
    cr_assert_eq(sd.count, 1);
    bk_destroy(be);
}

Test(cpu_gemm, fp16_linear_is_deterministic)
{
    backend *be = tu_backend();
    enum { N = 300, C = 70, OC = 90 };
    float *inp = tu_buf(be, N * C), *w = tu_buf(be, C * OC), *b = tu_buf(be, OC);
    float *out[2], *dinp[2], *dw[2], *db[2];
    tu_fill(inp, N * C, 20, 2.0f);
    tu_fill(w, C * OC, 21, 0.5f);
    tu_fill(b, OC, 22, 0.5f);
    bk_cast(be, inp, inp, N * C, DT_F16, NULL);
    for (int r = 0; r < 2; r++) {
        out[r] = tu_buf(be, N * OC);
        dinp[r] = tu_buf(be, N * C);
        dw[r] = tu_buf(be, C * OC);
        db[r] = tu_buf(be, OC);
        bk_matmul_forward(be, out[r], inp, w, b, N, C, OC, 0, DT_F16, DT_F16, DT_F16, NULL);
        bk_matmul_backward(be, dinp[r], dw[r], db[r], out[r], inp, w, N, C, OC, 0, DT_F16,
                           NULL, NULL);
    }
    cr_assert_eq(memcmp(out[0], out[1], N * OC * 4), 0);
    cr_assert_eq(memcmp(dinp[0], dinp[1], N * C * 4), 0);
    cr_assert_eq(memcmp(dw[0], dw[1], C * OC * 4), 0);
    cr_assert_eq(memcmp(db[0], db[1], OC * 4), 0);
    bk_destroy(be);
}

/* Shapes large enough that the threads share the output's tiles (rows when M >= N, else
 * columns; 130 = 64 + 64 + 2): every transpose, accumulate, fp16 output with stats, against
 * a naive loop and bit-identical to a 1-thread backend walking the same tiles. */
static void check_split(int M, int N, int K)
{
    char err[256];
    backend *be = tu_backend(), *be1 = bk_create(BK_CPU, 1, err, sizeof err);
    cr_assert_not_null(be1, "%s", err);
    float *A = tu_buf(be, (size_t)M * K), *B = tu_buf(be, (size_t)K * N);
    float *C = tu_buf(be, (size_t)M * N), *C1 = tu_buf(be, (size_t)M * N);
    double *want = malloc(sizeof(double) * M * N);
    cr_assert_not_null(want);
    tu_fill(A, (size_t)M * K, 21, 1.0f);
    tu_fill(B, (size_t)K * N, 22, 1.0f);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int acc = 0; acc < 2; acc++) {
                tu_fill(C, (size_t)M * N, 23, 1.0f);
                memcpy(C1, C, sizeof(float) * M * N);
                for (int i = 0; i < M * N; i++) want[i] = C[i];
                naive_gemm(want, A, ta, B, tb, M, N, K, 1.0, acc ? 1.0 : 0.0);
                num_stats st = {0}, st1 = {0};
                bk_gemm(be, C, DT_F16, A, DT_BF16, ta, B, DT_F32, tb, M, N, K, 1.0f, acc, &st);
                bk_gemm(be1, C1, DT_F16, A, DT_BF16, ta, B, DT_F32, tb, M, N, K, 1.0f, acc,
                        &st1);
                cr_assert_eq(memcmp(C, C1, sizeof(float) * M * N), 0, "split changed bits");
                cr_assert_eq(st.count, st1.count);
                cr_assert_eq(st.count, (uint64_t)M * N);
                cr_assert_eq(st.amax, st1.amax);
                /* bf16 A: 2^-8 relative per product; fp16 C: 2^-11 relative */
                tu_close(C, want, (size_t)M * N, 0.02 * sqrt((double)K), 2e-3, "C");
            }
    free(want);
    bk_destroy(be1);
    bk_destroy(be);
}

Test(cpu_gemm, row_split_matches_naive_and_one_thread) { check_split(130, 48, 33); }
Test(cpu_gemm, column_split_matches_naive_and_one_thread) { check_split(40, 150, 29); }

/* An input already stored in its dtype is read as it is (no rounded copy); one value that
 * rounding changes, even in the last of several check chunks, still gets the whole input
 * rounded: the result equals the fp32 GEMM of the rounded input, bit for bit. */
Test(cpu_gemm, bf16_input_rounded_only_when_a_value_changes)
{
    backend *be = tu_backend();
    enum { M = 300, N = 24, K = 200 }; /* A: 60000 values, several elementwise chunks */
    float *A = tu_buf(be, M * K), *Ar = tu_buf(be, M * K), *B = tu_buf(be, K * N);
    float *C = tu_buf(be, M * N), *Cr = tu_buf(be, M * N), *C32 = tu_buf(be, M * N);
    tu_fill(A, M * K, 11, 1.0f);
    tu_fill(B, K * N, 12, 1.0f);
    num_round(A, A, M * K, DT_BF16, NULL);
    for (int changed = 0; changed <= 1; changed++) {
        if (changed) A[M * K - 1] = 1.0f + 0x1p-9f; /* bf16 keeps 7 bits: becomes 1 */
        num_round(Ar, A, M * K, DT_BF16, NULL);
        float before = A[M * K - 1];
        bk_gemm(be, C, DT_F32, A, DT_BF16, 0, B, DT_F32, 0, M, N, K, 1.0f, 0, NULL);
        bk_gemm(be, Cr, DT_F32, Ar, DT_F32, 0, B, DT_F32, 0, M, N, K, 1.0f, 0, NULL);
        bk_gemm(be, C32, DT_F32, A, DT_F32, 0, B, DT_F32, 0, M, N, K, 1.0f, 0, NULL);
        cr_assert_eq(memcmp(C, Cr, M * N * sizeof *C), 0, "changed=%d: not the rounded GEMM",
                     changed);
        /* the unrounded value would have shown in the last row */
        cr_assert_eq(memcmp(C, C32, M * N * sizeof *C) != 0, changed, "changed=%d", changed);
        cr_assert_eq(A[M * K - 1], before, "the input itself is never modified");
    }
    bk_free(be, A);
    bk_free(be, Ar);
    bk_free(be, B);
    bk_free(be, C);
    bk_free(be, Cr);
    bk_free(be, C32);
    bk_destroy(be);
}

/* Rows x OC outputs of a Linear whose weight (Cw, V), or (V, Cw) with w_trans, is an fp32
 * master read in dt, on be: the logits-like forward and the input gradient, as lm_head runs
 * them on the tied wte. */
static void weight_gemms(backend *be, const float *x, const float *W, dtype_t dtw, int rows,
                         int Cw, int V, int w_trans, dtype_t dt, float *out, float *dx)
{
    bk_matmul_forward(be, out, x, W, NULL, rows, Cw, V, w_trans, dt, dtw, dt, NULL);
    bk_matmul_backward(be, dx, NULL, NULL, out, x, W, rows, Cw, V, w_trans, dt, NULL, NULL);
}

/* A GEMM with both operands needing a rounding: each is rounded whole (every transpose, rows
 * and columns split). A Linear's weight read from its fp32 master (lm_head on the tied wte)
 * is rounded one tile at a time into per-thread scratch where the tiles split it: here the
 * forward's tiles split the V outputs (rows of W, or with w_trans 0 a strided block of its
 * columns) and the input gradient's tiles the Cw outputs (the other layout). 2 threads and
 * 1: the bits of the same GEMMs on operands rounded beforehand, so the leading dimension of a
 * tile's copy changes nothing. */
static void check_tile_rounding(int M, int N, int K, dtype_t dt)
{
    char err[256];
    backend *be = tu_backend(), *be1 = bk_create(BK_CPU, 1, err, sizeof err);
    cr_assert_not_null(be1, "%s", err);
    size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
    float *A = tu_buf(be, na), *B = tu_buf(be, nb), *Ar = tu_buf(be, na), *Br = tu_buf(be, nb);
    float *C = tu_buf(be, nc), *C1 = tu_buf(be, nc), *Cr = tu_buf(be, nc);
    tu_fill(A, na, 31, 2.0f);
    tu_fill(B, nb, 32, 2.0f);
    num_round(Ar, A, na, dt, NULL);
    num_round(Br, B, nb, dt, NULL);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            bk_gemm(be, C, DT_F32, A, dt, ta, B, dt, tb, M, N, K, 1.0f, 0, NULL);
            bk_gemm(be1, C1, DT_F32, A, dt, ta, B, dt, tb, M, N, K, 1.0f, 0, NULL);
            bk_gemm(be, Cr, DT_F32, Ar, DT_F32, ta, Br, DT_F32, tb, M, N, K, 1.0f, 0, NULL);
            cr_assert_eq(memcmp(C, Cr, nc * sizeof *C), 0, "ta %d tb %d: not the rounded GEMM",
                         ta, tb);
            cr_assert_eq(memcmp(C, C1, nc * sizeof *C), 0, "ta %d tb %d: threads changed bits",
                         ta, tb);
        }
    /* the weight tiles: 40 rows, Cw = 200 (tiles of 64), V = 1000 (tiles of 64): 2 threads'
     * tiles of either GEMM hold less than the weight, so it is rounded per tile */
    enum { ROWS = 40, CW = 200, V = 1000 };
    size_t nx = (size_t)ROWS * CW, nw = (size_t)V * CW, no = (size_t)ROWS * V;
    float *x = tu_buf(be, nx), *W = tu_buf(be, nw), *Wr = tu_buf(be, nw);
    float *o[3], *dx[3];
    for (int i = 0; i < 3; i++) o[i] = tu_buf(be, no), dx[i] = tu_buf(be, nx);
    tu_fill(x, nx, 33, 1.0f);
    num_round(x, x, nx, dt, NULL);
    tu_fill(W, nw, 34, 2.0f);
    num_round(Wr, W, nw, dt, NULL);
    float w0 = W[0];
    for (int wt = 0; wt < 2; wt++) {
        weight_gemms(be, x, W, dt, ROWS, CW, V, wt, dt, o[0], dx[0]);
        weight_gemms(be1, x, W, dt, ROWS, CW, V, wt, dt, o[1], dx[1]);
        weight_gemms(be, x, Wr, DT_F32, ROWS, CW, V, wt, dt, o[2], dx[2]);
        for (int i = 0; i < 2; i++) {
            cr_assert_eq(memcmp(o[i], o[2], no * sizeof(float)), 0, "w_trans %d: forward", wt);
            cr_assert_eq(memcmp(dx[i], dx[2], nx * sizeof(float)), 0, "w_trans %d: dinp", wt);
        }
    }
    cr_assert_eq(W[0], w0, "the master is never modified");
    bk_destroy(be1);
    bk_destroy(be);
}

Test(cpu_gemm, bf16_master_rounded_per_tile_rows_split)
{
    check_tile_rounding(1000, 40, 70, DT_BF16);
}

Test(cpu_gemm, fp16_master_rounded_per_tile_columns_split)
{
    check_tile_rounding(40, 1000, 70, DT_F16);
}
