/* test_panels.c — panels rendered from snapshots built here: header text, precision-map rows
 * (dtype labels, colors, unhealthy highlight, override marker, selection, scrolling), eval,
 * footer, help overlay, too-small notice; plus key bindings and short formats. */
#include <criterion/criterion.h>
#include <math.h>
#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "feed_layer.h"
#include "fmt.h"
#include "keys.h"
#include "panels.h"

static feed_snapshot *make_snap(void)
{
    feed_snapshot *s = calloc(1, sizeof *s);
    s->n_layer = 4, s->n_head = 4, s->n_embd = 128;
    snprintf(s->data_name, sizeof s->data_name, "tinyshakespeare");
    snprintf(s->device, sizeof s->device, "cpu");
    s->max_steps = 5000, s->step = 1200;
    s->tokens_per_s = 11234, s->elapsed_s = 125, s->eta_s = 365;
    s->state = RUN_RUNNING;
    s->mode = DT_F16, s->scaler_enabled = 1, s->scaler_dynamic = 1;
    s->loss_scale = 32768, s->growth_tracker = 1234, s->growth_interval = 2000;
    s->overflow_total = 3, s->overflow_window = 0, s->last_overflow_step = 1180;
    snprintf(s->first_nonfinite, sizeof s->first_nonfinite, "h.3.mlp.c_fc grad");
    const char *names[] = {"wte", "wpe", "h.0.ln_1", "h.0.attn.c_attn", "h.0.attn"};
    const layer_kind kinds[] = {LK_EMBED, LK_EMBED, LK_LN, LK_LINEAR, LK_ATTN};
    for (int i = 0; i < 5; i++) {
        feed_layer *l = &s->layers[i];
        snprintf(l->name, sizeof l->name, "%s", names[i]);
        l->kind = kinds[i];
        l->has_weight = i != 4;
        l->w = l->act = l->grad = i < 2 ? DT_F32 : DT_F16;
        l->override = -1;
        l->valid = 1;
        l->act_amax = 12.5f, l->grad_amax = 0.25f;
    }
    s->layers[3].w = DT_BF16;
    s->layers[3].grad_ovf = 2;    /* unhealthy: overflow */
    s->layers[4].act_uflow_pct = 0.5;
    s->layers[4].grad_uflow_pct = 3.0; /* unhealthy: underflow > 1% */
    s->layers[2].override = DT_F32;
    s->n_layers = 5;
    return s;
}

static void row_of(const ui_grid *g, int y, char *buf, size_t n) { grid_row_text(g, y, buf, n); }

Test(panels, header_text_from_snapshot)
{
    feed_snapshot *s = make_snap();
    ui_grid g;
    cr_assert_eq(grid_init(&g, 200, 1), 0);
    panel_header(&g, (ui_rect){0, 0, 200, 1}, s);
    char buf[512];
    row_of(&g, 0, buf, sizeof buf);
    cr_assert(strstr(buf, " mptui   gpt 4L/4H/128d  FP16 (dynamic)  tinyshakespeare  cpu  step 1200/5000"
                          "  11.2k tok/s  elapsed 2m05s  ETA 6m05s  RUNNING"), "header: %s", buf);
    int x;
    cr_assert(grid_find(&g, "FP16", &x, NULL));
    cr_assert_eq(grid_cell(&g, x, 0)->color, UC_FP16);
    s->state = RUN_PAUSED, s->scaler_dynamic = 0;
    panel_header(&g, (ui_rect){0, 0, 200, 1}, s);
    cr_assert(grid_find(&g, "FP16 (static)", NULL, NULL));
    cr_assert(grid_find(&g, "PAUSED", &x, NULL));
    cr_assert(grid_cell(&g, x, 0)->attr & UA_REVERSE);
    s->scaler_enabled = 0, s->mode = DT_BF16, s->state = RUN_FINISHED;
    grid_clear(&g);
    panel_header(&g, (ui_rect){0, 0, 200, 1}, s);
    cr_assert(grid_find(&g, "BF16 (no scaling)", NULL, NULL));
    cr_assert(grid_find(&g, "FINISHED", NULL, NULL));
    grid_free(&g);
    free(s);
}

Test(panels, header_folds_on_80_columns)
{
    feed_snapshot *s = make_snap();
    ui_grid g;
    cr_assert_eq(grid_init(&g, 80, 2), 0);
    panel_header(&g, (ui_rect){0, 0, 80, 2}, s);
    char buf[512];
    row_of(&g, 0, buf, sizeof buf);
    cr_assert(strstr(buf, "FP16 (dynamic)"), "%s", buf);
    row_of(&g, 1, buf, sizeof buf);
    cr_assert(strstr(buf, "step 1200/5000") && strstr(buf, "RUNNING"), "%s", buf);
    grid_free(&g);
    free(s);
}

