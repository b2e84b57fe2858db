/* model_plan.c — the model's buffers as one list (allocated, freed and planned from it) and
 * the memory plan: bytes by role and dtype, backend workspace, checkpoint staging. */
#include "model_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- buffers: the one list gpt_create allocates, gpt_free frees and gpt_memory_plan sums
 * (docs/memory.md) ---- */

static void *slot_of(const buf_walk *w, void *field) { return w->m->blocks ? field : NULL; }

static void buf_emit(const buf_walk *w, void *field, size_t n, mem_kind kind, int dt, int store,
                     int dyn)
{
    gpt_buf b = {slot_of(w, field), n, kind, dt, store, dyn};
    w->fn(w->ctx, &b);
}

/* The dtype policy row `row` gives its activations and gradients (the same dtype, precision.c);
 * fp32 without a policy. */
static int pdt(const buf_walk *w, int row)
{
    return w->p ? (int)w->p->rows[row].act : DT_F32;
}

static int is16(int dt) { return dt == DT_F16 || dt == DT_BF16; }

int gpt_copy_needed(const gpt *m, const prec_policy *p, int i)
{
    const gpt_tensor *t = &m->tensors[i];
    /* an fp8 row's weight matrix is cast once per step (docs/fp8.md), its bias rounded */
    if (p && p->rows[t->prec_row].fp8) return 1;
    /* a 16-bit bias joins the GEMM's accumulator as it is, so it is rounded beforehand; weight
     * matrices, the tied wte included, are rounded from the master by the GEMM that reads
     * them (the CPU one tile at a time: docs/memory.md) */
    return p && is16(p->rows[t->prec_row].w) && t->ndim == 1;
}

/* The dtype a tensor's copy holds values of: an fp8 row's weight matrices hold FP8 values. */
static int copy_dt(const gpt *m, const prec_policy *p, int i)
{
    const gpt_tensor *t = &m->tensors[i];
    const prec_layer *r = &p->rows[t->prec_row];
    return r->fp8 && t->ndim == 2 ? DT_FP8 : (int)r->w;
}

dtype_t gpt_lnf_store(const prec_policy *p)
{
    if (!p || p->rows[prec_row_lmhead(p)].fp8) return DT_F32;
    dtype_t a = p->rows[prec_row_lnf(p)].act;
    return is16((int)a) ? a : DT_F32;
}

/* Values of the largest weight matrix an fp8 row casts (MXFP8's backward copy, q_b). */
static size_t fp8_weight_max(const buf_walk *w)
{
    size_t n = 0;
    for (int i = 0; w->p && i < w->m->n_tensors; i++) {
        const gpt_tensor *t = &w->m->tensors[i];
        if (w->p->rows[t->prec_row].fp8 && t->ndim == 2 && t->numel > n) n = t->numel;
    }
    return n;
}

/* Values of the weight copies under the policy. */
static size_t copies_n(const buf_walk *w)
{
    size_t n = 0;
    for (int i = 0; i < w->m->n_tensors; i++)
        if (gpt_copy_needed(w->m, w->p, i)) n += w->m->tensors[i].numel;
    return n;
}

/* Whether any row computes in 16 bits (a saved activation to unpack, a gradient to pass). */
static int any16(const buf_walk *w)
{
    for (int i = 0; w->p && i < w->p->n; i++)
        if (is16(w->p->rows[i].act)) return 1;
    return 0;
}

/* Whether some block's attention reads c_attn's output in another dtype (a cast copy). */
static int any_qkv_cast(const buf_walk *w)
{
    for (int l = 0; w->p && l < w->m->cfg.n_layer; l++) {
        int r = prec_block_row(l, 0);
        if (w->p->rows[r + PR_QKV].act != w->p->rows[r + PR_ATTN].act) return 1;
    }
    return 0;
}

