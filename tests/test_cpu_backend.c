/* test_cpu_backend.c — backend creation and dispatch, memory, scratch reuse, the chunked
 * parallel loop (cpu_parallel) and the CUDA-not-built error path. */
#include "test_cpu_util.h"

#include <stdio.h>

#include "cpu/cpu_backend.h"

Test(cpu_backend, create_describe_status)
{
    char err[256] = "";
    backend *be = bk_create(BK_CPU, 2, err, sizeof err);
    cr_assert_not_null(be);
    cr_assert_eq(bk_get_kind(be), BK_CPU);
    cr_assert_str_eq(bk_describe(be), "cpu (2 threads, openblas)");
    cr_assert_eq(bk_status(be, err, sizeof err), 0);
    bk_destroy(be);
    be = bk_create(BK_CPU, 0, err, sizeof err); /* all cores */
    cr_assert_not_null(be);
    cr_assert(strstr(bk_describe(be), "cpu (") == bk_describe(be));
    bk_destroy(be);
    bk_destroy(NULL);
}

Test(cpu_backend, cuda_or_unknown_kind_refused_with_message)
{
#ifndef MPTUI_CUDA
    char err[256] = "";
    cr_assert_null(bk_create(BK_CUDA, 1, err, sizeof err));
    cr_assert(strstr(err, "CUDA backend not built into this binary") != NULL, "%s", err);
#endif
    char err2[256] = "";
    cr_assert_null(bk_create((bk_kind)7, 1, err2, sizeof err2));
    cr_assert(strstr(err2, "unknown backend kind 7") != NULL, "%s", err2);
}

Test(cpu_backend, memory_is_zeroed_aligned_and_copies)
{
    backend *be = tu_backend();
    unsigned char *p = bk_alloc(be, 1000), *q = bk_alloc(be, 1000);
    cr_assert_not_null(p);
    cr_assert_eq((uintptr_t)p % 64, 0);
    for (int i = 0; i < 1000; i++) cr_assert_eq(p[i], 0);
    unsigned char host[1000], back[1000];
    for (int i = 0; i < 1000; i++) host[i] = (unsigned char)(i * 7);
    bk_upload(be, p, host, 1000);
    bk_copy(be, q, p, 1000);
    bk_download(be, back, q, 1000);
    cr_assert_eq(memcmp(host, back, 1000), 0);
    bk_zero(be, q, 500);
    cr_assert(q[0] == 0 && q[499] == 0 && q[500] == host[500]);
    bk_free(be, p);
    bk_free(be, q);
    bk_destroy(be);
}

Test(cpu_backend, reductions_same_across_thread_counts)
{
    /* reductions use fixed blocks, so 1 and 2 threads agree bit for bit */
    char err[256];
    backend *b1 = bk_create(BK_CPU, 1, err, sizeof err), *b2 = tu_backend();
    enum { N = 300000 };
    float *x = tu_buf(b1, N);
    tu_fill(x, N, 90, 1.0f);
    cr_assert_eq(bk_sum(b1, x, N), bk_sum(b2, x, N));
    cr_assert_eq(bk_sumsq(b1, x, N), bk_sumsq(b2, x, N));
    bk_free(b1, x);
    bk_destroy(b1);
    bk_destroy(b2);
}

/* The backend owns its blocks: freeing some in any order keeps the others intact, and
 * bk_destroy releases the rest (the ASan build reports a leak or a double free here). */
Test(cpu_backend, destroy_frees_blocks_still_allocated)
{
    backend *be = tu_backend();
    enum { N = 64 };
    unsigned char *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = bk_alloc(be, (size_t)(i * 37 + 1));
        cr_assert_not_null(p[i]);
        cr_assert_eq((uintptr_t)p[i] % 64, 0);
        memset(p[i], i, (size_t)(i * 37 + 1));
    }
    int freed[N] = {0};
    for (int i = N - 1; i >= 0; i -= 3) freed[i] = 1; /* the newest, middle and oldest ones */
    for (int i = 0; i < N; i++)
        if (freed[i]) bk_free(be, p[i]);
    bk_free(be, NULL);
    for (int i = 0; i < N; i++) {
        if (freed[i]) continue;
        for (int k = 0; k < i * 37 + 1; k++) cr_assert_eq(p[i][k], (unsigned char)i);
    }
    bk_destroy(be);
}