Test(panels, precision_map_rows)
{
    feed_snapshot *s = make_snap();
    ui_view v;
    view_init(&v, 0);
    v.selected = 1;
    ui_grid g;
    cr_assert_eq(grid_init(&g, 80, 9), 0);
    panel_map(&g, (ui_rect){0, 0, 80, 9}, s, &v);
    char buf[256];
    row_of(&g, 1, buf, sizeof buf);
    cr_assert(strstr(buf, "layer") && strstr(buf, "act amax") && strstr(buf, "grd uf%"), "%s", buf);
    row_of(&g, 2, buf, sizeof buf);
    cr_assert(strstr(buf, " wte ") && strstr(buf, "FP32 FP32 FP32") && strstr(buf, "12.5"), "%s", buf);
    row_of(&g, 5, buf, sizeof buf); /* h.0.attn.c_attn: bf16 weight, fp16 act/grad, 2 overflows */
    cr_assert(strstr(buf, "BF16 FP16 FP16") && strstr(buf, "    2"), "%s", buf);
    int x, y;
    cr_assert(grid_find(&g, "BF16", &x, &y));
    cr_assert_eq(grid_cell(&g, x, y)->color, UC_BF16);
    cr_assert_eq(grid_cell(&g, x + 5, y)->color, UC_FP16);
    cr_assert(grid_find(&g, "h.0.attn.c_attn", &x, &y));
    cr_assert(grid_cell(&g, x, y)->attr & UA_BOLD);
    cr_assert_eq(grid_cell(&g, x, y)->color, UC_BAD);
    cr_assert(grid_find(&g, "wpe", &x, &y)); /* healthy, selected */
    cr_assert_eq(grid_cell(&g, x, y)->color, UC_DEFAULT);
    cr_assert(grid_cell(&g, x, y)->attr & UA_REVERSE);
    cr_assert(grid_find(&g, "h.0.ln_1", &x, &y)); /* override marker */
    cr_assert_eq(grid_cell(&g, x - 1, y)->ch, '*');
    row_of(&g, 6, buf, sizeof buf); /* h.0.attn: no weight, underflow 3% */
    cr_assert(strstr(buf, "h.0.attn ") && strstr(buf, " -    FP16") && strstr(buf, "3.00%"), "%s", buf);
    cr_assert(grid_find(&g, "h.0.attn ", &x, &y));
    cr_assert_eq(grid_cell(&g, x, y)->color, UC_BAD);
    cr_assert_eq(v.map_page, 6);
    grid_free(&g);
    free(s);
}

/* Dynamic range columns appear once the name column is at its widest and 14 cells remain. */
Test(panels, precision_map_dynamic_range_when_wide)
{
    feed_snapshot *s = make_snap();
    s->layers[3].act_range = 17.25, s->layers[3].grad_range = 29.8;
    s->layers[4].act_range = NAN; /* nothing nonzero: shown as "-" */
    ui_view v;
    view_init(&v, 0);
    ui_grid g;
    char buf[256];
    cr_assert_eq(grid_init(&g, 101, 9), 0); /* inner width 99: one short */
    panel_map(&g, (ui_rect){0, 0, 101, 9}, s, &v);
    row_of(&g, 1, buf, sizeof buf);
    cr_assert(!strstr(buf, "act dr"), "%s", buf);
    grid_free(&g);
    cr_assert_eq(grid_init(&g, 104, 9), 0); /* inner width 102 */
    panel_map(&g, (ui_rect){0, 0, 104, 9}, s, &v);
    row_of(&g, 1, buf, sizeof buf);
    cr_assert(strstr(buf, "  ovf act dr grd dr"), "%s", buf);
    row_of(&g, 5, buf, sizeof buf);
    cr_assert(strstr(buf, "    2   17.2   29.8"), "%s", buf);
    row_of(&g, 6, buf, sizeof buf);
    cr_assert(strstr(buf, "    0      -    0.0"), "%s", buf);
    grid_free(&g);
    free(s);
}

Test(panels, precision_map_scrolls_to_selection)
{
    feed_snapshot *s = make_snap();
    ui_view v;
    view_init(&v, 0);
    v.selected = 4;
    ui_grid g;
    cr_assert_eq(grid_init(&g, 80, 5), 0); /* 2 rows visible */
    panel_map(&g, (ui_rect){0, 0, 80, 5}, s, &v);
    cr_assert_eq(v.scroll, 3);
    cr_assert(grid_find(&g, "h.0.attn ", NULL, NULL));
    cr_assert(!grid_find(&g, "wte", NULL, NULL));
    cr_assert(grid_find(&g, "rows 4-5 of 5", NULL, NULL));
    v.selected = 99; /* clamped */
    panel_map(&g, (ui_rect){0, 0, 80, 5}, s, &v);
    cr_assert_eq(v.selected, 4);
    grid_free(&g);
    free(s);
}

Test(panels, healthy_rule)
{
    feed_layer l = {.valid = 1};
    cr_assert_eq(panel_layer_unhealthy(&l), 0);
    l.act_uflow_pct = 1.0;
    cr_assert_eq(panel_layer_unhealthy(&l), 0);
    l.act_uflow_pct = 1.01;
    cr_assert_eq(panel_layer_unhealthy(&l), 1);
    l.act_uflow_pct = 0, l.act_ovf = 1;
    cr_assert_eq(panel_layer_unhealthy(&l), 1);
    l.valid = 0;
    cr_assert_eq(panel_layer_unhealthy(&l), 0);
    cr_assert_neq(panel_dtype_color(DT_F32), panel_dtype_color(DT_F16));
    cr_assert_neq(panel_dtype_color(DT_F16), panel_dtype_color(DT_BF16));
    cr_assert_neq(panel_dtype_color(DT_F32), panel_dtype_color(DT_BF16));
}

