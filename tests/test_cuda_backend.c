/* test_cuda_backend.c — CUDA backend lifetime, memory, errors, and the dtype conversions
 * checked bit for bit against numerics.c (every fp16 / bf16 pattern, 4M fp32 patterns). */
#include "test_cuda_util.h"

/* Runs everywhere: without a GPU (or without the CUDA build) creation fails with a reason. */
Test(cuda_backend, create_or_reason)
{
    char err[256] = "";
    backend *be = bk_create(BK_CUDA, 1, err, sizeof err);
    if (!be) {
        cr_assert(strlen(err) > 0, "no reason given");
#ifndef MPTUI_CUDA
        cr_assert(strstr(err, "not built") != NULL, "%s", err);
#endif
        return;
    }
    cr_assert_eq(bk_get_kind(be), BK_CUDA);
    cr_assert(strncmp(bk_describe(be), "cuda ", 5) == 0, "%s", bk_describe(be));
    cr_assert_eq(bk_status(be, err, sizeof err), 0, "%s", err);
    bk_destroy(be);
}

Test(cuda_backend, memory_zeroed_upload_download_copy)
{
    backend *be = tc_gpu_or_skip();
    enum { N = 100003 };
    float *h = malloc(N * sizeof *h), *back = malloc(N * sizeof *back);
    cr_assert(h && back);
    tu_fill(h, N, 1, 3.0f);
    float *a = bk_alloc(be, N * sizeof *a), *b = bk_alloc(be, N * sizeof *b);
    cr_assert(a && b);
    bk_download(be, back, a, N * sizeof *back);
    for (size_t i = 0; i < N; i++) cr_assert_eq(back[i], 0.0f, "alloc not zeroed at %zu", i);
    bk_upload(be, a, h, N * sizeof *h);
    bk_copy(be, b, a, N * sizeof *h);
    bk_zero(be, a, 10 * sizeof *h); /* only the first 10 */
    bk_download(be, back, b, N * sizeof *back);
    tc_bits_eq(back, h, N, "copy");
    bk_download(be, back, a, N * sizeof *back);
    for (size_t i = 0; i < N; i++) cr_assert_eq(back[i], i < 10 ? 0.0f : h[i]);
    bk_copy(be, b + 1, b, 1000 * sizeof *h); /* overlapping: as memmove */
    bk_download(be, back, b, 1001 * sizeof *back);
    cr_assert_eq(back[0], h[0]);
    tc_bits_eq(back + 1, h, 1000, "overlapping copy");
    bk_free(be, a);
    bk_free(be, b);
    bk_free(be, NULL);
    char err[256];
    cr_assert_eq(bk_status(be, err, sizeof err), 0, "%s", err);
    free(h);
    free(back);
    bk_destroy(be);
}

/* Out of memory is an error naming the op and the size, never an abort. */
Test(cuda_backend, out_of_memory_is_an_error)
{
    backend *be = tc_gpu_or_skip();
    if (bk_get_kind(be) != BK_CUDA) { /* the CPU stand-in would really try to allocate it */
        bk_destroy(be);
        cr_skip_test("needs the CUDA backend");
    }
    size_t huge = (size_t)1 << 50;
    cr_assert_null(bk_alloc(be, huge));
    char err[512] = "";
    cr_assert_eq(bk_status(be, err, sizeof err), -1);
    cr_assert(strstr(err, "out of memory") && strstr(err, "bk_alloc") &&
              strstr(err, "1125899906842624"), "%s", err);
    bk_destroy(be);
}

static void cast_both(tc_pair *p, const float *h, size_t n, dtype_t dt)
{
    float *dg = tc_up(p->gpu, h, n), *dc = tc_up(p->cpu, h, n);
    num_stats sg, sc;
    num_stats_reset(&sg);
    num_stats_reset(&sc);
    bk_cast(p->gpu, dg, dg, n, dt, &sg); /* in place, as the engine does */
    bk_cast(p->cpu, dc, dc, n, dt, &sc);
    float *g = tc_down(p->gpu, dg, n), *c = tc_down(p->cpu, dc, n);
    tc_bits_eq(g, c, n, dtype_name(dt));
    tc_stats_eq(&sg, &sc, dtype_name(dt));
    free(g);
    free(c);
}

