/* test_fp8.c — FP8 recipes (src/train/fp8.c): scale choice, the amax history ring, commit and
 * abandon, checkpoint bytes and every way they can be refused. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fp8.h"

static fp8_state mk(fp8_recipe_kind k, int len, fp8_amax_algo algo, int margin)
{
    fp8_recipe r;
    fp8_recipe_default(&r);
    r.kind = k;
    r.history_len = len;
    r.algo = algo;
    r.margin = margin;
    fp8_state s;
    cr_assert_eq(fp8_state_init(&s, 3, &r), 0);
    return s;
}

/* One step recording amax a for (row 1, input) and g for (row 1, grad). */
static void step(fp8_state *s, float a, float g)
{
    fp8_step_begin(s);
    fp8_record(s, 1, FP8_T_INPUT, a, fp8_scale_for(s, 1, FP8_T_INPUT, a));
    fp8_record(s, 1, FP8_T_GRAD, g, fp8_scale_for(s, 1, FP8_T_GRAD, g));
    fp8_step_commit(s);
}

Test(fp8, defaults_and_names)
{
    fp8_recipe r;
    fp8_recipe_default(&r);
    cr_assert_eq(r.kind, FP8_DELAYED);
    cr_assert_eq(r.format, FP8_HYBRID);
    cr_assert_eq(r.history_len, 1024);
    cr_assert_eq(r.algo, FP8_AMAX_MAX);
    cr_assert_eq(r.margin, 0);
    cr_assert_str_eq(fp8_recipe_name(FP8_MXFP8), "mxfp8");
    cr_assert_str_eq(fp8_recipe_name((fp8_recipe_kind)7), "?");
    cr_assert_str_eq(fp8_format_mode_name(FP8_ALL_E4M3), "e4m3");
    cr_assert_str_eq(fp8_algo_name(FP8_AMAX_MOST_RECENT), "most_recent");
    cr_assert_str_eq(fp8_tensor_name(FP8_T_GRAD), "grad");
    fp8_recipe_kind k = FP8_DELAYED;
    cr_assert_eq(fp8_recipe_parse("Current", &k), 0);
    cr_assert_eq(k, FP8_CURRENT);
    cr_assert_eq(fp8_recipe_parse("tensorwise", &k), -1);
    cr_assert_eq(k, FP8_CURRENT, "a refused name leaves the value");
    fp8_format_mode f;
    cr_assert_eq(fp8_format_mode_parse("hybrid", &f), 0);
    cr_assert_eq(f, FP8_HYBRID);
    cr_assert_eq(fp8_format_mode_parse("e5m2", &f), -1, "E5M2 everywhere is not a TE format");
    fp8_amax_algo a;
    cr_assert_eq(fp8_algo_parse("most_recent", &a), 0);
    cr_assert_eq(a, FP8_AMAX_MOST_RECENT);
    cr_assert_eq(fp8_algo_parse(NULL, &a), -1);
}

Test(fp8, formats_of_tensors)
{
    cr_assert_eq(fp8_format_of(FP8_HYBRID, FP8_T_INPUT), FP8_E4M3);
    cr_assert_eq(fp8_format_of(FP8_HYBRID, FP8_T_WEIGHT), FP8_E4M3);
    cr_assert_eq(fp8_format_of(FP8_HYBRID, FP8_T_GRAD), FP8_E5M2);
    cr_assert_eq(fp8_format_of(FP8_ALL_E4M3, FP8_T_GRAD), FP8_E4M3);
}

