/* metrics.c — metrics.csv (docs/files.md): one RFC 4180 row per logged step or eval, appended and
 * flushed at once so a crash loses nothing already logged; quoting through libcsv. */
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "errfmt.h"
#include "fsutil.h"

/* The columns, in file order: the header and the cell indices come from this one list. */
#define METRICS_COLUMNS(X)                                                                 \
    X(step) X(epoch) X(time_s) X(kind) X(precision) X(loss) X(lr) X(grad_norm) X(loss_scale) \
    X(overflow) X(overflow_total) X(tokens_per_s) X(eval_loss) X(eval_ppl) X(replica)
#define COL_INDEX(name) COL_##name,
#define COL_TEXT(name) "," #name
enum { METRICS_COLUMNS(COL_INDEX) N_COLUMNS };
static const char HEADER[] = METRICS_COLUMNS(COL_TEXT); /* ",step,epoch,...": skip the ',' */

static const csv_out_spec SPEC = {HEADER + 1, "metrics", NULL, 1};

const char *metrics_csv_header(void)
{
    return SPEC.header;
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
    if (!path || !*path) return errfmt(err, errlen, "metrics.csv: empty path"), NULL;
    size_t at;
    if (fsutil_mkdir_parents(path, 0777, &at))
        return errfmt(err, errlen, "%s: cannot create directory %.*s: %s", path, (int)at, path,
                      strerror(errno)), NULL;
    return csv_out_open(path, &SPEC, err, errlen);
}

int metrics_csv_write(metrics_csv *w, const metric_row *r, char *err, size_t errlen)
{
    csv_cell cell[N_COLUMNS];
    fmt_int(cell[COL_step], sizeof cell[0], r->step);
    fmt_double(cell[COL_epoch], sizeof cell[0], r->epoch);
    fmt_double(cell[COL_time_s], sizeof cell[0], r->time_s);
    snprintf(cell[COL_kind], sizeof cell[0], "%s", r->kind == MR_EVAL ? "eval" : "train");
    snprintf(cell[COL_precision], sizeof cell[0], "%s", dtype_name(r->precision));
    csv_fmt_num(cell[COL_loss], sizeof cell[0], r->loss);
    csv_fmt_num(cell[COL_lr], sizeof cell[0], r->lr);
    csv_fmt_num(cell[COL_grad_norm], sizeof cell[0], r->grad_norm);
    csv_fmt_num(cell[COL_loss_scale], sizeof cell[0], r->loss_scale);
    fmt_int(cell[COL_overflow], sizeof cell[0], r->overflow);
    fmt_int(cell[COL_overflow_total], sizeof cell[0], r->overflow_total);
    csv_fmt_num(cell[COL_tokens_per_s], sizeof cell[0], r->tokens_per_s);
    csv_fmt_num(cell[COL_eval_loss], sizeof cell[0], r->eval_loss);
    csv_fmt_num(cell[COL_eval_ppl], sizeof cell[0], r->eval_ppl);
    /* empty unless comparing: then the replica's name (its mode name from --compare) */
    snprintf(cell[COL_replica], sizeof cell[0], "%.*s", (int)sizeof r->replica, r->replica);
    errno = 0;
    csv_out_cells(w, cell, N_COLUMNS);
    return csv_out_flush(w, err, errlen);
}

const char *metrics_csv_notice(const metrics_csv *w) { return csv_out_notice(w); }
void metrics_csv_close(metrics_csv *w) { csv_out_close(w); }

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

typedef struct {
    FILE *in;
    int64_t step;
    size_t *dropped;
} filter_ctx;

static int fill_kept(FILE *out, void *ctx)
{
    filter_ctx *c = ctx;
    return filter_records(c->in, out, c->step, c->dropped);
}

int metrics_csv_drop_after(const char *path, int64_t step, size_t *dropped, char *err,
                           size_t errlen)
{
    *dropped = 0;
    FILE *in = fopen(path, "rb");
    if (!in && errno == ENOENT) return 0;
    if (!in) {
        errfmt(err, errlen, "%s: cannot read it to drop the rows logged after step %lld: %s", path,
             (long long)step, strerror(errno));
        return -1;
    }
    struct stat st;
    size_t n = 0;
    int rc = fstat(fileno(in), &st) || !S_ISREG(st.st_mode) ? 0
             : filter_records(in, NULL, step, &n);
    if (!rc && n) {
        rewind(in);
        filter_ctx c = {in, step, &n}; /* the kept records replace the file atomically */
        rc = fsutil_replace(path, "resume", st.st_mode, fill_kept, &c);
    }
    int e = errno;
    fclose(in);
    if (rc) {
        errfmt(err, errlen, "%s: cannot drop the rows logged after step %lld: %s (they stay; the "
               "resumed run logs those steps again)", path, (long long)step, strerror(e ? e : EIO));
        return -1;
    }
    *dropped = n;
    return 0;
}
