/* chart.c — dot canvas, line rasterising, braille and ASCII rendering, axis mapping and the
 * debiased EMA used to smooth the loss curve. */
#include "chart.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void chart_ema(const double *y, size_t n, double w, double *out)
{
    int constant = 1;
    for (size_t i = 1; i < n; i++)
        if (!(y[i] == y[0])) constant = 0;
    double last = 0;
    long num_accum = 0;
    for (size_t i = 0; i < n; i++) {
        if (constant || !isfinite(y[i])) {
            out[i] = y[i];
            continue;
        }
        last = last * w + (1 - w) * y[i];
        num_accum++;
        double debias = w == 1 ? 1 : 1 - pow(w, (double)num_accum);
        out[i] = last / debias;
    }
}

int chart_map(double v, double lo, double hi, int log_scale, int steps)
{
    if (!isfinite(v) || steps <= 0) return -1;
    double t;
    if (log_scale) {
        if (v <= 0 || lo <= 0 || hi <= 0) return -1;
        double a = log10(lo), b = log10(hi);
        t = b > a ? (log10(v) - a) / (b - a) : 0.5;
    } else {
        t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
    }
    if (t < 0) t = 0;
    if (t > 1) t = 1;
    return (int)lround(t * (steps - 1));
}

int chart_range(const double *y, size_t n, int log_scale, double *lo, double *hi)
{
    double a = INFINITY, b = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i]) || (log_scale && y[i] <= 0)) continue;
        if (y[i] < a) a = y[i];
        if (y[i] > b) b = y[i];
    }
    if (a > b) return -1;
    if (a == b) {
        if (log_scale) { a /= 2; b *= 2; }
        else { double d = fabs(a) > 0 ? fabs(a) * 0.1 : 1; a -= d; b += d; }
    }
    *lo = a;
    *hi = b;
    return 0;
}

int chart_canvas_init(chart_canvas *c, int cw, int ch)
{
    memset(c, 0, sizeof *c);
    if (cw <= 0 || ch <= 0) return -1;
    size_t n = (size_t)cw * (size_t)ch;
    c->dots = calloc(n, 1);
    c->color = calloc(n, 1);
    c->mark = calloc(n, sizeof *c->mark);
    c->mark_color = calloc(n, 1);
    if (!c->dots || !c->color || !c->mark || !c->mark_color) {
        chart_canvas_free(c);
        return -1;
    }
    c->cw = cw;
    c->ch = ch;
    return 0;
}

void chart_canvas_free(chart_canvas *c)
{
    free(c->dots);
    free(c->color);
    free(c->mark);
    free(c->mark_color);
    memset(c, 0, sizeof *c);
}

/* Braille bit of dot (column 0..1, row 0..3) inside a cell. */
static const uint8_t braille_bit[2][4] = {{0x01, 0x02, 0x04, 0x40}, {0x08, 0x10, 0x20, 0x80}};

void chart_dot(chart_canvas *c, int dx, int dy, int color)
{
    if (dx < 0 || dy < 0 || dx >= c->cw * 2 || dy >= c->ch * 4) return;
    size_t i = (size_t)(dy / 4) * c->cw + dx / 2;
    c->dots[i] |= braille_bit[dx % 2][dy % 4];
    c->color[i] = (uint8_t)color;
}

void chart_line(chart_canvas *c, int x0, int y0, int x1, int y1, int color)
{
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
    int dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (;;) { /* Bresenham */
        chart_dot(c, x0, y0, color);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * err;
        if (e2 >= dy) { err += dy; x0 += sx; }
        if (e2 <= dx) { err += dx; y0 += sy; }
    }
}

/* Dot coordinates of a point; 0 when it cannot be drawn. */
static int chart_point(const chart_canvas *c, const chart_view *v, double x, double y,
                       int *dx, int *dy)
{
    int level = chart_map(y, v->ylo, v->yhi, v->log_scale, c->ch * 4);
    if (level < 0 || !isfinite(x)) return 0;
    int col = chart_map(x, v->xlo, v->xhi, 0, c->cw * 2);
    if (v->xhi <= v->xlo) col = 0;
    *dx = col;
    *dy = c->ch * 4 - 1 - level;
    return 1;
}

void chart_plot(chart_canvas *c, const chart_view *v, const double *x, const double *y,
                size_t n, int color)
{
    int have = 0, px = 0, py = 0;
    for (size_t i = 0; i < n; i++) {
        int dx, dy;
        if (!chart_point(c, v, x[i], y[i], &dx, &dy)) continue;
        if (have) chart_line(c, px, py, dx, dy, color);
        else chart_dot(c, dx, dy, color);
        px = dx;
        py = dy;
        have = 1;
    }
}

void chart_marks(chart_canvas *c, const chart_view *v, const double *x, const double *y,
                 size_t n, uint32_t glyph, int color)
{
    for (size_t i = 0; i < n; i++) {
        int dx, dy;
        if (!chart_point(c, v, x[i], y[i], &dx, &dy)) continue;
        size_t k = (size_t)(dy / 4) * c->cw + dx / 2;
        c->mark[k] = glyph;
        c->mark_color[k] = (uint8_t)color;
    }
}

uint32_t chart_braille(uint8_t mask) { return 0x2800u + mask; }

char chart_ascii(uint8_t mask)
{
    int rows = 0, first = -1, last = -1;
    for (int r = 0; r < 4; r++)
        if (mask & (braille_bit[0][r] | braille_bit[1][r])) {
            rows++;
            if (first < 0) first = r;
            last = r;
        }
    if (rows == 0) return ' ';
    if (last - first >= 2) return '|';
    double mid = (first + last) / 2.0;
    return mid <= 0.5 ? '\'' : mid < 2.5 ? '-' : '.';
}

void chart_blit(const chart_canvas *c, ui_grid *g, int x, int y, int unicode)
{
    for (int r = 0; r < c->ch; r++)
        for (int k = 0; k < c->cw; k++) {
            size_t i = (size_t)r * c->cw + k;
            if (c->mark[i]) {
                grid_put(g, x + k, y + r, c->mark[i], UA_BOLD, c->mark_color[i]);
            } else if (c->dots[i]) {
                uint32_t ch = unicode ? chart_braille(c->dots[i]) : (uint32_t)chart_ascii(c->dots[i]);
                grid_put(g, x + k, y + r, ch, 0, c->color[i]);
            }
        }
}
