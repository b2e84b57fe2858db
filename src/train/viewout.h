/* viewout.h — what `mptui view --summary` and `--plot` make of loaded runs (docs/view.md):
 * per-run figures, the summary table as text, and the overlaid loss curves as SVG. */
#ifndef MPTUI_VIEWOUT_H
#define MPTUI_VIEWOUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "viewrun.h"

/* One run's figures; NAN / -1 where the rows hold none. */
typedef struct {
    int64_t steps;                  /* the last row's step */
    double final_loss;              /* last train row with a loss */
    double best_loss;               /* lowest train loss ... */
    int64_t best_step;              /* ... and its step */
    double eval_loss, eval_ppl;     /* last eval row */
    int64_t eval_step;
    int64_t overflow_steps;         /* the last overflow_total, else the overflow rows counted */
    double tokens_per_s;            /* mean of the train rows' tokens_per_s */
    double wall_s;                  /* the largest time_s */
} view_stats;

void viewout_stats(const view_run *r, view_stats *st);
/* The summary table (a header line, one line per run), NUL-terminated; returns the length it
 * needed (like snprintf). */
size_t viewout_summary(const view_set *s, char *buf, size_t n);

/* SVG geometry (docs/view.md, the plot). */
#define VIEW_SVG_W 960
#define VIEW_SVG_H 540
/* Colour of run i (8 distinct ones). */
const char *viewout_color(int i);
/* The SVG document. 0 ok, -1 when the stream failed. */
int viewout_svg(const view_set *s, FILE *out);
/* viewout_svg into path atomically (a temporary file renamed over it). 0 ok; -1 + err. */
int viewout_write_svg(const view_set *s, const char *path, char *err, size_t errlen);

#endif
