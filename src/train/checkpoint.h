/* checkpoint.h — checkpoint-<step>/ directories (model.safetensors, optimizer.safetensors,
 * trainer_state.json, config.json): atomic save, rotation, validated load, --init_from. */
#ifndef MPTUI_CHECKPOINT_H
#define MPTUI_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"
#include "model.h"
#include "numerics.h"
#include "rng.h"
#include "scaler.h"

/* The logging window open at the save: what the next train row averages over. A row logged
 * after a resume then equals the uninterrupted run's. */
typedef struct {
    int known;              /* 0: written before mptui kept the window (field absent) */
    double loss_sum;        /* sum of the window's finite per-step losses */
    int64_t loss_n, steps, tokens;
    double time_s;          /* training seconds in the window (for tokens/s) */
} ckpt_window;

typedef struct {
    int64_t global_step; double epoch; double elapsed_s; uint64_t tokens_seen;
    scaler sc;              /* full scaler state and counters */
    int64_t optim_t;        /* AdamW updates applied */
    rng_state data_rng;     /* the data cursor: the RNG that draws training windows */
    rng_state sample_rng;
    dtype_t mode; cfg_override overrides[CFG_MAX_OVERRIDES]; int n_overrides;
    double best_metric; int64_t best_step;  /* NAN / -1 = none */
    metric_row *log_history; size_t n_log;  /* owned by the caller when saving; allocated by ckpt_load */
    ckpt_window win;
} ckpt_state;

/* Writes <output_dir>/checkpoint-<global_step>/ atomically (temporary directory, fsync, rename;
 * an existing directory of the same step is swapped out atomically; anything else of that
 * name, e.g. a user's file, is never replaced: the save fails), then keeps the newest
 * save_total_limit complete checkpoints (0 = all; the one just written is always kept) and
 * removes stale temporary directories. saved_dir (may be NULL) receives the path. 0 ok;
 * -1 + err (unwritable, disk full), every earlier checkpoint untouched. */
int ckpt_save(const char *output_dir, gpt *m, const ckpt_state *st, int save_total_limit,
              char *saved_dir, size_t saved_len, char *err, size_t errlen);
/* Loads weights, AdamW m / v and the state; checks config.json against the model's config,
 * every tensor's shape and values (finite; exp_avg_sq >= 0), and a checkpoint-<N> folder's N
 * against global_step. st is overwritten (free it with ckpt_state_free); on error neither the
 * model nor st is changed. */
int ckpt_load(const char *dir, gpt *m, ckpt_state *st, char *err, size_t errlen);
/* Newest complete checkpoint-<step> under output_dir; -1 + err when there is none. */
int ckpt_find_latest(const char *output_dir, char *out, size_t outlen, char *err, size_t errlen);
/* --init_from: master weights only, from a checkpoint directory or a .safetensors file; names
 * with or without the "transformer." prefix, F32 / F16 / BF16; extra tensors ignored; a
 * missing tensor or one whose shape differs from the model's refused by name. */
int ckpt_load_weights(const char *path, gpt *m, char *err, size_t errlen);
void ckpt_state_free(ckpt_state *st);

/* The JSON halves, exposed for tests and fuzzing. to_json: malloc'd text or NULL. from_json:
 * validates every field; `label` names the file in messages; st untouched on error. */
char *ckpt_state_to_json(const ckpt_state *st);
int ckpt_state_from_json(const char *text, size_t len, const char *label, ckpt_state *st,
                         char *err, size_t errlen);
char *ckpt_config_to_json(const gpt_config *c);
int ckpt_config_from_json(const char *text, size_t len, const char *label, gpt_config *c,
                          char *err, size_t errlen);

#endif
