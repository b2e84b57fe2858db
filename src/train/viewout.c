/* viewout.c — `mptui view --summary` and `--plot` (docs/view.md): figures per run, a plain
 * text table, and an SVG of the overlaid loss curves written by hand (no plotting library). */
#include "viewout.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "errfmt.h"
#include "fsutil.h"

void viewout_stats(const view_run *r, view_stats *st)
{
    st->steps = st->best_step = st->eval_step = st->overflow_steps = -1;
    st->final_loss = st->best_loss = st->eval_loss = st->eval_ppl = NAN;
    st->tokens_per_s = st->wall_s = NAN;
    double tok = 0;
    size_t ntok = 0;
    int64_t counted = 0;
    for (size_t i = 0; i < r->n_train; i++) {
        const metric_row *m = &r->train[i];
        if (m->step > st->steps) st->steps = m->step;
        if (isfinite(m->loss)) {
            st->final_loss = m->loss;
            if (!(m->loss >= st->best_loss)) st->best_loss = m->loss, st->best_step = m->step;
        }
        if (m->overflow_total >= 0) st->overflow_steps = m->overflow_total;
        counted += m->overflow == 1;
        if (isfinite(m->tokens_per_s) && m->tokens_per_s > 0) tok += m->tokens_per_s, ntok++;
        if (isfinite(m->time_s) && !(m->time_s <= st->wall_s)) st->wall_s = m->time_s;
    }
    if (st->overflow_steps < 0 && r->n_train) st->overflow_steps = counted;
    if (ntok) st->tokens_per_s = tok / (double)ntok;
    for (size_t i = 0; i < r->n_eval; i++) {
        const metric_row *m = &r->eval[i];
        if (m->step > st->steps) st->steps = m->step;
        if (isfinite(m->time_s) && !(m->time_s <= st->wall_s)) st->wall_s = m->time_s;
        if (isfinite(m->eval_loss)) {
            st->eval_loss = m->eval_loss;
            st->eval_ppl = m->eval_ppl;
            st->eval_step = m->step;
        }
    }
}

/* ---- the table ---- */

static void cell_num(char *b, size_t n, double v, const char *fmt)
{
    if (isnan(v)) snprintf(b, n, "-");
    else snprintf(b, n, fmt, v);
}

static void cell_int(char *b, size_t n, int64_t v)
{
    if (v < 0) snprintf(b, n, "-");
    else snprintf(b, n, "%lld", (long long)v);
}

enum { S_RUN, S_PREC, S_STEPS, S_FINAL, S_BEST, S_BEST_AT, S_EVAL, S_PPL, S_EVAL_AT, S_OVF,
       S_TOK, S_WALL, S_N };

static const char *const sum_head[S_N] = {
    "run", "precision", "steps", "final_loss", "best_loss", "best_step", "eval_loss",
    "eval_ppl", "eval_step", "overflow_steps", "tokens_per_s", "wall_s",
};

static void summary_cells(const view_run *r, char c[S_N][VIEW_NAME])
{
    view_stats st;
    viewout_stats(r, &st);
    snprintf(c[S_RUN], VIEW_NAME, "%s", r->name);
    snprintf(c[S_PREC], VIEW_NAME, "%s", r->precision);
    cell_int(c[S_STEPS], VIEW_NAME, st.steps);
    cell_num(c[S_FINAL], VIEW_NAME, st.final_loss, "%.4f");
    cell_num(c[S_BEST], VIEW_NAME, st.best_loss, "%.4f");
    cell_int(c[S_BEST_AT], VIEW_NAME, st.best_step);
    cell_num(c[S_EVAL], VIEW_NAME, st.eval_loss, "%.4f");
    cell_num(c[S_PPL], VIEW_NAME, st.eval_ppl, "%.2f");
    cell_int(c[S_EVAL_AT], VIEW_NAME, st.eval_step);
    cell_int(c[S_OVF], VIEW_NAME, st.overflow_steps);
    cell_num(c[S_TOK], VIEW_NAME, st.tokens_per_s, "%.0f");
    cell_num(c[S_WALL], VIEW_NAME, st.wall_s, "%.1f");
}

