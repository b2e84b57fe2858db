/* panels.c — the screen's panels, drawn into a ui_grid. Pure functions of (snapshot, history,
 * view) so tests can check them cell by cell. */
#include "panels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chart.h"
#include "fmt.h"
#include "panels_compare.h"

void view_init(ui_view *v, int unicode)
{
    memset(v, 0, sizeof *v);
    v->unicode = unicode;
    v->smooth = 0.6;
}

void view_message(ui_view *v, int is_error, const char *text)
{
    snprintf(v->msg, sizeof v->msg, "%s", text);
    v->msg_is_error = is_error;
}

/* The colour of each dtype_info.role. */
static const ui_color role_color[] = {
    [DT_ROLE_FULL] = UC_FP32, [DT_ROLE_HALF] = UC_FP16, [DT_ROLE_BRAIN] = UC_BF16,
    [DT_ROLE_FP8] = UC_FP8,
};
_Static_assert(sizeof role_color / sizeof role_color[0] == DT_ROLE_COUNT,
               "a colour for every dtype role");

int panel_dtype_color(dtype_t dt)
{
    const dtype_info *i = dtype_info_of(dt);
    return i ? (int)role_color[i->role] : UC_FP32;
}

int panel_layer_unhealthy(const feed_layer *l)
{
    for (int t = 0; l->fp8 && t < FP8_TENSORS; t++)
        if (l->cast[t].valid && l->cast[t].ovf > 0) return 1;
    return l->valid && (l->act_ovf + l->grad_ovf > 0 || l->act_uflow_pct > 1.0 ||
                        l->grad_uflow_pct > 1.0);
}

const char *panel_fp8_recipe(const fp8_recipe *r, char *buf, size_t n)
{
    const char *kind = fp8_recipe_name(r->kind), *fmt = fp8_format_mode_name(r->format);
    if (r->kind == FP8_DELAYED)
        snprintf(buf, n, "%s, %s, hist %d, margin %d%s%s", kind, fmt, r->history_len, r->margin,
                 r->algo == FP8_AMAX_MAX ? "" : ", ",
                 r->algo == FP8_AMAX_MAX ? "" : fp8_algo_name(r->algo));
    else if (r->kind == FP8_CURRENT)
        snprintf(buf, n, "%s, %s, margin %d", kind, fmt, r->margin);
    else /* MXFP8: power-of-two block scales, no margin, no history behind them */
        snprintf(buf, n, "%s, %s", kind, fmt);
    return buf;
}

const char *panel_fp8_scale(float scale, int blocks, char *buf, size_t n)
{
    int e;
    if (blocks) snprintf(buf, n, "blocks");
    else if (!(scale > 0.0f) || !isfinite(scale)) snprintf(buf, n, "-");
    else if (frexpf(scale, &e) == 0.5f) snprintf(buf, n, "2^%d", e - 1);
    else snprintf(buf, n, "%.4g", scale);
    return buf;
}

const char *panel_scaling_label(const feed_snapshot *s)
{
    return !s->scaler_enabled ? "(no scaling)" : s->scaler_dynamic ? "(dynamic)" : "(static)";
}

/* ---- header ---- */

typedef struct { char text[160]; int attr, color; } segment;

static const char *state_label(run_state st, int *attr, int *color)
{
    *attr = UA_BOLD;
    switch (st) {
    case RUN_STARTING: *color = UC_DIM; return "STARTING";
    case RUN_RUNNING: *color = UC_GOOD; return "RUNNING";
    case RUN_PAUSED: *attr |= UA_REVERSE; *color = UC_WARN; return "PAUSED";
    case RUN_FINISHED: *color = UC_GOOD; *attr |= UA_REVERSE; return "FINISHED";
    case RUN_FAILED: *color = UC_BAD; *attr |= UA_REVERSE; return "FAILED";
    }
    *color = UC_DEFAULT;
    return "?";
}

