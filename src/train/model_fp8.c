/* model_fp8.c — the model's Linear layers in FP8 (docs/fp8.md): casts of inputs, weights and
 * output gradients with the recipe's scales, the FP8 GEMMs, and what each step records. */
#include "model_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_mx(const gpt *m) { return m->fp8.r.kind == FP8_MXFP8; }
static fp8_format fmt(const gpt *m, fp8_tensor t) { return fp8_format_of(m->fp8.r.format, t); }
/* Where a cast adds its counts: the step's record while a training step records, else
 * nowhere (an evaluation's casts count for nothing). */
static num_stats *cnt(gpt *m, int row, fp8_tensor t)
{
    return m->fp8.recording ? &m->fp8_cnt[fp8_index(row, t)] : NULL;
}
/* TE hands cuBLASLt scale_inv = 1 / scale per operand; their product multiplies the
 * accumulator (docs/fp8.md, "The GEMM"). */
static float inv2(float a, float b) { return (1.0f / a) * (1.0f / b); }
/* ln_f's output: stored in fp32 when lm_head runs in fp8 (gpt_lnf_store) */
static const float *lnf32(const gpt *m) { return (const float *)m->lnf; }

int gpt_fp8_sync(gpt *m, const prec_policy *p)
{
    const fp8_recipe *r = &p->fp8;
    size_t n = (size_t)p->n;
    fp8_state *s = &m->fp8;
    if (!m->fp8_cnt) {
        m->fp8_cnt = calloc(n * FP8_TENSORS, sizeof *m->fp8_cnt);
        m->fp8_sx = calloc(n, sizeof *m->fp8_sx);
        m->fp8_sw = calloc(n, sizeof *m->fp8_sw);
        if (!m->fp8_cnt || !m->fp8_sx || !m->fp8_sw) return -1;
        for (size_t i = 0; i < n; i++) m->fp8_sx[i] = m->fp8_sw[i] = 1.0f;
    }
    int hl = r->history_len < 1 ? 1 : r->history_len;
    if (s->meta && s->n_rows == p->n && s->r.kind == r->kind && s->r.format == r->format &&
        s->r.history_len == hl) {
        s->r.algo = r->algo; /* take effect at the next scale update */
        s->r.margin = r->margin;
        return 0;
    }
    fp8_state ns;
    if (fp8_state_init(&ns, p->n, r)) return -1;
    fp8_state_free(s);
    *s = ns;
    return 0;
}

int gpt_fp8_restore(gpt *m, const prec_policy *p, const uint8_t *bytes, size_t n, char *err,
                    size_t errlen)
{
    if (gpt_fp8_sync(m, p)) {
        snprintf(err, errlen, "out of memory restoring the fp8 state");
        return -1;
    }
    return fp8_state_read(&m->fp8, bytes, n, err, errlen);
}

fp8_state *gpt_fp8(gpt *m) { return &m->fp8; }

num_stats *gpt_fp8_counts(gpt *m, size_t *n)
{
    *n = m->fp8.meta ? (size_t)m->fp8.n_rows * FP8_TENSORS : 0;
    return *n ? m->fp8_cnt : NULL;
}
const fp8_state *gpt_fp8_const(const gpt *m) { return &m->fp8; }

void gpt_fp8_step_begin(gpt *m, const prec_policy *p)
{
    /* a policy that just gained fp8 rows (m, o) gets its state before the step's casts; an
     * allocation failure is the layout's to report */
    if (prec_any_fp8(p) && gpt_fp8_sync(m, p)) return;
    if (!m->fp8.meta) return;
    memset(m->fp8_cnt, 0, (size_t)m->fp8.n_rows * FP8_TENSORS * sizeof *m->fp8_cnt);
    fp8_step_begin(&m->fp8);
}

void gpt_fp8_step_commit(gpt *m, gpt_row_stats *stats)
{
    fp8_state *s = &m->fp8;
    if (!s->meta || !s->recording) return;
    for (int r = 0; r < s->n_rows; r++)
        for (int t = 0; t < FP8_TENSORS; t++) {
            const num_stats *c = &m->fp8_cnt[fp8_index(r, t)];
            if (!c->count) continue;
            fp8_record(s, r, (fp8_tensor)t, c->amax, s->meta[fp8_index(r, t)].used_scale);
            if (stats) num_stats_merge(&stats[r].fp8[t], c);
        }
    fp8_step_commit(s);
}

void gpt_fp8_step_abandon(gpt *m)
{
    if (m->fp8.meta) fp8_step_abandon(&m->fp8);
}

