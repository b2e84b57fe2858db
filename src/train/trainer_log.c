/* trainer_log.c — what a run reports, for one lane or many: metrics / layers / compare rows,
 * the headless log lines, eval, and the snapshot the screen draws. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evaluate.h"
#include "feed_layer.h"
#include "trainer_impl.h"

_Static_assert(DIV_PAIRS == FEED_MAX_PAIRS, "the screen shows every pair");
_Static_assert(DIV_LAYER_NAME == sizeof(((feed_div *)0)->cos_min_layer),
               "the screen shows the layer name whole");

static double canon_nan(double v) { return isnan(v) ? NAN : v; } /* "nan", never "-nan" */

/* ---- rows ---- */

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
    if (t->csv && metrics_csv_write(t->csv, r, err, sizeof err)) trainer_notify(t, 1, "%s", err);
    if (t->feed) feed_publish_row(t->feed, r);
}

/* ---- train rows and lines ---- */

/* A single run ends its line with the mode; a comparison names each lane after the step. */
static void train_line(trainer *t, const lane *l, const metric_row *r)
{
    char line[320], name[16] = "";
    if (!t->log) return;
    if (t->n_lanes > 1) snprintf(name, sizeof name, " | %-4s", l->name);
    int n = snprintf(line, sizeof line, "step %6lld/%lld%s | loss %.4f | lr %.2e | norm %7.4f | "
                     "scale %-8g | ovf %lld (total %lld) | %.0f tok/s", (long long)t->step,
                     (long long)t->max_steps, name, canon_nan(r->loss), r->lr,
                     canon_nan(r->grad_norm), r->loss_scale, (long long)l->sc.overflow_window,
                     (long long)r->overflow_total, r->tokens_per_s);
    if (t->n_lanes == 1 && n > 0 && (size_t)n < sizeof line)
        snprintf(line + n, sizeof line - (size_t)n, " | %s", dtype_name(l->policy.mode));
    t->log(t->log_ud, line);
}

/* The pairs' drift: compare.csv and a line each. */
static void compare_rows(trainer *t)
{
    char err[256], line[320];
    if (compare_csv_write(t->ccsv, &t->div, t->lanes, err, sizeof err))
        trainer_notify(t, 1, "%s", err);
    for (int k = 0; t->log && k < t->div.n_pairs; k++) {
        const div_pair *p = &t->div.p[k];
        snprintf(line, sizeof line, "compare @%lld | %s vs %s | loss diff %+.4f | weights rel L2 "
                 "%.3e | grad cos %.4f (min %.4f %s)", (long long)t->step, t->lanes[p->b].name,
                 t->lanes[p->a].name, p->loss_diff, p->weight_rel_l2, p->grad_cos, p->cos_min,
                 p->cos_min_layer >= 0 ? t->div.layer[p->cos_min_layer] : "-");
        t->log(t->log_ud, line);
    }
}

/* One metrics.csv row, layers.csv rows and a line per lane; in a comparison the divergence. */
void trainer_log_train(trainer *t)
{
    double now = trainer_now(), dt = now - t->win_t0;
    t->tokens_per_s = dt > 0 ? (double)t->win_tokens / dt : 0;
    t->step_time = t->win_steps ? dt / (double)t->win_steps : 0;
    trainer_ddp_ranks(t, dt); /* a collective: every rank logs the same steps */
    metric_row base;
    metric_row_init(&base, MR_TRAIN, t->step);
    base.epoch = (double)t->step / (double)t->steps_per_epoch;
    base.time_s = trainer_elapsed(t);
    base.tokens_per_s = t->tokens_per_s;
    if (t->n_lanes > 1) divergence_compute(&t->div, t->lanes, t->n_lanes, t->step);
    for (int i = 0; i < t->n_lanes; i++) {
        const lane *l = &t->lanes[i];
        metric_row r = base;
        char err[512];
        lane_row(l, &r);
        csv_row(t, &r);
        const char *label = t->n_lanes > 1 ? l->name : dtype_name(l->policy.mode);
        if (t->lcsv && l->have_stats && l->stats_step == t->step &&
            layers_csv_write(t->lcsv, t->step, label, &l->policy, l->stats,
                             gpt_fp8_const(l->model), err, sizeof err))
            trainer_notify(t, 1, "%s", err);
        else if (t->lcsv && t->nranks > 1 && l->have_comm && l->stats_step == t->step &&
                 layers_csv_write_comm(t->lcsv, t->step, label, t->cfg.ddp_comm_dtype,
                                       &l->comm_stats, err, sizeof err))
            trainer_notify(t, 1, "%s", err);
        train_line(t, l, &r);
    }
    if (t->n_lanes > 1) compare_rows(t);
    for (int i = 0; i < t->n_lanes; i++) lane_window_reset(&t->lanes[i]);
    t->win_tokens = 0;
    t->win_steps = 0;
    t->win_t0 = trainer_now();
}

/* ---- eval ---- */

static dtype_t eval_dtype(const trainer *t, const lane *l, int *full)
{
    *full = t->cfg.bf16_full_eval || t->cfg.fp16_full_eval;
    return t->cfg.bf16_full_eval ? DT_BF16 : t->cfg.fp16_full_eval ? DT_F16 : l->policy.mode;
}