/* cpu_parallel: a chunk callback that records what it was given. Each chunk writes only
 * its own slots (start, len, got_ps at index i0 / chunk; hits of its items). */
typedef struct {
    unsigned char *hits;
    size_t chunk, start[32], len[32];
    int got_ps[32];
} chunk_log;

static void log_chunk(void *ctx, size_t i0, size_t k, num_stats *ps)
{
    chunk_log *c = ctx;
    size_t b = i0 / c->chunk;
    c->start[b] = i0, c->len[b] = k, c->got_ps[b] = ps != NULL;
    for (size_t i = i0; i < i0 + k; i++) c->hits[i]++;
    if (!ps) return;
    ps->count += k;
    if ((float)(i0 + k) > ps->amax) ps->amax = (float)(i0 + k);
}

static void check_chunks(const chunk_log *c, size_t n, int want_ps, const char *what)
{
    size_t nb = (n + c->chunk - 1) / c->chunk;
    for (size_t b = 0; b < nb; b++) {
        size_t want = n - b * c->chunk < c->chunk ? n - b * c->chunk : c->chunk;
        cr_assert(c->start[b] == b * c->chunk && c->len[b] == want,
                  "%s: chunk %zu is [%zu, +%zu), want [%zu, +%zu)", what, b, c->start[b],
                  c->len[b], b * c->chunk, want);
        cr_assert_eq(c->got_ps[b], want_ps, "%s: chunk %zu stats pointer", what, b);
    }
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(c->hits[i], 1, "%s: item %zu seen %d times", what, i, c->hits[i]);
}

/* Every item in exactly one chunk of the fixed size (the last one shorter), whether the
 * chunks run on 1 or 3 threads or serially; each thread's stats are merged into st. */
Test(cpu_backend, parallel_chunks_cover_each_item_once_and_merge_stats)
{
    enum { N = 100003, CHUNK = 4096 }; /* 25 chunks, the last of 1699 items */
    static unsigned char hits[N];
    for (int nt = 1; nt <= 3; nt += 2) {
        char err[256], what[64];
        backend *be = bk_create(BK_CPU, nt, err, sizeof err);
        cr_assert_not_null(be, "%s", err);
        for (int par = 0; par <= 2; par++) {
            memset(hits, 0, N);
            chunk_log c = {.hits = hits, .chunk = CHUNK};
            num_stats st;
            num_stats_reset(&st);
            cpu_parallel(cpu_of(be), N, CHUNK, par > 0, par < 2 ? &st : NULL, log_chunk, &c);
            snprintf(what, sizeof what, "threads %d par %d", nt, par);
            check_chunks(&c, N, par < 2, what);
            if (par == 2) continue; /* no st: the chunks got no stats either */
            cr_assert_eq(st.count, (uint64_t)N, "%s", what);
            cr_assert_eq(st.amax, (float)N, "%s: the last chunk ends at n", what);
        }
        memset(hits, 0, N);
        chunk_log c = {.hits = hits, .chunk = CHUNK};
        cpu_parallel(cpu_of(be), 0, CHUNK, 1, NULL, log_chunk, &c);
        for (size_t i = 0; i < N; i++) cr_assert_eq(hits[i], 0, "n = 0 runs no chunk");
        bk_destroy(be);
    }
}

/* ---- deferred stats (bk_cpu_defer_stats, docs/cuda.md "Stats delivery") ---- */

enum { DS_N = 8, DS_C = 16, DS_OC = 24, DS_NH = 2, DS_T = 4, DS_ST = 7 };