Test(panels, eval_and_scale_panels)
{
    feed_snapshot *s = make_snap();
    ui_view v;
    view_init(&v, 0);
    ui_history h;
    cr_assert_eq(history_init(&h), 0);
    ui_grid g;
    cr_assert_eq(grid_init(&g, 60, 8), 0);
    panel_eval(&g, (ui_rect){0, 0, 60, 8}, s, &v);
    cr_assert(grid_find(&g, "no eval yet", NULL, NULL));
    s->have_eval = 1, s->eval_loss = 1.62, s->eval_ppl = 5.05, s->eval_bits = 2.337, s->eval_step = 1000;
    snprintf(s->sample, sizeof s->sample, "ROMEO:\nwhat\x1b[31m light");
    grid_clear(&g);
    panel_eval(&g, (ui_rect){0, 0, 60, 8}, s, &v);
    cr_assert(grid_find(&g, "loss 1.6200  ppl 5.05  @1000  2.337 bits/token", NULL, NULL));
    cr_assert(grid_find(&g, "sample: ROMEO: what [31m light", NULL, NULL));
    grid_clear(&g);
    panel_scale(&g, (ui_rect){0, 0, 60, 8}, s, &h, &v);
    cr_assert(grid_find(&g, "scale 32768 (2^15) dynamic", NULL, NULL));
    cr_assert(grid_find(&g, "tracker 1234/2000", NULL, NULL));
    cr_assert(grid_find(&g, "overflows 3 (0 this window)", NULL, NULL));
    cr_assert(grid_find(&g, "last @1180 h.3.mlp.c_fc grad", NULL, NULL));
    history_free(&h);
    grid_free(&g);
    free(s);
}

Test(panels, loss_chart_labels_and_log_toggle)
{
    ui_view v;
    view_init(&v, 1);
    ui_history h;
    cr_assert_eq(history_init(&h), 0);
    metric_row r;
    for (int i = 1; i <= 40; i++) {
        metric_row_init(&r, MR_TRAIN, i * 5);
        r.loss = 100.0 / i;
        r.loss_scale = 65536;
        history_ingest(&h, &r, 1);
    }
    ui_grid g;
    cr_assert_eq(grid_init(&g, 50, 12), 0);
    panel_loss(&g, (ui_rect){0, 0, 50, 12}, &h, &v);
    cr_assert(grid_find(&g, "linear", NULL, NULL));
    cr_assert(grid_find(&g, "    100", NULL, NULL)); /* y max label */
    cr_assert(grid_find(&g, "200", NULL, NULL));     /* x max label */
    int braille = 0;
    for (int y = 0; y < g.h; y++)
        for (int x = 0; x < g.w; x++) braille += grid_cell(&g, x, y)->ch >= 0x2800 && grid_cell(&g, x, y)->ch <= 0x28ff;
    cr_assert_gt(braille, 20);
    v.log_scale = 1;
    grid_clear(&g);
    panel_loss(&g, (ui_rect){0, 0, 50, 12}, &h, &v);
    cr_assert(grid_find(&g, " log", NULL, NULL));
    history_free(&h);
    grid_free(&g);
}