/* fixed size, stored as fp32 (values of dtype dt) */
#define BUF(field, n, kind, dt) buf_emit(w, &(field), (n), (kind), (dt), DT_F32, 0)
/* size set by the policy */
#define DYN(field, n, kind, dt, store) buf_emit(w, &(field), (n), (kind), (dt), (store), 1)

const int gpt_saved_row[SA_COUNT] = {PR_LN1, PR_QKV, PR_ATTN, PR_LN2, PR_FC, PR_GELU};

static void bufs_block(const buf_walk *w, int l, size_t B, size_t T)
{
    gpt *m = w->m;
    size_t C = (size_t)m->cfg.n_embd, NH = (size_t)m->cfg.n_head, BT = B * T;
    gpt_block_acts dummy, *b = m->blocks ? &m->blocks[l] : &dummy;
    int r = prec_block_row(l, 0);
    static const int width[SA_COUNT] = {1, 3, 1, 1, 4, 4};
    for (int i = 0; i < SA_COUNT; i++) {
        int dt = pdt(w, r + gpt_saved_row[i]);
        DYN(b->sv[i], BT * C * (size_t)width[i], MEM_ACT, dt, dt); /* stored in its dtype */
    }
    BUF(b->ln1_mean, BT, MEM_ACT, DT_F32);
    BUF(b->ln1_rstd, BT, MEM_ACT, DT_F32);
    BUF(b->att, B * NH * T * 2, MEM_ACT, DT_F32); /* attention's row max and 1/sum */
    BUF(b->ln2_mean, BT, MEM_ACT, DT_F32);
    BUF(b->ln2_rstd, BT, MEM_ACT, DT_F32);
    BUF(b->res3, BT * C, MEM_ACT, DT_F32);
}

void gpt_bufs_walk(const buf_walk *w, int maxB, int maxT)
{
    gpt *m = w->m;
    size_t B = (size_t)maxB, T = (size_t)maxT, C = (size_t)m->cfg.n_embd;
    size_t V = (size_t)m->cfg.vocab_size, BT = B * T;
    size_t P = m->n_params;
    int L = m->cfg.n_layer, r0 = prec_block_row(0, 0);
    int rf = 2 + L * PREC_ROWS_PER_BLOCK, rh = rf + 1; /* ln_f, lm_head (prec_row_lnf) */
    BUF(m->params, P, MEM_MASTER, DT_F32);
    BUF(m->grads, P, MEM_GRAD, DT_F32);
    BUF(m->m, m->mv_n, MEM_ADAM_M, DT_F32); /* this rank's share under ZeRO-1 */
    BUF(m->v, m->mv_n, MEM_ADAM_V, DT_F32);
    DYN(m->wcopy, copies_n(w), MEM_WCOPY, -1, DT_F32); /* values exact in their dtype */
    buf_emit(w, &m->d_inputs, BT, MEM_TOKENS, MEM_DT_I32, MEM_DT_I32, 0);
    buf_emit(w, &m->d_targets, BT, MEM_TOKENS, MEM_DT_I32, MEM_DT_I32, 0);
    for (int l = 0; l < L; l++) bufs_block(w, l, B, T);
    DYN(m->lnf, BT * C, MEM_ACT, pdt(w, rf), gpt_lnf_store(w->p));
    BUF(m->lnf_mean, BT, MEM_ACT, DT_F32);
    BUF(m->lnf_rstd, BT, MEM_ACT, DT_F32);
    size_t chunk = (size_t)gpt_classifier_rows(m->cfg.vocab_size, maxB * maxT);
    BUF(m->logits, chunk * V, MEM_ACT, pdt(w, rh)); /* one chunk of the classifier's rows */
    BUF(m->losses, BT, MEM_ACT, DT_F32);
    /* backward scratch, reused by every block (dtypes of block 0's rows); the forward's
     * working buffers too */
    BUF(m->dres, BT * C, MEM_SCRATCH, DT_F32);
    BUF(m->dc, BT * C, MEM_SCRATCH, pdt(w, r0 + PR_FCPROJ));
    BUF(m->dc2, BT * C, MEM_SCRATCH, pdt(w, r0 + PR_LN2));
    /* the MLP's gradients, GELU's in place (one buffer), then attention's (B,T,3C) */
    BUF(m->d4c, BT * 4 * C, MEM_SCRATCH, pdt(w, r0 + PR_GELU));
    DYN(m->qkv_cast, any_qkv_cast(w) ? BT * 3 * C : 0, MEM_SCRATCH, pdt(w, r0 + PR_ATTN), DT_F32);
    /* dc holds a batch row of c_attn's output (T,3C) from batch 3 up (model.c, attention_backward_rows) */
    DYN(m->unp, any16(w) && B < 3 ? T * 3 * C : 0, MEM_SCRATCH, DT_F32, DT_F32);
    /* FP8 casts of a Linear's input and output gradient (docs/fp8.md): up to (B,T,4C), or
     * a classifier chunk of dlogits when lm_head runs in fp8 */
    int f8 = w->p && prec_any_fp8(w->p), f8h = w->p && w->p->rows[rh].fp8;
    size_t qg = BT * 4 * C > (f8h ? chunk * V : 0) ? BT * 4 * C : chunk * V;
    DYN(m->q_a, f8 ? BT * 4 * C : 0, MEM_SCRATCH, DT_FP8, DT_F32);
    DYN(m->q_g, f8 ? qg : 0, MEM_SCRATCH, DT_FP8, DT_F32);
    DYN(m->q_b, f8 && w->p->fp8.kind == FP8_MXFP8 ? fp8_weight_max(w) : 0, MEM_SCRATCH,
        DT_FP8, DT_F32);
}

