/* metrics.c — metrics.csv (docs/files.md): one RFC 4180 row per logged step or eval, appended and
 * flushed at once so a crash loses nothing already logged; quoting through libcsv. */
#include "metrics.h"

#include "csv_out.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

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

/* ---- dropping rows newer than a resumed checkpoint ---- */

typedef struct {
    char *buf;
    size_t len, cap;
} record;

/* One CSV record, newlines inside quotes included (a doubled quote toggles twice); 0 at the
 * end of the file, -1 out of memory. A last record without its newline is kept as it is. */
static int read_record(FILE *f, record *r)
{
    int c, quoted = 0;
    r->len = 0;
    while ((c = getc(f)) != EOF) {
        if (r->len == r->cap) {
            size_t cap = r->cap ? 2 * r->cap : 256;
            char *b = realloc(r->buf, cap);
            if (!b) return -1;
            r->buf = b;
            r->cap = cap;
        }
        r->buf[r->len++] = (char)c;
        if (c == '"') quoted = !quoted;
        else if (c == '\n' && !quoted) break;
    }
    return r->len > 0;
}

/* The record's first cell as a step, -1 when it is not a plain number. */
static int64_t record_step(const record *r)
{
    size_t i = r->len && r->buf[0] == '"', start = i;
    int64_t v = 0;
    for (; i < r->len && r->buf[i] >= '0' && r->buf[i] <= '9'; i++) {
        if (v > (INT64_MAX - 9) / 10) return -1;
        v = v * 10 + (r->buf[i] - '0');
    }
    if (i == start) return -1;
    if (i < r->len && !strchr(",\"\r\n", r->buf[i])) return -1;
    return v;
}

/* Copies in's records to out (NULL: only counts), all but those newer than step. */
static int filter_records(FILE *in, FILE *out, int64_t step, size_t *dropped)
{
    record r = {0};
    int got, first = 1;
    *dropped = 0;
    while ((got = read_record(in, &r)) > 0) {
        if (!first && record_step(&r) > step) {
            (*dropped)++;
        } else if (out && fwrite(r.buf, 1, r.len, out) != r.len) {
            got = -1;
            break;
        }
        first = 0;
    }
    free(r.buf);
    return got < 0 || ferror(in) ? -1 : 0;
}

static int fsync_parent(const char *path)
{
    char *dir = strdup(path);
    if (!dir) return -1;
    char *slash = strrchr(dir, '/');
    if (slash) *(slash == dir ? slash + 1 : slash) = '\0';
    int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* The kept records into <path>.tmp-resume-<pid>, synced, then renamed over path. */
static int rewrite_without(const char *path, FILE *in, mode_t mode, int64_t step,
                           size_t *dropped)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-resume-%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode & 0777);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!out) {
        int e = errno;
        if (fd >= 0) close(fd);
        errno = e;
        return -1;
    }
    int rc = filter_records(in, out, step, dropped);
    if (!rc && (fflush(out) || fsync(fileno(out)))) rc = -1;
    int e = errno;
    if (fclose(out) && !rc) rc = -1, e = errno;
    if (!rc && rename(tmp, path)) rc = -1, e = errno;
    if (rc) unlink(tmp);
    else fsync_parent(path);
    errno = e;
    return rc;
}

int metrics_csv_drop_after(const char *path, int64_t step, size_t *dropped, char *err,
                           size_t errlen)
{
    *dropped = 0;
    FILE *in = fopen(path, "rb");
    if (!in && errno == ENOENT) return 0;
    if (!in) {
        fail(err, errlen, "%s: cannot read it to drop the rows logged after step %lld: %s", path,
             (long long)step, strerror(errno));
        return -1;
    }
    struct stat st;
    size_t n = 0;
    int rc = fstat(fileno(in), &st) || !S_ISREG(st.st_mode) ? 0
             : filter_records(in, NULL, step, &n);
    if (!rc && n) {
        rewind(in);
        rc = rewrite_without(path, in, st.st_mode, step, &n);
    }
    int e = errno;
    fclose(in);
    if (rc) {
        fail(err, errlen, "%s: cannot drop the rows logged after step %lld: %s (they stay; the "
             "resumed run logs those steps again)", path, (long long)step, strerror(e ? e : EIO));
        return -1;
    }
    *dropped = n;
    return 0;
}