Test(panels, help_lists_every_key)
{
    ui_view v;
    view_init(&v, 0);
    ui_grid g;
    cr_assert_eq(grid_init(&g, 80, 24), 0);
    panel_help(&g, &v);
    const char *keys[] = {"e ", "s ", "m ", "o ", "space", "l ", "[ ]", "Up Down", "PgUp PgDn",
                          "? F1", "q F10", "Ctrl-C", "any key"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cr_assert(grid_find(&g, keys[i], NULL, NULL), "help lacks %s", keys[i]);
    /* the cycles follow the dtype table, FP8 included, and are not cut by the frame */
    cr_assert(grid_find(&g, "cycle precision mode FP32 -> FP16 -> BF16 -> FP8 ", NULL, NULL));
    cr_assert(grid_find(&g, "override selected layer: inherit/FP32/FP16/BF16/FP8 ", NULL, NULL));
    cr_assert(grid_find(&g, "FP8: Linear rows only (c_attn, c_proj, c_fc, lm_head) ", NULL, NULL));
    cr_assert(grid_find(&g, "select a layer in the precision map (FP8: its casts) ", NULL, NULL));
    grid_free(&g);
}

Test(panels, too_small_and_full_screen)
{
    feed_snapshot *s = make_snap();
    ui_view v;
    view_init(&v, 1);
    ui_history h;
    cr_assert_eq(history_init(&h), 0);
    ui_grid g;
    cr_assert_eq(grid_init(&g, 60, 20), 0);
    panels_draw(&g, s, &h, &v);
    int x, y;
    cr_assert(grid_find(&g, "terminal too small (need 80x24)", &x, &y));
    cr_assert_eq(x, (60 - 31) / 2);
    cr_assert(grid_find(&g, "now 60x20", NULL, NULL));
    cr_assert_eq(grid_resize(&g, 80, 24), 0);
    snprintf(s->message, sizeof s->message, "save failed: disk full");
    s->msg_is_error = 1;
    panels_draw(&g, s, &h, &v);
    cr_assert(!grid_find(&g, "too small", NULL, NULL));
    cr_assert(grid_find(&g, "step 1200/5000", NULL, NULL));
    cr_assert(grid_find(&g, "Precision map", NULL, NULL));
    cr_assert(grid_find(&g, "save failed: disk full", &x, &y));
    cr_assert_eq(y, 23);
    cr_assert_eq(grid_cell(&g, x, y)->color, UC_BAD);
    cr_assert(grid_find(&g, "eval", NULL, NULL));
    v.help = 1;
    panels_draw(&g, s, &h, &v);
    cr_assert(grid_find(&g, "press any key to close", NULL, NULL));
    history_free(&h);
    grid_free(&g);
    free(s);
}

Test(keys, commands)
{
    feed_snapshot *s = make_snap();
    ui_view v;
    view_init(&v, 0);
    feed_cmd c;
    cr_assert_eq(keys_handle(&v, s, 'e', &c), KA_CMD);
    cr_assert_eq(c.kind, CMD_EVAL);
    cr_assert_eq(keys_handle(&v, s, 's', &c), KA_CMD);
    cr_assert_eq(c.kind, CMD_SAVE);
    cr_assert_eq(keys_handle(&v, s, ' ', &c), KA_CMD);
    cr_assert_eq(c.kind, CMD_TOGGLE_PAUSE);
    cr_assert_eq(keys_handle(&v, s, 'm', &c), KA_CMD); /* fp16 -> bf16 */
    cr_assert_eq(c.kind, CMD_SET_MODE);
    cr_assert_eq(c.arg, DT_BF16);
    cr_assert_eq(keys_next_mode(DT_BF16), DT_FP8);
    cr_assert_eq(keys_next_mode(DT_FP8), DT_F32);
    cr_assert_eq(keys_next_mode(DT_F32), DT_F16);
    v.selected = 2; /* h.0.ln_1, override fp32 -> fp16 */
    cr_assert_eq(keys_handle(&v, s, 'o', &c), KA_CMD);
    cr_assert_eq(c.kind, CMD_SET_OVERRIDE);
    cr_assert_eq(c.arg, DT_F16);
    cr_assert_str_eq(c.name, "h.0.ln_1");
    cr_assert_eq(keys_next_override(-1, LK_LN), DT_F32);
    cr_assert_eq(keys_next_override(DT_BF16, LK_LN), -1);
    s->n_layers = 0;
    cr_assert_eq(keys_handle(&v, s, 'o', &c), KA_REDRAW);
    cr_assert(v.msg_is_error);
    free(s);
}

Test(keys, view_help_and_quit)
{
    feed_snapshot *s = make_snap();
    ui_view v;
    view_init(&v, 0);
    feed_cmd c;
    cr_assert_eq(keys_handle(&v, s, 'l', &c), KA_REDRAW);
    cr_assert_eq(v.log_scale, 1);
    cr_assert_eq(keys_handle(&v, s, ']', &c), KA_REDRAW);
    cr_assert_float_eq(v.smooth, 0.65, 1e-9);
    for (int i = 0; i < 30; i++) keys_handle(&v, s, '[', &c);
    cr_assert_eq(v.smooth, 0.0);
    for (int i = 0; i < 30; i++) keys_handle(&v, s, ']', &c);
    cr_assert_float_eq(v.smooth, 0.99, 1e-9);
    keys_handle(&v, s, KEY_DOWN, &c);
    cr_assert_eq(v.selected, 1);
    cr_assert_eq(keys_handle(&v, s, '?', &c), KA_REDRAW);
    cr_assert_eq(v.help, 1);
    cr_assert_eq(keys_handle(&v, s, 'q', &c), KA_REDRAW); /* any key closes help */
    cr_assert_eq(v.help, 0);
    cr_assert_eq(keys_handle(&v, s, KEY_F(1), &c), KA_REDRAW);
    cr_assert_eq(keys_handle(&v, s, KEY_CTRL_C, &c), KA_QUIT); /* even with help open */
    v.help = 0;
    cr_assert_eq(keys_handle(&v, s, 'q', &c), KA_QUIT);
    cr_assert_eq(keys_handle(&v, s, KEY_F(10), &c), KA_QUIT);
    cr_assert_eq(keys_handle(&v, s, 'z', &c), KA_NONE);
    free(s);
}

Test(fmt, si_and_duration)
{
    char b[32];
    fmt_si(950, b, sizeof b);
    cr_assert_str_eq(b, "950");
    fmt_si(11234, b, sizeof b);
    cr_assert_str_eq(b, "11.2k");
    fmt_si(3.4e6, b, sizeof b);
    cr_assert_str_eq(b, "3.40M");
    fmt_si(999999, b, sizeof b);
    cr_assert_str_eq(b, "1.00M");
    fmt_si(-1, b, sizeof b);
    cr_assert_str_eq(b, "-");
    fmt_duration(42, b, sizeof b);
    cr_assert_str_eq(b, "42s");
    fmt_duration(365, b, sizeof b);
    cr_assert_str_eq(b, "6m05s");
    fmt_duration(7380, b, sizeof b);
    cr_assert_str_eq(b, "2h03m");
    fmt_duration(200000, b, sizeof b);
    cr_assert_str_eq(b, "2d07h");
    fmt_duration(-1, b, sizeof b);
    cr_assert_str_eq(b, "--");
}

/* Each dtype's colour comes from its table role; an invalid dtype draws as fp32. */
Test(panels, dtype_color_follows_the_table_role)
{
    static const int want[DT_ROLE_COUNT] = {UC_FP32, UC_FP16, UC_BF16, UC_FP8};
    for (int d = 0; d < DT_COUNT; d++)
        cr_assert_eq(panel_dtype_color((dtype_t)d), want[dtype_info_of((dtype_t)d)->role], "%s",
                     dtype_name((dtype_t)d));
    cr_assert_eq(panel_dtype_color(DT_F16), UC_FP16);
    cr_assert_eq(panel_dtype_color(DT_BF16), UC_BF16);
    cr_assert_eq(panel_dtype_color(DT_FP8), UC_FP8);
    cr_assert_eq(panel_dtype_color(DT_COUNT), UC_FP32);
    for (int a = 0; a < DT_COUNT; a++) /* every mode its own colour */
        for (int b = a + 1; b < DT_COUNT; b++)
            cr_assert_neq(panel_dtype_color((dtype_t)a), panel_dtype_color((dtype_t)b));
}

/* m walks the table's next links through every dtype and back; o does the same on a Linear
 * row with inherit where the cycle would start again. */
Test(keys, mode_and_override_cycles_visit_every_dtype)
{
    int seen[DT_COUNT] = {0};
    dtype_t m = DT_F32;
    for (int k = 0; k < DT_COUNT; k++) {
        seen[m]++;
        cr_assert_eq(keys_next_mode(m), dtype_info_of(m)->next);
        m = keys_next_mode(m);
    }
    cr_assert_eq(m, DT_F32);
    for (int d = 0; d < DT_COUNT; d++) cr_assert_eq(seen[d], 1, "%s", dtype_name((dtype_t)d));
    cr_assert_eq(keys_next_mode(DT_COUNT), DT_F32);
    int ov = -1, order[DT_COUNT + 1], n = 0;
    do {
        order[n++] = ov;
        ov = keys_next_override(ov, LK_LINEAR);
    } while (ov != -1 && n <= DT_COUNT);
    cr_assert_eq(ov, -1);
    cr_assert_eq(n, DT_COUNT + 1);
    cr_assert(order[1] == DT_F32 && order[2] == DT_F16 && order[3] == DT_BF16 &&
              order[4] == DT_FP8);
    cr_assert_eq(keys_next_override(DT_COUNT, LK_LINEAR), -1);
}

/* o skips what a row refuses: FP8 everywhere but Linear rows, all but FP32 on the
 * embeddings and the loss (prec_kind_accepts). */
Test(keys, override_cycle_follows_the_row_kind)
{
    static const layer_kind no_fp8[] = {LK_LN, LK_ATTN, LK_GELU};
    for (size_t k = 0; k < sizeof no_fp8 / sizeof no_fp8[0]; k++) {
        cr_assert_eq(keys_next_override(-1, no_fp8[k]), DT_F32);
        cr_assert_eq(keys_next_override(DT_F32, no_fp8[k]), DT_F16);
        cr_assert_eq(keys_next_override(DT_F16, no_fp8[k]), DT_BF16);
        cr_assert_eq(keys_next_override(DT_BF16, no_fp8[k]), -1, "kind %d skips fp8", (int)no_fp8[k]);
        cr_assert_eq(keys_next_override(DT_FP8, no_fp8[k]), -1);
    }
    cr_assert_eq(keys_next_override(DT_BF16, LK_LINEAR), DT_FP8);
    cr_assert_eq(keys_next_override(DT_FP8, LK_LINEAR), -1);
    for (int k = 0; k < 2; k++) {
        layer_kind fixed = k ? LK_LOSS : LK_EMBED;
        cr_assert_eq(keys_next_override(-1, fixed), DT_F32);
        cr_assert_eq(keys_next_override(DT_F32, fixed), -1);
    }
    /* through the key: the selected row's kind decides */
    feed_snapshot *s = make_snap();
    ui_view v;
    view_init(&v, 0);
    feed_cmd c;
    v.selected = 3; /* h.0.attn.c_attn */
    s->layers[3].override = DT_BF16;
    cr_assert_eq(keys_handle(&v, s, 'o', &c), KA_CMD);
    cr_assert(c.kind == CMD_SET_OVERRIDE && c.arg == DT_FP8);
    cr_assert_str_eq(v.msg, "override h.0.attn.c_attn -> FP8");
    v.selected = 2; /* h.0.ln_1 */
    s->layers[2].override = DT_BF16;
    cr_assert_eq(keys_handle(&v, s, 'o', &c), KA_CMD);
    cr_assert_eq(c.arg, -1);
    cr_assert_str_eq(v.msg, "override h.0.ln_1 -> inherit");
    v.selected = 0; /* wte: fp32 or inherit */
    s->layers[0].override = DT_F32;
    cr_assert_eq(keys_handle(&v, s, 'o', &c), KA_CMD);
    cr_assert_eq(c.arg, -1);
    free(s);
}

/* ---- FP8 rows in the precision map ---- */

/* make_snap with h.0.attn.c_attn in FP8 under the default recipe: bf16 around it, its three
 * casts with scales 2^-3 (input), 112 (weight), 2^20 (grad, E5M2). */
static feed_snapshot *make_fp8_snap(void)
{
    feed_snapshot *s = make_snap();
    s->mode = DT_FP8;
    fp8_recipe_default(&s->fp8);
    s->fp8_known = 1;
    feed_layer *l = &s->layers[3];
    l->fp8 = 1;
    l->w = l->act = l->grad = DT_BF16;
    l->grad_ovf = 0;
    static const feed_fp8 c[FP8_TENSORS] = {
        {FP8_E4M3, 0.125f, 3584.0f, 3000.0f, 0.5, 0, 0.0, 1},
        {FP8_E4M3, 112.0f, 4.0f, 3.5f, 0.0, 0, 0.0, 1},
        {FP8_E5M2, 0x1p20f, 0x1p-6f, 0x1p-7f, 12.25, 0, 0.0, 1},
    };
    memcpy(l->cast, c, sizeof c);
    return s;
}

/* The FP8 row says FP8 in the weight column, in FP8's colour; selected, its casts follow it,
 * one line each; the title names the recipe. */
Test(panels, fp8_row_shows_its_casts_when_selected)
{
    feed_snapshot *s = make_fp8_snap();
    ui_view v;
    view_init(&v, 0);
    v.selected = 3;
    ui_grid g;
    char buf[256];
    cr_assert_eq(grid_init(&g, 120, 12), 0);
    panel_map(&g, (ui_rect){0, 0, 120, 12}, s, &v);
    cr_assert(grid_find(&g, "Precision map  mode FP8 (delayed, hybrid, hist 1024, margin 0)  * = "
                            "override", NULL, NULL));
    row_of(&g, 5, buf, sizeof buf);
    cr_assert(strstr(buf, "h.0.attn.c_attn") && strstr(buf, "FP8  BF16 BF16"), "%s", buf);
    int x, y;
    cr_assert(grid_find(&g, "FP8  BF16", &x, &y));
    cr_assert_eq(y, 5);
    cr_assert_eq(grid_cell(&g, x, y)->color, UC_FP8);
    cr_assert(grid_cell(&g, x, y)->attr & UA_BOLD);
    cr_assert_eq(grid_cell(&g, x + 5, y)->color, UC_BF16);
    row_of(&g, 6, buf, sizeof buf);
    cr_assert(strstr(buf, "   input   E4M3  amax     3e+03  sat   0.00%  uf   0.50%  scale 2^-3  "
                          "   hist max  3.58e+03"), "%s", buf);
    row_of(&g, 7, buf, sizeof buf);
    cr_assert(strstr(buf, "weight  E4M3  amax       3.5  sat   0.00%  uf   0.00%  scale 112    "
                          "  hist max         4"), "%s", buf);
    row_of(&g, 8, buf, sizeof buf);
    cr_assert(strstr(buf, "grad    E5M2  amax   0.00781  sat   0.00%  uf  12.25%  scale 2^20  "
                          "   hist max    0.0156"), "%s", buf);
    cr_assert(grid_find(&g, "E5M2", &x, &y));
    cr_assert_eq(grid_cell(&g, x, y)->color, UC_FP8);
    cr_assert(!(grid_cell(&g, x, y)->attr & UA_REVERSE), "only the row itself is selected");
    row_of(&g, 9, buf, sizeof buf);
    cr_assert(strstr(buf, "h.0.attn "), "the next row after the casts: %s", buf);
    /* not selected: no cast lines */
    v.selected = 2;
    grid_clear(&g);
    panel_map(&g, (ui_rect){0, 0, 120, 12}, s, &v);
    cr_assert(!grid_find(&g, "E4M3", NULL, NULL));
    row_of(&g, 6, buf, sizeof buf);
    cr_assert(strstr(buf, "h.0.attn "), "%s", buf);
    grid_free(&g);
    free(s);
}

/* A saturating cast turns the row red and its sat field bold red; the scale and the saturations
 * of an MXFP8 run read "blocks"; without a logged step the stats read "-". */
Test(panels, fp8_saturation_mxfp8_and_no_stats)
{
    feed_snapshot *s = make_fp8_snap();
    ui_view v;
    view_init(&v, 0);
    v.selected = 3;
    feed_layer *l = &s->layers[3];
    l->cast[FP8_T_GRAD].ovf = 7, l->cast[FP8_T_GRAD].ovf_pct = 1.75;
    cr_assert_eq(panel_layer_unhealthy(l), 1);
    ui_grid g;
    char buf[256];
    cr_assert_eq(grid_init(&g, 120, 12), 0);
    panel_map(&g, (ui_rect){0, 0, 120, 12}, s, &v);
    int x, y;
    cr_assert(grid_find(&g, "sat   1.75%", &x, &y));
    cr_assert_eq(y, 8);
    cr_assert_eq(grid_cell(&g, x, y)->color, UC_BAD);
    cr_assert(grid_find(&g, "h.0.attn.c_attn", &x, &y));
    cr_assert_eq(grid_cell(&g, x, y)->color, UC_BAD);
    s->fp8.kind = FP8_MXFP8;
    for (int t = 0; t < FP8_TENSORS; t++) l->cast[t].valid = 0, l->cast[t].hist_max = 0;
    cr_assert_eq(panel_layer_unhealthy(l), 0, "saturations of no logged step");
    grid_clear(&g);
    panel_map(&g, (ui_rect){0, 0, 120, 12}, s, &v);
    cr_assert(grid_find(&g, "mode FP8 (mxfp8, hybrid)  *", NULL, NULL));
    row_of(&g, 6, buf, sizeof buf);
    cr_assert(strstr(buf, "input   E4M3  amax         -  sat       -  uf       -  scale blocks "
                          "  hist max         -"), "%s", buf);
    /* mptui view: no recipe known, a saturation count without the total */
    s->fp8_known = 0;
    l->cast[FP8_T_GRAD].valid = 1, l->cast[FP8_T_GRAD].ovf_pct = NAN;
    grid_clear(&g);
    panel_map(&g, (ui_rect){0, 0, 120, 12}, s, &v);
    cr_assert(grid_find(&g, "Precision map  mode FP8  * = override", NULL, NULL));
    cr_assert(grid_find(&g, "scale 2^20 ", NULL, NULL), "a scale is a scale without a recipe");
    cr_assert(grid_find(&g, "sat       7", NULL, NULL));
    grid_free(&g);
    free(s);
}

/* FP8 rows under another mode (an override) name the recipe as FP8 rows'; the title of a
 * comparison replica too. */
Test(panels, fp8_title_for_overrides_and_replicas)
{
    feed_snapshot *s = make_fp8_snap();
    s->mode = DT_BF16;
    s->fp8.history_len = 16, s->fp8.margin = 2, s->fp8.algo = FP8_AMAX_MOST_RECENT;
    ui_view v;
    view_init(&v, 0);
    ui_grid g;
    cr_assert_eq(grid_init(&g, 160, 12), 0);
    panel_map(&g, (ui_rect){0, 0, 160, 12}, s, &v);
    cr_assert(grid_find(&g, "Precision map  mode BF16, FP8 rows (delayed, hybrid, hist 16, margin 2,"
                            " most_recent)  * = override", NULL, NULL));
    s->n_replicas = 2;
    s->fp8.kind = FP8_CURRENT;
    s->fp8.format = FP8_ALL_E4M3;
    grid_clear(&g);
    panel_map(&g, (ui_rect){0, 0, 160, 12}, s, &v);
    cr_assert(grid_find(&g, "Precision map  replica BF16, FP8 rows (current, e4m3, margin 2) "
                            "(Tab: next)  * = override", NULL, NULL));
    s->layers[3].fp8 = 0; /* no FP8 anywhere: no recipe */
    grid_clear(&g);
    panel_map(&g, (ui_rect){0, 0, 160, 12}, s, &v);
    cr_assert(grid_find(&g, "Precision map  replica BF16 (Tab: next)  * = override", NULL, NULL));
    grid_free(&g);
    free(s);
}

/* On an 80-column screen the cast lines drop fields from the right (the history max first),
 * never past the frame. */
Test(panels, fp8_cast_lines_fit_narrow_maps)
{
    feed_snapshot *s = make_fp8_snap();
    ui_view v;
    view_init(&v, 0);
    v.selected = 3;
    ui_grid g;
    char buf[256];
    cr_assert_eq(grid_init(&g, 80, 12), 0);
    panel_map(&g, (ui_rect){0, 0, 80, 12}, s, &v);
    row_of(&g, 6, buf, sizeof buf);
    cr_assert(strstr(buf, "input   E4M3  amax     3e+03  sat   0.00%  uf   0.50%  scale 2^-3"),
              "%s", buf);
    cr_assert(!strstr(buf, "hist"), "%s", buf);
    for (int y = 6; y <= 8; y++) cr_assert_eq(grid_cell(&g, 79, y)->ch, '|', "frame kept, line %d", y);
    grid_free(&g);
    cr_assert_eq(grid_init(&g, 60, 12), 0);
    panel_map(&g, (ui_rect){0, 0, 60, 12}, s, &v);
    row_of(&g, 6, buf, sizeof buf);
    cr_assert(strstr(buf, "input   E4M3  amax     3e+03  sat   0.00%  uf   0.50%") &&
              !strstr(buf, "scale"), "%s", buf);
    grid_free(&g);
    free(s);
}

/* The selection keeps its cast lines on the page: at the bottom the map scrolls three more. */
Test(panels, fp8_cast_lines_scroll_with_the_selection)
{
    feed_snapshot *s = make_fp8_snap();
    ui_view v;
    view_init(&v, 0);
    v.selected = 3;
    ui_grid g;
    cr_assert_eq(grid_init(&g, 100, 8), 0); /* 5 lines: the row, its 3 casts and one more */
    panel_map(&g, (ui_rect){0, 0, 100, 8}, s, &v);
    cr_assert_eq(v.scroll, 2);
    cr_assert_eq(v.map_page, 5);
    char buf[256];
    grid_row_text(&g, 3, buf, sizeof buf);
    cr_assert(strstr(buf, "h.0.attn.c_attn"), "%s", buf);
    grid_row_text(&g, 6, buf, sizeof buf);
    cr_assert(strstr(buf, "grad    E5M2"), "%s", buf);
    cr_assert(grid_find(&g, "rows 3-4 of 5", NULL, NULL));
    grid_free(&g);
    /* a page with no room besides the row: no cast lines, the row stays */
    cr_assert_eq(grid_init(&g, 100, 6), 0);
    panel_map(&g, (ui_rect){0, 0, 100, 6}, s, &v);
    cr_assert(grid_find(&g, "h.0.attn.c_attn", NULL, NULL));
    cr_assert(!grid_find(&g, "E4M3", NULL, NULL));
    grid_free(&g);
    free(s);
}

Test(panels, fp8_scale_and_recipe_words)
{
    char b[32];
    cr_assert_str_eq(panel_fp8_scale(0.125f, 0, b, sizeof b), "2^-3");
    cr_assert_str_eq(panel_fp8_scale(1.0f, 0, b, sizeof b), "2^0");
    cr_assert_str_eq(panel_fp8_scale(0x1p20f, 0, b, sizeof b), "2^20");
    cr_assert_str_eq(panel_fp8_scale(0x1p-149f, 0, b, sizeof b), "2^-149"); /* subnormal */
    cr_assert_str_eq(panel_fp8_scale(112.0f, 0, b, sizeof b), "112");
    cr_assert_str_eq(panel_fp8_scale(448.0f / 3.0f, 0, b, sizeof b), "149.3");
    cr_assert_str_eq(panel_fp8_scale(0.75f, 0, b, sizeof b), "0.75");
    cr_assert_str_eq(panel_fp8_scale(0.0f, 0, b, sizeof b), "-");
    cr_assert_str_eq(panel_fp8_scale(-2.0f, 0, b, sizeof b), "-");
    cr_assert_str_eq(panel_fp8_scale(NAN, 0, b, sizeof b), "-");
    cr_assert_str_eq(panel_fp8_scale(INFINITY, 0, b, sizeof b), "-");
    cr_assert_str_eq(panel_fp8_scale(0.125f, 1, b, sizeof b), "blocks");
    fp8_recipe r;
    char w[96];
    fp8_recipe_default(&r);
    cr_assert_str_eq(panel_fp8_recipe(&r, w, sizeof w), "delayed, hybrid, hist 1024, margin 0");
    r.kind = FP8_CURRENT, r.margin = 1;
    cr_assert_str_eq(panel_fp8_recipe(&r, w, sizeof w), "current, hybrid, margin 1");
    r.kind = FP8_MXFP8, r.format = FP8_ALL_E4M3;
    cr_assert_str_eq(panel_fp8_recipe(&r, w, sizeof w), "mxfp8, e4m3");
}

/* The m key's message names the next mode by its label. */
Test(keys, mode_message_uses_the_label)
{
    feed_snapshot *s = make_snap();
    ui_view v;
    view_init(&v, 0);
    feed_cmd c;
    s->mode = DT_BF16;
    cr_assert_eq(keys_handle(&v, s, 'm', &c), KA_CMD);
    cr_assert_eq(c.arg, DT_FP8);
    cr_assert_str_eq(v.msg, "mode -> FP8 (applies at the next step)");
    s->mode = DT_FP8;
    cr_assert_eq(keys_handle(&v, s, 'm', &c), KA_CMD);
    cr_assert_eq(c.arg, DT_F32);
    cr_assert_str_eq(v.msg, "mode -> FP32 (applies at the next step)");
    free(s);
}

/* A data-parallel run's all-reduce row: no weight, no activation, the wire dtype for the
 * gradient; its overflows mark it unhealthy; `o` on it explains instead of overriding. */
Test(panels, comm_row_of_the_gradient_all_reduce)
{
    feed_snapshot *s = make_snap();
    num_stats w = {70000.0f, 0.5f, 100, 3, 0, 0};
    feed_layer_fill_comm(&s->layers[s->n_layers++], DT_F16, &w);
    ui_view v;
    view_init(&v, 0);
    v.selected = 0;
    ui_grid g;
    cr_assert_eq(grid_init(&g, 100, 9), 0);
    panel_map(&g, (ui_rect){0, 0, 100, 9}, s, &v);
    char buf[256];
    row_of(&g, 7, buf, sizeof buf);
    cr_assert(strstr(buf, "ddp grad all-reduce") && strstr(buf, " -    -    FP16") &&
              strstr(buf, "7e+04") && strstr(buf, "    3"), "%s", buf);
    cr_assert(strstr(buf, "12.5") == NULL, "no activation numbers: %s", buf);
    int x, y;
    cr_assert(grid_find(&g, "ddp grad all-reduce", &x, &y));
    cr_assert_eq(grid_cell(&g, x, y)->color, UC_BAD);
    grid_free(&g);
    feed_cmd c;
    v.selected = s->n_layers - 1;
    cr_assert_eq(keys_handle(&v, s, 'o', &c), KA_REDRAW);
    cr_assert(v.msg_is_error);
    cr_assert(strstr(v.msg, "--ddp_comm_dtype") != NULL, "%s", v.msg);
    free(s);
}
