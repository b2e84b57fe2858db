/* layers_csv.c — layers.csv writer: turns each policy row's rounding statistics into health
 * rows (health.c) and appends them; a failed write is reported, never fatal to training. */
#include "layers_csv.h"

#include <errno.h>
#include <stdio.h>

#include "errfmt.h"
#include "health.h"

/* The columns, in file order: the header and the cell indices come from this one list. */
#define LAYERS_COLUMNS(X)                                                                   \
    X(step) X(replica) X(layer) X(tensor) X(dtype) X(amax) X(underflow_pct) X(overflow_count) \
    X(dynamic_range) X(nonfinite_count)
#define COL_INDEX(name) COL_##name,
#define COL_TEXT(name) "," #name
enum { LAYERS_COLUMNS(COL_INDEX) N_COLUMNS };
static const char HEADER[] = LAYERS_COLUMNS(COL_TEXT); /* ",step,replica,...": skip the ',' */

static const csv_out_spec SPEC = {HEADER + 1, "layer statistics", " (check --logging_dir)", 0};

const char *layers_csv_header(void)
{
    return SPEC.header;
}

layers_csv *layers_csv_open(const char *path, char *err, size_t errlen)
{
    if (!path || !*path) return errfmt(err, errlen, "layers.csv: empty path"), NULL;
    return csv_out_open(path, &SPEC, err, errlen);
}

static void write_row(csv_out *out, int64_t step, const char *replica, const char *layer,
                      health_tensor ht, dtype_t dt, const num_stats *st)
{
    tensor_health h;
    health_from_stats(st, &h);
    csv_cell cell[N_COLUMNS];
    snprintf(cell[COL_step], sizeof cell[0], "%lld", (long long)step);
    snprintf(cell[COL_replica], sizeof cell[0], "%s", replica);
    snprintf(cell[COL_layer], sizeof cell[0], "%s", layer);
    snprintf(cell[COL_tensor], sizeof cell[0], "%s", health_tensor_name(ht));
    snprintf(cell[COL_dtype], sizeof cell[0], "%s", dtype_name(dt));
    csv_fmt_num(cell[COL_amax], sizeof cell[0], h.amax);
    csv_fmt_num(cell[COL_underflow_pct], sizeof cell[0], h.underflow_pct);
    snprintf(cell[COL_overflow_count], sizeof cell[0], "%lld", (long long)h.overflow);
    csv_fmt_num(cell[COL_dynamic_range], sizeof cell[0], h.dynamic_range);
    snprintf(cell[COL_nonfinite_count], sizeof cell[0], "%lld", (long long)h.nonfinite);
    csv_out_cells(out, cell, N_COLUMNS);
}

int layers_csv_write(layers_csv *w, int64_t step, const char *replica, const prec_policy *p,
                     const gpt_row_stats *st, char *err, size_t errlen)
{
    errno = 0;
    for (int i = 0; i < p->n; i++) {
        const prec_layer *r = &p->rows[i];
        const gpt_row_stats *s = &st[i];
        const num_stats *by[HT_COUNT] = {&s->act, &s->grad_unscaled, &s->grad, &s->wgrad};
        for (int k = 0; k < HT_COUNT; k++)
            if (by[k]->count)
                write_row(w, step, replica, r->name, (health_tensor)k,
                          k == HT_ACTIVATION ? r->act : r->grad, by[k]);
    }
    return csv_out_flush(w, err, errlen);
}

const char *layers_csv_notice(const layers_csv *w) { return csv_out_notice(w); }
void layers_csv_close(layers_csv *w) { csv_out_close(w); }
