/* test_backend.c — the bk_* dispatch of backend.c: the ops table generated from the op
 * lists, and the multi-tensor forms, which backends without a fused version (the CPU) get
 * as a loop over the single-tensor ops. */
#include "test_cpu_util.h"

#include "backend_impl.h"

/* The CPU table, generated from the op lists, has a function in every slot but the
 * optional multi-tensor ones, which it leaves to backend.c's loops (tested below). */
Test(backend, cpu_table_fills_every_required_slot)
{
    backend *be = tu_backend();
    const bk_ops *ops = be->ops;
    int required = 0, optional = 0;
#define REQUIRED(ret, name, params, args) \
    {                                         \
        cr_assert(ops->name != NULL, "cpu has no " #name); \
        required++;                           \
    }
#define OPTIONAL(ret, name, params, args) \
    {                                         \
        cr_assert(ops->name == NULL, "cpu has its own " #name); \
        optional++;                           \
    }
    BK_OPS(REQUIRED, REQUIRED)
    BK_OPS_BACKEND(REQUIRED, REQUIRED)
    BK_OPS_OPTIONAL(OPTIONAL, OPTIONAL)
#undef REQUIRED
#undef OPTIONAL
    cr_assert_eq(required, 41, "the ops of backend.h plus destroy and adamw");
    cr_assert_eq(optional, 2);
    cr_assert_eq(sizeof(bk_ops), (size_t)(required + optional) * sizeof(void (*)(void)),
                 "every slot of bk_ops comes from an op list");
    bk_destroy(be);
}

/* Three tensors (one empty): per-tensor sums of squares equal bk_sumsq's, bit for bit. */
Test(backend, sumsq_multi_equals_per_tensor)
{
    backend *be = tu_backend();
    size_t n[3] = {100003, 0, 4097};
    float *x[3];
    for (int i = 0; i < 3; i++) {
        x[i] = tu_buf(be, n[i] ? n[i] : 1);
        float *h = malloc((n[i] ? n[i] : 1) * sizeof *h);
        tu_fill(h, n[i], 10 + (uint64_t)i, 3.0f);
        bk_upload(be, x[i], h, n[i] * sizeof *h);
        free(h);
    }
    double out[3] = {-1, -1, -1};
    bk_sumsq_multi(be, (const float *const *)x, n, 3, out);
    for (int i = 0; i < 3; i++) {
        double want = bk_sumsq(be, x[i], n[i]);
        cr_assert_eq(memcmp(&out[i], &want, sizeof want), 0, "tensor %d: %.17g vs %.17g", i,
                     out[i], want);
    }
    cr_assert_eq(out[1], 0.0);
    bk_sumsq_multi(be, NULL, NULL, 0, NULL); /* nothing to do */
    for (int i = 0; i < 3; i++) bk_free(be, x[i]);
    bk_destroy(be);
}

/* Every tensor is scaled; the index of the first one holding Inf / NaN comes back. */
Test(backend, unscale_multi_scales_all_and_finds_first)
{
    backend *be = tu_backend();
    size_t n[4] = {5000, 0, 3000, 7000};
    float *g[4], *h[4];
    for (int i = 0; i < 4; i++) {
        h[i] = malloc((n[i] ? n[i] : 1) * sizeof *h[i]);
        tu_fill(h[i], n[i], 20 + (uint64_t)i, 100.0f);
        g[i] = tu_buf(be, n[i] ? n[i] : 1);
        bk_upload(be, g[i], h[i], n[i] * sizeof *h[i]);
    }
    cr_assert_eq(bk_unscale_multi(be, g, n, 4, 0.5f), -1);
    float *back = malloc(7000 * sizeof *back);
    for (int i = 0; i < 4; i++) {
        bk_download(be, back, g[i], n[i] * sizeof *back);
        for (size_t k = 0; k < n[i]; k++) cr_assert_eq(back[k], h[i][k] * 0.5f);
    }
    h[3][6999] = NAN;
    h[2][0] = INFINITY;
    for (int i = 0; i < 4; i++) bk_upload(be, g[i], h[i], n[i] * sizeof *h[i]);
    cr_assert_eq(bk_unscale_multi(be, g, n, 4, 0.25f), 2);
    bk_download(be, back, g[0], n[0] * sizeof *back);
    cr_assert_eq(back[1], h[0][1] * 0.25f, "scaled even when a later tensor is not finite");
    cr_assert_eq(bk_unscale_multi(be, g, n, 0, 1.0f), -1);
    for (int i = 0; i < 4; i++) bk_free(be, g[i]), free(h[i]);
    free(back);
    bk_destroy(be);
}