/* The scale of a per-tensor cast of x (n values) now; current scaling measures x first. */
static float cast_scale(gpt *m, int row, fp8_tensor t, const float *x, size_t n)
{
    float amax = m->fp8.r.kind == FP8_CURRENT ? bk_amax(m->be, x, n) : 0.0f;
    float s = fp8_scale_for(&m->fp8, row, t, amax);
    m->fp8.meta[fp8_index(row, t)].used_scale = s;
    return s;
}

/* ---- weights: cast once per step, when the copies are refreshed ---- */

void gpt_fp8_refresh(gpt *m, const prec_policy *p)
{
    if (!prec_any_fp8(p) || !m->fp8.meta) return;
    for (int i = 0; i < m->n_tensors; i++) {
        const gpt_tensor *t = &m->tensors[i];
        int row = t->prec_row;
        if (!p->rows[row].fp8 || t->ndim != 2 || m->copy_off[i] == GPT_NO_COPY) continue;
        const float *w = m->params + t->offset;
        float *q = m->wcopy + m->copy_off[i];
        num_stats *st = cnt(m, row, FP8_T_WEIGHT); /* once per step: refreshes outside
                                                     * one (evaluations) count nothing */
        if (is_mx(m)) {
            /* the forward reduces over C: along rows of the tied (V, C) wte, down the columns
             * of a (C, OC) Conv1D weight */
            bk_mx_quantize(m->be, q, w, t->shape[0], t->shape[1], i == 0, fmt(m, FP8_T_WEIGHT), st);
            m->fp8.meta[fp8_index(row, FP8_T_WEIGHT)].used_scale = 1.0f;
            continue;
        }
        float s = cast_scale(m, row, FP8_T_WEIGHT, w, t->numel);
        m->fp8_sw[row] = s;
        bk_fp8_quantize(m->be, q, w, t->numel, fmt(m, FP8_T_WEIGHT), s, st);
    }
}

/* ---- block Linears ---- */

static const float *wq_of(const gpt *m, int wi) { return m->wcopy + m->copy_off[wi]; }
static const float *bias_of(const gpt *m, int wi)
{
    size_t off = m->copy_off[wi + 1];
    return off == GPT_NO_COPY ? m->params + m->tensors[wi + 1].offset : m->wcopy + off;
}

void gpt_fp8_linear_forward(gpt *m, const prec_policy *p, int row, int wi, float *out,
                            const float *inp, int N, int IC, int OC, int again, num_stats *st)
{
    dtype_t dt = p->rows[row].act;
    size_t n = (size_t)N * IC;
    num_stats *cx = again ? NULL : cnt(m, row, FP8_T_INPUT);
    if (is_mx(m)) {
        bk_mx_quantize(m->be, m->q_a, inp, N, IC, 1, fmt(m, FP8_T_INPUT), cx);
        m->fp8.meta[fp8_index(row, FP8_T_INPUT)].used_scale = 1.0f;
        bk_fp8_matmul_forward(m->be, out, m->q_a, FP8_DEQUANTIZED, wq_of(m, wi), FP8_DEQUANTIZED,
                              bias_of(m, wi), N, IC, OC, 0, 1.0f, dt, st);
        return;
    }
    /* the backward casts the saved input again with the forward's scale */
    float sx = again ? m->fp8_sx[row] : cast_scale(m, row, FP8_T_INPUT, inp, n);
    m->fp8_sx[row] = sx;
    bk_fp8_quantize(m->be, m->q_a, inp, n, fmt(m, FP8_T_INPUT), sx, cx);
    bk_fp8_matmul_forward(m->be, out, m->q_a, fmt(m, FP8_T_INPUT), wq_of(m, wi),
                          fmt(m, FP8_T_WEIGHT), bias_of(m, wi), N, IC, OC, 0,
                          inv2(sx, m->fp8_sw[row]), dt, st);
}

/* MXFP8's backward: the data gradient reduces over OC (dout along its rows, the weight along
 * its rows), the weight gradient over N (both operands down their columns): each operand is
 * cast again for the reduction it feeds, as TE keeps row- and column-wise copies. */
