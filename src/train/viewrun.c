/* viewrun.c — the run reader behind `mptui view` (docs/view.md): finds a run's metrics.csv,
 * parses it with libcsv against the writer's own header, and never writes a byte. */
#include "viewrun.h"

#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compare_csv.h"
#include "errfmt.h"
#include "fsutil.h"
#include "layers_csv.h"

/* Our CSV files are at most a few hundred MB even for long runs; the reader holds one whole. */
#define VIEW_FILE_MAX ((size_t)1 << 30)

/* ---- paths ---- */

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int viewrun_resolve(const char *arg, char *csv, size_t csvlen, char *err, size_t errlen)
{
    struct stat st;
    if (!arg || !*arg) return errfmt(err, errlen, "view: an empty path");
    if (stat(arg, &st) != 0)
        return errfmt(err, errlen, "%s: %s (give an output dir, a logging dir or a metrics.csv)",
                      arg, strerror(errno));
    if (S_ISREG(st.st_mode)) {
        snprintf(csv, csvlen, "%s", arg);
        return 0;
    }
    if (!S_ISDIR(st.st_mode))
        return errfmt(err, errlen, "%s: not a regular file or a folder (give an output dir, a "
                      "logging dir or a metrics.csv)", arg);
    const char *tails[2] = {"metrics.csv", "logs/metrics.csv"};
    const char *sep = arg[strlen(arg) - 1] == '/' ? "" : "/";
    for (int i = 0; i < 2; i++) {
        snprintf(csv, csvlen, "%s%s%s", arg, sep, tails[i]);
        if (is_file(csv)) return 0;
    }
    return errfmt(err, errlen, "%s: no metrics.csv in it or in %s%slogs (give an output dir, a "
                  "logging dir or a metrics.csv)", arg, arg, sep);
}

/* ---- a whole file, read-only ---- */

/* The file's bytes (malloc'd, NUL-terminated) or NULL + err. */
static char *read_whole(const char *path, size_t *len, char *err, size_t errlen)
{
    return fsutil_slurp(path, VIEW_FILE_MAX, "give a metrics.csv", len, err, errlen);
}

/* ---- row collection through libcsv ---- */

#define VIEW_CELLS 20
#define VIEW_CELL 64

typedef struct {
    char cell[VIEW_CELLS][VIEW_CELL];
    int n, too_long;
} cells;

typedef int (*row_fn)(void *ctx, const cells *c, long line, char *err, size_t errlen);

typedef struct {
    cells c;
    long line;           /* 1-based line of the row being collected */
    row_fn fn;
    void *ctx;
    int failed;
    char *err;
    size_t errlen;
} collector;

static void on_cell(void *s, size_t len, void *data)
{
    collector *k = data;
    if (k->c.n == VIEW_CELLS) { k->c.too_long = 1; return; }
    if (len >= VIEW_CELL) { k->c.too_long = 1; len = VIEW_CELL - 1; }
    memcpy(k->c.cell[k->c.n], s ? s : "", s ? len : 0);
    k->c.cell[k->c.n++][s ? len : 0] = 0;
}

static void on_row(int ch, void *data)
{
    (void)ch;
    collector *k = data;
    k->line++;
    if (!k->failed && k->fn(k->ctx, &k->c, k->line, k->err, k->errlen)) k->failed = 1;
    k->c.n = k->c.too_long = 0;
}

/* Feeds text (complete lines) to fn row by row; first_line numbers the first one. */
static int collect(const char *text, size_t len, long first_line, row_fn fn, void *ctx,
                   const char *path, char *err, size_t errlen)
{
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_APPEND_NULL)) return errfmt(err, errlen, "out of memory");
    collector k = {.line = first_line - 1, .fn = fn, .ctx = ctx, .err = err, .errlen = errlen};
    size_t done = csv_parse(&p, text, len, on_cell, on_row, &k);
    int bad = done != len;
    if (!bad && !k.failed) bad = csv_fini(&p, on_cell, on_row, &k) != 0;
    if (bad && !k.failed)
        errfmt(err, errlen, "%s:%ld: not valid CSV (%s)", path, k.line + 1,
               csv_strerror(csv_error(&p)));
    csv_free(&p);
    return bad || k.failed ? -1 : 0;
}

