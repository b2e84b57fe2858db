/* viewscreen.c — `mptui view` on the screen: an overlay loss chart with a legend, a runs
 * panel (values at the step cursor), and the selected run's scale history, precision map
 * (panel_map) and divergence (panel_div) fed from its CSV files. Pure drawing; tests call it. */
#include "viewscreen.h"

#include <curses.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chart.h"
#include "health.h"
#include "keys.h"
#include "layers_csv.h"
#include "layout.h"
#include "panels_compare.h"

int viewscreen_color(int i)
{
    static const int col[6] = {UC_FP32, UC_FP16, UC_BF16, UC_GOOD, UC_RAW, UC_BAD};
    return col[i % 6];
}

uint32_t viewscreen_glyph(int i, int unicode)
{
    static const uint32_t uni[8] = {0x25cf, 0x25b2, 0x25a0, 0x25c6, 0x25bc, 0x25c9, 0x25a1, 0x25b3};
    static const uint32_t asc[8] = {'o', '+', 'x', '#', '@', '%', '&', '$'};
    return unicode ? uni[i % 8] : asc[i % 8];
}

/* ---- the selected run as a snapshot ---- */

static feed_layer *layer_for(feed_snapshot *s, const char *name)
{
    for (int i = 0; i < s->n_layers; i++)
        if (!strcmp(s->layers[i].name, name)) return &s->layers[i];
    if (s->n_layers == FEED_MAX_LAYERS) return NULL;
    feed_layer *l = &s->layers[s->n_layers++];
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", name);
    l->override = -1;
    l->act = l->grad = DT_F32;
    l->act_range = l->grad_range = NAN;
    l->valid = 1;
    return l;
}

static int replica_index(feed_snapshot *s, const char *name)
{
    for (int i = 0; i < s->n_replicas; i++)
        if (!strcmp(s->replicas[i].name, name)) return i;
    if (s->n_replicas == FEED_MAX_LANES) return -1;
    feed_replica *r = &s->replicas[s->n_replicas];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    if (dtype_parse(name, &r->mode)) r->mode = DT_F32;
    return s->n_replicas++;
}

/* An FP8 cast's row (fp8_input / fp8_weight / fp8_grad): its tensor, or -1 for other rows. */
static int fp8_tensor_of(const char *tensor)
{
    for (int t = 0; t < FP8_TENSORS; t++)
        if (!strcmp(tensor, health_tensor_name(health_fp8_tensor((fp8_tensor)t)))) return t;
    return -1;
}

/* layers.csv has no element counts: the saturation share is unknown (NAN), the map shows the
 * count instead. */
static void fp8_cast_of(feed_layer *l, int t, const view_layer_row *x)
{
    feed_fp8 *c = &l->cast[t];
    l->fp8 = 1;
    l->kind = LK_LINEAR;
    c->format = x->fp8_format >= 0 ? (fp8_format)x->fp8_format : FP8_E4M3;
    c->scale = isnan(x->scale) ? 0.0f : (float)x->scale;
    c->hist_max = isnan(x->amax_history_max) ? 0.0f : (float)x->amax_history_max;
    c->amax = (float)x->amax;
    c->uflow_pct = x->underflow_pct;
    c->ovf = x->overflow_count;
    c->ovf_pct = NAN;
    c->valid = 1;
}

