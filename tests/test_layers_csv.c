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
#include "test_deadline.h"

#define MAXR 512
#define MAXC 14

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
    "dynamic_range", "nonfinite_count", "scale", "amax_history_max",
};
#define NCOLS 12

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
    cr_assert_eq(layers_csv_write(w, 10, "fp16", &p, st, NULL, err, sizeof err), 0, "%s", err);
    st[prec_find(&p, "h.0.attn")].act = mk(1.0f, 0.0f, 8, 0, 0, 0); /* no nonzero: no range */
    cr_assert_eq(layers_csv_write(w, 20, "fp16", &p, st, NULL, err, sizeof err), 0, "%s", err);
    layers_csv_close(w);

    static table t;
    parse_file(path, &t);
    int per = expected_rows(&p); /* 13 rows: 13 act + 12 x 2 grad + 5 Linear wgrad */
    cr_assert_eq(per, 13 + 24 + 5);
    cr_assert_eq(t.nrows, 1 + 2 * per);
    for (size_t c = 0; c < NCOLS; c++) cr_assert_str_eq(t.cell[0][c], COLS[c]);
    char header[256] = "";
    for (size_t c = 0; c < NCOLS; c++) {
        strcat(header, COLS[c]);
        if (c == 9) cr_assert_str_eq(layers_csv_header_v1(), header); /* before FP8 */
        if (c < NCOLS - 1) strcat(header, ",");
    }
    cr_assert_str_eq(layers_csv_header(), header);
    for (int r = 1; r < t.nrows; r++) {
        cr_assert_eq(t.ncols[r], NCOLS, "row %d", r);
        cr_assert_str_eq(t.cell[r][10], "", "no scale off FP8 casts");
        cr_assert_str_eq(t.cell[r][11], "");
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
        cr_assert_eq(layers_csv_write(w, 10 * (run + 1), run ? "bf16" : "fp32", &p, st, NULL, err,
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
 * naming the file, never a crash, never a half row; the rows wait in memory and land whole,
 * in order, once the space is back. */
Test(layers_csv, write_error_is_reported, .init = setup, .fini = teardown)
{
    prec_policy p;
    char err[512], want[700];
    cr_assert_eq(prec_init(&p, 1, DT_F16), 0);
    gpt_row_stats *st = fake_stats(&p);
    layers_csv *w = layers_csv_open(path, err, sizeof err);
    cr_assert_not_null(w, "%s", err);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &lim), 0);
    rlim_t was = lim.rlim_cur;
    lim.rlim_cur = 400; /* the header fits, one step's rows do not */
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    cr_assert_eq(layers_csv_write(w, 10, "fp16", &p, st, NULL, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: cannot write layer statistics: File too large; the rows "
             "are kept and written once it works again", path);
    cr_assert_str_eq(err, want);
    err[0] = '\0';
    cr_assert_eq(layers_csv_write(w, 20, "fp16", &p, st, NULL, err, sizeof err), 0, "reported once");
    cr_assert_str_eq(err, "");
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_size, (off_t)strlen(layers_csv_header()) + 1, "only the header");
    lim.rlim_cur = was; /* space is back */
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    cr_assert_eq(layers_csv_write(w, 30, "fp16", &p, st, NULL, err, sizeof err), 0, "%s", err);
    layers_csv_close(w);
    table *t = malloc(sizeof *t);
    parse_file(path, t);
    int per_step = (t->nrows - 1) / 3;
    cr_assert_gt(per_step, 0);
    cr_assert_eq(t->nrows, 1 + 3 * per_step);
    static const char *const steps[] = {"10", "20", "30"};
    for (int r = 1; r < t->nrows; r++) {
        cr_assert_eq(t->ncols[r], NCOLS, "row %d", r);
        cr_assert_str_eq(t->cell[r][0], steps[(r - 1) / per_step]);
    }
    free(t);
    free(st);
    prec_free(&p);
}

/* ---- FP8 casts ---- */

/* The row index of (layer, tensor) in the table, -1 when absent. */
static int find_row(const table *t, const char *layer, const char *tensor)
{
    for (int r = 1; r < t->nrows; r++)
        if (!strcmp(t->cell[r][2], layer) && !strcmp(t->cell[r][3], tensor)) return r;
    return -1;
}

/* An FP8 policy's Linear rows with casts: input and weight E4M3, grad E5M2 (hybrid). */
static void fp8_casts(const prec_policy *p, gpt_row_stats *st)
{
    for (int i = 0; i < p->n; i++) {
        if (p->rows[i].kind != LK_LINEAR) continue;
        st[i].fp8[FP8_T_INPUT] = mk(4.0f, 0x1p-10f, 1000, 3, 20, 0);
        st[i].fp8[FP8_T_WEIGHT] = mk(0.5f, 0x1p-12f, 200, 0, 1, 0);
        st[i].fp8[FP8_T_GRAD] = mk(0x1p-8f, 0x1p-30f, 400, 0, 100, 1);
    }
}

/* An FP8 row adds a row per cast after its other tensors: the format as dtype, saturations
 * as overflow, the scale its last cast used and the amax history's max; other rows leave the
 * two new cells empty. */
Test(layers_csv, fp8_casts_with_scale_and_history, .init = setup, .fini = teardown)
{
    prec_policy p;
    char err[512];
    cr_assert_eq(prec_init(&p, 1, DT_FP8), 0);
    cr_assert_eq(prec_set_override(&p, "lm_head", DT_BF16, err, sizeof err), 1, "%s", err);
    gpt_row_stats *st = fake_stats(&p);
    fp8_casts(&p, st);
    int qkv = prec_find(&p, "h.0.attn.c_attn"), fc = prec_find(&p, "h.0.mlp.c_fc");
    st[fc].fp8[FP8_T_WEIGHT].count = 0; /* not cast: no row */
    fp8_state fs;
    cr_assert_eq(fp8_state_init(&fs, p.n, &p.fp8), 0);
    fp8_step_begin(&fs);
    fp8_record(&fs, qkv, FP8_T_INPUT, 4.0f, 112.0f);
    fp8_record(&fs, qkv, FP8_T_GRAD, 0x1p-8f, 0x1p20f);
    fp8_step_commit(&fs);
    fp8_step_begin(&fs);
    fp8_record(&fs, qkv, FP8_T_INPUT, 3.0f, 0x1p-3f); /* a later, smaller amax: the max stays */
    fp8_step_commit(&fs);
    layers_csv *w = layers_csv_open(path, err, sizeof err);
    cr_assert_not_null(w, "%s", err);
    cr_assert_null(layers_csv_notice(w));
    cr_assert_eq(layers_csv_write(w, 10, "fp8", &p, st, &fs, err, sizeof err), 0, "%s", err);
    cr_assert_eq(layers_csv_write(w, 20, "fp8", &p, st, NULL, err, sizeof err), 0, "%s", err);
    layers_csv_close(w);
    static table t;
    parse_file(path, &t);
    /* 4 fp8 Linear rows (c_attn, attn.c_proj, c_fc, mlp.c_proj) x 3 casts, less c_fc's weight;
     * lm_head runs bf16 (override): no casts although its stats hold some */
    int per = expected_rows(&p) + 4 * 3 - 1;
    cr_assert_eq(t.nrows, 1 + 2 * per);
    int r = find_row(&t, "h.0.attn.c_attn", "fp8_input");
    cr_assert_eq(r, find_row(&t, "h.0.attn.c_attn", "weight_gradient_scaled") + 1);
    const char *want[3][NCOLS] = {
        {"10", "fp8", "h.0.attn.c_attn", "fp8_input", "e4m3", "4", "2", "3", "12", "0", "0.125", "4"},
        {"10", "fp8", "h.0.attn.c_attn", "fp8_weight", "e4m3", "0.5", "0.5", "0", "11", "0", "1", "0"},
        {"10", "fp8", "h.0.attn.c_attn", "fp8_grad", "e5m2", "0.00390625", "25", "0", "22", "1",
         "1048576", "0.00390625"},
    };
    for (int k = 0; k < 3; k++)
        for (int c = 0; c < NCOLS; c++)
            cr_assert_str_eq(t.cell[r + k][c], want[k][c], "%s col %s", want[k][3], COLS[c]);
    cr_assert_eq(find_row(&t, "h.0.mlp.c_fc", "fp8_weight"), -1);
    cr_assert_gt(find_row(&t, "h.0.mlp.c_fc", "fp8_grad"), 0);
    cr_assert_eq(find_row(&t, "lm_head", "fp8_input"), -1);
    cr_assert_str_eq(t.cell[find_row(&t, "lm_head", "activation")][4], "bf16");
    cr_assert_str_eq(t.cell[find_row(&t, "h.0.attn.c_attn", "activation")][4], "bf16");
    cr_assert_eq(find_row(&t, "h.0.ln_1", "fp8_input"), -1, "fp8 is for Linear rows only");
    /* without the state (NULL) the casts' rows come with the two cells empty */
    cr_assert_str_eq(t.cell[per + r][0], "20");
    cr_assert_str_eq(t.cell[per + r][3], "fp8_input");
    cr_assert_str_eq(t.cell[per + r][10], "");
    cr_assert_str_eq(t.cell[per + r][11], "");
    fp8_state_free(&fs);
    free(st);
    prec_free(&p);
}

/* MXFP8 has no per-tensor scale: the scale cell stays empty, the history is still written;
 * the all-E4M3 format makes gradients E4M3 too. */
Test(layers_csv, fp8_mxfp8_leaves_scale_empty, .init = setup, .fini = teardown)
{
    prec_policy p;
    char err[512];
    cr_assert_eq(prec_init(&p, 1, DT_FP8), 0);
    p.fp8.kind = FP8_MXFP8;
    p.fp8.format = FP8_ALL_E4M3;
    gpt_row_stats *st = fake_stats(&p);
    fp8_casts(&p, st);
    fp8_state fs;
    cr_assert_eq(fp8_state_init(&fs, p.n, &p.fp8), 0);
    int qkv = prec_find(&p, "h.0.attn.c_attn");
    fp8_step_begin(&fs);
    fp8_record(&fs, qkv, FP8_T_GRAD, 0.5f, 1.0f);
    fp8_step_commit(&fs);
    layers_csv *w = layers_csv_open(path, err, sizeof err);
    cr_assert_not_null(w, "%s", err);
    cr_assert_eq(layers_csv_write(w, 10, "fp8", &p, st, &fs, err, sizeof err), 0, "%s", err);
    layers_csv_close(w);
    static table t;
    parse_file(path, &t);
    int r = find_row(&t, "h.0.attn.c_attn", "fp8_grad");
    cr_assert_gt(r, 0);
    cr_assert_str_eq(t.cell[r][4], "e4m3");
    cr_assert_str_eq(t.cell[r][10], "");
    cr_assert_str_eq(t.cell[r][11], "0.5");
    fp8_state_free(&fs);
    free(st);
    prec_free(&p);
}

/* A layers.csv begun before FP8 (ten columns) goes on in its own columns when a run resumes
 * into it: one table, no misaligned cells, and the open says so. */
Test(layers_csv, file_of_an_earlier_version_keeps_its_columns, .init = setup, .fini = teardown)
{
    prec_policy p;
    char err[512];
    FILE *f = fopen(path, "w");
    fprintf(f, "%s\n10,bf16,wte,activation,fp32,1,0,0,3,0\n", layers_csv_header_v1());
    fclose(f);
    cr_assert_eq(prec_init(&p, 1, DT_FP8), 0);
    gpt_row_stats *st = fake_stats(&p);
    fp8_casts(&p, st);
    layers_csv *w = layers_csv_open(path, err, sizeof err);
    cr_assert_not_null(w, "%s", err);
    cr_assert_not_null(layers_csv_notice(w));
    cr_assert(strstr(layers_csv_notice(w), "begun by an earlier mptui, rows go on without the "
                                           "scale and amax_history_max columns"),
              "%s", layers_csv_notice(w));
    cr_assert_eq(layers_csv_write(w, 20, "fp8", &p, st, NULL, err, sizeof err), 0, "%s", err);
    layers_csv_close(w);
    static table t;
    parse_file(path, &t);
    cr_assert_eq(t.nrows, 2 + expected_rows(&p) + 4 * 3 + 3); /* lm_head is fp8 too */
    for (int r = 0; r < t.nrows; r++) cr_assert_eq(t.ncols[r], 10, "row %d", r);
    int r = find_row(&t, "lm_head", "fp8_grad");
    cr_assert_gt(r, 0);
    cr_assert_str_eq(t.cell[r][4], "e5m2");
    /* a torn first line is no earlier header: the repair starts the file afresh */
    f = fopen(path, "w");
    fprintf(f, "step,replica,lay");
    fclose(f);
    w = layers_csv_open(path, err, sizeof err);
    cr_assert_not_null(w, "%s", err);
    layers_csv_close(w);
    parse_file(path, &t);
    cr_assert_eq(t.nrows, 1);
    cr_assert_eq(t.ncols[0], NCOLS);
    free(st);
    prec_free(&p);
}

/* ---- layers.csv as a training run writes it (through the trainer) ---- */

#include "config.h"
#include "feed.h"
#include "trainer.h"

static void small_run_config(mp_config *c, const char *precision, int steps)
{
    char err[256], v[16];
    cfg_defaults(c);
    const char *kv[][2] = {
        {"n_layer", "2"}, {"n_head", "2"}, {"n_embd", "64"}, {"block_size", "64"},
        {"per_device_train_batch_size", "8"}, {"learning_rate", "3e-3"},
        {"logging_steps", "10"}, {"eval_strategy", "no"}, {"save_strategy", "no"},
        {"sample_length", "0"}, {"device", "cpu"}, {"precision", precision},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        cr_assert_eq(cfg_set(c, kv[i][0], kv[i][1], err, sizeof err), 0, "%s", err);
    snprintf(v, sizeof v, "%d", steps);
    cr_assert_eq(cfg_set(c, "max_steps", v, err, sizeof err), 0);
    cr_assert_eq(cfg_set(c, "output_dir", dir, err, sizeof err), 0);
}

static void train(const mp_config *c, feed_snapshot *snap)
{
    char err[512] = "";
    feed *f = feed_create();
    trainer *t = trainer_create(c, f, NULL, NULL, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    cr_assert_eq(trainer_run(t, err, sizeof err), 0, "%s", err);
    if (snap) cr_assert(feed_get_snapshot(f, snap) > 0);
    trainer_free(t);
    feed_destroy(f);
}

/* 2 blocks: 21 rows; activations 21, gradients 20 x 2, weight gradients 2 x 4 + lm_head. */
#define ROWS_2L (21 + 40 + 9)

static double pct_sum(const table *t, const char *step, const char *tensor)
{
    double s = 0;
    for (int r = 1; r < t->nrows; r++)
        if (!strcmp(t->cell[r][0], step) && !strcmp(t->cell[r][3], tensor))
            s += strtod(t->cell[r][6], NULL);
    return s;
}

Test(layers_csv, training_run_writes_every_logged_step, .init = setup, .fini = teardown)
{
    test_deadline(120);
    mp_config c;
    static feed_snapshot snap;
    small_run_config(&c, "fp16", 25); /* logs at 10, 20 and the last step, 25 */
    train(&c, &snap);
    static table t;
    char p[300];
    snprintf(p, sizeof p, "%s/logs/layers.csv", dir);
    parse_file(p, &t);
    cr_assert_eq(t.nrows, 1 + 3 * ROWS_2L);
    const char *steps[] = {"10", "20", "25"};
    for (int r = 1; r < t.nrows; r++) {
        cr_assert_str_eq(t.cell[r][0], steps[(r - 1) / ROWS_2L]);
        cr_assert_str_eq(t.cell[r][1], "fp16");
        cr_assert_eq(t.ncols[r], NCOLS);
        cr_assert_str_eq(t.cell[r][7], "0", "no overflow expected at %s %s", t.cell[r][2],
                         t.cell[r][3]);
    }
    /* dtypes follow the policy: embeddings and the loss fp32, the rest fp16 */
    cr_assert_str_eq(t.cell[1][2], "wte");
    cr_assert_str_eq(t.cell[1][4], "fp32");
    cr_assert_str_eq(t.cell[ROWS_2L][2], "loss");
    cr_assert_str_eq(t.cell[ROWS_2L][4], "fp32");
    cr_assert_str_eq(t.cell[7][2], "h.0.ln_1"); /* after wte, wpe: 3 rows each */
    cr_assert_str_eq(t.cell[7][4], "fp16");
    /* loss scaling at 2^16 is what keeps the fp16 gradients: without it far more flush */
    for (int k = 0; k < 3; k++) {
        double un = pct_sum(&t, steps[k], "gradient"), sc = pct_sum(&t, steps[k], "gradient_scaled");
        cr_assert(un > 10.0 * sc && un > 1.0, "step %s: unscaled %g%% vs scaled %g%%", steps[k],
                  un, sc);
    }
    /* the screen gets the same numbers */
    int qkv = -1;
    for (int i = 0; i < snap.n_layers; i++)
        if (!strcmp(snap.layers[i].name, "h.0.attn.c_attn")) qkv = i;
    cr_assert(qkv >= 0 && snap.layers[qkv].valid);
    cr_assert_eq(snap.layers[qkv].kind, LK_LINEAR, "the o key's cycle reads the kind");
    cr_assert_eq(snap.layers[qkv].fp8, 0);
    cr_assert_eq(snap.layers[2].kind, LK_LN);
    cr_assert(snap.fp8_known, "the run's recipe, for the map's title");
    cr_assert(snap.fp8.kind == FP8_DELAYED && snap.fp8.history_len == 1024);
    cr_assert(snap.layers[qkv].grad_uflow_unscaled_pct > snap.layers[qkv].grad_uflow_pct);
    cr_assert(snap.layers[qkv].act_range > 0 && snap.layers[qkv].grad_range > 0);
    for (int r = 1; r < t.nrows; r++)
        if (!strcmp(t.cell[r][0], "25") && !strcmp(t.cell[r][2], "h.0.attn.c_attn") &&
            !strcmp(t.cell[r][3], "gradient_scaled")) {
            cr_assert_float_eq(strtod(t.cell[r][6], NULL), snap.layers[qkv].grad_uflow_pct, 1e-6);
            cr_assert_float_eq(strtod(t.cell[r][8], NULL), snap.layers[qkv].grad_range, 1e-6);
        }
}

/* Without loss scaling (bf16) the unscaled gradient is the stored one: identical rows. */
Test(layers_csv, no_scaling_gradient_equals_scaled, .init = setup, .fini = teardown)
{
    test_deadline(120);
    mp_config c;
    small_run_config(&c, "bf16", 10);
    train(&c, NULL);
    static table t;
    char p[300];
    snprintf(p, sizeof p, "%s/logs/layers.csv", dir);
    parse_file(p, &t);
    cr_assert_eq(t.nrows, 1 + ROWS_2L);
    int pairs = 0;
    for (int r = 1; r + 1 < t.nrows; r++) {
        if (strcmp(t.cell[r][3], "gradient")) continue;
        cr_assert_str_eq(t.cell[r + 1][3], "gradient_scaled");
        for (int c2 = 4; c2 < NCOLS; c2++)
            cr_assert_str_eq(t.cell[r][c2], t.cell[r + 1][c2], "%s col %d", t.cell[r][2], c2);
        cr_assert_str_eq(t.cell[r][1], "bf16");
        pairs++;
    }
    cr_assert_eq(pairs, 20);
}

/* Resume from the latest checkpoint: the same layers.csv continues, one header. */
Test(layers_csv, resumed_run_appends, .init = setup, .fini = teardown)
{
    test_deadline(120);
    mp_config c;
    char err[256];
    small_run_config(&c, "fp16", 20);
    cr_assert_eq(cfg_set(&c, "save_strategy", "steps", err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "save_steps", "20", err, sizeof err), 0);
    train(&c, NULL);
    small_run_config(&c, "fp16", 30);
    cr_assert_eq(cfg_set(&c, "resume_from_checkpoint", "latest", err, sizeof err), 0);
    train(&c, NULL);
    static table t;
    char p[300];
    snprintf(p, sizeof p, "%s/logs/layers.csv", dir);
    parse_file(p, &t);
    cr_assert_eq(t.nrows, 1 + 3 * ROWS_2L);
    const char *steps[] = {"10", "20", "30"};
    for (int r = 1; r < t.nrows; r++)
        cr_assert_str_eq(t.cell[r][0], steps[(r - 1) / ROWS_2L]);
}

/* layers.csv cannot be created in the logging dir: the run refuses to start, saying why. */
Test(layers_csv, unwritable_layers_csv_stops_the_run_clearly, .init = setup, .fini = teardown)
{
    mp_config c;
    char err[512] = "", want[700], logs[300];
    small_run_config(&c, "fp16", 10);
    snprintf(logs, sizeof logs, "%s/mylogs", dir);
    cr_assert_eq(cfg_set(&c, "logging_dir", logs, err, sizeof err), 0);
    char blocker[320];
    snprintf(blocker, sizeof blocker, "%s/layers.csv", logs);
    cr_assert_eq(mkdir(logs, 0777), 0);
    cr_assert_eq(mkdir(blocker, 0777), 0); /* a directory in the file's place */
    cr_assert_null(trainer_create(&c, NULL, NULL, NULL, err, sizeof err));
    snprintf(want, sizeof want, "%s: cannot open for appending: Is a directory "
             "(check --logging_dir)", blocker);
    cr_assert_str_eq(err, want);
}

/* The data-parallel all-reduce's row (docs/dist.md): the wire dtype and what it did, in the
 * file's columns, scale and history empty. */
Test(layers_csv, comm_row_of_the_gradient_all_reduce, .init = setup, .fini = teardown)
{
    char err[512];
    layers_csv *w = layers_csv_open(path, err, sizeof err);
    cr_assert_not_null(w, "%s", err);
    num_stats wire = mk(65504.0f, 0.25f, 1000, 3, 10, 2);
    cr_assert_eq(layers_csv_write_comm(w, 7, "fp16", DT_F16, &wire, err, sizeof err), 0, "%s",
                 err);
    layers_csv_close(w);
    static table t;
    parse_file(path, &t);
    cr_assert_eq(t.nrows, 2);
    cr_assert_str_eq(t.cell[1][0], "7");
    cr_assert_str_eq(t.cell[1][2], "ddp grad all-reduce");
    cr_assert_str_eq(t.cell[1][3], "weight_gradient_scaled");
    cr_assert_str_eq(t.cell[1][4], "fp16");
    cr_assert_str_eq(t.cell[1][5], "65504");
    cr_assert_str_eq(t.cell[1][6], "1");   /* 10 of 1000 flushed */
    cr_assert_str_eq(t.cell[1][7], "3");
    cr_assert_str_eq(t.cell[1][9], "2");
    cr_assert_str_eq(t.cell[1][10], "");
    cr_assert_str_eq(t.cell[1][11], "");
}