size_t viewout_summary(const view_set *s, char *buf, size_t n)
{
    static char cell[VIEW_MAX_RUNS][S_N][VIEW_NAME];
    int w[S_N];
    for (int k = 0; k < S_N; k++) w[k] = (int)strlen(sum_head[k]);
    for (int i = 0; i < s->n; i++) {
        summary_cells(&s->run[i], cell[i]);
        for (int k = 0; k < S_N; k++)
            if ((int)strlen(cell[i][k]) > w[k]) w[k] = (int)strlen(cell[i][k]);
    }
    size_t len = 0;
    if (n) buf[0] = 0;
    for (int i = -1; i < s->n; i++)
        for (int k = 0; k < S_N; k++) {
            const char *t = i < 0 ? sum_head[k] : cell[i][k];
            /* names and labels left-aligned, numbers right-aligned; two spaces between */
            int left = k <= S_PREC;
            char piece[VIEW_NAME + 8];
            int m = snprintf(piece, sizeof piece, "%s%*s%s", k ? "  " : "", left ? -w[k] : w[k], t,
                             k == S_N - 1 ? "\n" : "");
            if (len + (size_t)m < n) memcpy(buf + len, piece, (size_t)m + 1);
            len += (size_t)m;
        }
    return len;
}

/* ---- the plot ---- */

const char *viewout_color(int i)
{
    static const char *pal[VIEW_MAX_RUNS] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                             "#9467bd", "#8c564b", "#e377c2", "#17becf"};
    return pal[(i % VIEW_MAX_RUNS + VIEW_MAX_RUNS) % VIEW_MAX_RUNS];
}

/* Plot area inside the picture: left for the y labels, right for the legend. */
enum { PX = 70, PY = 40, PW = 640, PH = VIEW_SVG_H - 40 - 60 };

typedef struct { double lo, hi, step; } axis;

/* 1, 2 or 5 x 10^k near span/5, and bounds on multiples of it. */
static void axis_nice(axis *a, double lo, double hi)
{
    if (!(lo < hi)) { double d = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1; lo -= d; hi += d; }
    double raw = (hi - lo) / 5, p = pow(10, floor(log10(raw))), f = raw / p;
    a->step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
    a->lo = floor(lo / a->step) * a->step;
    a->hi = ceil(hi / a->step) * a->step;
}

static double sx(const axis *a, double v) { return PX + (v - a->lo) / (a->hi - a->lo) * PW; }
static double sy(const axis *a, double v) { return PY + PH - (v - a->lo) / (a->hi - a->lo) * PH; }

static void xml_text(FILE *o, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", o); break;
        case '<': fputs("&lt;", o); break;
        case '>': fputs("&gt;", o); break;
        case '"': fputs("&quot;", o); break;
        case '\'': fputs("&apos;", o); break;
        default:
            if ((unsigned char)*s >= 0x20) fputc(*s, o);
        }
    }
}

/* The data's ranges: steps over every row, loss over train losses and eval losses. */
static int data_range(const view_set *s, axis *x, axis *y)
{
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int i = 0; i < s->n; i++) {
        const view_run *r = &s->run[i];
        for (int pass = 0; pass < 2; pass++) {
            const metric_row *rows = pass ? r->eval : r->train;
            size_t n = pass ? r->n_eval : r->n_train;
            for (size_t k = 0; k < n; k++) {
                double v = pass ? rows[k].eval_loss : rows[k].loss;
                if (!isfinite(v)) continue;
                double st = (double)rows[k].step;
                if (st < xlo) xlo = st;
                if (st > xhi) xhi = st;
                if (v < ylo) ylo = v;
                if (v > yhi) yhi = v;
            }
        }
    }
    if (xlo > xhi) return -1;
    axis_nice(x, xlo, xhi);
    axis_nice(y, ylo, yhi);
    return 0;
}

static void svg_axes(FILE *o, const axis *x, const axis *y)
{
    fprintf(o, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n",
            PX, PY, PW, PH);
    fputs("<g class=\"xticks\" font-size=\"12\" text-anchor=\"middle\">\n", o);
    for (double v = x->lo; v <= x->hi + x->step / 2; v += x->step) {
        double px = sx(x, v);
        fprintf(o, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>"
                "<text class=\"tick\" x=\"%.1f\" y=\"%d\">%.6g</text>\n",
                px, PY, px, PY + PH, px, PY + PH + 16, fabs(v) < x->step / 2 ? 0.0 : v);
    }
    fputs("</g>\n<g class=\"yticks\" font-size=\"12\" text-anchor=\"end\">\n", o);
    for (double v = y->lo; v <= y->hi + y->step / 2; v += y->step) {
        double py = sy(y, v);
        fprintf(o, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                "<text class=\"tick\" x=\"%d\" y=\"%.1f\">%.6g</text>\n",
                PX, py, PX + PW, py, PX - 6, py + 4, fabs(v) < y->step / 2 ? 0.0 : v);
    }
    fputs("</g>\n", o);
    fprintf(o, "<text class=\"axis\" x=\"%d\" y=\"%d\" font-size=\"13\" text-anchor=\"middle\">step</text>\n",
            PX + PW / 2, PY + PH + 40);
    fprintf(o, "<text class=\"axis\" x=\"18\" y=\"%d\" font-size=\"13\" text-anchor=\"middle\" "
            "transform=\"rotate(-90 18 %d)\">loss</text>\n", PY + PH / 2, PY + PH / 2);
}

