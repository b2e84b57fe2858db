/* test_cuda_encoder.c — CUDA vs CPU embedding: forward is one fp32 add per element and the
 * backward adds positions in the same (ascending) order for every element: bit-exact. */
#include "test_cuda_util.h"

Test(cuda_encoder, forward_backward_bit_exact)
{
    tc_pair p = tc_pair_or_skip();
    enum { B = 3, T = 37, C = 72, V = 50 };
    int32_t tok[B * T];
    uint64_t s = 9;
    for (int i = 0; i < B * T; i++) tok[i] = (int32_t)(tu_next(&s) % 7) * 7; /* repeats */
    tok[5] = V - 1;
    float *wte = tc_rand(V * C, 1, 0.5f, DT_F32), *wpe = tc_rand(T * C, 2, 0.5f, DT_F32);
    float *dout = tc_rand(B * T * C, 3, 1.0f, DT_F32);
    float *init_te = tc_rand(V * C, 4, 0.1f, DT_F32), *init_pe = tc_rand(T * C, 5, 0.1f, DT_F32);
    backend *be[2] = {p.gpu, p.cpu};
    float *o[2], *dte[2], *dpe[2];
    for (int k = 0; k < 2; k++) {
        int32_t *dt = tc_up_i32(be[k], tok, B * T);
        float *out = tc_buf(be[k], B * T * C), *a = tc_up(be[k], wte, V * C);
        float *b = tc_up(be[k], wpe, T * C), *d = tc_up(be[k], dout, B * T * C);
        float *gte = tc_up(be[k], init_te, V * C), *gpe = tc_up(be[k], init_pe, T * C);
        bk_encoder_forward(be[k], out, dt, a, b, B, T, C);
        bk_encoder_backward(be[k], gte, gpe, d, dt, B, T, C); /* += */
        bk_encoder_backward(be[k], gte, gpe, d, dt, B, T, C);
        o[k] = tc_down(be[k], out, B * T * C);
        dte[k] = tc_down(be[k], gte, V * C);
        dpe[k] = tc_down(be[k], gpe, T * C);
    }
    tc_bits_eq(o[0], o[1], B * T * C, "out");
    tc_bits_eq(dte[0], dte[1], V * C, "dwte");
    tc_bits_eq(dpe[0], dpe[1], T * C, "dwpe");
    for (int k = 0; k < 2; k++) free(o[k]), free(dte[k]), free(dpe[k]);
    free(wte), free(wpe), free(dout), free(init_te), free(init_pe);
    tc_pair_free(&p);
}
