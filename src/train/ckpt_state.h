/* ckpt_state.h — what a checkpoint holds besides tensors: the trainer state (trainer_state.json)
 * and the model config (config.json), as JSON text and back, every field validated. */
#ifndef MPTUI_CKPT_STATE_H
#define MPTUI_CKPT_STATE_H

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
    const char *tokenizer_dir; /* saving: the run's BPE folder, whose files the checkpoint
                                * carries (ckpt_tok.h); NULL: none. Not part of the JSON */
    int block_size;            /* saving with a tokenizer: its model_max_length */
    uint8_t *fp8;              /* loading: fp8_state.bin's bytes (malloc'd), NULL when the
                                * checkpoint has none; not part of the JSON */
    size_t fp8_n;
    const float *adam_host[2]; /* saving under ZeRO-1: every tensor's AdamW m and v (n_params
                                * floats each, host memory) gathered from their ranks; NULL:
                                * the model's own. Not part of the JSON */
} ckpt_state;

/* to_json: malloc'd text or NULL. from_json: validates every field; `label` names the file in
 * messages; st untouched on error. */
char *ckpt_state_to_json(const ckpt_state *st);
int ckpt_state_from_json(const char *text, size_t len, const char *label, ckpt_state *st,
                         char *err, size_t errlen);
char *ckpt_config_to_json(const gpt_config *c);
int ckpt_config_from_json(const char *text, size_t len, const char *label, gpt_config *c,
                          char *err, size_t errlen);
/* Frees the log_history and fp8 bytes ckpt_state_from_json / ckpt_load allocated. */
void ckpt_state_free(ckpt_state *st);

#endif
