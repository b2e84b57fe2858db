/* panels.h — every part of the screen drawn into a ui_grid from a feed snapshot, the UI's
 * history and its view state: header, loss chart, loss-scale, eval, precision map, footer,
 * help overlay and the too-small notice. */
#ifndef MPTUI_PANELS_H
#define MPTUI_PANELS_H

#include <stdint.h>

#include "feed.h"
#include "grid.h"
#include "history.h"
#include "layout.h"

/* What the user has chosen to see; owned by the UI thread. */
typedef struct {
    int unicode;          /* braille charts and rounded frames */
    int log_scale;        /* loss chart y axis */
    double smooth;        /* EMA weight, 0 .. 0.99 */
    int selected;         /* precision-map row */
    int scroll;           /* first precision-map row shown */
    int map_page;         /* rows the map showed last frame (PgUp/PgDn step) */
    int help;             /* help overlay open */
    int picker;           /* the compare picker (c) is open on the message line */
    char msg[FEED_MSG];   /* UI's own message (a refused command...); cleared by newer engine ones */
    int msg_is_error;
} ui_view;

void view_init(ui_view *v, int unicode);
/* Sets the UI's own message line. */
void view_message(ui_view *v, int is_error, const char *text);

/* Color role of a dtype (fp32 / fp16 / bf16 are distinct). */
int panel_dtype_color(dtype_t dt);
/* 1 when the row has overflowed or lost more than 1% to underflow, or an FP8 cast of it
 * saturated. */
int panel_layer_unhealthy(const feed_layer *l);
/* An FP8 recipe in words for the map's title: "delayed, hybrid, hist 1024, margin 0",
 * "current, hybrid, margin 0", "mxfp8, e4m3". Returns buf. */
const char *panel_fp8_recipe(const fp8_recipe *r, char *buf, size_t n);
/* An FP8 scale as the map shows it: "2^-3" for a power of two, else %.4g; "blocks" for
 * MXFP8 (no per-tensor scale); "-" for none. Returns buf. */
const char *panel_fp8_scale(float scale, int blocks, char *buf, size_t n);
/* "(dynamic)", "(static)" or "(no scaling)". */
const char *panel_scaling_label(const feed_snapshot *s);

/* One series of a chart: a line through (x, y), or a marker glyph at each point. */
typedef struct {
    const double *x, *y;
    size_t n;
    int color, marks;
    uint32_t glyph;       /* marks: 0 = the eval dot */
} panel_series;

/* A chart with y labels (ylab) on the left and x labels below, inside r. */
void panel_chart(ui_grid *g, ui_rect r, const panel_series *ser, int nser, int log_scale,
                 int unicode, int labels, const char *(*ylab)(double, char *, size_t));
const char *panel_label_value(double v, char *buf, size_t n);
const char *panel_label_pow2(double v, char *buf, size_t n);

void panel_header(ui_grid *g, ui_rect r, const feed_snapshot *s);
void panel_loss(ui_grid *g, ui_rect r, const ui_history *h, const ui_view *v);
void panel_scale(ui_grid *g, ui_rect r, const feed_snapshot *s, const ui_history *h,
                 const ui_view *v);
void panel_eval(ui_grid *g, ui_rect r, const feed_snapshot *s, const ui_view *v);
/* Also clamps v->selected / v->scroll to the rows and records v->map_page. */
void panel_map(ui_grid *g, ui_rect r, const feed_snapshot *s, ui_view *v);
void panel_footer(ui_grid *g, ui_rect r, const feed_snapshot *s, const ui_view *v);
/* The memory plan of the run under its policy now: a row per role and dtype, bytes as
 * stored and fp32-equivalent, the total and what is available (panel_memory.c). */
void panel_memory(ui_grid *g, ui_rect r, const feed_snapshot *s, const ui_view *v);
/* The Ranks panel of a data-parallel run (panel_ranks.c): a row per rank (tokens/s, step and
 * comm time, overflows, peak memory) and the total; draws nothing in a single process.
 * panel_ranks_rows: the rows it wants (0 without ranks). */
void panel_ranks(ui_grid *g, ui_rect r, const feed_snapshot *s, const ui_view *v);
int panel_ranks_rows(const feed_snapshot *s);
void panel_help(ui_grid *g, const ui_view *v);
/* A centred help box titled `title` of n (key, what it does) lines over the screen; the live
 * screen's help (panel_help) and mptui view's draw through it. */
void panel_help_box(ui_grid *g, const ui_view *v, const char *title,
                    const char *(*lines)[2], int n);
void panel_too_small(ui_grid *g);
/* The whole screen for the grid's size (the too-small notice below 80x24). */
void panels_draw(ui_grid *g, const feed_snapshot *s, const ui_history *h, ui_view *v);

#endif
