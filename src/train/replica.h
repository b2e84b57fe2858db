/* replica.h — lockstep replicas for comparing precision modes: k copies of one run's state
 * (fp32 masters, AdamW state, policy, scaler, statistics) stepped on one batch sequence. */
#ifndef MPTUI_REPLICA_H
#define MPTUI_REPLICA_H

#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "data.h"
#include "evaluate.h"
#include "metrics.h"
#include "model.h"
#include "optim.h"
#include "precision.h"
#include "rng.h"
#include "scaler.h"

#define REPLICA_MAX 3
#define REPLICA_NAME 8 /* metric_row.replica */

typedef struct {
    char name[REPLICA_NAME]; /* CSV / screen label; "" = the mode name */
    dtype_t mode;
    double static_scale;     /* > 0: a static loss scale for this replica only (tests) */
} replica_spec;

typedef struct {
    char name[REPLICA_NAME];
    gpt *model;
    int owns_model;          /* 0: borrowed from the run that forked it */
    prec_policy policy;
    scaler sc;
    optim opt;
    optim_tensor *ot;
    int n_ot;
    gpt_row_stats *stats;    /* one per policy row, filled on logging steps */
    int have_stats;
    int64_t stats_step;      /* the step stats describe */
    double last_loss, last_lr, last_norm, last_scale;
    int last_skipped;
    double win_loss_sum;     /* logging window, as the trainer keeps it */
    int win_loss_n;
    eval_result last_eval;
    int have_eval;
} replica;

typedef struct {
    int n, selected;
    replica r[REPLICA_MAX];
} replica_set;

/* What a comparison forks from: the run's model (one replica borrows it, the others get a
 * copy of its masters and AdamW state), its policy overrides, its scaler (continued by the
 * replica in the same mode; the others start a fresh scaler for their mode) and optimizer. */
typedef struct {
    const mp_config *cfg;
    gpt *model;
    const prec_policy *policy;
    const scaler *sc;
    const optim *opt;
    int B, T;                /* activation allocation of the new models */
} replica_source;

/* Memory one more replica costs: a model (gpt_memory_bytes) plus host copies of its
 * weights and gradients for the divergence metrics. */
size_t replica_bytes(const gpt_config *c, int B, int T);
/* Memory the machine can give now: MemAvailable from /proc/meminfo, else free pages. */
size_t replica_mem_available(void);
/* 0 when n_new replicas of `each` bytes fit in `available`; else -1 and one line saying
 * how much is needed and how much is there. */
int replica_check_memory(int n_new, size_t each, size_t available, char *err, size_t errlen);

/* Parses "fp16,bf16" (2 or 3 distinct modes) into specs; returns the count, or -1 + err. */
int replica_parse_modes(const char *list, replica_spec *specs, char *err, size_t errlen);

/* Builds n replicas (2..REPLICA_MAX) from src after checking memory against `available`
 * bytes. 0 ok; -1 + err and s left empty. */
int replica_fork(replica_set *s, const replica_source *src, const replica_spec *specs, int n,
                 size_t available, char *err, size_t errlen);
/* Frees the replicas' own models and tables (never a borrowed model). */
void replica_free(replica_set *s);

/* One optimizer step of every replica: each micro-batch is drawn once from data_rng and fed
 * to all of them; every replica unscales, updates its scaler and steps (or skips) on its
 * own. step = the global step this update makes; log_step: gather tensor statistics.
 * A nonzero *stop seen between two micro-batches abandons the step: no replica changes,
 * data_rng is put back, and 1 is returned (0: the step was made). */
int replica_step(replica_set *s, const dataset *d, rng_state *data_rng, int B, int T,
                 int accum, int32_t *inputs, int32_t *targets, int64_t step, int log_step,
                 const atomic_int *stop);
/* Replica i's part of a train row (loss = mean over its window, scale, overflow, ...). */
void replica_row(const replica_set *s, int i, metric_row *r);
/* Starts a new logging window in every replica. */
void replica_window_reset(replica_set *s);
/* Replica i's model and policy put into a (the eval windows are the caller's). */
void replica_eval_args(replica_set *s, int i, eval_args *a);
/* The same layer override in every replica (so the comparison stays one of modes). Returns
 * rows matched, or -1 + err. */
int replica_set_override(replica_set *s, const char *pattern, int dtype, char *err,
                         size_t errlen);
/* Ends the comparison keeping replica `keep`: its masters and AdamW state are copied into
 * model (unless it is that model), its mode into policy, its scaler, optimizer and
 * statistics (policy->n entries) into the rest; then the set is freed. */
void replica_keep(replica_set *s, int keep, gpt *model, prec_policy *policy, scaler *sc,
                  optim *opt, gpt_row_stats *stats, int *have_stats);
/* Index of the replica named `name`, -1 when none. */
int replica_find(const replica_set *s, const char *name);

#endif