/* Inputs and outputs of one run of ds_ops, in backend memory. */
typedef struct {
    float *x, *w, *out, *dout, *dinp, *dw, *db, *ln, *mean, *rstd, *lw, *lb, *att, *rs, *dl;
    int32_t *tg;
} ds_bufs;

static ds_bufs ds_alloc(backend *be)
{
    ds_bufs b = {tu_buf(be, DS_N * DS_OC), tu_buf(be, DS_C * DS_OC), tu_buf(be, DS_N * DS_OC),
                 tu_buf(be, DS_N * DS_OC), tu_buf(be, DS_N * DS_C), tu_buf(be, DS_C * DS_OC),
                 tu_buf(be, DS_OC), tu_buf(be, DS_N * DS_C), tu_buf(be, DS_N), tu_buf(be, DS_N),
                 tu_buf(be, DS_C), tu_buf(be, DS_C), tu_buf(be, DS_N * DS_C),
                 tu_buf(be, DS_NH * DS_N * 2), tu_buf(be, DS_N * DS_OC), NULL};
    b.tg = bk_alloc(be, DS_N * sizeof(int32_t));
    float *h = malloc(DS_C * DS_OC * sizeof *h); /* the largest input */
    tu_fill(h, DS_N * DS_OC, 5, 3.0f);
    h[0] = 1e5f, h[1] = -7e4f, h[2] = 1e-9f, h[3] = INFINITY; /* fp16: overflow, underflow */
    bk_upload(be, b.x, h, DS_N * DS_OC * sizeof *h);
    tu_fill(h, DS_C * DS_OC, 6, 0.5f);
    bk_upload(be, b.w, h, DS_C * DS_OC * sizeof *h);
    tu_fill(h, DS_N * DS_OC, 7, 1e-3f);
    bk_upload(be, b.dout, h, DS_N * DS_OC * sizeof *h);
    for (int i = 0; i < DS_C; i++) h[i] = 1.0f + 0.01f * (float)i;
    bk_upload(be, b.lw, h, DS_C * sizeof *h);
    int32_t t[DS_N];
    for (int i = 0; i < DS_N; i++) t[i] = (i * 5) % (DS_OC - 4);
    bk_upload(be, b.tg, t, sizeof t);
    free(h);
    return b;
}

/* Ops of every CPU op file that count into a caller's stats, st[0..DS_ST); st[1], st[5] and
 * st[6] twice, st[4] three times. x's first values are the cast's special cases; the later
 * ops read past them. Attention reads dl as qkv (B 2, T 4, C 8). */
static void ds_ops(backend *be, const ds_bufs *b, num_stats *st)
{
    bk_cast(be, b->out, b->x, DS_N * DS_OC, DT_F16, st ? &st[0] : NULL);
    bk_matmul_forward(be, b->out, b->x + 4, b->w, NULL, DS_N, DS_C, DS_OC, 0, DT_BF16, DT_BF16,
                      DT_F16, st ? &st[1] : NULL);
    bk_gemm(be, b->dl, DT_F16, b->x + 4, DT_F16, 0, b->w, DT_F16, 0, DS_N, DS_OC, DS_C, 8.0f, 0,
            st ? &st[1] : NULL);
    bk_matmul_backward(be, b->dinp, b->dw, b->db, b->dout, b->x + 4, b->w, DS_N, DS_C, DS_OC,
                       0, DT_F16, st ? &st[2] : NULL, st ? &st[3] : NULL);
    bk_layernorm_forward(be, b->ln, b->mean, b->rstd, b->x + 8, b->lw, b->lb, DS_N, DS_C,
                         DT_BF16, st ? &st[4] : NULL);
    bk_attention_forward(be, b->att, b->rs, b->dl, 2, DS_T, 8, DS_NH, DT_F16,
                         st ? &st[5] : NULL);
    bk_gelu_forward(be, b->dl, b->dl, DS_N * DS_OC, DT_F16, st ? &st[5] : NULL);
    bk_crossentropy_backward(be, b->dl, b->out + 4, b->tg, DS_N, DS_OC - 4, 1e-3f, DT_F16,
                             st ? &st[6] : NULL);
    bk_stats(be, b->x, DS_N * DS_OC, st ? &st[6] : NULL);
    bk_fp8_quantize(be, b->dl, b->dl, DS_N * DS_OC, FP8_E5M2, 0.5f, st ? &st[4] : NULL);
    bk_mx_quantize(be, b->out, b->out, DS_N, DS_OC, 0, FP8_E4M3, st ? &st[4] : NULL);
}

