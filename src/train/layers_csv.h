/* layers_csv.h — <logging_dir>/layers.csv: one row per layer and tensor at every logged
 * step (tensor health, docs/layers.md), RFC 4180 via libcsv, flushed once per step. */
#ifndef MPTUI_LAYERS_CSV_H
#define MPTUI_LAYERS_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "csv_out.h"
#include "model.h"
#include "precision.h"

typedef struct layers_csv layers_csv;

/* Opens <path> for appending (header written when the file is new or empty), so a resumed
 * run continues the same file. A file begun by an earlier version (layers_csv_header_v1) goes
 * on in its own columns, and layers_csv_notice says so. The directory must exist
 * (metrics_csv_open makes it). NULL + err on failure. */
layers_csv *layers_csv_open(const char *path, char *err, size_t errlen);
/* Writes the rows of one logged step and flushes: for every policy row and every tensor
 * that holds elements in st (see health_tensor), in policy order; a row running in FP8 adds
 * its casts (fp8_input / fp8_weight / fp8_grad) with their scales and amax-history maxima
 * from fp8 (NULL: those cells stay empty). replica labels the rows (the mode name of a single
 * run, or of the comparison replica). 0 ok, -1 + err. */
int layers_csv_write(layers_csv *w, int64_t step, const char *replica, const prec_policy *p,
                     const gpt_row_stats *st, const fp8_state *fp8, char *err, size_t errlen);
/* NULL, or one line for the user about what the open repaired (an incomplete last row cut)
 * or found (a file of an earlier version's columns). */
/* The layer name of a data-parallel run's gradient all-reduce (docs/dist.md). */
#define LAYERS_COMM_ROW "ddp grad all-reduce"
/* One row for the all-reduce at a logging step: the weight gradients as they went on the wire
 * in dtype comm (every rank's rounding to it, scaled as stored). */
int layers_csv_write_comm(layers_csv *w, int64_t step, const char *replica, dtype_t comm,
                          const num_stats *wire, char *err, size_t errlen);
const char *layers_csv_notice(const layers_csv *w);
void layers_csv_close(layers_csv *w);
/* The header columns, comma-separated, as written. */
const char *layers_csv_header(void);
/* The header of files written before FP8: the first ten columns (no scale,
 * amax_history_max). */
const char *layers_csv_header_v1(void);

#endif
