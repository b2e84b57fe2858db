/* csv_out.h — the appending RFC 4180 writer behind metrics.csv, layers.csv and compare.csv:
 * header on an empty file, libcsv quoting where needed, one flush per batch of rows. */
#ifndef MPTUI_CSV_OUT_H
#define MPTUI_CSV_OUT_H

#include <stddef.h>

typedef struct csv_out csv_out;

typedef struct {
    const char *header;    /* the header line, without newline */
    const char *what;      /* names the content in write errors ("metrics"); NULL: none */
    const char *open_hint; /* appended to the open error, e.g. " (check --logging_dir)" */
    int refuse_other_header; /* an existing file with another header is refused */
} csv_out_spec;

/* Opens path for appending (the spec must outlive the writer); the header goes into an
 * empty file. NULL + one-line err on failure. */
csv_out *csv_out_open(const char *path, const csv_out_spec *spec, char *err, size_t errlen);
/* One row of n cells; stream errors surface at csv_out_flush. */
void csv_out_row(csv_out *o, const char *const *cells, size_t n);
/* Flushes the rows written so far: 0, or -1 + "<path>: cannot write <what>: <reason>". */
int csv_out_flush(csv_out *o, char *err, size_t errlen);
void csv_out_close(csv_out *o);

/* A number cell: 9 significant digits (any float reads back exactly), "" for NaN, inf/-inf. */
void csv_fmt_num(char *buf, size_t len, double v);

#endif
