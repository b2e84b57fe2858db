/* Tests for src/train/precision.c: the policy table per docs/precision.md, overrides, bad input. */
#include <criterion/criterion.h>
#include <string.h>

#include "precision.h"

static prec_policy P;

static void setup16(void) { cr_assert_eq(prec_init(&P, 2, DT_F16), 0); }
static void teardown(void) { prec_free(&P); }

TestSuite(precision, .init = setup16, .fini = teardown);

Test(precision, row_order_and_count)
{
    cr_assert_eq(P.n, 2 + 2 * 8 + 3);
    const char *want[] = {"wte", "wpe", "h.0.ln_1", "h.0.attn.c_attn", "h.0.attn",
                          "h.0.attn.c_proj", "h.0.ln_2", "h.0.mlp.c_fc", "h.0.mlp.gelu",
                          "h.0.mlp.c_proj", "h.1.ln_1"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert_str_eq(P.rows[i].name, want[i]);
    cr_assert_str_eq(P.rows[prec_row_lnf(&P)].name, "ln_f");
    cr_assert_str_eq(P.rows[prec_row_lmhead(&P)].name, "lm_head");
    cr_assert_str_eq(P.rows[prec_row_loss(&P)].name, "loss");
    cr_assert_eq(prec_block_row(1, PR_FC), prec_find(&P, "h.1.mlp.c_fc"));
}

Test(precision, fp16_mode_follows_autocast_classes)
{
    cr_assert_eq(P.rows[prec_find(&P, "wte")].act, DT_F32);
    cr_assert_eq(P.rows[prec_find(&P, "loss")].grad, DT_F32);
    const prec_layer *ln = &P.rows[prec_find(&P, "h.0.ln_1")];
    cr_assert_eq(ln->w, DT_F32);  /* LayerNorm parameters stay fp32 */
    cr_assert_eq(ln->act, DT_F16); /* its output is cast to c */
    const prec_layer *fc = &P.rows[prec_find(&P, "h.1.mlp.c_fc")];
    cr_assert(fc->w == DT_F16 && fc->act == DT_F16 && fc->grad == DT_F16);
    const prec_layer *at = &P.rows[prec_find(&P, "h.0.attn")];
    cr_assert(!at->has_weight && at->act == DT_F16);
    cr_assert_eq(P.rows[prec_row_lmhead(&P)].w, DT_F16);
}

Test(precision, mode_switch_refills_every_row)
{
    prec_set_mode(&P, DT_BF16);
    cr_assert_eq(P.rows[prec_find(&P, "h.0.mlp.gelu")].act, DT_BF16);
    prec_set_mode(&P, DT_F32);
    for (int i = 0; i < P.n; i++) {
        cr_assert_eq(P.rows[i].act, DT_F32, "%s", P.rows[i].name);
        cr_assert_eq(P.rows[i].w, DT_F32);
    }
}

Test(precision, override_exact_and_glob_survive_mode_switch)
{
    char err[256];
    cr_assert_eq(prec_set_override(&P, "lm_head", DT_F32, err, sizeof err), 1);
    cr_assert_eq(prec_set_override(&P, "h.*.attn", DT_F32, err, sizeof err), 2);
    cr_assert_eq(P.rows[prec_row_lmhead(&P)].act, DT_F32);
    cr_assert_eq(P.rows[prec_find(&P, "h.1.attn")].act, DT_F32);
    cr_assert_eq(P.rows[prec_find(&P, "h.1.attn.c_attn")].act, DT_F16); /* not matched */
    prec_set_mode(&P, DT_BF16);
    cr_assert_eq(P.rows[prec_row_lmhead(&P)].w, DT_F32);
    cr_assert_eq(P.rows[prec_find(&P, "h.0.mlp.c_fc")].w, DT_BF16);
    cr_assert_eq(prec_set_override(&P, "lm_head", -1, err, sizeof err), 1);
    cr_assert_eq(P.rows[prec_row_lmhead(&P)].act, DT_BF16);
    cr_assert_eq(P.rows[prec_row_lmhead(&P)].override, -1);
}

Test(precision, override_bad_input)
{
    char err[256] = "";
    cr_assert_eq(prec_set_override(&P, "h.9.mlp", DT_F32, err, sizeof err), -1);
    cr_assert(strstr(err, "no layer") != NULL, "%s", err);
    cr_assert_eq(prec_set_override(&P, "wte", DT_F16, err, sizeof err), -1);
    cr_assert(strstr(err, "fp32") != NULL, "%s", err);
    cr_assert_eq(P.rows[0].act, DT_F32);
    cr_assert_eq(prec_set_override(&P, "lm_head", 7, err, sizeof err), -1);
    cr_assert_eq(prec_find(&P, "nope"), -1);
}

/* A policy like another: same depth and overrides, resolved under its own mode; the source
 * is left as it was. */
Test(precision, init_like_keeps_the_overrides_under_another_mode)
{
    char err[256];
    cr_assert_eq(prec_set_override(&P, "lm_head", DT_F32, err, sizeof err), 1, "%s", err);
    cr_assert_eq(prec_set_override(&P, "h.1.mlp.c_fc", DT_BF16, err, sizeof err), 1, "%s", err);
    prec_policy q;
    cr_assert_eq(prec_init_like(&q, &P, DT_BF16), 0);
    cr_assert_eq(q.n, P.n);
    cr_assert_eq(q.n_layer, P.n_layer);
    cr_assert_eq(q.mode, DT_BF16);
    int lm = prec_row_lmhead(&q), fc = prec_find(&q, "h.1.mlp.c_fc");
    int qkv = prec_find(&q, "h.0.attn.c_attn");
    cr_assert_eq(q.rows[lm].w, DT_F32);
    cr_assert_eq(q.rows[lm].override, DT_F32);
    cr_assert_eq(q.rows[fc].act, DT_BF16);
    cr_assert_eq(q.rows[qkv].act, DT_BF16, "inherits the new mode");
    cr_assert_eq(P.mode, DT_F16, "the source is untouched");
    cr_assert_eq(P.rows[qkv].act, DT_F16);
    prec_free(&q);
    cr_assert_eq(prec_init_like(&q, &P, P.mode), 0); /* a copy */
    for (int i = 0; i < P.n; i++) {
        cr_assert_str_eq(q.rows[i].name, P.rows[i].name);
        cr_assert_eq(q.rows[i].w, P.rows[i].w);
        cr_assert_eq(q.rows[i].act, P.rows[i].act);
        cr_assert_eq(q.rows[i].grad, P.rows[i].grad);
        cr_assert_eq(q.rows[i].override, P.rows[i].override);
    }
    prec_free(&q);
}