static void eval_row(trainer *t, const lane *l, dtype_t edt, int full)
{
    const eval_result *e = &l->last_eval;
    metric_row r;
    metric_row_init(&r, MR_EVAL, t->step);
    r.epoch = (double)t->step / (double)t->steps_per_epoch;
    r.time_s = trainer_elapsed(t);
    r.precision = edt;
    snprintf(r.replica, sizeof r.replica, "%s", l->name);
    r.eval_loss = e->loss;
    r.eval_ppl = e->ppl;
    csv_row(t, &r);
    if (!t->log) return;
    char line[256], name[16] = "";
    if (t->n_lanes > 1) snprintf(name, sizeof name, " | %-4s", l->name);
    snprintf(line, sizeof line, "eval @%lld%s | loss %.4f | ppl %.3f | %.3f bits/token | "
             "%d windows%s", (long long)t->step, name, e->loss, e->ppl, e->bits, e->windows,
             full && t->n_lanes == 1 ? " (full-precision-cast eval)" : "");
    t->log(t->log_ud, line);
    if (!e->sample[0]) return;
    char smp[sizeof e->sample + 32]; /* the prompt, '|', then the model's text */
    snprintf(smp, sizeof smp, "sample @%lld%s | %s", (long long)t->step, name, e->sample);
    t->log(t->log_ud, smp);
}

/* Every lane on the same eval windows, each from the same sample RNG state; the run's
 * sample RNG goes on from the selected lane's. */
void trainer_eval(trainer *t)
{
    if (t->evaluated_step == t->step) return; /* the e key on a step the schedule evaluated */
    double t0 = trainer_now();
    rng_state start = t->sample_rng, end = start;
    for (int i = 0; i < t->n_lanes; i++) {
        lane *l = &t->lanes[i];
        int full;
        dtype_t edt = eval_dtype(t, l, &full);
        rng_state rng = start;
        char why[256] = "";
        /* ranks evaluate their share of the windows; a stop waits for the eval's end there,
         * where every rank agrees on it */
        eval_args a = {l->model, &t->data, full ? NULL : &l->policy, edt, t->eval_B, t->T,
                       t->cfg.eval_max_batches, t->inputs, t->targets, t->cfg.sample_length,
                       (float)t->cfg.sample_temperature, &rng,
                       t->nranks > 1 ? NULL : &t->stop, t->tok, t->d, why, sizeof why};
        int rc = eval_run(&a, &l->last_eval);
        if (rc == -2) {
            trainer_ddp_fail(t, why);
            return;
        }
        if (rc) {
            if (rc > 0) trainer_notify(t, 0, "eval at step %lld stopped by the stop request%s",
                                       (long long)t->step, t->n_lanes > 1 ? "" : ": not recorded");
            else trainer_notify(t, 1, "eval failed: out of memory");
            return;
        }
        if (i == t->selected) end = rng;
        l->last_eval.step = t->step;
        l->have_eval = 1;
        eval_row(t, l, edt, full);
    }
    t->sample_rng = end;
    t->evaluated_step = t->step;
    const lane *sel = trainer_sel(t);
    if (isfinite(sel->last_eval.loss) && !(sel->last_eval.loss >= t->best_metric)) {
        t->best_metric = sel->last_eval.loss;
        t->best_step = t->step;
    }
    t->win_t0 += trainer_now() - t0; /* eval time is not training throughput */
}

/* ---- snapshot ---- */

/* The precision map: the selected lane's policy and statistics. */
static void snap_layers(trainer *t, feed_snapshot *s)
{
    const lane *sel = trainer_sel(t);
    const prec_policy *p = &sel->policy;
    const fp8_state *fs = gpt_fp8_const(sel->model); /* FP8 rows' scales and histories */
    s->n_layers = p->n < FEED_MAX_LAYERS ? p->n : FEED_MAX_LAYERS;
    for (int i = 0; i < s->n_layers; i++)
        feed_layer_fill(&s->layers[i], p, i, sel->have_stats ? &sel->stats[i] : NULL, fs);
    if (t->nranks > 1 && s->n_layers < FEED_MAX_LAYERS) /* last: after lm_head */
        feed_layer_fill_comm(&s->layers[s->n_layers++], t->cfg.ddp_comm_dtype,
                             sel->have_comm ? &sel->comm_stats : NULL);
    s->fp8 = p->fp8;
    s->fp8_known = 1;
}

static void snap_scaler(const scaler *sc, feed_replica *f)
{
    f->scaler_enabled = sc->enabled;
    f->scaler_dynamic = sc->dynamic;
    f->loss_scale = scaler_loss_scale(sc);
    f->growth_tracker = sc->growth_tracker;
    f->overflow_total = sc->overflow_total;
    f->overflow_window = sc->overflow_window;
    f->last_overflow_step = sc->last_overflow_step;
    snprintf(f->first_nonfinite, sizeof f->first_nonfinite, "%s", sc->first_nonfinite);
}