/* Every output ds_ops writes, copied to the host: dst (DS_OUT floats). */
enum { DS_OUT = 3 * DS_N * DS_OC + DS_N * DS_C * 3 + DS_C * DS_OC + DS_OC };
static void ds_read(backend *be, const ds_bufs *b, float *dst)
{
    float *o = dst;
    bk_download(be, o, b->out, DS_N * DS_OC * sizeof *o), o += DS_N * DS_OC;
    bk_download(be, o, b->dl, DS_N * DS_OC * sizeof *o), o += DS_N * DS_OC;
    bk_download(be, o, b->x, DS_N * DS_OC * sizeof *o), o += DS_N * DS_OC;
    bk_download(be, o, b->dinp, DS_N * DS_C * sizeof *o), o += DS_N * DS_C;
    bk_download(be, o, b->ln, DS_N * DS_C * sizeof *o), o += DS_N * DS_C;
    bk_download(be, o, b->att, DS_N * DS_C * sizeof *o), o += DS_N * DS_C;
    bk_download(be, o, b->dw, DS_C * DS_OC * sizeof *o), o += DS_C * DS_OC;
    bk_download(be, o, b->db, DS_OC * sizeof *o);
}

static void ds_free(backend *be, ds_bufs *b)
{
    float **f[] = {&b->x, &b->w, &b->out, &b->dout, &b->dinp, &b->dw, &b->db, &b->ln, &b->mean,
                   &b->rstd, &b->lw, &b->lb, &b->att, &b->rs, &b->dl};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) bk_free(be, *f[i]);
    bk_free(be, b->tg);
}

/* Stats as a caller may hold them before the ops: not zero, so "adds" is checked too. */
static void ds_seed(num_stats *st)
{
    for (int i = 0; i < DS_ST; i++)
        st[i] = (num_stats){.amax = 0.5f, .amin_nz = 0.25f, .count = 3, .underflow = 1};
}

/* The immediate mode's stats and outputs, on a fresh backend. */
static void ds_reference(num_stats *want, float *out)
{
    backend *be = tu_backend();
    ds_bufs b = ds_alloc(be);
    ds_seed(want);
    ds_ops(be, &b, want);
    ds_read(be, &b, out);
    ds_free(be, &b);
    bk_destroy(be);
}

Test(cpu_backend, stats_land_at_once_by_default)
{
    num_stats want[DS_ST], st[DS_ST];
    static float ref[DS_OUT];
    ds_reference(want, ref);
    backend *be = tu_backend();
    ds_bufs b = ds_alloc(be);
    ds_seed(st);
    ds_ops(be, &b, st);
    /* before any synchronizing call: every count is there already */
    cr_assert_eq(memcmp(st, want, sizeof st), 0);
    cr_assert_eq(cpu_of(be)->n_pending, 0);
    for (int i = 0; i < DS_ST; i++) cr_assert_gt(st[i].count, 3, "op %d counted", i);
    cr_assert_eq(st[0].overflow, 1 + 1, "cast: 1e5 and -7e4 overflow fp16 (one seeded)");
    cr_assert_eq(st[0].nonfinite, 1);
    ds_free(be, &b);
    bk_destroy(be);
}

