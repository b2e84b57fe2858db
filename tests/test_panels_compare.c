/* Tests for src/ui/panels_compare.c (and the comparison parts of keys, history, layout): the
 * comparison screen at 80x24 and larger, legend and selection, divergence line, picker keys. */
#include <criterion/criterion.h>
#include <curses.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "history.h"
#include "keys.h"
#include "layout.h"
#include "panels_compare.h"

static feed_snapshot *make_cmp(int n)
{
    feed_snapshot *s = calloc(1, sizeof *s);
    s->n_layer = 2, s->n_head = 2, s->n_embd = 64;
    s->max_steps = 400, s->step = 60, s->state = RUN_RUNNING;
    static const dtype_t modes[3] = {DT_F16, DT_BF16, DT_F32};
    s->n_replicas = n;
    s->replica_selected = 0;
    for (int i = 0; i < n; i++) {
        feed_replica *r = &s->replicas[i];
        snprintf(r->name, sizeof r->name, "%s", dtype_name(modes[i]));
        r->mode = modes[i];
        r->scaler_enabled = i == 0, r->scaler_dynamic = 1;
        r->loss_scale = i == 0 ? 65536 : 1;
        r->last_overflow_step = -1;
        r->have_eval = 1, r->eval_step = 50, r->eval_loss = 2.5 + 0.01 * i, r->eval_ppl = exp(r->eval_loss);
    }
    s->replicas[0].overflow_total = 2, s->replicas[0].last_overflow_step = 40;
    s->mode = DT_F16, s->scaler_enabled = 1, s->scaler_dynamic = 1, s->loss_scale = 65536;
    s->div_step = 60;
    s->n_div = n == 3 ? 3 : 1;
    for (int k = 0; k < s->n_div; k++) {
        s->div[k] = (feed_div){0, k + 1 < n ? k + 1 : 1, 0.0123, 1.5e-3, 0.98, 0.93, "h.1.mlp.c_fc"};
    }
    for (int i = 0; i < 21; i++) {
        snprintf(s->layers[i].name, sizeof s->layers[i].name, "row%d", i);
        s->layers[i].override = -1;
    }
    s->n_layers = 21;
    return s;
}

static void fill_history(ui_history *h, int n)
{
    cr_assert_eq(history_init(h), 0);
    static const char *names[3] = {"fp16", "bf16", "fp32"};
    for (int step = 5; step <= 60; step += 5)
        for (int i = 0; i < n; i++) {
            metric_row r;
            metric_row_init(&r, MR_TRAIN, step);
            r.loss = 5.0 - 0.05 * step + 0.01 * i;
            r.loss_scale = i == 0 ? 65536 : 1;
            snprintf(r.replica, sizeof r.replica, "%s", names[i]);
            history_ingest(h, &r, 1);
        }
}

static int screen_has(const ui_grid *g, const char *needle)
{
    char row[1024];
    for (int y = 0; y < g->h; y++) {
        grid_row_text(g, y, row, sizeof row);
        if (strstr(row, needle)) return 1;
    }
    return 0;
}