void viewscreen_snapshot(const view_run *r, feed_snapshot *s)
{
    memset(s, 0, sizeof *s);
    s->div_step = -1;
    const metric_row *last = r->n_train ? &r->train[r->n_train - 1]
                             : r->n_eval ? &r->eval[r->n_eval - 1] : NULL;
    s->mode = last ? last->precision : DT_F32;
    for (size_t k = 0; k < r->n_layers; k++) {
        const view_layer_row *x = &r->layers[k];
        feed_layer *l = layer_for(s, x->layer);
        if (!l) break;
        int64_t bad = x->overflow_count + x->nonfinite_count;
        int t = fp8_tensor_of(x->tensor);
        if (t >= 0) {
            fp8_cast_of(l, t, x);
        } else if (!strcmp(x->layer, LAYERS_COMM_ROW)) { /* the wire (docs/dist.md) */
            l->comm = 1;
            l->w = l->act = l->grad = x->dtype;
            l->grad_amax = (float)x->amax, l->grad_uflow_pct = x->underflow_pct;
            l->grad_ovf += bad, l->grad_range = x->dynamic_range;
        } else if (!strcmp(x->tensor, "activation")) {
            l->act = x->dtype, l->act_amax = (float)x->amax, l->act_uflow_pct = x->underflow_pct;
            l->act_ovf += bad, l->act_range = x->dynamic_range;
        } else if (!strcmp(x->tensor, "gradient_scaled")) {
            l->grad = x->dtype, l->grad_amax = (float)x->amax, l->grad_uflow_pct = x->underflow_pct;
            l->grad_ovf += bad, l->grad_range = x->dynamic_range;
        } else if (!strcmp(x->tensor, "gradient")) {
            l->grad_uflow_unscaled_pct = x->underflow_pct;
        } else {
            l->grad_ovf += bad; /* weight_gradient_scaled */
        }
    }
    if (r->cmp_step < 0) return;
    s->div_step = r->cmp_step;
    for (int k = 0; k < r->n_pairs && s->n_div < FEED_MAX_PAIRS; k++) {
        const view_pair *p = &r->pairs[k];
        int a = replica_index(s, p->a), b = replica_index(s, p->b);
        if (a < 0 || b < 0) continue;
        feed_div *d = &s->div[s->n_div++];
        *d = (feed_div){a, b, p->loss_diff, p->weight_rel_l2, p->grad_cos, p->cos_min, ""};
        snprintf(d->cos_min_layer, sizeof d->cos_min_layer, "%s", p->cos_min_layer);
    }
}

int viewscreen_init(viewscreen *vs, view_set *set, int unicode)
{
    memset(vs, 0, sizeof *vs);
    vs->set = set;
    vs->snap_for = -1;
    view_init(&vs->v, unicode);
    vs->snap = calloc(1, sizeof *vs->snap);
    return vs->snap ? 0 : -1;
}

void viewscreen_free(viewscreen *vs)
{
    free(vs->snap);
    vs->snap = NULL;
}

/* ---- values at a step ---- */

static int64_t last_step(const view_set *s)
{
    int64_t m = -1;
    for (int i = 0; i < s->n; i++) {
        const view_run *r = &s->run[i];
        if (r->n_train && r->train[r->n_train - 1].step > m) m = r->train[r->n_train - 1].step;
        if (r->n_eval && r->eval[r->n_eval - 1].step > m) m = r->eval[r->n_eval - 1].step;
    }
    return m;
}

/* The next logged step after `from` (dir 1) or before it (dir -1) in any run; from itself
 * when there is none. */
static int64_t step_near(const view_set *s, int64_t from, int dir)
{
    int64_t best = from;
    for (int i = 0; i < s->n; i++)
        for (int pass = 0; pass < 2; pass++) {
            const view_run *r = &s->run[i];
            const metric_row *rows = pass ? r->eval : r->train;
            size_t n = pass ? r->n_eval : r->n_train;
            for (size_t k = 0; k < n; k++) {
                int64_t st = rows[k].step;
                if (dir > 0 && st > from && (best == from || st < best)) best = st;
                if (dir < 0 && st < from && (best == from || st > best)) best = st;
            }
        }
    return best;
}

/* The last row at or before step whose value (train loss / eval loss) exists. */
static const metric_row *row_at(const metric_row *rows, size_t n, int64_t step, int eval)
{
    const metric_row *hit = NULL;
    for (size_t k = 0; k < n && rows[k].step <= step; k++)
        if (!isnan(eval ? rows[k].eval_loss : rows[k].loss)) hit = &rows[k];
    return hit;
}

/* ---- panels ---- */

static int run_tag(ui_grid *g, int x, int y, int maxw, const view_set *s, int i, int unicode,
                   int sel)
{
    char gl[8], text[VIEW_NAME + 48];
    gl[grid_utf8(viewscreen_glyph(i, unicode), gl)] = 0;
    snprintf(text, sizeof text, sel ? "%s[%s %s]" : "%s %s %s", gl, s->run[i].name,
             s->run[i].precision);
    return grid_text(g, x, y, maxw, text, sel ? UA_BOLD | UA_REVERSE : UA_BOLD, viewscreen_color(i));
}

