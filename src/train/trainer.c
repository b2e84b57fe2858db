/* trainer.c — the run loop over a set of n >= 1 lanes (lane.c): set-up, optimizer steps,
 * the logging / eval / save schedules, commands from the feed, and forking a comparison. */
#include "trainer_impl.h"
#include "hf_model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#define TRAINER_MAX_STEPS 1e15 /* as --max_steps allows */

double trainer_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double trainer_elapsed(const trainer *t) { return t->elapsed_base + trainer_now() - t->t_start; }

void trainer_notify(trainer *t, int is_error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->msg, sizeof t->msg, fmt, ap);
    va_end(ap);
    t->msg_seq++;
    t->msg_err = is_error;
    if (t->log) t->log(t->log_ud, t->msg);
}

void trainer_log_path(const trainer *t, const char *name, char *out, size_t outlen)
{
    if (t->cfg.logging_dir[0]) snprintf(out, outlen, "%s/%s", t->cfg.logging_dir, name);
    else snprintf(out, outlen, "%s/logs/%s", t->cfg.output_dir, name);
}

void trainer_csv_notice(trainer *t, const char *notice)
{
    if (notice) trainer_notify(t, 0, "%s", notice);
}

/* ---- setup ---- */

static int compare_from_list(trainer *t, const char *list, char *err, size_t errlen);

static backend *make_backend(trainer *t, char *err, size_t errlen)
{
    char why[256] = "";
    int threads = t->cfg.threads;
    /* ranks on one host share its cores (docs/dist.md) */
    int local = dist_local_size(t->d);
    if (threads == 0 && local > 1) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores / local > 1 ? (int)(cores / local) : 1;
    }
    if (t->cfg.device == DEV_CPU) return bk_create(BK_CPU, threads, err, errlen);
    backend *be = bk_create(BK_CUDA, threads, why, sizeof why);
    if (be) return be;
    if (t->cfg.device == DEV_CUDA) {
        snprintf(err, errlen, "no usable CUDA device (%s); use --device cpu or auto", why);
        return NULL;
    }
    trainer_notify(t, 0, "no usable CUDA device (%s), running on CPU", why);
    return bk_create(BK_CPU, threads, err, errlen);
}

