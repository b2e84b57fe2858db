/* grid.h — a plain cell grid (code point + attribute + color index) that every panel draws
 * into; tests inspect it without a terminal and tui.c copies it to ncurses. */
#ifndef MPTUI_GRID_H
#define MPTUI_GRID_H

#include <stddef.h>
#include <stdint.h>

/* Attribute bits (mapped to A_BOLD... by tui.c). */
enum { UA_BOLD = 1, UA_REVERSE = 2, UA_UNDERLINE = 4, UA_DIM = 8 };

/* Color roles; tui.c maps them to color pairs, or to attributes when monochrome. */
typedef enum {
    UC_DEFAULT = 0, UC_TITLE, UC_FP32, UC_FP16, UC_BF16, UC_FP8, UC_BAD, UC_WARN, UC_GOOD,
    UC_RAW, UC_SMOOTH, UC_EVAL, UC_SCALE, UC_DIM, UC_COUNT
} ui_color;

typedef struct { int x, y, w, h; } ui_rect;

typedef struct {
    uint32_t ch;   /* Unicode code point, always one column wide */
    uint8_t attr;
    uint8_t color;
} ui_cell;

typedef struct {
    int w, h;
    ui_cell *cells; /* (h, w) */
} ui_grid;

/* 0 ok, -1 out of memory or bad size. A grid starts blank. */
int grid_init(ui_grid *g, int w, int h);
int grid_resize(ui_grid *g, int w, int h);
void grid_free(ui_grid *g);
void grid_clear(ui_grid *g);
/* NULL outside the grid. */
ui_cell *grid_at(ui_grid *g, int x, int y);
const ui_cell *grid_cell(const ui_grid *g, int x, int y);
void grid_put(ui_grid *g, int x, int y, uint32_t ch, int attr, int color);
/* Writes UTF-8 text from (x, y), at most maxw columns, clipped to the grid. Control
 * characters, invalid UTF-8 and code points that may not be one column wide become '?',
 * newlines and tabs a space. Returns the columns written. */
int grid_text(ui_grid *g, int x, int y, int maxw, const char *s, int attr, int color);
int grid_printf(ui_grid *g, int x, int y, int maxw, int attr, int color, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
void grid_fill(ui_grid *g, ui_rect r, uint32_t ch, int attr, int color);
/* ORs attr into every cell of r and, when color >= 0, sets its color. */
void grid_style(ui_grid *g, ui_rect r, int attr, int color);
/* A frame around r with the title in the top edge; box-drawing or ASCII (+-|). */
void grid_box(ui_grid *g, ui_rect r, const char *title, int unicode, int color);
/* Row y as UTF-8 (trailing spaces kept); returns the bytes written (buf always terminated). */
size_t grid_row_text(const ui_grid *g, int y, char *buf, size_t n);
/* 1 and the position of the first occurrence of needle (ASCII) on the grid, 0 when absent. */
int grid_find(const ui_grid *g, const char *needle, int *x, int *y);
/* Encodes cp as UTF-8 into out (4 bytes room); returns the length. */
int grid_utf8(uint32_t cp, char *out);

static inline int rect_inside(ui_rect r, int w, int h)
{
    return r.x >= 0 && r.y >= 0 && r.w > 0 && r.h > 0 && r.x + r.w <= w && r.y + r.h <= h;
}
static inline int rect_overlap(ui_rect a, ui_rect b)
{
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}
/* The inside of a framed rect. */
static inline ui_rect rect_inner(ui_rect r)
{
    ui_rect i = {r.x + 1, r.y + 1, r.w - 2, r.h - 2};
    if (i.w < 0) i.w = 0;
    if (i.h < 0) i.h = 0;
    return i;
}

#endif
