/* trainer.c — the run loop: optimizer steps with accumulation and loss scaling, logging,
 * eval and save schedules, commands from the feed, and snapshots for the screen. */
#include "trainer.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "checkpoint.h"
#include "data.h"
#include "divergence.h"
#include "evaluate.h"
#include "health.h"
#include "layers_csv.h"
#include "metrics.h"
#include "model.h"
#include "optim.h"
#include "precision.h"
#include "replica.h"
#include "rng.h"
#include "scaler.h"

struct trainer {
    mp_config cfg;
    feed *feed;
    trainer_log_fn log;
    void *log_ud;
    backend *be;
    dataset data;
    gpt *model;
    prec_policy policy;
    scaler sc;
    optim opt;
    optim_tensor *ot;
    int n_ot;
    rng_state data_rng, sample_rng;
    metrics_csv *csv;
    layers_csv *lcsv;            /* layers.csv beside metrics.csv */
    int B, T, accum, eval_B;
    int64_t step, max_steps, steps_per_epoch;
    int32_t *inputs, *targets;   /* host, (max(B, eval_B), T) */
    gpt_row_stats *stats;        /* one per policy row, filled on logging steps */
    int have_stats;
    int64_t stats_step;          /* the step t->stats describe */
    /* logging window */
    double win_loss_sum;
    int win_loss_n;
    double win_t0;
    int64_t win_tokens, win_steps;
    double win_time_base;        /* seconds the window had run before a resume */
    double t_start, elapsed_base;
    /* last step */
    double last_loss, last_lr, last_norm, last_scale;
    int last_skipped;
    double tokens_per_s, step_time;
    eval_result last_eval;
    int have_eval;
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
    /* lockstep comparison (replica.c): rs.n > 0 while it runs */
    replica_set rs;
    divergence div;
    compare_csv *ccsv;
};

#define TRAINER_MAX_STEPS 1e15 /* as --max_steps allows */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double elapsed(const trainer *t) { return t->elapsed_base + now_s() - t->t_start; }

/* A notice for the user: the log callback (stdout when headless) and the screen's message
 * line. Never written to the terminal directly. */
static void notify(trainer *t, int is_error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->msg, sizeof t->msg, fmt, ap);
    va_end(ap);
    t->msg_seq++;
    t->msg_err = is_error;
    if (t->log) t->log(t->log_ud, t->msg);
}

/* ---- setup ---- */

static int resume(trainer *t, char *err, size_t errlen);
static int compare_from_list(trainer *t, const char *list, char *err, size_t errlen);

static backend *make_backend(trainer *t, char *err, size_t errlen)
{
    char why[256] = "";
    int threads = t->cfg.threads;
    if (t->cfg.device == DEV_CPU) return bk_create(BK_CPU, threads, err, errlen);
    backend *be = bk_create(BK_CUDA, threads, why, sizeof why);
    if (be) return be;
    if (t->cfg.device == DEV_CUDA) {
        snprintf(err, errlen, "no usable CUDA device (%s); use --device cpu or auto", why);
        return NULL;
    }
    notify(t, 0, "no usable CUDA device (%s), running on CPU", why);
    return bk_create(BK_CPU, threads, err, errlen);
}

static void scaler_for_mode(trainer *t, dtype_t mode)
{
    const mp_config *c = &t->cfg;
    int enabled = c->loss_scale == LS_DYNAMIC || c->loss_scale == LS_STATIC ||
                  (c->loss_scale == LS_AUTO && mode == DT_F16);
    int dynamic = c->loss_scale != LS_STATIC;
    float init = c->loss_scale == LS_STATIC ? (float)c->static_scale : (float)c->init_scale;
    scaler keep = t->sc;
    scaler_init(&t->sc, enabled, dynamic, init, (float)c->growth_factor,
                (float)c->backoff_factor, c->growth_interval, (float)c->min_loss_scale);
    /* counters describe the whole run, whatever the mode */
    t->sc.overflow_total = keep.overflow_total;
    t->sc.overflow_window = keep.overflow_window;
    t->sc.last_overflow_step = keep.last_overflow_step;
    memcpy(t->sc.first_nonfinite, keep.first_nonfinite, sizeof keep.first_nonfinite);
}

