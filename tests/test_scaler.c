/* test_scaler.c — GradScaler update rule step by step (hand-written expected tables),
 * edge scales (FLT_MAX, subnormal, zero), static / disabled modes and the counters. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "scaler.h"

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

typedef struct {
    int found_inf;
    float scale; /* expected after the update */
    int tracker;
    int skip;
} step_row;

static void run_table(scaler *s, const step_row *rows, int n)
{
    for (int i = 0; i < n; i++) {
        int skip = scaler_update(s, rows[i].found_inf, i, rows[i].found_inf ? "w" : NULL);
        cr_assert_eq(skip, rows[i].skip, "row %d: skip %d", i, skip);
        cr_assert_eq(bits(s->scale), bits(rows[i].scale), "row %d: scale %g, want %g", i,
                     s->scale, rows[i].scale);
        cr_assert_eq(s->growth_tracker, rows[i].tracker, "row %d: tracker %d", i,
                     s->growth_tracker);
    }
}

Test(scaler, init_defaults)
{
    scaler s;
    scaler_init(&s, 1, 1, 65536.0f, 2.0f, 0.5f, 2000, 0.0f);
    cr_assert_eq(s.scale, 65536.0f);
    cr_assert_eq(scaler_loss_scale(&s), 65536.0f);
    cr_assert_eq(s.growth_tracker, 0);
    cr_assert_eq(s.overflow_total, 0);
    cr_assert_eq(s.overflow_window, 0);
    cr_assert_eq(s.last_overflow_step, -1);
    cr_assert_str_eq(s.first_nonfinite, "");
}

Test(scaler, mixed_sequence_interval_3)
{
    scaler s;
    scaler_init(&s, 1, 1, 8.0f, 2.0f, 0.5f, 3, 0.0f);
    static const step_row rows[] = {
        {0, 8.0f, 1, 0},  {0, 8.0f, 2, 0},  {0, 16.0f, 0, 0}, /* grows on the 3rd */
        {1, 8.0f, 0, 1},  {0, 8.0f, 1, 0},  {1, 4.0f, 0, 1},  /* overflow resets tracker */
        {1, 2.0f, 0, 1},  {0, 2.0f, 1, 0},  {0, 2.0f, 2, 0},
        {0, 4.0f, 0, 0},  {0, 4.0f, 1, 0},  {0, 4.0f, 2, 0},
        {1, 2.0f, 0, 1},  {0, 2.0f, 1, 0},
    };
    run_table(&s, rows, (int)(sizeof rows / sizeof rows[0]));
    cr_assert_eq(s.overflow_total, 4);
    cr_assert_eq(s.last_overflow_step, 12);
}

Test(scaler, interval_1_grows_every_step)
{
    scaler s;
    scaler_init(&s, 1, 1, 1.0f, 2.0f, 0.5f, 1, 0.0f);
    static const step_row rows[] = {
        {0, 2.0f, 0, 0}, {0, 4.0f, 0, 0}, {1, 2.0f, 0, 1}, {0, 4.0f, 0, 0}, {1, 2.0f, 0, 1},
        {1, 1.0f, 0, 1}, {1, 0.5f, 0, 1}, {0, 1.0f, 0, 0},
    };
    run_table(&s, rows, (int)(sizeof rows / sizeof rows[0]));
}

Test(scaler, growth_at_exactly_interval)
{
    scaler s;
    scaler_init(&s, 1, 1, 65536.0f, 2.0f, 0.5f, 2000, 0.0f);
    for (int i = 0; i < 1999; i++) cr_assert_eq(scaler_update(&s, 0, i, NULL), 0);
    cr_assert_eq(s.scale, 65536.0f);
    cr_assert_eq(s.growth_tracker, 1999);
    scaler_update(&s, 0, 1999, NULL);
    cr_assert_eq(s.scale, 131072.0f);
    cr_assert_eq(s.growth_tracker, 0);
    /* an overflow at 1999 successes loses the progress */
    for (int i = 0; i < 1999; i++) scaler_update(&s, 0, i, NULL);
    scaler_update(&s, 1, 4000, NULL);
    cr_assert_eq(s.scale, 65536.0f);
    scaler_update(&s, 0, 4001, NULL);
    cr_assert_eq(s.scale, 65536.0f);
    cr_assert_eq(s.growth_tracker, 1);
}

