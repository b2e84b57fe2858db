/* chart.h — line charts on a dot canvas (2x4 dots per cell) rendered as Unicode braille or
 * an ASCII fallback; value-to-row mapping (linear or log) and TensorBoard's debiased EMA. */
#ifndef MPTUI_CHART_H
#define MPTUI_CHART_H

#include <stddef.h>
#include <stdint.h>

#include "grid.h"

/* TensorBoard's smoothing: last = last*w + (1-w)*x, num_accum += 1, out = last / (1 -
 * w^num_accum); non-finite inputs pass through unchanged and do not advance the state, and a
 * constant series is returned as is. w in [0, 1]. */
void chart_ema(const double *y, size_t n, double w, double *out);

/* Level of v among `steps` levels from the bottom (0 = lo, steps-1 = hi), clamped; linear or
 * log10 scale. -1 when v cannot be drawn (non-finite, or <= 0 on a log scale). */
int chart_map(double v, double lo, double hi, int log_scale, int steps);

/* Finite min/max of y (positive values only when log_scale), widened when flat.
 * 0 ok, -1 when no value qualifies. */
int chart_range(const double *y, size_t n, int log_scale, double *lo, double *hi);

typedef struct {
    int cw, ch;        /* cells */
    uint8_t *dots;     /* (ch, cw) braille bit masks */
    uint8_t *color;    /* (ch, cw) color of the last series that set a dot */
    uint32_t *mark;    /* (ch, cw) marker glyph drawn over the dots, 0 = none */
    uint8_t *mark_color;
} chart_canvas;

int chart_canvas_init(chart_canvas *c, int cw, int ch);
void chart_canvas_free(chart_canvas *c);
/* Dot (dx, dy), dy counted from the top; ignored outside. */
void chart_dot(chart_canvas *c, int dx, int dy, int color);
void chart_line(chart_canvas *c, int x0, int y0, int x1, int y1, int color);

typedef struct {
    double xlo, xhi, ylo, yhi;
    int log_scale;
} chart_view;

/* Connected line through the drawable points of (x, y). */
void chart_plot(chart_canvas *c, const chart_view *v, const double *x, const double *y,
                size_t n, int color);
/* One marker glyph per drawable point. */
void chart_marks(chart_canvas *c, const chart_view *v, const double *x, const double *y,
                 size_t n, uint32_t glyph, int color);

/* U+2800 + mask (bit layout of the Unicode braille block). */
uint32_t chart_braille(uint8_t mask);
/* ASCII for a cell's dots: ' ' none, '\'' top, '-' middle, '.' bottom, '|' a steep span. */
char chart_ascii(uint8_t mask);
/* Copies the canvas onto the grid at (x, y). */
void chart_blit(const chart_canvas *c, ui_grid *g, int x, int y, int unicode);

#endif
