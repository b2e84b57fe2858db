/* test_chart.c — braille and ASCII rendering of known series, axis mapping (linear/log),
 * TensorBoard's debiased EMA against hand-computed values, bounded history series. */
#include <criterion/criterion.h>
#include <math.h>

#include "chart.h"
#include "history.h"

static const chart_view unit_view = {0, 3, 0, 3, 0};

Test(chart, braille_diagonal_exact_code_points)
{
    chart_canvas c;
    cr_assert_eq(chart_canvas_init(&c, 2, 1), 0); /* 4 x 4 dots */
    double x[] = {0, 1, 2, 3}, y[] = {0, 1, 2, 3};
    chart_plot(&c, &unit_view, x, y, 4, UC_RAW);
    /* dots (col,row): (0,3) (1,2) | (0,1) (1,0) -> 0x40|0x20, 0x02|0x08 */
    cr_assert_eq(c.dots[0], 0x60);
    cr_assert_eq(c.dots[1], 0x0a);
    ui_grid g;
    cr_assert_eq(grid_init(&g, 2, 1), 0);
    chart_blit(&c, &g, 0, 0, 1);
    cr_assert_eq(grid_cell(&g, 0, 0)->ch, 0x2860);
    cr_assert_eq(grid_cell(&g, 1, 0)->ch, 0x280a);
    cr_assert_eq(grid_cell(&g, 0, 0)->color, UC_RAW);
    chart_blit(&c, &g, 0, 0, 0); /* ASCII: low half '.', high half '\'' */
    cr_assert_eq(grid_cell(&g, 0, 0)->ch, '.');
    cr_assert_eq(grid_cell(&g, 1, 0)->ch, '\'');
    grid_free(&g);
    chart_canvas_free(&c);
}

Test(chart, braille_flat_line_and_line_fill)
{
    chart_canvas c;
    cr_assert_eq(chart_canvas_init(&c, 2, 2), 0); /* 4 x 8 dots */
    chart_view v = {0, 3, 4, 6, 0};
    double x[] = {0, 3}, y[] = {5, 5};
    chart_plot(&c, &v, x, y, 2, UC_SMOOTH); /* level round(0.5*7)=4 -> dot row 3 */
    cr_assert_eq(chart_braille(c.dots[0]), 0x2800 + 0xc0);
    cr_assert_eq(chart_braille(c.dots[1]), 0x2800 + 0xc0);
    cr_assert_eq(c.dots[2], 0);
    cr_assert_eq(chart_ascii(c.dots[0]), '.');
    chart_canvas_free(&c);
    cr_assert_eq(chart_canvas_init(&c, 2, 2), 0);
    chart_line(&c, 0, 0, 0, 7, UC_RAW); /* a vertical line fills column 0 of both cells */
    cr_assert_eq(c.dots[0], 0x47);
    cr_assert_eq(c.dots[2], 0x47);
    cr_assert_eq(chart_braille(0xff), 0x28ff);
    chart_canvas_free(&c);
}

Test(chart, ascii_fallback_chars)
{
    cr_assert_eq(chart_ascii(0x00), ' ');
    cr_assert_eq(chart_ascii(0x01), '\''); /* row 0 */
    cr_assert_eq(chart_ascii(0x08), '\''); /* row 0, right column */
    cr_assert_eq(chart_ascii(0x02), '-');  /* row 1 */
    cr_assert_eq(chart_ascii(0x20), '-');  /* row 2 */
    cr_assert_eq(chart_ascii(0x40), '.');  /* row 3 */
    cr_assert_eq(chart_ascii(0x44), '.');  /* rows 2+3 */
    cr_assert_eq(chart_ascii(0x03), '\''); /* rows 0+1 */
    cr_assert_eq(chart_ascii(0x41), '|');  /* rows 0 and 3 */
    cr_assert_eq(chart_ascii(0x07), '|');  /* rows 0..2 */
}

Test(chart, marks_overlay_dots)
{
    chart_canvas c;
    cr_assert_eq(chart_canvas_init(&c, 2, 1), 0);
    double x[] = {3}, y[] = {3};
    chart_marks(&c, &unit_view, x, y, 1, 'o', UC_EVAL);
    ui_grid g;
    cr_assert_eq(grid_init(&g, 2, 1), 0);
    chart_blit(&c, &g, 0, 0, 1);
    cr_assert_eq(grid_cell(&g, 1, 0)->ch, 'o');
    cr_assert_eq(grid_cell(&g, 1, 0)->color, UC_EVAL);
    cr_assert_eq(grid_cell(&g, 0, 0)->ch, ' ');
    grid_free(&g);
    chart_canvas_free(&c);
    cr_assert_eq(chart_canvas_init(&c, 0, 1), -1);
}

Test(chart, ema_hand_computed)
{
    double y[] = {1, 2, 3}, out[3];
    chart_ema(y, 3, 0.5, out);
    cr_assert_float_eq(out[0], 1.0, 1e-12);          /* 0.5 / 0.5 */
    cr_assert_float_eq(out[1], 1.25 / 0.75, 1e-12);  /* 1.6667 */
    cr_assert_float_eq(out[2], 2.125 / 0.875, 1e-12);/* 2.4286 */
    double z[] = {10, 0};
    chart_ema(z, 2, 0.9, out);
    cr_assert_float_eq(out[0], 10.0, 1e-12);
    cr_assert_float_eq(out[1], 0.9 / 0.19, 1e-12);
    chart_ema(y, 3, 0.0, out); /* no smoothing */
    cr_assert_float_eq(out[2], 3.0, 1e-12);
}