static void view_header(ui_grid *g, ui_rect r, const viewscreen *vs)
{
    const view_set *s = vs->set;
    int x = r.x, y = r.y;
    x += grid_text(g, x, y, r.w, " mptui view ", UA_BOLD | UA_REVERSE, UC_TITLE);
    x += grid_printf(g, x, y, r.x + r.w - x, UA_BOLD, UC_DEFAULT, "  %d run%s", s->n, s->n == 1 ? "" : "s");
    x += grid_text(g, x, y, r.x + r.w - x, "  selected ", 0, UC_DIM);
    x += run_tag(g, x, y, r.x + r.w - x, s, vs->sel, vs->v.unicode, 0);
    x += grid_printf(g, x, y, r.x + r.w - x, 0, UC_DEFAULT, "  steps %lld  read-only",
                     (long long)last_step(s));
    if (r.h >= 2) {
        const view_run *run = &s->run[vs->sel];
        grid_text(g, r.x + 1, r.y + 1, r.w - 1, run->path, 0, UC_DIM);
    }
}

/* Series of the overlay: per run a smoothed line, a few markers on it, its eval points. */
typedef struct {
    panel_series ser[3 * VIEW_MAX_RUNS];
    double *buf[VIEW_MAX_RUNS];
    int n;
} vs_overlay;

static void vs_overlay_build(vs_overlay *o, const viewscreen *vs)
{
    const view_set *s = vs->set;
    memset(o, 0, sizeof *o);
    for (int i = 0; i < s->n; i++) {
        const view_run *r = &s->run[i];
        size_t n = r->n_train;
        int color = viewscreen_color(i);
        /* x, raw y, smoothed y, marker x, marker y, eval x, eval y */
        double *b = malloc((5 * n + 2 * r->n_eval + 1) * sizeof *b);
        if (!b) continue;
        o->buf[i] = b;
        double *x = b, *y = b + n, *sm = b + 2 * n, *mx = b + 3 * n, *my = b + 4 * n;
        double *ex = b + 5 * n, *ey = ex + r->n_eval;
        for (size_t k = 0; k < n; k++) x[k] = (double)r->train[k].step, y[k] = r->train[k].loss;
        chart_ema(y, n, vs->v.smooth, sm);
        size_t every = n / 6 > (size_t)s->n ? n / 6 : (size_t)s->n, m = 0;
        for (size_t k = (size_t)i * every / (size_t)s->n; k < n && every; k += every)
            mx[m] = x[k], my[m++] = sm[k];
        size_t ne = 0;
        for (size_t k = 0; k < r->n_eval; k++)
            if (!isnan(r->eval[k].eval_loss)) ex[ne] = (double)r->eval[k].step, ey[ne++] = r->eval[k].eval_loss;
        if (n) o->ser[o->n++] = (panel_series){x, sm, n, color, 0, 0};
        if (m) o->ser[o->n++] = (panel_series){mx, my, m, color, 1, viewscreen_glyph(i, vs->v.unicode)};
        if (ne) o->ser[o->n++] = (panel_series){ex, ey, ne, color, 1, vs->v.unicode ? 0x2022 : '*'};
    }
}

static void vs_overlay_free(vs_overlay *o)
{
    for (int i = 0; i < VIEW_MAX_RUNS; i++) free(o->buf[i]);
}

/* The cursor's column inside the chart panel_chart draws in `in` (same x range and mapping). */
static void draw_cursor(ui_grid *g, ui_rect in, const vs_overlay *o, int64_t step)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < o->n; k++)
        for (size_t i = 0; i < o->ser[k].n; i++) {
            if (o->ser[k].x[i] < lo) lo = o->ser[k].x[i];
            if (o->ser[k].x[i] > hi) hi = o->ser[k].x[i];
        }
    ui_rect c = {in.x + 8, in.y, in.w - 8, in.h - (in.h >= 3)};
    if (!(lo <= hi) || c.w < 2 || c.h < 1) return;
    int dot = hi > lo ? chart_map((double)step, lo, hi, 0, c.w * 2) : 0;
    grid_style(g, (ui_rect){c.x + dot / 2, c.y, 1, c.h}, UA_REVERSE, -1);
}

