/* config.h — one run's configuration under Hugging Face TrainingArguments names, read from
 * defaults, then an optional `--config FILE` (name = value lines), then the command line. */
#ifndef MPTUI_CONFIG_H
#define MPTUI_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "numerics.h"

#define CFG_PATH_MAX 1024
#define CFG_MAX_OVERRIDES 32

typedef enum { SCHED_LINEAR = 0, SCHED_COSINE = 1, SCHED_CONSTANT = 2 } sched_kind;
typedef enum { STRAT_NO = 0, STRAT_STEPS = 1, STRAT_EPOCH = 2 } strategy_kind;
/* auto: dynamic in fp16, off otherwise (docs/loss-scaling.md); dynamic: on in every mode; none: off;
 * static: fixed `static_scale`. */
typedef enum { LS_AUTO = 0, LS_DYNAMIC = 1, LS_NONE = 2, LS_STATIC = 3 } loss_scale_kind;
typedef enum { DEV_AUTO = 0, DEV_CPU = 1, DEV_CUDA = 2 } device_kind;

typedef struct {
    char pattern[64]; /* layer name or fnmatch pattern, e.g. "lm_head", "h.*.mlp.c_fc" */
    int dtype;        /* dtype_t, or -1 = inherit (removes an earlier override) */
} cfg_override;

typedef struct {
    /* model */
    int n_layer, n_head, n_embd, block_size, vocab_size; /* vocab_size 0 = from the data */
    /* --model_name_or_path: a Hugging Face GPT-2 folder, "" = none. After cfg_parse_args it
     * names the folder (trailing '/' removed) whose config.json set the shape above. */
    char model_name_or_path[CFG_PATH_MAX];
    int n_positions;         /* the model's positions (wpe rows); 0 = block_size */
    unsigned shape_given;    /* CFG_GIVEN_* bits: shape options a file or the command line set */
    /* data */
    char data[CFG_PATH_MAX];     /* "" = built-in default corpus */
    char val_data[CFG_PATH_MAX]; /* "" = split off the end of `data` */
    char tokenizer_name[CFG_PATH_MAX]; /* "" = the model folder's, else bytes; "gpt2" = shipped */
    int validation_split_percentage;
    /* precision */
    dtype_t precision;
    int fp16_full_eval, bf16_full_eval;
    /* --precision fp8 (docs/fp8.md): fp8_recipe_kind, fp8_format_mode, fp8_amax_algo */
    int fp8_recipe, fp8_format, fp8_amax_history_len, fp8_amax_compute_algo, fp8_margin;
    cfg_override overrides[CFG_MAX_OVERRIDES];
    int n_overrides;
    loss_scale_kind loss_scale;
    double static_scale;
    double init_scale, growth_factor, backoff_factor, min_loss_scale;
    int growth_interval;
    /* optimizer */
    double learning_rate, adam_beta1, adam_beta2, adam_epsilon, weight_decay, max_grad_norm;
    sched_kind lr_scheduler_type;
    int64_t warmup_steps;
    /* schedule */
    int64_t max_steps;       /* -1 = from num_train_epochs */
    double num_train_epochs;
    int per_device_train_batch_size, per_device_eval_batch_size, gradient_accumulation_steps;
    int64_t logging_steps;
    strategy_kind eval_strategy;
    int64_t eval_steps;      /* 0 = logging_steps */
    int eval_max_batches;    /* 0 = all windows */
    int do_train;            /* 0: no training step, one eval of the loaded weights (do_eval) */
    int do_eval;             /* -1 = auto: on when eval_strategy is not no (cfg_do_eval) */
    int eval_on_start;       /* an eval before the first training step (docs/options.md) */
    strategy_kind save_strategy;
    int64_t save_steps;
    int save_total_limit;    /* 0 = keep all */
    int save_on_error_stop;  /* --save_on_error continue|stop */
    int nan_continue;        /* --on_nan stop|continue: a non-finite loss without a scaler */
    char output_dir[CFG_PATH_MAX];
    char logging_dir[CFG_PATH_MAX]; /* "" = <output_dir>/logs */
    char resume_from_checkpoint[CFG_PATH_MAX]; /* "", a directory, or "latest" */
    char init_from[CFG_PATH_MAX];
    uint64_t seed;
    /* text sample after eval (byte vocabularies) */
    int sample_length;       /* 0 = no sample */
    double sample_temperature; /* 0 = greedy */
    /* run */
    int headless;
    int dry_run;             /* print the memory plan and exit (docs/memory.md) */
    device_kind device;
    int threads;             /* 0 = all cores */
    int delay;               /* TUI refresh in tenths of a second */
    int no_color, no_unicode;
    char compare[64];        /* "" or e.g. "fp16,bf16" (lockstep replicas) */
    /* data parallel under mpirun (docs/dist.md) */
    dtype_t ddp_comm_dtype;  /* the gradients' dtype on the wire: fp32, fp16 or bf16 */
    int zero_stage;          /* 0, or 1: AdamW's updates sharded by tensor across ranks */
    double ddp_timeout;      /* seconds a collective may wait for the others (0 = forever) */
    char config_file[CFG_PATH_MAX];
    int precision_from_cli;  /* --precision/--fp16/--bf16 on the command line: beats a resume */
} mp_config;

typedef enum { CFG_OK = 0, CFG_EXIT_OK = 1, CFG_ERR = 2 } cfg_result;
enum {
    CFG_GIVEN_N_LAYER = 1, CFG_GIVEN_N_HEAD = 2, CFG_GIVEN_N_EMBD = 4, CFG_GIVEN_BLOCK_SIZE = 8,
    CFG_GIVEN_VOCAB_SIZE = 16
};

void cfg_defaults(mp_config *c);
/* Parses argv (argv[0] skipped); reads --config FILE first so the command line wins.
 * CFG_EXIT_OK: --help / --version was asked, `msg` holds the text to print (stdout).
 * CFG_ERR: `msg` holds one line naming the option and the problem (exit code 2). */
cfg_result cfg_parse_args(mp_config *c, int argc, char **argv, char *msg, size_t msglen);
/* Reads `name = value` lines ('#' comments, blank lines) into c. 0 ok, -1 with err. */
int cfg_load_file(mp_config *c, const char *path, char *err, size_t errlen);
/* Sets one option by name (no leading dashes); value NULL for flags. 0 ok, -1 with err. */
int cfg_set(mp_config *c, const char *name, const char *value, char *err, size_t errlen);
/* --model_name_or_path DIR: the shape from DIR/config.json (hf_model.h). Shape options that were
 * given must agree with it (block_size may be smaller than n_positions: shorter training
 * windows); block_size not given becomes min(n_positions, 1024), as run_clm.py chooses.
 * cfg_parse_args calls it; a no-op without the option. 0 ok, -1 + one line. */
int cfg_apply_model(mp_config *c, char *err, size_t errlen);
/* Cross-field checks after parsing (n_embd % n_head, batch sizes > 0, ...). 0 ok, -1 + err. */
int cfg_validate(const mp_config *c, char *err, size_t errlen);
/* --do_eval as Hugging Face's TrainingArguments settles it: the value given, else true when
 * eval_strategy is not no. */
int cfg_do_eval(const mp_config *c);
/* The --help text (options, defaults, one line each). */
const char *cfg_help_text(void);
/* Writes every option as `name = value` lines (the same format --config reads). */
int cfg_write_file(const mp_config *c, const char *path, char *err, size_t errlen);

#define MPTUI_VERSION "0.1.0"

#endif
