/* test_cpu_backend.c — backend creation and dispatch, memory, scratch reuse, and the
 * CUDA-not-built error path. */
#include "test_cpu_util.h"

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
