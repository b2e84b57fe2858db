/* test_metrics.c — metrics.csv written, then parsed back with libcsv: header, exact values,
 * empty cells, inf, quoting, append with one header, parent directories, write errors. */
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

#include "metrics.h"

#define MAXR 16
#define MAXC 20

typedef struct {
    char cell[MAXR][MAXC][64];
    int ncols[MAXR];
    int nrows;
} table;

static void on_field(void *s, size_t len, void *data)
{
    table *t = data;
    cr_assert_lt(t->nrows, MAXR);
    int c = t->ncols[t->nrows]++;
    cr_assert_lt(c, MAXC);
    cr_assert_lt(len, 64u);
    memcpy(t->cell[t->nrows][c], s ? s : "", s ? len : 0);
    t->cell[t->nrows][c][s ? len : 0] = '\0';
}

static void on_row(int c, void *data)
{
    (void)c;
    ((table *)data)->nrows++;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s", path);
    static char buf[1 << 16];
    *len = fread(buf, 1, sizeof buf - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void parse_file(const char *path, table *t)
{
    memset(t, 0, sizeof *t);
    size_t len;
    char *text = slurp(path, &len);
    struct csv_parser p;
    cr_assert_eq(csv_init(&p, CSV_STRICT | CSV_STRICT_FINI), 0);
    cr_assert_eq(csv_parse(&p, text, len, on_field, on_row, t), len, "parse error: %s",
                 csv_strerror(csv_error(&p)));
    cr_assert_eq(csv_fini(&p, on_field, on_row, t), 0);
    csv_free(&p);
}

static char dir[64], path[256];
static void setup(void)
{
    strcpy(dir, "/tmp/mptui-metrics-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/logs/run1/metrics.csv", dir);
}
static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static const char *const COLS[] = {
    "step", "epoch", "time_s", "kind", "precision", "loss", "lr", "grad_norm", "loss_scale",
    "overflow", "overflow_total", "tokens_per_s", "eval_loss", "eval_ppl", "replica",
};

Test(metrics, row_init)
{
    metric_row r;
    memset(&r, 0x5a, sizeof r);
    metric_row_init(&r, MR_EVAL, 77);
    cr_assert_eq(r.step, 77);
    cr_assert_eq(r.kind, MR_EVAL);
    cr_assert(isnan(r.epoch) && isnan(r.time_s) && isnan(r.loss) && isnan(r.lr));
    cr_assert(isnan(r.grad_norm) && isnan(r.loss_scale) && isnan(r.tokens_per_s));
    cr_assert(isnan(r.eval_loss) && isnan(r.eval_ppl));
    cr_assert_eq(r.overflow, -1);
    cr_assert_eq(r.overflow_total, -1);
    cr_assert_str_eq(r.replica, "");
}

Test(metrics, header_and_values, .init = setup, .fini = teardown)
{
    char err[512];
    metrics_csv *w = metrics_csv_open(path, err, sizeof err); /* creates logs/run1/ */
    cr_assert_not_null(w, "%s", err);

    float loss = 2.71828183f, lr = 1e-3f, gn = 0.1f;
    metric_row r;
    metric_row_init(&r, MR_TRAIN, 10);
    r.epoch = 1.0 / 3.0;
    r.time_s = 12.345678901234;
    r.precision = DT_F16;
    r.loss = loss;
    r.lr = lr;
    r.grad_norm = gn;
    r.loss_scale = 32768;
    r.overflow = 0;
    r.overflow_total = 3;
    r.tokens_per_s = 11250.5;
    cr_assert_eq(metrics_csv_write(w, &r, err, sizeof err), 0, "%s", err);

    metric_row e;
    metric_row_init(&e, MR_EVAL, 10);
    e.epoch = 0.5;
    e.time_s = 13;
    e.precision = DT_BF16;
    e.eval_loss = 1.5f;
    e.eval_ppl = INFINITY;
    cr_assert_eq(metrics_csv_write(w, &e, err, sizeof err), 0, "%s", err);

    metric_row o;
    metric_row_init(&o, MR_TRAIN, 11);
    o.precision = DT_F32;
    o.loss = NAN;
    o.grad_norm = INFINITY;
    o.loss_scale = 65536;
    o.overflow = 1;
    o.overflow_total = 0;
    cr_assert_eq(metrics_csv_write(w, &o, err, sizeof err), 0, "%s", err);

    /* flushed per row: the file is complete before close */
    table t;
    parse_file(path, &t);
    cr_assert_eq(t.nrows, 4);
    for (int c = 0; c < 15; c++) cr_assert_str_eq(t.cell[0][c], COLS[c]);
    for (int i = 0; i < 4; i++) cr_assert_eq(t.ncols[i], 15, "row %d has %d cells", i, t.ncols[i]);

    char (*a)[64] = t.cell[1];
    cr_assert_str_eq(a[0], "10");
    cr_assert_eq(strtod(a[1], NULL), 1.0 / 3.0, "epoch %s", a[1]);
    cr_assert_eq(strtod(a[2], NULL), 12.345678901234, "time %s", a[2]);
    cr_assert_str_eq(a[3], "train");
    cr_assert_str_eq(a[4], "fp16");
    cr_assert_str_eq(a[5], "2.71828175");
    cr_assert_eq(strtof(a[5], NULL), loss);
    cr_assert_str_eq(a[6], "0.00100000005");
    cr_assert_eq(strtof(a[6], NULL), lr);
    cr_assert_eq(strtof(a[7], NULL), gn);
    cr_assert_str_eq(a[8], "32768");
    cr_assert_str_eq(a[9], "0");
    cr_assert_str_eq(a[10], "3");
    cr_assert_str_eq(a[11], "11250.5");
    cr_assert_str_eq(a[12], "");
    cr_assert_str_eq(a[13], "");
    cr_assert_str_eq(a[14], "", "no replica outside a comparison");

    char (*b)[64] = t.cell[2];
    cr_assert_str_eq(b[0], "10");
    cr_assert_str_eq(b[1], "0.5");
    cr_assert_str_eq(b[2], "13");
    cr_assert_str_eq(b[3], "eval");
    cr_assert_str_eq(b[4], "bf16");
    for (int c = 5; c <= 11; c++) cr_assert_str_eq(b[c], "", "eval row column %s", COLS[c]);
    cr_assert_str_eq(b[12], "1.5");
    cr_assert_str_eq(b[13], "inf");

    char (*d)[64] = t.cell[3];
    cr_assert_str_eq(d[1], "");
    cr_assert_str_eq(d[2], "");
    cr_assert_str_eq(d[4], "fp32");
    cr_assert_str_eq(d[5], "");
    cr_assert_str_eq(d[7], "inf");
    cr_assert_str_eq(d[9], "1");
    cr_assert_str_eq(d[10], "0");
    metrics_csv_close(w);

    /* the first line is metrics_csv_header() exactly */
    size_t len;
    const char *text = slurp(path, &len);
    size_t hl = strlen(metrics_csv_header());
    cr_assert_eq(strncmp(text, metrics_csv_header(), hl), 0);
    cr_assert_eq(text[hl], '\n');
}

Test(metrics, append_keeps_one_header, .init = setup, .fini = teardown)
{
    char err[512];
    metric_row r;
    for (int run = 0; run < 3; run++) {
        metrics_csv *w = metrics_csv_open(path, err, sizeof err);
        cr_assert_not_null(w, "%s", err);
        metric_row_init(&r, MR_TRAIN, run);
        r.loss = run;
        cr_assert_eq(metrics_csv_write(w, &r, err, sizeof err), 0, "%s", err);
        metrics_csv_close(w);
    }
    table t;
    parse_file(path, &t);
    cr_assert_eq(t.nrows, 4);
    cr_assert_str_eq(t.cell[0][0], "step");
    for (int i = 1; i < 4; i++) {
        char want[8];
        snprintf(want, sizeof want, "%d", i - 1);
        cr_assert_str_eq(t.cell[i][0], want);
        cr_assert_str_eq(t.cell[i][5], want);
    }
    /* an existing but empty file gets the header */
    FILE *f = fopen(path, "w");
    fclose(f);
    metrics_csv *w = metrics_csv_open(path, err, sizeof err);
    cr_assert_not_null(w, "%s", err);
    metrics_csv_close(w);
    parse_file(path, &t);
    cr_assert_eq(t.nrows, 1);
    cr_assert_str_eq(t.cell[0][13], "eval_ppl");
}

Test(metrics, quoting, .init = setup, .fini = teardown)
{
    char err[512];
    metrics_csv *w = metrics_csv_open(path, err, sizeof err);
    cr_assert_not_null(w, "%s", err);
    metric_row r;
    metric_row_init(&r, MR_TRAIN, 5);
    r.precision = DT_BF16;
    strcpy(r.replica, "a,\"b"); /* a replica label with characters that need quoting */
    cr_assert_eq(metrics_csv_write(w, &r, err, sizeof err), 0, "%s", err);
    metrics_csv_close(w);
    size_t len;
    const char *text = slurp(path, &len);
    cr_assert_not_null(strstr(text, "\n5,,,train,bf16,,,,,,,,,,\"a,\"\"b\"\n"), "row: %s", text);
    table t;
    parse_file(path, &t);
    cr_assert_eq(t.nrows, 2);
    cr_assert_eq(t.ncols[1], 15);
    cr_assert_str_eq(t.cell[1][4], "bf16");
    cr_assert_str_eq(t.cell[1][14], "a,\"b");
}

Test(metrics, refuses_a_file_with_another_header, .init = setup, .fini = teardown)
{
    char err[512], want[1024];
    metrics_csv *w = metrics_csv_open(path, err, sizeof err); /* makes the directory */
    cr_assert_not_null(w, "%s", err);
    metrics_csv_close(w);
    FILE *f = fopen(path, "w");
    static const char old[] = "step,epoch,time_s,kind,precision,loss,lr,grad_norm,loss_scale,"
                              "overflow,overflow_total,tokens_per_s,eval_loss,eval_ppl\n"
                              "1,,,train,fp32,,,,,,,,,\n";
    fputs(old, f);
    fclose(f);
    cr_assert_null(metrics_csv_open(path, err, sizeof err));
    snprintf(want, sizeof want, "%s: its header is not \"%s\" (written by another mptui version?); "
             "move it away or choose another --logging_dir", path, metrics_csv_header());
    cr_assert_str_eq(err, want);
    size_t len;
    const char *text = slurp(path, &len);
    cr_assert_str_eq(text, old, "the file is left as it was");
    (void)len;
}

Test(metrics, errors, .init = setup, .fini = teardown)
{
    char err[512], want[600], blocker[300], bad[400];
    /* a parent that is a file */
    snprintf(blocker, sizeof blocker, "%s/file", dir);
    FILE *f = fopen(blocker, "w");
    fclose(f);
    snprintf(bad, sizeof bad, "%s/logs/metrics.csv", blocker);
    cr_assert_null(metrics_csv_open(bad, err, sizeof err));
    snprintf(want, sizeof want, "%s: cannot create directory %s: Not a directory", bad, blocker);
    cr_assert_str_eq(err, want);
    /* a directory where the file should be */
    cr_assert_null(metrics_csv_open(dir, err, sizeof err));
    snprintf(want, sizeof want, "%s: cannot open for appending: Is a directory", dir);
    cr_assert_str_eq(err, want);
    /* a device that is always full: the header write fails */
    if (access("/dev/full", W_OK) == 0) {
        cr_assert_null(metrics_csv_open("/dev/full", err, sizeof err));
        cr_assert_str_eq(err, "/dev/full: cannot write metrics: No space left on device");
    }
    cr_assert_null(metrics_csv_open("", err, sizeof err));
    cr_assert_str_eq(err, "metrics.csv: empty path");
}

/* A disk full in the middle of a row, then freed: before the fix the half row stayed and the
 * next row joined it. Now the file is cut back, the row waits, and lands whole. */
Test(metrics, disk_full_then_freed_leaves_whole_rows, .init = setup, .fini = teardown)
{
    char err[512], want[700];
    metric_row r;
    signal(SIGXFSZ, SIG_IGN);
    metrics_csv *w = metrics_csv_open(path, err, sizeof err);
    cr_assert_not_null(w, "%s", err);
    cr_assert_null(metrics_csv_notice(w));
    struct rlimit lim;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &lim), 0);
    rlim_t was = lim.rlim_cur;
    lim.rlim_cur = strlen(metrics_csv_header()) + 1 + 10; /* 10 bytes of the first row fit */
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    metric_row_init(&r, MR_TRAIN, 10);
    r.loss = 4.5;
    cr_assert_eq(metrics_csv_write(w, &r, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: cannot write metrics: File too large; the rows are kept "
             "and written once it works again", path);
    cr_assert_str_eq(err, want);
    size_t len;
    snprintf(want, sizeof want, "%s\n", metrics_csv_header());
    cr_assert_str_eq(slurp(path, &len), want);
    lim.rlim_cur = was;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    metric_row_init(&r, MR_TRAIN, 20);
    r.loss = 4.25;
    cr_assert_eq(metrics_csv_write(w, &r, err, sizeof err), 0, "%s", err);
    metrics_csv_close(w);
    snprintf(want, sizeof want, "%s\n10,,,train,fp32,4.5,,,,,,,,,\n20,,,train,fp32,4.25,,,,,,,,,\n",
             metrics_csv_header());
    cr_assert_str_eq(slurp(path, &len), want);
}

/* A metrics.csv whose last row was cut by a kill: the open cuts the piece and says so. */
Test(metrics, open_repairs_a_cut_last_row, .init = setup, .fini = teardown)
{
    char err[512], want[700];
    metrics_csv *w = metrics_csv_open(path, err, sizeof err);
    cr_assert_not_null(w, "%s", err);
    metrics_csv_close(w);
    FILE *f = fopen(path, "a");
    fputs("10,0.5,1.2,train,fp16,4.", f);
    fclose(f);
    w = metrics_csv_open(path, err, sizeof err);
    cr_assert_not_null(w, "%s", err);
    snprintf(want, sizeof want, "%s: removed an incomplete last line (24 bytes, left by an "
             "interrupted write)", path);
    cr_assert_str_eq(metrics_csv_notice(w), want);
    metrics_csv_close(w);
    size_t len;
    snprintf(want, sizeof want, "%s\n", metrics_csv_header());
    cr_assert_str_eq(slurp(path, &len), want);
}

/* ---- metrics_csv_drop_after (resume) ---- */

static void put_text(const char *p, const char *text)
{
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f, "%s", p);
    fputs(text, f);
    fclose(f);
}

