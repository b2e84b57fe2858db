/* panels_compare.c — the screen while lockstep replicas run: overlaid loss curves with a
 * legend, scale / overflow and eval lines per replica, the divergence band, and the picker. */
#include "panels_compare.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chart.h"

uint32_t panel_replica_glyph(int i, int unicode)
{
    static const uint32_t uni[3] = {0x25cf, 0x25b2, 0x25a0}, asc[3] = {'o', '+', 'x'};
    return unicode ? uni[i % 3] : asc[i % 3];
}

/* The replica's name in capitals as the rest of the screen labels modes ("FP16"). */
void panel_replica_label(const feed_replica *r, char *buf, size_t n)
{
    dtype_t dt;
    if (dtype_parse(r->name, &dt) == 0 && dt == r->mode) {
        snprintf(buf, n, "%s", dtype_label(dt));
        return;
    }
    snprintf(buf, n, "%s", r->name);
}

/* glyph + label, e.g. "● FP16"; the selected replica in brackets and bold. */
static int replica_tag(ui_grid *g, int x, int y, int maxw, const feed_snapshot *s, int i,
                       int unicode, int brackets)
{
    char lab[PANEL_LABEL_LEN], text[32], gl[8];
    panel_replica_label(&s->replicas[i], lab, sizeof lab);
    gl[grid_utf8(panel_replica_glyph(i, unicode), gl)] = 0;
    int sel = brackets && i == s->replica_selected;
    snprintf(text, sizeof text, sel ? "%s[%s]" : "%s %s", gl, lab);
    return grid_text(g, x, y, maxw, text, sel ? UA_BOLD | UA_REVERSE : UA_BOLD,
                     panel_dtype_color(s->replicas[i].mode));
}

void panel_loss_compare(ui_grid *g, ui_rect r, const feed_snapshot *s, const ui_history *h,
                        const ui_view *v)
{
    char title[128];
    int len = snprintf(title, sizeof title, "Loss");
    for (int i = 0; i < s->n_replicas && len < (int)sizeof title; i++) {
        char lab[PANEL_LABEL_LEN];
        panel_replica_label(&s->replicas[i], lab, sizeof lab);
        int k = history_replica(h, s->replicas[i].name);
        const ui_series *L = k >= 0 ? &h->rep[k].loss : NULL;
        if (L && L->n) len += snprintf(title + len, sizeof title - len, "  %s %.4g", lab, L->y[L->n - 1]);
    }
    if (len < (int)sizeof title)
        snprintf(title + len, sizeof title - len, "  (w %.2f) %s", v->smooth,
                 v->log_scale ? "log" : "linear");
    grid_box(g, r, title, v->unicode, UC_DIM);
    ui_rect in = rect_inner(r);
    panel_series ser[2 * HIST_REPLICAS];
    double *sm[HIST_REPLICAS] = {0}, *mx[HIST_REPLICAS] = {0}, *my[HIST_REPLICAS] = {0};
    int nser = 0;
    for (int i = 0; i < s->n_replicas && i < HIST_REPLICAS; i++) {
        int k = history_replica(h, s->replicas[i].name);
        const ui_series *L = k >= 0 ? &h->rep[k].loss : NULL;
        if (!L || !L->n) continue;
        sm[i] = malloc(L->n * sizeof *sm[i]);
        mx[i] = malloc(L->n * sizeof *mx[i]);
        my[i] = malloc(L->n * sizeof *my[i]);
        if (!sm[i] || !mx[i] || !my[i]) continue;
        chart_ema(L->y, L->n, v->smooth, sm[i]);
        int color = panel_dtype_color(s->replicas[i].mode);
        ser[nser++] = (panel_series){L->x, sm[i], L->n, color, 0, 0};
        /* markers at a few points (staggered per replica) tell the curves apart without color */
        size_t nr = (size_t)s->n_replicas, every = L->n / 6 > nr ? L->n / 6 : nr, m = 0;
        for (size_t j = (size_t)i * every / nr; j < L->n; j += every) {
            mx[i][m] = L->x[j];
            my[i][m++] = sm[i][j];
        }
        ser[nser++] = (panel_series){mx[i], my[i], m, color, 1, panel_replica_glyph(i, v->unicode)};
    }
    if (nser)
        panel_chart(g, in, ser, nser, v->log_scale, v->unicode, 1, panel_label_value);
    else
        grid_text(g, in.x + 1, in.y + in.h / 2, in.w - 2, "waiting for the first logged step", 0, UC_DIM);
    for (int i = 0; i < HIST_REPLICAS; i++) free(sm[i]), free(mx[i]), free(my[i]);
    /* legend in the bottom edge */
    int x = r.x + 2, y = r.y + r.h - 1;
    for (int i = 0; i < s->n_replicas; i++) {
        x += grid_text(g, x, y, r.x + r.w - 2 - x, " ", 0, UC_DEFAULT);
        x += replica_tag(g, x, y, r.x + r.w - 2 - x, s, i, v->unicode, 1);
    }
    grid_text(g, x, y, r.x + r.w - 2 - x, " ", 0, UC_DEFAULT);
}

