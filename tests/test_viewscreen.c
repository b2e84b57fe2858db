/* test_viewscreen.c — the `mptui view` screen drawn from fixture runs into a grid: overlay
 * legend, runs panel, step cursor values, Tab selection, precision map and divergence from
 * layers.csv / compare.csv, the too-small notice, and the keys. */
#include <criterion/criterion.h>
#include <curses.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "layers_csv.h"
#include "viewscreen.h"

#define FIX MPTUI_SOURCE_DIR "/tests/fixtures/view"

static view_set set;
static viewscreen vs;
static ui_grid g;
static char err[1024];

static void load(const char *a, const char *b)
{
    memset(&set, 0, sizeof set);
    cr_assert_eq(viewrun_add(&set, a, err, sizeof err), 0, "%s", err);
    if (b) cr_assert_eq(viewrun_add(&set, b, err, sizeof err), 0, "%s", err);
    cr_assert_eq(viewscreen_init(&vs, &set, 1), 0);
    cr_assert_eq(grid_init(&g, 100, 30), 0);
}

static void done(void)
{
    viewscreen_free(&vs);
    viewrun_free(&set);
    grid_free(&g);
}

static int has(const char *text)
{
    int x, y;
    return grid_find(&g, text, &x, &y);
}

/* The row holding text, as UTF-8. */
static const char *row_with(const char *text)
{
    static char buf[2048];
    int x, y;
    if (!grid_find(&g, text, &x, &y)) return "";
    grid_row_text(&g, y, buf, sizeof buf);
    return buf;
}

Test(viewscreen, two_runs_overlaid_with_legend_and_eval)
{
    load(FIX "/fp16", FIX "/bf16");
    viewscreen_draw(&vs, &g);
    cr_assert(has(" mptui view "));
    cr_assert(has("2 runs"));
    /* the legend in the loss box's bottom edge names both, the selected one in brackets */
    const char *leg = row_with("[fp16 fp16]");
    cr_assert(strstr(leg, "bf16 bf16"), "%s", leg);
    cr_assert(strstr(leg, "eval"), "%s", leg);
    /* runs panel: last values */
    cr_assert(has("[fp16] loss 4.1626  eval 4.1487 ppl 63.35 @30"), "%s", row_with("[fp16]"));
    cr_assert(has(" bf16 loss 4.1625  eval 4.1488 ppl 63.36 @30"), "%s", row_with(" bf16 loss"));
    /* eval points (U+2022) and both markers are on the chart */
    int dots = 0, m0 = 0, m1 = 0;
    for (int y = 0; y < g.h; y++)
        for (int x = 0; x < 60; x++) {
            const ui_cell *c = grid_cell(&g, x, y);
            dots += c->ch == 0x2022;
            m0 += c->ch == viewscreen_glyph(0, 1) && c->color == viewscreen_color(0);
            m1 += c->ch == viewscreen_glyph(1, 1) && c->color == viewscreen_color(1);
        }
    cr_assert_geq(dots, 3, "eval points drawn");
    cr_assert_geq(m0, 2);
    cr_assert_geq(m1, 2);
    /* the selected run's precision map comes from its layers.csv */
    cr_assert(has("Precision map  mode FP16"));
    cr_assert(has("h.0.attn.c_attn"));
    /* the truncated run's notice shows when it is selected */
    cr_assert_eq(viewscreen_key(&vs, '\t'), 0);
    viewscreen_draw(&vs, &g);
    cr_assert(has("[bf16 bf16]"));
    cr_assert(has("the last line is incomplete"));
    cr_assert(has("no layers yet"));
    done();
}

Test(viewscreen, step_cursor_shows_values_at_a_step)
{
    load(FIX "/fp16", FIX "/bf16");
    cr_assert_eq(viewscreen_key(&vs, KEY_RIGHT), 0);
    cr_assert(vs.cursor);
    cr_assert_eq(vs.cursor_step, 30);
    viewscreen_key(&vs, KEY_LEFT);
    cr_assert_eq(vs.cursor_step, 25);
    viewscreen_draw(&vs, &g);
    cr_assert(has("Runs @step 25"));
    cr_assert(has("cursor @25"));
    cr_assert(has("[fp16] loss 4.3910  eval 4.5557 ppl 95.17 @20"), "%s", row_with("[fp16]"));
    cr_assert(has(" bf16 loss 4.3909  eval 4.5556 ppl 95.16 @20"), "%s", row_with(" bf16 loss"));
    /* the cursor column is reversed inside the chart */
    int rev = 0;
    for (int y = 0; y < g.h; y++)
        for (int x = 0; x < 60; x++) rev += (grid_cell(&g, x, y)->attr & UA_REVERSE) != 0;
    cr_assert_geq(rev, 5);
    for (int i = 0; i < 10; i++) viewscreen_key(&vs, KEY_LEFT);
    cr_assert_eq(vs.cursor_step, 5, "stops at the first logged step");
    viewscreen_key(&vs, 27);
    cr_assert_eq(vs.cursor, 0);
    done();
}

