/* Tests for src/ui/panel_ranks.c: the Ranks panel's rows (rate, step and comm time, overflows,
 * memory), the total, folding when short, its place above the Memory panel, nothing alone. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "history.h"
#include "layout.h"
#include "panels.h"

static feed_snapshot *snap_ranks(int n)
{
    feed_snapshot *s = calloc(1, sizeof *s);
    cr_assert_not_null(s);
    s->n_ranks = n;
    s->ddp_comm = DT_BF16;
    s->ddp_zero_stage = 1;
    for (int i = 0; i < n; i++) {
        feed_rank *k = &s->ranks[i];
        k->tokens_per_s = 5900 + 100 * i;
        k->step_time = 0.170;
        k->comm_s = 0.0255;
        k->overflow_total = i == 1 ? 2 : 0;
        k->mem_bytes = (size_t)75 << 20;
        k->local_rank = i;
        snprintf(k->host, sizeof k->host, "node%d", i / 2);
    }
    return s;
}

static int row_of(const ui_grid *g, const char *needle, char *buf, size_t n)
{
    int x, y;
    if (!grid_find(g, needle, &x, &y)) return -1;
    grid_row_text(g, y, buf, n);
    return y;
}

Test(panel_ranks, rows_total_and_title)
{
    feed_snapshot *s = snap_ranks(2);
    ui_view v;
    view_init(&v, 0);
    ui_grid g;
    cr_assert_eq(grid_init(&g, UI_MEM_W, 8), 0);
    cr_assert_eq(panel_ranks_rows(s), 6);
    panel_ranks(&g, (ui_rect){0, 0, UI_MEM_W, 8}, s, &v);
    char buf[256];
    cr_assert(grid_find(&g, "Ranks 2  comm bf16 over MPI  ZeRO-1", NULL, NULL));
    s->ddp_nccl = 1;
    panel_ranks(&g, (ui_rect){0, 0, UI_MEM_W, 8}, s, &v);
    cr_assert(grid_find(&g, "Ranks 2  comm bf16 over NCCL  ZeRO-1", NULL, NULL));
    s->ddp_nccl = 0;
    cr_assert_eq(row_of(&g, "step ms", buf, sizeof buf), 1);
    cr_assert(strstr(buf, "rank host      tok/s step ms   comm  ovf  peak mem"), "%s", buf);
    int y = row_of(&g, "node0", buf, sizeof buf);
    cr_assert_eq(y, 2);
    cr_assert(strstr(buf, "   0 node0      5.9k   170.0  15.0%    0  75.0 MiB"), "%s", buf);
    y = row_of(&g, "   1 node0", buf, sizeof buf);
    cr_assert_eq(y, 3);
    cr_assert_eq(grid_cell(&g, 3, y)->color, UC_WARN, "a rank that saw overflows stands out");
    cr_assert(row_of(&g, " all", buf, sizeof buf) == 4);
    cr_assert(strstr(buf, " all           11.9k"), "%s", buf);
    grid_free(&g);
    free(s);
}

Test(panel_ranks, folds_when_short_and_draws_nothing_alone)
{
    feed_snapshot *s = snap_ranks(8);
    ui_view v;
    view_init(&v, 0);
    ui_grid g;
    cr_assert_eq(grid_init(&g, UI_MEM_W, 7), 0);
    panel_ranks(&g, (ui_rect){0, 0, UI_MEM_W, 7}, s, &v);
    char buf[256];
    cr_assert(row_of(&g, "+6 more ranks", buf, sizeof buf) > 0);
    cr_assert(row_of(&g, "50.0k", buf, sizeof buf) > 0, "the total counts every rank");
    grid_clear(&g);
    s->n_ranks = 0;
    cr_assert_eq(panel_ranks_rows(s), 0);
    panel_ranks(&g, (ui_rect){0, 0, UI_MEM_W, 7}, s, &v);
    cr_assert_not(grid_find(&g, "Ranks", NULL, NULL), "a single process has no Ranks panel");
    grid_free(&g);
    free(s);
}

/* On a wide screen the Ranks panel sits above the Memory panel, which keeps its total. */
Test(panel_ranks, above_the_memory_panel)
{
    feed_snapshot *s = snap_ranks(2);
    s->n_layer = 4, s->n_head = 4, s->n_embd = 128, s->mode = DT_BF16;
    mem_plan_add(&s->mem, MEM_MASTER, DT_F32, 0, 256 << 10);
    s->mem_available = (uint64_t)1 << 30;
    ui_view v;
    view_init(&v, 0);
    ui_grid g;
    cr_assert_eq(grid_init(&g, 160, 45), 0);
    ui_history h;
    cr_assert_eq(history_init(&h), 0);
    panels_draw(&g, s, &h, &v);
    int xr, yr, xm, ym;
    cr_assert(grid_find(&g, "Ranks 2", &xr, &yr), "no Ranks panel at 160x45");
    cr_assert(grid_find(&g, "Memory BF16", &xm, &ym));
    cr_assert_eq(xr, xm);
    cr_assert(yr < ym);
    cr_assert(grid_find(&g, "total (peak)", NULL, NULL));
    history_free(&h);
    grid_free(&g);
    free(s);
}
