/* lane.c — the lanes of a run: set-up, the fork into a comparison and the hand-back at its
 * end, and the lockstep step (one batch sequence, a scaler / policy / optimizer per lane). */
#include "lane.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feed.h"

_Static_assert(LANE_MAX == FEED_MAX_LANES, "the screen shows every lane");
_Static_assert(LANE_NAME == sizeof(((feed_replica *)0)->name), "the screen shows lane names");

/* ---- memory ---- */

/* The model's part is its memory plan's total under the lane's policy (gpt_memory_plan,
 * docs/memory.md: a 16-bit lane stores its activations in 2 bytes); the backend's workspace
 * is shared by every lane, so it is not counted again. */
size_t lane_bytes(const gpt_config *c, const prec_policy *p, int B, int T, int grad_sum)
{
    gpt_mem_plan plan;
    char err[256];
    if (gpt_memory_plan(c, p, B, T, NULL, &plan, err, sizeof err)) return SIZE_MAX;
    if (grad_sum) gpt_memory_plan_add_grad_sum(c, &plan);
    return plan.total + 2 * gpt_config_num_params(c) * sizeof(float);
}

int lane_check_memory(int n_new, size_t each, size_t available, char *err, size_t errlen)
{
    if (n_new <= 0) return 0;
    size_t need = each > SIZE_MAX / (size_t)n_new ? SIZE_MAX : each * (size_t)n_new;
    if (need <= available) return 0;
    char a[32], b[32], c[32];
    mem_fmt_bytes(need, a, sizeof a);
    mem_fmt_bytes(available, b, sizeof b);
    mem_fmt_bytes(each, c, sizeof c);
    snprintf(err, errlen, "compare: %d more replica%s %s (%s each) but only %s is "
             "available; compare fewer modes or use a smaller model or batch", n_new,
             n_new == 1 ? " needs" : "s need", a, c, b);
    return -1;
}

/* ---- specs ---- */

int lane_parse_modes(const char *list, lane_spec *specs, char *err, size_t errlen)
{
    char buf[64];
    if (!list || strlen(list) >= sizeof buf) {
        snprintf(err, errlen, "compare: the mode list is missing or too long");
        return -1;
    }
    strcpy(buf, list);
    int n = 0, seen[DT_COUNT] = {0};
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        dtype_t dt;
        if (dtype_parse(tok, &dt) || dt >= DT_COUNT) {
            snprintf(err, errlen, "compare: '%s' is not one of fp32, fp16, bf16", tok);
            return -1;
        }
        if (seen[dt]++) {
            snprintf(err, errlen, "compare: '%s' given twice", tok);
            return -1;
        }
        if (n == LANE_MAX) {
            snprintf(err, errlen, "compare: '%s' lists more than %d modes", list, LANE_MAX);
            return -1;
        }
        memset(&specs[n], 0, sizeof specs[n]);
        specs[n++].mode = dt;
    }
    if (n < 2) {
        snprintf(err, errlen, "compare: '%s' needs two or three modes, e.g. fp16,bf16", list);
        return -1;
    }
    return n;
}

/* ---- one lane ---- */

void lane_scaler_fresh(scaler *sc, const mp_config *c, dtype_t mode, double static_scale)
{
    if (static_scale > 0) {
        scaler_init(sc, 1, 0, (float)static_scale, (float)c->growth_factor,
                    (float)c->backoff_factor, c->growth_interval, (float)c->min_loss_scale);
        return;
    }
    int enabled = c->loss_scale == LS_DYNAMIC || c->loss_scale == LS_STATIC ||
                  (c->loss_scale == LS_AUTO && dtype_auto_scaled(mode));
    float init = c->loss_scale == LS_STATIC ? (float)c->static_scale : (float)c->init_scale;
    scaler_init(sc, enabled, c->loss_scale != LS_STATIC, init, (float)c->growth_factor,
                (float)c->backoff_factor, c->growth_interval, (float)c->min_loss_scale);
}

void lane_set_mode(lane *l, const mp_config *c, dtype_t mode)
{
    scaler keep = l->sc;
    prec_set_mode(&l->policy, mode);
    lane_scaler_fresh(&l->sc, c, mode, 0);
    /* counters describe the whole run, whatever the mode */
    l->sc.overflow_total = keep.overflow_total;
    l->sc.overflow_window = keep.overflow_window;
    l->sc.last_overflow_step = keep.last_overflow_step;
    memcpy(l->sc.first_nonfinite, keep.first_nonfinite, sizeof keep.first_nonfinite);
}