/* Header segments; returns the count, *brk = the first one of the second line. */
static int header_segments(const feed_snapshot *s, segment *sg, int *brk)
{
    int n = 0;
    char a[32], b[32];
    sg[n++] = (segment){" mptui ", UA_BOLD | UA_REVERSE, UC_TITLE};
    if (s->n_layer > 0) /* a pretrained model's folder name, e.g. "gpt2 12L/12H/768d" */
        snprintf(sg[n].text, sizeof sg[n].text, "%s %dL/%dH/%dd",
                 s->model_name[0] ? s->model_name : "gpt", s->n_layer, s->n_head, s->n_embd);
    else
        snprintf(sg[n].text, sizeof sg[n].text, "gpt -");
    sg[n].attr = UA_BOLD, sg[n++].color = UC_DEFAULT;
    snprintf(sg[n].text, sizeof sg[n].text, "%s %s", dtype_label(s->mode), panel_scaling_label(s));
    sg[n].attr = UA_BOLD, sg[n++].color = panel_dtype_color(s->mode);
    if (s->n_replicas > 0) { /* the mode above is the selected replica's */
        int len = snprintf(sg[n].text, sizeof sg[n].text, "vs");
        for (int i = 0; i < s->n_replicas; i++) {
            char lab[PANEL_LABEL_LEN];
            if (i == s->replica_selected) continue;
            panel_replica_label(&s->replicas[i], lab, sizeof lab);
            len += snprintf(sg[n].text + len, sizeof sg[n].text - len, " %s", lab);
        }
        sg[n].attr = UA_BOLD, sg[n++].color = UC_WARN;
    }
    snprintf(sg[n].text, sizeof sg[n].text, "%s", s->data_name[0] ? s->data_name : "-");
    sg[n].attr = 0, sg[n++].color = UC_DEFAULT;
    snprintf(sg[n].text, sizeof sg[n].text, "%s", s->device[0] ? s->device : "-");
    sg[n].attr = 0, sg[n++].color = UC_DEFAULT;
    *brk = n;
    snprintf(sg[n].text, sizeof sg[n].text, "step %lld/%lld", (long long)s->step, (long long)s->max_steps);
    sg[n].attr = UA_BOLD, sg[n++].color = UC_DEFAULT;
    fmt_si(s->tokens_per_s, a, sizeof a);
    snprintf(sg[n].text, sizeof sg[n].text, "%s tok/s", a);
    sg[n].attr = 0, sg[n++].color = UC_DEFAULT;
    fmt_duration(s->elapsed_s, a, sizeof a);
    fmt_duration(s->eta_s, b, sizeof b);
    snprintf(sg[n].text, sizeof sg[n].text, "elapsed %s", a);
    sg[n].attr = 0, sg[n++].color = UC_DEFAULT;
    snprintf(sg[n].text, sizeof sg[n].text, "ETA %s", s->state == RUN_FINISHED ? "0s" : b);
    sg[n].attr = 0, sg[n++].color = UC_DEFAULT;
    const char *st = state_label(s->state, &sg[n].attr, &sg[n].color);
    snprintf(sg[n].text, sizeof sg[n].text, "%s", st);
    n++;
    return n;
}

void panel_header(ui_grid *g, ui_rect r, const feed_snapshot *s)
{
    segment sg[12];
    int brk, n = header_segments(s, sg, &brk);
    int x = r.x, y = r.y;
    for (int i = 0; i < n; i++) {
        if (i == brk && r.h >= 2) {
            x = r.x + 1;
            y++;
        }
        if (x > r.x && x < r.x + r.w) x += 2;
        x += grid_text(g, x, y, r.x + r.w - x, sg[i].text, sg[i].attr, sg[i].color);
    }
}

/* ---- loss chart ---- */