Test(fp8, scale_from_amax)
{
    /* fp32 division as TE's: 448 / 3.5 = 128 exactly; 57344 / 7 rounded once */
    cr_assert_eq(fp8_scale_from_amax(3.5f, FP8_E4M3, 0, 1.0f), 128.0f);
    cr_assert_eq(fp8_scale_from_amax(7.0f, FP8_E5M2, 0, 1.0f), 57344.0f / 7.0f);
    cr_assert_eq(fp8_scale_from_amax(3.5f, FP8_E4M3, 2, 1.0f), 32.0f, "margin 2 divides by 4");
    cr_assert_eq(fp8_scale_from_amax(3.5f, FP8_E4M3, -1, 1.0f), 256.0f);
    cr_assert_eq(fp8_scale_from_amax(0.0f, FP8_E4M3, 0, 5.0f), 5.0f, "amax 0 keeps the scale");
    cr_assert_eq(fp8_scale_from_amax(INFINITY, FP8_E4M3, 0, 5.0f), 5.0f);
    cr_assert_eq(fp8_scale_from_amax(NAN, FP8_E4M3, 0, 5.0f), 5.0f);
    cr_assert_eq(fp8_scale_from_amax(1e-42f, FP8_E4M3, 0, 5.0f), 5.0f,
                 "a scale that overflows fp32 keeps the old one");
}

Test(fp8, delayed_max_over_history_then_rolls_out)
{
    fp8_state s = mk(FP8_DELAYED, 3, FP8_AMAX_MAX, 0);
    cr_assert_eq(fp8_scale_for(&s, 1, FP8_T_INPUT, 99.0f), 1.0f, "TE starts from scale 1");
    step(&s, 4.0f, 2.0f);
    cr_assert_eq(fp8_scale_for(&s, 1, FP8_T_INPUT, 0), 112.0f); /* 448 / 4 */
    cr_assert_eq(fp8_scale_for(&s, 1, FP8_T_GRAD, 0), 28672.0f); /* 57344 / 2 (E5M2) */
    step(&s, 1.0f, 2.0f);
    cr_assert_eq(fp8_scale_for(&s, 1, FP8_T_INPUT, 0), 112.0f, "the max of the history holds");
    step(&s, 1.0f, 2.0f);
    cr_assert_eq(fp8_history_max(&s, 1, FP8_T_INPUT), 4.0f);
    /* a ring of 3 with one slot cleared for the next step: the 4.0 leaves at the third
     * commit after it */
    step(&s, 1.0f, 2.0f);
    cr_assert_eq(fp8_scale_for(&s, 1, FP8_T_INPUT, 0), 448.0f);
    cr_assert_eq(fp8_history_max(&s, 1, FP8_T_INPUT), 1.0f);
    cr_assert_eq(fp8_scale_for(&s, 0, FP8_T_INPUT, 0), 1.0f, "an unrecorded tensor keeps 1");
    cr_assert_eq(s.steps, 4);
    fp8_state_free(&s);
}

Test(fp8, delayed_most_recent_and_margin)
{
    fp8_state s = mk(FP8_DELAYED, 16, FP8_AMAX_MOST_RECENT, 1);
    step(&s, 8.0f, 1.0f);
    cr_assert_eq(fp8_scale_for(&s, 1, FP8_T_INPUT, 0), 28.0f); /* 448 / 8 / 2 */
    step(&s, 2.0f, 1.0f);
    cr_assert_eq(fp8_scale_for(&s, 1, FP8_T_INPUT, 0), 112.0f, "only the last step counts");
    cr_assert_eq(fp8_history_max(&s, 1, FP8_T_INPUT), 8.0f);
    fp8_state_free(&s);
}

Test(fp8, micro_batches_max_and_nan_never_enters)
{
    fp8_state s = mk(FP8_DELAYED, 4, FP8_AMAX_MAX, 0);
    fp8_step_begin(&s);
    fp8_record(&s, 2, FP8_T_WEIGHT, 3.0f, 1.0f);
    fp8_record(&s, 2, FP8_T_WEIGHT, 7.0f, 1.0f);
    fp8_record(&s, 2, FP8_T_WEIGHT, NAN, 1.0f);
    fp8_record(&s, 2, FP8_T_WEIGHT, 5.0f, 1.0f);
    fp8_step_commit(&s);
    cr_assert_eq(fp8_history_max(&s, 2, FP8_T_WEIGHT), 7.0f);
    cr_assert_eq(fp8_scale_for(&s, 2, FP8_T_WEIGHT, 0), 64.0f);
    fp8_state_free(&s);
}