/* Rows in step order as a run writes them, a quoted cell with a newline and a comma among
 * them, and a last row cut short (no newline): each kept or dropped whole, by its step. */
static const char *const LOG =
    "step,replica,layer,tensor\n"
    "10,,h.0,act\n"
    "20,,h.0,act\n"
    "20,,\"h.1\nnext,line\",grad\n"
    "\"25\",,h.0,act\n"
    "30,,\"x,\"\"30\"\"\",act\n"
    "note,,not a step,\n"
    "40,,h.0,act";

Test(metrics, drop_after_removes_only_newer_rows, .init = setup, .fini = teardown)
{
    char p[300], e[512] = "";
    size_t dropped = 99, len;
    snprintf(p, sizeof p, "%s/layers.csv", dir);
    put_text(p, LOG);
    cr_assert_eq(metrics_csv_drop_after(p, 20, &dropped, e, sizeof e), 0, "%s", e);
    cr_assert_eq(dropped, 3);
    cr_assert_str_eq(slurp(p, &len), "step,replica,layer,tensor\n"
                                     "10,,h.0,act\n"
                                     "20,,h.0,act\n"
                                     "20,,\"h.1\nnext,line\",grad\n"
                                     "note,,not a step,\n");
    /* nothing newer: untouched, no temporary file left */
    cr_assert_eq(metrics_csv_drop_after(p, 20, &dropped, e, sizeof e), 0, "%s", e);
    cr_assert_eq(dropped, 0);
    cr_assert_eq(metrics_csv_drop_after(p, 0, &dropped, e, sizeof e), 0, "%s", e);
    cr_assert_eq(dropped, 3, "rows 10, 20, 20 go; the header and the 'note' row stay");
    cr_assert_str_eq(slurp(p, &len), "step,replica,layer,tensor\nnote,,not a step,\n");
    char tmp[320];
    snprintf(tmp, sizeof tmp, "%s.tmp-resume-%ld", p, (long)getpid());
    cr_assert_neq(access(tmp, F_OK), 0, "temporary file left behind");
    /* the header's own "step" is never read as a row */
    put_text(p, "5\n6\n7\n");
    cr_assert_eq(metrics_csv_drop_after(p, 5, &dropped, e, sizeof e), 0, "%s", e);
    cr_assert_eq(dropped, 2);
    cr_assert_str_eq(slurp(p, &len), "5\n");
}

Test(metrics, drop_after_missing_file_and_errors, .init = setup, .fini = teardown)
{
    char p[300], e[512] = "";
    size_t dropped = 99, len;
    snprintf(p, sizeof p, "%s/none.csv", dir);
    cr_assert_eq(metrics_csv_drop_after(p, 20, &dropped, e, sizeof e), 0, "%s", e);
    cr_assert_eq(dropped, 0);
    cr_assert_neq(access(p, F_OK), 0, "a missing file is not created");
    /* the temporary name is taken by a directory: refused, the file as it was */
    snprintf(p, sizeof p, "%s/metrics.csv", dir);
    put_text(p, LOG);
    char tmp[320];
    snprintf(tmp, sizeof tmp, "%s.tmp-resume-%ld", p, (long)getpid());
    cr_assert_eq(mkdir(tmp, 0755), 0);
    cr_assert_eq(metrics_csv_drop_after(p, 20, &dropped, e, sizeof e), -1);
    cr_assert_eq(dropped, 0);
    cr_assert_not_null(strstr(e, "metrics.csv: cannot drop the rows logged after step 20: Is a "
                                 "directory"), "%s", e);
    cr_assert_null(strchr(e, '\n'));
    cr_assert_str_eq(slurp(p, &len), LOG);
}
