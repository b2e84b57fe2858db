/* csv_out.h — the appending RFC 4180 writer behind metrics.csv, layers.csv and compare.csv:
 * header on an empty file, libcsv quoting where needed, one write per batch of rows. The file
 * always ends with a whole row, whatever fails (disk full, a kill between two writes). */
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
 * empty file. A last line without its newline (an interrupted write) is cut off, and
 * csv_out_notice says so. NULL + one-line err on failure. */
csv_out *csv_out_open(const char *path, const csv_out_spec *spec, char *err, size_t errlen);
/* NULL, or one line about what the open repaired, for the caller to show. */
const char *csv_out_notice(const csv_out *o);
/* One row of n cells, held in memory until csv_out_flush. */
void csv_out_row(csv_out *o, const char *const *cells, size_t n);

/* A cell formatted in place: room for any csv_fmt_num text or int64. */
#define CSV_CELL_MAX 48
typedef char csv_cell[CSV_CELL_MAX];
/* csv_out_row over n formatted cells. */
void csv_out_cells(csv_out *o, const csv_cell *cells, size_t n);
/* Writes the held rows in one piece. A failed write leaves the file as it was and keeps the
 * rows for the next flush. -1 + err when there is news for the user: the first failure
 * ("<path>: cannot write <what>: <reason>; ..."), rows dropped because too many were held,
 * and, once writing works again, how many were lost. 0 otherwise, also while an already
 * reported failure goes on (the rows wait). */
int csv_out_flush(csv_out *o, char *err, size_t errlen);
/* Tries once more to write held rows, then closes. */
void csv_out_close(csv_out *o);

/* A number cell: 9 significant digits (any float reads back exactly), "" for NaN, inf/-inf. */
void csv_fmt_num(char *buf, size_t len, double v);

#endif
