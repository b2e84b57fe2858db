/* layers_csv.c — layers.csv writer: turns each policy row's rounding statistics (and an FP8
 * row's cast statistics and scales) into health rows (health.c) and appends them; a failed
 * write is reported, never fatal to training. */
#include "layers_csv.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errfmt.h"
#include "health.h"

/* The columns, in file order: the header and the cell indices come from this one list. The
 * first ten are those of files written before FP8 (docs/layers.md, "The file"). */
#define LAYERS_COLUMNS_V1(X)                                                                \
    X(step) X(replica) X(layer) X(tensor) X(dtype) X(amax) X(underflow_pct) X(overflow_count) \
    X(dynamic_range) X(nonfinite_count)
#define LAYERS_COLUMNS(X) LAYERS_COLUMNS_V1(X) X(scale) X(amax_history_max)
#define COL_INDEX(name) COL_##name,
#define COL_TEXT(name) "," #name
#define COL_ONE(name) +1
enum { LAYERS_COLUMNS(COL_INDEX) N_COLUMNS };
enum { N_COLUMNS_V1 = 0 LAYERS_COLUMNS_V1(COL_ONE) };
static const char HEADER[] = LAYERS_COLUMNS(COL_TEXT); /* ",step,replica,...": skip the ',' */
static const char HEADER_V1[] = LAYERS_COLUMNS_V1(COL_TEXT);

#define HINT " (check --logging_dir)"
static const csv_out_spec SPEC = {HEADER + 1, "layer statistics", HINT, 0};
static const csv_out_spec SPEC_V1 = {HEADER_V1 + 1, "layer statistics", HINT, 0};

struct layers_csv {
    csv_out *out;
    int columns;         /* N_COLUMNS, or N_COLUMNS_V1 for a file an earlier version began */
    char notice[512];
};

const char *layers_csv_header(void) { return SPEC.header; }
const char *layers_csv_header_v1(void) { return SPEC_V1.header; }

/* 1 when path holds a file whose first line is the pre-FP8 header: a resumed run of an
 * earlier version goes on in that file's columns rather than misaligning it. */
static int begun_by_v1(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char line[sizeof HEADER_V1 + 2];
    int v1 = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!v1) return 0;
    line[strcspn(line, "\r\n")] = '\0';
    return strcmp(line, SPEC_V1.header) == 0;
}

layers_csv *layers_csv_open(const char *path, char *err, size_t errlen)
{
    if (!path || !*path) return errfmt(err, errlen, "layers.csv: empty path"), NULL;
    layers_csv *w = calloc(1, sizeof *w);
    if (!w) return errfmt(err, errlen, "%s: out of memory", path), NULL;
    int v1 = begun_by_v1(path);
    w->columns = v1 ? N_COLUMNS_V1 : N_COLUMNS;
    w->out = csv_out_open(path, v1 ? &SPEC_V1 : &SPEC, err, errlen);
    if (!w->out) {
        free(w);
        return NULL;
    }
    const char *repair = csv_out_notice(w->out);
    if (v1)
        snprintf(w->notice, sizeof w->notice, "%s%s%s: begun by an earlier mptui, rows go on "
                 "without the scale and amax_history_max columns", repair ? repair : "",
                 repair ? "; " : "", path);
    else if (repair)
        snprintf(w->notice, sizeof w->notice, "%s", repair);
    return w;
}

/* One row; scale and hist are NAN (empty cells) except for FP8 casts. */
static void write_row(layers_csv *w, int64_t step, const char *replica, const char *layer,
                      health_tensor ht, const char *dtype, const num_stats *st, double scale,
                      double hist)
{
    tensor_health h;
    health_from_stats(st, &h);
    csv_cell cell[N_COLUMNS];
    snprintf(cell[COL_step], sizeof cell[0], "%lld", (long long)step);
    snprintf(cell[COL_replica], sizeof cell[0], "%s", replica);
    snprintf(cell[COL_layer], sizeof cell[0], "%s", layer);
    snprintf(cell[COL_tensor], sizeof cell[0], "%s", health_tensor_name(ht));
    snprintf(cell[COL_dtype], sizeof cell[0], "%s", dtype);
    csv_fmt_num(cell[COL_amax], sizeof cell[0], h.amax);
    csv_fmt_num(cell[COL_underflow_pct], sizeof cell[0], h.underflow_pct);
    snprintf(cell[COL_overflow_count], sizeof cell[0], "%lld", (long long)h.overflow);
    csv_fmt_num(cell[COL_dynamic_range], sizeof cell[0], h.dynamic_range);
    snprintf(cell[COL_nonfinite_count], sizeof cell[0], "%lld", (long long)h.nonfinite);
    csv_fmt_num(cell[COL_scale], sizeof cell[0], scale);
    csv_fmt_num(cell[COL_amax_history_max], sizeof cell[0], hist);
    csv_out_cells(w->out, cell, (size_t)w->columns);
}

/* The FP8 casts of row i (a row running in FP8): one row per tensor that was cast. The scale
 * is the one the last cast used; MXFP8 has none per tensor (its blocks carry theirs). */
static void write_fp8_rows(layers_csv *w, int64_t step, const char *replica, const prec_policy *p,
                           int i, const gpt_row_stats *s, const fp8_state *fs)
{
    int have = fs && fs->meta && i < fs->n_rows;
    for (int t = 0; t < FP8_TENSORS; t++) {
        if (!s->fp8[t].count) continue;
        double scale = NAN, hist = NAN;
        if (have && p->fp8.kind != FP8_MXFP8)
            scale = fs->meta[fp8_index(i, (fp8_tensor)t)].used_scale;
        if (have) hist = fp8_history_max(fs, i, (fp8_tensor)t);
        write_row(w, step, replica, p->rows[i].name, health_fp8_tensor((fp8_tensor)t),
                  num_fp8_name(fp8_format_of(p->fp8.format, (fp8_tensor)t)), &s->fp8[t], scale,
                  hist);
    }
}

int layers_csv_write(layers_csv *w, int64_t step, const char *replica, const prec_policy *p,
                     const gpt_row_stats *st, const fp8_state *fp8, char *err, size_t errlen)
{
    errno = 0;
    for (int i = 0; i < p->n; i++) {
        const prec_layer *r = &p->rows[i];
        const gpt_row_stats *s = &st[i];
        const num_stats *by[HT_ROUNDINGS] = {&s->act, &s->grad_unscaled, &s->grad, &s->wgrad};
        for (int k = 0; k < HT_ROUNDINGS; k++)
            if (by[k]->count)
                write_row(w, step, replica, r->name, (health_tensor)k,
                          dtype_name(k == HT_ACTIVATION ? r->act : r->grad), by[k], NAN, NAN);
        if (r->fp8) write_fp8_rows(w, step, replica, p, i, s, fp8);
    }
    return csv_out_flush(w->out, err, errlen);
}

int layers_csv_write_comm(layers_csv *w, int64_t step, const char *replica, dtype_t comm,
                          const num_stats *wire, char *err, size_t errlen)
{
    errno = 0;
    write_row(w, step, replica, LAYERS_COMM_ROW, HT_WGRAD_SCALED, dtype_name(comm), wire, NAN,
              NAN);
    return csv_out_flush(w->out, err, errlen);
}

const char *layers_csv_notice(const layers_csv *w) { return w && w->notice[0] ? w->notice : NULL; }

void layers_csv_close(layers_csv *w)
{
    if (!w) return;
    csv_out_close(w->out);
    free(w);
}