static void view_loss(ui_grid *g, ui_rect r, const viewscreen *vs)
{
    char title[96];
    int len = snprintf(title, sizeof title, "Loss (w %.2f, %s)", vs->v.smooth,
                       vs->v.log_scale ? "log" : "linear");
    if (vs->cursor) snprintf(title + len, sizeof title - len, "  cursor @%lld", (long long)vs->cursor_step);
    grid_box(g, r, title, vs->v.unicode, UC_DIM);
    ui_rect in = rect_inner(r);
    vs_overlay o;
    vs_overlay_build(&o, vs);
    if (o.n) {
        panel_chart(g, in, o.ser, o.n, vs->v.log_scale, vs->v.unicode, 1, panel_label_value);
        if (vs->cursor) draw_cursor(g, in, &o, vs->cursor_step);
    } else {
        grid_text(g, in.x + 1, in.y + in.h / 2, in.w - 2, "no logged steps in these runs", 0, UC_DIM);
    }
    vs_overlay_free(&o);
    int x = r.x + 1, y = r.y + r.h - 1;
    for (int i = 0; i < vs->set->n && x < r.x + r.w - 2; i++) {
        x += grid_text(g, x, y, r.x + r.w - 1 - x, " ", 0, UC_DEFAULT);
        x += run_tag(g, x, y, r.x + r.w - 1 - x, vs->set, i, vs->v.unicode, i == vs->sel);
    }
    if (x < r.x + r.w - 2)
        grid_text(g, x, y, r.x + r.w - 1 - x, vs->v.unicode ? " \xe2\x80\xa2 eval " : " * eval ", 0, UC_EVAL);
}

static void view_scale(ui_grid *g, ui_rect r, const viewscreen *vs)
{
    const view_run *run = &vs->set->run[vs->sel];
    grid_box(g, r, "Loss scale / overflows (selected)", vs->v.unicode, UC_DIM);
    ui_rect in = rect_inner(r);
    int x = in.x + 1, w = in.w - 1, y = in.y;
    double scale = NAN;
    int scaled = 0;
    int64_t ovf = -1, last_ovf = -1;
    for (size_t k = 0; k < run->n_train; k++) {
        const metric_row *m = &run->train[k];
        if (isfinite(m->loss_scale)) scale = m->loss_scale, scaled |= m->loss_scale != 1;
        if (m->overflow_total >= 0) ovf = m->overflow_total;
        if (m->overflow == 1) last_ovf = m->step;
    }
    if (y < in.y + in.h) {
        if (scaled)
            grid_printf(g, x, y++, w, UA_BOLD, UC_SCALE, "scale %.0f (2^%.0f) at the last row", scale,
                        scale > 0 ? log2(scale) : 0.0);
        else
            grid_text(g, x, y++, w, "no loss scaling", UA_BOLD, UC_DIM);
    }
    if (y < in.y + in.h) {
        char last[48] = "";
        if (last_ovf >= 0) snprintf(last, sizeof last, ", last logged @%lld", (long long)last_ovf);
        grid_printf(g, x, y++, w, ovf > 0 ? UA_BOLD : 0, ovf > 0 ? UC_BAD : UC_DEFAULT,
                    "overflow steps %lld%s", (long long)(ovf > 0 ? ovf : 0), last);
    }
    int rows = in.y + in.h - y;
    if (rows < 1 || !scaled || !run->n_train) return;
    double *b = malloc(2 * run->n_train * sizeof *b);
    if (!b) return;
    size_t n = 0;
    for (size_t k = 0; k < run->n_train; k++)
        if (isfinite(run->train[k].loss_scale) && run->train[k].loss_scale > 0)
            b[n] = (double)run->train[k].step, b[run->n_train + n++] = log2(run->train[k].loss_scale);
    panel_series ser = {b, b + run->n_train, n, viewscreen_color(vs->sel), 0, 0};
    panel_chart(g, (ui_rect){in.x, y, in.w, rows}, &ser, 1, 0, vs->v.unicode, rows >= 3, panel_label_pow2);
    free(b);
}

/* Adds text at *cx when all of it fits before end; returns 0 once something did not fit. */
static int put_fit(ui_grid *g, int *cx, int y, int end, const char *text, int color)
{
    int len = (int)strlen(text);
    if (*cx + len > end) return 0;
    *cx += grid_text(g, *cx, y, end - *cx, text, 0, color);
    return 1;
}

