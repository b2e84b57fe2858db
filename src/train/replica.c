/* replica.c — lockstep replicas: fork from a run's state, one shared batch sequence, an
 * independent scaler / policy / optimizer per replica, and the hand-back at the end. */
#include "replica.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- memory ---- */

size_t replica_bytes(const gpt_config *c, int B, int T)
{
    size_t L = (size_t)c->n_layer, C = (size_t)c->n_embd;
    size_t params = (size_t)c->vocab_size * C + (size_t)c->block_size * C +
                    L * (12 * C * C + 13 * C) + 2 * C;
    return gpt_memory_bytes(c, B, T) + 2 * params * sizeof(float);
}

size_t replica_mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        unsigned long long kb;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
                fclose(f);
                return (size_t)kb * 1024;
            }
        fclose(f);
    }
    long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (size_t)pages * (size_t)size : SIZE_MAX;
}

static void fmt_bytes(size_t b, char *buf, size_t len)
{
    double v = (double)b;
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (v >= 1024 && i < 4) v /= 1024, i++;
    snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

int replica_check_memory(int n_new, size_t each, size_t available, char *err, size_t errlen)
{
    if (n_new <= 0) return 0;
    size_t need = each > SIZE_MAX / (size_t)n_new ? SIZE_MAX : each * (size_t)n_new;
    if (need <= available) return 0;
    char a[32], b[32], c[32];
    fmt_bytes(need, a, sizeof a);
    fmt_bytes(available, b, sizeof b);
    fmt_bytes(each, c, sizeof c);
    snprintf(err, errlen, "compare: %d more replica%s %s (%s each) but only %s is "
             "available; compare fewer modes or use a smaller model or batch", n_new,
             n_new == 1 ? " needs" : "s need", a, c, b);
    return -1;
}

/* ---- specs ---- */

int replica_parse_modes(const char *list, replica_spec *specs, char *err, size_t errlen)
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
        if (n == REPLICA_MAX) {
            snprintf(err, errlen, "compare: '%s' lists more than %d modes", list, REPLICA_MAX);
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

/* ---- fork ---- */

/* The trainer's rule (docs/loss-scaling.md): dynamic in fp16 by default, as configured otherwise. */
static void scaler_fresh(scaler *sc, const mp_config *c, dtype_t mode, double static_scale)
{
    if (static_scale > 0) {
        scaler_init(sc, 1, 0, (float)static_scale, (float)c->growth_factor,
                    (float)c->backoff_factor, c->growth_interval, (float)c->min_loss_scale);
        return;
    }
    int enabled = c->loss_scale == LS_DYNAMIC || c->loss_scale == LS_STATIC ||
                  (c->loss_scale == LS_AUTO && mode == DT_F16);
    float init = c->loss_scale == LS_STATIC ? (float)c->static_scale : (float)c->init_scale;
    scaler_init(sc, enabled, c->loss_scale != LS_STATIC, init, (float)c->growth_factor,
                (float)c->backoff_factor, c->growth_interval, (float)c->min_loss_scale);
}

static int replica_tables(replica *r, const prec_policy *src, dtype_t mode)
{
    if (prec_init(&r->policy, src->n_layer, mode)) return -1;
    for (int i = 0; i < src->n && i < r->policy.n; i++)
        r->policy.rows[i].override = src->rows[i].override;
    prec_set_mode(&r->policy, mode);
    r->stats = calloc((size_t)r->policy.n, sizeof *r->stats);
    int n = gpt_num_tensors(r->model);
    r->ot = calloc((size_t)n, sizeof *r->ot);
    if (!r->stats || !r->ot) return -1;
    for (int i = 0; i < n; i++) {
        const gpt_tensor *g = gpt_tensor_at(r->model, i);
        r->ot[i] = (optim_tensor){gpt_params(r->model) + g->offset, gpt_grads(r->model) + g->offset,
                                  gpt_adam_m(r->model) + g->offset, gpt_adam_v(r->model) + g->offset,
                                  g->numel, g->decay};
    }
    r->n_ot = n;
    return 0;
}

/* A new model with the source's masters and AdamW state (bit copies). */
static gpt *replica_clone(const replica_source *src, char *err, size_t errlen)
{
    backend *be = gpt_backend(src->model);
    gpt *m = gpt_create(be, gpt_get_config(src->model), src->B, src->T, err, errlen);
    if (!m) return NULL;
    size_t bytes = gpt_num_params(m) * sizeof(float);
    bk_copy(be, gpt_params(m), gpt_params(src->model), bytes);
    bk_copy(be, gpt_adam_m(m), gpt_adam_m(src->model), bytes);
    bk_copy(be, gpt_adam_v(m), gpt_adam_v(src->model), bytes);
    return m;
}

/* The replica that continues the run: the first in the run's mode, else the first. */
static int heir_index(const replica_source *src, const replica_spec *specs, int n)
{
    for (int i = 0; i < n; i++)
        if (specs[i].mode == src->policy->mode) return i;
    return 0;
}

int replica_fork(replica_set *s, const replica_source *src, const replica_spec *specs, int n,
                 size_t available, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    if (n < 2 || n > REPLICA_MAX) {
        snprintf(err, errlen, "compare: %d replicas asked; 2 or %d can run side by side", n,
                 REPLICA_MAX);
        return -1;
    }
    size_t each = replica_bytes(gpt_get_config(src->model), src->B, src->T);
    if (replica_check_memory(n - 1, each, available, err, errlen)) return -1;
    int heir = heir_index(src, specs, n);
    for (int i = 0; i < n; i++) {
        replica *r = &s->r[i];
        snprintf(r->name, sizeof r->name, "%s", specs[i].name[0] ? specs[i].name
                                                                  : dtype_name(specs[i].mode));
        if (i == heir) {
            r->model = src->model;
        } else if (!(r->model = replica_clone(src, err, errlen))) {
            goto fail;
        } else {
            r->owns_model = 1;
        }
        s->n = i + 1;
        if (replica_tables(r, src->policy, specs[i].mode)) {
            snprintf(err, errlen, "compare: out of memory");
            goto fail;
        }
        if (i == heir && specs[i].static_scale <= 0) r->sc = *src->sc;
        else scaler_fresh(&r->sc, src->cfg, specs[i].mode, specs[i].static_scale);
        r->opt = *src->opt;
        r->last_loss = r->last_lr = r->last_norm = r->last_scale = NAN;
    }
    s->selected = heir;
    return 0;
fail:
    replica_free(s);
    return -1;
}

void replica_free(replica_set *s)
{
    for (int i = 0; i < s->n; i++) {
        replica *r = &s->r[i];
        if (r->owns_model) gpt_free(r->model);
        prec_free(&r->policy);
        free(r->stats);
        free(r->ot);
    }
    memset(s, 0, sizeof *s);
}

/* ---- one step ---- */

/* As the trainer's blame(): the first activation (forward order) whose rounding overflowed,
 * else the last gradient in backward order, else the parameter gradient. */
static void replica_blame(const replica *r, int64_t step, const char *param, char *out,
                          size_t outlen)
{
    const prec_policy *p = &r->policy;
    snprintf(out, outlen, "%s grad", param ? param : "?");
    if (!r->have_stats || r->stats_step != step) return; /* stale: another step's */
    for (int i = 0; i < p->n; i++)
        if (r->stats[i].act.overflow || r->stats[i].act.nonfinite) {
            snprintf(out, outlen, "%s act", p->rows[i].name);
            return;
        }
    for (int i = p->n - 1; i >= 0; i--) {
        const gpt_row_stats *s = &r->stats[i];
        if (s->grad.overflow || s->grad.nonfinite || s->wgrad.overflow || s->wgrad.nonfinite) {
            snprintf(out, outlen, "%s grad", p->rows[i].name);
            return;
        }
    }
}

static int replica_unscale(replica *r, const char **first)
{
    backend *be = gpt_backend(r->model);
    float inv = scaler_inv_scale(&r->sc);
    int found = 0;
    *first = NULL;
    for (int i = 0; i < r->n_ot; i++)
        if (bk_unscale(be, r->ot[i].g, r->ot[i].n, inv) && !found) {
            found = 1;
            *first = gpt_tensor_at(r->model, i)->name;
        }
    return found;
}

/* Unscale, scaler update, clip + AdamW or skip: the trainer's train_step tail, per replica. */
static void replica_update(replica *r, int64_t step, double loss_sum, int n_fin, int accum,
                           float scale)
{
    backend *be = gpt_backend(r->model);
    const char *first;
    int found = replica_unscale(r, &first);
    char where[64];
    if (found) replica_blame(r, step, first, where, sizeof where);
    int skip = scaler_update(&r->sc, found, step, found ? where : NULL);
    double norm = NAN, lr = r->opt.lr * optim_lr_lambda(r->opt.sched, r->opt.t,
                                                         r->opt.warmup_steps, r->opt.total_steps);
    if (!skip) {
        norm = optim_grad_norm(be, r->ot, r->n_ot);
        lr = optim_step(&r->opt, be, r->ot, r->n_ot, optim_clip_coef(norm, r->opt.max_grad_norm));
    }
    r->last_loss = n_fin == accum ? loss_sum / n_fin : NAN;
    r->last_lr = lr;
    r->last_norm = norm;
    r->last_scale = scale;
    r->last_skipped = skip;
    if (n_fin) r->win_loss_sum += loss_sum / n_fin, r->win_loss_n++;
}

int replica_step(replica_set *s, const dataset *d, rng_state *data_rng, int B, int T,
                 int accum, int32_t *inputs, int32_t *targets, int64_t step, int log_step,
                 const atomic_int *stop)
{
    rng_state rng0 = *data_rng;
    float scale[REPLICA_MAX];
    double loss_sum[REPLICA_MAX] = {0};
    int n_fin[REPLICA_MAX] = {0};
    for (int i = 0; i < s->n; i++) {
        replica *r = &s->r[i];
        if (log_step) memset(r->stats, 0, (size_t)r->policy.n * sizeof *r->stats);
        gpt_refresh_copies(r->model, &r->policy);
        gpt_zero_grads(r->model);
        scale[i] = scaler_loss_scale(&r->sc);
        if (log_step) { /* unscaled gradient statistics with this replica's own scale */
            gpt_set_stats_unscale(r->model, scaler_inv_scale(&r->sc));
            r->stats_step = step;
        }
    }
    for (int k = 0; k < accum; k++) {
        if (k > 0 && stop && atomic_load(stop)) {
            *data_rng = rng0;
            for (int i = 0; log_step && i < s->n; i++) s->r[i].have_stats = 0; /* half written */
            return 1;
        }
        data_train_batch(d, data_rng, B, T, inputs, targets); /* once for every replica */
        for (int i = 0; i < s->n; i++) {
            replica *r = &s->r[i];
            gpt_row_stats *st = log_step ? r->stats : NULL;
            float loss = gpt_forward(r->model, &r->policy, inputs, targets, B, T, st);
            gpt_backward(r->model, &r->policy, scale[i] / (float)accum, st);
            if (isfinite(loss)) loss_sum[i] += loss, n_fin[i]++;
        }
    }
    for (int i = 0; i < s->n; i++) {
        s->r[i].have_stats = s->r[i].have_stats || log_step;
        replica_update(&s->r[i], step, loss_sum[i], n_fin[i], accum, scale[i]);
    }
    return 0;
}

/* ---- rows, eval, commands ---- */

void replica_row(const replica_set *s, int i, metric_row *r)
{
    const replica *p = &s->r[i];
    r->precision = p->policy.mode;
    snprintf(r->replica, sizeof r->replica, "%s", p->name);
    r->loss = p->win_loss_n ? p->win_loss_sum / p->win_loss_n : NAN;
    r->lr = p->last_lr;
    r->grad_norm = p->last_norm;
    r->loss_scale = p->last_scale;
    r->overflow = p->last_skipped;
    r->overflow_total = p->sc.overflow_total;
}

void replica_window_reset(replica_set *s)
{
    for (int i = 0; i < s->n; i++) {
        scaler_window_reset(&s->r[i].sc);
        s->r[i].win_loss_sum = 0;
        s->r[i].win_loss_n = 0;
    }
}

void replica_eval_args(replica_set *s, int i, eval_args *a)
{
    a->model = s->r[i].model;
    if (a->policy) a->policy = &s->r[i].policy;
}

int replica_set_override(replica_set *s, const char *pattern, int dtype, char *err,
                         size_t errlen)
{
    int matched = -1;
    for (int i = 0; i < s->n; i++)
        if ((matched = prec_set_override(&s->r[i].policy, pattern, dtype, err, errlen)) < 0)
            return -1; /* same rows in every replica: the first refusal is the only one */
    return matched;
}

void replica_keep(replica_set *s, int keep, gpt *model, prec_policy *policy, scaler *sc,
                  optim *opt, gpt_row_stats *stats, int *have_stats)
{
    replica *r = &s->r[keep];
    if (r->model != model) {
        backend *be = gpt_backend(model);
        size_t bytes = gpt_num_params(model) * sizeof(float);
        bk_copy(be, gpt_params(model), gpt_params(r->model), bytes);
        bk_copy(be, gpt_adam_m(model), gpt_adam_m(r->model), bytes);
        bk_copy(be, gpt_adam_v(model), gpt_adam_v(r->model), bytes);
    }
    for (int i = 0; i < policy->n && i < r->policy.n; i++)
        policy->rows[i].override = r->policy.rows[i].override;
    prec_set_mode(policy, r->policy.mode);
    *sc = r->sc;
    *opt = r->opt;
    memcpy(stats, r->stats, (size_t)policy->n * sizeof *stats);
    *have_stats = r->have_stats;
    replica_free(s);
}

int replica_find(const replica_set *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->r[i].name, name) == 0) return i;
    return -1;
}
