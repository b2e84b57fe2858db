/* panel_ranks.c — the Ranks panel of a data-parallel run (docs/dist.md): per rank its
 * throughput, step and comm time, overflows and memory, as of the last logged step. */
#include <stdio.h>
#include <string.h>

#include "panels.h"

/* "5.9k" style tokens/s in 6 columns. */
static void fmt_rate(double v, char *out, size_t n)
{
    if (v >= 1e6) snprintf(out, n, "%.1fM", v / 1e6);
    else if (v >= 1e3) snprintf(out, n, "%.1fk", v / 1e3);
    else snprintf(out, n, "%.0f", v);
}

static void rank_line(ui_grid *g, int x, int y, int w, int r, const feed_rank *k)
{
    char rate[16], mem[32], host[16];
    fmt_rate(k->tokens_per_s, rate, sizeof rate);
    mem_fmt_bytes(k->mem_bytes, mem, sizeof mem);
    snprintf(host, sizeof host, "%.8s", k->host[0] ? k->host : "?");
    double pct = k->step_time > 0 ? 100.0 * k->comm_s / k->step_time : 0.0;
    grid_printf(g, x, y, w, 0, k->overflow_total ? UC_WARN : UC_DEFAULT,
                "%4d %-8s %6s %7.1f %5.1f%% %4lld %9s", r, host, rate, 1e3 * k->step_time, pct,
                (long long)k->overflow_total, mem);
}

int panel_ranks_rows(const feed_snapshot *s) { return s->n_ranks ? s->n_ranks + 4 : 0; }

void panel_ranks(ui_grid *g, ui_rect r, const feed_snapshot *s, const ui_view *v)
{
    if (r.w < 20 || r.h < 4 || s->n_ranks < 1) return;
    char title[80];
    snprintf(title, sizeof title, "Ranks %d  comm %s over %s  ZeRO-%d", s->n_ranks,
             dtype_name(s->ddp_comm), s->ddp_nccl ? "NCCL" : "MPI", s->ddp_zero_stage);
    grid_box(g, r, title, v->unicode, UC_DIM);
    ui_rect in = rect_inner(r);
    int x = in.x + 1, w = in.w - 1, y = in.y, ymax = in.y + in.h;
    grid_printf(g, x, y++, w, UA_BOLD, UC_TITLE, "%4s %-8s %6s %7s %6s %4s %9s", "rank", "host",
                "tok/s", "step ms", "comm", "ovf", "peak mem");
    double total = 0;
    int room = ymax - y - 1, shown = s->n_ranks <= room ? s->n_ranks : room - 1;
    for (int i = 0; i < s->n_ranks; i++) total += s->ranks[i].tokens_per_s;
    for (int i = 0; i < shown && y < ymax; i++) rank_line(g, x, y++, w, i, &s->ranks[i]);
    if (shown < s->n_ranks && y < ymax)
        grid_printf(g, x, y++, w, 0, UC_DIM, "+%d more ranks", s->n_ranks - shown);
    char rate[16];
    fmt_rate(total, rate, sizeof rate);
    if (y < ymax) grid_printf(g, x, y, w, UA_BOLD, UC_DEFAULT, "%4s %-8s %6s", "all", "", rate);
}