void panel_chart(ui_grid *g, ui_rect r, const panel_series *ser, int nser, int log_scale,
                       int unicode, int labels, const char *(*ylab)(double, char *, size_t))
{
    int lw = labels ? 8 : 0, xh = labels && r.h >= 3 ? 1 : 0;
    ui_rect c = {r.x + lw, r.y, r.w - lw, r.h - xh};
    if (c.w < 2 || c.h < 1) return;
    chart_view v = {INFINITY, -INFINITY, INFINITY, -INFINITY, log_scale};
    for (int k = 0; k < nser; k++) {
        double lo, hi;
        if (ser[k].n && chart_range(ser[k].y, ser[k].n, log_scale, &lo, &hi) == 0) {
            if (lo < v.ylo) v.ylo = lo;
            if (hi > v.yhi) v.yhi = hi;
        }
        for (size_t i = 0; i < ser[k].n; i++) {
            if (ser[k].x[i] < v.xlo) v.xlo = ser[k].x[i];
            if (ser[k].x[i] > v.xhi) v.xhi = ser[k].x[i];
        }
    }
    if (!(v.ylo <= v.yhi) || !(v.xlo <= v.xhi)) return;
    chart_canvas cv;
    if (chart_canvas_init(&cv, c.w, c.h)) return;
    for (int k = 0; k < nser; k++) {
        if (ser[k].marks)
            chart_marks(&cv, &v, ser[k].x, ser[k].y, ser[k].n,
                        ser[k].glyph ? ser[k].glyph : unicode ? 0x25cf : 'o', ser[k].color);
        else
            chart_plot(&cv, &v, ser[k].x, ser[k].y, ser[k].n, ser[k].color);
    }
    chart_blit(&cv, g, c.x, c.y, unicode);
    chart_canvas_free(&cv);
    if (!labels) return;
    char buf[32];
    grid_text(g, r.x, c.y, lw - 1, ylab(v.yhi, buf, sizeof buf), 0, UC_DIM);
    if (c.h > 1) grid_text(g, r.x, c.y + c.h - 1, lw - 1, ylab(v.ylo, buf, sizeof buf), 0, UC_DIM);
    if (xh) {
        snprintf(buf, sizeof buf, "%.0f", v.xlo);
        grid_text(g, c.x, c.y + c.h, c.w, buf, 0, UC_DIM);
        snprintf(buf, sizeof buf, "%.0f", v.xhi);
        int len = (int)strlen(buf);
        grid_text(g, c.x + c.w - len, c.y + c.h, len, buf, 0, UC_DIM);
    }
}

const char *panel_label_value(double v, char *buf, size_t n)
{
    snprintf(buf, n, "%7.4g", v);
    return buf;
}

const char *panel_label_pow2(double v, char *buf, size_t n)
{
    snprintf(buf, n, "2^%.0f", v);
    return buf;
}

void panel_loss(ui_grid *g, ui_rect r, const ui_history *h, const ui_view *v)
{
    char title[96];
    const ui_series *L = &h->loss;
    double *sm = L->n ? malloc(L->n * sizeof *sm) : NULL;
    if (sm) chart_ema(L->y, L->n, v->smooth, sm);
    if (L->n && sm)
        snprintf(title, sizeof title, "Loss %.4g  smoothed %.4g (w %.2f)  %s", L->y[L->n - 1],
                 sm[L->n - 1], v->smooth, v->log_scale ? "log" : "linear");
    else
        snprintf(title, sizeof title, "Loss  (w %.2f)  %s", v->smooth, v->log_scale ? "log" : "linear");
    grid_box(g, r, title, v->unicode, UC_DIM);
    ui_rect in = rect_inner(r);
    if (!L->n && !h->eval.n) {
        grid_text(g, in.x + 1, in.y + in.h / 2, in.w - 2, "waiting for the first logged step", 0, UC_DIM);
        free(sm);
        return;
    }
    panel_series ser[3] = {
        {L->x, L->y, L->n, UC_RAW, 0, 0},
        {L->x, sm, sm ? L->n : 0, UC_SMOOTH, 0, 0},
        {h->eval.x, h->eval.y, h->eval.n, UC_EVAL, 1, 0},
    };
    panel_chart(g, in, ser, 3, v->log_scale, v->unicode, 1, panel_label_value);
    /* legend in the bottom edge */
    int x = r.x + 2, y = r.y + r.h - 1;
    x += grid_text(g, x, y, r.w - 4, " raw", 0, UC_RAW);
    x += grid_text(g, x, y, r.x + r.w - 2 - x, " smoothed", UA_BOLD, UC_SMOOTH);
    x += grid_text(g, x, y, r.x + r.w - 2 - x, v->unicode ? " \xe2\x97\x8f eval " : " o eval ", 0, UC_EVAL);
    free(sm);
}

/* ---- loss scale ---- */