/* The optimizer table and statistics of the lane's model and policy. */
static int lane_tables(lane *l)
{
    l->stats = calloc((size_t)l->policy.n, sizeof *l->stats);
    l->ot = optim_tensors_from_model(l->model, &l->n_ot);
    return l->stats && l->ot ? 0 : -1;
}

int lane_init(lane *l, gpt *model, const mp_config *c, int64_t total_steps)
{
    l->model = model;
    l->owns_model = 0;
    if (lane_tables(l)) return -1;
    optim_init(&l->opt, c->learning_rate, c->adam_beta1, c->adam_beta2, c->adam_epsilon,
               c->weight_decay, c->max_grad_norm, c->lr_scheduler_type, c->warmup_steps,
               total_steps);
    lane_scaler_fresh(&l->sc, c, l->policy.mode, 0);
    l->last_loss = l->last_lr = l->last_norm = l->last_scale = NAN;
    return 0;
}

void lane_free(lane *l)
{
    if (l->owns_model) gpt_free(l->model);
    prec_free(&l->policy);
    free(l->stats);
    free(l->ot);
    memset(l, 0, sizeof *l);
}

/* ---- fork and keep ---- */

/* A new model laid out for policy p with the source's masters and AdamW state (bit copies). */
static gpt *lane_clone(gpt *src, const prec_policy *p, int B, int T, char *err, size_t errlen)
{
    backend *be = gpt_backend(src);
    gpt *m = gpt_create_shard(be, gpt_get_config(src), p, B, T, gpt_adam_rank(src),
                              gpt_adam_ranks(src), err, errlen);
    if (!m) return NULL;
    if (gpt_has_grad_sum(src) && gpt_reserve_grad_sum(m)) { /* it accumulates too */
        snprintf(err, errlen, "compare: out of memory");
        gpt_free(m);
        return NULL;
    }
    size_t bytes = gpt_num_params(m) * sizeof(float), mv = gpt_adam_numel(m) * sizeof(float);
    bk_copy(be, gpt_params(m), gpt_params(src), bytes);
    bk_copy(be, gpt_adam_m(m), gpt_adam_m(src), mv);
    bk_copy(be, gpt_adam_v(m), gpt_adam_v(src), mv);
    return m;
}

/* The lane that continues the run: the first in the run's mode, else the first. */
static int heir_index(dtype_t mode, const lane_spec *specs, int n)
{
    for (int i = 0; i < n; i++)
        if (specs[i].mode == mode) return i;
    return 0;
}

/* Lane i of a fork from src, its policy already made (src's overrides in the spec's mode). */
static int fork_one(lane *l, const lane *src, const mp_config *c, const lane_spec *sp,
                    int is_heir)
{
    snprintf(l->name, sizeof l->name, "%s", sp->name[0] ? sp->name : dtype_name(sp->mode));
    if (lane_tables(l)) return -1;
    /* an heir in another mode (no lane in the run's) gets its mode's scaler, as m gives */
    if (is_heir && sp->static_scale <= 0 && sp->mode == src->policy.mode) l->sc = src->sc;
    else lane_scaler_fresh(&l->sc, c, sp->mode, sp->static_scale);
    l->opt = src->opt;
    /* the steps before the fork are every lane's */
    l->win_loss_sum = src->win_loss_sum;
    l->win_loss_n = src->win_loss_n;
    if (is_heir) {
        l->last_loss = src->last_loss, l->last_lr = src->last_lr, l->last_norm = src->last_norm;
        l->last_scale = src->last_scale, l->last_skipped = src->last_skipped;
    } else {
        l->last_loss = l->last_lr = l->last_norm = l->last_scale = NAN;
    }
    return 0;
}