static int header_matches(const cells *c, const char *want)
{
    char got[VIEW_CELLS * VIEW_CELL + VIEW_CELLS];
    size_t n = 0;
    for (int i = 0; i < c->n; i++) n += (size_t)snprintf(got + n, sizeof got - n, "%s%s", i ? "," : "", c->cell[i]);
    return !c->too_long && strcmp(got, want) == 0;
}

static int header_error(const cells *c, const char *path, const char *what, const char *want,
                        char *err, size_t errlen)
{
    return errfmt(err, errlen, "%s: not a %s mptui writes: its header starts '%s,%s,...' "
                  "(expected %s)", path, what, c->n > 0 ? c->cell[0] : "",
                  c->n > 1 ? c->cell[1] : "", want);
}

/* A number cell: "" = NAN, "inf", "-inf", else a whole strtod. */
static int num(const char *s, double *v)
{
    if (!*s) { *v = NAN; return 0; }
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return *end || end == s ? -1 : 0;
}

static int int_cell(const char *s, int64_t *v)
{
    if (!*s) { *v = -1; return 0; }
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (*end || end == s || errno || x < 0) return -1;
    *v = x;
    return 0;
}

/* ---- metrics.csv ---- */

enum { M_step, M_epoch, M_time_s, M_kind, M_precision, M_loss, M_lr, M_grad_norm, M_loss_scale,
       M_overflow, M_overflow_total, M_tokens_per_s, M_eval_loss, M_eval_ppl, M_replica, M_N };

static const char *const metric_cols[M_N] = {
    "step", "epoch", "time_s", "kind", "precision", "loss", "lr", "grad_norm", "loss_scale",
    "overflow", "overflow_total", "tokens_per_s", "eval_loss", "eval_ppl", "replica",
};

typedef struct {
    view_run *r;
    int *header_done;
    const char *path;
} metrics_ctx;

static int push_row(metric_row **a, size_t *n, size_t *cap, const metric_row *m)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 256;
        metric_row *b = realloc(*a, c * sizeof *b);
        if (!b) return -1;
        *a = b;
        *cap = c;
    }
    (*a)[(*n)++] = *m;
    return 0;
}

static int metrics_row(void *ctx, const cells *c, long line, char *err, size_t errlen)
{
    metrics_ctx *x = ctx;
    if (!*x->header_done) {
        if (!header_matches(c, metrics_csv_header()))
            return header_error(c, x->path, "metrics.csv", metrics_csv_header(), err, errlen);
        *x->header_done = 1;
        return 0;
    }
    if (c->n != M_N || c->too_long)
        return errfmt(err, errlen, "%s:%ld: %d cells, expected %d (%s)", x->path, line, c->n,
                      M_N, metrics_csv_header());
    metric_row m;
    metric_row_init(&m, MR_TRAIN, 0);
    int bad = -1;
    double *dst[M_N] = {
        [M_epoch] = &m.epoch, [M_time_s] = &m.time_s, [M_loss] = &m.loss, [M_lr] = &m.lr,
        [M_grad_norm] = &m.grad_norm, [M_loss_scale] = &m.loss_scale,
        [M_tokens_per_s] = &m.tokens_per_s, [M_eval_loss] = &m.eval_loss, [M_eval_ppl] = &m.eval_ppl,
    };
    for (int i = 0; i < M_N && bad < 0; i++)
        if (dst[i] && num(c->cell[i], dst[i])) bad = i;
    int64_t ovf = -1;
    if (bad < 0 && (int_cell(c->cell[M_step], &m.step) || m.step < 0)) bad = M_step;
    if (bad < 0 && int_cell(c->cell[M_overflow], &ovf)) bad = M_overflow;
    if (bad < 0 && int_cell(c->cell[M_overflow_total], &m.overflow_total)) bad = M_overflow_total;
    if (bad < 0 && strcmp(c->cell[M_kind], "train") && strcmp(c->cell[M_kind], "eval")) bad = M_kind;
    if (bad < 0 && dtype_parse(c->cell[M_precision], &m.precision)) bad = M_precision;
    if (bad < 0 && strlen(c->cell[M_replica]) >= sizeof m.replica) bad = M_replica;
    if (bad >= 0)
        return errfmt(err, errlen, "%s:%ld: column '%s' holds '%s', which mptui does not write",
                      x->path, line, metric_cols[bad], c->cell[bad]);
    m.overflow = (int)(ovf > 1 ? 1 : ovf);
    m.kind = strcmp(c->cell[M_kind], "eval") == 0 ? MR_EVAL : MR_TRAIN;
    snprintf(m.replica, sizeof m.replica, "%s", c->cell[M_replica]);
    view_run *r = x->r;
    int rc = m.kind == MR_EVAL ? push_row(&r->eval, &r->n_eval, &r->cap_eval, &m)
                               : push_row(&r->train, &r->n_train, &r->cap_train, &m);
    return rc ? errfmt(err, errlen, "%s: out of memory", x->path) : 0;
}

