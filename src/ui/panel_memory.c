/* panel_memory.c — the Memory panel: the run's memory plan live (docs/memory.md), a row per
 * role and dtype with bytes as stored and the fp32-equivalent beside them. */
#include <stdio.h>
#include <string.h>

#include "panels.h"

/* Row names short enough for the panel's 14 columns. */
static const char *short_name(const mem_row *r)
{
    static const char *names[MEM_KIND_COUNT] = {
        "master weights", "gradients", "AdamW m", "AdamW v", "weight copies", "activations",
        "token ids", "bwd scratch", "workspace", "ckpt staging",
    };
    if (r->kind == MEM_WCOPY && r->idle) return "copies (idle)";
    return (unsigned)r->kind < MEM_KIND_COUNT ? names[r->kind] : "?";
}

static int dt_color(int dt) { return dt == MEM_DT_I32 ? UC_DIM : panel_dtype_color((dtype_t)dt); }

/* One table row: name, dtype, storage dtype, bytes, fp32-equivalent. */
static void mem_line(ui_grid *g, int x, int y, int w, const mem_row *r)
{
    char by[32], f32[32];
    mem_fmt_bytes(r->bytes, by, sizeof by);
    mem_fmt_bytes(r->fp32_bytes, f32, sizeof f32);
    int c = grid_printf(g, x, y, w, 0, r->idle ? UC_DIM : UC_DEFAULT, "%-14s ", short_name(r));
    c += grid_printf(g, x + c, y, w - c, 0, dt_color(r->dt), "%-5s ", mem_dt_name(r->dt));
    c += grid_printf(g, x + c, y, w - c, 0, dt_color(r->store), "%-6s", mem_dt_name(r->store));
    grid_printf(g, x + c, y, w - c, 0, r->idle ? UC_DIM : UC_DEFAULT, "%10s %10s", by, f32);
}

void panel_memory(ui_grid *g, ui_rect r, const feed_snapshot *s, const ui_view *v)
{
    if (r.w < 20 || r.h < 4) return;
    const gpt_mem_plan *p = &s->mem;
    char title[64];
    snprintf(title, sizeof title, "Memory %s", dtype_label(s->mode));
    grid_box(g, r, title, v->unicode, UC_DIM);
    ui_rect in = rect_inner(r);
    int x = in.x + 1, w = in.w - 1, y = in.y, ymax = in.y + in.h;
    if (p->n == 0) {
        grid_text(g, x, y, w, "no plan yet", 0, UC_DIM);
        return;
    }
    grid_printf(g, x, y++, w, UA_BOLD, UC_TITLE, "%-14s %-5s %-6s %10s %10s", "buffer", "dtype",
                "stored", "bytes", "fp32-equiv");
    /* the total and the available line stay; rows that do not fit fold into "+N more" */
    int room = ymax - y - 2, shown = p->n <= room ? p->n : room - 1;
    for (int i = 0; i < shown && y < ymax; i++) mem_line(g, x, y++, w, &p->rows[i]);
    if (shown < p->n && y < ymax)
        grid_printf(g, x, y++, w, 0, UC_DIM, "+%d more rows (--dry_run lists them)", p->n - shown);
    char by[32], f32[32], av[32];
    mem_fmt_bytes(p->total, by, sizeof by);
    mem_fmt_bytes(p->total_fp32, f32, sizeof f32);
    if (y < ymax)
        grid_printf(g, x, y++, w, UA_BOLD, UC_DEFAULT, "%-27s %10s %10s", "total (peak)", by, f32);
    if (y < ymax && s->mem_available) {
        mem_fmt_bytes((size_t)s->mem_available, av, sizeof av);
        int fits = p->total <= s->mem_available;
        grid_printf(g, x, y, w, 0, fits ? UC_GOOD : UC_BAD, "%s available: %s", av,
                    fits ? "fits" : "does not fit");
    }
}
