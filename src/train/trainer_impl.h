/* trainer_impl.h — the trainer's state, shared by trainer.c (set-up, loop, commands),
 * trainer_log.c (rows, lines, eval, snapshot) and trainer_ckpt.c (save, resume). */
#ifndef MPTUI_TRAINER_IMPL_H
#define MPTUI_TRAINER_IMPL_H

#include <stdatomic.h>
#include <stdint.h>

#include "backend.h"
#include "checkpoint.h"
#include "compare_csv.h"
#include "data.h"
#include "devcomm.h"
#include "dist.h"
#include "divergence.h"
#include "lane.h"
#include "layers_csv.h"
#include "metrics.h"
#include "model.h"
#include "rng.h"
#include "trainer.h"

struct trainer {
    mp_config cfg;
    feed *feed;
    trainer_log_fn log;
    void *log_ud;
    backend *be;
    dataset data;
    bpe *tok;                    /* the BPE text goes through, NULL: bytes (trainer_tok.c) */
    char tok_dir[CFG_PATH_MAX];  /* its folder (checkpoints carry its files) */
    char tok_label[64];          /* "gpt2" or the folder's name, for the screen */
    gpt *model;                  /* the run's model: lane 0's in a single run */
    /* n_lanes >= 1 lanes stepped in lockstep; n_lanes > 1 is a comparison, whose lane
     * `selected` the screen, the summary and c (end) follow */
    lane lanes[LANE_MAX];
    int n_lanes, selected;
    rng_state data_rng, sample_rng;
    metrics_csv *csv;
    layers_csv *lcsv;            /* layers.csv beside metrics.csv */
    int B, T, accum, eval_B;
    int64_t step, max_steps, steps_per_epoch;
    int32_t *inputs, *targets;   /* host, (B, T): eval reuses them in chunks of B */
    /* logging window (the losses are each lane's) */
    double win_t0;
    int64_t win_tokens, win_steps;
    double win_time_base;        /* seconds the window had run before a resume */
    double t_start, elapsed_base;
    double tokens_per_s, step_time;
    double best_metric;          /* lowest eval loss, NAN = none */
    int64_t best_step;
    uint64_t tokens_seen;
    metric_row *history;         /* every logged row: trainer_state.json's log_history */
    size_t n_history, cap_history;
    int64_t last_save_step;
    int64_t save_tried_step;     /* a failed save is not retried (and reported) at that step */
    int64_t evaluated_step;      /* step of the last eval row, -1 = none: one eval per step */
    int64_t nan_step;            /* > 0: stopped there on a non-finite loss (no scaler) */
    double nan_loss;
    int save_failed_stop;
    cfg_override ovr[CFG_MAX_OVERRIDES]; /* overrides in the order given: replaying them */
    int n_ovr;                          /* rebuilds the policy (checkpoints store them) */
    char resumed_from[CFG_PATH_MAX];
    atomic_int stop;
    int paused;
    feed_snapshot *snap;
    char msg[FEED_MSG];
    uint64_t msg_seq;
    int msg_err;
    gpt_mem_plan mem_plan;       /* the memory plan (docs/memory.md) the run was checked */
    size_t mem_available;        /* against, and what the backend had then (refreshed by */
    double mem_asked;            /* the snapshot at most once a second, trainer_now time) */
    divergence div;              /* while n_lanes > 1 */
    compare_csv *ccsv;
    /* data parallel (docs/dist.md, trainer_ddp.c): NULL or a world of one is a single run */
    dist *d;
    int stopping; /* the run stops at this step boundary: with ranks, the value they agreed
                   * on (trainer_ddp_commands), never rank 0's own flag read later */
    devcomm *dc; /* NCCL between the ranks' GPUs, or NULL (docs/dist.md) */
    int rank, nranks;
    int failed;                  /* a collective failed: fail_err says which; the run ends */
    char fail_err[320];
    int32_t *all_inputs, *all_targets; /* (nranks x B, T): the whole batch every rank draws */
    feed_rank *ranks;            /* rank 0: every rank's row as of the last logged step */
    double comm_base;            /* dist_comm_seconds at the window's start */
};

/* ---- trainer_ddp.c ---- */
/* 1 on the rank that writes files and lines and runs the screen (rank 0, or a single run). */
static inline int trainer_writes(const trainer *t) { return t->rank == 0; }
/* Records a failed collective (the first); trainer_run then ends with it. */
void trainer_ddp_fail(trainer *t, const char *why);
/* The same options on every rank, or -1 + err naming the first rank that differs. */
int trainer_ddp_check_options(trainer *t, char *err, size_t errlen);
/* NCCL for the gradients when every rank's build and backend allow it (rank 0's id over MPI);
 * else t->dc stays NULL and they go through MPI. 0, or -1 + err. */
int trainer_ddp_devcomm(trainer *t, char *err, size_t errlen);
/* Seconds this rank has spent in collectives: MPI's and NCCL's. */
double trainer_ddp_comm_seconds(const trainer *t);
/* Rank 0's screen commands, sent to every rank, applied by all at this step boundary; and
 * the stop: any rank's request stops every rank here. Single run: the feed's commands. */
int trainer_ddp_commands(trainer *t, feed_cmd *cmds, int max, int *n);
/* At a logged step, on every rank: each rank's throughput, comm time and memory to rank 0
 * (t->ranks) for the Ranks panel; dt is the logging window's length in seconds. */
void trainer_ddp_ranks(trainer *t, double dt);

/* The lane the screen, the summary and the headline numbers follow. */
static inline lane *trainer_sel(trainer *t) { return &t->lanes[t->selected]; }

double trainer_now(void);

/* ---- trainer_tok.c: the tokenizer (docs/data.md, "Text through a tokenizer") ---- */
/* Loads it into t->tok (left NULL when there is none). 0 ok, -1 + err. */
int trainer_tokenizer_load(trainer *t, const char *model_dir, char *err, size_t errlen);
/* <output_dir>/token-cache: where tokenized text is kept. */
void trainer_token_cache_dir(const mp_config *c, char *out, size_t len);
double trainer_elapsed(const trainer *t);
/* A notice for the user: the log callback (stdout when headless) and the screen's message
 * line. Never written to the terminal directly. */
void trainer_notify(trainer *t, int is_error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* <logging_dir or output_dir/logs>/name: the one rule for where the CSV logs live. */
void trainer_log_path(const trainer *t, const char *name, char *out, size_t outlen);
/* A log file repaired on open (an incomplete last line cut) is worth one line to the user. */
void trainer_csv_notice(trainer *t, const char *notice);

/* trainer_log.c */
void trainer_log_train(trainer *t);
void trainer_eval(trainer *t);
void trainer_publish(trainer *t, run_state state);

/* trainer_ckpt.c */
int trainer_save(trainer *t);
int trainer_resume(trainer *t, char *err, size_t errlen);

#endif