int lane_fork(lane *ls, int *n_lanes, int *heir, const mp_config *c, const lane_spec *specs,
              int n, int B, int T, size_t available, char *err, size_t errlen)
{
    if (n < 2 || n > LANE_MAX) {
        snprintf(err, errlen, "compare: %d replicas asked; 2 or %d can run side by side", n,
                 LANE_MAX);
        return -1;
    }
    const lane *src = &ls[0];
    lane nl[LANE_MAX];
    memset(nl, 0, sizeof nl);
    int h = heir_index(src->policy.mode, specs, n), made = 0;
    /* each new replica as its own policy lays it out; the largest sets "each" */
    size_t each = 0;
    for (int i = 0; i < n; i++) {
        if (prec_init_like(&nl[i].policy, &src->policy, specs[i].mode)) {
            snprintf(err, errlen, "compare: out of memory");
            made = n;
            goto fail;
        }
        /* under gradient accumulation a replica keeps lm_head's sum apart, as the source */
        size_t b = lane_bytes(gpt_get_config(src->model), &nl[i].policy, B, T,
                              gpt_has_grad_sum(src->model));
        if (i != h && b > each) each = b;
    }
    if (lane_check_memory(n - 1, each, available, err, errlen)) {
        made = n;
        goto fail;
    }
    for (; made < n; made++) {
        lane *l = &nl[made];
        if (made == h) {
            l->model = src->model;
        } else if (!(l->model = lane_clone(src->model, &l->policy, B, T, err, errlen))) {
            made = n; /* every lane holds a policy to free */
            goto fail;
        } else {
            l->owns_model = 1;
        }
        if (fork_one(l, src, c, &specs[made], made == h)) {
            snprintf(err, errlen, "compare: out of memory");
            made = n;
            goto fail;
        }
    }
    ls[0].model = NULL; /* now the heir's */
    lane_free(&ls[0]);
    memcpy(ls, nl, sizeof nl);
    *n_lanes = n;
    *heir = h;
    return 0;
fail:
    for (int i = 0; i < made; i++) lane_free(&nl[i]);
    return -1;
}

void lane_keep(lane *ls, int *n_lanes, int keep, gpt *model)
{
    lane *k = &ls[keep];
    if (k->model != model) {
        backend *be = gpt_backend(model);
        size_t bytes = gpt_num_params(model) * sizeof(float);
        size_t mv = gpt_adam_numel(model) * sizeof(float); /* the same share: lane_clone */
        bk_copy(be, gpt_params(model), gpt_params(k->model), bytes);
        bk_copy(be, gpt_adam_m(model), gpt_adam_m(k->model), mv);
        bk_copy(be, gpt_adam_v(model), gpt_adam_v(k->model), mv);
        for (int i = 0; i < *n_lanes; i++)
            if (ls[i].model == model) { /* its table walks the run's model: the keeper's now */
                optim_tensor *ot = ls[i].ot;
                ls[i].ot = k->ot;
                k->ot = ot;
            }
        gpt_free(k->model);
        k->model = model;
        k->owns_model = 0;
    }
    k->name[0] = 0; /* a single run's rows carry no label */
    lane kept = *k;
    memset(k, 0, sizeof *k);
    for (int i = 0; i < *n_lanes; i++) lane_free(&ls[i]);
    ls[0] = kept;
    *n_lanes = 1;
}

/* ---- one step ---- */

/* The tensor to blame for an overflow: the first activation (forward order) whose rounding
 * overflowed, else the first gradient in backward order (the last row), else the parameter
 * gradient. */
static void lane_blame(const lane *l, int64_t step, const char *param, char *out, size_t outlen)
{
    const prec_policy *p = &l->policy;
    snprintf(out, outlen, "%s grad", param ? param : "?");
    if (!l->have_stats || l->stats_step != step) return; /* stale: another step's */
    for (int i = 0; i < p->n; i++)
        if (l->stats[i].act.overflow || l->stats[i].act.nonfinite) {
            snprintf(out, outlen, "%s act", p->rows[i].name);
            return;
        }
    for (int i = p->n - 1; i >= 0; i--) {
        const gpt_row_stats *s = &l->stats[i];
        if (s->grad.overflow || s->grad.nonfinite || s->wgrad.overflow || s->wgrad.nonfinite) {
            snprintf(out, outlen, "%s grad", p->rows[i].name);
            return;
        }
    }
}

/* One multi-tensor pass (a single GPU synchronization); per tensor if the lists cannot be
 * allocated. Returns 1 when a gradient is not finite, *first = its tensor. */
