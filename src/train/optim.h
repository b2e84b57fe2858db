/* optim.h — AdamW on fp32 master weights (through the backend), global-norm clipping and
 * the learning-rate schedules (linear / cosine / constant with warmup), docs/optimizer.md. */
#ifndef MPTUI_OPTIM_H
#define MPTUI_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "config.h"
#include "model.h"

typedef struct {
    float *p, *g, *m, *v; /* backend buffers of one tensor */
    size_t n;
    int decay;            /* 1: weight decay applies (2-D Linear weights only) */
} optim_tensor;

/* The model's tensors as the optimizer walks them (masters, gradients, m, v of each), in
 * gpt_tensor order; m and v NULL for the tensors another rank holds under ZeRO-1.
 * Allocated; the caller frees it. NULL when out of memory. */
optim_tensor *optim_tensors_from_model(gpt *m, int *n);

typedef struct {
    double lr, beta1, beta2, eps, weight_decay, max_grad_norm;
    sched_kind sched;
    int64_t warmup_steps, total_steps;
    int64_t t; /* AdamW updates applied so far (skipped steps do not count) */
} optim;

void optim_init(optim *o, double lr, double beta1, double beta2, double eps,
                double weight_decay, double max_grad_norm, sched_kind sched,
                int64_t warmup_steps, int64_t total_steps);
/* Multiplier of the base lr after `done` successful updates (Hugging Face schedules). */
double optim_lr_lambda(sched_kind sched, int64_t done, int64_t warmup, int64_t total);
/* lr the next update will use. */
double optim_current_lr(const optim *o);
/* sqrt of the sum of squares over every gradient, in double. */
double optim_grad_norm(backend *be, const optim_tensor *ts, int n);
/* torch clip_grad_norm_: min(1, max_norm / (norm + 1e-6)); 1 when max_norm <= 0. */
float optim_clip_coef(double norm, double max_norm);
/* One AdamW update of every tensor with the current lr; advances t. Returns the lr used. */
double optim_step(optim *o, backend *be, const optim_tensor *ts, int n, float grad_mult);

#endif