/* Lines before byte `end` (numbers the first row of a later chunk). */
ssize_t viewrun_parse_metrics(view_run *r, const char *text, size_t len, int *header_done,
                              const char *path, char *err, size_t errlen)
{
    if (!*header_done && len == 0)
        return errfmt(err, errlen, "%s: empty file (no header; has the run logged a step yet?)", path);
    size_t end = len;
    while (end > 0 && text[end - 1] != '\n') end--;
    if (!*header_done && end == 0)
        return errfmt(err, errlen, "%s: the header line is incomplete (not a metrics.csv mptui "
                      "finished writing)", path);
    metrics_ctx x = {r, header_done, path};
    long first = 1 + (long)(r->n_train + r->n_eval) + (*header_done ? 1 : 0);
    if (collect(text, end, first, metrics_row, &x, path, err, errlen)) return -1;
    return (ssize_t)end;
}

void viewrun_precision(view_run *r)
{
    const metric_row *rows = r->n_train ? r->train : r->eval;
    size_t n = r->n_train ? r->n_train : r->n_eval;
    int seen[DT_COUNT] = {0};
    size_t len = 0;
    r->precision[0] = 0;
    for (size_t i = 0; i < n; i++) {
        dtype_t d = rows[i].precision;
        if ((int)d < 0 || d >= DT_COUNT || seen[d]) continue;
        seen[d] = 1;
        len += (size_t)snprintf(r->precision + len, sizeof r->precision - len, "%s%s",
                                len ? ">" : "", dtype_name(d));
        if (len >= sizeof r->precision) break;
    }
    if (!r->precision[0]) snprintf(r->precision, sizeof r->precision, "-");
}

/* ---- layers.csv: the rows of the last step (of this run's replica) ---- */

typedef struct {
    view_run *r;
    int header_done;
    const char *path;
    int columns;          /* layers.csv: cells a row has under the header read */
} side_ctx;

/* L_N_V1: a file written before FP8 (layers_csv_header_v1) ends after nonfinite_count. */
enum { L_step, L_replica, L_layer, L_tensor, L_dtype, L_amax, L_uflow, L_ovf, L_range, L_nonfinite,
       L_N_V1, L_scale = L_N_V1, L_hist, L_N };

/* A layers.csv dtype cell: a dtype name, or an FP8 cast's format ("e4m3": the row ran in
 * FP8, *fp8 = its format; else *fp8 = -1). */
static int layer_dtype(const char *s, dtype_t *dt, int *fp8)
{
    *fp8 = -1;
    for (int f = 0; f < FP8_FORMATS; f++)
        if (!strcmp(s, num_fp8_name((fp8_format)f))) {
            *dt = DT_FP8;
            *fp8 = f;
            return 0;
        }
    return dtype_parse(s, dt);
}

