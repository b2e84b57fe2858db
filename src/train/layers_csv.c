/* layers_csv.c — layers.csv writer: turns each policy row's rounding statistics into health
 * rows (health.c) and appends them; a failed write is reported, never fatal to training. */
#include "layers_csv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv_out.h"
#include "health.h"

struct layers_csv {
    csv_out *out;
};

static const csv_out_spec SPEC = {
    "step,replica,layer,tensor,dtype,amax,underflow_pct,overflow_count,dynamic_range,"
    "nonfinite_count",
    "layer statistics", " (check --logging_dir)", 0,
};
enum { N_COLUMNS = 10 }; /* the columns of SPEC.header */

const char *layers_csv_header(void)
{
    return SPEC.header;
}

layers_csv *layers_csv_open(const char *path, char *err, size_t errlen)
{
    if (!path || !*path) {
        if (err && errlen) snprintf(err, errlen, "layers.csv: empty path");
        return NULL;
    }
    layers_csv *w = calloc(1, sizeof *w);
    if (!w) {
        if (err && errlen) snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    w->out = csv_out_open(path, &SPEC, err, errlen);
    if (!w->out) {
        free(w);
        return NULL;
    }
    return w;
}

static void write_row(csv_out *out, int64_t step, const char *replica, const char *layer,
                      health_tensor ht, dtype_t dt, const num_stats *st)
{
    tensor_health h;
    health_from_stats(st, &h);
    char cell[N_COLUMNS][48];
    snprintf(cell[0], sizeof cell[0], "%lld", (long long)step);
    snprintf(cell[1], sizeof cell[1], "%s", replica);
    snprintf(cell[2], sizeof cell[2], "%s", layer);
    snprintf(cell[3], sizeof cell[3], "%s", health_tensor_name(ht));
    snprintf(cell[4], sizeof cell[4], "%s", dtype_name(dt));
    csv_fmt_num(cell[5], sizeof cell[5], h.amax);
    csv_fmt_num(cell[6], sizeof cell[6], h.underflow_pct);
    snprintf(cell[7], sizeof cell[7], "%lld", (long long)h.overflow);
    csv_fmt_num(cell[8], sizeof cell[8], h.dynamic_range);
    snprintf(cell[9], sizeof cell[9], "%lld", (long long)h.nonfinite);
    const char *cells[N_COLUMNS];
    for (size_t i = 0; i < N_COLUMNS; i++) cells[i] = cell[i];
    csv_out_row(out, cells, N_COLUMNS);
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
                write_row(w->out, step, replica, r->name, (health_tensor)k,
                          k == HT_ACTIVATION ? r->act : r->grad, by[k]);
    }
    return csv_out_flush(w->out, err, errlen);
}

const char *layers_csv_notice(const layers_csv *w)
{
    return csv_out_notice(w->out);
}

void layers_csv_close(layers_csv *w)
{
    if (!w) return;
    csv_out_close(w->out);
    free(w);
}
