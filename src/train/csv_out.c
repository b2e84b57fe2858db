/* csv_out.c — appending CSV writer shared by the run's CSV files; quoting through libcsv,
 * errors as one line naming the file, never fatal to the caller's stream of rows. */
#include "csv_out.h"

#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct csv_out {
    FILE *fp;
    char *path;
    const csv_out_spec *spec;
};

void csv_fmt_num(char *buf, size_t len, double v)
{
    if (isnan(v)) buf[0] = '\0';
    else if (isinf(v)) snprintf(buf, len, "%s", v > 0 ? "inf" : "-inf");
    else snprintf(buf, len, "%.9g", v);
}

/* Plain text unless RFC 4180 needs quotes (comma, quote, CR, LF): then libcsv's quoting. */
static int put_field(FILE *fp, const char *s, int first)
{
    if (!first && fputc(',', fp) == EOF) return -1;
    if (strpbrk(s, ",\"\r\n")) return csv_fwrite(fp, s, strlen(s)) == 0 ? 0 : -1;
    return fputs(s, fp) < 0 ? -1 : 0;
}

void csv_out_row(csv_out *o, const char *const *cells, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (put_field(o->fp, cells[i], i == 0)) return; /* csv_out_flush reports it */
    fputc('\n', o->fp);
}

int csv_out_flush(csv_out *o, char *err, size_t errlen)
{
    if (fflush(o->fp) == 0 && !ferror(o->fp)) return 0;
    if (err && errlen)
        snprintf(err, errlen, "%s: cannot write%s%s: %s", o->path, o->spec->what ? " " : "",
                 o->spec->what ? o->spec->what : "", strerror(errno ? errno : EIO));
    clearerr(o->fp);
    return -1;
}

/* 1 when an existing, non-empty file starts with another header line: appending rows of
 * these columns under it would misalign every column after the change. */
static int header_differs(const char *path, const char *header)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) return 0;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[512];
    int differs = 0;
    if (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        differs = strcmp(line, header) != 0;
    }
    fclose(f);
    return differs;
}

static csv_out *open_fail(csv_out *o, char *err, size_t errlen, const char *fmt,
                          const char *path, const char *a, const char *b)
{
    if (err && errlen) snprintf(err, errlen, fmt, path, a, b);
    csv_out_close(o);
    return NULL;
}

csv_out *csv_out_open(const char *path, const csv_out_spec *spec, char *err, size_t errlen)
{
    csv_out *o = calloc(1, sizeof *o);
    if (o) o->path = strdup(path);
    if (!o || !o->path) return open_fail(o, err, errlen, "%s: out of memory%s%s", path, "", "");
    o->spec = spec;
    errno = 0;
    o->fp = fopen(path, "a");
    if (!o->fp)
        return open_fail(o, err, errlen, "%s: cannot open for appending: %s%s", path,
                         strerror(errno), spec->open_hint ? spec->open_hint : "");
    if (spec->refuse_other_header && header_differs(path, spec->header))
        return open_fail(o, err, errlen,
                         "%s: its header is not \"%s\" (written by another mptui version?); "
                         "move it away or choose another --logging_dir%s",
                         path, spec->header, "");
    struct stat st;
    errno = 0;
    if (fstat(fileno(o->fp), &st) == 0 && st.st_size == 0) {
        fprintf(o->fp, "%s\n", spec->header);
        if (csv_out_flush(o, err, errlen)) {
            csv_out_close(o);
            return NULL;
        }
    }
    return o;
}

void csv_out_close(csv_out *o)
{
    if (!o) return;
    if (o->fp) fclose(o->fp);
    free(o->path);
    free(o);
}