#undef DYN
#undef BUF

/* ---- memory plan (docs/memory.md) ---- */

typedef struct {
    gpt_mem_plan *plan;
    const gpt *m;
    const prec_policy *p;
} plan_ctx;

static void plan_one(void *ctx, const gpt_buf *b)
{
    plan_ctx *pc = ctx;
    if (!b->n) return;
    if (b->dt >= 0) {
        mem_plan_add_stored(pc->plan, b->kind, b->dt, b->store, b->n);
        return;
    }
    /* the weight copies: each tensor that keeps one, in its row's weight dtype */
    for (int i = 0; i < pc->m->n_tensors; i++)
        if (gpt_copy_needed(pc->m, pc->p, i))
            mem_plan_add_stored(pc->plan, MEM_WCOPY, copy_dt(pc->m, pc->p, i), DT_F32,
                                pc->m->tensors[i].numel);
}

static void ws_max(size_t *x, size_t v) { *x = v > *x ? v : *x; }

/* Whether the backend copies an operand stored in dtype `have` into scratch to round it to
 * `to`: not when `to` is fp32 or the operand is already in it (cpu_gemm.c reads such inputs
 * as they are, docs/numerics.md). Otherwise it may, so the plan counts it (an upper bound:
 * values that happen to be representable need no copy). */
static int ws_rounds(dtype_t have, dtype_t to) { return to != DT_F32 && have != to; }

/* A GEMM that rounds a weight from its master (bk_gemm_dims), once per distinct shape. */
static void ws_wgemm(bk_workspace_req *q, size_t M, size_t N, size_t K)
{
    bk_gemm_dims d = {(int)M, (int)N, (int)K};
    for (int i = 0; i < q->n_wgemm; i++)
        if (!memcmp(&q->wgemm[i], &d, sizeof d)) return;
    if (q->n_wgemm < BK_WGEMMS) {
        q->wgemm[q->n_wgemm++] = d;
        return;
    }
    ws_max(&q->gemm_b, K * N); /* more shapes than slots (none in a GPT): rounded whole */
}

