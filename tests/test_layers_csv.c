/* test_layers_csv.c — tests for src/train/layers_csv.c: layers.csv read back with libcsv,
 * one row per layer and tensor per logged step with exact values, append on reopen (resume),
 * and every bad path with its message. */
#include <criterion/criterion.h>
#include <csv.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layers_csv.h"

#define MAXR 512
#define MAXC 12

typedef struct {
    char cell[MAXR][MAXC][48];
    int ncols[MAXR];
    int nrows;
} table;

static void on_field(void *s, size_t len, void *data)
{
    table *t = data;
    cr_assert_lt(t->nrows, MAXR);
    int c = t->ncols[t->nrows]++;
    cr_assert_lt(c, MAXC);
    cr_assert_lt(len, 48u);
    memcpy(t->cell[t->nrows][c], s ? s : "", s ? len : 0);
    t->cell[t->nrows][c][s ? len : 0] = '\0';
}

static void on_row(int c, void *data)
{
    (void)c;
    ((table *)data)->nrows++;
}

static void parse_file(const char *path, table *t)
{
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s", path);
    static char buf[1 << 17];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    struct csv_parser p;
    cr_assert_eq(csv_init(&p, CSV_STRICT | CSV_STRICT_FINI), 0);
    cr_assert_eq(csv_parse(&p, buf, len, on_field, on_row, t), len, "parse error: %s",
                 csv_strerror(csv_error(&p)));
    cr_assert_eq(csv_fini(&p, on_field, on_row, t), 0);
    csv_free(&p);
}

static char dir[64], path[256];
static void setup(void)
{
    strcpy(dir, "/tmp/mptui-layers-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/layers.csv", dir);
}
static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static const char *const COLS[] = {
    "step", "replica", "layer", "tensor", "dtype", "amax", "underflow_pct", "overflow_count",
    "dynamic_range", "nonfinite_count",
};

static num_stats mk(float amax, float amin, uint64_t n, uint64_t ovf, uint64_t unf,
                    uint64_t nonfin)
{
    num_stats s = {amax, amin, n, ovf, unf, nonfin};
    return s;
}

/* Stats as a 1-block fp16 model would have them: every row an activation; every row but the
 * loss a gradient (scaled and unscaled); Linear rows and lm_head weight gradients. */
static gpt_row_stats *fake_stats(const prec_policy *p)
{
    gpt_row_stats *st = calloc((size_t)p->n, sizeof *st);
    for (int i = 0; i < p->n; i++) {
        st[i].act = mk(4.0f, 0x1p-10f, 1000, 0, 10, 0);
        if (i == prec_row_loss(p)) continue;
        st[i].grad = mk(2.0f, 0x1p-20f, 400, 1, 3, 2);
        st[i].grad_unscaled = mk(0x1p-15f, 0x1p-36f, 400, 1, 100, 2);
        if (p->rows[i].kind == LK_LINEAR) st[i].wgrad = mk(65504.0f, 0.5f, 64, 0, 0, 0);
    }
    return st;
}

static int expected_rows(const prec_policy *p)
{
    int n = 0;
    for (int i = 0; i < p->n; i++)
        n += 1 + (i == prec_row_loss(p) ? 0 : 2) + (p->rows[i].kind == LK_LINEAR);
    return n;
}

