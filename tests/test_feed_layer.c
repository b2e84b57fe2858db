/* test_feed_layer.c — tests for src/train/feed_layer.c: a precision-map row of the snapshot
 * from a hand-built policy, statistics and FP8 scaling state (no model): dtypes, kind, the
 * FP8 flag, each cast's format, scale, history max and what it did. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "feed_layer.h"

static num_stats mk(float amax, float amin, uint64_t n, uint64_t ovf, uint64_t unf)
{
    num_stats s = {amax, amin, n, ovf, unf, 0};
    return s;
}

static prec_policy pol;
static fp8_state fs;
static gpt_row_stats rs;
static int qkv, ln1;

/* One block in FP8 (default recipe: delayed, hybrid); c_attn's casts recorded over one step
 * with scales 2^-3 (input) and 2^20 (grad). */
static void setup(void)
{
    cr_assert_eq(prec_init(&pol, 1, DT_FP8), 0);
    qkv = prec_find(&pol, "h.0.attn.c_attn");
    ln1 = prec_find(&pol, "h.0.ln_1");
    cr_assert_eq(fp8_state_init(&fs, pol.n, &pol.fp8), 0);
    fp8_step_begin(&fs);
    fp8_record(&fs, qkv, FP8_T_INPUT, 6.0f, 0.125f);
    fp8_record(&fs, qkv, FP8_T_GRAD, 0x1p-8f, 0x1p20f);
    fp8_step_commit(&fs);
    memset(&rs, 0, sizeof rs);
    rs.act = mk(4.0f, 0x1p-10f, 1000, 0, 10);
    rs.grad = mk(2.0f, 0x1p-20f, 400, 1, 4);
    rs.fp8[FP8_T_INPUT] = mk(6.0f, 0x1p-10f, 1000, 5, 20);
    rs.fp8[FP8_T_WEIGHT] = mk(0.5f, 0x1p-12f, 200, 0, 1);
    rs.fp8[FP8_T_GRAD] = mk(0x1p-8f, 0x1p-30f, 400, 0, 100);
}

static void teardown(void)
{
    fp8_state_free(&fs);
    prec_free(&pol);
}

TestSuite(feed_layer, .init = setup, .fini = teardown);

Test(feed_layer, fp8_row_with_casts_scales_and_history)
{
    feed_layer L;
    memset(&L, 0, sizeof L);
    feed_layer_fill(&L, &pol, qkv, &rs, &fs);
    cr_assert_str_eq(L.name, "h.0.attn.c_attn");
    cr_assert_eq(L.kind, LK_LINEAR);
    cr_assert_eq(L.fp8, 1);
    cr_assert(L.w == DT_BF16 && L.act == DT_BF16 && L.grad == DT_BF16);
    cr_assert_eq(L.override, -1);
    cr_assert(L.valid);
    cr_assert_eq(L.act_amax, 4.0f);
    cr_assert_eq(L.act_uflow_pct, 1.0);
    cr_assert_eq(L.grad_ovf, 1);
    const feed_fp8 *in = &L.cast[FP8_T_INPUT], *w = &L.cast[FP8_T_WEIGHT], *g = &L.cast[FP8_T_GRAD];
    cr_assert_eq(in->format, FP8_E4M3);
    cr_assert_eq(in->scale, 0.125f);
    cr_assert_eq(in->hist_max, 6.0f);
    cr_assert_eq(in->amax, 6.0f);
    cr_assert_eq(in->uflow_pct, 2.0);
    cr_assert_eq(in->ovf, 5);
    cr_assert_eq(in->ovf_pct, 0.5);
    cr_assert_eq(in->valid, 1);
    cr_assert_eq(w->format, FP8_E4M3);
    cr_assert_eq(w->scale, 1.0f, "TE's initial scale: never recorded");
    cr_assert_eq(w->hist_max, 0.0f);
    cr_assert_eq(w->uflow_pct, 0.5);
    cr_assert_eq(g->format, FP8_E5M2, "hybrid: gradients in E5M2");
    cr_assert_eq(g->scale, 0x1p20f);
    cr_assert_eq(g->hist_max, 0x1p-8f);
    cr_assert_eq(g->uflow_pct, 25.0);
    cr_assert_eq(g->ovf, 0);
}

