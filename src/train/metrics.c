/* metrics.c — metrics.csv (docs/files.md): one RFC 4180 row per logged step or eval, appended and
 * flushed at once so a crash loses nothing already logged; quoting through libcsv. */
#include "metrics.h"

#include "csv_out.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

struct metrics_csv {
    csv_out *out;
};

static const csv_out_spec SPEC = {
    "step,epoch,time_s,kind,precision,loss,lr,grad_norm,loss_scale,overflow,"
    "overflow_total,tokens_per_s,eval_loss,eval_ppl,replica",
    "metrics", NULL, 1,
};
enum { N_COLUMNS = 15 }; /* the columns of SPEC.header */

const char *metrics_csv_header(void)
{
    return SPEC.header;
}

static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void metric_row_init(metric_row *r, metric_kind kind, int64_t step)
{
    memset(r, 0, sizeof *r);
    r->step = step;
    r->kind = kind;
    r->precision = DT_F32;
    r->epoch = r->time_s = NAN;
    r->loss = r->lr = r->grad_norm = r->loss_scale = NAN;
    r->tokens_per_s = r->eval_loss = r->eval_ppl = NAN;
    r->overflow = -1;
    r->overflow_total = -1;
}

/* mkdir -p of every directory above `path`'s last component. */
static int make_parents(const char *path, char *err, size_t errlen)
{
    char *dir = strdup(path);
    if (!dir) return fail(err, errlen, "%s: out of memory", path), -1;
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        errno = 0;
        *p = '\0';
        struct stat st;
        int bad = mkdir(dir, 0777) != 0 && errno != EEXIST;
        if (!bad && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
            bad = 1;
            if (errno == EEXIST || errno == 0) errno = ENOTDIR; /* a file is in the way */
        }
        if (bad) {
            fail(err, errlen, "%s: cannot create directory %s: %s", path, dir, strerror(errno));
            free(dir);
            return -1;
        }
        *p = '/';
    }
    free(dir);
    return 0;
}


/* Double-valued columns (epoch, time): the shortest text that reads back exactly. */
static void fmt_double(char *buf, size_t len, double v)
{
    if (isnan(v) || isinf(v)) {
        csv_fmt_num(buf, len, v);
        return;
    }
    for (int prec = 9; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static void fmt_int(char *buf, size_t len, int64_t v)
{
    if (v < 0) buf[0] = '\0';
    else snprintf(buf, len, "%lld", (long long)v);
}

metrics_csv *metrics_csv_open(const char *path, char *err, size_t errlen)
{
    if (!path || !*path) return fail(err, errlen, "metrics.csv: empty path"), NULL;
    if (make_parents(path, err, errlen)) return NULL;
    metrics_csv *w = calloc(1, sizeof *w);
    if (!w) return fail(err, errlen, "%s: out of memory", path), NULL;
    w->out = csv_out_open(path, &SPEC, err, errlen);
    if (!w->out) {
        free(w);
        return NULL;
    }
    return w;
}

int metrics_csv_write(metrics_csv *w, const metric_row *r, char *err, size_t errlen)
{
    char cell[N_COLUMNS][48];
    fmt_int(cell[0], sizeof cell[0], r->step);
    fmt_double(cell[1], sizeof cell[1], r->epoch);
    fmt_double(cell[2], sizeof cell[2], r->time_s);
    snprintf(cell[3], sizeof cell[3], "%s", r->kind == MR_EVAL ? "eval" : "train");
    snprintf(cell[4], sizeof cell[4], "%s", dtype_name(r->precision));
    csv_fmt_num(cell[5], sizeof cell[5], r->loss);
    csv_fmt_num(cell[6], sizeof cell[6], r->lr);
    csv_fmt_num(cell[7], sizeof cell[7], r->grad_norm);
    csv_fmt_num(cell[8], sizeof cell[8], r->loss_scale);
    fmt_int(cell[9], sizeof cell[9], r->overflow);
    fmt_int(cell[10], sizeof cell[10], r->overflow_total);
    csv_fmt_num(cell[11], sizeof cell[11], r->tokens_per_s);
    csv_fmt_num(cell[12], sizeof cell[12], r->eval_loss);
    csv_fmt_num(cell[13], sizeof cell[13], r->eval_ppl);
    /* empty unless comparing: then the replica's name (its mode name from --compare) */
    snprintf(cell[14], sizeof cell[14], "%.*s", (int)sizeof r->replica, r->replica);
    const char *cells[N_COLUMNS];
    for (size_t i = 0; i < N_COLUMNS; i++) cells[i] = cell[i];
    errno = 0;
    csv_out_row(w->out, cells, N_COLUMNS);
    return csv_out_flush(w->out, err, errlen);
}

const char *metrics_csv_notice(const metrics_csv *w)
{
    return csv_out_notice(w->out);
}

void metrics_csv_close(metrics_csv *w)
{
    if (!w) return;
    csv_out_close(w->out);
    free(w);
}