void panel_scale(ui_grid *g, ui_rect r, const feed_snapshot *s, const ui_history *h,
                 const ui_view *v)
{
    grid_box(g, r, "Loss scale", v->unicode, UC_DIM);
    ui_rect in = rect_inner(r);
    int y = in.y, x = in.x + 1, w = in.w - 1;
    if (s->scaler_enabled)
        grid_printf(g, x, y++, w, UA_BOLD, UC_SCALE, "scale %.0f (2^%.0f) %s", s->loss_scale,
                    s->loss_scale > 0 ? log2(s->loss_scale) : 0.0, s->scaler_dynamic ? "dynamic" : "static");
    else
        grid_text(g, x, y++, w, "no loss scaling", UA_BOLD, UC_DIM);
    if (s->scaler_enabled && s->scaler_dynamic)
        grid_printf(g, x, y++, w, 0, UC_DEFAULT, "tracker %d/%d", s->growth_tracker, s->growth_interval);
    grid_printf(g, x, y++, w, s->overflow_window ? UA_BOLD : 0, s->overflow_window ? UC_BAD : UC_DEFAULT,
                "overflows %lld (%lld this window)", (long long)s->overflow_total,
                (long long)s->overflow_window);
    if (s->overflow_total > 0 && s->last_overflow_step >= 0)
        grid_printf(g, x, y++, w, 0, UC_WARN, "last @%lld %s", (long long)s->last_overflow_step,
                    s->first_nonfinite);
    else
        grid_text(g, x, y++, w, "last overflow: none", 0, UC_DIM);
    int rows = in.y + in.h - y;
    if (rows >= 1 && h->scale_log2.n) {
        panel_series ser = {h->scale_log2.x, h->scale_log2.y, h->scale_log2.n, UC_SCALE, 0, 0};
        ui_rect c = {in.x, y, in.w, rows};
        panel_chart(g, c, &ser, 1, 0, v->unicode, rows >= 3, panel_label_pow2);
    }
}

/* ---- eval ---- */

void panel_eval(ui_grid *g, ui_rect r, const feed_snapshot *s, const ui_view *v)
{
    grid_box(g, r, "Eval", v->unicode, UC_DIM);
    ui_rect in = rect_inner(r);
    int x = in.x + 1, w = in.w - 1, y = in.y, ymax = in.y + in.h;
    if (!s->have_eval) {
        grid_text(g, x, y, w, "no eval yet (press e)", 0, UC_DIM);
        return;
    }
    /* fields wrap as whole units so "@step" never splits from its number */
    char f[4][64];
    snprintf(f[0], sizeof f[0], "loss %.4f", s->eval_loss);
    snprintf(f[1], sizeof f[1], "ppl %.2f", s->eval_ppl);
    snprintf(f[2], sizeof f[2], "@%lld", (long long)s->eval_step);
    snprintf(f[3], sizeof f[3], "%.3f bits/token", s->eval_bits);
    int cx = 0;
    for (int i = 0; i < 4 && y < ymax; i++) {
        int len = (int)strlen(f[i]);
        if (cx > 0 && cx + 2 + len > w) { y++; cx = 0; }
        if (y >= ymax) break;
        if (cx > 0) cx += 2;
        cx += grid_text(g, x + cx, y, w - cx, f[i], UA_BOLD, UC_EVAL);
    }
    y++;
    if (s->sample[0] && y < ymax) {
        char smp[FEED_SAMPLE + 16];
        snprintf(smp, sizeof smp, "sample: %s", s->sample);
        for (char *p = smp; *p; p++) /* sanitise: controls would move the cursor */
            if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
        /* sample text wraps by characters, it is not prose; a UTF-8 character (decoded
         * BPE text) is never cut */
        size_t len = strlen(smp), pos = 0;
        while (pos < len && y < ymax) {
            size_t take = 0;
            for (int col = 0; col < w && pos + take < len; col++) {
                take++;
                while (pos + take < len && ((unsigned char)smp[pos + take] & 0xC0) == 0x80)
                    take++;
            }
            char chunk[FEED_SAMPLE + 16];
            memcpy(chunk, smp + pos, take);
            chunk[take] = 0;
            grid_text(g, x, y++, w, chunk, 0, UC_DEFAULT);
            pos += take;
        }
    }
}

/* ---- precision map ---- */

static void map_stat(char *buf, size_t n, int valid, double v, const char *fmt)
{
    if (valid) snprintf(buf, n, fmt, v);
    else snprintf(buf, n, "-");
}

static int map_name_width(int w)
{
    int nw = w - 60;
    return nw < 16 ? 16 : nw > 28 ? 28 : nw;
}

/* Dynamic-range columns (act dr, grd dr) only when the widest name column still leaves room. */
static int map_wide(int w) { return w - (map_name_width(w) + 60) >= 14; }