Test(scaler, no_growth_to_inf)
{
    scaler s;
    scaler_init(&s, 1, 1, 0x1p127f, 2.0f, 0.5f, 1, 0.0f);
    scaler_update(&s, 0, 0, NULL);
    cr_assert_eq(bits(s.scale), bits(0x1p127f), "2^128 is Inf: keep 2^127");
    cr_assert_eq(s.growth_tracker, 0, "tracker resets even when growth is refused");
    /* the largest finite growth: FLT_MAX / 2 * 2 == FLT_MAX exactly */
    scaler_init(&s, 1, 1, 0x1.fffffep126f, 2.0f, 0.5f, 1, 0.0f);
    scaler_update(&s, 0, 0, NULL);
    cr_assert_eq(bits(s.scale), bits(FLT_MAX));
    scaler_update(&s, 0, 1, NULL);
    cr_assert_eq(bits(s.scale), bits(FLT_MAX));
    /* 1.5^k steps: 1.5*2^126, 2.25*2^126, 3.375*2^126, then 5.06*2^126 = Inf refused */
    scaler_init(&s, 1, 1, 0x1p126f, 1.5f, 0.5f, 1, 0.0f);
    static const step_row rows[] = {
        {0, 0x1.8p126f, 0, 0}, {0, 0x1.2p127f, 0, 0}, {0, 0x1.bp127f, 0, 0},
        {0, 0x1.bp127f, 0, 0}, {1, 0x1.bp126f, 0, 1},
    };
    run_table(&s, rows, (int)(sizeof rows / sizeof rows[0]));
}

Test(scaler, backoff_to_subnormal_and_zero)
{
    scaler s;
    scaler_init(&s, 1, 1, 0x1p-125f, 2.0f, 0.5f, 2000, 0.0f);
    for (int k = 1; k <= 24; k++) {
        cr_assert_eq(scaler_update(&s, 1, k, NULL), 1);
        cr_assert_eq(bits(s.scale), bits(ldexpf(1.0f, -125 - k)), "k=%d", k);
    }
    cr_assert_eq(bits(s.scale), 0x00000001u, "2^-149: smallest subnormal");
    scaler_update(&s, 1, 25, NULL);
    cr_assert_eq(bits(s.scale), 0x00000000u, "2^-150 ties to even: zero");
    scaler_update(&s, 1, 26, NULL);
    cr_assert_eq(bits(s.scale), 0u);
    cr_assert_eq(bits(scaler_inv_scale(&s)), 0x7F800000u, "1/0 = +Inf");
    /* a growth of zero stays zero */
    scaler_init(&s, 1, 1, 0.0f, 2.0f, 0.5f, 1, 0.0f);
    scaler_update(&s, 0, 0, NULL);
    cr_assert_eq(bits(s.scale), 0u);
}

Test(scaler, backoff_rounds_subnormal_to_even)
{
    scaler s;
    /* 3 * 2^-149 * 0.5 = 1.5 ulp: round to even gives 2 * 2^-149 */
    scaler_init(&s, 1, 1, 3 * 0x1p-149f, 2.0f, 0.5f, 2000, 0.0f);
    scaler_update(&s, 1, 0, NULL);
    cr_assert_eq(bits(s.scale), 0x00000002u);
    /* 5 ulp * 0.5 = 2.5 ulp: ties to even gives 2 ulp */
    scaler_init(&s, 1, 1, 5 * 0x1p-149f, 2.0f, 0.5f, 2000, 0.0f);
    scaler_update(&s, 1, 0, NULL);
    cr_assert_eq(bits(s.scale), 0x00000002u);
}

Test(scaler, min_scale_floors_backoff)
{
    scaler s;
    scaler_init(&s, 1, 1, 8.0f, 2.0f, 0.5f, 2, 1.5f);
    static const step_row rows[] = {
        {1, 4.0f, 0, 1}, {1, 2.0f, 0, 1}, {1, 1.5f, 0, 1}, /* 1.0 floored to 1.5 */
        {1, 1.5f, 0, 1}, {0, 1.5f, 1, 0}, {0, 3.0f, 0, 0}, {1, 1.5f, 0, 1},
    };
    run_table(&s, rows, (int)(sizeof rows / sizeof rows[0]));
    /* with a floor the subnormal walk stops at it */
    scaler_init(&s, 1, 1, 0x1p-125f, 2.0f, 0.5f, 2000, 0x1p-130f);
    for (int k = 0; k < 40; k++) scaler_update(&s, 1, k, NULL);
    cr_assert_eq(bits(s.scale), bits(0x1p-130f));
}