/* Every fp16 / bf16 pattern (as fp32) converts back to itself, NaN payloads included. */
Test(cuda_backend, every_16bit_pattern_round_trips)
{
    tc_pair p = tc_pair_or_skip();
    float *h = malloc(65536 * sizeof *h);
    cr_assert_not_null(h);
    for (uint32_t u = 0; u < 65536; u++) h[u] = num_f16_to_f32((uint16_t)u);
    cast_both(&p, h, 65536, DT_F16);
    for (uint32_t u = 0; u < 65536; u++) h[u] = num_bf16_to_f32((uint16_t)u);
    cast_both(&p, h, 65536, DT_BF16);
    free(h);
    tc_pair_free(&p);
}

/* Random fp32 bit patterns (all classes: NaN, Inf, subnormal, ties) plus the boundaries. */
Test(cuda_backend, fp32_patterns_round_bit_exact)
{
    tc_pair p = tc_pair_or_skip();
    size_t n = (size_t)1 << 22;
    float *h = malloc(n * sizeof *h);
    cr_assert_not_null(h);
    uint64_t s = 42;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)tu_next(&s);
        if (i % 4 == 1) u = (u & 0x80000000u) | (0x33000000u + (u & 0x0fffffffu) % 0x14800000u);
        if (i % 4 == 2) u &= 0xffff8000u; /* bf16 / fp16 ties */
        memcpy(&h[i], &u, 4);
    }
    const uint32_t edges[] = {0x477fefffu, 0x477ff000u, 0x38800000u, 0x387fffffu, 0x33000000u,
                              0x33000001u, 0x7f7fffffu, 0x7f800000u, 0x7fc00000u, 0x7f800001u,
                              0xff800000u, 0x80000000u, 0x00000001u, 0x7f7f8000u};
    for (size_t k = 0; k < sizeof edges / sizeof edges[0]; k++) memcpy(&h[k], &edges[k], 4);
    cast_both(&p, h, n, DT_F16);
    cast_both(&p, h, n, DT_BF16);
    cast_both(&p, h, n, DT_F32);
    free(h);
    tc_pair_free(&p);
}

/* The stats of several ops on one struct accumulate across ops and land by bk_status. */
Test(cuda_backend, stats_accumulate_until_sync)
{
    tc_pair p = tc_pair_or_skip();
    enum { N = 5000 };
    float *h = tc_rand(N, 7, 70000.0f, DT_F32);
    h[3] = 1e-9f; /* underflows in fp16 */
    h[4] = INFINITY;
    num_stats sg, sc;
    num_stats_reset(&sg);
    num_stats_reset(&sc);
    backend *be[2] = {p.gpu, p.cpu};
    num_stats *st[2] = {&sg, &sc};
    for (int k = 0; k < 2; k++) {
        float *d = tc_up(be[k], h, N), *o = tc_buf(be[k], N);
        bk_cast(be[k], o, d, N, DT_F16, st[k]);
        bk_cast(be[k], o, d, N, DT_BF16, st[k]);
        bk_stats(be[k], d, N, st[k]);
        char err[256];
        cr_assert_eq(bk_status(be[k], err, sizeof err), 0, "%s", err);
    }
    tc_stats_eq(&sg, &sc, "three ops");
    cr_assert_eq(sc.count, 3 * N);
    cr_assert(sc.overflow > 0 && sc.underflow > 0 && sc.nonfinite == 3);
    free(h);
    tc_pair_free(&p);
}

/* Criterion lists skipped tests only with --verbose: one line in every run says how many
 * CUDA cross-checks did not run and why, so a CPU-only `make test` cannot look like a pass. */
ReportHook(POST_ALL)(struct criterion_global_stats *gs)
{
    size_t skipped = 0, total = 0;
    const char *why = NULL;
    for (struct criterion_suite_stats *s = gs->suites; s; s = s->next) {
        if (strncmp(s->suite->name, "cuda_", 5) != 0) continue;
        for (struct criterion_test_stats *t = s->tests; t; t = t->next) {
            int skip = t->test_status == CR_STATUS_SKIPPED;
            if (skip && !t->message) continue; /* left out by --filter, not skipped */
            total++;
            if (!skip) continue;
            skipped++;
            if (!why) why = t->message;
        }
    }
    if (skipped)
        fprintf(stderr, "[SKIP] %zu of %zu CUDA cross-check tests skipped: %s\n", skipped, total,
                why);
}
