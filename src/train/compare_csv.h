/* compare_csv.h — compare.csv: one row per pair of lanes for the whole model and one per pair
 * and layer at each logged step of a comparison (docs/compare.md). */
#ifndef MPTUI_COMPARE_CSV_H
#define MPTUI_COMPARE_CSV_H

#include <stddef.h>

#include "divergence.h"

typedef struct csv_out compare_csv; /* a csv_out with compare.csv's header */

/* Opens <path> for appending, header first when the file is new or empty. NULL + err. */
compare_csv *compare_csv_open(const char *path, char *err, size_t errlen);
/* One row per pair for the whole model (layer "all", losses filled) and one per pair and
 * layer (loss cells empty); flushed. 0 ok, -1 + err. */
int compare_csv_write(compare_csv *w, const divergence *d, const lane *ls, char *err,
                      size_t errlen);
/* NULL, or one line for the user about what the open repaired (an incomplete last row cut). */
const char *compare_csv_notice(const compare_csv *w);
void compare_csv_close(compare_csv *w);
const char *compare_csv_header(void);

#endif