static int layers_row(void *ctx, const cells *c, long line, char *err, size_t errlen)
{
    side_ctx *x = ctx;
    view_run *r = x->r;
    if (!x->header_done) {
        if (header_matches(c, layers_csv_header())) x->columns = L_N;
        else if (header_matches(c, layers_csv_header_v1())) x->columns = L_N_V1;
        else return header_error(c, x->path, "layers.csv", layers_csv_header(), err, errlen);
        x->header_done = 1;
        return 0;
    }
    view_layer_row l;
    memset(&l, 0, sizeof l);
    l.scale = l.amax_history_max = NAN;
    int64_t step;
    double ovf, nf;
    if (c->n != x->columns || c->too_long || int_cell(c->cell[L_step], &step) || step < 0 ||
        strlen(c->cell[L_replica]) >= sizeof l.replica ||
        strlen(c->cell[L_layer]) >= sizeof l.layer || strlen(c->cell[L_tensor]) >= sizeof l.tensor ||
        layer_dtype(c->cell[L_dtype], &l.dtype, &l.fp8_format) || num(c->cell[L_amax], &l.amax) ||
        num(c->cell[L_uflow], &l.underflow_pct) || num(c->cell[L_ovf], &ovf) ||
        num(c->cell[L_range], &l.dynamic_range) || num(c->cell[L_nonfinite], &nf) ||
        (x->columns == L_N &&
         (num(c->cell[L_scale], &l.scale) || num(c->cell[L_hist], &l.amax_history_max))))
        return errfmt(err, errlen, "%s:%ld: not a layers.csv row mptui writes", x->path, line);
    if (r->replica[0] && strcmp(c->cell[L_replica], r->replica)) return 0;
    if (step != r->layers_step) {
        if (step < r->layers_step) return 0;
        r->layers_step = step;
        r->n_layers = 0;
    }
    snprintf(l.replica, sizeof l.replica, "%s", c->cell[L_replica]);
    snprintf(l.layer, sizeof l.layer, "%s", c->cell[L_layer]);
    snprintf(l.tensor, sizeof l.tensor, "%s", c->cell[L_tensor]);
    l.overflow_count = isfinite(ovf) ? (int64_t)ovf : 0;
    l.nonfinite_count = isfinite(nf) ? (int64_t)nf : 0;
    if (r->n_layers == r->cap_layers) {
        size_t cap = r->cap_layers ? 2 * r->cap_layers : 128;
        view_layer_row *b = realloc(r->layers, cap * sizeof *b);
        if (!b) return errfmt(err, errlen, "%s: out of memory", x->path);
        r->layers = b;
        r->cap_layers = cap;
    }
    r->layers[r->n_layers++] = l;
    return 0;
}

/* ---- compare.csv: every pair at the last step ---- */

enum { C_step, C_a, C_b, C_layer, C_loss_a, C_loss_b, C_loss_diff, C_wl2, C_cos, C_N };

static view_pair *pair_of(view_run *r, const char *a, const char *b)
{
    for (int i = 0; i < r->n_pairs; i++)
        if (!strcmp(r->pairs[i].a, a) && !strcmp(r->pairs[i].b, b)) return &r->pairs[i];
    if (r->n_pairs == VIEW_MAX_PAIRS) return NULL;
    view_pair *p = &r->pairs[r->n_pairs++];
    memset(p, 0, sizeof *p);
    snprintf(p->a, sizeof p->a, "%s", a);
    snprintf(p->b, sizeof p->b, "%s", b);
    p->loss_diff = p->weight_rel_l2 = p->grad_cos = p->cos_min = NAN;
    return p;
}

static int compare_row(void *ctx, const cells *c, long line, char *err, size_t errlen)
{
    side_ctx *x = ctx;
    view_run *r = x->r;
    if (!x->header_done) {
        if (!header_matches(c, compare_csv_header()))
            return header_error(c, x->path, "compare.csv", compare_csv_header(), err, errlen);
        x->header_done = 1;
        return 0;
    }
    int64_t step;
    double v[5];
    int bad = c->n != C_N || c->too_long || int_cell(c->cell[C_step], &step) || step < 0 ||
              strlen(c->cell[C_a]) >= 8 || strlen(c->cell[C_b]) >= 8 || strlen(c->cell[C_layer]) >= 48;
    for (int k = 0; k < 5 && !bad; k++) bad = num(c->cell[C_loss_a + k], &v[k]);
    if (bad) return errfmt(err, errlen, "%s:%ld: not a compare.csv row mptui writes", x->path, line);
    if (step < r->cmp_step) return 0;
    if (step > r->cmp_step) {
        r->cmp_step = step;
        r->n_pairs = 0;
    }
    view_pair *p = pair_of(r, c->cell[C_a], c->cell[C_b]);
    if (!p) return 0;
    if (!strcmp(c->cell[C_layer], "all")) {
        p->loss_diff = v[2];
        p->weight_rel_l2 = v[3];
        p->grad_cos = v[4];
    } else if (isfinite(v[4]) && !(p->cos_min <= v[4])) {
        p->cos_min = v[4];
        snprintf(p->cos_min_layer, sizeof p->cos_min_layer, "%s", c->cell[C_layer]);
    }
    return 0;
}

