/* test_cpu_loss.c — cross-entropy: loss against double log-softmax, gradient against
 * finite differences, large logits, ignored targets, fp16 gradient rounding. */
#include "test_cpu_util.h"

enum { CN = 3, CV = 6 };
typedef struct {
    int32_t tg[CN];
} ce_ctx;

static double ce_ref(const double *x, void *vctx)
{
    ce_ctx *c = vctx;
    double l = 0.0;
    for (int n = 0; n < CN; n++) {
        double mx = -INFINITY, s = 0.0;
        for (int j = 0; j < CV; j++) mx = fmax(mx, x[n * CV + j]);
        for (int j = 0; j < CV; j++) s += exp(x[n * CV + j] - mx);
        l += log(s) + mx - x[n * CV + c->tg[n]];
    }
    return l;
}

Test(cpu_loss, forward_backward_match_reference)
{
    backend *be = tu_backend();
    float *lg = tu_buf(be, CN * CV), *loss = tu_buf(be, CN), *dl = tu_buf(be, CN * CV);
    tu_fill(lg, CN * CV, 60, 3.0f);
    ce_ctx c = {{2, 0, 5}};
    bk_crossentropy_forward(be, loss, lg, c.tg, CN, CV);
    double *x = tu_to_double(lg, CN * CV), g[CN * CV];
    double tot = loss[0] + (double)loss[1] + loss[2];
    cr_assert(fabs(tot - ce_ref(x, &c)) < 1e-5);
    bk_crossentropy_backward(be, dl, lg, c.tg, CN, CV, 0.5f, DT_F32, NULL);
    tu_fd_grad(ce_ref, x, CN * CV, &c, 1e-5, g);
    for (int i = 0; i < CN * CV; i++) g[i] *= 0.5;
    tu_close(dl, g, CN * CV, 1e-6, 1e-4, "dlogits");
    free(x);
    bk_destroy(be);
}

Test(cpu_loss, large_logits_stay_finite)
{
    backend *be = tu_backend();
    float lg[4] = {1000.0f, 0.0f, -1000.0f, 999.0f}, loss[1], dl[4];
    int32_t t[1] = {3};
    bk_crossentropy_forward(be, loss, lg, t, 1, 4);
    double want = log(1.0 + exp(-1.0)) + 1.0; /* lse - x[3] */
    cr_assert(fabs(loss[0] - want) < 1e-4, "%g", (double)loss[0]);
    bk_crossentropy_backward(be, dl, lg, t, 1, 4, 1.0f, DT_F32, NULL);
    cr_assert(fabs(dl[0] - 1.0 / (1.0 + exp(-1.0))) < 1e-5);
    cr_assert(fabs(dl[3] - (1.0 / (1.0 + exp(1.0)) - 1.0)) < 1e-5);
    cr_assert_eq(dl[2], 0.0f);
    bk_destroy(be);
}

Test(cpu_loss, out_of_range_target_is_ignored)
{
    backend *be = tu_backend();
    float lg[6] = {1, 2, 3, 4, 5, 6}, loss[2], dl[6];
    int32_t t[2] = {-100, 2};
    bk_crossentropy_forward(be, loss, lg, t, 2, 3);
    cr_assert_eq(loss[0], 0.0f);
    cr_assert(loss[1] > 0.0f);
    bk_crossentropy_backward(be, dl, lg, t, 2, 3, 1.0f, DT_F32, NULL);
    for (int j = 0; j < 3; j++) cr_assert_eq(dl[j], 0.0f);
    bk_destroy(be);
}

Test(cpu_loss, fp16_gradient_rounding_underflows_with_small_dloss)
{
    backend *be = tu_backend();
    enum { N = 40, V = 50 };
    float *lg = tu_buf(be, N * V), *d32 = tu_buf(be, N * V), *d16 = tu_buf(be, N * V);
    int32_t t[N];
    for (int i = 0; i < N; i++) t[i] = (i * 7) % V;
    tu_fill(lg, N * V, 61, 4.0f);
    num_stats st;
    num_stats_reset(&st);
    float dloss = 1e-6f; /* unscaled 1/(B*T)-like gradient: many entries under fp16 range */
    bk_crossentropy_backward(be, d32, lg, t, N, V, dloss, DT_F32, NULL);
    bk_crossentropy_backward(be, d16, lg, t, N, V, dloss, DT_F16, &st);
    uint64_t unf = 0;
    for (int i = 0; i < N * V; i++) {
        cr_assert_eq(d16[i], num_round1(d32[i], DT_F16));
        unf += d32[i] != 0.0f && d16[i] == 0.0f;
    }
    cr_assert(unf > 0);
    cr_assert_eq(st.underflow, unf);
    bk_destroy(be);
}