Test(fp8, recording_only_inside_a_step_and_abandon)
{
    fp8_state s = mk(FP8_DELAYED, 4, FP8_AMAX_MAX, 0);
    fp8_record(&s, 1, FP8_T_INPUT, 2.0f, 1.0f); /* an eval: not recorded */
    fp8_step_commit(&s);                         /* no step open: nothing happens */
    cr_assert_eq(s.steps, 0);
    cr_assert_eq(fp8_history_max(&s, 1, FP8_T_INPUT), 0.0f);
    fp8_step_begin(&s);
    fp8_record(&s, 1, FP8_T_INPUT, 2.0f, 1.0f);
    fp8_step_abandon(&s);
    fp8_step_commit(&s);
    cr_assert_eq(s.steps, 0, "an abandoned step commits nothing");
    cr_assert_eq(fp8_scale_for(&s, 1, FP8_T_INPUT, 0), 1.0f);
    /* out of range rows and tensors are ignored, not written */
    fp8_step_begin(&s);
    fp8_record(&s, 3, FP8_T_INPUT, 2.0f, 1.0f);
    fp8_record(&s, -1, FP8_T_INPUT, 2.0f, 1.0f);
    fp8_record(&s, 0, (fp8_tensor)3, 2.0f, 1.0f);
    fp8_step_commit(&s);
    cr_assert_eq(fp8_scale_for(&s, 3, FP8_T_INPUT, 0), 1.0f);
    cr_assert_eq(fp8_history_max(&s, 3, FP8_T_INPUT), 0.0f);
    fp8_state_free(&s);
}

Test(fp8, current_and_mx_scales)
{
    fp8_state s = mk(FP8_CURRENT, 4, FP8_AMAX_MAX, 0);
    cr_assert_eq(fp8_scale_for(&s, 1, FP8_T_INPUT, 14.0f), 32.0f, "448 / 14, no history");
    cr_assert_eq(fp8_scale_for(&s, 1, FP8_T_GRAD, 0.0f), 1.0f, "amax 0: scale 1");
    step(&s, 14.0f, 1.0f);
    cr_assert_eq(fp8_scale_for(&s, 1, FP8_T_INPUT, 7.0f), 64.0f, "the history does not steer it");
    cr_assert_eq(fp8_history_max(&s, 1, FP8_T_INPUT), 14.0f, "but it is kept for the screen");
    cr_assert_eq(s.meta[fp8_index(1, FP8_T_INPUT)].used_scale, 32.0f);
    fp8_state_free(&s);
    s = mk(FP8_MXFP8, 4, FP8_AMAX_MAX, 0);
    cr_assert_eq(fp8_scale_for(&s, 1, FP8_T_INPUT, 14.0f), 1.0f, "MXFP8 blocks carry scales");
    fp8_state_free(&s);
}

Test(fp8, copy_is_deep)
{
    fp8_state s = mk(FP8_DELAYED, 4, FP8_AMAX_MAX, 0), c;
    memset(&c, 0, sizeof c);
    step(&s, 4.0f, 2.0f);
    cr_assert_eq(fp8_state_copy(&c, &s), 0);
    step(&s, 100.0f, 2.0f);
    cr_assert_eq(fp8_scale_for(&c, 1, FP8_T_INPUT, 0), 112.0f);
    cr_assert_eq(fp8_history_max(&c, 1, FP8_T_INPUT), 4.0f);
    cr_assert_eq(fp8_scale_for(&s, 1, FP8_T_INPUT, 0), 4.48f);
    fp8_state_free(&s);
    fp8_state_free(&c);
}

