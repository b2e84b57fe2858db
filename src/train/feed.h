/* feed.h — the only channel between the engine's worker thread and a reader (the TUI):
 * metric rows in a bounded ring, the latest snapshot, and a command queue the other way. */
#ifndef MPTUI_FEED_H
#define MPTUI_FEED_H

#include <stddef.h>
#include <stdint.h>

#include "memplan.h"
#include "metrics.h"
#include "numerics.h"
#include "precision.h"

#define FEED_RING 8192     /* metric rows kept for charts */
#define FEED_MAX_LAYERS 520 /* precision-map rows (64 blocks x 8 + 8) */
#define FEED_MSG 256
#define FEED_SAMPLE 512
#define FEED_MAX_LANES 3   /* LANE_MAX (lane.c asserts it) */
#define FEED_MAX_PAIRS (FEED_MAX_LANES * (FEED_MAX_LANES - 1) / 2) /* DIV_PAIRS */

typedef enum { RUN_STARTING = 0, RUN_RUNNING, RUN_PAUSED, RUN_FINISHED, RUN_FAILED } run_state;

/* One FP8 cast of a Linear row (docs/fp8.md): its format and scaling state now, and what it
 * did at the last logged step. */
typedef struct {
    fp8_format format;          /* E4M3, or E5M2 for gradients under the hybrid format */
    float scale;                /* the meta's used_scale: values are multiplied by it before the
                                 * cast (MXFP8: 1, its blocks carry their own) */
    float hist_max;             /* largest amax in the tensor's history; 0 = none yet */
    float amax;                 /* of the unscaled values */
    double uflow_pct;           /* values flushed to zero */
    int64_t ovf;                /* values that saturated at the format's max */
    double ovf_pct;             /* the same as a share of the values cast */
    int valid;                  /* the cast ran at the last logged step */
} feed_fp8;

/* Live statistics of one precision-map row (from the last logged step). */
typedef struct {
    char name[32];
    layer_kind kind;            /* which overrides the row takes (prec_kind_accepts) */
    int has_weight;
    dtype_t w, act, grad;
    int fp8;                    /* 1: a Linear whose GEMM inputs are cast to FP8 (w, act and
                                 * grad are then bf16) */
    feed_fp8 cast[FP8_TENSORS]; /* by fp8_tensor; meaningful while fp8 */
    int override;               /* -1 inherit */
    float act_amax, grad_amax;  /* gradients as stored, i.e. still scaled */
    float act_amin, grad_amin;  /* smallest nonzero magnitude, 0 = none */
    double act_uflow_pct, grad_uflow_pct;
    int64_t act_ovf, grad_ovf;  /* overflow counts (+ non-finite) at the last logged step;
                                   grad_ovf includes the row's weight gradients */
    double grad_uflow_unscaled_pct; /* the gradient's underflow % without the loss scale */
    double act_range, grad_range;   /* dynamic range, log2 amax - log2 amin; NAN = none */
    int valid;                  /* stats gathered at least once */
    int comm;                   /* the data-parallel gradient all-reduce's row: grad is the
                                 * wire dtype, the grad columns what it did (docs/dist.md) */
} feed_layer;

/* One rank of a data-parallel run (docs/dist.md), as of the last logged step. */
#define FEED_MAX_RANKS 64
typedef struct {
    double tokens_per_s;        /* this rank's own rows per second of the logging window */
    double step_time;           /* seconds per step in the window */
    double comm_s;              /* seconds spent in collectives in the window */
    int64_t overflow_total;     /* skipped steps (the scaler is global: equal on every rank) */
    size_t mem_bytes;           /* peak resident memory of the rank's process */
    int local_rank;             /* its rank on its host */
    char host[32];
} feed_rank;

/* One replica of a lockstep comparison. */
typedef struct {
    char name[8];
    dtype_t mode;
    int scaler_enabled, scaler_dynamic;
    float loss_scale;
    int growth_tracker;
    int64_t overflow_total, overflow_window, last_overflow_step;
    char first_nonfinite[64];
    double loss;                /* last step's */
    int have_eval;
    int64_t eval_step;
    double eval_loss, eval_ppl, eval_bits;
} feed_replica;

/* Drift between replicas a (reference) and b at the last logged step (divergence.h). */
typedef struct {
    int a, b;
    double loss_diff, weight_rel_l2, grad_cos, cos_min;
    char cos_min_layer[48];
} feed_div;