/* Columns of the wt / act / grad labels in the precision map. */
enum { MAP_DTYPE_W = 4 };
_Static_assert(DT_LABEL_MAX <= MAP_DTYPE_W, "a dtype label fits its precision-map column");

static void map_row(ui_grid *g, int x, int y, int w, const feed_layer *l, int selected)
{
    int nw = map_name_width(w), bad = panel_layer_unhealthy(l);
    int attr = bad ? UA_BOLD : 0, col = bad ? UC_BAD : UC_DEFAULT;
    if (l->override >= 0) grid_put(g, x, y, '*', UA_BOLD, UC_WARN);
    grid_text(g, x + 1, y, nw, l->name, attr, col);
    int cx = x + 1 + nw + 1;
    if (l->fp8) /* the GEMM's inputs are FP8; weights stay stored in bf16 */
        grid_text(g, cx, y, MAP_DTYPE_W, dtype_label(DT_FP8), UA_BOLD, panel_dtype_color(DT_FP8));
    else if (l->has_weight)
        grid_text(g, cx, y, MAP_DTYPE_W, dtype_label(l->w), UA_BOLD, panel_dtype_color(l->w));
    else grid_text(g, cx, y, MAP_DTYPE_W, "-", 0, UC_DIM);
    if (l->comm) /* the all-reduce moves gradients only */
        grid_text(g, cx + 5, y, MAP_DTYPE_W, "-", 0, UC_DIM);
    else
        grid_text(g, cx + 5, y, MAP_DTYPE_W, dtype_label(l->act), UA_BOLD,
                  panel_dtype_color(l->act));
    grid_text(g, cx + 10, y, MAP_DTYPE_W, dtype_label(l->grad), UA_BOLD,
              panel_dtype_color(l->grad));
    char b[7][32];
    int va = l->valid && !l->comm; /* the comm row has no activations */
    map_stat(b[0], 32, va, l->act_amax, "%9.3g");
    map_stat(b[1], 32, l->valid, l->grad_amax, "%9.3g");
    map_stat(b[2], 32, va, l->act_uflow_pct, "%6.2f%%");
    map_stat(b[3], 32, l->valid, l->grad_uflow_pct, "%6.2f%%");
    map_stat(b[4], 32, l->valid, (double)(l->act_ovf + l->grad_ovf), "%5.0f");
    map_stat(b[5], 32, va && !isnan(l->act_range), l->act_range, "%5.1f");
    map_stat(b[6], 32, l->valid && !isnan(l->grad_range), l->grad_range, "%5.1f");
    static const int off[7] = {16, 26, 36, 44, 52, 58, 65}, wid[7] = {9, 9, 7, 7, 5, 6, 6};
    int ncol = map_wide(w) ? 7 : 5;
    for (int k = 0; k < ncol; k++) {
        int len = (int)strlen(b[k]);
        grid_text(g, cx + off[k] + (wid[k] - len > 0 ? wid[k] - len : 0), y, wid[k], b[k], attr, col);
    }
    if (selected) grid_style(g, (ui_rect){x, y, w, 1}, UA_REVERSE, -1);
}

/* An FP8 row's casts, one line each under the selected row: tensor, format, what the cast
 * did at the last logged step (amax, saturated and flushed shares), then the scaling state
 * (the scale the last cast used, the amax history's max). On a narrow map the fields go
 * from the right: the scaling state first, as the delayed scale follows from the history. */
enum { MAP_FP8_FIELDS = 7, MAP_FP8_SAT = 3 };