static int lane_unscale(lane *l, const char **first)
{
    backend *be = gpt_backend(l->model);
    float inv = scaler_inv_scale(&l->sc);
    int found = 0, n = l->n_ot;
    *first = NULL;
    float **g = calloc((size_t)(n > 0 ? n : 1), sizeof *g);
    size_t *cnt = calloc((size_t)(n > 0 ? n : 1), sizeof *cnt);
    if (g && cnt) {
        for (int i = 0; i < n; i++) g[i] = l->ot[i].g, cnt[i] = l->ot[i].n;
        int i = bk_unscale_multi(be, g, cnt, n, inv);
        if (i >= 0) found = 1, *first = gpt_tensor_at(l->model, i)->name;
    } else {
        for (int i = 0; i < n; i++)
            if (bk_unscale(be, l->ot[i].g, l->ot[i].n, inv) && !found) {
                found = 1;
                *first = gpt_tensor_at(l->model, i)->name;
            }
    }
    free(g);
    free(cnt);
    return found;
}

static double canon_nan(double v) { return isnan(v) ? NAN : v; } /* "nan", never "-nan" */

/* ---- data parallel (docs/dist.md) ---- */

static int ranks(const lane_batches *b) { return dist_size(b->d); }

/* The lane's gradients summed over the ranks (each already weighted by 1 / ranks): over NCCL
 * on the device when the run has it, else over MPI (through a host copy where the host cannot
 * read the backend's memory). docs/dist.md. */
static int grads_sum(lane *l, const lane_batches *b, num_stats *wire)
{
    backend *be = gpt_backend(l->model);
    float *g = gpt_grads(l->model);
    size_t P = gpt_num_params(l->model);
    if (b->dc) { /* NCCL: the rounding to the wire dtype, then the sum, on the device */
        bk_cast(be, g, g, P, b->comm, wire);
        if (wire && bk_status(be, b->err, b->errlen)) return -1; /* the counts land */
        return devcomm_allreduce_sum(b->dc, g, P, b->comm, b->err, b->errlen);
    }
    if (bk_host_readable(be))
        return dist_allreduce_sum_f32(b->d, g, P, b->comm, wire, b->err, b->errlen);
    float *h = malloc(P * sizeof *h);
    if (!h) return snprintf(b->err, b->errlen, "out of memory for the gradients' host copy"), -1;
    bk_download(be, h, g, P * sizeof *h);
    int rc = dist_allreduce_sum_f32(b->d, h, P, b->comm, wire, b->err, b->errlen);
    if (!rc) bk_upload(be, g, h, P * sizeof *h);
    free(h);
    return rc;
}

/* After the micro-batches: losses, gradients and statistics become the run's, the same on
 * every rank (what one process with every rank's rows would hold, up to summation order). */
static int ddp_reduce(lane *ls, int n, const lane_batches *b, int log_step, double *loss_sum,
                      int *n_fin)
{
    int R = ranks(b);
    double v[2 * LANE_MAX];
    for (int i = 0; i < n; i++) v[2 * i] = loss_sum[i], v[2 * i + 1] = n_fin[i];
    if (dist_allreduce_sum_f64(b->d, v, (size_t)2 * n, b->err, b->errlen)) return -1;
    for (int i = 0; i < n; i++) {
        loss_sum[i] = v[2 * i] / R;
        /* every rank finite: accum; else below it on every rank alike */
        n_fin[i] = v[2 * i + 1] == (double)R * b->accum ? b->accum : (int)(v[2 * i + 1] / R);
        if (n_fin[i] >= b->accum) n_fin[i] = b->accum - (v[2 * i + 1] != (double)R * b->accum);
    }
    for (int i = 0; i < n; i++) {
        lane *l = &ls[i];
        /* a logging step counts what the wire's dtype did to every rank's gradients */
        num_stats *wire = log_step ? &l->comm_stats : NULL;
        if (wire) num_stats_reset(wire);
        if (grads_sum(l, b, wire) ||
            (wire && dist_allreduce_stats(b->d, wire, 1, b->err, b->errlen)))
            return -1;
        if (wire) l->have_comm = 1;
        size_t nc;
        num_stats *c = gpt_fp8_counts(l->model, &nc); /* one amax per tensor on every rank */
        if (c && dist_allreduce_stats(b->d, c, nc, b->err, b->errlen)) return -1;
        if (log_step && dist_allreduce_stats(b->d, (num_stats *)l->stats,
                                             (size_t)l->policy.n * GPT_ROW_STATS_N, b->err,
                                             b->errlen))
            return -1;
    }
    return 0;
}

