/* optim.c — learning-rate schedules as Hugging Face's get_*_schedule_with_warmup, the
 * global gradient norm, torch-style clip coefficient, and the AdamW step over all tensors. */
#include "optim.h"

#include <math.h>
#include <stdlib.h>

void optim_init(optim *o, double lr, double beta1, double beta2, double eps,
                double weight_decay, double max_grad_norm, sched_kind sched,
                int64_t warmup_steps, int64_t total_steps)
{
    o->lr = lr;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = weight_decay;
    o->max_grad_norm = max_grad_norm;
    o->sched = sched;
    o->warmup_steps = warmup_steps;
    o->total_steps = total_steps;
    o->t = 0;
}

optim_tensor *optim_tensors_from_model(gpt *m, int *n)
{
    int nt = gpt_num_tensors(m);
    optim_tensor *ts = calloc((size_t)(nt > 0 ? nt : 1), sizeof *ts);
    *n = ts ? nt : 0;
    for (int i = 0; ts && i < nt; i++) {
        const gpt_tensor *g = gpt_tensor_at(m, i);
        ts[i] = (optim_tensor){gpt_params(m) + g->offset, gpt_grads(m) + g->offset,
                               gpt_tensor_adam_m(m, i), gpt_tensor_adam_v(m, i), g->numel,
                               g->decay};
    }
    return ts;
}

static double max1(int64_t x) { return x > 1 ? (double)x : 1.0; }

double optim_lr_lambda(sched_kind sched, int64_t done, int64_t warmup, int64_t total)
{
    if (done < warmup) return (double)done / max1(warmup);
    switch (sched) {
    case SCHED_CONSTANT:
        return 1.0;
    case SCHED_COSINE: { /* num_cycles = 0.5: half a cosine from 1 down to 0 */
        double progress = (double)(done - warmup) / max1(total - warmup);
        double f = 0.5 * (1.0 + cos(M_PI * 0.5 * 2.0 * progress));
        return f > 0.0 ? f : 0.0;
    }
    case SCHED_LINEAR:
    default: {
        double f = (double)(total - done) / max1(total - warmup);
        return f > 0.0 ? f : 0.0;
    }
    }
}

double optim_current_lr(const optim *o)
{
    return o->lr * optim_lr_lambda(o->sched, o->t, o->warmup_steps, o->total_steps);
}

/* Per-tensor sums of squares in one multi-tensor call (one GPU synchronization, not one per
 * tensor), added in tensor order: the same value as summing bk_sumsq tensor by tensor. */
double optim_grad_norm(backend *be, const optim_tensor *ts, int n)
{
    size_t m = (size_t)(n > 0 ? n : 1);
    const float **x = calloc(m, sizeof *x);
    size_t *cnt = calloc(m, sizeof *cnt);
    double *ss = calloc(m, sizeof *ss), sumsq = 0.0;
    if (x && cnt && ss) {
        for (int i = 0; i < n; i++) x[i] = ts[i].g, cnt[i] = ts[i].n;
        bk_sumsq_multi(be, x, cnt, n, ss);
        for (int i = 0; i < n; i++) sumsq += ss[i];
    } else {
        for (int i = 0; i < n; i++) sumsq += bk_sumsq(be, ts[i].g, ts[i].n);
    }
    free(x);
    free(cnt);
    free(ss);
    return sqrt(sumsq);
}

/* torch does this in fp32 tensor arithmetic: coef = max_norm / (norm + 1e-6), clamp(max=1).
 * A NaN coefficient stays NaN as torch.clamp leaves it. */
float optim_clip_coef(double norm, double max_norm)
{
    if (!(max_norm > 0.0)) return 1.0f;
    float coef = (float)max_norm / ((float)norm + 1e-6f);
    if (isnan(coef) || coef < 1.0f) return coef;
    return 1.0f;
}

double optim_step(optim *o, backend *be, const optim_tensor *ts, int n, float grad_mult)
{
    double lr = optim_current_lr(o);
    int t = (int)(o->t + 1);
    for (int i = 0; i < n; i++) {
        double wd = ts[i].decay ? o->weight_decay : 0.0;
        bk_adamw(be, ts[i].p, ts[i].g, ts[i].m, ts[i].v, ts[i].n, lr, o->beta1, o->beta2,
                 o->eps, wd, t, grad_mult);
    }
    o->t++;
    return lr;
}
