/* test_cuda_loss.c — CUDA vs CPU cross-entropy. The row sums of exp run in a block tree
 * instead of left to right: over V terms in (0, 1] the difference is within V * 2^-24
 * relative to the sum, so losses agree to 1e-5 absolute (V <= 5000 here) and gradients to
 * 1 output ulp plus that relative error of the softmax. */
#include "test_cuda_util.h"

Test(cuda_loss, forward_backward_each_dtype)
{
    tc_pair p = tc_pair_or_skip();
    enum { N = 12, V = 5003 };
    float *x = tc_rand((size_t)N * V, 1, 8.0f, DT_F32);
    int32_t tg[N];
    for (int i = 0; i < N; i++) tg[i] = (i * 997) % V;
    tg[3] = -1; /* ignored */
    tg[4] = V;  /* ignored */
    for (int k = 0; k < DT_COUNT; k++) {
        dtype_t dt = (dtype_t)k;
        backend *be[2] = {p.gpu, p.cpu};
        float *l[2], *d[2];
        num_stats st[2];
        for (int j = 0; j < 2; j++) {
            num_stats_reset(&st[j]);
            float *dx = tc_up(be[j], x, (size_t)N * V), *dl = tc_buf(be[j], N);
            float *dd = tc_buf(be[j], (size_t)N * V);
            int32_t *dtg = tc_up_i32(be[j], tg, N);
            bk_crossentropy_forward(be[j], dl, dx, dtg, N, V);
            /* a large dloss (loss scale) so fp16 sees overflow and bf16 rounding matters */
            bk_crossentropy_backward(be[j], dd, dx, dtg, N, V, 65536.0f * 8.0f, dt, &st[j]);
            l[j] = tc_down(be[j], dl, N);
            d[j] = tc_down(be[j], dd, (size_t)N * V);
        }
        for (int i = 0; i < N; i++)
            cr_assert(fabsf(l[0][i] - l[1][i]) <= 1e-5f, "loss[%d] %.9g vs %.9g", i,
                      (double)l[0][i], (double)l[1][i]);
        cr_assert_eq(l[0][3], 0.0f);
        double *ae = malloc((size_t)N * V * sizeof *ae);
        for (size_t i = 0; i < (size_t)N * V; i++)
            ae[i] = 1e-6 * 65536.0 * 8.0 + (double)V * 0x1p-24 * fabs(d[1][i]);
        tc_close_ulp(d[0], d[1], (size_t)N * V, dt, 1.0, ae, dtype_name(dt));
        tc_stats_close(&st[0], &st[1], 1e-5, 8, "ce bwd");
        free(ae);
        for (int j = 0; j < 2; j++) free(l[j]), free(d[j]);
    }
    free(x);
    tc_pair_free(&p);
}