static void check_screen(int w, int h, int n)
{
    feed_snapshot *s = make_cmp(n);
    ui_history hist;
    fill_history(&hist, n);
    ui_grid g;
    ui_view v;
    view_init(&v, 1);
    cr_assert_eq(grid_init(&g, w, h), 0);
    panels_draw(&g, s, &hist, &v);
    cr_assert(screen_has(&g, "\xe2\x97\x8f[FP16] \xe2\x96\xb2 BF16"), "legend at %dx%d", w, h);
    if (n == 3) cr_assert(screen_has(&g, "\xe2\x96\xa0 FP32"), "third replica at %dx%d", w, h);
    cr_assert(screen_has(&g, "BF16-FP16  dloss +0.0123  dW 1.50e-03  cos 0.9800  min 0.9300 h.1.mlp.c_fc"),
              "divergence line at %dx%d", w, h);
    cr_assert(screen_has(&g, "Divergence @60"));
    cr_assert(screen_has(&g, "FP16 (dynamic)  vs BF16"));
    cr_assert(screen_has(&g, "2^16 ovf 2 @40"));
    cr_assert(screen_has(&g, "BF16 no scaling ovf 0"));
    cr_assert(screen_has(&g, "BF16 2.5100 ppl"), "eval per replica at %dx%d", w, h);
    cr_assert(screen_has(&g, "Precision map  replica FP16"));
    cr_assert(screen_has(&g, "row0"), "the map keeps a row at %dx%d", w, h);
    cr_assert(screen_has(&g, "c end compare"));
    cr_assert(screen_has(&g, "Tab replica"));
    cr_assert(screen_has(&g, "q quit"), "footer fits at %dx%d", w, h);
    /* the curves carry their mode's color */
    int found16 = 0, found_bf = 0;
    ui_layout l;
    layout_compute_compare(&l, w, h, n, s->n_div);
    ui_rect in = rect_inner(l.r[P_LOSS]);
    for (int y = in.y; y < in.y + in.h - 1; y++)
        for (int x = in.x + 8; x < in.x + in.w; x++) {
            const ui_cell *c = grid_cell(&g, x, y);
            found16 |= c->ch != ' ' && c->color == UC_FP16;
            found_bf |= c->ch != ' ' && c->color == UC_BF16;
        }
    cr_assert(found16 && found_bf, "both curves drawn at %dx%d", w, h);
    /* selection moves the brackets; ASCII markers without Unicode */
    s->replica_selected = 1;
    v.unicode = 0;
    panels_draw(&g, s, &hist, &v);
    cr_assert(screen_has(&g, "o FP16 +[BF16]"), "ascii legend at %dx%d", w, h);
    grid_free(&g);
    history_free(&hist);
    free(s);
}

Test(panels_compare, screen_80x24_two_replicas) { check_screen(80, 24, 2); }
Test(panels_compare, screen_80x24_three_replicas) { check_screen(80, 24, 3); }
Test(panels_compare, screen_160x50_uses_the_space)
{
    check_screen(160, 50, 3);
    ui_layout a, b;
    layout_compute_compare(&a, 80, 24, 3, 3);
    layout_compute_compare(&b, 160, 50, 3, 3);
    cr_assert_gt(b.r[P_MAP].h, a.r[P_MAP].h);
    cr_assert_gt(b.r[P_LOSS].w * b.r[P_LOSS].h, a.r[P_LOSS].w * a.r[P_LOSS].h);
}

Test(panels_compare, help_lists_c_and_tab)
{
    ui_grid g;
    ui_view v;
    view_init(&v, 1);
    cr_assert_eq(grid_init(&g, 80, 24), 0);
    panel_help(&g, &v);
    cr_assert(screen_has(&g, "compare: fork into replicas / end, keep selected"));
    cr_assert(screen_has(&g, "select the next replica while comparing"));
    cr_assert(screen_has(&g, "press any key to close"), "the overlay still fits 80x24");
    grid_free(&g);
}

Test(panels_compare, waiting_and_no_eval)
{
    feed_snapshot *s = make_cmp(2);
    s->div_step = -1;
    s->replicas[1].have_eval = 0;
    ui_history hist;
    cr_assert_eq(history_init(&hist), 0);
    ui_grid g;
    ui_view v;
    view_init(&v, 1);
    cr_assert_eq(grid_init(&g, 80, 24), 0);
    panels_draw(&g, s, &hist, &v);
    cr_assert(screen_has(&g, "waiting for the first logged step"));
    cr_assert(screen_has(&g, "at the next logged step"));
    cr_assert(screen_has(&g, "BF16 no eval yet (e)"));
    grid_free(&g);
    history_free(&hist);
    free(s);
}

Test(panels_compare, history_files_replicas_and_restarts)
{
    ui_history h;
    fill_history(&h, 2);
    cr_assert_eq(h.nrep, 2);
    cr_assert_eq(h.loss.n, 0);
    int k = history_replica(&h, "bf16");
    cr_assert_eq(k, 1);
    cr_assert_eq(h.rep[k].loss.n, 12);
    cr_assert_float_eq(h.rep[k].loss.y[0], 5.0 - 0.25 + 0.01, 1e-12);
    cr_assert_eq(h.rep[0].scale_log2.y[0], 16);
    cr_assert_eq(history_replica(&h, "fp32"), -1);
    /* a plain row ends the comparison; the next replica row starts a new one */
    metric_row r;
    metric_row_init(&r, MR_TRAIN, 65);
    r.loss = 1.0;
    history_ingest(&h, &r, 1);
    cr_assert_eq(h.loss.n, 1);
    snprintf(r.replica, sizeof r.replica, "fp32");
    r.step = 70;
    history_ingest(&h, &r, 1);
    cr_assert_eq(h.nrep, 1);
    cr_assert_str_eq(h.rep[0].name, "fp32");
    cr_assert_eq(h.rep[0].loss.n, 1);
    cr_assert_eq(history_replica(&h, "bf16"), -1);
    history_free(&h);
}

