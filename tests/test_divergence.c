/* Tests for src/train/divergence.c: the distance / cosine arithmetic on known vectors, layer
 * grouping and pair order from real lanes (the compare.csv writer: test_compare_csv.c). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "divergence.h"

Test(divergence, pair_stats_known_values)
{
    double rel, cos;
    const float a[3] = {3, 4, 0}, b[3] = {3, 4, 5}, z[3] = {0, 0, 0}, o[3] = {-4, 3, 0};
    divergence_pair_stats(a, b, 3, &rel, &cos);
    cr_assert_float_eq(rel, 1.0, 1e-15);                 /* |(0,0,5)| / |(3,4,0)| */
    cr_assert_float_eq(cos, 25.0 / (5.0 * sqrt(50.0)), 1e-15);
    divergence_pair_stats(a, a, 3, &rel, &cos);
    cr_assert_eq(rel, 0.0);
    cr_assert_float_eq(cos, 1.0, 1e-15);
    divergence_pair_stats(a, o, 3, &rel, &cos);
    cr_assert_eq(cos, 0.0);
    cr_assert_float_eq(rel, sqrt(50.0) / 5.0, 1e-15);
    divergence_pair_stats(z, a, 3, &rel, &cos);
    cr_assert(isnan(rel) && isnan(cos));
    const float inf[3] = {INFINITY, 1, 1};
    divergence_pair_stats(a, inf, 3, &rel, &cos);
    cr_assert(isnan(rel) && isnan(cos));
}

Test(divergence, layers_and_pairs)
{
    char err[512];
    backend *be = bk_create(BK_CPU, 1, err, sizeof err);
    cr_assert_not_null(be, "%s", err);
    gpt_config gc = {1, 1, 8, 4, 16};
    lane ls[LANE_MAX];
    memset(ls, 0, sizeof ls);
    static const dtype_t modes[3] = {DT_F16, DT_BF16, DT_F32};
    for (int i = 0; i < 3; i++) {
        ls[i].model = gpt_create(be, &gc, 1, 4, err, sizeof err);
        cr_assert_not_null(ls[i].model, "%s", err);
        cr_assert_eq(prec_init(&ls[i].policy, 1, modes[i]), 0);
        snprintf(ls[i].name, sizeof ls[i].name, "%s", dtype_name(modes[i]));
        size_t n = gpt_num_params(ls[i].model);
        for (size_t j = 0; j < n; j++) {
            gpt_params(ls[i].model)[j] = 1.0f + (i == 1 && j == 0 ? 1.0f : 0.0f);
            gpt_grads(ls[i].model)[j] = (j % 2 ? 1.0f : -1.0f) * (i == 2 ? -1.0f : 1.0f);
        }
        ls[i].win_loss_sum = 2.0 * (i + 1);
        ls[i].win_loss_n = 2;
    }
    divergence d;
    cr_assert_eq(divergence_init(&d, ls, 3), 0);
    cr_assert_eq(d.n_layers, 2 + 6 + 1);
    cr_assert_str_eq(d.layer[0], "wte");
    cr_assert_str_eq(d.layer[2], "h.0.ln_1");
    cr_assert_str_eq(d.layer[3], "h.0.attn.c_attn");
    cr_assert_str_eq(d.layer[8], "ln_f");
    cr_assert_eq(d.hi[8], gpt_num_params(ls[0].model));
    cr_assert_eq(d.lo[3], d.hi[2]);
    /* fp32 (lane 2) is the reference of the pairs it is in */
    cr_assert_eq(d.n_pairs, 3);
    cr_assert(d.p[0].a == 0 && d.p[0].b == 1);
    cr_assert(d.p[1].a == 2 && d.p[1].b == 0);
    cr_assert(d.p[2].a == 2 && d.p[2].b == 1);
    divergence_compute(&d, ls, 3, 12);
    size_t n = gpt_num_params(ls[0].model);
    cr_assert_eq(d.step, 12);
    cr_assert_float_eq(d.p[0].loss_diff, 2.0 - 1.0, 1e-15);
    cr_assert_float_eq(d.p[0].weight_rel_l2, 1.0 / sqrt((double)n), 1e-12);
    cr_assert_float_eq(d.p[0].grad_cos, 1.0, 1e-12);
    cr_assert_float_eq(d.p[1].grad_cos, -1.0, 1e-12);
    cr_assert_eq(d.p[1].weight_rel_l2, 0.0);
    cr_assert_float_eq(d.p[0].layer_rel_l2[0], 1.0 / sqrt((double)(16 * 8)), 1e-12);
    cr_assert_eq(d.p[0].layer_rel_l2[1], 0.0);

    divergence_free(&d);
    for (int i = 0; i < 3; i++) {
        gpt_free(ls[i].model);
        prec_free(&ls[i].policy);
    }
    bk_destroy(be);
}