Test(layers_csv, rows_per_layer_and_tensor_with_exact_values, .init = setup, .fini = teardown)
{
    prec_policy p;
    char err[512];
    cr_assert_eq(prec_init(&p, 1, DT_F16), 0);
    gpt_row_stats *st = fake_stats(&p);
    layers_csv *w = layers_csv_open(path, err, sizeof err);
    cr_assert_not_null(w, "%s", err);
    cr_assert_eq(layers_csv_write(w, 10, "fp16", &p, st, err, sizeof err), 0, "%s", err);
    st[prec_find(&p, "h.0.attn")].act = mk(1.0f, 0.0f, 8, 0, 0, 0); /* no nonzero: no range */
    cr_assert_eq(layers_csv_write(w, 20, "fp16", &p, st, err, sizeof err), 0, "%s", err);
    layers_csv_close(w);

    static table t;
    parse_file(path, &t);
    int per = expected_rows(&p); /* 13 rows: 13 act + 12 x 2 grad + 5 Linear wgrad */
    cr_assert_eq(per, 13 + 24 + 5);
    cr_assert_eq(t.nrows, 1 + 2 * per);
    for (size_t c = 0; c < 10; c++) cr_assert_str_eq(t.cell[0][c], COLS[c]);
    char header[256] = "";
    for (size_t c = 0; c < 10; c++) {
        strcat(header, COLS[c]);
        if (c < 9) strcat(header, ",");
    }
    cr_assert_str_eq(layers_csv_header(), header);
    for (int r = 1; r < t.nrows; r++) {
        cr_assert_eq(t.ncols[r], 10, "row %d", r);
        cr_assert_str_eq(t.cell[r][0], r <= per ? "10" : "20");
        cr_assert_str_eq(t.cell[r][1], "fp16");
    }
    /* policy order, then activation, gradient, gradient_scaled, weight_gradient_scaled */
    cr_assert_str_eq(t.cell[1][2], "wte");
    cr_assert_str_eq(t.cell[1][3], "activation");
    cr_assert_str_eq(t.cell[1][4], "fp32");
    cr_assert_str_eq(t.cell[1][5], "4");
    cr_assert_str_eq(t.cell[1][6], "1");           /* 10 of 1000 */
    cr_assert_str_eq(t.cell[1][7], "0");
    cr_assert_str_eq(t.cell[1][8], "12");          /* log2 4 - log2 2^-10 */
    cr_assert_str_eq(t.cell[1][9], "0");
    int qkv = -1;
    for (int r = 1; r <= per; r++)
        if (!strcmp(t.cell[r][2], "h.0.attn.c_attn") && !strcmp(t.cell[r][3], "activation")) qkv = r;
    cr_assert(qkv > 0);
    const char *want[4][10] = {
        {"10", "fp16", "h.0.attn.c_attn", "activation", "fp16", "4", "1", "0", "12", "0"},
        {"10", "fp16", "h.0.attn.c_attn", "gradient", "fp16", "3.05175781e-05", "25", "1", "21", "2"},
        {"10", "fp16", "h.0.attn.c_attn", "gradient_scaled", "fp16", "2", "0.75", "1", "21", "2"},
        {"10", "fp16", "h.0.attn.c_attn", "weight_gradient_scaled", "fp16", "65504", "0", "0",
         "16.9992954", "0"}, /* log2 65504 - log2 0.5 */
    };
    for (int k = 0; k < 4; k++)
        for (int c = 0; c < 10; c++)
            cr_assert_str_eq(t.cell[qkv + k][c], want[k][c], "row %d col %s", k, COLS[c]);
    /* the loss row has an activation only and is last */
    cr_assert_str_eq(t.cell[per][2], "loss");
    cr_assert_str_eq(t.cell[per][3], "activation");
    cr_assert_str_eq(t.cell[per - 1][2], "lm_head");
    /* step 20: the attention activation had no nonzero value: empty dynamic range */
    int found = 0;
    for (int r = per + 1; r < t.nrows; r++)
        if (!strcmp(t.cell[r][2], "h.0.attn") && !strcmp(t.cell[r][3], "activation")) {
            cr_assert_str_eq(t.cell[r][8], "");
            found = 1;
        }
    cr_assert(found);
    free(st);
    prec_free(&p);
}

/* A resumed run opens the same file again: rows are appended under the one header. */
Test(layers_csv, reopen_appends_under_one_header, .init = setup, .fini = teardown)
{
    prec_policy p;
    char err[512];
    cr_assert_eq(prec_init(&p, 2, DT_BF16), 0);
    gpt_row_stats *st = fake_stats(&p);
    for (int run = 0; run < 2; run++) {
        layers_csv *w = layers_csv_open(path, err, sizeof err);
        cr_assert_not_null(w, "%s", err);
        cr_assert_eq(layers_csv_write(w, 10 * (run + 1), run ? "bf16" : "fp32", &p, st, err,
                                      sizeof err), 0);
        layers_csv_close(w);
    }
    static table t;
    parse_file(path, &t);
    int per = expected_rows(&p);
    cr_assert_eq(t.nrows, 1 + 2 * per);
    for (int r = 1; r < t.nrows; r++) {
        cr_assert_str_neq(t.cell[r][0], "step", "second header at row %d", r);
        cr_assert_str_eq(t.cell[r][1], r <= per ? "fp32" : "bf16");
    }
    cr_assert_str_eq(t.cell[per + 1][0], "20");
    /* an empty existing file gets the header */
    FILE *f = fopen(path, "w");
    fclose(f);
    layers_csv *w = layers_csv_open(path, err, sizeof err);
    cr_assert_not_null(w);
    layers_csv_close(w);
    parse_file(path, &t);
    cr_assert_eq(t.nrows, 1);
    cr_assert_str_eq(t.cell[0][9], "nonfinite_count");
    free(st);
    prec_free(&p);
}