/* ZeRO-1: AdamW on the tensors this rank owns, then each tensor's new values from its owner. */
static int zero1_step(lane *l, const lane_batches *b, float coef, double *lr)
{
    int R = ranks(b), me = dist_rank(b->d), k = 0;
    optim_tensor *mine = malloc((size_t)(l->n_ot > 0 ? l->n_ot : 1) * sizeof *mine);
    if (!mine) return snprintf(b->err, b->errlen, "out of memory"), -1;
    for (int i = 0; i < l->n_ot; i++)
        if (gpt_adam_owner(l->model, i, R) == me) mine[k++] = l->ot[i];
    *lr = optim_step(&l->opt, gpt_backend(l->model), mine, k, coef);
    free(mine);
    backend *be = gpt_backend(l->model);
    for (int i = 0; i < l->n_ot; i++) {
        size_t bytes = l->ot[i].n * sizeof(float);
        int owner = gpt_adam_owner(l->model, i, R);
        if (bk_host_readable(be)) {
            if (dist_bcast(b->d, l->ot[i].p, bytes, owner, b->err, b->errlen)) return -1;
            continue;
        }
        float *h = malloc(bytes ? bytes : 1);
        if (!h) return snprintf(b->err, b->errlen, "out of memory"), -1;
        if (me == owner) bk_download(be, h, l->ot[i].p, bytes);
        int rc = dist_bcast(b->d, h, bytes, owner, b->err, b->errlen);
        if (!rc) bk_upload(be, l->ot[i].p, h, bytes);
        free(h);
        if (rc) return -1;
    }
    return 0;
}

/* Unscale, scaler update, clip + AdamW or skip. -1 + b->err when a collective failed. */
static int lane_update(lane *l, const lane_batches *b, int64_t step, double loss_sum, int n_fin,
                       float scale, int log_step)
{
    backend *be = gpt_backend(l->model);
    const char *first;
    int found = lane_unscale(l, &first);
    if (ranks(b) > 1) { /* the scaler is the run's: every rank skips, backs off and grows alike */
        int32_t f = found;
        if (dist_allreduce_max_i32(b->d, &f, 1, b->err, b->errlen)) return -1;
        if (f && !found) first = "(another rank's)";
        found = f;
    }
    char where[64];
    if (found) lane_blame(l, step, first, where, sizeof where);
    int skip = scaler_update(&l->sc, found, step, found ? where : NULL);
    double norm = NAN, lr = optim_current_lr(&l->opt);
    if (!skip) {
        norm = canon_nan(optim_grad_norm(be, l->ot, l->n_ot));
        float coef = optim_clip_coef(norm, l->opt.max_grad_norm);
        if (b->zero_stage >= 1 && ranks(b) > 1) {
            if (zero1_step(l, b, coef, &lr)) return -1;
        } else {
            lr = optim_step(&l->opt, be, l->ot, l->n_ot, coef);
        }
    }
    l->last_loss = n_fin == b->accum ? loss_sum / n_fin : NAN;
    l->last_lr = lr;
    l->last_norm = norm;
    l->last_scale = scale;
    l->last_skipped = skip;
    if (n_fin) l->win_loss_sum += loss_sum / n_fin, l->win_loss_n++;
    /* FP8 scales update every iteration, skipped or not, as TE's (docs/fp8.md); the unscale
     * above synchronized, so the casts' counts have landed */
    gpt_fp8_step_commit(l->model, log_step ? l->stats : NULL);
    return 0;
}

/* Puts the data RNG back; statistics half overwritten by this step are not shown. */
static int lane_abandon(lane *ls, int n, const lane_batches *b, rng_state rng0, int log_step,
                        int why)
{
    *b->rng = rng0;
    for (int i = 0; log_step && i < n; i++) ls[i].have_stats = 0;
    for (int i = 0; i < n; i++) gpt_fp8_step_abandon(ls[i].model);
    return why;
}