/* A Linear of n rows, IC -> OC, at policy row r whose input holds values of dtype `in` and
 * whose weight is read as values of dtype `wv` (the fp32 master, or a rounded copy): the
 * operands the backend rounds into scratch (forward: the input and the weight to the weight
 * dtype; backward: the weight and the input to the gradient dtype; dout arrives in it) and the
 * fp32 weight gradient it forms before adding it (when wgrad is set). */
static void ws_linear(bk_workspace_req *q, const prec_layer *r, dtype_t in, dtype_t wv, size_t n,
                      size_t IC, size_t OC, int wgrad)
{
    if (ws_rounds(in, r->w)) ws_max(&q->gemm_a, n * IC);
    if (ws_rounds(wv, r->w)) ws_wgemm(q, n, OC, IC);    /* out = in @ W */
    if (ws_rounds(wv, r->grad)) ws_wgemm(q, n, IC, OC); /* din = dout @ W^T */
    if (ws_rounds(in, r->grad)) ws_max(wgrad ? &q->gemm_c : &q->gemm_b, n * IC);
    if (wgrad) ws_max(&q->wgrad, IC * OC);
}

/* The largest operands one training step at B x T hands the backend (bk_workspace_req). */
static void workspace_req(const gpt *m, const prec_policy *p, int B, int T, bk_workspace_req *q)
{
    size_t C = (size_t)m->cfg.n_embd, V = (size_t)m->cfg.vocab_size, n = (size_t)B * T;
    memset(q, 0, sizeof *q);
    q->ln_rows = n;
    q->ln_c = C;
    q->reduce = n; /* the losses */
    for (int i = 0; i < m->n_tensors; i++) ws_max(&q->reduce, m->tensors[i].numel); /* norms */
    prec_layer f32[PREC_ROWS_PER_BLOCK];
    for (int i = 0; i < PREC_ROWS_PER_BLOCK; i++)
        f32[i] = (prec_layer){.w = DT_F32, .act = DT_F32, .grad = DT_F32};
    for (int l = 0; l < m->cfg.n_layer; l++) {
        const prec_layer *r = p ? &p->rows[prec_block_row(l, 0)] : f32;
        /* an FP8 Linear's operands and result (the CUDA backend casts them to bytes) */
        static const int ic[4] = {1, 1, 1, 4}, oc[4] = {3, 1, 4, 1};
        static const int pr[4] = {PR_QKV, PR_ATTPROJ, PR_FC, PR_FCPROJ};
        for (int k = 0; k < 4; k++)
            if (r[pr[k]].fp8) {
                ws_max(&q->fp8, n * ic[k] * C);
                ws_max(&q->fp8, n * oc[k] * C);
                ws_max(&q->fp8, (size_t)ic[k] * oc[k] * C * C);
            }
        /* a block's weight matrices are read from the fp32 masters (gpt_copy_needed) */
        ws_linear(q, &r[PR_QKV], r[PR_LN1].act, DT_F32, n, C, 3 * C, 1);
        ws_linear(q, &r[PR_ATTPROJ], r[PR_ATTN].act, DT_F32, n, C, C, 1);
        ws_linear(q, &r[PR_FC], r[PR_LN2].act, DT_F32, n, C, 4 * C, 1);
        ws_linear(q, &r[PR_FCPROJ], r[PR_GELU].act, DT_F32, n, 4 * C, C, 1);
    }
    q->att_B = B, q->att_T = T, q->att_C = (int)C, q->att_NH = m->cfg.n_head;
    /* the classifier runs one chunk of rows at a time; its weight gradient is a GEMM into the
     * fp32 sum (wte's gradient or cls.dw), its input ln_f's output (B operand) */
    size_t chunk = (size_t)gpt_classifier_rows(m->cfg.vocab_size, B * T);
    const prec_layer *rh = p ? &p->rows[prec_row_lmhead(p)] : f32;
    /* the tied wte is read from its master: no 16-bit copy unless the row is fp8 */
    ws_linear(q, rh, p ? p->rows[prec_row_lnf(p)].act : DT_F32, rh->fp8 ? rh->w : DT_F32, chunk,
              C, V, 0);
    if (rh->fp8) {
        ws_max(&q->fp8, chunk * V);
        ws_max(&q->fp8, V * C);
        ws_max(&q->fp8, chunk * C);
    }
}

