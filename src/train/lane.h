/* lane.h — one precision lane of a run: model, policy, scaler, optimizer and statistics. A run
 * is a set of n >= 1 lanes stepped in lockstep on one batch sequence (n > 1: a comparison). */
#ifndef MPTUI_LANE_H
#define MPTUI_LANE_H

#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "data.h"
#include "devcomm.h"
#include "dist.h"
#include "evaluate.h"
#include "metrics.h"
#include "model.h"
#include "optim.h"
#include "precision.h"
#include "rng.h"
#include "scaler.h"

#define LANE_MAX 3
#define LANE_NAME 8 /* metric_row.replica */

_Static_assert(LANE_NAME == sizeof(((metric_row *)0)->replica), "a lane's name is a row label");

typedef struct {
    char name[LANE_NAME];    /* CSV / screen label; "" = the mode name */
    dtype_t mode;
    double static_scale;     /* > 0: a static loss scale for this lane only (tests) */
} lane_spec;

typedef struct {
    char name[LANE_NAME];    /* "" in a single run (its rows carry no label) */
    gpt *model;
    int owns_model;          /* 0: the run's model (a single run, or the lane that continues it) */
    prec_policy policy;
    scaler sc;
    optim opt;
    optim_tensor *ot;
    int n_ot;
    gpt_row_stats *stats;    /* one per policy row, filled on logging steps */
    int have_stats;
    num_stats comm_stats;    /* data parallel: the gradients' rounding to --ddp_comm_dtype on
                              * the wire at the last logging step, every rank's */
    int have_comm;
    int64_t stats_step;      /* the step stats describe */
    double last_loss, last_lr, last_norm, last_scale;
    int last_skipped;
    double win_loss_sum;     /* the logging window's losses */
    int win_loss_n;
    eval_result last_eval;
    int have_eval;
} lane;

/* A fresh scaler for `mode` (docs/loss-scaling.md): dynamic in fp16 by default, as configured
 * otherwise; static_scale > 0 gives a static scale of that size instead. */
void lane_scaler_fresh(scaler *sc, const mp_config *c, dtype_t mode, double static_scale);
/* The single run's lane on `model` (borrowed), its policy set up already: the optimizer
 * table, statistics, the configured AdamW and a scaler for the policy's mode. 0 ok; -1 out
 * of memory. */
int lane_init(lane *l, gpt *model, const mp_config *c, int64_t total_steps);
/* Frees the lane's tables and its model when it owns it. */
void lane_free(lane *l);
/* A new mode for the lane; the scaler follows it (its counters describe the whole run). */
void lane_set_mode(lane *l, const mp_config *c, dtype_t mode);

/* Memory one more lane costs: a model laid out for policy p (gpt_memory_plan without a
 * backend; grad_sum: with lm_head's gradient sum apart, as under gradient accumulation) plus
 * host copies of its weights and gradients for the divergence metrics. */
size_t lane_bytes(const gpt_config *c, const prec_policy *p, int B, int T, int grad_sum);
/* 0 when n_new lanes of `each` bytes fit in `available`; else -1 and one line saying how
 * much is needed and how much is there. */
int lane_check_memory(int n_new, size_t each, size_t available, char *err, size_t errlen);
/* Parses "fp16,bf16" (2 or 3 distinct modes) into specs; returns the count, or -1 + err. */
int lane_parse_modes(const char *list, lane_spec *specs, char *err, size_t errlen);

/* Forks the single lane ls[0] into n lanes (2..LANE_MAX) after checking memory against
 * `available` bytes: the first in its mode (else the first) continues it on its model and
 * scaler, the others get copies of its masters and AdamW state and a fresh scaler. B, T:
 * activation allocation of the new models. 0 ok and *n_lanes = n, *heir = the continuing
 * lane; -1 + err and ls untouched. */
int lane_fork(lane *ls, int *n_lanes, int *heir, const mp_config *c, const lane_spec *specs,
              int n, int B, int T, size_t available, char *err, size_t errlen);
/* Ends a comparison keeping lane `keep`: it becomes ls[0], a single run on `model` (its
 * masters and AdamW state copied there unless it already is that model); the others go. */
void lane_keep(lane *ls, int *n_lanes, int keep, gpt *model);

/* What a step draws its micro-batches from (each drawn once and fed to every lane). */
typedef struct {
    const dataset *data;
    rng_state *rng;
    int B, T, accum;
    int32_t *inputs, *targets; /* (ranks x B, T): every rank draws the whole batch */
    /* data parallel (docs/dist.md): NULL or one rank is a single process. Rank r trains rows
     * [r B, r B + B) of the ranks x B windows one process would draw; the gradients are
     * averaged (in `comm` on the wire) before the unscale, as DDP does after accumulation */
    dist *d;
    dtype_t comm;
    int zero_stage;            /* 1: each rank updates the tensors it owns (gpt_adam_owner) */
    char *err;                 /* LANE_STEP_FAILED: which collective failed, and why */
    size_t errlen;
    devcomm *dc;               /* NULL: gradients through host memory and MPI; else NCCL on
                                * the device (docs/dist.md) */
} lane_batches;

enum { LANE_STEP_DONE = 0, LANE_STEP_STOPPED, LANE_STEP_NONFINITE, LANE_STEP_FAILED };

/* One optimizer step of every lane: each unscales, updates its scaler and steps (or skips)
 * on its own. step = the global step this update makes; log_step: gather tensor statistics.
 * A nonzero *stop seen between two micro-batches abandons the step (LANE_STEP_STOPPED, *at =
 * the micro-batch): no lane changes and the data RNG is put back. nan_stop: a lane without
 * loss scaling whose loss is not finite abandons it too (LANE_STEP_NONFINITE, *bad_loss = the
 * first bad micro-batch's loss) instead of stepping its weights into NaN. */
int lane_step(lane *ls, int n, const lane_batches *b, int64_t step, int log_step,
              const atomic_int *stop, int nan_stop, int *at, double *bad_loss);
/* Lane l's part of a train row (loss = mean over its window, scale, overflow, ...). */
void lane_row(const lane *l, metric_row *r);
/* Starts a new logging window (losses and the scaler's window counter). */
void lane_window_reset(lane *l);
/* The same layer override in every lane (so a comparison stays one of modes). Returns rows
 * matched, or -1 + err. */
int lane_set_override(lane *ls, int n, const char *pattern, int dtype, char *err,
                      size_t errlen);

#endif
