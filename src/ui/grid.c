/* grid.c — the cell grid panels draw into: text with sanitising, fills, frames, and row
 * read-back for tests. Knows nothing of ncurses. */
#include "grid.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int grid_init(ui_grid *g, int w, int h)
{
    g->w = g->h = 0;
    g->cells = NULL;
    return grid_resize(g, w, h);
}

int grid_resize(ui_grid *g, int w, int h)
{
    if (w <= 0 || h <= 0 || w > 4096 || h > 4096) return -1;
    ui_cell *c = realloc(g->cells, (size_t)w * (size_t)h * sizeof *c);
    if (!c) return -1;
    g->cells = c;
    g->w = w;
    g->h = h;
    grid_clear(g);
    return 0;
}

void grid_free(ui_grid *g)
{
    free(g->cells);
    g->cells = NULL;
    g->w = g->h = 0;
}

void grid_clear(ui_grid *g)
{
    size_t n = (size_t)g->w * (size_t)g->h;
    for (size_t i = 0; i < n; i++) g->cells[i] = (ui_cell){' ', 0, UC_DEFAULT};
}

ui_cell *grid_at(ui_grid *g, int x, int y)
{
    if (x < 0 || y < 0 || x >= g->w || y >= g->h) return NULL;
    return &g->cells[(size_t)y * g->w + x];
}

const ui_cell *grid_cell(const ui_grid *g, int x, int y)
{
    if (x < 0 || y < 0 || x >= g->w || y >= g->h) return NULL;
    return &g->cells[(size_t)y * g->w + x];
}

void grid_put(ui_grid *g, int x, int y, uint32_t ch, int attr, int color)
{
    ui_cell *c = grid_at(g, x, y);
    if (c) *c = (ui_cell){ch, (uint8_t)attr, (uint8_t)color};
}

/* Code points we trust to be exactly one column in any terminal font. */
static int narrow_cp(uint32_t cp)
{
    return (cp >= 0x20 && cp < 0x7f) || (cp >= 0xa0 && cp <= 0x2ff) ||
           (cp >= 0x2010 && cp <= 0x2027) || (cp >= 0x2190 && cp <= 0x21ff) ||
           (cp >= 0x2500 && cp <= 0x25ff) || (cp >= 0x2800 && cp <= 0x28ff);
}

/* Decodes one UTF-8 sequence; returns its length (>= 1) and *cp, or '?' when invalid. */
static int utf8_next(const unsigned char *s, uint32_t *cp)
{
    unsigned c = s[0];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0) { *cp = '?'; return 1; }
    if (len == 1) { *cp = c; return 1; }
    uint32_t v = c & (0x7f >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) { *cp = '?'; return 1; }
        v = (v << 6) | (s[i] & 0x3f);
    }
    static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    *cp = v < min_for_len[len] ? '?' : v; /* overlong forms are invalid */
    return len;
}

int grid_text(ui_grid *g, int x, int y, int maxw, const char *s, int attr, int color)
{
    const unsigned char *p = (const unsigned char *)s;
    int col = 0;
    while (*p && col < maxw) {
        uint32_t cp;
        p += utf8_next(p, &cp);
        if (cp == '\n' || cp == '\t' || cp == '\r') cp = ' ';
        else if (!narrow_cp(cp)) cp = '?';
        grid_put(g, x + col, y, cp, attr, color);
        col++;
    }
    return col;
}

int grid_printf(ui_grid *g, int x, int y, int maxw, int attr, int color, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return grid_text(g, x, y, maxw, buf, attr, color);
}

void grid_fill(ui_grid *g, ui_rect r, uint32_t ch, int attr, int color)
{
    for (int y = r.y; y < r.y + r.h; y++)
        for (int x = r.x; x < r.x + r.w; x++) grid_put(g, x, y, ch, attr, color);
}

void grid_style(ui_grid *g, ui_rect r, int attr, int color)
{
    for (int y = r.y; y < r.y + r.h; y++)
        for (int x = r.x; x < r.x + r.w; x++) {
            ui_cell *c = grid_at(g, x, y);
            if (!c) continue;
            c->attr |= (uint8_t)attr;
            if (color >= 0) c->color = (uint8_t)color;
        }
}

void grid_box(ui_grid *g, ui_rect r, const char *title, int unicode, int color)
{
    if (r.w < 2 || r.h < 2) return;
    uint32_t hz = unicode ? 0x2500 : '-', vt = unicode ? 0x2502 : '|';
    uint32_t tl = unicode ? 0x256d : '+', tr = unicode ? 0x256e : '+';
    uint32_t bl = unicode ? 0x2570 : '+', br = unicode ? 0x256f : '+';
    int x1 = r.x + r.w - 1, y1 = r.y + r.h - 1;
    for (int x = r.x + 1; x < x1; x++) {
        grid_put(g, x, r.y, hz, 0, color);
        grid_put(g, x, y1, hz, 0, color);
    }
    for (int y = r.y + 1; y < y1; y++) {
        grid_put(g, r.x, y, vt, 0, color);
        grid_put(g, x1, y, vt, 0, color);
    }
    grid_put(g, r.x, r.y, tl, 0, color);
    grid_put(g, x1, r.y, tr, 0, color);
    grid_put(g, r.x, y1, bl, 0, color);
    grid_put(g, x1, y1, br, 0, color);
    if (title && *title && r.w > 6) {
        int n = grid_text(g, r.x + 2, r.y, r.w - 5, " ", 0, color);
        n += grid_text(g, r.x + 2 + n, r.y, r.w - 5 - n, title, UA_BOLD, UC_TITLE);
        grid_text(g, r.x + 2 + n, r.y, r.w - 4 - n, " ", 0, color);
    }
}

int grid_utf8(uint32_t cp, char *out)
{
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

size_t grid_row_text(const ui_grid *g, int y, char *buf, size_t n)
{
    size_t len = 0;
    if (n == 0) return 0;
    for (int x = 0; y >= 0 && y < g->h && x < g->w; x++) {
        char u[4];
        int k = grid_utf8(grid_cell(g, x, y)->ch, u);
        if (len + (size_t)k + 1 > n) break;
        memcpy(buf + len, u, (size_t)k);
        len += (size_t)k;
    }
    buf[len] = 0;
    return len;
}

int grid_find(const ui_grid *g, const char *needle, int *x, int *y)
{
    int m = (int)strlen(needle);
    for (int r = 0; r < g->h; r++)
        for (int c = 0; c + m <= g->w; c++) {
            int k = 0;
            while (k < m && grid_cell(g, c + k, r)->ch == (unsigned char)needle[k]) k++;
            if (k == m && m > 0) {
                if (x) *x = c;
                if (y) *y = r;
                return 1;
            }
        }
    return 0;
}