static int setup_policy(trainer *t, char *err, size_t errlen)
{
    if (prec_init(&t->policy, t->cfg.n_layer, t->cfg.precision)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < t->cfg.n_overrides; i++)
        if (prec_set_override(&t->policy, t->cfg.overrides[i].pattern, t->cfg.overrides[i].dtype,
                              err, errlen) < 0)
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

static int setup_optim(trainer *t)
{
    int n = gpt_num_tensors(t->model);
    t->ot = calloc((size_t)n, sizeof *t->ot);
    if (!t->ot) return -1;
    for (int i = 0; i < n; i++) {
        const gpt_tensor *g = gpt_tensor_at(t->model, i);
        t->ot[i] = (optim_tensor){gpt_params(t->model) + g->offset, gpt_grads(t->model) + g->offset,
                                  gpt_adam_m(t->model) + g->offset, gpt_adam_v(t->model) + g->offset,
                                  g->numel, g->decay};
    }
    t->n_ot = n;
    const mp_config *c = &t->cfg;
    optim_init(&t->opt, c->learning_rate, c->adam_beta1, c->adam_beta2, c->adam_epsilon,
               c->weight_decay, c->max_grad_norm, c->lr_scheduler_type, c->warmup_steps,
               t->max_steps);
    return 0;
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
    if (data_load(&t->data, path, c->val_data, c->validation_split_percentage, c->vocab_size,
                  c->block_size, err, errlen))
        return -1;
    if (c->vocab_size > 0 && t->data.is_bytes)
        notify(t, 0, "--vocab_size %d is ignored: %s is text, read as bytes (vocabulary 256)",
               c->vocab_size, t->data.name);
    /* buffers for the eval windows there are, not for the option: a huge eval batch over a
     * few windows allocates a few windows */
    int nw = data_eval_windows(&t->data, t->T, 0);
    if (t->eval_B > nw) t->eval_B = nw > 0 ? nw : 1;
    t->steps_per_epoch = data_steps_per_epoch(&t->data, t->B, t->T, t->accum);
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

static int setup_model(trainer *t, char *err, size_t errlen)
{
    gpt_config gc = {t->cfg.n_layer, t->cfg.n_head, t->cfg.n_embd, t->cfg.block_size,
                     t->data.vocab_size};
    int maxB = t->B > t->eval_B ? t->B : t->eval_B;
    t->model = gpt_create(t->be, &gc, maxB, t->T, err, errlen);
    if (!t->model) return -1;
    rng_state init_rng;
    rng_seed(&init_rng, t->cfg.seed);
    gpt_init_weights(t->model, &init_rng);
    rng_seed(&t->data_rng, t->cfg.seed ^ 0x64617461ull);   /* "data" */
    rng_seed(&t->sample_rng, t->cfg.seed ^ 0x73616d70ull); /* "samp" */
    t->inputs = malloc((size_t)maxB * t->T * sizeof(int32_t));
    t->targets = malloc((size_t)maxB * t->T * sizeof(int32_t));
    t->stats = calloc((size_t)t->policy.n, sizeof *t->stats);
    t->snap = calloc(1, sizeof *t->snap);
    if (!t->inputs || !t->targets || !t->stats || !t->snap) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* <logging_dir or output_dir/logs>/name: the one rule for where the CSV logs live. */
static void log_path(const trainer *t, const char *name, char *out, size_t outlen)
{
    if (t->cfg.logging_dir[0]) snprintf(out, outlen, "%s/%s", t->cfg.logging_dir, name);
    else snprintf(out, outlen, "%s/logs/%s", t->cfg.output_dir, name);
}

/* A log file repaired on open (an incomplete last line cut) is worth one line to the user. */
static void csv_notice(trainer *t, const char *notice)
{
    if (notice) notify(t, 0, "%s", notice);
}

static int setup_csv(trainer *t, char *err, size_t errlen)
{
    char path[CFG_PATH_MAX + 32];
    log_path(t, "metrics.csv", path, sizeof path);
    t->csv = metrics_csv_open(path, err, errlen);
    if (!t->csv) return -1;
    csv_notice(t, metrics_csv_notice(t->csv));
    log_path(t, "layers.csv", path, sizeof path);
    t->lcsv = layers_csv_open(path, err, errlen);
    if (!t->lcsv) return -1;
    csv_notice(t, layers_csv_notice(t->lcsv));
    return 0;
}

trainer *trainer_create(const mp_config *cfg, feed *f, trainer_log_fn log, void *log_ud,
                        char *err, size_t errlen)
{
    trainer *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->cfg = *cfg;
    t->feed = f;
    t->log = log;
    t->log_ud = log_ud;
    t->B = cfg->per_device_train_batch_size;
    t->eval_B = cfg->per_device_eval_batch_size;
    t->T = cfg->block_size;
    t->accum = cfg->gradient_accumulation_steps;
    atomic_init(&t->stop, 0);
    scaler_init(&t->sc, 0, 0, 1.0f, 2.0f, 0.5f, 2000, 0.0f);
    if (setup_data(t, err, errlen) || setup_policy(t, err, errlen)) goto fail;
    if (!(t->be = make_backend(t, err, errlen))) goto fail;
    if (setup_model(t, err, errlen) || setup_optim(t)) goto fail;
    scaler_for_mode(t, t->policy.mode);
    t->best_metric = NAN;
    t->best_step = -1;
    t->last_save_step = -1;
    t->save_tried_step = -1;
    t->evaluated_step = -1;
    if (cfg->init_from[0] && ckpt_load_weights(cfg->init_from, t->model, err, errlen)) goto fail;
    if (cfg->resume_from_checkpoint[0] && resume(t, err, errlen)) goto fail;
    if (setup_csv(t, err, errlen)) goto fail;
    if (cfg->compare[0] && compare_from_list(t, cfg->compare, err, errlen)) goto fail;
    return t;
fail:
    if (!err[0]) snprintf(err, errlen, "out of memory");
    trainer_free(t);
    return NULL;
}

void trainer_free(trainer *t)
{
    if (!t) return;
    if (t->csv) metrics_csv_close(t->csv);
    compare_csv_close(t->ccsv);
    replica_free(&t->rs);
    divergence_free(&t->div);
    if (t->lcsv) layers_csv_close(t->lcsv);
    gpt_free(t->model);
    if (t->be) bk_destroy(t->be);
    prec_free(&t->policy);
    data_free(&t->data);
    free(t->ot);
    free(t->inputs);
    free(t->targets);
    free(t->stats);
    free(t->snap);
    free(t->history);
    free(t);
}

void trainer_request_stop(trainer *t) { atomic_store(&t->stop, 1); }

/* ---- snapshot ---- */

static void snap_layers(trainer *t, feed_snapshot *s)
{
    const replica *sel = t->rs.n ? &t->rs.r[t->rs.selected] : NULL;
    const prec_policy *p = sel ? &sel->policy : &t->policy;
    const gpt_row_stats *stats = sel ? sel->stats : t->stats;
    int have_stats = sel ? sel->have_stats : t->have_stats;
    s->n_layers = p->n < FEED_MAX_LAYERS ? p->n : FEED_MAX_LAYERS;
    for (int i = 0; i < s->n_layers; i++) {
        feed_layer *L = &s->layers[i];
        const prec_layer *r = &p->rows[i];
        snprintf(L->name, sizeof L->name, "%s", r->name);
        L->has_weight = r->has_weight;
        L->w = r->w;
        L->act = r->act;
        L->grad = r->grad;
        L->override = r->override;
        if (!have_stats) continue;
        const gpt_row_stats *rs = &stats[i];
        tensor_health a, g, gu, w;
        health_from_stats(&rs->act, &a);
        health_from_stats(&rs->grad, &g);
        health_from_stats(&rs->grad_unscaled, &gu);
        health_from_stats(&rs->wgrad, &w);
        L->valid = 1;
        L->act_amax = (float)a.amax;
        L->grad_amax = (float)g.amax;
        L->act_amin = rs->act.amin_nz;
        L->grad_amin = rs->grad.amin_nz;
        L->act_uflow_pct = a.underflow_pct;
        L->grad_uflow_pct = g.underflow_pct;
        L->grad_uflow_unscaled_pct = gu.underflow_pct;
        L->act_range = a.dynamic_range;
        L->grad_range = g.dynamic_range;
        L->act_ovf = a.overflow + a.nonfinite;
        /* the row's whole backward: its output gradient and its weight gradients */
        L->grad_ovf = g.overflow + g.nonfinite + w.overflow + w.nonfinite;
    }
}

static void compare_snapshot(trainer *t, feed_snapshot *s);

static void publish(trainer *t, run_state state)
{
    if (!t->feed) return;
    feed_snapshot *s = t->snap;
    const gpt_config *gc = gpt_get_config(t->model);
    s->n_layer = gc->n_layer;
    s->n_head = gc->n_head;
    s->n_embd = gc->n_embd;
    s->block_size = gc->block_size;
    s->vocab_size = gc->vocab_size;
    s->n_params = (int64_t)gpt_num_params(t->model);
    snprintf(s->data_name, sizeof s->data_name, "%s", t->data.name);
    snprintf(s->device, sizeof s->device, "%s", bk_describe(t->be));
    snprintf(s->output_dir, sizeof s->output_dir, "%s", t->cfg.output_dir);
    s->max_steps = t->max_steps;
    s->batch = t->B;
    s->accum = t->accum;
    s->state = state;
    s->step = t->step;
    s->epoch = (double)t->step / (double)t->steps_per_epoch;
    s->elapsed_s = elapsed(t);
    s->tokens_per_s = t->tokens_per_s;
    s->eta_s = t->step_time * (double)(t->max_steps - t->step);
    if (s->tokens_per_s <= 0 && t->win_steps > 0) { /* before the first log: this window's pace */
        double dt = now_s() - t->win_t0;
        if (dt > 0) {
            s->tokens_per_s = (double)t->win_tokens / dt;
            s->eta_s = dt / (double)t->win_steps * (double)(t->max_steps - t->step);
        }
    }
    s->loss = t->last_loss;
    s->lr = t->last_lr;
    s->grad_norm = t->last_norm;
    s->mode = t->policy.mode;
    s->scaler_enabled = t->sc.enabled;
    s->scaler_dynamic = t->sc.dynamic;
    s->loss_scale = scaler_loss_scale(&t->sc);
    s->growth_tracker = t->sc.growth_tracker;
    s->growth_interval = t->sc.growth_interval;
    s->overflow_total = t->sc.overflow_total;
    s->overflow_window = t->sc.overflow_window;
    s->last_overflow_step = t->sc.last_overflow_step;
    snprintf(s->first_nonfinite, sizeof s->first_nonfinite, "%s", t->sc.first_nonfinite);
    s->have_eval = t->have_eval;
    if (t->have_eval) {
        s->eval_step = t->last_eval.step;
        s->eval_loss = t->last_eval.loss;
        s->eval_ppl = t->last_eval.ppl;
        s->eval_bits = t->last_eval.bits;
        snprintf(s->sample, sizeof s->sample, "%s", t->last_eval.sample);
    }
    snprintf(s->message, sizeof s->message, "%s", t->msg);
    s->msg_seq = t->msg_seq;
    s->msg_is_error = t->msg_err;
    snap_layers(t, s);
    compare_snapshot(t, s);
    feed_publish_snapshot(t->feed, s);
}

/* ---- one optimizer step ---- */

/* The tensor to blame for an overflow: the first activation (forward order) whose rounding
 * overflowed, else the first gradient in backward order, else the parameter gradient. */
static void blame(const trainer *t, const char *param, char *out, size_t outlen)
{
    const prec_policy *p = &t->policy;
    snprintf(out, outlen, "%s grad", param ? param : "?");
    if (!t->have_stats || t->stats_step != t->step + 1) return; /* stale: another step's */
    for (int i = 0; i < p->n; i++)
        if (t->stats[i].act.overflow || t->stats[i].act.nonfinite) {
            snprintf(out, outlen, "%s act", p->rows[i].name);
            return;
        }
    for (int i = p->n - 1; i >= 0; i--) {
        const gpt_row_stats *s = &t->stats[i];
        if (s->grad.overflow || s->grad.nonfinite || s->wgrad.overflow || s->wgrad.nonfinite) {
            snprintf(out, outlen, "%s grad", p->rows[i].name);
            return;
        }
    }
}

/* One multi-tensor pass (a single GPU synchronization); per tensor if the lists cannot be
 * allocated. */
static int unscale_all(trainer *t, const char **first)
{
    float inv = scaler_inv_scale(&t->sc);
    int found = 0, n = t->n_ot;
    *first = NULL;
    float **g = calloc((size_t)(n > 0 ? n : 1), sizeof *g);
    size_t *cnt = calloc((size_t)(n > 0 ? n : 1), sizeof *cnt);
    if (g && cnt) {
        for (int i = 0; i < n; i++) g[i] = t->ot[i].g, cnt[i] = t->ot[i].n;
        int i = bk_unscale_multi(t->be, g, cnt, n, inv);
        if (i >= 0) found = 1, *first = gpt_tensor_at(t->model, i)->name;
    } else {
        for (int i = 0; i < n; i++)
            if (bk_unscale(t->be, t->ot[i].g, t->ot[i].n, inv) && !found) {
                found = 1;
                *first = gpt_tensor_at(t->model, i)->name;
            }
    }
    free(g);
    free(cnt);
    return found;
}

/* A stop between micro-batches abandons the step: no optimizer step on a partial sum, and
 * the data RNG goes back, so the state (and a checkpoint of it) is the last full step's. */
static int abandon_step(trainer *t, const rng_state *rng0, int stats_valid)
{
    t->data_rng = *rng0;
    t->have_stats = stats_valid; /* partly overwritten stats are not shown */
    return 1;
}

static double canon_nan(double v) { return isnan(v) ? NAN : v; } /* "nan", never "-nan" */

static const char *nonfinite_name(double v) { return isnan(v) ? "nan" : v > 0 ? "inf" : "-inf"; }

/* 0: one optimizer step done; 1: abandoned by a stop request (nothing changed). */
static int train_step(trainer *t)
{
    /* stats exactly on the steps that log (trainer_run's rule) */
    int log_step = (t->step + 1) % t->cfg.logging_steps == 0 || t->step + 1 == t->max_steps;
    gpt_row_stats *st = log_step ? t->stats : NULL;
    int had_stats = t->have_stats;
    rng_state rng0 = t->data_rng;
    if (st) memset(st, 0, (size_t)t->policy.n * sizeof *st);
    if (st) t->have_stats = 0; /* t->stats is being overwritten */
    gpt_refresh_copies(t->model, &t->policy);
    gpt_zero_grads(t->model);
    float scale = scaler_loss_scale(&t->sc);
    if (st) gpt_set_stats_unscale(t->model, scaler_inv_scale(&t->sc));
    double loss_sum = 0;
    int n_fin = 0;
    for (int k = 0; k < t->accum; k++) {
        if (k > 0 && atomic_load(&t->stop)) {
            notify(t, 0, "stopped during step %lld (micro-batch %d of %d): that step is "
                   "abandoned; the state is the one after step %lld", (long long)t->step + 1, k,
                   t->accum, (long long)t->step);
            return abandon_step(t, &rng0, had_stats && !st);
        }
        data_train_batch(&t->data, &t->data_rng, t->B, t->T, t->inputs, t->targets);
        float loss = gpt_forward(t->model, &t->policy, t->inputs, t->targets, t->B, t->T, st);
        gpt_backward(t->model, &t->policy, scale / (float)t->accum, st);
        if (isfinite(loss)) loss_sum += loss, n_fin++;
        else if (n_fin == k) t->nan_loss = loss; /* the first bad micro-batch */
    }
    /* With a scaler a non-finite loss is an overflow (skipped below); without one the weights
     * would turn NaN: stop before the optimizer step unless --on_nan continue. */
    if (n_fin < t->accum && !t->sc.enabled && !t->cfg.nan_continue) {
        t->nan_step = t->step + 1;
        atomic_store(&t->stop, 1);
        return abandon_step(t, &rng0, had_stats && !st);
    }
    t->have_stats = had_stats || st != NULL;
    if (st) t->stats_step = t->step + 1;
    const char *first;
    int found = unscale_all(t, &first);
    char where[64];
    if (found) blame(t, first, where, sizeof where);
    int skip = scaler_update(&t->sc, found, t->step + 1, found ? where : NULL);
    double norm = NAN, lr = t->opt.lr * optim_lr_lambda(t->opt.sched, t->opt.t,
                                                         t->opt.warmup_steps, t->opt.total_steps);
    if (!skip) {
        norm = canon_nan(optim_grad_norm(t->be, t->ot, t->n_ot));
        lr = optim_step(&t->opt, t->be, t->ot, t->n_ot, optim_clip_coef(norm, t->cfg.max_grad_norm));
    }
    t->step++;
    t->last_loss = n_fin == t->accum ? loss_sum / n_fin : NAN;
    t->last_lr = lr;
    t->last_norm = norm;
    t->last_scale = scale;
    t->last_skipped = skip;
    if (n_fin) t->win_loss_sum += loss_sum / n_fin, t->win_loss_n++;
    t->win_tokens += (int64_t)t->B * t->T * t->accum;
    t->tokens_seen += (uint64_t)t->B * t->T * t->accum;
    t->win_steps++;
    return 0;
}

/* ---- logging, eval ---- */

static void keep_history(trainer *t, const metric_row *r)
{
    if (t->n_history == t->cap_history) {
        size_t cap = t->cap_history ? 2 * t->cap_history : 256;
        metric_row *h = realloc(t->history, cap * sizeof *h);
        if (!h) return; /* the CSV still has the row; only the checkpoint copy is short */
        t->history = h;
        t->cap_history = cap;
    }
    t->history[t->n_history++] = *r;
}

static void csv_row(trainer *t, const metric_row *r)
{
    char err[256];
    keep_history(t, r);
    if (metrics_csv_write(t->csv, r, err, sizeof err)) notify(t, 1, "%s", err);
    if (t->feed) feed_publish_row(t->feed, r);
}

static void compare_log(trainer *t, const metric_row *base);

static void log_train(trainer *t)
{
    double now = now_s(), dt = now - t->win_t0;
    t->tokens_per_s = dt > 0 ? (double)t->win_tokens / dt : 0;
    t->step_time = t->win_steps ? dt / (double)t->win_steps : 0;
    metric_row r;
    metric_row_init(&r, MR_TRAIN, t->step);
    r.epoch = (double)t->step / (double)t->steps_per_epoch;
    r.time_s = elapsed(t);
    r.precision = t->policy.mode;
    r.loss = t->win_loss_n ? t->win_loss_sum / t->win_loss_n : NAN;
    r.lr = t->last_lr;
    r.grad_norm = t->last_norm;
    r.loss_scale = t->last_scale;
    r.overflow = t->last_skipped;
    r.overflow_total = t->sc.overflow_total;
    r.tokens_per_s = t->tokens_per_s;
    if (t->rs.n) {
        compare_log(t, &r);
    } else {
        csv_row(t, &r);
        char err[512];
        if (t->have_stats && t->stats_step == t->step &&
            layers_csv_write(t->lcsv, t->step, dtype_name(t->policy.mode), &t->policy, t->stats,
                             err, sizeof err))
            notify(t, 1, "%s", err);
    }
    if (t->log && !t->rs.n) {
        char line[256];
        snprintf(line, sizeof line, "step %6lld/%lld | loss %.4f | lr %.2e | norm %7.4f | "
                 "scale %-8g | ovf %lld (total %lld) | %.0f tok/s | %s",
                 (long long)t->step, (long long)t->max_steps, canon_nan(r.loss), r.lr,
                 canon_nan(r.grad_norm),
                 r.loss_scale, (long long)t->sc.overflow_window, (long long)t->sc.overflow_total,
                 r.tokens_per_s, dtype_name(t->policy.mode));
        t->log(t->log_ud, line);
    }
    scaler_window_reset(&t->sc);
    t->win_loss_sum = 0;
    t->win_loss_n = 0;
    t->win_tokens = 0;
    t->win_steps = 0;
    t->win_t0 = now_s();
}

static dtype_t eval_dtype(const trainer *t, int *full)
{
    *full = t->cfg.bf16_full_eval || t->cfg.fp16_full_eval;
    return t->cfg.bf16_full_eval ? DT_BF16 : t->cfg.fp16_full_eval ? DT_F16 : t->policy.mode;
}

static void compare_eval(trainer *t);

static void run_eval(trainer *t)
{
    if (t->evaluated_step == t->step) return; /* the e key on a step the schedule evaluated */
    if (t->rs.n) {
        compare_eval(t);
        return;
    }
    double t0 = now_s();
    int full;
    dtype_t edt = eval_dtype(t, &full);
    eval_args a = {t->model, &t->data, full ? NULL : &t->policy, edt, t->eval_B, t->T,
                   t->cfg.eval_max_batches, t->inputs, t->targets, t->cfg.sample_length,
                   (float)t->cfg.sample_temperature, &t->sample_rng, &t->stop};
    int rc = eval_run(&a, &t->last_eval);
    if (rc) {
        if (rc > 0) notify(t, 0, "eval at step %lld stopped by the stop request: not recorded",
                           (long long)t->step);
        else notify(t, 1, "eval failed: out of memory");
        return;
    }
    t->last_eval.step = t->step;
    t->have_eval = 1;
    t->evaluated_step = t->step;
    if (isfinite(t->last_eval.loss) && !(t->last_eval.loss >= t->best_metric)) {
        t->best_metric = t->last_eval.loss;
        t->best_step = t->step;
    }
    metric_row r;
    metric_row_init(&r, MR_EVAL, t->step);
    r.epoch = (double)t->step / (double)t->steps_per_epoch;
    r.time_s = elapsed(t);
    r.precision = edt;
    r.eval_loss = t->last_eval.loss;
    r.eval_ppl = t->last_eval.ppl;
    csv_row(t, &r);
    if (t->log) {
        char line[256];
        snprintf(line, sizeof line, "eval @%lld | loss %.4f | ppl %.3f | %.3f bits/token | "
                 "%d windows%s", (long long)t->step, t->last_eval.loss, t->last_eval.ppl,
                 t->last_eval.bits, t->last_eval.windows, full ? " (full-precision-cast eval)" : "");
        t->log(t->log_ud, line);
    }
    t->win_t0 += now_s() - t0; /* eval time is not training throughput */
}

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

/* ---- checkpoints ---- */

static void state_fill(const trainer *t, ckpt_state *st)
{
    memset(st, 0, sizeof *st);
    st->global_step = t->step;
    st->epoch = (double)t->step / (double)t->steps_per_epoch;
    st->elapsed_s = elapsed(t);
    st->tokens_seen = t->tokens_seen;
    st->sc = t->sc;
    st->optim_t = t->opt.t;
    st->data_rng = t->data_rng;
    st->sample_rng = t->sample_rng;
    st->mode = t->policy.mode;
    memcpy(st->overrides, t->ovr, sizeof st->overrides);
    st->n_overrides = t->n_ovr;
    st->best_metric = t->best_metric;
    st->best_step = t->best_step;
    st->log_history = t->history;
    st->n_log = t->n_history;
    st->win = (ckpt_window){1, t->win_loss_sum, t->win_loss_n, t->win_steps, t->win_tokens,
                            t->win_steps ? now_s() - t->win_t0 : 0};
}

static int compare_save(trainer *t);

static int save_checkpoint(trainer *t)
{
    if (t->rs.n) return compare_save(t);
    ckpt_state st;
    char dir[CFG_PATH_MAX + 64], err[512];
    t->save_tried_step = t->step;
    state_fill(t, &st);
    if (ckpt_save(t->cfg.output_dir, t->model, &st, t->cfg.save_total_limit, dir, sizeof dir,
                  err, sizeof err)) {
        int stop = t->cfg.save_on_error_stop;
        notify(t, 1, "save failed at step %lld: %s (%s)", (long long)t->step, err,
               stop ? "stopping: --save_on_error stop" : "training goes on");
        if (stop) {
            t->save_failed_stop = 1;
            atomic_store(&t->stop, 1);
        }
        return -1;
    }
    t->last_save_step = t->step;
    notify(t, 0, "saved %s", dir);
    return 0;
}

static int save_due(const trainer *t)
{
    const mp_config *c = &t->cfg;
    if (c->save_strategy == STRAT_STEPS) return c->save_steps > 0 && t->step % c->save_steps == 0;
    if (c->save_strategy == STRAT_EPOCH) return t->step % t->steps_per_epoch == 0;
    return 0;
}

static int restore_policy(trainer *t, const ckpt_state *st, char *err, size_t errlen)
{
    for (int i = 0; i < t->policy.n; i++) t->policy.rows[i].override = -1;
    prec_set_mode(&t->policy, st->mode);
    for (int i = 0; i < st->n_overrides; i++)
        if (prec_set_override(&t->policy, st->overrides[i].pattern, st->overrides[i].dtype, err,
                              errlen) < 0)
            return -1;
    memcpy(t->ovr, st->overrides, sizeof t->ovr);
    t->n_ovr = st->n_overrides;
    return 0;
}

/* The logging window open at the save continues, so the first row after the resume averages
 * the same steps as the uninterrupted run's. */
static void resume_window(trainer *t, const ckpt_window *w)
{
    if (!w->known) return; /* an older checkpoint: the window restarts here */
    t->win_loss_sum = w->loss_sum;
    t->win_loss_n = (int)w->loss_n;
    t->win_steps = w->steps;
    t->win_tokens = w->tokens;
    t->win_time_base = w->time_s;
}

/* Rows logged after the checkpoint (the run went on, or was killed before its next save) are
 * logged again by the resumed run: they go, so no step appears twice. Fills `out` with the
 * notice's part ("" when nothing went); 1 when a file could not be rewritten. */
static int drop_newer_rows(trainer *t, char *out, size_t outlen)
{
    static const char *const files[] = {"metrics.csv", "layers.csv", "compare.csv"};
    char path[CFG_PATH_MAX + 32], err[512] = "", list[160] = "";
    size_t total = 0;
    int bad = 0;
    out[0] = 0;
    for (int i = 0; i < 3; i++) {
        size_t n = 0;
        log_path(t, files[i], path, sizeof path);
        if (metrics_csv_drop_after(path, t->step, &n, err, sizeof err)) bad = 1;
        if (n) snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s %zu",
                        total ? ", " : "", files[i], n);
        total += n;
    }
    if (bad) snprintf(out, outlen, "; %s", err);
    else if (total) snprintf(out, outlen, "; dropped the rows logged after step %lld (%s): they "
                             "are logged again", (long long)t->step, list);
    return bad;
}

/* An explicit --precision/--fp16/--bf16 on the command line beats the checkpoint's mode
 * (the per-layer overrides stay; the scaler follows the mode, as the m key does). */
static void cli_precision_wins(trainer *t)
{
    dtype_t ck = t->policy.mode, cli = t->cfg.precision;
    if (!t->cfg.precision_from_cli || ck == cli) return;
    prec_set_mode(&t->policy, cli);
    scaler_for_mode(t, cli);
    notify(t, 0, "precision from the command line (%s) overrides the checkpoint's %s",
           dtype_name(cli), dtype_name(ck));
}

/* Everything that decides what happens next comes back: weights, m, v, scaler, AdamW step,
 * both RNGs, policy, history; the run then continues as if it had never stopped. */
static int resume(trainer *t, char *err, size_t errlen)
{
    char dir[CFG_PATH_MAX];
    const char *arg = t->cfg.resume_from_checkpoint;
    if (strcmp(arg, "latest") == 0) {
        if (ckpt_find_latest(t->cfg.output_dir, dir, sizeof dir, err, errlen)) return -1;
    } else {
        snprintf(dir, sizeof dir, "%s", arg);
    }
    ckpt_state st;
    if (ckpt_load(dir, t->model, &st, err, errlen)) return -1;
    if (st.global_step > t->max_steps) {
        snprintf(err, errlen, "%s: the checkpoint is at step %lld, beyond this run's %lld steps; "
                 "raise --max_steps (or --num_train_epochs) to train it further", dir,
                 (long long)st.global_step, (long long)t->max_steps);
        ckpt_state_free(&st);
        return -1;
    }
    if (restore_policy(t, &st, err, errlen)) {
        ckpt_state_free(&st);
        return -1;
    }
    t->step = st.global_step;
    t->elapsed_base = st.elapsed_s;
    t->tokens_seen = st.tokens_seen;
    t->sc = st.sc;
    t->opt.t = st.optim_t;
    t->data_rng = st.data_rng;
    t->sample_rng = st.sample_rng;
    t->best_metric = st.best_metric;
    t->best_step = st.best_step;
    free(t->history);
    t->history = st.log_history;
    t->n_history = t->cap_history = st.n_log;
    st.log_history = NULL;
    ckpt_state_free(&st);
    t->last_save_step = t->step;
    snprintf(t->resumed_from, sizeof t->resumed_from, "%s", dir);
    resume_window(t, &st.win);
    for (size_t i = 0; i < t->n_history; i++) /* `e` on the resume step evaluates it once */
        if (t->history[i].kind == MR_EVAL && t->history[i].step == t->step)
            t->evaluated_step = t->step;
    char drops[512], old[160] = "";
    int bad = drop_newer_rows(t, drops, sizeof drops);
    if (!st.win.known && t->step % t->cfg.logging_steps && t->step < t->max_steps)
        snprintf(old, sizeof old, "; this checkpoint predates the saved log window: the next "
                 "train row averages only the steps after %lld", (long long)t->step);
    notify(t, bad, "resumed from %s at step %lld%s%s", dir, (long long)t->step, drops, old);
    cli_precision_wins(t);
    return 0;
}

/* ---- commands ---- */

static void set_mode(trainer *t, dtype_t mode)
{
    if (t->rs.n) {
        notify(t, 1, "mode: not during a comparison (c ends it, keeping the selected replica)");
        return;
    }
    prec_set_mode(&t->policy, mode);
    int was = t->sc.enabled;
    scaler_for_mode(t, mode);
    notify(t, 0, "precision %s from step %lld%s", dtype_label(mode), (long long)t->step + 1,
           was == t->sc.enabled ? "" : t->sc.enabled ? ", loss scaling on" : ", loss scaling off");
}

static void set_override(trainer *t, const feed_cmd *c)
{
    char err[256];
    if ((t->rs.n ? replica_set_override(&t->rs, c->name, c->arg, err, sizeof err)
                 : prec_set_override(&t->policy, c->name, c->arg, err, sizeof err)) < 0) {
        notify(t, 1, "%s", err);
        return;
    }
    ovr_remember(t, c->name, c->arg);
    notify(t, 0, "%s: %s from step %lld", c->name, c->arg < 0 ? "inherits the mode"
           : dtype_label((dtype_t)c->arg), (long long)t->step + 1);
}

static void compare_start_mask(trainer *t, int mask);
static void compare_stop(trainer *t, int keep);
static void compare_select(trainer *t, int i);

static void handle_command(trainer *t, const feed_cmd *c)
{
    switch (c->kind) {
    case CMD_EVAL:
        if (t->evaluated_step == t->step) notify(t, 0, "eval: step %lld is already evaluated",
                                                 (long long)t->step);
        run_eval(t);
        break;
    case CMD_SAVE: save_checkpoint(t); break;
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
    feed_cmd c;
    while (t->feed && feed_pop_cmd(t->feed, &c)) {
        int was_paused = t->paused;
        handle_command(t, &c);
        if (was_paused != t->paused) notify(t, 0, t->paused ? "paused" : "resumed");
    }
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int compare_step(trainer *t);

/* Said once: on the screen's message line, and by main from err (not through the log, so
 * headless does not print it twice). */
static int nan_failure(trainer *t, char *err, size_t errlen)
{
    snprintf(t->msg, sizeof t->msg, "loss is %s at step %lld (%s, no loss scaling): stopped "
             "before its optimizer step, the state is step %lld's%s; --on_nan continue trains on",
             nonfinite_name(t->nan_loss), (long long)t->nan_step, dtype_name(t->policy.mode),
             (long long)t->step, t->last_save_step == t->step ? " (saved)" : "");
    t->msg_seq++;
    t->msg_err = 1;
    snprintf(err, errlen, "%s", t->msg);
    publish(t, RUN_FAILED);
    return -1;
}

int trainer_run(trainer *t, char *err, size_t errlen)
{
    t->t_start = now_s();
    t->win_t0 = t->t_start - t->win_time_base;
    publish(t, RUN_RUNNING);
    while (t->step < t->max_steps && !atomic_load(&t->stop)) {
        drain_commands(t);
        if (atomic_load(&t->stop)) break;
        if (t->paused) {
            publish(t, RUN_PAUSED);
            sleep_ms(30);
            t->win_t0 += 0.030;
            continue;
        }
        if (t->rs.n ? compare_step(t) : train_step(t)) break; /* stopped inside the step */
        if (bk_status(t->be, err, errlen)) {
            publish(t, RUN_FAILED);
            return -1;
        }
        if (t->step % t->cfg.logging_steps == 0 || t->step == t->max_steps) log_train(t);
        if (eval_due(t)) run_eval(t);
        if (save_due(t)) save_checkpoint(t);
        publish(t, RUN_RUNNING);
    }
    if (!t->save_failed_stop && t->cfg.save_strategy != STRAT_NO && t->last_save_step != t->step &&
        t->save_tried_step != t->step)
        save_checkpoint(t);
    if (t->save_failed_stop) {
        snprintf(err, errlen, "%s", t->msg);
        publish(t, RUN_FAILED);
        return -1;
    }
    if (t->nan_step > 0) return nan_failure(t, err, errlen);
    publish(t, RUN_FINISHED);
    return 0;
}

void trainer_summary(const trainer *t, char *out, size_t outlen)
{
    char ev[128] = "no eval";
    const eval_result *le = t->rs.n ? &t->rs.r[t->rs.selected].last_eval : &t->last_eval;
    if (t->rs.n ? t->rs.r[t->rs.selected].have_eval : t->have_eval)
        snprintf(ev, sizeof ev, "eval loss %.4f (ppl %.3f) @%lld", le->loss, le->ppl,
                 (long long)le->step);
    const scaler *sc = t->rs.n ? &t->rs.r[t->rs.selected].sc : &t->sc;
    dtype_t mode = t->rs.n ? t->rs.r[t->rs.selected].policy.mode : t->policy.mode;
    snprintf(out, outlen, "done: %lld/%lld steps in %.1f s | last loss %.4f | %s | "
             "overflow steps %lld | final scale %g | %s", (long long)t->step,
             (long long)t->max_steps, elapsed(t), t->last_loss, ev,
             (long long)sc->overflow_total, scaler_loss_scale(sc), dtype_name(mode));
    if (t->rs.n) { /* then the headline numbers are the selected replica's: add each one */
        size_t len = strlen(out);
        snprintf(out + len, outlen - len, " (selected replica)");
        for (int i = 0; i < t->rs.n; i++) {
            const replica *r = &t->rs.r[i];
            len = strlen(out);
            snprintf(out + len, outlen - len, "\n  replica %-4s | last loss %.4f | eval %.4f | "
                     "overflow steps %lld | final scale %g", r->name, r->last_loss,
                     r->have_eval ? r->last_eval.loss : NAN, (long long)r->sc.overflow_total,
                     scaler_loss_scale(&r->sc));
        }
    }
}

/* ---- comparison: lockstep replicas (replica.c), divergence and compare.csv ---- */

int trainer_compare_start(trainer *t, const replica_spec *specs, int n, char *err,
                          size_t errlen)
{
    if (t->rs.n) {
        snprintf(err, errlen, "compare: a comparison is already running (c ends it)");
        return -1;
    }
    int maxB = t->B > t->eval_B ? t->B : t->eval_B;
    replica_source src = {&t->cfg, t->model, &t->policy, &t->sc, &t->opt, maxB, t->T};
    /* on a GPU the models live in device memory the backend does not report: only the host
     * copies for the divergence metrics are checked there */
    size_t avail = replica_mem_available();
    if (bk_get_kind(t->be) != BK_CPU) avail = SIZE_MAX;
    if (replica_fork(&t->rs, &src, specs, n, avail, err, errlen)) return -1;
    for (int i = 0; i < t->rs.n; i++) { /* the steps before the fork are every replica's */
        t->rs.r[i].win_loss_sum = t->win_loss_sum;
        t->rs.r[i].win_loss_n = t->win_loss_n;
    }
    if (divergence_init(&t->div, &t->rs)) {
        replica_free(&t->rs);
        snprintf(err, errlen, "compare: out of memory");
        return -1;
    }
    if (!t->ccsv) {
        char path[CFG_PATH_MAX + 32];
        log_path(t, "compare.csv", path, sizeof path);
        if (!(t->ccsv = compare_csv_open(path, err, errlen))) {
            replica_free(&t->rs);
            divergence_free(&t->div);
            return -1;
        }
        csv_notice(t, compare_csv_notice(t->ccsv));
    }
    char names[64] = "";
    for (int i = 0; i < t->rs.n; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? " | " : "",
                 t->rs.r[i].name);
    notify(t, 0, "comparing %s in lockstep from step %lld", names, (long long)t->step);
    return 0;
}

static int compare_from_list(trainer *t, const char *list, char *err, size_t errlen)
{
    replica_spec specs[REPLICA_MAX];
    int n = replica_parse_modes(list, specs, err, errlen);
    return n < 0 ? -1 : trainer_compare_start(t, specs, n, err, errlen);
}

/* From the screen: the run's current mode first, then the others asked for. */
static void compare_start_mask(trainer *t, int mask)
{
    replica_spec specs[REPLICA_MAX];
    int n = 0;
    char err[256];
    memset(specs, 0, sizeof specs);
    specs[n++].mode = t->policy.mode;
    for (int d = 0; d < DT_COUNT; d++)
        if ((mask >> d & 1) && d != (int)t->policy.mode) specs[n++].mode = (dtype_t)d;
    if (n < 2) {
        notify(t, 1, "compare: pick at least one mode besides %s", dtype_label(t->policy.mode));
        return;
    }
    if (trainer_compare_start(t, specs, n, err, sizeof err)) notify(t, 1, "%s", err);
}

static void compare_stop(trainer *t, int keep)
{
    if (!t->rs.n) {
        notify(t, 1, "compare: no comparison is running");
        return;
    }
    if (keep < 0 || keep >= t->rs.n) keep = t->rs.selected;
    const replica *r = &t->rs.r[keep];
    char name[REPLICA_NAME];
    snprintf(name, sizeof name, "%s", r->name);
    t->last_loss = r->last_loss;
    t->last_lr = r->last_lr;
    t->last_norm = r->last_norm;
    t->last_scale = r->last_scale;
    t->last_skipped = r->last_skipped;
    t->win_loss_sum = r->win_loss_sum;
    t->win_loss_n = r->win_loss_n;
    if (r->have_eval) t->last_eval = r->last_eval, t->have_eval = 1;
    t->stats_step = r->stats_step;
    replica_keep(&t->rs, keep, t->model, &t->policy, &t->sc, &t->opt, t->stats, &t->have_stats);
    divergence_free(&t->div);
    notify(t, 0, "comparison ended at step %lld: training goes on as %s (%s)",
           (long long)t->step, name, dtype_label(t->policy.mode));
}

static void compare_select(trainer *t, int i)
{
    if (!t->rs.n || i < 0 || i >= t->rs.n) return;
    t->rs.selected = i;
    notify(t, 0, "replica %s selected: the map, the header and c (end) follow it",
           t->rs.r[i].name);
}

/* 0: one lockstep step done; 1: abandoned by a stop request, as train_step. */
static int compare_step(trainer *t)
{
    /* stats exactly on the steps that log (trainer_run's rule), as train_step */
    int log_step = (t->step + 1) % t->cfg.logging_steps == 0 || t->step + 1 == t->max_steps;
    if (replica_step(&t->rs, &t->data, &t->data_rng, t->B, t->T, t->accum, t->inputs,
                     t->targets, t->step + 1, log_step, &t->stop)) {
        notify(t, 0, "stopped during step %lld: that step is abandoned by every replica; the "
               "state is the one after step %lld", (long long)t->step + 1, (long long)t->step);
        return 1;
    }
    const replica *sel = &t->rs.r[t->rs.selected];
    t->step++;
    t->last_loss = sel->last_loss;
    t->last_lr = sel->last_lr;
    t->last_norm = sel->last_norm;
    t->last_scale = sel->last_scale;
    t->last_skipped = sel->last_skipped;
    t->win_tokens += (int64_t)t->B * t->T * t->accum;
    t->tokens_seen += (uint64_t)t->B * t->T * t->accum;
    t->win_steps++;
    return 0;
}

/* One metrics.csv row per replica, the pairs' drift into compare.csv, a line each. */
static void compare_log(trainer *t, const metric_row *base)
{
    char err[256], line[320];
    divergence_compute(&t->div, &t->rs, t->step);
    for (int i = 0; i < t->rs.n; i++) {
        const replica *p = &t->rs.r[i];
        metric_row r = *base;
        replica_row(&t->rs, i, &r);
        csv_row(t, &r);
        if (p->have_stats && p->stats_step == t->step &&
            layers_csv_write(t->lcsv, t->step, p->name, &p->policy, p->stats, err, sizeof err))
            notify(t, 1, "%s", err);
        if (!t->log) continue;
        snprintf(line, sizeof line, "step %6lld/%lld | %-4s | loss %.4f | lr %.2e | norm %7.4f | "
                 "scale %-8g | ovf %lld (total %lld) | %.0f tok/s", (long long)t->step,
                 (long long)t->max_steps, r.replica, canon_nan(r.loss), r.lr,
                 canon_nan(r.grad_norm), r.loss_scale,
                 (long long)t->rs.r[i].sc.overflow_window, (long long)r.overflow_total,
                 r.tokens_per_s);
        t->log(t->log_ud, line);
    }
    if (compare_csv_write(t->ccsv, &t->div, &t->rs, err, sizeof err)) notify(t, 1, "%s", err);
    for (int k = 0; t->log && k < t->div.n_pairs; k++) {
        const div_pair *p = &t->div.p[k];
        snprintf(line, sizeof line, "compare @%lld | %s vs %s | loss diff %+.4f | weights rel L2 "
                 "%.3e | grad cos %.4f (min %.4f %s)", (long long)t->step, t->rs.r[p->b].name,
                 t->rs.r[p->a].name, p->loss_diff, p->weight_rel_l2, p->grad_cos, p->cos_min,
                 p->cos_min_layer >= 0 ? t->div.layer[p->cos_min_layer] : "-");
        t->log(t->log_ud, line);
    }
    replica_window_reset(&t->rs);
}

/* Every replica on the same eval windows, each starting from the same sample RNG state. */
static void compare_eval(trainer *t)
{
    double t0 = now_s();
    rng_state start = t->sample_rng, end = start;
    for (int i = 0; i < t->rs.n; i++) {
        replica *r = &t->rs.r[i];
        int full = t->cfg.bf16_full_eval || t->cfg.fp16_full_eval;
        dtype_t edt = t->cfg.bf16_full_eval ? DT_BF16 : t->cfg.fp16_full_eval ? DT_F16 : r->policy.mode;
        rng_state rng = start;
        eval_args a = {NULL, &t->data, full ? NULL : &t->policy, edt, t->eval_B, t->T,
                       t->cfg.eval_max_batches, t->inputs, t->targets, t->cfg.sample_length,
                       (float)t->cfg.sample_temperature, &rng, &t->stop};
        replica_eval_args(&t->rs, i, &a);
        int rc = eval_run(&a, &r->last_eval);
        if (rc) {
            if (rc > 0) notify(t, 0, "eval at step %lld stopped by the stop request",
                               (long long)t->step);
            else notify(t, 1, "eval failed: out of memory");
            return;
        }
        if (i == t->rs.selected) end = rng;
        r->last_eval.step = t->step;
        r->have_eval = 1;
        metric_row row;
        metric_row_init(&row, MR_EVAL, t->step);
        row.epoch = (double)t->step / (double)t->steps_per_epoch;
        row.time_s = elapsed(t);
        row.precision = edt;
        snprintf(row.replica, sizeof row.replica, "%s", r->name);
        row.eval_loss = r->last_eval.loss;
        row.eval_ppl = r->last_eval.ppl;
        csv_row(t, &row);
        if (t->log) {
            char line[256];
            snprintf(line, sizeof line, "eval @%lld | %-4s | loss %.4f | ppl %.3f | %.3f bits/token"
                     " | %d windows", (long long)t->step, r->name, r->last_eval.loss,
                     r->last_eval.ppl, r->last_eval.bits, r->last_eval.windows);
            t->log(t->log_ud, line);
        }
    }
    t->sample_rng = end;
    t->evaluated_step = t->step;
    const replica *sel = &t->rs.r[t->rs.selected];
    if (isfinite(sel->last_eval.loss) && !(sel->last_eval.loss >= t->best_metric)) {
        t->best_metric = sel->last_eval.loss;
        t->best_step = t->step;
    }
    t->win_t0 += now_s() - t0;
}

/* Each replica is a complete checkpoint of its own run: <output_dir>/compare-<name>/
 * checkpoint-<step>, resumable alone (a comparison itself is not resumed as one). */
static int compare_save(trainer *t)
{
    int failed = 0;
    char saved[CFG_PATH_MAX + 64] = "", err[512];
    t->save_tried_step = t->step;
    for (int i = 0; i < t->rs.n; i++) {
        replica *r = &t->rs.r[i];
        char out[CFG_PATH_MAX + 32], dir[CFG_PATH_MAX + 64];
        snprintf(out, sizeof out, "%s/compare-%s", t->cfg.output_dir, r->name);
        ckpt_state st;
        state_fill(t, &st);
        st.sc = r->sc;
        st.optim_t = r->opt.t;
        st.mode = r->policy.mode;
        st.win.loss_sum = r->win_loss_sum;
        st.win.loss_n = r->win_loss_n;
        if (ckpt_save(out, r->model, &st, t->cfg.save_total_limit, dir, sizeof dir, err,
                      sizeof err)) {
            notify(t, 1, "save of replica %s failed at step %lld: %s (%s)", r->name,
                   (long long)t->step, err, t->cfg.save_on_error_stop
                   ? "stopping: --save_on_error stop" : "training goes on");
            failed = 1;
            continue;
        }
        snprintf(saved + strlen(saved), sizeof saved - strlen(saved), "%s%s", i ? ", " : "", dir);
    }
    if (failed) {
        if (t->cfg.save_on_error_stop) {
            t->save_failed_stop = 1;
            atomic_store(&t->stop, 1);
        }
        return -1;
    }
    t->last_save_step = t->step;
    notify(t, 0, "saved %s", saved);
    return 0;
}

static void compare_snapshot(trainer *t, feed_snapshot *s)
{
    s->n_replicas = t->rs.n;
    s->replica_selected = t->rs.selected;
    if (!t->rs.n) return;
    for (int i = 0; i < t->rs.n; i++) {
        const replica *r = &t->rs.r[i];
        feed_replica *f = &s->replicas[i];
        snprintf(f->name, sizeof f->name, "%s", r->name);
        f->mode = r->policy.mode;
        f->scaler_enabled = r->sc.enabled;
        f->scaler_dynamic = r->sc.dynamic;
        f->loss_scale = scaler_loss_scale(&r->sc);
        f->growth_tracker = r->sc.growth_tracker;
        f->overflow_total = r->sc.overflow_total;
        f->overflow_window = r->sc.overflow_window;
        f->last_overflow_step = r->sc.last_overflow_step;
        snprintf(f->first_nonfinite, sizeof f->first_nonfinite, "%s", r->sc.first_nonfinite);
        f->loss = r->last_loss;
        f->have_eval = r->have_eval;
        f->eval_step = r->last_eval.step;
        f->eval_loss = r->last_eval.loss;
        f->eval_ppl = r->last_eval.ppl;
        f->eval_bits = r->last_eval.bits;
    }
    s->div_step = t->div.step;
    s->n_div = t->div.n_pairs;
    for (int k = 0; k < t->div.n_pairs; k++) {
        const div_pair *p = &t->div.p[k];
        feed_div *d = &s->div[k];
        d->a = p->a;
        d->b = p->b;
        d->loss_diff = p->loss_diff;
        d->weight_rel_l2 = p->weight_rel_l2;
        d->grad_cos = p->grad_cos;
        d->cos_min = p->cos_min;
        snprintf(d->cos_min_layer, sizeof d->cos_min_layer, "%s",
                 p->cos_min_layer >= 0 ? t->div.layer[p->cos_min_layer] : "");
    }
    /* the rest of the screen follows the selected replica */
    const replica *sel = &t->rs.r[t->rs.selected];
    const feed_replica *f = &s->replicas[t->rs.selected];
    s->mode = sel->policy.mode;
    s->scaler_enabled = f->scaler_enabled;
    s->scaler_dynamic = f->scaler_dynamic;
    s->loss_scale = f->loss_scale;
    s->growth_tracker = f->growth_tracker;
    s->overflow_total = f->overflow_total;
    s->overflow_window = f->overflow_window;
    s->last_overflow_step = f->last_overflow_step;
    snprintf(s->first_nonfinite, sizeof s->first_nonfinite, "%s", f->first_nonfinite);
    s->have_eval = sel->have_eval;
    if (sel->have_eval) {
        s->eval_step = sel->last_eval.step;
        s->eval_loss = sel->last_eval.loss;
        s->eval_ppl = sel->last_eval.ppl;
        s->eval_bits = sel->last_eval.bits;
        snprintf(s->sample, sizeof s->sample, "%s", sel->last_eval.sample);
    }
}