Test(chart, ema_nonfinite_and_constant)
{
    double y[] = {1, NAN, 3}, out[3];
    chart_ema(y, 3, 0.5, out);
    cr_assert_float_eq(out[0], 1.0, 1e-12);
    cr_assert(isnan(out[1]));
    cr_assert_float_eq(out[2], 1.75 / 0.75, 1e-12); /* num_accum = 2 */
    double k[] = {2, 2, 2};
    chart_ema(k, 3, 0.99, out);
    cr_assert_eq(out[0], 2.0);
    cr_assert_eq(out[2], 2.0);
    double w1[] = {4, 5};
    chart_ema(w1, 2, 1.0, out); /* w = 1: no debias, last never moves off 0 (TensorBoard) */
    cr_assert_eq(out[1], 0.0);
}

Test(chart, log_scale_mapping)
{
    cr_assert_eq(chart_map(10, 1, 100, 1, 101), 50);
    cr_assert_eq(chart_map(100, 1, 100, 1, 101), 100);
    cr_assert_eq(chart_map(1, 1, 100, 1, 101), 0);
    cr_assert_eq(chart_map(10, 1, 100, 0, 101), 9); /* linear: 9/99*100 */
    cr_assert_eq(chart_map(1000, 1, 100, 1, 5), 4); /* clamped */
    cr_assert_eq(chart_map(0.5, 1, 100, 1, 5), 0);
    cr_assert_eq(chart_map(0, 1, 100, 1, 5), -1);
    cr_assert_eq(chart_map(-3, 1, 100, 1, 5), -1);
    cr_assert_eq(chart_map(NAN, 1, 100, 0, 5), -1);
    cr_assert_eq(chart_map(INFINITY, 1, 100, 0, 5), -1);
    cr_assert_eq(chart_map(5, 5, 5, 0, 5), 2); /* flat range sits in the middle */
}

Test(chart, range)
{
    double y[] = {3, NAN, -1, 7}, lo, hi;
    cr_assert_eq(chart_range(y, 4, 0, &lo, &hi), 0);
    cr_assert_eq(lo, -1);
    cr_assert_eq(hi, 7);
    cr_assert_eq(chart_range(y, 4, 1, &lo, &hi), 0);
    cr_assert_eq(lo, 3);
    double f[] = {2};
    cr_assert_eq(chart_range(f, 1, 0, &lo, &hi), 0);
    cr_assert_float_eq(lo, 1.8, 1e-12);
    cr_assert_float_eq(hi, 2.2, 1e-12);
    cr_assert_eq(chart_range(f, 1, 1, &lo, &hi), 0);
    cr_assert_eq(lo, 1);
    cr_assert_eq(hi, 4);
    double neg[] = {-1, NAN};
    cr_assert_eq(chart_range(neg, 2, 1, &lo, &hi), -1);
    cr_assert_eq(chart_range(neg, 0, 0, &lo, &hi), -1);
}

Test(history, bounded_bucket_average)
{
    ui_series s;
    cr_assert_eq(series_init(&s, 3), -1);
    cr_assert_eq(series_init(&s, 4), 0);
    for (int i = 1; i <= 4; i++) series_push(&s, i, 10 * i);
    cr_assert_eq(s.n, 4);
    series_push(&s, 5, 50); /* full: pairs averaged, stride doubles, 5 starts the third */
    cr_assert_eq(s.n, 3);
    cr_assert_eq(s.stride, 2);
    cr_assert_eq(s.x[0], 1.5);
    cr_assert_eq(s.y[1], 35);
    cr_assert_eq(s.x[2], 5);
    series_push(&s, 6, 60); /* waits for its bucket partner */
    cr_assert_eq(s.n, 3);
    series_push(&s, 7, 70);
    cr_assert_eq(s.n, 4);
    cr_assert_eq(s.x[3], 6.5);
    cr_assert_eq(s.y[3], 65);
    for (int i = 8; i < 100000; i++) series_push(&s, i, i);
    cr_assert_leq(s.n, 4);
    series_free(&s);
}

Test(history, ingest_rows)
{
    ui_history h;
    cr_assert_eq(history_init(&h), 0);
    metric_row r[3];
    metric_row_init(&r[0], MR_TRAIN, 5);
    r[0].loss = 2.5;
    r[0].loss_scale = 65536;
    metric_row_init(&r[1], MR_EVAL, 5);
    r[1].eval_loss = 2.7;
    metric_row_init(&r[2], MR_TRAIN, 10);
    r[2].loss = 2.4;
    snprintf(r[2].replica, sizeof r[2].replica, "bf16"); /* compare rows are not this chart's */
    history_ingest(&h, r, 3);
    cr_assert_eq(h.loss.n, 1);
    cr_assert_eq(h.loss.y[0], 2.5);
    cr_assert_eq(h.scale_log2.y[0], 16);
    cr_assert_eq(h.eval.n, 1);
    cr_assert_eq(h.eval.y[0], 2.7);
    history_free(&h);
}