/* A side file (layers.csv / compare.csv) next to metrics.csv: absent is fine; a bad one
 * leaves the run without it and says so in the notice. */
static int64_t mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static void read_side(view_run *r, const char *file, row_fn fn)
{
    char path[VIEW_PATH + 16], err[VIEW_NOTICE];
    snprintf(path, sizeof path, "%s/%s", r->dir, file);
    struct stat st;
    int k = fn == layers_row ? 0 : 1;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return;
    r->side_size[k] = st.st_size;
    r->side_mtime_ns[k] = mtime_ns(&st);
    size_t len;
    char *text = read_whole(path, &len, err, sizeof err);
    side_ctx x = {r, 0, path, 0};
    size_t end = len;
    while (text && end > 0 && text[end - 1] != '\n') end--;
    if (text && collect(text, end, 1, fn, &x, path, err, sizeof err) == 0) err[0] = 0;
    free(text);
    if (!err[0]) return;
    if (fn == layers_row) r->n_layers = 0, r->layers_step = -1;
    else r->n_pairs = 0, r->cmp_step = -1;
    size_t n = strlen(r->notice);
    snprintf(r->notice + n, sizeof r->notice - n, "%s%s (left out)", n ? "; " : "", err);
}

/* ---- a PATH into the set ---- */

static void run_init(view_run *r)
{
    memset(r, 0, sizeof *r);
    r->layers_step = r->cmp_step = -1;
}

static void run_free(view_run *r)
{
    free(r->train);
    free(r->eval);
    free(r->layers);
    run_init(r);
}

void viewrun_free(view_set *s)
{
    for (int i = 0; i < s->n; i++) run_free(&s->run[i]);
    s->n = 0;
}

/* The replica names the rows carry, in order of first appearance ("" for plain rows). */
static int replicas_of(const view_run *all, char names[][8], int max)
{
    int n = 0;
    for (int pass = 0; pass < 2; pass++) {
        const metric_row *rows = pass ? all->eval : all->train;
        size_t nr = pass ? all->n_eval : all->n_train;
        for (size_t i = 0; i < nr; i++) {
            int k = 0;
            while (k < n && strcmp(names[k], rows[i].replica)) k++;
            if (k == n) {
                if (n == max) return -1;
                snprintf(names[n++], 8, "%s", rows[i].replica);
            }
        }
    }
    return n;
}

static int split_rows(view_run *dst, const metric_row *rows, size_t n, int eval)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].replica, dst->replica)) continue;
        int rc = eval ? push_row(&dst->eval, &dst->n_eval, &dst->cap_eval, &rows[i])
                      : push_row(&dst->train, &dst->n_train, &dst->cap_train, &rows[i]);
        if (rc) return -1;
    }
    return 0;
}