Test(scaler, static_scale_never_changes)
{
    scaler s;
    scaler_init(&s, 1, 0, 128.0f, 2.0f, 0.5f, 1, 0.0f);
    cr_assert_eq(scaler_loss_scale(&s), 128.0f);
    for (int i = 0; i < 10; i++) cr_assert_eq(scaler_update(&s, 0, i, NULL), 0);
    cr_assert_eq(s.scale, 128.0f, "no growth");
    cr_assert_eq(scaler_update(&s, 1, 10, "transformer.h.0.mlp.c_fc.weight"), 1, "skips");
    cr_assert_eq(s.scale, 128.0f, "no backoff");
    cr_assert_eq(s.overflow_total, 1);
    cr_assert_eq(s.last_overflow_step, 10);
    cr_assert_str_eq(s.first_nonfinite, "transformer.h.0.mlp.c_fc.weight");
    cr_assert_eq(bits(scaler_inv_scale(&s)), bits(0x1p-7f));
}

Test(scaler, disabled_counts_but_never_skips)
{
    scaler s;
    scaler_init(&s, 0, 1, 65536.0f, 2.0f, 0.5f, 1, 0.0f);
    cr_assert_eq(scaler_loss_scale(&s), 1.0f);
    cr_assert_eq(bits(scaler_inv_scale(&s)), bits(1.0f));
    cr_assert_eq(scaler_update(&s, 1, 7, "lm_head"), 0);
    cr_assert_eq(scaler_update(&s, 0, 8, NULL), 0);
    cr_assert_eq(scaler_loss_scale(&s), 1.0f, "no growth or backoff");
    cr_assert_eq(s.growth_tracker, 0);
    cr_assert_eq(s.overflow_total, 1);
    cr_assert_eq(s.overflow_window, 1);
    cr_assert_eq(s.last_overflow_step, 7);
    cr_assert_str_eq(s.first_nonfinite, "lm_head");
}

Test(scaler, counters_and_window_reset)
{
    scaler s;
    scaler_init(&s, 1, 1, 1024.0f, 2.0f, 0.5f, 100, 0.0f);
    scaler_update(&s, 1, 3, "a");
    scaler_update(&s, 0, 4, NULL);
    scaler_update(&s, 1, 5, "b");
    cr_assert_eq(s.overflow_total, 2);
    cr_assert_eq(s.overflow_window, 2);
    cr_assert_eq(s.last_overflow_step, 5);
    cr_assert_str_eq(s.first_nonfinite, "b");
    scaler_window_reset(&s);
    cr_assert_eq(s.overflow_window, 0);
    cr_assert_eq(s.overflow_total, 2, "total survives the window reset");
    scaler_update(&s, 0, 6, NULL);
    cr_assert_str_eq(s.first_nonfinite, "b", "a clean step keeps the last culprit");
    scaler_update(&s, 1, 9, NULL);
    cr_assert_eq(s.overflow_total, 3);
    cr_assert_eq(s.overflow_window, 1);
    cr_assert_eq(s.last_overflow_step, 9);
    cr_assert_str_eq(s.first_nonfinite, "", "unknown tensor");
    char longname[200];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    scaler_update(&s, 1, 10, longname);
    cr_assert_eq(strlen(s.first_nonfinite), sizeof s.first_nonfinite - 1, "truncated");
}

Test(scaler, inv_scale_bits)
{
    static const struct { float scale; uint32_t inv; } cases[] = {
        {65536.0f, 0x37800000u},    /* 2^-16 */
        {3.0f, 0x3EAAAAABu},        /* 1/3 rounded up */
        {10.0f, 0x3DCCCCCDu},       /* 0.1f */
        {0x1p-149f, 0x7F800000u},   /* 2^149 overflows fp32 */
        {0x1p-126f, 0x7E800000u},   /* 2^126 */
        {1.0f, 0x3F800000u},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        scaler s;
        scaler_init(&s, 1, 1, cases[i].scale, 2.0f, 0.5f, 2000, 0.0f);
        cr_assert_eq(bits(scaler_inv_scale(&s)), cases[i].inv, "scale %a: %08x", cases[i].scale,
                     bits(scaler_inv_scale(&s)));
    }
}