Test(fp8, bytes_round_trip_resumes_exactly)
{
    fp8_state a = mk(FP8_DELAYED, 3, FP8_AMAX_MAX, 0), b = mk(FP8_DELAYED, 3, FP8_AMAX_MAX, 0);
    step(&a, 4.0f, 2.0f);
    step(&a, 1.0f, 3.0f);
    size_t n = fp8_state_bytes(&a);
    cr_assert_eq(n, 44 + 9 * 4 * 4);
    uint8_t *buf = malloc(n);
    fp8_state_write(&a, buf);
    char err[256];
    cr_assert_eq(fp8_state_read(&b, buf, n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(b.steps, 2);
    /* both go on identically: the 4.0 leaves both rings at the same step */
    for (int k = 0; k < 3; k++) {
        step(&a, 1.0f, 1.0f);
        step(&b, 1.0f, 1.0f);
        cr_assert_eq(fp8_scale_for(&a, 1, FP8_T_INPUT, 0), fp8_scale_for(&b, 1, FP8_T_INPUT, 0),
                     "step %d", k);
        cr_assert_eq(fp8_history_max(&a, 1, FP8_T_GRAD), fp8_history_max(&b, 1, FP8_T_GRAD));
    }
    cr_assert_eq(fp8_scale_for(&b, 1, FP8_T_INPUT, 0), 448.0f);
    free(buf);
    fp8_state_free(&a);
    fp8_state_free(&b);
}

Test(fp8, bytes_into_another_history_length)
{
    fp8_state a = mk(FP8_DELAYED, 4, FP8_AMAX_MAX, 0), b = mk(FP8_DELAYED, 2, FP8_AMAX_MAX, 0);
    step(&a, 9.0f, 1.0f);
    step(&a, 2.0f, 1.0f);
    step(&a, 3.0f, 1.0f);
    size_t n = fp8_state_bytes(&a);
    uint8_t *buf = malloc(n);
    fp8_state_write(&a, buf);
    char err[256];
    cr_assert_eq(fp8_state_read(&b, buf, n, err, sizeof err), 0, "%s", err);
    /* a ring of 2 keeps the newest step (3.0) and the free slot */
    cr_assert_eq(fp8_history_max(&b, 1, FP8_T_INPUT), 3.0f);
    cr_assert_eq(fp8_scale_for(&b, 1, FP8_T_INPUT, 0), fp8_scale_for(&a, 1, FP8_T_INPUT, 0),
                 "the scale carries over");
    free(buf);
    fp8_state_free(&a);
    fp8_state_free(&b);
}

Test(fp8, bad_bytes_refused)
{
    fp8_state a = mk(FP8_DELAYED, 2, FP8_AMAX_MAX, 0), b = mk(FP8_DELAYED, 2, FP8_AMAX_MAX, 0);
    size_t n = fp8_state_bytes(&a);
    uint8_t *buf = malloc(n);
    fp8_state_write(&a, buf);
    char err[256];
    cr_assert_eq(fp8_state_read(&b, buf, 10, err, sizeof err), -1);
    cr_assert(strstr(err, "not an mptui fp8 state"), "%s", err);
    cr_assert_eq(fp8_state_read(&b, buf, n - 4, err, sizeof err), -1, "truncated");
    cr_assert(strstr(err, "does not match"), "%s", err);
    buf[0] ^= 1;
    cr_assert_eq(fp8_state_read(&b, buf, n, err, sizeof err), -1, "bad magic");
    buf[0] ^= 1;
    fp8_state c;
    fp8_recipe r = a.r;
    cr_assert_eq(fp8_state_init(&c, 5, &r), 0);
    cr_assert_eq(fp8_state_read(&c, buf, n, err, sizeof err), -1);
    cr_assert(strstr(err, "3 precision rows, this model has 5"), "%s", err);
    buf[32] = 7; /* pos beyond the history */
    cr_assert_eq(fp8_state_read(&b, buf, n, err, sizeof err), -1);
    free(buf);
    fp8_state_free(&a);
    fp8_state_free(&b);
    fp8_state_free(&c);
}

Test(fp8, init_clamps_history)
{
    fp8_recipe r;
    fp8_recipe_default(&r);
    r.history_len = 0;
    fp8_state s;
    cr_assert_eq(fp8_state_init(&s, 2, &r), 0);
    cr_assert_eq(s.r.history_len, 1);
    step(&s, 2.0f, 1.0f);
    cr_assert_eq(fp8_scale_for(&s, 1, FP8_T_INPUT, 0), 224.0f);
    step(&s, 4.0f, 1.0f);
    cr_assert_eq(fp8_scale_for(&s, 1, FP8_T_INPUT, 0), 112.0f, "a ring of 1 is most_recent");
    fp8_state_free(&s);
}
