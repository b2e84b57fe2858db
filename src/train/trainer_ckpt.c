/* trainer_ckpt.c — the run's checkpoints: one per lane (a single run in output_dir, each lane of
 * a comparison in output_dir/compare-<name>), and resuming a single run from one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer_impl.h"

/* ---- save ---- */

static void state_fill(const trainer *t, const lane *l, ckpt_state *st)
{
    memset(st, 0, sizeof *st);
    st->global_step = t->step;
    st->epoch = (double)t->step / (double)t->steps_per_epoch;
    st->elapsed_s = trainer_elapsed(t);
    st->tokens_seen = t->tokens_seen;
    st->sc = l->sc;
    st->optim_t = l->opt.t;
    st->data_rng = t->data_rng;
    st->sample_rng = t->sample_rng;
    st->mode = l->policy.mode;
    memcpy(st->overrides, t->ovr, sizeof st->overrides);
    st->n_overrides = t->n_ovr;
    st->best_metric = t->best_metric;
    st->best_step = t->best_step;
    st->log_history = t->history;
    st->n_log = t->n_history;
    st->win = (ckpt_window){1, l->win_loss_sum, l->win_loss_n, t->win_steps, t->win_tokens,
                            t->win_steps ? trainer_now() - t->win_t0 : 0};
}

/* Each lane of a comparison is a complete checkpoint of its own run, resumable alone (a
 * comparison itself is not resumed as one). */
/* ZeRO-1: each rank holds its own tensors' AdamW m and v; rank 0 takes every tensor's
 * into host memory before it writes (the checkpoint is the single-process one:
 * docs/dist.md). hm, hv: n_params floats each on rank 0 (NULL elsewhere, and when the state
 * is not sharded). */
static int zero1_gather(trainer *t, float **hm, float **hv)
{
    *hm = *hv = NULL;
    gpt *m = t->model;
    if (gpt_adam_ranks(m) < 2) return 0;
    backend *be = gpt_backend(m);
    char err[256];
    size_t P = gpt_num_params(m), big = gpt_largest_tensor(m);
    float *tmp = malloc((big ? big : 1) * sizeof *tmp);
    if (t->rank == 0) {
        *hm = malloc((P ? P : 1) * sizeof **hm);
        *hv = malloc((P ? P : 1) * sizeof **hv);
    }
    /* every rank goes through every tensor, so a rank short of memory still answers */
    int oom = !tmp || (t->rank == 0 && (!*hm || !*hv)), rc = 0;
    int32_t any = oom;
    if (dist_allreduce_max_i32(t->d, &any, 1, err, sizeof err)) rc = -1;
    else if (any) rc = -1, snprintf(err, sizeof err, "out of memory gathering AdamW state");
    for (int i = 0; !rc && i < gpt_num_tensors(m); i++) {
        const gpt_tensor *g = gpt_tensor_at(m, i);
        int owner = gpt_adam_owner(m, i, t->nranks);
        size_t bytes = g->numel * sizeof(float);
        float *mine[2] = {gpt_tensor_adam_m(m, i), gpt_tensor_adam_v(m, i)};
        float *all[2] = {*hm ? *hm + g->offset : NULL, *hv ? *hv + g->offset : NULL};
        for (int k = 0; !rc && k < 2; k++) {
            if (t->rank == owner) bk_download(be, t->rank == 0 ? all[k] : tmp, mine[k], bytes);
            if (dist_send(t->d, t->rank == 0 ? all[k] : tmp, bytes, owner, 0, err, sizeof err))
                rc = -1;
        }
    }
    free(tmp);
    if (rc) {
        free(*hm), free(*hv);
        *hm = *hv = NULL;
        trainer_ddp_fail(t, err);
    }
    return rc;
}

int trainer_save(trainer *t)
{
    int failed = 0, cmp = t->n_lanes > 1, stop = t->cfg.save_on_error_stop;
    char saved[CFG_PATH_MAX + 64] = "", err[512];
    t->save_tried_step = t->step;
    float *hm, *hv;
    if (zero1_gather(t, &hm, &hv)) return -1;
    if (!trainer_writes(t)) { /* rank 0 writes; the others hold the same state */
        t->last_save_step = t->step;
        return 0;
    }
    for (int i = 0; i < t->n_lanes; i++) {
        lane *l = &t->lanes[i];
        char out[CFG_PATH_MAX + 32], dir[CFG_PATH_MAX + 64], who[32] = "";
        if (cmp) snprintf(out, sizeof out, "%s/compare-%s", t->cfg.output_dir, l->name);
        else snprintf(out, sizeof out, "%s", t->cfg.output_dir);
        ckpt_state st;
        state_fill(t, l, &st);
        st.tokenizer_dir = t->tok ? t->tok_dir : NULL;
        st.block_size = t->T;
        st.adam_host[0] = hm, st.adam_host[1] = hv;
        if (ckpt_save(out, l->model, &st, t->cfg.save_total_limit, dir, sizeof dir, err,
                      sizeof err)) {
            if (cmp) snprintf(who, sizeof who, " of replica %s", l->name);
            trainer_notify(t, 1, "save%s failed at step %lld: %s (%s)", who, (long long)t->step,
                           err, stop ? "stopping: --save_on_error stop" : "training goes on");
            failed = 1;
            continue;
        }
        snprintf(saved + strlen(saved), sizeof saved - strlen(saved), "%s%s", i ? ", " : "", dir);
    }
    free(hm);
    free(hv);
    if (failed) {
        if (stop) {
            t->save_failed_stop = 1;
            atomic_store(&t->stop, 1);
        }
        return -1;
    }
    t->last_save_step = t->step;
    trainer_notify(t, 0, "saved %s", saved);
    return 0;
}