void panel_scale_compare(ui_grid *g, ui_rect r, const feed_snapshot *s, const ui_history *h,
                         const ui_view *v)
{
    grid_box(g, r, "Loss scale / overflows", v->unicode, UC_DIM);
    ui_rect in = rect_inner(r);
    int y = in.y, x = in.x + 1, w = in.w - 1;
    for (int i = 0; i < s->n_replicas && y < in.y + in.h; i++, y++) {
        const feed_replica *p = &s->replicas[i];
        int cx = x + replica_tag(g, x, y, w, s, i, v->unicode, 0);
        char sc[32], ov[48];
        if (!p->scaler_enabled) snprintf(sc, sizeof sc, "no scaling");
        else snprintf(sc, sizeof sc, "2^%.0f%s", p->loss_scale > 0 ? log2(p->loss_scale) : 0.0,
                      p->scaler_dynamic ? "" : " static");
        cx += grid_printf(g, cx, y, x + w - cx, 0, p->scaler_enabled ? UC_SCALE : UC_DIM, " %s", sc);
        if (p->overflow_total > 0 && p->last_overflow_step >= 0)
            snprintf(ov, sizeof ov, " ovf %lld @%lld", (long long)p->overflow_total,
                     (long long)p->last_overflow_step);
        else
            snprintf(ov, sizeof ov, " ovf 0");
        grid_text(g, cx, y, x + w - cx, ov, p->overflow_window ? UA_BOLD : 0,
                  p->overflow_window ? UC_BAD : UC_DEFAULT);
    }
    int rows = in.y + in.h - y;
    panel_series ser[HIST_REPLICAS];
    int nser = 0;
    for (int i = 0; i < s->n_replicas && i < HIST_REPLICAS; i++) {
        int k = history_replica(h, s->replicas[i].name);
        if (k < 0 || !h->rep[k].scale_log2.n || !s->replicas[i].scaler_enabled) continue;
        const ui_series *S = &h->rep[k].scale_log2;
        ser[nser++] = (panel_series){S->x, S->y, S->n, panel_dtype_color(s->replicas[i].mode), 0, 0};
    }
    if (rows >= 1 && nser)
        panel_chart(g, (ui_rect){in.x, y, in.w, rows}, ser, nser, 0, v->unicode, rows >= 3,
                    panel_label_pow2);
}

void panel_eval_compare(ui_grid *g, ui_rect r, const feed_snapshot *s, const ui_view *v)
{
    grid_box(g, r, "Eval (same windows)", v->unicode, UC_DIM);
    ui_rect in = rect_inner(r);
    int x = in.x + 1, w = in.w - 1;
    for (int i = 0; i < s->n_replicas && i < in.h; i++) {
        const feed_replica *p = &s->replicas[i];
        int y = in.y + i, cx = x + replica_tag(g, x, y, w, s, i, v->unicode, 0);
        if (!p->have_eval) {
            grid_text(g, cx, y, x + w - cx, " no eval yet (e)", 0, UC_DIM);
            continue;
        }
        grid_printf(g, cx, y, x + w - cx, 0, UC_EVAL, " %.4f ppl %.2f @%lld", p->eval_loss,
                    p->eval_ppl, (long long)p->eval_step);
    }
}