/* The synchronizing calls of backend.h, each tried on its own. */
typedef enum { SY_SUM, SY_SUMSQ, SY_UNSCALE, SY_UNSCALE_MULTI, SY_SUMSQ_MULTI, SY_AMAX,
               SY_DOWNLOAD, SY_STATUS, SY_COUNT } ds_sync;
static const char *const sync_name[SY_COUNT] = {"bk_sum", "bk_sumsq", "bk_unscale",
                                                "bk_unscale_multi", "bk_sumsq_multi", "bk_amax",
                                                "bk_download", "bk_status"};

static void ds_do_sync(backend *be, float *scratch, ds_sync k)
{
    float *g[1] = {scratch};
    const float *cg[1] = {scratch};
    size_t n[1] = {4};
    double d[1];
    float h[4];
    char err[64];
    switch (k) {
    case SY_SUM: (void)bk_sum(be, scratch, 4); break;
    case SY_SUMSQ: (void)bk_sumsq(be, scratch, 4); break;
    case SY_UNSCALE: (void)bk_unscale(be, scratch, 4, 1.0f); break;
    case SY_UNSCALE_MULTI: (void)bk_unscale_multi(be, g, n, 1, 1.0f); break;
    case SY_SUMSQ_MULTI: bk_sumsq_multi(be, cg, n, 1, d); break;
    case SY_AMAX: (void)bk_amax(be, scratch, 4); break;
    case SY_DOWNLOAD: bk_download(be, h, scratch, sizeof h); break;
    case SY_STATUS: cr_assert_eq(bk_status(be, err, sizeof err), 0); break;
    case SY_COUNT: break;
    }
}

/* Deferred: before a sync the callers' stats are as they were, after it exactly what the
 * immediate mode gave; the values are the same bits either way. Calls that do not
 * synchronize (other ops, memory calls, empty sums and downloads) leave them alone. */
Test(cpu_backend, deferred_stats_land_at_each_synchronizing_call)
{
    num_stats want[DS_ST], seeded[DS_ST], st[DS_ST];
    static float ref[DS_OUT], got[DS_OUT];
    ds_reference(want, ref);
    ds_seed(seeded);
    for (int k = 0; k < SY_COUNT; k++) {
        backend *be = tu_backend();
        float *scratch = tu_buf(be, 4), *sc2 = tu_buf(be, 4);
        ds_bufs b = ds_alloc(be);
        bk_cpu_defer_stats(be, 1);
        ds_seed(st);
        ds_ops(be, &b, st);
        cr_assert_eq(cpu_of(be)->n_pending, DS_ST, "%s: one record per caller object",
                     sync_name[k]);
        float h[4] = {1, 2, 3, 4};
        int32_t tok[DS_N] = {0};
        bk_upload(be, scratch, h, sizeof h);
        bk_copy(be, sc2, scratch, sizeof h);
        bk_scale(be, sc2, 4, 2.0f);
        bk_zero(be, sc2, sizeof h);
        bk_add_inplace(be, sc2, scratch, 4);
        bk_encoder_backward(be, b.w, b.w, b.dout, tok, 1, 1, 4); /* syncs on CUDA, by accident */
        cr_assert_eq(bk_sum(be, scratch, 0), 0.0);
        cr_assert_eq(bk_sumsq(be, scratch, 0), 0.0);
        cr_assert_eq(bk_unscale(be, scratch, 0, 1.0f), 0);
        cr_assert_eq(bk_amax(be, scratch, 0), 0.0f);
        bk_download(be, h, scratch, 0);
        cr_assert_eq(memcmp(st, seeded, sizeof st), 0, "%s: counts landed before the sync",
                     sync_name[k]);
        ds_do_sync(be, scratch, (ds_sync)k);
        for (int i = 0; i < DS_ST; i++)
            cr_assert_eq(memcmp(&st[i], &want[i], sizeof st[i]), 0,
                         "%s: stats %d after the sync: count %llu, want %llu", sync_name[k], i,
                         (unsigned long long)st[i].count, (unsigned long long)want[i].count);
        cr_assert_eq(cpu_of(be)->n_pending, 0);
        bk_status(be, NULL, 0); /* nothing pending: nothing added twice */
        cr_assert_eq(memcmp(st, want, sizeof st), 0, "%s: landed twice", sync_name[k]);
        /* the encoder backward above wrote into w: read the reference's outputs first */
        if (k == 0) {
            ds_bufs c = ds_alloc(be);
            ds_ops(be, &c, NULL);
            ds_read(be, &c, got);
            cr_assert_eq(memcmp(got, ref, sizeof got), 0, "deferred mode changed a value");
            ds_free(be, &c);
        }
        ds_free(be, &b);
        bk_free(be, scratch);
        bk_free(be, sc2);
        bk_destroy(be); /* with counts pending in another round: dropped, no leak */
    }
}

