/* metrics.c — metrics.csv (SPEC 6): one RFC 4180 row per logged step or eval, appended and
 * flushed at once so a crash loses nothing already logged; quoting through libcsv. */
#include "metrics.h"

#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

struct metrics_csv {
    FILE *fp;
    char *path;
};

static const char *const COLUMNS[] = {
    "step", "epoch", "time_s", "kind", "precision", "loss", "lr", "grad_norm", "loss_scale",
    "overflow", "overflow_total", "tokens_per_s", "eval_loss", "eval_ppl", "replica",
};
#define N_COLUMNS (sizeof COLUMNS / sizeof COLUMNS[0])

const char *metrics_csv_header(void)
{
    return "step,epoch,time_s,kind,precision,loss,lr,grad_norm,loss_scale,overflow,"
           "overflow_total,tokens_per_s,eval_loss,eval_ppl,replica";
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

/* Plain text unless RFC 4180 needs quotes (comma, quote, CR, LF): then libcsv's quoting. */
static int put_field(FILE *fp, const char *s, int first)
{
    if (!first && fputc(',', fp) == EOF) return -1;
    if (strpbrk(s, ",\"\r\n")) return csv_fwrite(fp, s, strlen(s)) == 0 ? 0 : -1;
    return fputs(s, fp) < 0 ? -1 : 0;
}

/* Float-valued columns: 9 significant digits round-trip any float; NAN = empty; Inf = inf. */
static void fmt_float(char *buf, size_t len, double v)
{
    if (isnan(v)) buf[0] = '\0';
    else if (isinf(v)) snprintf(buf, len, "%s", v > 0 ? "inf" : "-inf");
    else snprintf(buf, len, "%.9g", v);
}

/* Double-valued columns (epoch, time): the shortest text that reads back exactly. */
static void fmt_double(char *buf, size_t len, double v)
{
    if (isnan(v) || isinf(v)) {
        fmt_float(buf, len, v);
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

static int write_header(FILE *fp)
{
    for (size_t i = 0; i < N_COLUMNS; i++)
        if (put_field(fp, COLUMNS[i], i == 0)) return -1;
    return fputc('\n', fp) == EOF ? -1 : 0;
}

static int finish(metrics_csv *w, char *err, size_t errlen)
{
    if (fflush(w->fp) == 0 && !ferror(w->fp)) return 0;
    fail(err, errlen, "%s: cannot write metrics: %s", w->path,
         strerror(errno ? errno : EIO));
    clearerr(w->fp);
    return -1;
}

/* 1 when an existing, non-empty file starts with another header line: appending rows of
 * these columns under it would misalign every column after the change. */
static int header_differs(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) return 0;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[512];
    int differs = 0;
    if (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        differs = strcmp(line, metrics_csv_header()) != 0;
    }
    fclose(f);
    return differs;
}

metrics_csv *metrics_csv_open(const char *path, char *err, size_t errlen)
{
    if (!path || !*path) return fail(err, errlen, "metrics.csv: empty path"), NULL;
    if (make_parents(path, err, errlen)) return NULL;
    metrics_csv *w = calloc(1, sizeof *w);
    if (w) w->path = strdup(path);
    if (!w || !w->path) {
        fail(err, errlen, "%s: out of memory", path);
        if (w) free(w);
        return NULL;
    }
    w->fp = fopen(path, "a");
    if (!w->fp) {
        fail(err, errlen, "%s: cannot open for appending: %s", path, strerror(errno));
        metrics_csv_close(w);
        return NULL;
    }
    struct stat st;
    errno = 0;
    if (header_differs(path)) {
        fail(err, errlen, "%s: its header is not \"%s\" (written by another mptui version?); "
             "move it away or choose another --logging_dir", path, metrics_csv_header());
        metrics_csv_close(w);
        return NULL;
    }
    if (fstat(fileno(w->fp), &st) == 0 && st.st_size == 0) {
        if (write_header(w->fp) || finish(w, err, errlen)) {
            if (err && errlen && !strstr(err, path))
                fail(err, errlen, "%s: cannot write metrics header", path);
            metrics_csv_close(w);
            return NULL;
        }
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
    fmt_float(cell[5], sizeof cell[5], r->loss);
    fmt_float(cell[6], sizeof cell[6], r->lr);
    fmt_float(cell[7], sizeof cell[7], r->grad_norm);
    fmt_float(cell[8], sizeof cell[8], r->loss_scale);
    fmt_int(cell[9], sizeof cell[9], r->overflow);
    fmt_int(cell[10], sizeof cell[10], r->overflow_total);
    fmt_float(cell[11], sizeof cell[11], r->tokens_per_s);
    fmt_float(cell[12], sizeof cell[12], r->eval_loss);
    fmt_float(cell[13], sizeof cell[13], r->eval_ppl);
    /* empty unless comparing: then the replica's name (its mode name from --compare) */
    snprintf(cell[14], sizeof cell[14], "%.*s", (int)sizeof r->replica, r->replica);
    errno = 0;
    for (size_t i = 0; i < N_COLUMNS; i++)
        if (put_field(w->fp, cell[i], i == 0)) break; /* finish() reports the stream error */
    fputc('\n', w->fp);
    return finish(w, err, errlen);
}

void metrics_csv_close(metrics_csv *w)
{
    if (!w) return;
    if (w->fp) fclose(w->fp);
    free(w->path);
    free(w);
}
