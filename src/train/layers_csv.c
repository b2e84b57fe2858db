/* layers_csv.c — layers.csv writer: turns each policy row's rounding statistics into health
 * rows (health.c) and appends them; a failed write is reported, never fatal to training. */
#include "layers_csv.h"

#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "health.h"

struct layers_csv {
    FILE *fp;
    char *path;
};

static const char *const COLUMNS[] = {
    "step", "replica", "layer", "tensor", "dtype", "amax", "underflow_pct", "overflow_count",
    "dynamic_range", "nonfinite_count",
};
#define N_COLUMNS (sizeof COLUMNS / sizeof COLUMNS[0])

const char *layers_csv_header(void)
{
    return "step,replica,layer,tensor,dtype,amax,underflow_pct,overflow_count,dynamic_range,"
           "nonfinite_count";
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

/* Plain text unless RFC 4180 needs quotes (comma, quote, CR, LF): then libcsv's quoting. */
static int put_field(FILE *fp, const char *s, int first)
{
    if (!first && fputc(',', fp) == EOF) return -1;
    if (strpbrk(s, ",\"\r\n")) return csv_fwrite(fp, s, strlen(s)) == 0 ? 0 : -1;
    return fputs(s, fp) < 0 ? -1 : 0;
}

/* 9 significant digits read back as the same float; NAN = empty cell. */
static void fmt_num(char *buf, size_t len, double v)
{
    if (isnan(v)) buf[0] = '\0';
    else if (isinf(v)) snprintf(buf, len, "%s", v > 0 ? "inf" : "-inf");
    else snprintf(buf, len, "%.9g", v);
}

static int finish(layers_csv *w, char *err, size_t errlen)
{
    if (fflush(w->fp) == 0 && !ferror(w->fp)) return 0;
    fail(err, errlen, "%s: cannot write layer statistics: %s", w->path,
         strerror(errno ? errno : EIO));
    clearerr(w->fp);
    return -1;
}

static int write_header(FILE *fp)
{
    for (size_t i = 0; i < N_COLUMNS; i++)
        if (put_field(fp, COLUMNS[i], i == 0)) return -1;
    return fputc('\n', fp) == EOF ? -1 : 0;
}

layers_csv *layers_csv_open(const char *path, char *err, size_t errlen)
{
    if (!path || !*path) return fail(err, errlen, "layers.csv: empty path"), NULL;
    layers_csv *w = calloc(1, sizeof *w);
    if (w) w->path = strdup(path);
    if (!w || !w->path) {
        fail(err, errlen, "%s: out of memory", path);
        free(w);
        return NULL;
    }
    w->fp = fopen(path, "a");
    if (!w->fp) {
        fail(err, errlen, "%s: cannot open for appending: %s (check --logging_dir)", path,
             strerror(errno));
        layers_csv_close(w);
        return NULL;
    }
    struct stat st;
    errno = 0;
    if (fstat(fileno(w->fp), &st) == 0 && st.st_size == 0 &&
        (write_header(w->fp) || finish(w, err, errlen))) {
        if (err && errlen && !strstr(err, path))
            fail(err, errlen, "%s: cannot write layer statistics header", path);
        layers_csv_close(w);
        return NULL;
    }
    return w;
}

static void write_row(FILE *fp, int64_t step, const char *replica, const char *layer,
                      health_tensor ht, dtype_t dt, const num_stats *st)
{
    tensor_health h;
    health_from_stats(st, &h);
    char cell[N_COLUMNS][48];
    snprintf(cell[0], sizeof cell[0], "%lld", (long long)step);
    snprintf(cell[1], sizeof cell[1], "%s", replica);
    snprintf(cell[2], sizeof cell[2], "%s", layer);
    snprintf(cell[3], sizeof cell[3], "%s", health_tensor_name(ht));
    snprintf(cell[4], sizeof cell[4], "%s", dtype_name(dt));
    fmt_num(cell[5], sizeof cell[5], h.amax);
    fmt_num(cell[6], sizeof cell[6], h.underflow_pct);
    snprintf(cell[7], sizeof cell[7], "%lld", (long long)h.overflow);
    fmt_num(cell[8], sizeof cell[8], h.dynamic_range);
    snprintf(cell[9], sizeof cell[9], "%lld", (long long)h.nonfinite);
    for (size_t i = 0; i < N_COLUMNS; i++)
        if (put_field(fp, cell[i], i == 0)) return; /* finish() reports the stream error */
    fputc('\n', fp);
}

int layers_csv_write(layers_csv *w, int64_t step, const char *replica, const prec_policy *p,
                     const gpt_row_stats *st, char *err, size_t errlen)
{
    errno = 0;
    for (int i = 0; i < p->n; i++) {
        const prec_layer *r = &p->rows[i];
        const gpt_row_stats *s = &st[i];
        const num_stats *by[HT_COUNT] = {&s->act, &s->grad_unscaled, &s->grad, &s->wgrad};
        for (int k = 0; k < HT_COUNT; k++)
            if (by[k]->count)
                write_row(w->fp, step, replica, r->name, (health_tensor)k,
                          k == HT_ACTIVATION ? r->act : r->grad, by[k]);
    }
    return finish(w, err, errlen);
}

void layers_csv_close(layers_csv *w)
{
    if (!w) return;
    if (w->fp) fclose(w->fp);
    free(w->path);
    free(w);
}