int viewrun_add(view_set *s, const char *arg, char *err, size_t errlen)
{
    view_run all;
    run_init(&all);
    if (viewrun_resolve(arg, all.path, sizeof all.path, err, errlen)) return -1;
    snprintf(all.dir, sizeof all.dir, "%s", all.path);
    char *slash = strrchr(all.dir, '/');
    if (slash) *slash = 0;
    else snprintf(all.dir, sizeof all.dir, ".");
    size_t len;
    char *text = read_whole(all.path, &len, err, errlen);
    if (!text) return -1;
    int header_done = 0;
    ssize_t used = viewrun_parse_metrics(&all, text, len, &header_done, all.path, err, errlen);
    free(text);
    if (used < 0) return run_free(&all), -1;
    if ((size_t)used < len)
        snprintf(all.notice, sizeof all.notice, "%s: the last line is incomplete (a run stopped "
                 "mid-write?); showing the %zu complete rows", all.path, all.n_train + all.n_eval);
    char names[VIEW_MAX_RUNS][8];
    int nrep = replicas_of(&all, names, VIEW_MAX_RUNS);
    if (nrep < 1) nrep = 1, names[0][0] = 0;
    if (s->n + nrep > VIEW_MAX_RUNS) {
        run_free(&all);
        return errfmt(err, errlen, "%s: more than %d runs in all (a comparison counts one per "
                      "replica); give fewer paths", arg, VIEW_MAX_RUNS);
    }
    for (int k = 0; k < nrep; k++) {
        view_run *r = &s->run[s->n + k];
        run_init(r);
        memcpy(r->path, all.path, sizeof r->path);
        memcpy(r->dir, all.dir, sizeof r->dir);
        memcpy(r->notice, all.notice, sizeof r->notice);
        snprintf(r->replica, sizeof r->replica, "%s", names[k]);
        r->read_off = (off_t)used;
        r->header_done = 1;
        if (split_rows(r, all.train, all.n_train, 0) || split_rows(r, all.eval, all.n_eval, 1)) {
            for (int j = 0; j <= k; j++) run_free(&s->run[s->n + j]);
            run_free(&all);
            return errfmt(err, errlen, "%s: out of memory", all.path);
        }
        viewrun_precision(r);
        read_side(r, "layers.csv", layers_row);
        read_side(r, "compare.csv", compare_row);
    }
    s->n += nrep;
    run_free(&all);
    viewrun_names(s);
    return 0;
}

/* ---- names ---- */

/* The run's folder: the logging dir's parent when it is called "logs" (the default
 * <output_dir>/logs), else the logging dir itself. Absolute, so "." has a name too. */
static void run_folder(const view_run *r, char *out, size_t n)
{
    char abs[PATH_MAX];
    if (!realpath(r->dir, abs)) snprintf(abs, sizeof abs, "%s", r->dir);
    char *base = strrchr(abs, '/');
    if (base && !strcmp(base + 1, "logs") && base != abs) *base = 0;
    snprintf(out, n, "%s", abs);
}

static const char *tail_of(const char *path, int parts)
{
    const char *p = path + strlen(path);
    while (p > path) {
        p--;
        if (*p == '/' && --parts == 0) return p + 1;
    }
    return path;
}

void viewrun_names(view_set *s)
{
    char folder[VIEW_MAX_RUNS][PATH_MAX];
    int parts[VIEW_MAX_RUNS];
    for (int i = 0; i < s->n; i++) {
        run_folder(&s->run[i], folder[i], sizeof folder[i]);
        parts[i] = 1;
    }
    /* a name shared with a run of another folder takes parent folders until it differs
     * (up to 4 parts) */
    for (int i = 0; i < s->n; i++) {
        for (int clash = 1; clash && parts[i] < 4;) {
            clash = 0;
            for (int j = 0; j < s->n && !clash; j++)
                clash = strcmp(folder[i], folder[j]) &&
                        !strcmp(tail_of(folder[i], parts[i]), tail_of(folder[j], parts[i]));
            parts[i] += clash;
        }
    }
    char base[VIEW_MAX_RUNS][VIEW_NAME];
    for (int i = 0; i < s->n; i++) {
        view_run *r = &s->run[i];
        const char *t = tail_of(folder[i], parts[i]);
        if (strlen(t) > 40) t += strlen(t) - 40;
        snprintf(base[i], sizeof base[i], "%s%s%s", t, r->replica[0] ? ":" : "", r->replica);
    }
    /* still equal (the same folder given twice): number the later ones */
    for (int i = 0; i < s->n; i++) {
        int k = 1;
        for (int j = 0; j < i; j++) k += !strcmp(base[j], base[i]);
        if (k > 1) snprintf(s->run[i].name, sizeof s->run[i].name, "%.*s#%d", VIEW_NAME - 8, base[i], k);
        else snprintf(s->run[i].name, sizeof s->run[i].name, "%s", base[i]);
    }
}

/* ---- live follow ---- */

/* The run of path with replica name; a new one (named) while the set has room, else NULL. */
static view_run *group_run(view_set *s, const view_run *owner, const char *replica)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->run[i].path, owner->path) && !strcmp(s->run[i].replica, replica))
            return &s->run[i];
    if (s->n == VIEW_MAX_RUNS) return NULL;
    view_run *r = &s->run[s->n++];
    run_init(r);
    memcpy(r->path, owner->path, sizeof r->path);
    memcpy(r->dir, owner->dir, sizeof r->dir);
    snprintf(r->replica, sizeof r->replica, "%s", replica);
    viewrun_names(s);
    return r;
}