/* The plan of a model that exists or of a shape (m == NULL: a table of tensors is built). */
static int plan_build(const gpt *m, const gpt_config *c, const prec_policy *p, int B, int T,
                      const backend *be, int rank, int ranks, gpt_mem_plan *out)
{
    memset(out, 0, sizeof *out);
    gpt tmp;
    if (!m) {
        memset(&tmp, 0, sizeof tmp);
        tmp.cfg = *c;
        tmp.tensors = calloc((size_t)(2 + c->n_layer * GPT_TENSORS_PER_BLOCK + 2),
                             sizeof *tmp.tensors);
        if (!tmp.tensors) return -1;
        gpt_tensors_build(&tmp);
        gpt_adam_shard_set(&tmp, rank, ranks);
        m = &tmp;
    }
    if (p && p->n_layer != c->n_layer) p = NULL;
    gpt view = *m; /* planning only: no blocks, so no slot is touched */
    view.blocks = NULL;
    plan_ctx pc = {out, m, p};
    buf_walk w = {&view, p, plan_one, &pc};
    gpt_bufs_walk(&w, B, T);
    if (m != &tmp && m->cls.dw) gpt_memory_plan_add_grad_sum(&m->cfg, out);
    if (be) {
        bk_workspace_req q;
        workspace_req(m, p, B, T, &q);
        mem_plan_add_bytes(out, MEM_WORKSPACE, bk_workspace_bytes(be, &q));
        /* ckpt_load checks every tensor before uploading any, one tensor at a time through
         * a host buffer of the largest (checkpoint.c); a save writes the CPU's memory in
         * place. On a GPU the buffer is host memory, not the device's */
        if (bk_get_kind(be) == BK_CPU)
            mem_plan_add(out, MEM_STAGING, DT_F32, 0, gpt_largest_tensor(m));
    }
    if (m == &tmp) free(tmp.tensors);
    return 0;
}

int gpt_memory_plan(const gpt_config *c, const prec_policy *p, int B, int T, const backend *be,
                    gpt_mem_plan *out, char *err, size_t errlen)
{
    return gpt_memory_plan_shard(c, p, B, T, be, 0, 1, out, err, errlen);
}

int gpt_memory_plan_shard(const gpt_config *c, const prec_policy *p, int B, int T,
                          const backend *be, int rank, int ranks, gpt_mem_plan *out,
                          char *err, size_t errlen)
{
    if (gpt_config_check(c, err, errlen)) return -1;
    if (B < 1 || T < 1 || T > c->block_size) {
        snprintf(err, errlen, "model: batch %d x %d does not fit (block_size %d)", B, T,
                 c->block_size);
        return -1;
    }
    if (plan_build(NULL, c, p, B, T, be, rank, ranks, out)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

void gpt_memory_plan_add_grad_sum(const gpt_config *c, gpt_mem_plan *plan)
{
    mem_plan_add(plan, MEM_SCRATCH, DT_F32, 0, (size_t)c->vocab_size * (size_t)c->n_embd);
}

void gpt_model_memory_plan(const gpt *m, const prec_policy *p, gpt_mem_plan *out)
{
    /* m exists: its own share (rank and ranks are for a table built here) */
    if (plan_build(m, &m->cfg, p, m->maxB, m->maxT, m->be, 0, 1, out))
        memset(out, 0, sizeof *out);
}

size_t gpt_memory_bytes(const gpt_config *c, int B, int T)
{
    gpt_mem_plan plan;
    char err[256];
    return gpt_memory_plan(c, NULL, B, T, NULL, &plan, err, sizeof err) ? 0 : plan.total;
}
