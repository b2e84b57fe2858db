/* csv_out.c — appending CSV writer shared by the run's CSV files; quoting through libcsv,
 * errors as one line naming the file, never fatal to the caller's stream of rows.
 *
 * The file always ends with a whole row: rows are formatted into memory and a batch goes out
 * in one write(); a write that fails part-way (disk full) is cut back with ftruncate, and the
 * rows stay in memory to be written at the next flush, when space may have come back. */
#include "csv_out.h"

#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errfmt.h"
#include "fsutil.h"

/* "-1.23456789e-308" (csv_fmt_num) and "-9223372036854775808" fit with their NUL. */
_Static_assert(CSV_CELL_MAX >= 21, "csv_cell holds an int64 and a %.9g double");

/* Rows held while writes fail: about 100 log steps of layers.csv for the default model. */
#define CSV_OUT_HOLD_MAX ((size_t)1 << 20)

struct csv_out {
    int fd;
    char *path;
    const csv_out_spec *spec;
    char *buf;           /* rows formatted but not yet in the file */
    size_t len, cap;
    size_t dropped;      /* rows lost while failing (hold full, out of memory) */
    int failing;         /* a failure was reported; quiet until a write succeeds */
    int drop_reported;
    off_t torn_at;       /* >= 0: the file must be cut back here before the next write */
    char notice[320];
};

void csv_fmt_num(char *buf, size_t len, double v)
{
    if (isnan(v)) buf[0] = '\0';
    else if (isinf(v)) snprintf(buf, len, "%s", v > 0 ? "inf" : "-inf");
    else snprintf(buf, len, "%.9g", v);
}

static int reserve(csv_out *o, size_t more)
{
    if (o->len + more <= o->cap) return 0;
    size_t cap = o->cap ? o->cap : 4096;
    while (cap < o->len + more) cap *= 2;
    char *b = realloc(o->buf, cap);
    if (!b) return -1;
    o->buf = b;
    o->cap = cap;
    return 0;
}

/* Plain text unless RFC 4180 needs quotes (comma, quote, CR, LF): then libcsv's quoting. */
static size_t field_len(const char *s)
{
    size_t n = strlen(s);
    return strpbrk(s, ",\"\r\n") ? csv_write(NULL, 0, s, n) : n;
}

static void put_field(csv_out *o, const char *s)
{
    size_t n = strlen(s);
    if (strpbrk(s, ",\"\r\n")) o->len += csv_write(o->buf + o->len, o->cap - o->len, s, n);
    else memcpy(o->buf + o->len, s, n), o->len += n;
}

/* Cell i is ptrs[i], or cells[i] when ptrs is NULL. */
static void put_row(csv_out *o, const char *const *ptrs, const csv_cell *cells, size_t n)
{
    size_t need = 1; /* the newline */
    for (size_t i = 0; i < n; i++) need += field_len(ptrs ? ptrs[i] : cells[i]) + (i > 0);
    if ((o->failing && o->len + need > CSV_OUT_HOLD_MAX) || reserve(o, need)) {
        o->dropped++;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (i) o->buf[o->len++] = ',';
        put_field(o, ptrs ? ptrs[i] : cells[i]);
    }
    o->buf[o->len++] = '\n';
}

void csv_out_row(csv_out *o, const char *const *cells, size_t n)
{
    put_row(o, cells, NULL, n);
}

void csv_out_cells(csv_out *o, const csv_cell *cells, size_t n)
{
    put_row(o, NULL, cells, n);
}

/* Writes the held rows as one piece; on failure the file is cut back to where it ended. */
static int write_held(csv_out *o)
{
    if (o->torn_at >= 0) {
        if (ftruncate(o->fd, o->torn_at) != 0) return -1;
        o->torn_at = -1;
    }
    struct stat st;
    if (fstat(o->fd, &st) != 0) return -1;
    if (fsutil_write_all(o->fd, o->buf, o->len) == 0) return 0;
    int e = errno;
    /* A device (/dev/full) has no length to cut back to, and nothing to repair. */
    if (S_ISREG(st.st_mode) && ftruncate(o->fd, st.st_size) != 0) o->torn_at = st.st_size;
    errno = e;
    return -1;
}

static void report(const csv_out *o, char *err, size_t errlen, int e, const char *tail)
{
    errfmt(err, errlen, "%s: cannot write%s%s: %s%s", o->path, o->spec->what ? " " : "",
           o->spec->what ? o->spec->what : "", strerror(e ? e : EIO), tail);
}

int csv_out_flush(csv_out *o, char *err, size_t errlen)
{
    if (o->len == 0 && !o->dropped) return 0;
    errno = 0;
    if (o->len == 0 || write_held(o) == 0) {
        o->len = 0;
        o->failing = 0;
        if (!o->dropped) return 0;
        errfmt(err, errlen, "%s: %zu rows were lost while it could not be written", o->path,
               o->dropped);
        o->dropped = 0;
        o->drop_reported = 0;
        return -1;
    }
    int e = errno;
    if (!o->failing) {
        o->failing = 1;
        report(o, err, errlen, e, "; the rows are kept and written once it works again");
        return -1;
    }
    if (o->dropped && !o->drop_reported) {
        o->drop_reported = 1;
        report(o, err, errlen, e, "; too many rows held, later rows are dropped");
        return -1;
    }
    return 0; /* already reported: the rows wait for the next flush */
}