static void map_fp8_line(ui_grid *g, int x, int y, int w, const feed_snapshot *s,
                         const feed_fp8 *c, fp8_tensor t)
{
    char f[MAP_FP8_FIELDS][32], v[24];
    int blocks = s->fp8_known && s->fp8.kind == FP8_MXFP8;
    snprintf(f[0], 32, "%-6s", fp8_tensor_name(t));
    snprintf(f[1], 32, "%s", c->format == FP8_E5M2 ? "E5M2" : "E4M3");
    map_stat(v, sizeof v, c->valid, c->amax, "%9.3g");
    snprintf(f[2], 32, "amax %9s", v);
    if (c->valid && isnan(c->ovf_pct)) /* a count without the total (mptui view) */
        snprintf(v, sizeof v, "%lld", (long long)c->ovf);
    else
        map_stat(v, sizeof v, c->valid, c->ovf_pct, "%6.2f%%");
    snprintf(f[3], 32, "sat %7s", v);
    map_stat(v, sizeof v, c->valid, c->uflow_pct, "%6.2f%%");
    snprintf(f[4], 32, "uf %7s", v);
    snprintf(f[5], 32, "scale %-7s", panel_fp8_scale(c->scale, blocks, v, sizeof v));
    map_stat(v, sizeof v, c->hist_max > 0, c->hist_max, "%9.3g");
    snprintf(f[6], 32, "hist max %9s", v);
    int cx = x + 3, end = x + w;
    for (int k = 0; k < MAP_FP8_FIELDS; k++) {
        int len = (int)strlen(f[k]);
        if (cx + len > end) break;
        int bad = k == MAP_FP8_SAT && c->valid && c->ovf > 0;
        int color = k == 1 ? UC_FP8 : bad ? UC_BAD : k == 0 ? UC_DIM : UC_DEFAULT;
        cx += grid_text(g, cx, y, end - cx, f[k], k == 1 || bad ? UA_BOLD : 0, color) + 2;
    }
}

static int map_fp8_rows(const feed_snapshot *s)
{
    for (int i = 0; i < s->n_layers; i++)
        if (s->layers[i].fp8) return 1;
    return 0;
}

static void map_title(char *buf, size_t n, const feed_snapshot *s)
{
    char recipe[96] = "";
    int mode8 = s->mode == DT_FP8, rows8 = !mode8 && map_fp8_rows(s);
    if ((mode8 || rows8) && s->fp8_known) {
        char r[80];
        snprintf(recipe, sizeof recipe, " (%s)", panel_fp8_recipe(&s->fp8, r, sizeof r));
    }
    snprintf(buf, n, "Precision map  %s %s%s%s%s  * = override",
             s->n_replicas > 0 ? "replica" : "mode", dtype_label(s->mode),
             rows8 ? ", FP8 rows" : "", recipe, s->n_replicas > 0 ? " (Tab: next)" : "");
}

/* Keeps the selection on the page with its detail lines (extra of them) below it. */
static void map_scroll(ui_view *v, int n, int page, int extra)
{
    int eff = page - extra;
    if (v->selected >= n) v->selected = n - 1;
    if (v->selected < 0) v->selected = 0;
    if (v->selected < v->scroll) v->scroll = v->selected;
    if (v->selected >= v->scroll + eff) v->scroll = v->selected - eff + 1;
    if (v->scroll > n + extra - page) v->scroll = n + extra - page;
    if (v->scroll < 0) v->scroll = 0;
}

void panel_map(ui_grid *g, ui_rect r, const feed_snapshot *s, ui_view *v)
{
    char title[192];
    map_title(title, sizeof title, s);
    grid_box(g, r, title, v->unicode, UC_DIM);
    ui_rect in = rect_inner(r);
    int nw = map_name_width(in.w), cx = in.x + 1 + nw + 1;
    grid_text(g, in.x + 1, in.y, nw, "layer", UA_BOLD | UA_UNDERLINE, UC_DEFAULT);
    static const char *hd[10] = {"wt", "act", "grad", " act amax", "grad amax", "act uf%",
                                 "grd uf%", "  ovf", "act dr", "grd dr"};
    static const int off[10] = {0, 5, 10, 16, 26, 36, 44, 52, 58, 65};
    int ncol = map_wide(in.w) ? 10 : 8;
    for (int k = 0; k < ncol; k++) grid_text(g, cx + off[k], in.y, 9, hd[k], UA_BOLD | UA_UNDERLINE, UC_DEFAULT);
    int page = in.h - 1, n = s->n_layers;
    v->map_page = page > 0 ? page : 1;
    int sel = v->selected < n ? v->selected : n - 1;
    if (sel < 0) sel = n > 0 ? 0 : -1;
    /* the selected FP8 row's casts, when the page has room for them and a row besides */
    int extra = sel >= 0 && s->layers[sel].fp8 && page > FP8_TENSORS ? FP8_TENSORS : 0;
    map_scroll(v, n, page, extra);
    if (n == 0) {
        grid_text(g, in.x + 1, in.y + 1, in.w - 2, "no layers yet", 0, UC_DIM);
        return;
    }
    int line = 0, i = v->scroll;
    for (; line < page && i < n; i++) {
        const feed_layer *l = &s->layers[i];
        map_row(g, in.x, in.y + 1 + line++, in.w, l, i == v->selected);
        for (int t = 0; extra && i == v->selected && t < FP8_TENSORS && line < page; t++)
            map_fp8_line(g, in.x, in.y + 1 + line++, in.w, s, &l->cast[t], (fp8_tensor)t);
    }
    if (n > page - extra) {
        char pos[48];
        snprintf(pos, sizeof pos, " rows %d-%d of %d ", v->scroll + 1, i, n);
        int len = (int)strlen(pos);
        grid_text(g, r.x + r.w - 2 - len, r.y + r.h - 1, len, pos, 0, UC_DIM);
    }
}