Test(panels_compare, keys_picker_select_and_stop)
{
    feed_snapshot *s = make_cmp(2);
    ui_view v;
    view_init(&v, 1);
    feed_cmd c;
    ui_grid g;
    cr_assert_eq(grid_init(&g, 80, 24), 0);
    ui_history hist;
    cr_assert_eq(history_init(&hist), 0);
    /* while comparing: c ends it keeping the selected replica, Tab / Shift-Tab select */
    s->replica_selected = 1;
    cr_assert_eq(keys_handle(&v, s, 'c', &c), KA_CMD);
    cr_assert_eq(c.kind, CMD_COMPARE_STOP);
    cr_assert_eq(c.arg, 1);
    cr_assert_str_eq(v.msg, "ending the comparison, keeping BF16");
    cr_assert_eq(keys_handle(&v, s, '\t', &c), KA_CMD);
    cr_assert(c.kind == CMD_COMPARE_SELECT && c.arg == 0);
    cr_assert_eq(keys_handle(&v, s, KEY_BTAB, &c), KA_CMD);
    cr_assert(c.kind == CMD_COMPARE_SELECT && c.arg == 0);
    cr_assert_eq(keys_handle(&v, s, 'm', &c), KA_REDRAW);
    cr_assert(v.msg_is_error);
    /* not comparing: c opens the picker on the message line */
    s->n_replicas = 0;
    s->mode = DT_F16;
    cr_assert_eq(keys_handle(&v, s, '\t', &c), KA_NONE);
    cr_assert_eq(keys_handle(&v, s, 'c', &c), KA_REDRAW);
    cr_assert_eq(v.picker, 1);
    panels_draw(&g, s, &hist, &v);
    /* at 80 columns the choices fit, the hint does not */
    cr_assert(screen_has(&g, "compare FP16 with: 1 FP32  2 BF16  3 FP8  4 FP32+BF16  5 FP32+FP8  "
                             "6 BF16+FP8"));
    cr_assert(!screen_has(&g, "cancels"));
    cr_assert(screen_has(&g, "c compare"));
    cr_assert_eq(keys_handle(&v, s, KEY_RESIZE, &c), KA_REDRAW);
    cr_assert_eq(v.picker, 1, "a resize keeps the picker");
    cr_assert_eq(keys_handle(&v, s, '2', &c), KA_CMD);
    cr_assert_eq(v.picker, 0);
    cr_assert(c.kind == CMD_COMPARE_START && c.arg == 1 << DT_BF16);
    cr_assert_str_eq(v.msg, "starting a comparison: FP16 vs BF16");
    keys_handle(&v, s, 'c', &c);
    cr_assert_eq(keys_handle(&v, s, '1', &c), KA_CMD);
    cr_assert_eq(c.arg, 1 << DT_F32);
    keys_handle(&v, s, 'c', &c);
    cr_assert_eq(keys_handle(&v, s, '3', &c), KA_CMD);
    cr_assert_eq(c.arg, 1 << DT_FP8);
    cr_assert_str_eq(v.msg, "starting a comparison: FP16 vs FP8");
    keys_handle(&v, s, 'c', &c);
    cr_assert_eq(keys_handle(&v, s, '4', &c), KA_CMD);
    cr_assert_eq(c.arg, (1 << DT_F32) | (1 << DT_BF16));
    cr_assert_str_eq(v.msg, "starting a comparison: FP16 vs FP32+BF16");
    keys_handle(&v, s, 'c', &c);
    cr_assert_eq(keys_handle(&v, s, '6', &c), KA_CMD);
    cr_assert_eq(c.arg, (1 << DT_BF16) | (1 << DT_FP8));
    keys_handle(&v, s, 'c', &c);
    cr_assert_eq(keys_handle(&v, s, '7', &c), KA_REDRAW, "past the last choice cancels");
    cr_assert_str_eq(v.msg, "compare cancelled");
    keys_handle(&v, s, 'c', &c);
    cr_assert_eq(keys_handle(&v, s, '0', &c), KA_REDRAW);
    cr_assert_eq(v.picker, 0);
    keys_handle(&v, s, 'c', &c);
    cr_assert_eq(keys_handle(&v, s, 'x', &c), KA_REDRAW);
    cr_assert_eq(v.picker, 0);
    cr_assert_str_eq(v.msg, "compare cancelled");
    keys_handle(&v, s, 'c', &c);
    cr_assert_eq(keys_handle(&v, s, KEY_CTRL_C, &c), KA_QUIT);
    grid_free(&g);
    history_free(&hist);
    free(s);
}