static void mx_linear_backward(gpt *m, const prec_policy *p, int row, int wi, float *dinp,
                               const float *dout, const float *inp, int N, int IC, int OC,
                               num_stats *st_dinp, num_stats *st_dw)
{
    dtype_t g = p->rows[row].grad;
    fp8_format fg = fmt(m, FP8_T_GRAD), fx = fmt(m, FP8_T_INPUT), fw = fmt(m, FP8_T_WEIGHT);
    const gpt_tensor *w = &m->tensors[wi];
    float *dw = m->grads + w->offset, *db = m->grads + m->tensors[wi + 1].offset;
    /* the input first: it may have been unpacked where dinp goes (model.c, linear_backward) */
    bk_mx_quantize(m->be, m->q_a, inp, N, IC, 0, fx, NULL);
    bk_mx_quantize(m->be, m->q_g, dout, N, OC, 1, fg, cnt(m, row, FP8_T_GRAD));
    bk_mx_quantize(m->be, m->q_b, m->params + w->offset, IC, OC, 1, fw, NULL);
    bk_fp8_matmul_backward(m->be, dinp, NULL, db, dout, m->q_g, FP8_DEQUANTIZED, NULL,
                           FP8_DEQUANTIZED, m->q_b, FP8_DEQUANTIZED, N, IC, OC, 0, 1.0f, 1.0f, g,
                           st_dinp, st_dw);
    bk_mx_quantize(m->be, m->q_g, dout, N, OC, 0, fg, NULL);
    bk_fp8_matmul_backward(m->be, NULL, dw, NULL, dout, m->q_g, FP8_DEQUANTIZED, m->q_a,
                           FP8_DEQUANTIZED, NULL, FP8_DEQUANTIZED, N, IC, OC, 0, 1.0f, 1.0f, g,
                           NULL, st_dw);
}

void gpt_fp8_linear_backward(gpt *m, const prec_policy *p, int row, int wi, float *dinp,
                             const float *dout, const float *inp, int N, int IC, int OC,
                             num_stats *st_dinp, num_stats *st_dw)
{
    if (is_mx(m)) {
        mx_linear_backward(m, p, row, wi, dinp, dout, inp, N, IC, OC, st_dinp, st_dw);
        return;
    }
    size_t nx = (size_t)N * IC, ng = (size_t)N * OC;
    fp8_format fg = fmt(m, FP8_T_GRAD), fx = fmt(m, FP8_T_INPUT);
    float sg = cast_scale(m, row, FP8_T_GRAD, dout, ng), sx = m->fp8_sx[row];
    bk_fp8_quantize(m->be, m->q_g, dout, ng, fg, sg, cnt(m, row, FP8_T_GRAD));
    /* the saved input, cast as the forward cast it (TE keeps the FP8 copy; recasting the same
     * values with the same scale gives the same bits) */
    bk_fp8_quantize(m->be, m->q_a, inp, nx, fx, sx, NULL);
    float *dw = m->grads + m->tensors[wi].offset, *db = m->grads + m->tensors[wi + 1].offset;
    bk_fp8_matmul_backward(m->be, dinp, dw, db, dout, m->q_g, fg, m->q_a, fx, wq_of(m, wi),
                           fmt(m, FP8_T_WEIGHT), N, IC, OC, 0, inv2(sg, m->fp8_sw[row]),
                           inv2(sx, sg), p->rows[row].grad, st_dinp, st_dw);
}

/* ---- lm_head (the tied wte, stored (V, C)), chunk by chunk ---- */

static int row_head(const gpt *m) { return m->fp8.n_rows - 2; }

/* dlogits' casts count in the pass that first makes them (the fused one when it ran). */
static num_stats *cls_grad_cnt(gpt *m)
{
    return m->cls.fp8_grad_counted ? NULL : cnt(m, row_head(m), FP8_T_GRAD);
}

void gpt_fp8_cls_begin(gpt *m, int N)
{
    int C = m->cfg.n_embd, rh = row_head(m);
    size_t n = (size_t)N * C;
    /* counted once per forward: a backward's or a sample's recomputation casts again */
    num_stats *st = m->cls.fp8_counted ? NULL : cnt(m, rh, FP8_T_INPUT);
    m->cls.fp8_counted = 1;
    if (is_mx(m)) {
        bk_mx_quantize(m->be, m->q_a, lnf32(m), N, C, 1, fmt(m, FP8_T_INPUT), st);
        m->cls.fp8_wt_ready = 0;
        return;
    }
    float sx = cast_scale(m, rh, FP8_T_INPUT, lnf32(m), n);
    m->fp8_sx[rh] = sx;
    bk_fp8_quantize(m->be, m->q_a, lnf32(m), n, fmt(m, FP8_T_INPUT), sx, st);
}