/* A NULL st owes nothing: no record, the same values; and the outputs of a run with stats
 * are the immediate mode's bits. */
Test(cpu_backend, deferred_stats_null_st_and_values_unchanged)
{
    num_stats want[DS_ST], st[DS_ST];
    static float ref[DS_OUT], got[DS_OUT];
    ds_reference(want, ref);
    backend *be = tu_backend();
    bk_cpu_defer_stats(be, 1);
    ds_bufs b = ds_alloc(be);
    ds_ops(be, &b, NULL);
    cr_assert_eq(cpu_of(be)->n_pending, 0);
    ds_read(be, &b, got);
    cr_assert_eq(memcmp(got, ref, sizeof got), 0, "NULL st: values changed");
    ds_free(be, &b);
    b = ds_alloc(be);
    ds_seed(st);
    ds_ops(be, &b, st);
    cr_assert_eq(cpu_of(be)->n_pending, DS_ST);
    ds_read(be, &b, got); /* downloads: the counts land with the first */
    cr_assert_eq(memcmp(got, ref, sizeof got), 0, "with stats: values changed");
    cr_assert_eq(memcmp(st, want, sizeof st), 0);
    ds_free(be, &b);
    bk_destroy(be);
}

/* Switching the mode off lands what is held; a full table lands early, as CUDA's
 * synchronizes when its slots run out: the 1025th object's counts stay pending. */
Test(cpu_backend, deferred_stats_switch_off_and_full_table)
{
    backend *be = tu_backend();
    float *x = tu_buf(be, 4);
    float h[4] = {1.0f, 1e-9f, 3.0f, 1e6f};
    bk_upload(be, x, h, sizeof h);
    bk_cpu_defer_stats(be, 1);
    num_stats one;
    num_stats_reset(&one);
    bk_cast(be, x + 0, x, 4, DT_F16, &one);
    cr_assert_eq(one.count, 0);
    bk_cpu_defer_stats(be, 0);
    cr_assert(one.count == 4 && one.underflow == 1 && one.overflow == 1);
    bk_cast(be, x, x, 4, DT_F16, &one); /* off: at once */
    cr_assert_eq(one.count, 8);

    bk_upload(be, x, h, sizeof h);
    bk_cpu_defer_stats(be, 1);
    enum { K = CPU_PENDING_STATS + 1 };
    num_stats *many = calloc(K, sizeof *many);
    for (int i = 0; i < K; i++) bk_cast(be, x, x, 1 + (size_t)i % 4, DT_F32, &many[i]);
    for (int i = 0; i < K - 1; i++)
        cr_assert_eq(many[i].count, 1 + (uint64_t)i % 4, "object %d landed when full", i);
    cr_assert_eq(many[K - 1].count, 0, "the newest record waits for a sync");
    cr_assert_eq(cpu_of(be)->n_pending, 1);
    bk_status(be, NULL, 0);
    cr_assert_eq(many[K - 1].count, 1 + (uint64_t)(K - 1) % 4);
    free(many);
    bk_free(be, x);
    bk_destroy(be);
}