/* ---- resume ---- */

static int restore_policy(trainer *t, lane *l, const ckpt_state *st, char *err, size_t errlen)
{
    for (int i = 0; i < l->policy.n; i++) l->policy.rows[i].override = -1;
    prec_set_mode(&l->policy, st->mode);
    for (int i = 0; i < st->n_overrides; i++)
        if (prec_set_override(&l->policy, st->overrides[i].pattern, st->overrides[i].dtype, err,
                              errlen) < 0)
            return -1;
    memcpy(t->ovr, st->overrides, sizeof t->ovr);
    t->n_ovr = st->n_overrides;
    return 0;
}

/* FP8 scales and histories (docs/fp8.md, "Checkpoints") under this run's recipe. */
static int restore_fp8(trainer *t, lane *l, const char *dir, const ckpt_state *st, char *err,
                       size_t errlen)
{
    char why[256];
    if (gpt_fp8_restore(t->model, &l->policy, st->fp8, st->fp8_n, why, sizeof why) == 0)
        return 0;
    snprintf(err, errlen, "%s/fp8_state.bin: %s (remove the file to resume with fresh fp8 "
             "scales)", dir, why);
    return -1;
}

/* The logging window open at the save continues, so the first row after the resume averages
 * the same steps as the uninterrupted run's. */
static void resume_window(trainer *t, lane *l, const ckpt_window *w)
{
    if (!w->known) return; /* an older checkpoint: the window restarts here */
    l->win_loss_sum = w->loss_sum;
    l->win_loss_n = (int)w->loss_n;
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
        trainer_log_path(t, files[i], path, sizeof path);
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
static void cli_precision_wins(trainer *t, lane *l)
{
    dtype_t ck = l->policy.mode, cli = t->cfg.precision;
    if (!t->cfg.precision_from_cli || ck == cli) return;
    lane_set_mode(l, &t->cfg, cli);
    trainer_notify(t, 0, "precision from the command line (%s) overrides the checkpoint's %s",
                   dtype_name(cli), dtype_name(ck));
}

static void resume_notice(trainer *t, const char *dir, const ckpt_state *st)
{
    char drops[512] = "", old[160] = "";
    int bad = trainer_writes(t) ? drop_newer_rows(t, drops, sizeof drops) : 0;
    if (!st->win.known && t->step % t->cfg.logging_steps && t->step < t->max_steps)
        snprintf(old, sizeof old, "; this checkpoint predates the saved log window: the next "
                 "train row averages only the steps after %lld", (long long)t->step);
    trainer_notify(t, bad, "resumed from %s at step %lld%s%s", dir, (long long)t->step, drops,
                   old);
}

/* Everything that decides what happens next comes back: weights, m, v, scaler, AdamW step,
 * both RNGs, policy, history; the run then continues as if it had never stopped. */
int trainer_resume(trainer *t, char *err, size_t errlen)
{
    char dir[CFG_PATH_MAX];
    const char *arg = t->cfg.resume_from_checkpoint;
    lane *l = &t->lanes[0];
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
    if (restore_policy(t, l, &st, err, errlen) ||
        (st.fp8 && restore_fp8(t, l, dir, &st, err, errlen))) {
        ckpt_state_free(&st);
        return -1;
    }
    t->step = st.global_step;
    t->elapsed_base = st.elapsed_s;
    t->tokens_seen = st.tokens_seen;
    l->sc = st.sc;
    l->opt.t = st.optim_t;
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
    resume_window(t, l, &st.win);
    for (size_t i = 0; i < t->n_history; i++) /* `e` on the resume step evaluates it once */
        if (t->history[i].kind == MR_EVAL && t->history[i].step == t->step)
            t->evaluated_step = t->step;
    resume_notice(t, dir, &st);
    cli_precision_wins(t, l);
    return 0;
}
