/* feed_layer.c — a precision-map row for the screen: dtypes and override from the policy,
 * health numbers from the row's statistics (health.c), an FP8 row's casts and scales. */
#include "feed_layer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "health.h"
#include "layers_csv.h"

/* An FP8 row's casts: format and scale state always (the map shows them before the first
 * logged step), what the casts did when statistics were gathered. */
static void fill_fp8(feed_layer *L, const prec_policy *p, int row, const gpt_row_stats *rs,
                     const fp8_state *fs)
{
    int have = fs && fs->meta && row < fs->n_rows;
    for (int t = 0; t < FP8_TENSORS; t++) {
        feed_fp8 *c = &L->cast[t];
        c->format = fp8_format_of(p->fp8.format, (fp8_tensor)t);
        c->scale = have ? fs->meta[fp8_index(row, (fp8_tensor)t)].used_scale : 1.0f;
        c->hist_max = have ? fp8_history_max(fs, row, (fp8_tensor)t) : 0.0f;
        if (!rs) continue;
        tensor_health h;
        health_from_stats(&rs->fp8[t], &h);
        c->valid = h.count > 0;
        c->amax = (float)h.amax;
        c->uflow_pct = h.underflow_pct;
        c->ovf = h.overflow;
        c->ovf_pct = h.count ? 100.0 * (double)h.overflow / (double)h.count : 0.0;
    }
}

void feed_layer_fill(feed_layer *L, const prec_policy *p, int row, const gpt_row_stats *rs,
                     const fp8_state *fs)
{
    const prec_layer *r = &p->rows[row];
    snprintf(L->name, sizeof L->name, "%s", r->name);
    L->kind = r->kind;
    L->has_weight = r->has_weight;
    L->w = r->w;
    L->act = r->act;
    L->grad = r->grad;
    L->fp8 = r->fp8;
    L->override = r->override;
    fill_fp8(L, p, row, rs, fs);
    if (!rs) return;
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

void feed_layer_fill_comm(feed_layer *L, dtype_t comm, const num_stats *wire)
{
    memset(L, 0, sizeof *L);
    snprintf(L->name, sizeof L->name, "%s", LAYERS_COMM_ROW);
    L->comm = 1;
    L->override = -1;
    L->w = L->act = L->grad = comm;
    L->act_range = L->grad_range = NAN;
    if (!wire) return;
    tensor_health g;
    health_from_stats(wire, &g);
    L->valid = 1;
    L->grad_amax = (float)g.amax;
    L->grad_amin = wire->amin_nz;
    L->grad_uflow_pct = g.underflow_pct;
    L->grad_range = g.dynamic_range;
    L->grad_ovf = g.overflow + g.nonfinite;
}
