/* history.c — bounded, bucket-averaged series for the charts. */
#include "history.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int series_init(ui_series *s, size_t cap)
{
    memset(s, 0, sizeof *s);
    if (cap < 2 || cap % 2) return -1;
    s->x = malloc(cap * sizeof *s->x);
    s->y = malloc(cap * sizeof *s->y);
    if (!s->x || !s->y) {
        series_free(s);
        return -1;
    }
    s->cap = cap;
    s->stride = 1;
    return 0;
}

void series_free(ui_series *s)
{
    free(s->x);
    free(s->y);
    memset(s, 0, sizeof *s);
}

static void series_halve(ui_series *s)
{
    for (size_t i = 0; i < s->n / 2; i++) {
        s->x[i] = (s->x[2 * i] + s->x[2 * i + 1]) / 2;
        s->y[i] = (s->y[2 * i] + s->y[2 * i + 1]) / 2;
    }
    s->n /= 2;
    s->stride *= 2;
}

void series_push(ui_series *s, double x, double y)
{
    s->sx += x;
    s->sy += y;
    if (++s->pend < s->stride) return;
    if (s->n == s->cap) series_halve(s);
    s->x[s->n] = s->sx / (double)s->pend;
    s->y[s->n] = s->sy / (double)s->pend;
    s->n++;
    s->pend = 0;
    s->sx = s->sy = 0;
}

void series_clear(ui_series *s)
{
    s->n = s->pend = 0;
    s->stride = 1;
    s->sx = s->sy = 0;
}

int history_init(ui_history *h)
{
    memset(h, 0, sizeof *h);
    int bad = series_init(&h->loss, HIST_CAP) || series_init(&h->eval, HIST_CAP / 4) ||
              series_init(&h->scale_log2, HIST_CAP);
    for (int i = 0; i < HIST_REPLICAS; i++)
        bad = bad || series_init(&h->rep[i].loss, HIST_CAP / 2) ||
              series_init(&h->rep[i].scale_log2, HIST_CAP / 2);
    if (bad) {
        history_free(h);
        return -1;
    }
    return 0;
}

int history_replica(const ui_history *h, const char *name)
{
    for (int i = 0; i < h->nrep; i++)
        if (strcmp(h->rep[i].name, name) == 0) return i;
    return -1;
}

static ui_replica_series *replica_for(ui_history *h, const char *name)
{
    int i = h->rep_ended ? -1 : history_replica(h, name);
    if (i >= 0) return &h->rep[i];
    if (h->rep_ended || h->nrep == HIST_REPLICAS) { /* a new comparison */
        for (int k = 0; k < HIST_REPLICAS; k++) {
            series_clear(&h->rep[k].loss);
            series_clear(&h->rep[k].scale_log2);
        }
        h->nrep = 0;
        h->rep_ended = 0;
    }
    ui_replica_series *r = &h->rep[h->nrep++];
    snprintf(r->name, sizeof r->name, "%s", name);
    return r;
}

static void ingest_replica(ui_history *h, const metric_row *r)
{
    if (r->kind == MR_EVAL) return; /* the eval panel lists each replica's latest */
    ui_replica_series *s = replica_for(h, r->replica);
    if (!isnan(r->loss)) series_push(&s->loss, (double)r->step, r->loss);
    if (isfinite(r->loss_scale) && r->loss_scale > 0)
        series_push(&s->scale_log2, (double)r->step, log2(r->loss_scale));
}

void history_free(ui_history *h)
{
    series_free(&h->loss);
    series_free(&h->eval);
    series_free(&h->scale_log2);
    for (int i = 0; i < HIST_REPLICAS; i++) {
        series_free(&h->rep[i].loss);
        series_free(&h->rep[i].scale_log2);
    }
}

void history_ingest(ui_history *h, const metric_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const metric_row *r = &rows[i];
        if (r->replica[0]) {
            ingest_replica(h, r);
            h->version++;
            continue;
        }
        if (h->nrep && r->kind == MR_TRAIN) h->rep_ended = 1;
        double step = (double)r->step;
        if (r->kind == MR_EVAL) {
            if (!isnan(r->eval_loss)) series_push(&h->eval, step, r->eval_loss);
        } else {
            if (!isnan(r->loss)) series_push(&h->loss, step, r->loss);
            if (isfinite(r->loss_scale) && r->loss_scale > 0)
                series_push(&h->scale_log2, step, log2(r->loss_scale));
        }
        h->version++;
    }
}
