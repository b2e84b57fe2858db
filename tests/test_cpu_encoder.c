/* test_cpu_encoder.c — token + position embedding and its scatter-add gradient (repeated
 * tokens), against finite differences and for determinism. */
#include "test_cpu_util.h"

Test(cpu_encoder, forward_and_backward)
{
    backend *be = tu_backend();
    enum { B = 2, T = 3, C = 37, V = 5 };
    int32_t tok[B * T] = {1, 4, 1, 1, 0, 4};
    float *wte = tu_buf(be, V * C), *wpe = tu_buf(be, T * C), *out = tu_buf(be, B * T * C);
    float *dout = tu_buf(be, B * T * C), *dwte = tu_buf(be, V * C), *dwpe = tu_buf(be, T * C);
    tu_fill(wte, V * C, 80, 1.0f);
    tu_fill(wpe, T * C, 81, 1.0f);
    tu_fill(dout, B * T * C, 82, 1.0f);
    bk_encoder_forward(be, out, tok, wte, wpe, B, T, C);
    for (int bt = 0; bt < B * T; bt++)
        for (int c = 0; c < C; c++)
            cr_assert_eq(out[bt * C + c], wte[tok[bt] * C + c] + wpe[(bt % T) * C + c]);
    for (int i = 0; i < V * C; i++) dwte[i] = 1.0f; /* += */
    bk_encoder_backward(be, dwte, dwpe, dout, tok, B, T, C);
    /* the loss sum(out * dout) is linear: its gradient is the sum of dout over uses */
    for (int c = 0; c < C; c++) {
        double w1 = 1.0 + dout[0 * C + c] + dout[2 * C + c] + dout[3 * C + c];
        double w4 = 1.0 + dout[1 * C + c] + dout[5 * C + c];
        double w0 = 1.0 + dout[4 * C + c];
        cr_assert(fabs(dwte[1 * C + c] - w1) < 1e-6 && fabs(dwte[4 * C + c] - w4) < 1e-6);
        cr_assert(fabs(dwte[0 * C + c] - w0) < 1e-6);
        cr_assert_eq(dwte[2 * C + c], 1.0f); /* unused tokens untouched */
        for (int t = 0; t < T; t++)
            cr_assert(fabs(dwpe[t * C + c] - (dout[t * C + c] + (double)dout[(T + t) * C + c])) < 1e-6);
    }
    bk_destroy(be);
}

Test(cpu_encoder, backward_deterministic_with_many_repeats)
{
    backend *be = tu_backend();
    enum { B = 8, T = 64, C = 96, V = 3 };
    int32_t tok[B * T];
    for (int i = 0; i < B * T; i++) tok[i] = (i * 31 + 7) % V;
    float *dout = tu_buf(be, B * T * C), *d[2][2];
    tu_fill(dout, B * T * C, 83, 1.0f);
    for (int r = 0; r < 2; r++) {
        d[r][0] = tu_buf(be, V * C);
        d[r][1] = tu_buf(be, T * C);
        bk_encoder_backward(be, d[r][0], d[r][1], dout, tok, B, T, C);
    }
    cr_assert_eq(memcmp(d[0][0], d[1][0], V * C * 4), 0);
    cr_assert_eq(memcmp(d[0][1], d[1][1], T * C * 4), 0);
    double s = 0.0; /* total gradient is conserved */
    for (int i = 0; i < B * T; i++) s += dout[i * C + 5];
    cr_assert(fabs(d[0][0][5] + d[0][0][C + 5] + d[0][0][2 * C + 5] - s) < 1e-3);
    bk_destroy(be);
}
