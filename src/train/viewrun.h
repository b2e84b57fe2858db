/* viewrun.h — saved runs read back for `mptui view` (docs/view.md): a path resolved to its
 * metrics.csv, the rows checked against the writer's header and loaded read-only. */
#ifndef MPTUI_VIEWRUN_H
#define MPTUI_VIEWRUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "metrics.h"

#define VIEW_MAX_RUNS 8
#define VIEW_NAME 64
#define VIEW_PATH 4096
#define VIEW_NOTICE 512

/* One layers.csv row of the last logged step (docs/layers.md). */
typedef struct {
    char replica[8], layer[32], tensor[24];
    dtype_t dtype;                /* DT_FP8 for an FP8 cast (dtype e4m3 / e5m2) */
    int fp8_format;               /* that cast's fp8_format; -1 for other rows */
    double amax, underflow_pct, dynamic_range;
    int64_t overflow_count, nonfinite_count;
    double scale, amax_history_max; /* FP8 casts; NAN when empty or the file predates them */
} view_layer_row;

/* compare.csv at its last step: a pair's whole-model row and its lowest layer cosine. */
typedef struct {
    char a[8], b[8];
    double loss_diff, weight_rel_l2, grad_cos, cos_min;
    char cos_min_layer[48];
} view_pair;

#define VIEW_MAX_PAIRS 3

typedef struct {
    char name[VIEW_NAME];         /* the run's folder name (docs/view.md, names) */
    char replica[8];              /* "" or the comparison replica these rows belong to */
    char path[VIEW_PATH];         /* metrics.csv as found */
    char dir[VIEW_PATH];          /* the folder metrics.csv is in (its logging dir) */
    char precision[32];           /* "fp16", or the modes in order, "fp16>bf16" */
    metric_row *train, *eval;     /* rows in file order */
    size_t n_train, n_eval, cap_train, cap_eval;
    /* layers.csv (when present): the rows of its last step */
    int64_t layers_step;          /* -1 = none */
    view_layer_row *layers;
    size_t n_layers, cap_layers;
    /* compare.csv (when present): its last step */
    int64_t cmp_step;             /* -1 = none */
    int n_pairs;
    view_pair pairs[VIEW_MAX_PAIRS];
    char notice[VIEW_NOTICE];     /* "" or one line: what was left out (a cut last line...) */
    /* live follow (viewrun_refresh): metrics.csv read up to read_off (a line end); the side
     * files' sizes and modification times when last read */
    off_t read_off;
    int header_done;
    off_t side_size[2];
    int64_t side_mtime_ns[2];
} view_run;

typedef struct {
    int n;
    view_run run[VIEW_MAX_RUNS];
} view_set;

/* Resolves PATH (an output dir, a logging dir or a metrics.csv) to its metrics.csv.
 * 0 ok; -1 + err (one line naming PATH and what to give instead). */
int viewrun_resolve(const char *arg, char *csv, size_t csvlen, char *err, size_t errlen);
/* Loads one PATH into the set: one run, or one per comparison replica its metrics.csv holds
 * (plus the plain rows, when there are any). Never writes. 0 ok; -1 + err (the set unchanged). */
int viewrun_add(view_set *s, const char *arg, char *err, size_t errlen);
/* Live follow: reads the complete rows appended to each run's metrics.csv since the last
 * read (a replica seen for the first time becomes a new run while there is room), rereads a
 * layers.csv / compare.csv whose size or time changed, and starts a metrics.csv that got
 * shorter (rewritten by a resume) over. 1 when something changed, 0 when nothing did,
 * -1 + err when a file could not be read or holds a bad row (the runs keep what they had). */
int viewrun_refresh(view_set *s, char *err, size_t errlen);
/* Gives equal names distinct ones (parent folder first, then "#2"...). Call after the adds. */
void viewrun_names(view_set *s);
void viewrun_free(view_set *s);

/* Reads a metrics.csv text (len bytes, no NUL needed): parses the complete lines after the
 * header into r (appending). Returns the bytes consumed (complete lines); -1 + err for another
 * header, an empty file or a bad row. `header_done` in/out: the header was already read. */
ssize_t viewrun_parse_metrics(view_run *r, const char *text, size_t len, int *header_done,
                              const char *path, char *err, size_t errlen);
/* Run precision label from its train rows (eval rows when none). */
void viewrun_precision(view_run *r);

#endif