Test(viewscreen, comparison_shows_divergence)
{
    load(FIX "/cmp", NULL);
    viewscreen_draw(&vs, &g);
    cr_assert(has("[cmp:fp16 fp16]"));
    cr_assert(has("cmp:bf16 bf16"));
    cr_assert(has("Divergence @10"));
    const char *row = row_with("BF16-FP16");
    cr_assert(strstr(row, "dloss"), "%s", row);
    cr_assert(strstr(row, "cos 1.0000"), "%s", row);
    done();
}

Test(viewscreen, keys_and_small_screens)
{
    load(FIX "/fp16", FIX "/bf16");
    viewscreen_draw(&vs, &g);
    viewscreen_key(&vs, KEY_DOWN);
    viewscreen_key(&vs, KEY_DOWN);
    vs.snap_for = -1; /* as after a live refresh: the map row stays */
    viewscreen_draw(&vs, &g);
    cr_assert_eq(vs.v.selected, 2);
    cr_assert(strstr(row_with("wpe"), "wpe"));
    viewscreen_key(&vs, '\t');
    cr_assert_eq(vs.v.selected, 0, "Tab: the other run's map from its top");
    viewscreen_key(&vs, KEY_BTAB);
    cr_assert_eq(viewscreen_key(&vs, 'l'), 0);
    cr_assert(vs.v.log_scale);
    viewscreen_key(&vs, ']');
    cr_assert_float_eq(vs.v.smooth, 0.65, 1e-12);
    viewscreen_key(&vs, KEY_BTAB);
    cr_assert_eq(vs.sel, 1);
    viewscreen_key(&vs, '?');
    viewscreen_draw(&vs, &g);
    cr_assert(has("Help: mptui view"));
    cr_assert_eq(viewscreen_key(&vs, 'q'), 0, "a key closes the help first");
    cr_assert_eq(viewscreen_key(&vs, 'q'), 1);
    cr_assert_eq(viewscreen_key(&vs, KEY_CTRL_C), 1);
    cr_assert_eq(grid_resize(&g, 79, 24), 0);
    viewscreen_draw(&vs, &g);
    cr_assert(has("terminal too small"));
    cr_assert_eq(grid_resize(&g, 80, 24), 0);
    viewscreen_draw(&vs, &g);
    cr_assert(has("[bf16 bf16]"));
    done();
}

Test(viewscreen, snapshot_from_layers_rows)
{
    load(FIX "/fp16", NULL);
    feed_snapshot *s = calloc(1, sizeof *s);
    viewscreen_snapshot(&set.run[0], s);
    cr_assert_eq(s->mode, DT_F16);
    cr_assert_eq(s->n_layers, 21);
    cr_assert_str_eq(s->layers[20].name, "loss");
    cr_assert_eq(s->layers[20].act, DT_F32);
    cr_assert_float_eq(s->layers[20].act_amax, 5.78889561f, 0);
    cr_assert_str_eq(s->layers[19].name, "lm_head");
    cr_assert_eq(s->layers[19].grad, DT_F16);
    cr_assert_float_eq(s->layers[19].grad_amax, 127.608147f, 0);
    cr_assert_eq(s->n_div, 0);
    cr_assert_eq(s->div_step, -1);
    free(s);
    done();
}