/* Lane 0's policy: the configured mode and overrides. */
static int setup_policy(trainer *t, char *err, size_t errlen)
{
    prec_policy *p = &t->lanes[0].policy;
    if (prec_init(p, t->cfg.n_layer, t->cfg.precision)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    p->fp8 = (fp8_recipe){(fp8_recipe_kind)t->cfg.fp8_recipe, (fp8_format_mode)t->cfg.fp8_format,
                          t->cfg.fp8_amax_history_len, (fp8_amax_algo)t->cfg.fp8_amax_compute_algo,
                          t->cfg.fp8_margin};
    for (int i = 0; i < t->cfg.n_overrides; i++)
        if (prec_set_override(p, t->cfg.overrides[i].pattern, t->cfg.overrides[i].dtype, err,
                              errlen) < 0)
            return -1;
    memcpy(t->ovr, t->cfg.overrides, sizeof t->ovr);
    t->n_ovr = t->cfg.n_overrides;
    return 0;
}

/* Keeps the override list short: a pattern given again replaces its earlier entry. */
static void ovr_remember(trainer *t, const char *pattern, int dtype)
{
    int j = 0;
    for (int i = 0; i < t->n_ovr; i++)
        if (strcmp(t->ovr[i].pattern, pattern) != 0) t->ovr[j++] = t->ovr[i];
    t->n_ovr = j;
    if (t->n_ovr == CFG_MAX_OVERRIDES) {
        memmove(t->ovr, t->ovr + 1, (CFG_MAX_OVERRIDES - 1) * sizeof *t->ovr);
        t->n_ovr--;
    }
    snprintf(t->ovr[t->n_ovr].pattern, sizeof t->ovr[t->n_ovr].pattern, "%s", pattern);
    t->ovr[t->n_ovr++].dtype = dtype;
}

static int setup_data(trainer *t, char *err, size_t errlen)
{
    const mp_config *c = &t->cfg;
    const char *path = c->data[0] ? c->data : data_default_path();
    if (!path) {
        snprintf(err, errlen, "the built-in corpus (datasets/mptui-corpus.txt) was not found; "
                 "give a text or .bin file with --data");
        return -1;
    }
    if (trainer_tokenizer_load(t, c->model_name_or_path, err, errlen)) return -1;
    char cache[CFG_PATH_MAX + 16];
    trainer_token_cache_dir(c, cache, sizeof cache);
    data_text tx = {t->tok, cache, NULL, NULL};
    if (t->tok ? data_load_text(&t->data, path, c->val_data, c->validation_split_percentage,
                                c->block_size, &tx, err, errlen)
               : data_load(&t->data, path, c->val_data, c->validation_split_percentage,
                           c->vocab_size, c->block_size, err, errlen))
        return -1;
    if (t->data.note[0]) trainer_notify(t, 0, "%s", t->data.note);
    if (t->tok && c->vocab_size > 0) { /* a model may pad the vocabulary past the tokenizer's */
        if (c->vocab_size < t->data.vocab_size) {
            if (c->model_name_or_path[0])
                snprintf(err, errlen, "%s/config.json: vocab_size %d is smaller than the "
                         "vocabulary of tokenizer %s (%d); give the model's own tokenizer",
                         c->model_name_or_path, c->vocab_size, t->tok_label,
                         t->data.vocab_size);
            else
                snprintf(err, errlen, "--vocab_size %d is smaller than the vocabulary of "
                         "tokenizer %s (%d); give at least %d", c->vocab_size, t->tok_label,
                         t->data.vocab_size, t->data.vocab_size);
            return -1;
        }
        t->data.vocab_size = c->vocab_size;
    }
    /* eval and samples size logits by the data's vocabulary: it must be the model's */
    if (c->model_name_or_path[0] && t->data.vocab_size != c->vocab_size) {
        snprintf(err, errlen, "%s: its vocabulary (%d%s) is not %s/config.json's vocab_size %d"
                 "%s", t->data.name, t->data.vocab_size,
                 t->data.is_bytes ? ", text read as bytes" : "", c->model_name_or_path,
                 c->vocab_size, !t->data.is_bytes ? "; give data tokenized for that model"
                 : c->vocab_size == 50257 ? "; the folder has no tokenizer files: give "
                 "--tokenizer_name gpt2 (or the model's tokenizer folder)"
                 : "; the folder has no tokenizer files: give its tokenizer's folder with "
                 "--tokenizer_name, or data tokenized for that model");
        return -1;
    }
    if (c->vocab_size > 0 && t->data.is_bytes && !c->model_name_or_path[0])
        trainer_notify(t, 0, "--vocab_size %d is ignored: %s is text, read as bytes (vocabulary 256)",
               c->vocab_size, t->data.name);
    t->steps_per_epoch = data_steps_per_epoch(&t->data, t->B * t->nranks, t->T, t->accum);
    if (t->steps_per_epoch < 1) t->steps_per_epoch = 1;
    double steps = ceil(c->num_train_epochs * (double)t->steps_per_epoch);
    if (c->max_steps <= 0 && !(steps <= TRAINER_MAX_STEPS)) { /* the cast would overflow */
        snprintf(err, errlen, "--num_train_epochs %g at %lld steps per epoch is %.3g steps, "
                 "more than %.0e: give fewer epochs or --max_steps", c->num_train_epochs,
                 (long long)t->steps_per_epoch, steps, TRAINER_MAX_STEPS);
        return -1;
    }
    t->max_steps = c->max_steps > 0 ? c->max_steps : (int64_t)steps;
    if (t->max_steps < 1) t->max_steps = 1;
    return 0;
}

/* ---- memory plan (docs/memory.md) ---- */

static gpt_config run_gpt_config(const trainer *t)
{
    /* a model folder fixes the positions (block_size may train shorter windows) and the
     * vocabulary (cfg_apply_model) */
    const mp_config *c = &t->cfg;
    gpt_config gc = {c->n_layer, c->n_head, c->n_embd,
                     c->n_positions > 0 ? c->n_positions : c->block_size,
                     c->model_name_or_path[0] ? c->vocab_size : t->data.vocab_size};
    return gc;
}

/* ZeRO-1 shards AdamW's m and v over the ranks (docs/dist.md): how many shares there are
 * (with 1, every rank's model holds the whole state, whatever its rank). */
static int adam_shares(const trainer *t)
{
    return t->cfg.zero_stage >= 1 && t->nranks > 1 ? t->nranks : 1;
}

/* The plan of the run at micro-batch B (lane 0's policy, the run's backend, this rank's
 * share of the optimizer state). */
static int run_plan(const trainer *t, int B, gpt_mem_plan *plan, char *err, size_t errlen)
{
    gpt_config gc = run_gpt_config(t);
    if (gpt_memory_plan_shard(&gc, &t->lanes[0].policy, B, t->T, t->be, t->rank, adam_shares(t),
                              plan, err, errlen))
        return -1;
    if (t->cfg.gradient_accumulation_steps > 1) gpt_memory_plan_add_grad_sum(&gc, plan);
    return 0;
}

/* The peak at train batch B (the batch a refusal suggests; eval runs in chunks of it). */
static size_t peak_at(void *ctx, int B)
{
    gpt_mem_plan plan;
    char err[256];
    return run_plan(ctx, B, &plan, err, sizeof err) ? 0 : plan.total;
}

/* The plan checked against what the backend has: 0 fits; TRAINER_NO_MEMORY + the one-line
 * refusal (with the largest train batch that fits); -1 + err for a bad shape. */
static int check_memory(trainer *t, char *err, size_t errlen)
{
    if (run_plan(t, t->B, &t->mem_plan, err, errlen)) return -1;
    t->mem_available = bk_mem_available(t->be);
    if (t->mem_plan.total <= t->mem_available) return 0;
    int fit = mem_largest_batch(peak_at, t, t->B - 1, t->mem_available);
    char what[64];
    snprintf(what, sizeof what, "%dL/%dH/%dd model", t->cfg.n_layer, t->cfg.n_head,
             t->cfg.n_embd);
    mem_refusal(err, errlen, what, t->B, t->T, dtype_name(t->lanes[0].policy.mode),
                t->mem_plan.total, t->mem_available, fit, peak_at(t, fit > 0 ? fit : 1));
    return TRAINER_NO_MEMORY;
}

static int setup_model(trainer *t, char *err, size_t errlen)
{
    gpt_config gc = run_gpt_config(t);
    int rc = check_memory(t, err, errlen);
    if (rc) return rc;
    /* for the training batch only: eval runs in chunks of it (eval_run), so
     * --per_device_eval_batch_size never sizes memory */
    t->model = gpt_create_shard(t->be, &gc, &t->lanes[0].policy, t->B, t->T, t->rank,
                                adam_shares(t), err, errlen);
    if (!t->model) return -1;
    /* micro-batches after the first add to gradients that are not zero (docs/memory.md) */
    if (t->cfg.gradient_accumulation_steps > 1 && gpt_reserve_grad_sum(t->model)) {
        snprintf(err, errlen, "memory: out of memory for lm_head's gradient sum under "
                 "--gradient_accumulation_steps %d", t->cfg.gradient_accumulation_steps);
        return -1;
    }
    rng_state init_rng;
    rng_seed(&init_rng, t->cfg.seed);
    gpt_init_weights(t->model, &init_rng);
    rng_seed(&t->data_rng, t->cfg.seed ^ 0x64617461ull);   /* "data" */
    rng_seed(&t->sample_rng, t->cfg.seed ^ 0x73616d70ull); /* "samp" */
    t->inputs = malloc((size_t)t->B * t->T * sizeof(int32_t));
    t->targets = malloc((size_t)t->B * t->T * sizeof(int32_t));
    t->all_inputs = malloc((size_t)t->nranks * t->B * t->T * sizeof(int32_t));
    t->all_targets = malloc((size_t)t->nranks * t->B * t->T * sizeof(int32_t));
    t->snap = calloc(1, sizeof *t->snap);
    if (!t->inputs || !t->targets || !t->all_inputs || !t->all_targets || !t->snap ||
        lane_init(&t->lanes[0], t->model, &t->cfg, t->max_steps)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int setup_csv(trainer *t, char *err, size_t errlen)
{
    char path[CFG_PATH_MAX + 32];
    if (!trainer_writes(t)) return 0; /* rank 0 alone writes the logs */
    trainer_log_path(t, "metrics.csv", path, sizeof path);
    t->csv = metrics_csv_open(path, err, errlen);
    if (!t->csv) return -1;
    trainer_csv_notice(t, metrics_csv_notice(t->csv));
    trainer_log_path(t, "layers.csv", path, sizeof path);
    t->lcsv = layers_csv_open(path, err, errlen);
    if (!t->lcsv) return -1;
    trainer_csv_notice(t, layers_csv_notice(t->lcsv));
    return 0;
}

/* The first steps of trainer_open, up to the model: data, policy, backend. */
static trainer *setup_early(const mp_config *cfg, dist *d, feed *f, trainer_log_fn log,
                            void *log_ud, char *err, size_t errlen)
{
    trainer *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->cfg = *cfg;
    t->d = d;
    t->rank = dist_rank(d);
    t->nranks = dist_size(d);
    t->feed = f;
    t->log = log;
    t->log_ud = log_ud;
    t->B = cfg->per_device_train_batch_size;
    t->eval_B = cfg->per_device_eval_batch_size;
    t->T = cfg->block_size;
    t->accum = cfg->gradient_accumulation_steps;
    t->n_lanes = 1; /* a single run is a set of one */
    atomic_init(&t->stop, 0);
    if (setup_data(t, err, errlen) || setup_policy(t, err, errlen) ||
        !(t->be = make_backend(t, err, errlen))) {
        if (!err[0]) snprintf(err, errlen, "out of memory");
        trainer_free(t);
        return NULL;
    }
    if (bk_get_kind(t->be) == BK_CUDA && cfg->fp8_recipe == FP8_MXFP8)
        trainer_notify(t, 0, "fp8 recipe mxfp8 is emulated: the GEMMs run in fp32 on the "
                       "dequantized blocks (no MX tensor cores on this GPU; docs/fp8.md)");
    return t;
}

/* --model_name_or_path: the folder's weights over the fresh init (docs/files.md). */
static int load_model_folder(trainer *t, char *err, size_t errlen)
{
    char info[CFG_PATH_MAX + 256];
    if (hf_load(t->cfg.model_name_or_path, t->model, info, sizeof info, err, errlen)) return -1;
    trainer_notify(t, 0, "%s", info);
    return 0;
}

int trainer_dry_run(const mp_config *cfg, dist *d, char *out, size_t outlen, char *err,
                    size_t errlen)
{
    trainer *t = setup_early(cfg, d, NULL, NULL, NULL, err, errlen);
    if (!t) return -1;
    int rc = check_memory(t, err, errlen);
    if (rc >= 0) {
        char title[320], ranks[96] = "";
        if (t->nranks > 1) /* every rank's plan is rank 0's: the same shapes and shares */
            snprintf(ranks, sizeof ranks, ", rank %d of %d%s", t->rank, t->nranks,
                     adam_shares(t) > 1 ? " (ZeRO-1: its share of AdamW m and v)" : "");
        snprintf(title, sizeof title, "memory plan: %dL/%dH/%dd model (vocab %d), batch %d x "
                 "%d, %s, %s%s", cfg->n_layer, cfg->n_head, cfg->n_embd,
                 run_gpt_config(t).vocab_size,
                 t->B, t->T, dtype_name(t->lanes[0].policy.mode),
                 bk_describe(t->be), ranks);
        mem_plan_format(&t->mem_plan, title, t->mem_available, out, outlen);
    }
    trainer_free(t);
    return rc;
}

trainer *trainer_open(const mp_config *cfg, feed *f, trainer_log_fn log, void *log_ud,
                      int *why, char *err, size_t errlen)
{
    return trainer_open_ranks(cfg, NULL, f, log, log_ud, why, err, errlen);
}

trainer *trainer_open_ranks(const mp_config *cfg, dist *d, feed *f, trainer_log_fn log,
                            void *log_ud, int *why, char *err, size_t errlen)
{
    if (why) *why = 0;
    if (dist_size(d) > 1 && cfg->compare[0]) {
        snprintf(err, errlen, "--compare runs its replicas in one process: run it without "
                 "mpirun (data parallel with a comparison is not supported)");
        if (why) *why = -1;
        return NULL;
    }
    trainer *t = setup_early(cfg, d, f, log, log_ud, err, errlen);
    if (!t) {
        if (why) *why = -1;
        return NULL;
    }
    int rc = setup_model(t, err, errlen);
    if (rc) {
        if (why) *why = rc;
        goto fail;
    }
    t->best_metric = NAN;
    t->best_step = -1;
    t->last_save_step = -1;
    t->save_tried_step = -1;
    t->evaluated_step = -1;
    if (cfg->init_from[0] && ckpt_load_weights(cfg->init_from, t->model, err, errlen)) goto fail;
    if (cfg->model_name_or_path[0] && !cfg->resume_from_checkpoint[0] &&
        load_model_folder(t, err, errlen))
        goto fail; /* a resume restores its own weights, as the Trainer's does */
    if (cfg->resume_from_checkpoint[0] && trainer_resume(t, err, errlen)) goto fail;
    if (setup_csv(t, err, errlen) || trainer_ddp_check_options(t, err, errlen) ||
        trainer_ddp_devcomm(t, err, errlen))
        goto fail;
    if (cfg->compare[0] && compare_from_list(t, cfg->compare, err, errlen)) goto fail;
    return t;
fail:
    if (why && !*why) *why = -1;
    if (!err[0]) snprintf(err, errlen, "out of memory");
    trainer_free(t);
    return NULL;
}

trainer *trainer_create(const mp_config *cfg, feed *f, trainer_log_fn log, void *log_ud,
                        char *err, size_t errlen)
{
    return trainer_open(cfg, f, log, log_ud, NULL, err, errlen);
}

backend *trainer_backend(const trainer *t) { return t->be; }

void trainer_free(trainer *t)
{
    if (!t) return;
    if (t->csv) metrics_csv_close(t->csv);
    compare_csv_close(t->ccsv);
    for (int i = 0; i < t->n_lanes; i++) lane_free(&t->lanes[i]);
    divergence_free(&t->div);
    if (t->lcsv) layers_csv_close(t->lcsv);
    gpt_free(t->model);
    devcomm_destroy(t->dc);
    if (t->be) bk_destroy(t->be);
    data_free(&t->data);
    bpe_free(t->tok);
    free(t->inputs);
    free(t->targets);
    free(t->all_inputs);
    free(t->all_targets);
    free(t->ranks);
    free(t->snap);
    free(t->history);
    free(t);
}

void trainer_request_stop(trainer *t) { atomic_store(&t->stop, 1); }

/* 0, or -1 + err when a lane's model could not be laid out for its policy (gpt_status). */
static int lanes_status(const trainer *t, char *err, size_t errlen)
{
    for (int i = 0; i < t->n_lanes; i++)
        if (gpt_status(t->lanes[i].model, err, errlen)) return -1;
    return 0;
}

/* ---- one optimizer step of every lane ---- */

/* 0: one step done; 1: abandoned (by a stop request, or a non-finite loss without a scaler:
 * nothing changed). */
static int train_step(trainer *t)
{
    /* stats exactly on the steps that log (trainer_run's rule) */
    int log_step = (t->step + 1) % t->cfg.logging_steps == 0 || t->step + 1 == t->max_steps;
    char why[256] = "";
    lane_batches b = {&t->data, &t->data_rng, t->B, t->T, t->accum, t->all_inputs,
                      t->all_targets, t->d, t->cfg.ddp_comm_dtype, t->cfg.zero_stage, why,
                      sizeof why, t->dc};
    /* With a scaler a non-finite loss is an overflow (skipped); without one a single run's
     * weights would turn NaN: it stops unless --on_nan continue. A comparison goes on (a lane
     * going NaN is what is being watched). */
    int nan_stop = t->n_lanes == 1 && !t->cfg.nan_continue, at = 0;
    /* ranks stop at step boundaries only, where they agree on it (trainer_ddp_commands) */
    int rc = lane_step(t->lanes, t->n_lanes, &b, t->step + 1, log_step,
                       t->nranks > 1 ? NULL : &t->stop, nan_stop, &at, &t->nan_loss);
    if (rc == LANE_STEP_FAILED) {
        trainer_ddp_fail(t, why);
        return 1;
    }
    if (rc == LANE_STEP_STOPPED && t->n_lanes > 1)
        trainer_notify(t, 0, "stopped during step %lld: that step is abandoned by every replica; "
                       "the state is the one after step %lld", (long long)t->step + 1,
                       (long long)t->step);
    else if (rc == LANE_STEP_STOPPED)
        trainer_notify(t, 0, "stopped during step %lld (micro-batch %d of %d): that step is "
                       "abandoned; the state is the one after step %lld", (long long)t->step + 1,
                       at, t->accum, (long long)t->step);
    if (rc == LANE_STEP_NONFINITE) {
        t->nan_step = t->step + 1;
        atomic_store(&t->stop, 1);
    }
    if (rc) return 1;
    t->step++;
    t->win_tokens += (int64_t)t->B * t->T * t->accum * t->nranks; /* the run's, all ranks */
    t->tokens_seen += (uint64_t)t->B * t->T * t->accum * t->nranks;
    t->win_steps++;
    return 0;
}

/* ---- schedules ---- */

static int eval_due(const trainer *t)
{
    const mp_config *c = &t->cfg;
    if (c->eval_strategy == STRAT_STEPS) {
        int64_t every = c->eval_steps > 0 ? c->eval_steps : c->logging_steps;
        return t->step % every == 0;
    }
    if (c->eval_strategy == STRAT_EPOCH) return t->step % t->steps_per_epoch == 0;
    return 0;
}

static int save_due(const trainer *t)
{
    const mp_config *c = &t->cfg;
    if (c->save_strategy == STRAT_STEPS) return c->save_steps > 0 && t->step % c->save_steps == 0;
    if (c->save_strategy == STRAT_EPOCH) return t->step % t->steps_per_epoch == 0;
    return 0;
}

/* ---- comparison: n > 1 lanes, divergence and compare.csv ---- */

/* Back to the single lane the fork started from (a comparison that could not start). */
static int compare_undo(trainer *t)
{
    lane_keep(t->lanes, &t->n_lanes, t->selected, t->model);
    t->selected = 0;
    divergence_free(&t->div);
    return -1;
}

int trainer_compare_start(trainer *t, const lane_spec *specs, int n, char *err, size_t errlen)
{
    if (t->n_lanes > 1) {
        snprintf(err, errlen, "compare: a comparison is already running (c ends it)");
        return -1;
    }
    /* what the backend can still give (MemAvailable, or free device memory on CUDA) */
    size_t avail = bk_mem_available(t->be);
    if (lane_fork(t->lanes, &t->n_lanes, &t->selected, &t->cfg, specs, n, t->B, t->T, avail, err,
                  errlen))
        return -1;
    if (divergence_init(&t->div, t->lanes, t->n_lanes)) {
        snprintf(err, errlen, "compare: out of memory");
        return compare_undo(t);
    }
    if (!t->ccsv) {
        char path[CFG_PATH_MAX + 32];
        trainer_log_path(t, "compare.csv", path, sizeof path);
        if (!(t->ccsv = compare_csv_open(path, err, errlen))) return compare_undo(t);
        trainer_csv_notice(t, compare_csv_notice(t->ccsv));
    }
    char names[64] = "";
    for (int i = 0; i < t->n_lanes; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? " | " : "",
                 t->lanes[i].name);
    trainer_notify(t, 0, "comparing %s in lockstep from step %lld", names, (long long)t->step);
    return 0;
}

static int compare_from_list(trainer *t, const char *list, char *err, size_t errlen)
{
    lane_spec specs[LANE_MAX];
    int n = lane_parse_modes(list, specs, err, errlen);
    return n < 0 ? -1 : trainer_compare_start(t, specs, n, err, errlen);
}

/* From the screen: the run's current mode first, then the others asked for. */
static void compare_start_mask(trainer *t, int mask)
{
    lane_spec specs[LANE_MAX];
    int n = 0;
    char err[256];
    dtype_t mode = trainer_sel(t)->policy.mode;
    memset(specs, 0, sizeof specs);
    specs[n++].mode = mode;
    for (int d = 0; d < DT_COUNT && n < LANE_MAX; d++)
        if ((mask >> d & 1) && d != (int)mode) specs[n++].mode = (dtype_t)d;
    if (n < 2) {
        trainer_notify(t, 1, "compare: pick at least one mode besides %s", dtype_label(mode));
        return;
    }
    if (trainer_compare_start(t, specs, n, err, sizeof err)) trainer_notify(t, 1, "%s", err);
}

static void compare_stop(trainer *t, int keep)
{
    if (t->n_lanes == 1) {
        trainer_notify(t, 1, "compare: no comparison is running");
        return;
    }
    if (keep < 0 || keep >= t->n_lanes) keep = t->selected;
    char name[LANE_NAME];
    snprintf(name, sizeof name, "%s", t->lanes[keep].name);
    lane_keep(t->lanes, &t->n_lanes, keep, t->model);
    t->selected = 0;
    divergence_free(&t->div);
    trainer_notify(t, 0, "comparison ended at step %lld: training goes on as %s (%s)",
                   (long long)t->step, name, dtype_label(t->lanes[0].policy.mode));
}

static void compare_select(trainer *t, int i)
{
    if (t->n_lanes == 1 || i < 0 || i >= t->n_lanes) return;
    t->selected = i;
    trainer_notify(t, 0, "replica %s selected: the map, the header and c (end) follow it",
                   t->lanes[i].name);
}

/* ---- commands ---- */

/* Whether every lane's model can be laid out for its policy with the change `apply` makes
 * (mode, or an override): the plans' growth against what the backend has. 0: yes; else the
 * one-line refusal in err (docs/memory.md, "The layout, and changing precision"). */
static int relayout_fits(trainer *t, int (*apply)(prec_policy *, const void *), const void *arg,
                         char *err, size_t errlen)
{
    size_t grow = 0;
    for (int i = 0; i < t->n_lanes; i++) {
        prec_policy np;
        if (prec_init_like(&np, &t->lanes[i].policy, t->lanes[i].policy.mode)) {
            snprintf(err, errlen, "memory: out of memory");
            return -1;
        }
        int rc = apply(&np, arg);
        gpt_mem_plan now, next;
        gpt_model_memory_plan(t->lanes[i].model, &t->lanes[i].policy, &now);
        gpt_model_memory_plan(t->lanes[i].model, &np, &next);
        prec_free(&np);
        if (rc < 0) return 0; /* the change itself is refused: its own message says why */
        if (next.total > now.total) grow += next.total - now.total;
    }
    size_t avail = bk_mem_available(t->be);
    if (grow <= avail) return 0;
    char need[32], have[32];
    mem_fmt_bytes(grow, need, sizeof need);
    mem_fmt_bytes(avail, have, sizeof have);
    snprintf(err, errlen, "memory: that precision needs %s more for activations and weight "
             "copies, %s available; kept as it was", need, have);
    return -1;
}

/* Lays every lane's model out for its policy now, so a failure is seen before the step. */
static void relayout_lanes(trainer *t)
{
    char err[256];
    for (int i = 0; i < t->n_lanes; i++)
        if (gpt_set_layout(t->lanes[i].model, &t->lanes[i].policy, err, sizeof err))
            trainer_notify(t, 1, "%s", err); /* the run then stops: gpt_status */
}

static int apply_mode(prec_policy *p, const void *arg)
{
    prec_set_mode(p, *(const dtype_t *)arg);
    return 0;
}

static void set_mode(trainer *t, dtype_t mode)
{
    if (t->n_lanes > 1) {
        trainer_notify(t, 1, "mode: not during a comparison (c ends it, keeping the selected "
                       "replica)");
        return;
    }
    char err[256];
    if (relayout_fits(t, apply_mode, &mode, err, sizeof err)) {
        trainer_notify(t, 1, "%s", err);
        return;
    }
    lane *l = &t->lanes[0];
    int was = l->sc.enabled;
    lane_set_mode(l, &t->cfg, mode);
    relayout_lanes(t);
    trainer_notify(t, 0, "precision %s from step %lld%s", dtype_label(mode), (long long)t->step + 1,
                   was == l->sc.enabled ? "" : l->sc.enabled ? ", loss scaling on"
                                                             : ", loss scaling off");
}

static int apply_override(prec_policy *p, const void *arg)
{
    const feed_cmd *c = arg;
    char err[256];
    return prec_set_override(p, c->name, c->arg, err, sizeof err);
}

static void set_override(trainer *t, const feed_cmd *c)
{
    char err[256];
    if (relayout_fits(t, apply_override, c, err, sizeof err) ||
        lane_set_override(t->lanes, t->n_lanes, c->name, c->arg, err, sizeof err) < 0) {
        trainer_notify(t, 1, "%s", err);
        return;
    }
    relayout_lanes(t);
    ovr_remember(t, c->name, c->arg);
    trainer_notify(t, 0, "%s: %s from step %lld", c->name, c->arg < 0 ? "inherits the mode"
                   : dtype_label((dtype_t)c->arg), (long long)t->step + 1);
}

static void handle_command(trainer *t, const feed_cmd *c)
{
    switch (c->kind) {
    case CMD_EVAL:
        if (t->evaluated_step == t->step) trainer_notify(t, 0, "eval: step %lld is already "
                                                         "evaluated", (long long)t->step);
        trainer_eval(t);
        break;
    case CMD_SAVE: trainer_save(t); break;
    case CMD_SET_MODE:
        if (c->arg >= 0 && c->arg < DT_COUNT) set_mode(t, (dtype_t)c->arg);
        break;
    case CMD_SET_OVERRIDE: set_override(t, c); break;
    case CMD_PAUSE: t->paused = 1; break;
    case CMD_RESUME: t->paused = 0; break;
    case CMD_TOGGLE_PAUSE: t->paused = !t->paused; break;
    case CMD_COMPARE_START: compare_start_mask(t, c->arg); break;
    case CMD_COMPARE_STOP: compare_stop(t, c->arg); break;
    case CMD_COMPARE_SELECT: compare_select(t, c->arg); break;
    case CMD_QUIT: atomic_store(&t->stop, 1); break;
    }
}

static void drain_commands(trainer *t)
{
    feed_cmd c[16];
    int n;
    do {
        if (trainer_ddp_commands(t, c, 16, &n)) return;
        for (int i = 0; i < n; i++) {
            int was_paused = t->paused;
            if (t->nranks > 1 && c[i].kind >= CMD_COMPARE_START && c[i].kind != CMD_QUIT) {
                trainer_notify(t, 1, "compare: not in a data-parallel run (its replicas run "
                               "in one process)");
                continue;
            }
            handle_command(t, &c[i]);
            if (was_paused != t->paused) trainer_notify(t, 0, t->paused ? "paused" : "resumed");
        }
    } while (n == 16 && t->nranks < 2); /* ranks take the rest at the next boundary */
    if (t->nranks < 2) t->stopping = atomic_load(&t->stop);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *nonfinite_name(double v) { return isnan(v) ? "nan" : v > 0 ? "inf" : "-inf"; }

/* Said once: on the screen's message line, and by main from err (not through the log, so
 * headless does not print it twice). */
static int nan_failure(trainer *t, char *err, size_t errlen)
{
    snprintf(t->msg, sizeof t->msg, "loss is %s at step %lld (%s, no loss scaling): stopped "
             "before its optimizer step, the state is step %lld's%s; --on_nan continue trains on",
             nonfinite_name(t->nan_loss), (long long)t->nan_step,
             dtype_name(t->lanes[0].policy.mode), (long long)t->step,
             t->last_save_step == t->step ? " (saved)" : "");
    t->msg_seq++;
    t->msg_err = 1;
    snprintf(err, errlen, "%s", t->msg);
    trainer_publish(t, RUN_FAILED);
    return -1;
}

/* The eval row of step `step` a resumed run's history holds (the lane's), or NULL. */
static const metric_row *history_eval(const trainer *t, int64_t step)
{
    for (size_t i = t->n_history; i-- > 0;)
        if (t->history[i].kind == MR_EVAL && t->history[i].step == step) return &t->history[i];
    return NULL;
}

/* --eval_on_start: Trainer.train()'s eval before its first step, logged at the step the run
 * starts from (0, or a checkpoint's). A resume step evaluated before its save is not logged
 * twice. The eval draws the sample RNG as every eval does; training never reads it. */
static void eval_at_start(trainer *t)
{
    drain_commands(t); /* with ranks, the stop they agree on */
    if (t->stopping || t->failed) return;
    const metric_row *r = t->evaluated_step == t->step ? history_eval(t, t->step) : NULL;
    if (r) {
        trainer_notify(t, 0, "eval_on_start: step %lld is already evaluated (eval loss %.4f, "
                       "before the checkpoint was saved)", (long long)t->step, r->eval_loss);
        return;
    }
    trainer_eval(t);
    trainer_publish(t, RUN_RUNNING);
}

/* --do_train false: one eval of the loaded weights (Trainer.evaluate()), no step, no save.
 * A stop request ends it unrecorded (exit 0, as a stopped run); a failed eval is an error. */
static int run_eval_only(trainer *t, char *err, size_t errlen)
{
    trainer_eval(t);
    if (t->evaluated_step != t->step && !atomic_load(&t->stop)) {
        snprintf(err, errlen, "%s", t->msg);
        trainer_publish(t, RUN_FAILED);
        return -1;
    }
    if (t->evaluated_step == t->step)
        trainer_notify(t, 0, "evaluation only (--do_train false): no training step, no checkpoint");
    trainer_publish(t, RUN_FINISHED);
    return 0;
}

/* An explicit --do_eval with training adds the eval run_clm.py's trainer.evaluate() makes
 * after train(): at the last step, when the schedule did not evaluate it. */
static int final_eval_due(const trainer *t)
{
    return t->cfg.do_eval > 0 && t->step == t->max_steps && !t->stopping &&
           t->evaluated_step != t->step;
}

int trainer_run(trainer *t, char *err, size_t errlen)
{
    t->t_start = trainer_now();
    t->win_t0 = t->t_start - t->win_time_base;
    trainer_publish(t, RUN_RUNNING);
    if (!t->cfg.do_train) return run_eval_only(t, err, errlen);
    if (t->cfg.eval_on_start) eval_at_start(t);
    /* with ranks, t->stopping is the stop every rank agreed on at this boundary; reading
     * t->stop here would let rank 0 leave the loop alone (a deadlock) */
    while (t->step < t->max_steps && !t->stopping) {
        drain_commands(t);
        if (t->stopping || t->failed) break;
        if (t->paused) {
            trainer_publish(t, RUN_PAUSED);
            sleep_ms(30);
            t->win_t0 += 0.030;
            continue;
        }
        if (train_step(t) && !t->failed) { /* stopped inside the step (one process only) */
            t->stopping = 1;
            break;
        }
        if (t->failed || bk_status(t->be, err, errlen) || lanes_status(t, err, errlen)) {
            if (t->failed) snprintf(err, errlen, "%s", t->fail_err);
            trainer_publish(t, RUN_FAILED);
            return -1;
        }
        if (t->step % t->cfg.logging_steps == 0 || t->step == t->max_steps) trainer_log_train(t);
        if (eval_due(t)) trainer_eval(t);
        if (save_due(t)) trainer_save(t);
        trainer_publish(t, RUN_RUNNING);
    }
    if (t->failed) { /* a collective in a command, an eval or a save */
        snprintf(err, errlen, "%s", t->fail_err);
        trainer_publish(t, RUN_FAILED);
        return -1;
    }
    if (final_eval_due(t)) trainer_eval(t);
    if (!t->save_failed_stop && t->cfg.save_strategy != STRAT_NO && t->last_save_step != t->step &&
        t->save_tried_step != t->step)
        trainer_save(t);
    if (t->save_failed_stop) {
        snprintf(err, errlen, "%s", t->msg);
        trainer_publish(t, RUN_FAILED);
        return -1;
    }
    if (t->nan_step > 0) return nan_failure(t, err, errlen);
    trainer_publish(t, RUN_FINISHED);
    return 0;
}

static void summary_memory(const trainer *t, char *out, size_t outlen);
static void summary_replicas(const trainer *t, char *out, size_t outlen);

/* --do_train false: what the eval found, per replica in a comparison. */
static void summary_eval_only(const trainer *t, char *out, size_t outlen)
{
    const lane *sel = &t->lanes[t->selected];
    const eval_result *e = &sel->last_eval;
    int full = t->cfg.bf16_full_eval || t->cfg.fp16_full_eval;
    /* the eval's own time (its row's), not the screen's wait for q after it */
    const metric_row *r = history_eval(t, t->step);
    double secs = r ? r->time_s : trainer_elapsed(t);
    const char *mode = t->cfg.bf16_full_eval ? "bf16 full eval" : t->cfg.fp16_full_eval
                       ? "fp16 full eval" : dtype_name(sel->policy.mode);
    if (!sel->have_eval)
        snprintf(out, outlen, "eval only: no eval (stopped) | %.1f s | %s", secs, mode);
    else
        snprintf(out, outlen, "eval only: eval loss %.4f (ppl %.3f, %.3f bits/token) @%lld | "
                 "%d windows | %.1f s | %s", e->loss, e->ppl, e->bits, (long long)e->step,
                 e->windows, secs, mode);
    for (int i = 0; t->n_lanes > 1 && i < t->n_lanes; i++) {
        const lane *l = &t->lanes[i];
        size_t len = strlen(out);
        snprintf(out + len, outlen - len, "\n  replica %-4s | eval loss %.4f (ppl %.3f)%s",
                 l->name, l->have_eval ? l->last_eval.loss : NAN,
                 l->have_eval ? l->last_eval.ppl : NAN, full ? " (full eval cast)" : "");
    }
}

void trainer_summary(const trainer *t, char *out, size_t outlen)
{
    char ev[128] = "no eval";
    const lane *sel = &t->lanes[t->selected];
    if (!t->cfg.do_train) {
        summary_eval_only(t, out, outlen);
        summary_memory(t, out, outlen);
        return;
    }
    if (sel->have_eval)
        snprintf(ev, sizeof ev, "eval loss %.4f (ppl %.3f) @%lld", sel->last_eval.loss,
                 sel->last_eval.ppl, (long long)sel->last_eval.step);
    snprintf(out, outlen, "done: %lld/%lld steps in %.1f s | last loss %.4f | %s | "
             "overflow steps %lld | final scale %g | %s", (long long)t->step,
             (long long)t->max_steps, trainer_elapsed(t), sel->last_loss, ev,
             (long long)sel->sc.overflow_total, scaler_loss_scale(&sel->sc),
             dtype_name(sel->policy.mode));
    if (t->n_lanes > 1) summary_replicas(t, out, outlen);
    if (t->nranks > 1) { /* docs/dist.md: where the time went on the rank that speaks */
        size_t k = strlen(out);
        double el = trainer_elapsed(t), cs = trainer_ddp_comm_seconds(t);
        char share[96] = "", held[16], all[16];
        if (gpt_adam_ranks(sel->model) > 1) { /* ZeRO-1: what sharding saved here */
            mem_fmt_bytes(2 * gpt_adam_numel(sel->model) * sizeof(float), held, sizeof held);
            mem_fmt_bytes(2 * gpt_num_params(sel->model) * sizeof(float), all, sizeof all);
            snprintf(share, sizeof share, " (AdamW m+v here: %s of %s)", held, all);
        }
        snprintf(out + k, outlen - k, "\nranks %d | global batch %d x %d | comm %s over %s | "
                 "ZeRO-%d%s | %.0f tok/s | rank 0 in collectives %.2f s of %.1f s (%.1f%%)",
                 t->nranks, t->B * t->nranks * t->accum, t->T,
                 dtype_name(t->cfg.ddp_comm_dtype), t->dc ? "NCCL" : "MPI", t->cfg.zero_stage,
                 share, el > 0 ? (double)t->tokens_seen / el : 0.0, cs, el,
                 el > 0 ? 100.0 * cs / el : 0.0);
    }
    summary_memory(t, out, outlen);
}

/* The `memory` section: the selected lane's plan (its policy now) against what the backend
 * had at the start. */
static void summary_memory(const trainer *t, char *out, size_t outlen)
{
    gpt_mem_plan plan;
    char title[96];
    size_t len = strlen(out);
    if (!t->model || outlen - len < 2) return;
    gpt_model_memory_plan(t->model, &t->lanes[t->selected].policy, &plan);
    snprintf(title, sizeof title, "\nmemory (%s, batch %d x %d)",
             dtype_name(t->lanes[t->selected].policy.mode), t->B, t->T);
    mem_plan_format(&plan, title, t->mem_available, out + len, outlen - len);
    len = strlen(out);
    if (len && out[len - 1] == '\n') out[len - 1] = '\0'; /* main adds the last newline */
}

static void summary_replicas(const trainer *t, char *out, size_t outlen)
{
    /* the headline numbers are the selected lane's: add each one */
    size_t len = strlen(out);
    snprintf(out + len, outlen - len, " (selected replica)");
    for (int i = 0; i < t->n_lanes; i++) {
        const lane *l = &t->lanes[i];
        len = strlen(out);
        snprintf(out + len, outlen - len, "\n  replica %-4s | last loss %.4f | eval %.4f | "
                 "overflow steps %lld | final scale %g", l->name, l->last_loss,
                 l->have_eval ? l->last_eval.loss : NAN, (long long)l->sc.overflow_total,
                 scaler_loss_scale(&l->sc));
    }
}
