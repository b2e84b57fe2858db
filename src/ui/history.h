/* history.h — the UI's own bounded copies of the metric series it charts (train loss, eval
 * loss, log2 loss scale), filled from feed rows; long runs are averaged into coarser buckets. */
#ifndef MPTUI_HISTORY_H
#define MPTUI_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

#define HIST_CAP 2048

typedef struct {
    double *x, *y;       /* (cap) */
    size_t n, cap;
    size_t stride;       /* raw points per stored point */
    size_t pend;         /* raw points in the open bucket */
    double sx, sy;       /* sums of the open bucket */
} ui_series;

/* cap >= 2 and even. 0 ok, -1 out of memory. */
int series_init(ui_series *s, size_t cap);
void series_free(ui_series *s);
/* Adds a point; when full, neighbours are averaged pairwise and the stride doubles, so memory
 * stays at cap points whatever the run length. */
void series_push(ui_series *s, double x, double y);

#define HIST_REPLICAS 3

/* One replica of a lockstep comparison, by the name its rows carry. */
typedef struct {
    char name[8];
    ui_series loss, scale_log2;
} ui_replica_series;

typedef struct {
    ui_series loss, eval, scale_log2;
    ui_replica_series rep[HIST_REPLICAS];
    int nrep;            /* replicas seen in the current comparison */
    int rep_ended;       /* a plain row came after them: the next replica row starts anew */
    uint64_t since;      /* next feed row sequence to read */
    uint64_t version;    /* bumped whenever a series changed */
} ui_history;

int history_init(ui_history *h);
/* Index of the replica series named `name`, -1 when none. */
int history_replica(const ui_history *h, const char *name);
void history_free(ui_history *h);
void series_clear(ui_series *s);
/* Files rows into the series: plain rows into loss / eval / scale, comparison rows into the
 * replica's own series (a new comparison clears the previous one's). */
void history_ingest(ui_history *h, const metric_row *rows, size_t n);

#endif
