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