/* Bytes of the first line (up to 511) into line, NUL-terminated; its length, or -1 when the
 * file has no newline in them. */
static ssize_t first_line(int fd, char *line, size_t len)
{
    ssize_t n = pread(fd, line, len - 1, 0);
    if (n < 0) n = 0;
    line[n] = '\0';
    char *nl = memchr(line, '\n', (size_t)n);
    if (!nl) return -1;
    *nl = '\0';
    if (nl > line && nl[-1] == '\r') nl[-1] = '\0';
    return nl - line;
}

/* 1 when an existing, non-empty file starts with another header line: appending rows of
 * these columns under it would misalign every column after the change. A first line cut
 * short (an interrupted header write) counts as the header when it is a prefix of it. */
static int header_differs(int fd, const struct stat *st, const char *header)
{
    if (!S_ISREG(st->st_mode) || st->st_size == 0) return 0;
    char line[512];
    if (first_line(fd, line, sizeof line) >= 0) return strcmp(line, header) != 0;
    size_t n = strlen(line);
    return (off_t)n != st->st_size || strncmp(line, header, n) != 0;
}

/* The length up to and including the last newline (0 when there is none). */
static off_t last_full_line(int fd, off_t size)
{
    char chunk[4096];
    for (off_t end = size; end > 0;) {
        off_t start = end > (off_t)sizeof chunk ? end - (off_t)sizeof chunk : 0;
        ssize_t n = pread(fd, chunk, (size_t)(end - start), start);
        if (n <= 0) return -1;
        for (ssize_t i = n; i > 0; i--)
            if (chunk[i - 1] == '\n') return start + i;
        end = start;
    }
    return 0;
}

/* A last line without its newline is what an interrupted write leaves: it is cut off, so
 * that the next row does not join it. */
static int repair_tail(csv_out *o, const struct stat *st, char *err, size_t errlen)
{
    if (!S_ISREG(st->st_mode) || st->st_size == 0) return 0;
    char last;
    if (pread(o->fd, &last, 1, st->st_size - 1) == 1 && last == '\n') return 0;
    off_t keep = last_full_line(o->fd, st->st_size);
    if (keep < 0 || ftruncate(o->fd, keep) != 0) {
        return errfmt(err, errlen, "%s: its last line is incomplete and cannot be cut off: %s; "
                      "remove that line or move the file away", o->path, strerror(errno));
    }
    snprintf(o->notice, sizeof o->notice,
             "%s: removed an incomplete last line (%lld bytes, left by an interrupted write)",
             o->path, (long long)(st->st_size - keep));
    return 0;
}

static int write_header(csv_out *o, char *err, size_t errlen)
{
    size_t n = strlen(o->spec->header); /* a line as it is: not one quoted cell */
    errno = ENOMEM;
    if (reserve(o, n + 1) == 0) {
        memcpy(o->buf, o->spec->header, n);
        o->buf[n] = '\n';
        o->len = n + 1;
        errno = 0;
        if (write_held(o) == 0) {
            o->len = 0;
            return 0;
        }
    }
    report(o, err, errlen, errno, "");
    o->len = 0; /* nothing to retry: the open fails */
    return -1;
}

static csv_out *open_fail(csv_out *o, char *err, size_t errlen, const char *fmt,
                          const char *path, const char *a, const char *b)
{
    errfmt(err, errlen, fmt, path, a, b);
    csv_out_close(o);
    return NULL;
}

csv_out *csv_out_open(const char *path, const csv_out_spec *spec, char *err, size_t errlen)
{
    csv_out *o = calloc(1, sizeof *o);
    if (o) o->fd = -1, o->torn_at = -1, o->path = strdup(path);
    if (!o || !o->path) return open_fail(o, err, errlen, "%s: out of memory%s%s", path, "", "");
    o->spec = spec;
    errno = 0;
    /* Read access too: the header check and the repair read the file's ends. */
    o->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (o->fd < 0)
        return open_fail(o, err, errlen, "%s: cannot open for appending: %s%s", path,
                         strerror(errno), spec->open_hint ? spec->open_hint : "");
    struct stat st;
    if (fstat(o->fd, &st) != 0)
        return open_fail(o, err, errlen, "%s: cannot open for appending: %s%s", path,
                         strerror(errno), spec->open_hint ? spec->open_hint : "");
    if (spec->refuse_other_header && header_differs(o->fd, &st, spec->header))
        return open_fail(o, err, errlen,
                         "%s: its header is not \"%s\" (written by another mptui version?); "
                         "move it away or choose another --logging_dir%s",
                         path, spec->header, "");
    if (repair_tail(o, &st, err, errlen)) {
        csv_out_close(o);
        return NULL;
    }
    if (fstat(o->fd, &st) == 0 && st.st_size == 0 && write_header(o, err, errlen)) {
        csv_out_close(o);
        return NULL;
    }
    return o;
}

const char *csv_out_notice(const csv_out *o)
{
    return o && o->notice[0] ? o->notice : NULL;
}

void csv_out_close(csv_out *o)
{
    if (!o) return;
    if (o->fd >= 0) {
        if (o->len) write_held(o); /* a last try; the failure was reported at its flush */
        close(o->fd);
    }
    free(o->buf);
    free(o->path);
    free(o);
}
