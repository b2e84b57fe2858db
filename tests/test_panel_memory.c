/* Tests for src/ui/panel_memory.c: the Memory panel from a snapshot's plan (rows, dtype
 * colours, the fp32-equivalent column, total, fit), folding when short, and where the
 * screen puts it (hidden at 80x24). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "panels.h"

static feed_snapshot *snap_with_plan(void)
{
    feed_snapshot *s = calloc(1, sizeof *s);
    cr_assert_not_null(s);
    s->n_layer = 4, s->n_head = 4, s->n_embd = 128;
    s->mode = DT_BF16;
    gpt_mem_plan *p = &s->mem;
    mem_plan_add(p, MEM_MASTER, DT_F32, 0, 256 << 10);           /* 1 MiB */
    mem_plan_add(p, MEM_WCOPY, DT_BF16, 0, 1 << 20);             /* 4 MiB as fp32 */
    mem_plan_add(p, MEM_WCOPY, DT_F32, 1, 256);                  /* 1 KiB idle */
    mem_plan_add(p, MEM_ACT, DT_BF16, 0, 3 << 20);               /* 12 MiB */
    mem_plan_add(p, MEM_TOKENS, MEM_DT_I32, 0, 512);
    mem_plan_add_bytes(p, MEM_WORKSPACE, 2 << 20);
    s->mem_available = (uint64_t)1 << 30;
    return s;
}

static int find_row(const ui_grid *g, const char *needle, char *buf, size_t n)
{
    int x, y;
    if (!grid_find(g, needle, &x, &y)) return -1;
    grid_row_text(g, y, buf, n);
    return y;
}

Test(panel_memory, rows_dtypes_and_fp32_equivalent)
{
    feed_snapshot *s = snap_with_plan();
    ui_view v;
    view_init(&v, 0);
    ui_grid g;
    cr_assert_eq(grid_init(&g, UI_MEM_W, 12), 0);
    panel_memory(&g, (ui_rect){0, 0, UI_MEM_W, 12}, s, &v);
    char buf[256];
    cr_assert(grid_find(&g, "Memory BF16", NULL, NULL));
    cr_assert_eq(find_row(&g, "buffer", buf, sizeof buf), 1);
    cr_assert(strstr(buf, "| buffer         dtype stored      bytes fp32-equiv") == buf, "%s", buf);
    cr_assert_eq(find_row(&g, "master weights", buf, sizeof buf), 2);
    cr_assert(strstr(buf, "| master weights fp32  fp32     1.0 MiB    1.0 MiB") == buf, "%s", buf);
    int y = find_row(&g, "weight copies", buf, sizeof buf);
    cr_assert_eq(y, 3);
    cr_assert(strstr(buf, "| weight copies  bf16  fp32     4.0 MiB    4.0 MiB") == buf, "%s", buf);
    cr_assert_eq(grid_cell(&g, 17, y)->color, UC_BF16, "the dtype in its colour");
    cr_assert_eq(grid_cell(&g, 23, y)->color, UC_FP32, "stored in fp32 today");
    y = find_row(&g, "copies (idle)", buf, sizeof buf);
    cr_assert_eq(y, 4);
    cr_assert_eq(grid_cell(&g, 2, y)->color, UC_DIM, "idle copies are dimmed");
    cr_assert(find_row(&g, "activations", buf, sizeof buf) > 0);
    cr_assert(strstr(buf, "bf16  fp32    12.0 MiB   12.0 MiB") != NULL, "%s", buf);
    cr_assert(find_row(&g, "token ids", buf, sizeof buf) > 0);
    cr_assert(strstr(buf, "int32 int32    2.0 KiB    2.0 KiB") != NULL, "%s", buf);
    cr_assert(find_row(&g, "workspace", buf, sizeof buf) > 0);
    cr_assert_eq(find_row(&g, "total (peak)", buf, sizeof buf), 8);
    cr_assert(strstr(buf, "| total (peak)                  19.0 MiB   19.0 MiB") == buf, "%s", buf);
    int x;
    cr_assert(grid_find(&g, "1.0 GiB available: fits", &x, &y));
    cr_assert_eq(y, 9);
    cr_assert_eq(grid_cell(&g, x, y)->color, UC_GOOD);
    s->mem_available = 1 << 20;
    s->mode = DT_F16;
    grid_clear(&g);
    panel_memory(&g, (ui_rect){0, 0, UI_MEM_W, 12}, s, &v);
    cr_assert(grid_find(&g, "Memory FP16", NULL, NULL), "the title follows the mode");
    cr_assert(grid_find(&g, "1.0 MiB available: does not fit", &x, &y));
    cr_assert_eq(grid_cell(&g, x, y)->color, UC_BAD);
    grid_free(&g);
    free(s);
}

