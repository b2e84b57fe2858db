/* layout.c — panel rectangles for a screen size. The top band (loss chart | scale over eval)
 * takes about 2/5 of the body, the precision map the rest; the header folds to two lines on
 * narrow screens. */
#include "layout.h"

#include <string.h>

int layout_too_small(int w, int h) { return w < UI_MIN_W || h < UI_MIN_H; }

static int imax(int a, int b) { return a > b ? a : b; }
static int imin(int a, int b) { return a < b ? a : b; }

/* The Memory panel, taken from the map band when the screen has room for it. */
static void layout_memory(ui_layout *l)
{
    ui_rect *map = &l->r[P_MAP];
    if (l->w >= UI_MEM_MIN_W) {
        map->w -= UI_MEM_W;
        l->mem = (ui_rect){map->x + map->w, map->y, UI_MEM_W, map->h};
    } else if (l->h >= UI_MEM_MIN_H) {
        map->h -= UI_MEM_BAND_H;
        l->mem = (ui_rect){map->x, map->y + map->h, map->w, UI_MEM_BAND_H};
    }
}

int layout_compute(ui_layout *l, int w, int h)
{
    memset(l, 0, sizeof *l);
    l->w = w;
    l->h = h;
    if (layout_too_small(w, h)) {
        l->too_small = 1;
        return -1;
    }
    int head_h = w >= 160 ? 1 : 2, foot_h = 2;
    int body = h - head_h - foot_h;            /* >= 20 */
    int top = imin(imax(11, body * 2 / 5), body - 7);
    int right_w = imax(34, w * 2 / 5), left_w = w - right_w;
    int eval_h = imax(4, top * 2 / 5), scale_h = top - eval_h;
    l->r[P_HEADER] = (ui_rect){0, 0, w, head_h};
    l->r[P_LOSS] = (ui_rect){0, head_h, left_w, top};
    l->r[P_SCALE] = (ui_rect){left_w, head_h, right_w, scale_h};
    l->r[P_EVAL] = (ui_rect){left_w, head_h + scale_h, right_w, eval_h};
    l->r[P_MAP] = (ui_rect){0, head_h + top, w, body - top};
    l->r[P_FOOTER] = (ui_rect){0, h - foot_h, w, foot_h};
    layout_memory(l);
    return 0;
}

int layout_compute_compare(ui_layout *l, int w, int h, int n_rep, int n_pairs)
{
    if (layout_compute(l, w, h)) return -1;
    if (n_rep <= 0) return 0;
    ui_rect *sc = &l->r[P_SCALE], *ev = &l->r[P_EVAL], *map = &l->r[P_MAP];
    int grow = n_rep + 2 - ev->h;
    if (grow > 0) {
        sc->h -= grow;
        ev->y -= grow;
        ev->h += grow;
    }
    int dh = imin(n_pairs + 2, map->h - 4); /* the map keeps its header and a row */
    l->div = (ui_rect){map->x, map->y, map->w, dh};
    map->y += dh;
    map->h -= dh;
    return 0;
}
