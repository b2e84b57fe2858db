/* divergence.h — how far lockstep replicas have drifted apart at a logged step (loss
 * difference, relative L2 distance of master weights, gradient cosine per layer) and the
 * compare.csv writer for those numbers. */
#ifndef MPTUI_DIVERGENCE_H
#define MPTUI_DIVERGENCE_H

#include <stddef.h>
#include <stdint.h>

#include "replica.h"

#define DIV_PAIRS 3 /* pairs among REPLICA_MAX replicas */
#define DIV_LAYER_NAME 48

typedef struct {
    int a, b;              /* replica indices; a is the reference: fp32 when one of them is */
    double loss_a, loss_b; /* logged-window mean train losses */
    double loss_diff;      /* loss_b - loss_a */
    double weight_rel_l2;  /* ||w_b - w_a|| / ||w_a|| over every fp32 master weight */
    double grad_cos;       /* cosine of the whole unscaled gradients; NAN when not finite */
    double cos_min;        /* lowest per-layer gradient cosine, and its layer (-1 = none) */
    int cos_min_layer;
    double *layer_rel_l2, *layer_cos; /* (n_layers) */
} div_pair;

typedef struct {
    int64_t step;          /* -1 = not computed yet */
    int n_layers;          /* modules: wte, wpe, h.0.ln_1, h.0.attn.c_attn, ..., ln_f */
    char (*layer)[DIV_LAYER_NAME];
    size_t *lo, *hi;       /* each layer's float range in the flat parameter buffer */
    int n_pairs;
    div_pair p[DIV_PAIRS];
    size_t n_params;
    int n_replicas;
    float *w[REPLICA_MAX], *g[REPLICA_MAX]; /* host copies */
} divergence;

/* Sizes the tables for s's replicas (the layers come from the model's tensor names).
 * 0 ok, -1 out of memory. */
int divergence_init(divergence *d, replica_set *s);
void divergence_free(divergence *d);
/* Fills every pair from the replicas' current masters, gradients (as left by the last step:
 * unscaled) and logging windows. */
void divergence_compute(divergence *d, replica_set *s, int64_t step);
/* ||b - a|| / ||a|| and the cosine of a and b over n floats, in double. rel_l2 is NAN when a is
 * all zero; cos NAN when either is zero or anything is not finite. */
void divergence_pair_stats(const float *a, const float *b, size_t n, double *rel_l2,
                           double *cos);

typedef struct compare_csv compare_csv;

/* Opens <path> for appending, header first when the file is new or empty. NULL + err. */
compare_csv *compare_csv_open(const char *path, char *err, size_t errlen);
/* One row per pair for the whole model (layer "all", losses filled) and one per pair and
 * layer (loss cells empty); flushed. 0 ok, -1 + err. */
int compare_csv_write(compare_csv *w, const divergence *d, const replica_set *s, char *err,
                      size_t errlen);
/* NULL, or one line for the user about what the open repaired (an incomplete last row cut). */
const char *compare_csv_notice(const compare_csv *w);
void compare_csv_close(compare_csv *w);
const char *compare_csv_header(void);

#endif