typedef struct {
    /* fixed for the run */
    int n_layer, n_head, n_embd, block_size, vocab_size;
    int64_t n_params;
    char data_name[128];
    char model_name[64];    /* --model_name_or_path's folder name, "" for a model from scratch */
    char device[64];
    int64_t max_steps;
    int batch, accum;
    char output_dir[256];
    /* progress */
    run_state state;
    int64_t step;               /* optimizer steps done (global_step) */
    double epoch;
    double elapsed_s, eta_s, tokens_per_s;
    double loss, lr, grad_norm; /* last logged values */
    /* precision and scaling */
    dtype_t mode;
    fp8_recipe fp8;             /* how FP8 rows choose their scales (the map's title) */
    int fp8_known;              /* fp8 holds the run's recipe (mptui view has none) */
    int scaler_enabled, scaler_dynamic;
    float loss_scale;
    int growth_tracker, growth_interval;
    int64_t overflow_total, overflow_window, last_overflow_step;
    char first_nonfinite[64];
    /* eval */
    int have_eval;
    int64_t eval_step;
    double eval_loss, eval_ppl, eval_bits;
    char sample[FEED_SAMPLE];
    /* message line: newest message, msg_seq increases with each one */
    char message[FEED_MSG];
    uint64_t msg_seq;
    int msg_is_error;
    /* precision map */
    int n_layers;
    feed_layer layers[FEED_MAX_LAYERS];
    /* lockstep comparison: n_replicas = 0 when none runs; while one runs, the fields above
     * (mode, scaler, eval, precision map) describe the selected replica */
    int n_replicas, replica_selected;
    /* data parallel: n_ranks = 0 in a single process; else rank 0's view of every rank */
    int n_ranks;
    int ddp_zero_stage;
    dtype_t ddp_comm;
    int ddp_nccl;               /* 1: the gradients travel over NCCL, else MPI */
    feed_rank ranks[FEED_MAX_RANKS];
    feed_replica replicas[FEED_MAX_LANES];
    int64_t div_step;           /* -1 = no logged step yet */
    int n_div;
    feed_div div[FEED_MAX_PAIRS];
    /* memory: the plan under the (selected lane's) policy now, and what the backend can
     * still give (docs/memory.md); mem.n = 0 before the first snapshot */
    gpt_mem_plan mem;
    uint64_t mem_available;
} feed_snapshot;

typedef enum {
    CMD_EVAL = 1, CMD_SAVE, CMD_SET_MODE, CMD_SET_OVERRIDE, CMD_PAUSE, CMD_RESUME,
    CMD_TOGGLE_PAUSE, CMD_COMPARE_START, CMD_COMPARE_STOP, CMD_QUIT, CMD_COMPARE_SELECT,
} cmd_kind;

typedef struct {
    cmd_kind kind;
    int arg;              /* CMD_SET_MODE: dtype; CMD_SET_OVERRIDE: dtype or -1;
                           * CMD_COMPARE_START: bit mask of dtypes (1 << DT_F16 | ...) to run
                           * beside the current mode; CMD_COMPARE_STOP: replica to keep (-1 =
                           * the selected one); CMD_COMPARE_SELECT: replica index */
    char name[32];        /* CMD_SET_OVERRIDE: row name */
} feed_cmd;

typedef struct feed feed;

feed *feed_create(void);
void feed_destroy(feed *f);

/* worker side: never blocks beyond a short mutex */
void feed_publish_row(feed *f, const metric_row *r);
void feed_publish_snapshot(feed *f, const feed_snapshot *s);
int feed_pop_cmd(feed *f, feed_cmd *out); /* 1 when a command was taken */

/* reader side */
/* Copies rows with sequence number >= *since (at most max) and advances *since; rows older
 * than the ring are lost (the reader sees a gap, never stale data). Returns rows copied. */
size_t feed_read_rows(feed *f, uint64_t *since, metric_row *out, size_t max);
/* Copies the latest snapshot; returns its version (0 = none published yet). */
uint64_t feed_get_snapshot(feed *f, feed_snapshot *out);
/* 0 ok; -1 when the queue is full (the command is dropped, caller may tell the user). */
int feed_push_cmd(feed *f, const feed_cmd *c);

#endif
