/* Tests for src/train/compare_csv.c: the exact rows written for a known set of pairs, one
 * header when the file is opened again, and the refusal of a path that cannot be opened. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compare_csv.h"

static char dir[] = "/tmp/mptui-ccsv-XXXXXX";

static void mk(void) { cr_assert_not_null(mkdtemp(dir)); }

static void rm(void)
{
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(compare_csv, .init = mk, .fini = rm);

/* Two lanes, one pair, two layers: what compare_csv_write reads, filled by hand. */
static void one_pair(divergence *d, lane ls[2], char (*layers)[DIV_LAYER_NAME], double *rel,
                     double *cos)
{
    memset(d, 0, sizeof *d);
    memset(ls, 0, 2 * sizeof *ls);
    snprintf(ls[0].name, sizeof ls[0].name, "fp32");
    snprintf(ls[1].name, sizeof ls[1].name, "bf16");
    snprintf(layers[0], DIV_LAYER_NAME, "wte");
    snprintf(layers[1], DIV_LAYER_NAME, "h.0.attn.c_attn");
    rel[0] = 0.25, rel[1] = NAN;
    cos[0] = 1, cos[1] = -0.5;
    d->step = 7;
    d->n_layers = 2;
    d->layer = layers;
    d->n_pairs = 1;
    d->p[0] = (div_pair){0, 1, 3.5, 3.25, -0.25, 0.125, 0.75, 0.5, 1, rel, cos};
}

static void read_all(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = 0;
    fclose(f);
}

Test(compare_csv, rows_for_a_pair_and_one_header)
{
    divergence d;
    lane ls[2];
    char layers[2][DIV_LAYER_NAME], err[256], path[64], text[1024];
    double rel[2], cos[2];
    one_pair(&d, ls, layers, rel, cos);
    snprintf(path, sizeof path, "%s/compare.csv", dir);
    compare_csv *w = compare_csv_open(path, err, sizeof err);
    cr_assert_not_null(w, "%s", err);
    cr_assert_null(compare_csv_notice(w));
    cr_assert_eq(compare_csv_write(w, &d, ls, err, sizeof err), 0, "%s", err);
    compare_csv_close(w);
    w = compare_csv_open(path, err, sizeof err); /* appending keeps one header */
    cr_assert_not_null(w, "%s", err);
    compare_csv_close(w);
    read_all(path, text, sizeof text);
    cr_assert_str_eq(text, "step,a,b,layer,loss_a,loss_b,loss_diff,weight_rel_l2,grad_cos\n"
                           "7,fp32,bf16,all,3.5,3.25,-0.25,0.125,0.75\n"
                           "7,fp32,bf16,wte,,,,0.25,1\n"
                           "7,fp32,bf16,h.0.attn.c_attn,,,,,-0.5\n");
    cr_assert_str_eq(compare_csv_header(),
                     "step,a,b,layer,loss_a,loss_b,loss_diff,weight_rel_l2,grad_cos");
}

Test(compare_csv, a_directory_is_refused)
{
    char err[256], msg[200];
    cr_assert_null(compare_csv_open(dir, err, sizeof err));
    snprintf(msg, sizeof msg, "%s: cannot open for appending: Is a directory", dir);
    cr_assert_str_eq(err, msg);
}