/* ---- footer, help, too small ---- */

void panel_footer(ui_grid *g, ui_rect r, const feed_snapshot *s, const ui_view *v)
{
    int cmp = s->n_replicas > 0;
    /* {key, label, optional}: optional ones (also in the help) go first when space is short */
    const char *keys[][3] = {
        {"e", "eval", ""}, {"s", "save", ""}, {cmp ? "Tab" : "m", cmp ? "replica" : "mode", ""},
        {"c", cmp ? "end compare" : "compare", ""}, {"o", "override", "1"},
        {"space", s->state == RUN_PAUSED ? "resume" : "pause", ""}, {"l", "log", "1"},
        {"[ ]", "smooth", "1"}, {"?", "help", ""}, {"q", "quit", ""},
    };
    size_t nk = sizeof keys / sizeof keys[0];
    int total = 0, skip[sizeof keys / sizeof keys[0]] = {0};
    for (size_t i = 0; i < nk; i++) total += (int)(strlen(keys[i][0]) + strlen(keys[i][1])) + 2;
    for (size_t i = nk; i-- > 0 && total > r.w;)
        if (keys[i][2][0]) {
            skip[i] = 1;
            total -= (int)(strlen(keys[i][0]) + strlen(keys[i][1])) + 2;
        }
    int x = r.x;
    for (size_t i = 0; i < nk; i++) {
        if (skip[i]) continue;
        x += grid_text(g, x, r.y, r.x + r.w - x, keys[i][0], UA_BOLD | UA_REVERSE, UC_TITLE);
        x += grid_text(g, x, r.y, r.x + r.w - x, " ", 0, UC_DEFAULT);
        x += grid_text(g, x, r.y, r.x + r.w - x, keys[i][1], 0, UC_DEFAULT);
        x += grid_text(g, x, r.y, r.x + r.w - x, " ", 0, UC_DEFAULT);
    }
    if (r.h < 2) return;
    if (v->picker) {
        panel_picker(g, (ui_rect){r.x, r.y + 1, r.w, 1}, s);
        return;
    }
    const char *msg = v->msg[0] ? v->msg : s->message;
    int err = v->msg[0] ? v->msg_is_error : s->msg_is_error;
    grid_text(g, r.x + 1, r.y + 1, r.w - 1, msg, err ? UA_BOLD : 0, err ? UC_BAD : UC_DEFAULT);
}

/* The help's lines; the m and o lines name the dtype table's cycle (panel_help fills them). */
enum { HELP_M = 2, HELP_O = 3 };
static const char *help_lines[][2] = {
    {"e", "evaluate now (loss, perplexity, sample)"},
    {"s", "save a checkpoint now"},
    {"m", NULL},
    {"o", NULL},
    {"", "FP8: Linear rows only (c_attn, c_proj, c_fc, lm_head)"},
    {"c", "compare: fork into replicas / end, keep selected"},
    {"Tab", "select the next replica while comparing"},
    {"space", "pause / resume training"},
    {"l", "toggle log scale of the loss chart"},
    {"[ ]", "less / more smoothing of the loss curve"},
    {"Up Down", "select a layer in the precision map (FP8: its casts)"},
    {"PgUp PgDn", "scroll the precision map by a page"},
    {"? F1", "this help (any key closes it)"},
    {"q F10", "quit: finish the step, flush CSV (also Ctrl-C)"},
};
#define HELP_N ((int)(sizeof help_lines / sizeof help_lines[0]))