int lane_step(lane *ls, int n, const lane_batches *b, int64_t step, int log_step,
              const atomic_int *stop, int nan_stop, int *at, double *bad_loss)
{
    rng_state rng0 = *b->rng;
    float scale[LANE_MAX];
    double loss_sum[LANE_MAX] = {0};
    int n_fin[LANE_MAX] = {0};
    for (int i = 0; i < n; i++) {
        lane *l = &ls[i];
        if (log_step) memset(l->stats, 0, (size_t)l->policy.n * sizeof *l->stats);
        gpt_fp8_step_begin(l->model, &l->policy); /* the weight casts of the refresh are this step's */
        gpt_refresh_copies(l->model, &l->policy);
        gpt_zero_grads(l->model);
        scale[i] = scaler_loss_scale(&l->sc);
        if (log_step) { /* unscaled gradient statistics with this lane's own scale */
            gpt_set_stats_unscale(l->model, scaler_inv_scale(&l->sc));
            l->stats_step = step;
        }
    }
    for (int k = 0; k < b->accum; k++) {
        if (k > 0 && stop && atomic_load(stop)) {
            *at = k;
            return lane_abandon(ls, n, b, rng0, log_step, LANE_STEP_STOPPED);
        }
        /* once for all lanes; with ranks, the whole batch, of which this rank takes its rows */
        data_train_batch(b->data, b->rng, b->B * ranks(b), b->T, b->inputs, b->targets);
        size_t mine = (size_t)dist_rank(b->d) * b->B * b->T;
        for (int i = 0; i < n; i++) {
            lane *l = &ls[i];
            gpt_row_stats *st = log_step ? l->stats : NULL;
            /* ranks: each rank's loss counts its rows among all ranks' (1 / ranks folded in,
             * exact for a power of two), so its gradients are the single process's partial
             * sums, fp16 overflows included, and the ranks' gradients are summed (docs/dist.md) */
            float mult = scale[i] / (float)b->accum / (float)ranks(b);
            gpt_prepare_backward(l->model, mult); /* classifier backward inside the forward */
            float loss = gpt_forward(l->model, &l->policy, b->inputs + mine, b->targets + mine,
                                     b->B, b->T, st);
            gpt_backward(l->model, &l->policy, mult, st);
            if (isfinite(loss)) loss_sum[i] += loss, n_fin[i]++;
            else if (n_fin[i] == k && i == 0) *bad_loss = loss; /* the first bad micro-batch */
        }
    }
    if (ranks(b) > 1 && ddp_reduce(ls, n, b, log_step, loss_sum, n_fin))
        return lane_abandon(ls, n, b, rng0, log_step, LANE_STEP_FAILED);
    /* With a scaler a non-finite loss is an overflow (skipped below); without one the weights
     * would turn NaN. */
    for (int i = 0; nan_stop && i < n; i++)
        if (n_fin[i] < b->accum && !ls[i].sc.enabled)
            return lane_abandon(ls, n, b, rng0, log_step, LANE_STEP_NONFINITE);
    for (int i = 0; i < n; i++) {
        ls[i].have_stats = ls[i].have_stats || log_step;
        if (lane_update(&ls[i], b, step, loss_sum[i], n_fin[i], scale[i], log_step))
            return LANE_STEP_FAILED; /* the run ends: nothing to put back */
    }
    return LANE_STEP_DONE;
}

/* ---- rows, commands ---- */

void lane_row(const lane *l, metric_row *r)
{
    r->precision = l->policy.mode;
    snprintf(r->replica, sizeof r->replica, "%s", l->name);
    r->loss = l->win_loss_n ? l->win_loss_sum / l->win_loss_n : NAN;
    r->lr = l->last_lr;
    r->grad_norm = l->last_norm;
    r->loss_scale = l->last_scale;
    r->overflow = l->last_skipped;
    r->overflow_total = l->sc.overflow_total;
}

void lane_window_reset(lane *l)
{
    scaler_window_reset(&l->sc);
    l->win_loss_sum = 0;
    l->win_loss_n = 0;
}

int lane_set_override(lane *ls, int n, const char *pattern, int dtype, char *err,
                      size_t errlen)
{
    int matched = -1;
    for (int i = 0; i < n; i++)
        if ((matched = prec_set_override(&ls[i].policy, pattern, dtype, err, errlen)) < 0)
            return -1; /* same rows in every lane: the first refusal is the only one */
    return matched;
}