static void svg_run(FILE *o, const view_run *r, int i, const axis *x, const axis *y)
{
    size_t pts = 0;
    for (size_t k = 0; k < r->n_train; k++) pts += isfinite(r->train[k].loss) != 0;
    if (pts) {
        fputs("<polyline class=\"train\" data-run=\"", o);
        xml_text(o, r->name);
        fprintf(o, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", viewout_color(i));
        const char *sep = "";
        for (size_t k = 0; k < r->n_train; k++) {
            if (!isfinite(r->train[k].loss)) continue;
            fprintf(o, "%s%.1f,%.1f", sep, sx(x, (double)r->train[k].step), sy(y, r->train[k].loss));
            sep = " ";
        }
        fputs("\"/>\n", o);
    }
    fputs("<g class=\"eval\" data-run=\"", o);
    xml_text(o, r->name);
    fprintf(o, "\" fill=\"%s\" stroke=\"#fff\">\n", viewout_color(i));
    for (size_t k = 0; k < r->n_eval; k++)
        if (isfinite(r->eval[k].eval_loss))
            fprintf(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\"/>\n", sx(x, (double)r->eval[k].step),
                    sy(y, r->eval[k].eval_loss));
    fputs("</g>\n", o);
}

static void svg_legend(FILE *o, const view_set *s)
{
    int lx = PX + PW + 20, ly = PY + 10;
    fputs("<g class=\"legend\" font-size=\"13\">\n", o);
    for (int i = 0; i < s->n; i++, ly += 22) {
        fprintf(o, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/>"
                "<circle cx=\"%d\" cy=\"%d\" r=\"4\" fill=\"%s\"/>", lx, ly, lx + 24, ly,
                viewout_color(i), lx + 12, ly, viewout_color(i));
        fprintf(o, "<text class=\"legend\" x=\"%d\" y=\"%d\">", lx + 32, ly + 4);
        xml_text(o, s->run[i].name);
        fputs(" (", o);
        xml_text(o, s->run[i].precision);
        fputs(")</text>\n", o);
    }
    fprintf(o, "<text class=\"note\" x=\"%d\" y=\"%d\" fill=\"#555\">line: train loss, "
            "dots: eval loss</text>\n", lx, ly + 8);
    fputs("</g>\n", o);
}

int viewout_svg(const view_set *s, FILE *o)
{
    axis x, y;
    fprintf(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n"
            "<text class=\"title\" x=\"%d\" y=\"24\" font-size=\"16\">mptui: training loss and "
            "eval loss by step</text>\n", VIEW_SVG_W, VIEW_SVG_H, VIEW_SVG_W, VIEW_SVG_H, PX);
    if (data_range(s, &x, &y) == 0) {
        svg_axes(o, &x, &y);
        for (int i = 0; i < s->n; i++) svg_run(o, &s->run[i], i, &x, &y);
    } else {
        fprintf(o, "<text class=\"empty\" x=\"%d\" y=\"%d\">no losses logged yet</text>\n",
                PX + PW / 2, PY + PH / 2);
    }
    svg_legend(o, s);
    fputs("</svg>\n", o);
    return ferror(o) ? -1 : 0;
}

static int fill_svg(FILE *out, void *ctx) { return viewout_svg(ctx, out); }

int viewout_write_svg(const view_set *s, const char *path, char *err, size_t errlen)
{
    errno = 0;
    if (fsutil_replace(path, "plot", 0644, fill_svg, (void *)s))
        return errfmt(err, errlen, "%s: cannot write the plot: %s", path,
                      strerror(errno ? errno : EIO));
    return 0;
}