Test(panel_memory, folds_rows_when_short_and_waits_for_a_plan)
{
    feed_snapshot *s = snap_with_plan();
    ui_view v;
    view_init(&v, 0);
    ui_grid g;
    cr_assert_eq(grid_init(&g, UI_MEM_W, 8), 0);
    panel_memory(&g, (ui_rect){0, 0, UI_MEM_W, 8}, s, &v);
    char buf[256];
    /* 6 inner rows: header, 2 plan rows, "+4 more", total, available */
    cr_assert_eq(find_row(&g, "+4 more rows (--dry_run lists them)", buf, sizeof buf), 4);
    cr_assert_eq(find_row(&g, "total (peak)", buf, sizeof buf), 5);
    cr_assert_eq(find_row(&g, "available: fits", buf, sizeof buf), 6);
    cr_assert(!grid_find(&g, "activations", NULL, NULL));
    memset(&s->mem, 0, sizeof s->mem);
    grid_clear(&g);
    panel_memory(&g, (ui_rect){0, 0, UI_MEM_W, 8}, s, &v);
    cr_assert(grid_find(&g, "no plan yet", NULL, NULL));
    grid_free(&g);
    free(s);
}

Test(panel_memory, on_screen_only_where_there_is_room)
{
    feed_snapshot *s = snap_with_plan();
    ui_view v;
    view_init(&v, 0);
    ui_history h;
    cr_assert_eq(history_init(&h), 0);
    static const struct { int w, h, shown; } sz[] = {
        {80, 24, 0}, {133, 49, 0}, {134, 24, 1}, {200, 60, 1}, {100, 50, 1},
    };
    for (size_t i = 0; i < sizeof sz / sizeof sz[0]; i++) {
        ui_grid g;
        cr_assert_eq(grid_init(&g, sz[i].w, sz[i].h), 0);
        panels_draw(&g, s, &h, &v);
        cr_assert_eq(grid_find(&g, "Memory BF16", NULL, NULL), sz[i].shown, "%dx%d", sz[i].w,
                     sz[i].h);
        cr_assert(grid_find(&g, "Precision map", NULL, NULL), "%dx%d", sz[i].w, sz[i].h);
        cr_assert(grid_find(&g, "total (peak)", NULL, NULL) == sz[i].shown);
        grid_free(&g);
    }
    history_free(&h);
    free(s);
}

Test(layout, memory_panel_room)
{
    ui_layout l;
    layout_compute(&l, 80, 24);
    cr_assert_eq(l.mem.w, 0);
    layout_compute(&l, 134, 30);
    cr_assert_eq(l.mem.w, UI_MEM_W);
    cr_assert_eq(l.r[P_MAP].w, 134 - UI_MEM_W);
    cr_assert_eq(l.mem.h, l.r[P_MAP].h);
    cr_assert_eq(l.mem.x, l.r[P_MAP].w);
    layout_compute(&l, 100, 50);
    cr_assert_eq(l.mem.h, UI_MEM_BAND_H);
    cr_assert_eq(l.mem.w, 100);
    cr_assert_eq(l.mem.y, l.r[P_MAP].y + l.r[P_MAP].h);
    cr_assert_geq(l.r[P_MAP].h, 7);
}
