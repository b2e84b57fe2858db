/* metrics.h — one metric record per logged step or eval, and the metrics.csv writer
 * (docs/files.md lists the columns; RFC 4180 via libcsv, flushed every record). */
#ifndef MPTUI_METRICS_H
#define MPTUI_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "csv_out.h"
#include "numerics.h"

typedef enum { MR_TRAIN = 0, MR_EVAL = 1 } metric_kind;

/* NAN in a double field = empty cell. */
typedef struct {
    int64_t step;
    double epoch;
    double time_s;
    metric_kind kind;
    dtype_t precision;
    double loss, lr, grad_norm, loss_scale;
    int overflow;           /* 1 when this step was skipped (train rows; -1 = empty) */
    int64_t overflow_total; /* -1 = empty */
    double tokens_per_s;
    double eval_loss, eval_ppl;
    char replica[8];        /* "" unless comparing; then the replica's mode name */
} metric_row;

/* A row with every optional field empty. */
void metric_row_init(metric_row *r, metric_kind kind, int64_t step);

typedef csv_out metrics_csv; /* a csv_out with metrics.csv's header */

/* Opens <path> for appending (header written when the file is new or empty); creates parent
 * directories. NULL + err on failure. */
metrics_csv *metrics_csv_open(const char *path, char *err, size_t errlen);
/* Writes and flushes one row; 0 ok, -1 + err (disk full...). After a failure the row is
 * held and written later; only news is reported (see csv_out_flush). */
int metrics_csv_write(metrics_csv *w, const metric_row *r, char *err, size_t errlen);
/* NULL, or one line for the user about what the open repaired (an incomplete last row cut). */
const char *metrics_csv_notice(const metrics_csv *w);
void metrics_csv_close(metrics_csv *w);
/* Resuming at `step`: removes the rows whose first column (the step) is greater from a CSV
 * whose first column is the step (metrics.csv, layers.csv, compare.csv), so the resumed run
 * logs them once. The header, rows it cannot read a step from and every kept row stay byte for
 * byte. Rewritten atomically (temporary file, fsync, rename) and only when a row goes; a
 * missing or non-regular file is left alone. *dropped = rows removed. 0 ok; -1 + err. */
int metrics_csv_drop_after(const char *path, int64_t step, size_t *dropped, char *err,
                           size_t errlen);
/* The header columns, comma-separated, as written. */
const char *metrics_csv_header(void);

#endif