static void view_runs(ui_grid *g, ui_rect r, const viewscreen *vs)
{
    char title[64];
    if (vs->cursor) snprintf(title, sizeof title, "Runs @step %lld", (long long)vs->cursor_step);
    else snprintf(title, sizeof title, "Runs (Tab selects)");
    grid_box(g, r, title, vs->v.unicode, UC_DIM);
    ui_rect in = rect_inner(r);
    int x = in.x + 1, end = in.x + in.w;
    int64_t at = vs->cursor ? vs->cursor_step : INT64_MAX;
    for (int i = 0; i < vs->set->n && i < in.h; i++) {
        const view_run *run = &vs->set->run[i];
        int y = in.y + i, sel = i == vs->sel;
        char gl[8], tag[VIEW_NAME + 16], seg[5][48];
        gl[grid_utf8(viewscreen_glyph(i, vs->v.unicode), gl)] = 0;
        snprintf(tag, sizeof tag, sel ? "%s[%s]" : "%s %s", gl, run->name);
        int cx = x + grid_text(g, x, y, end - x, tag, sel ? UA_BOLD | UA_REVERSE : UA_BOLD,
                               viewscreen_color(i));
        const metric_row *t = row_at(run->train, run->n_train, at, 0);
        const metric_row *e = row_at(run->eval, run->n_eval, at, 1);
        /* what does not fit is left off from the end: eval step, ppl, eval loss */
        snprintf(seg[0], sizeof seg[0], t ? " loss %.4f" : " loss -", t ? t->loss : 0.0);
        seg[1][0] = 0;
        if (t && vs->cursor && t->step != at) snprintf(seg[1], sizeof seg[1], " @%lld", (long long)t->step);
        seg[2][0] = seg[3][0] = seg[4][0] = 0;
        if (e) {
            snprintf(seg[2], sizeof seg[2], "  eval %.4f", e->eval_loss);
            snprintf(seg[3], sizeof seg[3], " ppl %.2f", e->eval_ppl);
            snprintf(seg[4], sizeof seg[4], " @%lld", (long long)e->step);
        }
        for (int k = 0; k < 5; k++)
            if (seg[k][0] && !put_fit(g, &cx, y, end, seg[k], k >= 2 ? UC_EVAL : UC_DEFAULT)) break;
    }
}

static void view_footer(ui_grid *g, ui_rect r, const viewscreen *vs)
{
    static const char *keys[][2] = {{"Tab", "run"}, {"<- ->", "step"}, {"l", "log"},
                                    {"[ ]", "smooth"}, {"Up Dn", "layers"}, {"?", "help"},
                                    {"q", "quit"}};
    int x = r.x;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        x += grid_text(g, x, r.y, r.x + r.w - x, keys[i][0], UA_BOLD | UA_REVERSE, UC_TITLE);
        x += grid_printf(g, x, r.y, r.x + r.w - x, 0, UC_DEFAULT, " %s ", keys[i][1]);
    }
    if (r.h < 2) return;
    const char *notice = vs->set->run[vs->sel].notice;
    const char *msg = vs->v.msg[0] ? vs->v.msg : notice;
    grid_text(g, r.x + 1, r.y + 1, r.w - 1, msg, vs->v.msg[0] || !notice[0] ? 0 : UA_BOLD,
              vs->v.msg[0] || !notice[0] ? UC_DEFAULT : UC_WARN);
}

static const char *view_help_lines[][2] = {
    {"Tab S-Tab", "select the next / previous run"},
    {"Left Right", "step cursor: each run's values at a logged step"},
    {"Esc", "hide the step cursor"},
    {"l", "toggle log scale of the loss chart"},
    {"[ ]", "less / more smoothing of the loss curves"},
    {"Up Down", "select a layer in the precision map"},
    {"PgUp PgDn", "scroll the precision map by a page"},
    {"? F1", "this help (any key closes it)"},
    {"q F10", "quit (also Ctrl-C); nothing is ever written"},
};

static void view_help(ui_grid *g, const ui_view *v)
{
    panel_help_box(g, v, "Help: mptui view", view_help_lines,
                   (int)(sizeof view_help_lines / sizeof view_help_lines[0]));
}