void panel_div(ui_grid *g, ui_rect r, const feed_snapshot *s, const ui_view *v)
{
    char title[96];
    if (s->div_step >= 0 && s->n_div > 0)
        snprintf(title, sizeof title, "Divergence @%lld  (dW: rel L2 of weights, cos: of gradients)",
                 (long long)s->div_step);
    else
        snprintf(title, sizeof title, "Divergence");
    grid_box(g, r, title, v->unicode, UC_DIM);
    ui_rect in = rect_inner(r);
    if (s->div_step < 0 || s->n_div <= 0) {
        grid_text(g, in.x + 1, in.y, in.w - 1, "at the next logged step", 0, UC_DIM);
        return;
    }
    for (int k = 0; k < s->n_div && k < in.h; k++) {
        const feed_div *d = &s->div[k];
        char a[PANEL_LABEL_LEN], b[PANEL_LABEL_LEN], text[160];
        panel_replica_label(&s->replicas[d->a], a, sizeof a);
        panel_replica_label(&s->replicas[d->b], b, sizeof b);
        int y = in.y + k, x = in.x + 1;
        x += grid_printf(g, x, y, in.x + in.w - x, UA_BOLD, panel_dtype_color(s->replicas[d->b].mode),
                         "%s", b);
        x += grid_printf(g, x, y, in.x + in.w - x, 0, UC_DEFAULT, "-");
        x += grid_printf(g, x, y, in.x + in.w - x, UA_BOLD, panel_dtype_color(s->replicas[d->a].mode),
                         "%s", a);
        snprintf(text, sizeof text, "  dloss %+.3g  dW %.2e  cos %.4f  min %.4f %s", d->loss_diff,
                 d->weight_rel_l2, d->grad_cos, d->cos_min, d->cos_min_layer);
        int bad = !(d->grad_cos > 0.9);
        grid_text(g, x, y, in.x + in.w - x, text, bad ? UA_BOLD : 0, bad ? UC_WARN : UC_DEFAULT);
    }
}

/* Every choice must get a digit: with three lanes, the single modes and the pairs. */
_Static_assert(FEED_MAX_LANES <= 3 &&
               (DT_COUNT - 1) + (DT_COUNT - 1) * (DT_COUNT - 2) / 2 <= PANEL_PICKER_MAX,
               "a picker digit for every set of modes a comparison can add");
_Static_assert(DT_COUNT < 31, "CMD_COMPARE_START carries a bit per dtype in an int");

static int popcount(int m)
{
    int c = 0;
    for (; m; m &= m - 1) c++;
    return c;
}

int panel_picker_choices(dtype_t current, int out[PANEL_PICKER_MAX])
{
    int n = 0, cur = (unsigned)current < DT_COUNT ? 1 << current : 0;
    for (int k = 1; k < FEED_MAX_LANES; k++)
        for (int m = 1; m < 1 << DT_COUNT && n < PANEL_PICKER_MAX; m++)
            if (!(m & cur) && popcount(m) == k) out[n++] = m;
    return n;
}

const char *panel_picker_label(int mask, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int d = 0; d < DT_COUNT && len < n; d++)
        if (mask >> d & 1)
            len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? "+" : "",
                                    dtype_label((dtype_t)d));
    return buf;
}

/* The choices after "compare FP16 with:", choices apart by sep. */
static size_t picker_text(char *text, size_t size, const feed_snapshot *s, const char *sep)
{
    int c[PANEL_PICKER_MAX], n = panel_picker_choices(s->mode, c);
    size_t len = (size_t)snprintf(text, size, "compare %s with:", dtype_label(s->mode));
    for (int k = 0; k < n && len < size; k++) {
        char lab[64];
        len += (size_t)snprintf(text + len, size - len, "%s%d %s", k ? sep : " ", k + 1,
                                panel_picker_label(c[k], lab, sizeof lab));
    }
    return len;
}

/* "compare FP16 with: 1 FP32  2 BF16  3 FP8  4 FP32+BF16 ...   (any other key cancels)";
 * on a narrow line without the hint, then with single spaces. */
void panel_picker(ui_grid *g, ui_rect r, const feed_snapshot *s)
{
    static const char hint[] = "   (any other key cancels)";
    char text[256];
    size_t len = picker_text(text, sizeof text, s, "  "), w = r.w > 1 ? (size_t)r.w - 1 : 0;
    if (len + strlen(hint) <= w) snprintf(text + len, sizeof text - len, "%s", hint);
    else if (len > w) picker_text(text, sizeof text, s, " ");
    grid_fill(g, r, ' ', 0, UC_DEFAULT);
    grid_text(g, r.x + 1, r.y, r.w - 1, text, UA_BOLD, UC_WARN);
}