/* The appended complete rows of one metrics.csv into its runs; 1 when rows arrived. */
static int follow_metrics(view_set *s, int owner, char *err, size_t errlen)
{
    view_run *o = &s->run[owner];
    struct stat st;
    if (stat(o->path, &st) != 0 || !S_ISREG(st.st_mode)) return 0; /* gone: keep what we have */
    int changed = 0;
    if (st.st_size < o->read_off) { /* rewritten shorter (a resume dropped rows): start over */
        for (int i = 0; i < s->n; i++)
            if (!strcmp(s->run[i].path, o->path)) s->run[i].n_train = s->run[i].n_eval = 0;
        o->read_off = 0;
        o->header_done = 0;
        changed = 1;
    }
    if (st.st_size == o->read_off) return changed;
    size_t len = (size_t)(st.st_size - o->read_off);
    char *buf = malloc(len ? len : 1);
    int fd = buf ? open(o->path, O_RDONLY | O_CLOEXEC) : -1;
    ssize_t got = fd >= 0 ? pread(fd, buf, len, o->read_off) : -1;
    if (fd >= 0) close(fd);
    if (got < 0) {
        free(buf);
        return errfmt(err, errlen, "%s: cannot read: %s", o->path, strerror(errno));
    }
    view_run all;
    run_init(&all);
    int hd = o->header_done;
    ssize_t used = viewrun_parse_metrics(&all, buf, (size_t)got, &hd, o->path, err, errlen);
    free(buf);
    if (used < 0) return run_free(&all), -1;
    char path[VIEW_PATH];
    memcpy(path, o->path, sizeof path);
    off_t off = o->read_off + used;
    for (int pass = 0; pass < 2; pass++) {
        const metric_row *rows = pass ? all.eval : all.train;
        size_t n = pass ? all.n_eval : all.n_train;
        for (size_t k = 0; k < n; k++) {
            view_run *r = group_run(s, &s->run[owner], rows[k].replica);
            if (!r) continue; /* no room for a ninth run: its rows are left out */
            if (pass ? push_row(&r->eval, &r->n_eval, &r->cap_eval, &rows[k])
                     : push_row(&r->train, &r->n_train, &r->cap_train, &rows[k])) {
                run_free(&all);
                return errfmt(err, errlen, "%s: out of memory", path);
            }
            changed = 1;
        }
    }
    run_free(&all);
    for (int i = 0; i < s->n; i++) {
        view_run *r = &s->run[i];
        if (strcmp(r->path, path)) continue;
        r->read_off = off;
        r->header_done = hd;
        viewrun_precision(r);
        if ((size_t)used == (size_t)got && strstr(r->notice, "the last line is incomplete"))
            r->notice[0] = 0; /* the cut line was a row still being written */
    }
    return changed;
}

/* Rereads a side file of run r whose size or time changed; 1 when it did. */
static int follow_side(view_run *r, int k)
{
    char path[VIEW_PATH + 16];
    snprintf(path, sizeof path, "%s/%s", r->dir, k ? "compare.csv" : "layers.csv");
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    if (st.st_size == r->side_size[k] && mtime_ns(&st) == r->side_mtime_ns[k]) return 0;
    if (k) r->n_pairs = 0, r->cmp_step = -1;
    else r->n_layers = 0, r->layers_step = -1;
    read_side(r, k ? "compare.csv" : "layers.csv", k ? compare_row : layers_row);
    return 1;
}

int viewrun_refresh(view_set *s, char *err, size_t errlen)
{
    int changed = 0, n = s->n;
    for (int i = 0; i < n; i++) {
        int first = 1;
        for (int j = 0; j < i && first; j++) first = strcmp(s->run[j].path, s->run[i].path) != 0;
        if (!first) continue;
        int rc = follow_metrics(s, i, err, errlen);
        if (rc < 0) return -1;
        changed |= rc;
    }
    for (int i = 0; i < s->n; i++) changed |= follow_side(&s->run[i], 0) | follow_side(&s->run[i], 1);
    return changed;
}