/* The m cycle from the table's first dtype: "FP32 -> FP16 -> BF16 -> FP8" with sep " -> ". */
static void help_cycle(char *buf, size_t n, const char *sep)
{
    size_t len = 0;
    dtype_t d = DT_F32;
    for (int k = 0; k < DT_COUNT && len < n; k++) {
        len += (size_t)snprintf(buf + len, n - len, "%s%s", k ? sep : "", dtype_label(d));
        d = dtype_info_of(d)->next;
        if (d == DT_F32) break;
    }
}

void panel_help_box(ui_grid *g, const ui_view *v, const char *title,
                    const char *(*lines)[2], int n)
{
    int w = 70 < g->w ? 70 : g->w, h = n + 4 < g->h ? n + 4 : g->h;
    ui_rect r = {(g->w - w) / 2, (g->h - h) / 2, w, h};
    grid_fill(g, r, ' ', 0, UC_DEFAULT);
    grid_box(g, r, title, v->unicode, UC_TITLE);
    for (int i = 0; i < n && 1 + i < h - 2; i++) {
        grid_text(g, r.x + 2, r.y + 1 + i, 11, lines[i][0], UA_BOLD, UC_TITLE);
        grid_text(g, r.x + 14, r.y + 1 + i, w - 16, lines[i][1], 0, UC_DEFAULT);
    }
    grid_text(g, r.x + 2, r.y + h - 2, w - 4, "press any key to close", 0, UC_DIM);
}

void panel_help(ui_grid *g, const ui_view *v)
{
    const char *lines[HELP_N][2];
    char cyc[64], m[96], o[96];
    memcpy(lines, help_lines, sizeof lines);
    help_cycle(cyc, sizeof cyc, " -> ");
    snprintf(m, sizeof m, "cycle precision mode %s", cyc);
    help_cycle(cyc, sizeof cyc, "/");
    snprintf(o, sizeof o, "override selected layer: inherit/%s", cyc);
    lines[HELP_M][1] = m;
    lines[HELP_O][1] = o;
    panel_help_box(g, v, "Help", lines, HELP_N);
}

void panel_too_small(ui_grid *g)
{
    static const char *msg = "terminal too small (need 80x24)";
    char now[48];
    snprintf(now, sizeof now, "now %dx%d", g->w, g->h);
    int len = (int)strlen(msg), y = g->h / 2;
    grid_text(g, (g->w - len) / 2 > 0 ? (g->w - len) / 2 : 0, y - 1 >= 0 ? y - 1 : 0, g->w, msg,
              UA_BOLD, UC_WARN);
    len = (int)strlen(now);
    grid_text(g, (g->w - len) / 2 > 0 ? (g->w - len) / 2 : 0, y, g->w, now, 0, UC_DIM);
}

void panels_draw(ui_grid *g, const feed_snapshot *s, const ui_history *h, ui_view *v)
{
    ui_layout l;
    grid_clear(g);
    int cmp = s->n_replicas > 0;
    if (layout_compute_compare(&l, g->w, g->h, s->n_replicas, s->n_div)) {
        panel_too_small(g);
        return;
    }
    panel_header(g, l.r[P_HEADER], s);
    if (cmp) {
        panel_loss_compare(g, l.r[P_LOSS], s, h, v);
        panel_scale_compare(g, l.r[P_SCALE], s, h, v);
        panel_eval_compare(g, l.r[P_EVAL], s, v);
        panel_div(g, l.div, s, v);
    } else {
        panel_loss(g, l.r[P_LOSS], h, v);
        panel_scale(g, l.r[P_SCALE], s, h, v);
        panel_eval(g, l.r[P_EVAL], s, v);
    }
    panel_map(g, l.r[P_MAP], s, v);
    /* ranks: the Ranks panel takes the top of the Memory panel's place (every rank's plan
     * is the same) */
    ui_rect mem = l.mem;
    int rk = panel_ranks_rows(s);
    if (rk && mem.h >= 8) {
        if (rk > mem.h / 2 + 2) rk = mem.h / 2 + 2;
        panel_ranks(g, (ui_rect){mem.x, mem.y, mem.w, rk}, s, v);
        mem.y += rk;
        mem.h -= rk;
    }
    panel_memory(g, mem, s, v);
    panel_footer(g, l.r[P_FOOTER], s, v);
    if (v->help) panel_help(g, v);
}
