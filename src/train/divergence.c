/* divergence.c — pairwise drift between the lanes of a comparison, computed in double on
 * host copies at logged steps only. */
#include "divergence.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- layers ---- */

/* "transformer.h.0.attn.c_attn.weight" -> "h.0.attn.c_attn" */
static void layer_of(const char *tensor, char *out, size_t len)
{
    const char *p = strncmp(tensor, "transformer.", 12) == 0 ? tensor + 12 : tensor;
    snprintf(out, len, "%s", p);
    char *dot = strrchr(out, '.');
    if (dot && (strcmp(dot, ".weight") == 0 || strcmp(dot, ".bias") == 0)) *dot = '\0';
}

static int layers_build(divergence *d, const gpt *m)
{
    int nt = gpt_num_tensors(m);
    d->layer = calloc((size_t)nt, sizeof *d->layer);
    d->lo = calloc((size_t)nt, sizeof *d->lo);
    d->hi = calloc((size_t)nt, sizeof *d->hi);
    if (!d->layer || !d->lo || !d->hi) return -1;
    for (int i = 0; i < nt; i++) {
        const gpt_tensor *t = gpt_tensor_at(m, i);
        char name[DIV_LAYER_NAME];
        layer_of(t->name, name, sizeof name);
        /* a module's weight and bias are neighbours in the flat buffer */
        if (d->n_layers && strcmp(d->layer[d->n_layers - 1], name) == 0 &&
            d->hi[d->n_layers - 1] == t->offset) {
            d->hi[d->n_layers - 1] = t->offset + t->numel;
            continue;
        }
        snprintf(d->layer[d->n_layers], DIV_LAYER_NAME, "%s", name);
        d->lo[d->n_layers] = t->offset;
        d->hi[d->n_layers++] = t->offset + t->numel;
    }
    return 0;
}

/* fp32 is the reference of a pair when it is one of them; else the earlier lane. */
static void pairs_build(divergence *d, const lane *ls, int n)
{
    d->n_pairs = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            div_pair *p = &d->p[d->n_pairs++];
            int swap = ls[j].policy.mode == DT_F32 && ls[i].policy.mode != DT_F32;
            p->a = swap ? j : i;
            p->b = swap ? i : j;
        }
}

int divergence_init(divergence *d, const lane *ls, int n)
{
    memset(d, 0, sizeof *d);
    d->step = -1;
    d->n_lanes = n;
    d->n_params = gpt_num_params(ls[0].model);
    if (layers_build(d, ls[0].model)) goto oom;
    pairs_build(d, ls, n);
    for (int k = 0; k < d->n_pairs; k++) {
        d->p[k].layer_rel_l2 = calloc((size_t)d->n_layers, sizeof(double));
        d->p[k].layer_cos = calloc((size_t)d->n_layers, sizeof(double));
        if (!d->p[k].layer_rel_l2 || !d->p[k].layer_cos) goto oom;
    }
    for (int i = 0; i < n; i++) {
        d->w[i] = malloc(d->n_params * sizeof(float));
        d->g[i] = malloc(d->n_params * sizeof(float));
        if (!d->w[i] || !d->g[i]) goto oom;
    }
    return 0;
oom:
    divergence_free(d);
    return -1;
}

void divergence_free(divergence *d)
{
    free(d->layer);
    free(d->lo);
    free(d->hi);
    for (int k = 0; k < DIV_PAIRS; k++) {
        free(d->p[k].layer_rel_l2);
        free(d->p[k].layer_cos);
    }
    for (int i = 0; i < LANE_MAX; i++) {
        free(d->w[i]);
        free(d->g[i]);
    }
    memset(d, 0, sizeof *d);
    d->step = -1;
}

/* ---- numbers ---- */

void divergence_pair_stats(const float *a, const float *b, size_t n, double *rel_l2,
                           double *cos)
{
    double dd = 0, aa = 0, bb = 0, ab = 0;
    for (size_t i = 0; i < n; i++) {
        double x = a[i], y = b[i];
        dd += (y - x) * (y - x);
        aa += x * x;
        bb += y * y;
        ab += x * y;
    }
    *rel_l2 = aa > 0 && isfinite(dd) && isfinite(aa) ? sqrt(dd) / sqrt(aa) : NAN;
    *cos = aa > 0 && bb > 0 && isfinite(ab) && isfinite(aa) && isfinite(bb)
               ? ab / (sqrt(aa) * sqrt(bb)) : NAN;
}

static double window_loss(const lane *l)
{
    return l->win_loss_n ? l->win_loss_sum / l->win_loss_n : NAN;
}

static void pair_compute(divergence *d, const lane *ls, div_pair *p)
{
    const lane *ra = &ls[p->a], *rb = &ls[p->b];
    p->loss_a = window_loss(ra);
    p->loss_b = window_loss(rb);
    p->loss_diff = p->loss_b - p->loss_a;
    double unused;
    divergence_pair_stats(d->w[p->a], d->w[p->b], d->n_params, &p->weight_rel_l2, &unused);
    divergence_pair_stats(d->g[p->a], d->g[p->b], d->n_params, &unused, &p->grad_cos);
    p->cos_min = NAN;
    p->cos_min_layer = -1;
    for (int l = 0; l < d->n_layers; l++) {
        size_t lo = d->lo[l], n = d->hi[l] - lo;
        divergence_pair_stats(d->w[p->a] + lo, d->w[p->b] + lo, n, &p->layer_rel_l2[l], &unused);
        divergence_pair_stats(d->g[p->a] + lo, d->g[p->b] + lo, n, &unused, &p->layer_cos[l]);
        if (!isnan(p->layer_cos[l]) && !(p->layer_cos[l] >= p->cos_min)) {
            p->cos_min = p->layer_cos[l];
            p->cos_min_layer = l;
        }
    }
}

void divergence_compute(divergence *d, const lane *ls, int n, int64_t step)
{
    size_t bytes = d->n_params * sizeof(float);
    for (int i = 0; i < n && i < d->n_lanes; i++) {
        backend *be = gpt_backend(ls[i].model);
        bk_download(be, d->w[i], gpt_params(ls[i].model), bytes);
        bk_download(be, d->g[i], gpt_grads(ls[i].model), bytes);
    }
    for (int k = 0; k < d->n_pairs; k++) pair_compute(d, ls, &d->p[k]);
    d->step = step;
}