Test(layers_csv, errors, .init = setup, .fini = teardown)
{
    char err[512], want[700], bad[400];
    /* the logging directory does not exist */
    snprintf(bad, sizeof bad, "%s/nowhere/layers.csv", dir);
    cr_assert_null(layers_csv_open(bad, err, sizeof err));
    snprintf(want, sizeof want, "%s: cannot open for appending: No such file or directory "
             "(check --logging_dir)", bad);
    cr_assert_str_eq(err, want);
    /* a file where the logging directory should be */
    char blocker[300];
    snprintf(blocker, sizeof blocker, "%s/file", dir);
    FILE *f = fopen(blocker, "w");
    fclose(f);
    snprintf(bad, sizeof bad, "%s/layers.csv", blocker);
    cr_assert_null(layers_csv_open(bad, err, sizeof err));
    snprintf(want, sizeof want, "%s: cannot open for appending: Not a directory "
             "(check --logging_dir)", bad);
    cr_assert_str_eq(err, want);
    /* a directory where the file should be */
    cr_assert_null(layers_csv_open(dir, err, sizeof err));
    snprintf(want, sizeof want, "%s: cannot open for appending: Is a directory "
             "(check --logging_dir)", dir);
    cr_assert_str_eq(err, want);
    /* a read-only directory (only meaningful when not root: root writes anyway) */
    if (geteuid() != 0) {
        char ro[300];
        snprintf(ro, sizeof ro, "%s/ro", dir);
        cr_assert_eq(mkdir(ro, 0555), 0);
        snprintf(bad, sizeof bad, "%s/layers.csv", ro);
        cr_assert_null(layers_csv_open(bad, err, sizeof err));
        snprintf(want, sizeof want, "%s: cannot open for appending: Permission denied "
                 "(check --logging_dir)", bad);
        cr_assert_str_eq(err, want);
    }
    /* a device that is always full: the header write fails, and so do later rows */
    if (access("/dev/full", W_OK) == 0) {
        cr_assert_null(layers_csv_open("/dev/full", err, sizeof err));
        cr_assert_str_eq(err, "/dev/full: cannot write layer statistics: No space left on device");
    }
    cr_assert_null(layers_csv_open("", err, sizeof err));
    cr_assert_str_eq(err, "layers.csv: empty path");
    cr_assert_null(layers_csv_open(NULL, err, sizeof err));
    cr_assert_str_eq(err, "layers.csv: empty path");
}

/* A write failing after a good open (file size limit, as on a full disk): one clear error
 * naming the file, never a crash; the writer stays usable. */
Test(layers_csv, write_error_is_reported, .init = setup, .fini = teardown)
{
    prec_policy p;
    char err[512], want[700];
    cr_assert_eq(prec_init(&p, 1, DT_F16), 0);
    gpt_row_stats *st = fake_stats(&p);
    layers_csv *w = layers_csv_open(path, err, sizeof err);
    cr_assert_not_null(w, "%s", err);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {400, 400}; /* the header fits, one step's rows do not */
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    cr_assert_eq(layers_csv_write(w, 10, "fp16", &p, st, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: cannot write layer statistics: File too large", path);
    cr_assert_str_eq(err, want);
    cr_assert_eq(layers_csv_write(w, 20, "fp16", &p, st, err, sizeof err), -1);
    layers_csv_close(w);
    free(st);
    prec_free(&p);
}
