/* divergence.h — how far the lanes of a comparison have drifted apart at a logged step (loss
 * difference, relative L2 distance of master weights, gradient cosine per layer). */
#ifndef MPTUI_DIVERGENCE_H
#define MPTUI_DIVERGENCE_H

#include <stddef.h>
#include <stdint.h>

#include "lane.h"

#define DIV_PAIRS (LANE_MAX * (LANE_MAX - 1) / 2) /* pairs among LANE_MAX lanes */
#define DIV_LAYER_NAME 48

typedef struct {
    int a, b;              /* lane indices; a is the reference: fp32 when one of them is */
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
    int n_lanes;
    float *w[LANE_MAX], *g[LANE_MAX]; /* host copies */
} divergence;

/* Sizes the tables for n lanes (the layers come from the model's tensor names).
 * 0 ok, -1 out of memory. */
int divergence_init(divergence *d, const lane *ls, int n);
void divergence_free(divergence *d);
/* Fills every pair from the lanes' current masters, gradients (as left by the last step:
 * unscaled) and logging windows. */
void divergence_compute(divergence *d, const lane *ls, int n, int64_t step);
/* ||b - a|| / ||a|| and the cosine of a and b over n floats, in double. rel_l2 is NAN when a is
 * all zero; cos NAN when either is zero or anything is not finite. */
void divergence_pair_stats(const float *a, const float *b, size_t n, double *rel_l2,
                           double *cos);

#endif