static void snap_lane(const lane *l, feed_replica *f)
{
    snprintf(f->name, sizeof f->name, "%s", l->name);
    f->mode = l->policy.mode;
    snap_scaler(&l->sc, f);
    f->loss = l->last_loss;
    f->have_eval = l->have_eval;
    f->eval_step = l->last_eval.step;
    f->eval_loss = l->last_eval.loss;
    f->eval_ppl = l->last_eval.ppl;
    f->eval_bits = l->last_eval.bits;
}

/* The lanes and their pairs' drift, while a comparison runs (the screen keeps the last
 * comparison's numbers otherwise: n_replicas says there is none). */
static void snap_compare(trainer *t, feed_snapshot *s)
{
    s->n_replicas = t->n_lanes > 1 ? t->n_lanes : 0;
    s->replica_selected = t->selected;
    if (t->n_lanes == 1) return;
    for (int i = 0; i < t->n_lanes; i++) snap_lane(&t->lanes[i], &s->replicas[i]);
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
}

static void snap_progress(trainer *t, feed_snapshot *s, run_state state)
{
    s->state = state;
    s->step = t->step;
    s->epoch = (double)t->step / (double)t->steps_per_epoch;
    s->elapsed_s = trainer_elapsed(t);
    s->tokens_per_s = t->tokens_per_s;
    s->eta_s = t->step_time * (double)(t->max_steps - t->step);
    if (s->tokens_per_s <= 0 && t->win_steps > 0) { /* before the first log: this window's pace */
        double dt = trainer_now() - t->win_t0;
        if (dt > 0) {
            s->tokens_per_s = (double)t->win_tokens / dt;
            s->eta_s = dt / (double)t->win_steps * (double)(t->max_steps - t->step);
        }
    }
}

/* The memory plan under the policy now (the compute copies follow a mode switch), and
 * what the backend can still give, asked at most once a second (docs/memory.md). */
static void snap_memory(trainer *t, feed_snapshot *s, const prec_policy *p)
{
    gpt_model_memory_plan(t->model, p, &s->mem);
    double now = trainer_now();
    if (!t->mem_available || now - t->mem_asked >= 1.0) {
        t->mem_available = bk_mem_available(t->be);
        t->mem_asked = now;
    }
    s->mem_available = t->mem_available;
}

void trainer_publish(trainer *t, run_state state)
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
    if (t->tok)
        snprintf(s->data_name, sizeof s->data_name, "%s (%s BPE)", t->data.name, t->tok_label);
    else
        snprintf(s->data_name, sizeof s->data_name, "%s", t->data.name);
    const char *mdir = t->cfg.model_name_or_path, *slash = strrchr(mdir, '/');
    snprintf(s->model_name, sizeof s->model_name, "%s", slash ? slash + 1 : mdir);
    snprintf(s->device, sizeof s->device, "%s", bk_describe(t->be));
    snprintf(s->output_dir, sizeof s->output_dir, "%s", t->cfg.output_dir);
    s->max_steps = t->max_steps;
    s->batch = t->B;
    s->n_ranks = t->nranks > 1 && t->ranks ? (t->nranks < FEED_MAX_RANKS ? t->nranks : FEED_MAX_RANKS) : 0;
    s->ddp_zero_stage = t->cfg.zero_stage;
    s->ddp_comm = t->cfg.ddp_comm_dtype;
    s->ddp_nccl = t->dc != NULL;
    if (s->n_ranks) memcpy(s->ranks, t->ranks, (size_t)s->n_ranks * sizeof *s->ranks);
    s->accum = t->accum;
    snap_progress(t, s, state);
    /* the headline, the scaler, eval and the map follow the selected lane */
    const lane *sel = trainer_sel(t);
    s->loss = sel->last_loss;
    s->lr = sel->last_lr;
    s->grad_norm = sel->last_norm;
    s->mode = sel->policy.mode;
    snap_memory(t, s, &sel->policy);
    feed_replica f;
    snap_scaler(&sel->sc, &f);
    s->scaler_enabled = f.scaler_enabled;
    s->scaler_dynamic = f.scaler_dynamic;
    s->loss_scale = f.loss_scale;
    s->growth_tracker = f.growth_tracker;
    s->growth_interval = sel->sc.growth_interval;
    s->overflow_total = f.overflow_total;
    s->overflow_window = f.overflow_window;
    s->last_overflow_step = f.last_overflow_step;
    snprintf(s->first_nonfinite, sizeof s->first_nonfinite, "%s", f.first_nonfinite);
    s->have_eval = sel->have_eval;
    if (sel->have_eval) {
        s->eval_step = sel->last_eval.step;
        s->eval_loss = sel->last_eval.loss;
        s->eval_ppl = sel->last_eval.ppl;
        s->eval_bits = sel->last_eval.bits;
        snprintf(s->sample, sizeof s->sample, "%s", sel->last_eval.sample);
    }
    snprintf(s->message, sizeof s->message, "%s", t->msg);
    s->msg_seq = t->msg_seq;
    s->msg_is_error = t->msg_err;
    snap_layers(t, s);
    snap_compare(t, s);
    feed_publish_snapshot(t->feed, s);
}