Test(viewscreen, follows_rows_as_they_arrive)
{
    char dir[64], p[128], text[512];
    snprintf(dir, sizeof dir, "/tmp/mptui-viewscreen-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(p, sizeof p, "%s/metrics.csv", dir);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fprintf(f, "%s\n5,0.1,1,train,fp16,2.5,,,,0,0,,,,\n", metrics_csv_header());
    fclose(f);
    load(p, NULL);
    cr_assert_eq(viewscreen_refresh(&vs), 0);
    viewscreen_draw(&vs, &g);
    cr_assert(has("] loss 2.5000"), "%s", row_with("] loss"));
    f = fopen(p, "a");
    fputs("10,0.2,2,train,fp16,2.25,,,,0,0,,,,\n", f);
    fclose(f);
    cr_assert_eq(viewscreen_refresh(&vs), 1);
    viewscreen_draw(&vs, &g);
    cr_assert(has("] loss 2.2500"), "%s", row_with("] loss"));
    cr_assert(has("steps 10"));
    done();
    snprintf(text, sizeof text, "rm -rf '%s'", dir);
    cr_assert_eq(system(text), 0);
}

/* A run folder in a fresh temporary dir: metrics.csv with one train row, layers.csv with the
 * given rows; loaded into the view (load). dir gets the folder, for rm_run. */
static void run_with_layers(char *dir, size_t dirlen, const char *train_row, const char *rows)
{
    char p[128], l[128];
    snprintf(dir, dirlen, "/tmp/mptui-viewscreen-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(p, sizeof p, "%s/metrics.csv", dir);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fprintf(f, "%s\n%s\n", metrics_csv_header(), train_row);
    fclose(f);
    snprintf(l, sizeof l, "%s/layers.csv", dir);
    f = fopen(l, "w");
    cr_assert_not_null(f);
    fprintf(f, "%s\n%s", layers_csv_header(), rows);
    fclose(f);
    load(p, NULL);
}

static void rm_run(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* A run's FP8 casts in layers.csv make its row an FP8 row of the view's map: FP8 in the wt
 * column and, selected, the casts with their formats and scales (no recipe: the CSV has none;
 * saturations as a count: the CSV has no element counts). */
Test(viewscreen, fp8_rows_from_layers_csv)
{
    char dir[64];
    run_with_layers(dir, sizeof dir, "10,0.1,1,train,fp8,2.5,,,,0,0,,,,",
                    "10,fp8,h.0.ln_1,activation,bf16,3,0,0,9,0,,\n"
                    "10,fp8,h.0.attn.c_attn,activation,bf16,4,0,0,12,0,,\n"
                    "10,fp8,h.0.attn.c_attn,fp8_input,e4m3,4,2,3,12,0,0.125,4\n"
                    "10,fp8,h.0.attn.c_attn,fp8_weight,e4m3,0.5,0.5,0,11,0,112,0.5\n"
                    "10,fp8,h.0.attn.c_attn,fp8_grad,e5m2,0.00390625,25,0,22,1,1048576,"
                    "0.00390625\n");
    feed_snapshot *s = calloc(1, sizeof *s);
    viewscreen_snapshot(&set.run[0], s);
    cr_assert_eq(s->mode, DT_FP8);
    cr_assert_eq(s->fp8_known, 0);
    cr_assert_eq(s->n_layers, 2);
    cr_assert_eq(s->layers[0].fp8, 0);
    const feed_layer *l = &s->layers[1];
    cr_assert(l->fp8 && l->kind == LK_LINEAR);
    cr_assert_eq(l->act, DT_BF16);
    cr_assert_eq(l->act_ovf, 0, "saturations are the casts', not the activation's");
    cr_assert_eq(l->cast[FP8_T_INPUT].format, FP8_E4M3);
    cr_assert_eq(l->cast[FP8_T_INPUT].scale, 0.125f);
    cr_assert_eq(l->cast[FP8_T_INPUT].hist_max, 4.0f);
    cr_assert_eq(l->cast[FP8_T_INPUT].ovf, 3);
    cr_assert(isnan(l->cast[FP8_T_INPUT].ovf_pct));
    cr_assert_eq(l->cast[FP8_T_GRAD].format, FP8_E5M2);
    cr_assert_eq(l->cast[FP8_T_GRAD].uflow_pct, 25);
    cr_assert(l->cast[FP8_T_WEIGHT].valid);
    free(s);
    vs.v.selected = 1;
    viewscreen_draw(&vs, &g);
    cr_assert(has("Precision map  mode FP8  *"));
    cr_assert(strstr(row_with("h.0.attn.c_attn"), "FP8  BF16"), "%s", row_with("h.0.attn.c_attn"));
    cr_assert(strstr(row_with("input   E4M3"), "scale 2^-3 ") &&
              strstr(row_with("input   E4M3"), "sat       3"), "%s", row_with("input   E4M3"));
    cr_assert(has("grad    E5M2  amax   0.00391  sat       0  uf  25.00%  scale 2^20 "), "%s",
              row_with("E5M2"));
    done();
    rm_run(dir);
}

/* A data-parallel run's all-reduce row in layers.csv (docs/dist.md) is the view map's wire
 * row: the comm dtype for the gradient, no activation numbers, its overflows. */
Test(viewscreen, comm_row_from_layers_csv)
{
    char dir[64];
    run_with_layers(dir, sizeof dir, "1,0.1,1,train,fp16,2.5,,,,0,0,,,,",
                    "1,fp16,lm_head,activation,fp16,3,0,0,9,0,,\n"
                    "1,fp16,ddp grad all-reduce,weight_gradient_scaled,fp16,80279.3281,0,9,29.1,"
                    "52,,\n");
    feed_snapshot *s = calloc(1, sizeof *s);
    viewscreen_snapshot(&set.run[0], s);
    cr_assert_eq(s->n_layers, 2);
    const feed_layer *l = &s->layers[1];
    cr_assert_str_eq(l->name, "ddp grad all-reduce");
    cr_assert(l->comm);
    cr_assert_eq(l->grad, DT_F16);
    cr_assert_float_eq(l->grad_amax, 80279.3281f, 0);
    cr_assert_eq(l->grad_ovf, 61, "overflows and non-finite inputs");
    cr_assert_float_eq(l->act_amax, 0.0f, 0);
    free(s);
    viewscreen_draw(&vs, &g);
    cr_assert(strstr(row_with("ddp grad all-reduce"), " -    -    FP16"), "%s",
              row_with("ddp grad all-reduce"));
    done();
    rm_run(dir);
}