void viewscreen_draw(viewscreen *vs, ui_grid *g)
{
    grid_clear(g);
    if (vs->sel >= vs->set->n) vs->sel = 0;
    if (vs->snap_for != vs->sel) {
        viewscreen_snapshot(&vs->set->run[vs->sel], vs->snap);
        vs->snap_for = vs->sel;
    }
    ui_layout l;
    if (layout_compute_compare(&l, g->w, g->h, vs->set->n, vs->snap->n_div)) {
        panel_too_small(g);
        return;
    }
    /* the runs panel (in the eval panel's place) gets the width for a run's values */
    int want = 54;
    if (g->w - want >= 46 && l.r[P_SCALE].w < want) {
        int d = want - l.r[P_SCALE].w;
        l.r[P_LOSS].w -= d;
        l.r[P_SCALE].x -= d, l.r[P_SCALE].w += d;
        l.r[P_EVAL].x -= d, l.r[P_EVAL].w += d;
    }
    ui_rect *map = &l.r[P_MAP];
    if (l.mem.w > 0) { /* no memory plan for saved runs: the map takes the room back */
        if (l.mem.x > map->x) map->w += l.mem.w;
        else map->h += l.mem.h;
    }
    if (vs->snap->n_div == 0) {
        map->y -= l.div.h;
        map->h += l.div.h;
    }
    view_header(g, l.r[P_HEADER], vs);
    view_loss(g, l.r[P_LOSS], vs);
    view_scale(g, l.r[P_SCALE], vs);
    view_runs(g, l.r[P_EVAL], vs);
    if (vs->snap->n_div) panel_div(g, l.div, vs->snap, &vs->v);
    panel_map(g, *map, vs->snap, &vs->v);
    view_footer(g, l.r[P_FOOTER], vs);
    if (vs->v.help) view_help(g, &vs->v);
}

int viewscreen_key(viewscreen *vs, int key)
{
    ui_view *v = &vs->v;
    if (key == KEY_CTRL_C) return 1;
    if (v->help) {
        if (key != KEY_RESIZE) v->help = 0;
        return 0;
    }
    int n = vs->set->n > 0 ? vs->set->n : 1, page = v->map_page > 0 ? v->map_page : 1;
    v->msg[0] = 0;
    switch (key) {
    case 'q': case 'Q': case KEY_F(10): return 1;
    case '?': case KEY_F(1): v->help = 1; break;
    case '\t': case KEY_BTAB: /* another run's map starts at its top */
        vs->sel = (vs->sel + (key == KEY_BTAB ? n - 1 : 1)) % n;
        v->selected = v->scroll = 0;
        break;
    case 'l': v->log_scale = !v->log_scale; break;
    case '[': v->smooth = v->smooth - 0.05 < 0 ? 0 : v->smooth - 0.05; break;
    case ']': v->smooth = v->smooth + 0.05 > 0.99 ? 0.99 : v->smooth + 0.05; break;
    case KEY_LEFT: case KEY_RIGHT:
        if (!vs->cursor) {
            vs->cursor = 1;
            vs->cursor_step = last_step(vs->set);
        } else {
            vs->cursor_step = step_near(vs->set, vs->cursor_step, key == KEY_RIGHT ? 1 : -1);
        }
        break;
    case 27: vs->cursor = 0; break;
    case KEY_UP: v->selected--; break;
    case KEY_DOWN: v->selected++; break;
    case KEY_PPAGE: v->selected -= page; v->scroll -= page; break;
    case KEY_NPAGE: v->selected += page; v->scroll += page; break;
    case KEY_HOME: v->selected = 0; break;
    case KEY_END: v->selected = vs->snap->n_layers - 1; break;
    }
    return 0;
}

/* ---- on the terminal ---- */

int viewscreen_refresh(viewscreen *vs)
{
    char err[FEED_MSG];
    int rc = viewrun_refresh(vs->set, err, sizeof err);
    if (rc < 0) {
        if (!strcmp(vs->v.msg, err)) return 0; /* said already */
        view_message(&vs->v, 1, err);
        return 1;
    }
    if (rc) vs->snap_for = -1; /* the selected run's map and divergence may be new */
    return rc;
}

static long long vs_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Live follow: the files are looked at every VIEW_POLL_MS, whatever the screen's refresh. */
#define VIEW_POLL_MS 500

static int vs_poll(void *ctx)
{
    viewscreen *vs = ctx;
    long long now = vs_now_ms();
    if (now - vs->polled_ms < VIEW_POLL_MS) return 0;
    vs->polled_ms = now;
    return viewscreen_refresh(vs);
}

static void vs_draw(void *ctx, ui_grid *g, int unicode)
{
    viewscreen *vs = ctx;
    vs->v.unicode = unicode;
    viewscreen_draw(vs, g);
}

static int vs_key(void *ctx, int key) { return viewscreen_key(ctx, key); }

int viewscreen_run(view_set *set, const tui_options *o, char *err, size_t errlen)
{
    viewscreen vs;
    if (viewscreen_init(&vs, set, 0)) {
        snprintf(err, errlen, "out of memory starting the screen");
        return -1;
    }
    tui_app app = {&vs, vs_poll, vs_draw, vs_key};
    int rc = tui_run_app(&app, o, err, errlen);
    viewscreen_free(&vs);
    return rc;
}
