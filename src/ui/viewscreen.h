/* viewscreen.h — the read-only screen of `mptui view` (docs/view.md, the screen): saved runs
 * overlaid in the loss chart, one run selected for the scale panel, precision map and
 * divergence band, which reuse the live screen's panels through a feed snapshot. */
#ifndef MPTUI_VIEWSCREEN_H
#define MPTUI_VIEWSCREEN_H

#include "feed.h"
#include "grid.h"
#include "panels.h"
#include "tui.h"
#include "viewrun.h"

typedef struct {
    view_set *set;
    int sel;                /* the selected run */
    ui_view v;              /* log scale, smoothing, map row, help, message */
    int cursor;             /* the step cursor is shown */
    int64_t cursor_step;
    feed_snapshot *snap;    /* the selected run as the live panels read it */
    int snap_for;           /* run the snapshot describes; -1 = rebuild */
    long long polled_ms;    /* last look at the files (live follow) */
} viewscreen;

/* 0 ok, -1 out of memory. */
int viewscreen_init(viewscreen *vs, view_set *set, int unicode);
void viewscreen_free(viewscreen *vs);
/* The whole screen for the grid's size (the too-small notice below 80x24). */
void viewscreen_draw(viewscreen *vs, ui_grid *g);
/* Applies a key (ncurses codes); 1 = quit. */
int viewscreen_key(viewscreen *vs, int key);
/* The run's last precision, layers.csv rows and compare.csv pairs as a snapshot. */
void viewscreen_snapshot(const view_run *r, feed_snapshot *s);
/* Colour role and marker of run i (6 colours, 8 markers). */
int viewscreen_color(int i);
uint32_t viewscreen_glyph(int i, int unicode);

/* Live follow: rows appended to the runs' files since the last look (viewrun_refresh); an
 * error goes to the message line once. 1 when the screen must be redrawn. */
int viewscreen_refresh(viewscreen *vs);
/* The screen on the terminal until q (tui_run_app); 0, or -1 + err. */
int viewscreen_run(view_set *set, const tui_options *o, char *err, size_t errlen);

#endif
