/* layout.h — where each panel goes for a screen size: 80x24 minimum, extra rows and columns
 * go to the charts and the precision map. */
#ifndef MPTUI_LAYOUT_H
#define MPTUI_LAYOUT_H

#include "grid.h"

#define UI_MIN_W 80
#define UI_MIN_H 24

typedef enum { P_HEADER = 0, P_LOSS, P_SCALE, P_EVAL, P_MAP, P_FOOTER, P_COUNT } ui_panel;

typedef struct {
    int w, h;
    int too_small;
    ui_rect r[P_COUNT];
    ui_rect div;    /* divergence panel while comparing; zero size otherwise */
    ui_rect mem;    /* Memory panel: right of the map when wide, below it when tall; zero
                     * size when there is no room (80x24) */
} ui_layout;

/* The Memory panel's width, and the screen sizes that give it room: a column right of the
 * map from UI_MEM_MIN_W columns (the map keeps >= 81), else a band under the map from
 * UI_MEM_MIN_H rows, UI_MEM_BAND_H high. */
#define UI_MEM_W 53
#define UI_MEM_MIN_W 134
#define UI_MEM_MIN_H 50
#define UI_MEM_BAND_H 17

/* 1 when w x h cannot hold the panels. */
int layout_too_small(int w, int h);
/* Fills l for a w x h screen; 0 ok, -1 (too_small set, rects zero) when below 80x24. */
int layout_compute(ui_layout *l, int w, int h);
/* The same while n_rep replicas run (n_rep 0 = no comparison): the eval panel gets a row
 * per replica, and a divergence band of n_pairs rows is taken from the top of the map. */
int layout_compute_compare(ui_layout *l, int w, int h, int n_rep, int n_pairs);

#endif