void gpt_fp8_cls_logits(gpt *m, int c0, int rows, num_stats *st)
{
    int C = m->cfg.n_embd, V = m->cfg.vocab_size, rh = row_head(m);
    const float *x = m->q_a + (size_t)c0 * C, *w = wq_of(m, 0);
    if (is_mx(m))
        bk_fp8_matmul_forward(m->be, m->logits, x, FP8_DEQUANTIZED, w, FP8_DEQUANTIZED, NULL, rows,
                              C, V, 1, 1.0f, m->cls.act_dt, st);
    else
        bk_fp8_matmul_forward(m->be, m->logits, x, fmt(m, FP8_T_INPUT), w, fmt(m, FP8_T_WEIGHT),
                              NULL, rows, C, V, 1, inv2(m->fp8_sx[rh], m->fp8_sw[rh]),
                              m->cls.act_dt, st);
}

/* MXFP8: dlnf reduces over V, so the (V, C) weight is cast down its columns, once per pass. */
static void mx_cls_backward(gpt *m, int c0, int rows, num_stats *st_dinp, dtype_t g)
{
    int C = m->cfg.n_embd, V = m->cfg.vocab_size;
    fp8_format fg = fmt(m, FP8_T_GRAD);
    if (!m->cls.fp8_wt_ready) {
        bk_mx_quantize(m->be, m->q_b, m->params + m->tensors[0].offset, V, C, 0,
                       fmt(m, FP8_T_WEIGHT), NULL);
        m->cls.fp8_wt_ready = 1;
    }
    bk_mx_quantize(m->be, m->q_g, m->dlogits, rows, V, 1, fg, cls_grad_cnt(m));
    bk_fp8_matmul_backward(m->be, m->dlnf + (size_t)c0 * C, NULL, NULL, NULL, m->q_g,
                           FP8_DEQUANTIZED, NULL, FP8_DEQUANTIZED, m->q_b, FP8_DEQUANTIZED, rows,
                           C, V, 1, 1.0f, 1.0f, g, st_dinp, NULL);
    /* the weight gradient reduces over the chunk's rows: blocks of 32 rows within the chunk;
     * this chunk's forward cast of ln_f has served its logits, so it is cast again in place */
    float *x = m->q_a + (size_t)c0 * C;
    bk_mx_quantize(m->be, m->q_g, m->dlogits, rows, V, 0, fg, NULL);
    bk_mx_quantize(m->be, x, lnf32(m) + (size_t)c0 * C, rows, C, 0, fmt(m, FP8_T_INPUT), NULL);
    bk_gemm(m->be, m->cls.sum, DT_F32, m->q_g, DT_F32, 1, x, DT_F32, 0, V, C, rows, 1.0f, c0 > 0,
            NULL);
}

void gpt_fp8_cls_backward(gpt *m, const prec_policy *p, int c0, int rows, num_stats *st_dinp)
{
    int C = m->cfg.n_embd, V = m->cfg.vocab_size, rh = row_head(m);
    dtype_t g = p->rows[rh].grad;
    if (is_mx(m)) {
        mx_cls_backward(m, c0, rows, st_dinp, g);
        return;
    }
    fp8_format fg = fmt(m, FP8_T_GRAD);
    size_t ng = (size_t)rows * V;
    /* current scaling measures each chunk's dlogits: the whole tensor never exists at once */
    float sg = cast_scale(m, rh, FP8_T_GRAD, m->dlogits, ng);
    bk_fp8_quantize(m->be, m->q_g, m->dlogits, ng, fg, sg, cls_grad_cnt(m));
    bk_fp8_matmul_backward(m->be, m->dlnf + (size_t)c0 * C, NULL, NULL, NULL, m->q_g, fg, NULL,
                           fmt(m, FP8_T_INPUT), wq_of(m, 0), fmt(m, FP8_T_WEIGHT), rows, C, V, 1,
                           inv2(sg, m->fp8_sw[rh]), 1.0f, g, st_dinp, NULL);
    /* dW (V, C) += dlogits^T @ ln_f, unrounded across chunks as in the other modes */
    bk_gemm(m->be, m->cls.sum, DT_F32, m->q_g, DT_F32, 1, m->q_a + (size_t)c0 * C, DT_F32, 0, V, C,
            rows, inv2(m->fp8_sx[rh], sg), c0 > 0, NULL);
}

/* ---- per forward ---- */

void gpt_fp8_forward_begin(gpt *m)
{
    m->cls.fp8_counted = 0;
    m->cls.fp8_grad_counted = 0;
}