/* A row without FP8 (LayerNorm; or a Linear overridden to bf16): flag off, casts not valid. */
Test(feed_layer, rows_without_fp8)
{
    feed_layer L;
    memset(&L, 0, sizeof L);
    gpt_row_stats none = rs;
    memset(none.fp8, 0, sizeof none.fp8);
    feed_layer_fill(&L, &pol, ln1, &none, &fs);
    cr_assert_eq(L.kind, LK_LN);
    cr_assert_eq(L.fp8, 0);
    cr_assert_eq(L.w, DT_F32);
    cr_assert_eq(L.act, DT_BF16);
    for (int t = 0; t < FP8_TENSORS; t++) cr_assert_eq(L.cast[t].valid, 0);
    char err[256];
    cr_assert_eq(prec_set_override(&pol, "h.0.attn.c_attn", DT_BF16, err, sizeof err), 1, "%s", err);
    feed_layer_fill(&L, &pol, qkv, &none, &fs);
    cr_assert_eq(L.fp8, 0);
    cr_assert_eq(L.override, DT_BF16);
    cr_assert_eq(L.cast[FP8_T_INPUT].valid, 0, "last step's casts do not linger");
}

/* No statistics yet: the map's numbers stay as they were, the scales follow the state; no
 * state (or one without the row): scales 1, no history; all-E4M3 casts gradients in E4M3. */
Test(feed_layer, no_stats_no_state_and_all_e4m3)
{
    feed_layer L;
    memset(&L, 0, sizeof L);
    feed_layer_fill(&L, &pol, qkv, &rs, &fs);
    fp8_step_begin(&fs);
    fp8_record(&fs, qkv, FP8_T_INPUT, 7.0f, 64.0f);
    fp8_step_commit(&fs);
    feed_layer_fill(&L, &pol, qkv, NULL, &fs);
    cr_assert(L.valid && L.cast[FP8_T_INPUT].valid);
    cr_assert_eq(L.cast[FP8_T_INPUT].amax, 6.0f, "the last logged step's");
    cr_assert_eq(L.cast[FP8_T_INPUT].scale, 64.0f);
    cr_assert_eq(L.cast[FP8_T_INPUT].hist_max, 7.0f);
    feed_layer_fill(&L, &pol, qkv, &rs, NULL);
    cr_assert_eq(L.cast[FP8_T_INPUT].scale, 1.0f);
    cr_assert_eq(L.cast[FP8_T_INPUT].hist_max, 0.0f);
    cr_assert_eq(L.cast[FP8_T_INPUT].amax, 6.0f);
    fp8_state small;
    cr_assert_eq(fp8_state_init(&small, qkv, &pol.fp8), 0); /* rows 0 .. qkv - 1 */
    small.meta[fp8_index(qkv - 1, FP8_T_INPUT)].used_scale = 2.0f;
    feed_layer_fill(&L, &pol, qkv, &rs, &small);
    cr_assert_eq(L.cast[FP8_T_INPUT].scale, 1.0f);
    fp8_state_free(&small);
    pol.fp8.format = FP8_ALL_E4M3;
    feed_layer_fill(&L, &pol, qkv, &rs, &fs);
    cr_assert_eq(L.cast[FP8_T_GRAD].format, FP8_E4M3);
}

/* The all-reduce's map row: the wire dtype in every column, the gradient columns from what
 * the wire did, none for activations; before a logging step, dtypes only. */
Test(feed_layer, comm_row_of_the_gradient_all_reduce)
{
    feed_layer L;
    memset(&L, 0x5a, sizeof L);
    feed_layer_fill_comm(&L, DT_BF16, NULL);
    cr_assert_str_eq(L.name, "ddp grad all-reduce");
    cr_assert_eq(L.comm, 1);
    cr_assert_eq(L.grad, DT_BF16);
    cr_assert_eq(L.override, -1);
    cr_assert_eq(L.valid, 0);
    cr_assert_eq(L.has_weight, 0);
    cr_assert_eq(L.fp8, 0);
    num_stats w = {1024.0f, 0.5f, 200, 4, 50, 1};
    feed_layer_fill_comm(&L, DT_F16, &w);
    cr_assert_eq(L.valid, 1);
    cr_assert_eq(L.grad, DT_F16);
    cr_assert_float_eq(L.grad_amax, 1024.0f, 0);
    cr_assert_float_eq(L.grad_uflow_pct, 25.0, 1e-12);
    cr_assert_eq(L.grad_ovf, 5, "overflows and non-finite inputs");
    cr_assert_float_eq(L.grad_range, 11.0, 1e-12); /* log2 1024 - log2 0.5 */
    cr_assert_eq(L.act_ovf, 0);
    cr_assert_float_eq(L.act_amax, 0.0f, 0);
}