/* Every choice fits the lanes a run has: the current mode plus at most FEED_MAX_LANES - 1
 * others, each set once, never the current mode; singles first, in dtype-table order. */
Test(panels_compare, picker_choices_fit_the_lanes)
{
    for (int cur = 0; cur < DT_COUNT; cur++) {
        int c[PANEL_PICKER_MAX], n = panel_picker_choices((dtype_t)cur, c);
        cr_assert_eq(n, (DT_COUNT - 1) + (DT_COUNT - 1) * (DT_COUNT - 2) / 2, "from %s",
                     dtype_name((dtype_t)cur));
        for (int k = 0; k < n; k++) {
            int bits = 0;
            for (int d = 0; d < DT_COUNT; d++) bits += c[k] >> d & 1;
            cr_assert(bits >= 1 && bits <= FEED_MAX_LANES - 1);
            cr_assert_eq(c[k] >> cur & 1, 0, "never the current mode");
            cr_assert_eq(c[k] >> DT_COUNT, 0);
            cr_assert(k == 0 || bits >= 1 + (k >= DT_COUNT - 1), "singles first");
            for (int j = 0; j < k; j++) cr_assert_neq(c[j], c[k]);
        }
    }
    int c[PANEL_PICKER_MAX];
    cr_assert_eq(panel_picker_choices(DT_FP8, c), 6);
    cr_assert(c[0] == 1 << DT_F32 && c[1] == 1 << DT_F16 && c[2] == 1 << DT_BF16);
    cr_assert_eq(c[3], (1 << DT_F32) | (1 << DT_F16));
    char b[64];
    cr_assert_str_eq(panel_picker_label(c[5], b, sizeof b), "FP16+BF16");
    cr_assert_str_eq(panel_picker_label(0, b, sizeof b), "");
    /* from FP8 all six fit 80 columns exactly; narrower, single spaces go first */
    feed_snapshot *s = calloc(1, sizeof *s);
    s->mode = DT_FP8;
    ui_grid g;
    cr_assert_eq(grid_init(&g, 80, 1), 0);
    panel_picker(&g, (ui_rect){0, 0, 80, 1}, s);
    cr_assert(screen_has(&g, "compare FP8 with: 1 FP32  2 FP16  3 BF16  4 FP32+FP16  5 FP32+BF16  "
                             "6 FP16+BF16"));
    grid_free(&g);
    cr_assert_eq(grid_init(&g, 70, 1), 0);
    panel_picker(&g, (ui_rect){0, 0, 70, 1}, s);
    cr_assert(screen_has(&g, "compare FP8 with: 1 FP32 2 FP16 3 BF16 4 FP32+FP16 5 FP32+BF16"));
    grid_free(&g);
    cr_assert_eq(grid_init(&g, 140, 1), 0);
    panel_picker(&g, (ui_rect){0, 0, 140, 1}, s);
    cr_assert(screen_has(&g, "6 FP16+BF16   (any other key cancels)"));
    grid_free(&g);
    free(s);
}

Test(panels_compare, replica_labels_and_glyphs)
{
    feed_replica r = {.name = "fp16", .mode = DT_F16};
    char b[16];
    panel_replica_label(&r, b, sizeof b);
    cr_assert_str_eq(b, "FP16");
    snprintf(r.name, sizeof r.name, "a");
    panel_replica_label(&r, b, sizeof b);
    cr_assert_str_eq(b, "a");
    cr_assert_eq(panel_replica_glyph(0, 1), 0x25cf);
    cr_assert_eq(panel_replica_glyph(1, 1), 0x25b2);
    cr_assert_eq(panel_replica_glyph(2, 0), 'x');
}
