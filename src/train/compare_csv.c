/* compare_csv.c — the compare.csv writer: divergence pairs as RFC 4180 rows (libcsv via
 * csv_out), flushed every logged step. */
#include "compare_csv.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "csv_out.h"

static const csv_out_spec SPEC = {
    "step,a,b,layer,loss_a,loss_b,loss_diff,weight_rel_l2,grad_cos", NULL, NULL, 0,
};

const char *compare_csv_header(void)
{
    return SPEC.header;
}

compare_csv *compare_csv_open(const char *path, char *err, size_t errlen)
{
    return csv_out_open(path, &SPEC, err, errlen);
}

static void write_row(csv_out *out, int64_t step, const char *a, const char *b,
                      const char *layer, const double v[5])
{
    char num[6][48];
    snprintf(num[0], sizeof num[0], "%lld", (long long)step);
    for (int k = 0; k < 5; k++) csv_fmt_num(num[k + 1], sizeof num[k + 1], v[k]);
    const char *cells[9] = {num[0], a, b, layer, num[1], num[2], num[3], num[4], num[5]};
    csv_out_row(out, cells, 9);
}

int compare_csv_write(compare_csv *w, const divergence *d, const lane *ls, char *err,
                      size_t errlen)
{
    errno = 0;
    for (int k = 0; k < d->n_pairs; k++) {
        const div_pair *p = &d->p[k];
        const char *a = ls[p->a].name, *b = ls[p->b].name;
        double all[5] = {p->loss_a, p->loss_b, p->loss_diff, p->weight_rel_l2, p->grad_cos};
        write_row(w, d->step, a, b, "all", all);
        for (int l = 0; l < d->n_layers; l++) {
            double v[5] = {NAN, NAN, NAN, p->layer_rel_l2[l], p->layer_cos[l]};
            write_row(w, d->step, a, b, d->layer[l], v);
        }
    }
    return csv_out_flush(w, err, errlen);
}

const char *compare_csv_notice(const compare_csv *w) { return csv_out_notice(w); }

void compare_csv_close(compare_csv *w)
{
    if (w) csv_out_close(w);
}
