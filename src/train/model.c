/* model.c — GPT-2 forward and backward as a sequence of backend ops, with every dtype read
 * from the precision policy; owns parameters, gradients, AdamW state and activations. */
#include "model_impl.h"

#include "health.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameters ---- */

static void tensor_add(gpt *m, const char *name, int ndim, int s0, int s1, int decay,
                       int prec_row)
{
    gpt_tensor *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->shape[0] = s0;
    t->shape[1] = ndim == 2 ? s1 : 1;
    t->numel = (size_t)s0 * (size_t)t->shape[1];
    t->offset = m->n_params;
    t->decay = decay;
    t->prec_row = prec_row;
    m->n_params += t->numel;
}

void gpt_tensors_build(gpt *m)
{
    const gpt_config *c = &m->cfg;
    int C = c->n_embd, L = c->n_layer;
    char nm[GPT_NAME_MAX];
    /* wte's compute copy serves the tied lm_head, so it takes lm_head's dtype */
    tensor_add(m, "transformer.wte.weight", 2, c->vocab_size, C, 0, 2 + L * PREC_ROWS_PER_BLOCK + 1);
    tensor_add(m, "transformer.wpe.weight", 2, c->block_size, C, 0, 1);
    static const struct { const char *name; int ndim, rows, cols, decay, prow; } bt[] = {
        {"ln_1.weight", 1, 1, 0, 0, PR_LN1},        {"ln_1.bias", 1, 1, 0, 0, PR_LN1},
        {"attn.c_attn.weight", 2, 1, 3, 1, PR_QKV}, {"attn.c_attn.bias", 1, 3, 0, 0, PR_QKV},
        {"attn.c_proj.weight", 2, 1, 1, 1, PR_ATTPROJ}, {"attn.c_proj.bias", 1, 1, 0, 0, PR_ATTPROJ},
        {"ln_2.weight", 1, 1, 0, 0, PR_LN2},        {"ln_2.bias", 1, 1, 0, 0, PR_LN2},
        {"mlp.c_fc.weight", 2, 1, 4, 1, PR_FC},     {"mlp.c_fc.bias", 1, 4, 0, 0, PR_FC},
        {"mlp.c_proj.weight", 2, 4, 1, 1, PR_FCPROJ}, {"mlp.c_proj.bias", 1, 1, 0, 0, PR_FCPROJ},
    };
    for (int l = 0; l < L; l++)
        for (int i = 0; i < GPT_TENSORS_PER_BLOCK; i++) {
            snprintf(nm, sizeof nm, "transformer.h.%d.%s", l, bt[i].name);
            tensor_add(m, nm, bt[i].ndim, bt[i].rows * C, bt[i].cols * C, bt[i].decay,
                       prec_block_row(l, bt[i].prow));
        }
    int lnf_row = 2 + L * PREC_ROWS_PER_BLOCK;
    tensor_add(m, "transformer.ln_f.weight", 1, C, 0, 0, lnf_row);
    tensor_add(m, "transformer.ln_f.bias", 1, C, 0, 0, lnf_row);
}

int gpt_adam_owner(const gpt *m, int i, int ranks)
{
    if (ranks < 2) return 0;
    size_t total = m->n_params, mid = m->tensors[i].offset + m->tensors[i].numel / 2;
    int r = (int)((double)mid / (double)(total ? total : 1) * ranks);
    return r < ranks ? r : ranks - 1;
}

void gpt_adam_shard_set(gpt *m, int rank, int ranks)
{
    if (ranks < 1 || rank < 0 || rank >= ranks) rank = 0, ranks = 1;
    m->shard_rank = rank, m->shard_ranks = ranks;
    m->mv_lo = m->mv_n = 0;
    int first = 1;
    /* owners rise with the offset, so a rank's tensors are one contiguous run */
    for (int i = 0; i < m->n_tensors; i++) {
        if (gpt_adam_owner(m, i, ranks) != rank) continue;
        if (first) m->mv_lo = m->tensors[i].offset, first = 0;
        m->mv_n = m->tensors[i].offset + m->tensors[i].numel - m->mv_lo;
    }
}

int gpt_config_check(const gpt_config *c, char *err, size_t errlen)
{
    if (c->n_layer < 1 || c->n_head < 1 || c->n_embd < 1 || c->block_size < 2 ||
        c->vocab_size < 2) {
        snprintf(err, errlen, "model: n_layer, n_head, n_embd must be >= 1, block_size >= 2 "
                 "and vocab_size >= 2 (got %d, %d, %d, %d, %d)", c->n_layer, c->n_head,
                 c->n_embd, c->block_size, c->vocab_size);
        return -1;
    }
    if (c->n_embd % c->n_head != 0) {
        snprintf(err, errlen, "model: n_embd (%d) must be divisible by n_head (%d)",
                 c->n_embd, c->n_head);
        return -1;
    }
    return 0;
}

/* ---- allocation ---- */

typedef struct { backend *be; int failed; int dyn_only; } allocator;

/* A slot is a pointer field: its pointer moves through memcpy, which may write any object,
 * rather than through a void ** (another pointer type). An empty buffer is NULL. */
static void alloc_one(void *ctx, const gpt_buf *b)
{
    allocator *a = ctx;
    if (a->dyn_only && !b->dyn) return;
    void *p = NULL;
    if (b->n) {
        p = bk_alloc(a->be, b->n * mem_dt_bytes(b->store));
        if (!p) a->failed = 1;
    }
    memcpy(b->slot, &p, sizeof p);
}

typedef struct { gpt *m; int dyn_only; } freer;

static void free_one(void *ctx, const gpt_buf *b)
{
    freer *f = ctx;
    if (f->dyn_only && !b->dyn) return;
    void *p;
    memcpy(&p, b->slot, sizeof p);
    if (p) bk_free(f->m->be, p);
    p = NULL;
    memcpy(b->slot, &p, sizeof p);
}

/* ---- layout: the buffers whose size the policy sets (docs/memory.md) ---- */

static int lay_rows(const gpt *m) { return 2 + m->cfg.n_layer * PREC_ROWS_PER_BLOCK + 3; }

/* What a layout records per row: act, and w with fp8 rows apart (their buffers differ). */
static dtype_t lay_act(const prec_policy *p, int i) { return p ? p->rows[i].act : DT_F32; }
static dtype_t lay_w(const prec_policy *p, int i)
{
    return !p ? DT_F32 : p->rows[i].fp8 ? DT_FP8 : p->rows[i].w;
}

static int layout_matches(const gpt *m, const prec_policy *p)
{
    if (!m->lay_n || (p && p->n != m->lay_n)) return 0;
    for (int i = 0; i < m->lay_n; i++)
        if (m->lay[2 * i] != lay_act(p, i) || m->lay[2 * i + 1] != lay_w(p, i)) return 0;
    /* MXFP8 keeps a backward copy of the weights the per-tensor recipes do not */
    return !p || !prec_any_fp8(p) || (m->fp8.meta && m->fp8.r.kind == p->fp8.kind);
}

/* Where each tensor's copy sits in wcopy and each saved activation's storage dtype. */
static void layout_index(gpt *m, const prec_policy *p)
{
    size_t off = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        m->copy_off[i] = gpt_copy_needed(m, p, i) ? off : GPT_NO_COPY;
        if (m->copy_off[i] != GPT_NO_COPY) off += m->tensors[i].numel;
    }
    for (int l = 0; l < m->cfg.n_layer; l++)
        for (int i = 0; i < SA_COUNT; i++)
            m->blocks[l].sdt[i] = p ? p->rows[prec_block_row(l, gpt_saved_row[i])].act : DT_F32;
    m->lnf_sdt = gpt_lnf_store(p);
    for (int i = 0; i < m->lay_n; i++) {
        m->lay[2 * i] = lay_act(p, i);
        m->lay[2 * i + 1] = lay_w(p, i);
    }
}

/* Frees the policy-sized buffers and allocates them for p (NULL: fp32). Their contents are
 * rebuilt every step (copies by gpt_refresh_copies, activations by the forward), so nothing
 * is carried over; freeing first keeps the peak that of the larger layout alone. */
static int layout_apply(gpt *m, const prec_policy *p)
{
    freer f = {m, 1};
    buf_walk w = {m, p, free_one, &f};
    gpt_bufs_walk(&w, m->maxB, m->maxT);
    allocator a = {m->be, 0, 1};
    w = (buf_walk){m, p, alloc_one, &a};
    gpt_bufs_walk(&w, m->maxB, m->maxT);
    m->lay_n = lay_rows(m);
    layout_index(m, p);
    if (!a.failed) return 0;
    m->lay_n = 0;
    snprintf(m->lay_err, sizeof m->lay_err, "memory: out of memory laying out the activations "
             "of a %s policy (batch %d x %d)", p ? dtype_name(p->mode) : "fp32", m->maxB,
             m->maxT);
    return -1;
}

/* The fp8 scaling state follows the policy's recipe (model_fp8.c); it lives on the host. */
static int layout_fp8(gpt *m, const prec_policy *p, char *err, size_t errlen)
{
    if (!p || !prec_any_fp8(p) || gpt_fp8_sync(m, p) == 0) return 0;
    m->lay_n = 0;
    snprintf(m->lay_err, sizeof m->lay_err, "memory: out of memory for the fp8 scaling state "
             "(%d rows, history %d)", p->n, p->fp8.history_len);
    if (err) snprintf(err, errlen, "%s", m->lay_err);
    return -1;
}

int gpt_set_layout(gpt *m, const prec_policy *p, char *err, size_t errlen)
{
    if (layout_matches(m, p)) return layout_fp8(m, p, err, errlen);
    if (p && p->n != lay_rows(m)) { /* a policy built for another depth: a caller's bug */
        snprintf(m->lay_err, sizeof m->lay_err, "model: a precision policy of %d rows for a "
                 "%d-layer model (%d rows)", p->n, m->cfg.n_layer, lay_rows(m));
        m->lay_n = 0;
        if (err) snprintf(err, errlen, "%s", m->lay_err);
        return -1;
    }
    if (layout_apply(m, p) == 0) return layout_fp8(m, p, err, errlen);
    if (err) snprintf(err, errlen, "%s", m->lay_err);
    return -1;
}

int gpt_status(const gpt *m, char *err, size_t errlen)
{
    if (m->lay_n) return 0;
    if (err) snprintf(err, errlen, "%s", m->lay_err);
    return -1;
}

gpt *gpt_create_for(backend *be, const gpt_config *cfg, const prec_policy *p, int B, int T,
                    char *err, size_t errlen)
{
    return gpt_create_shard(be, cfg, p, B, T, 0, 1, err, errlen);
}

gpt *gpt_create_shard(backend *be, const gpt_config *cfg, const prec_policy *p, int B, int T,
                      int rank, int ranks, char *err, size_t errlen)
{
    if (gpt_config_check(cfg, err, errlen)) return NULL;
    if (B < 1 || T < 1 || T > cfg->block_size) {
        snprintf(err, errlen, "model: batch %d x %d does not fit (block_size %d)", B, T,
                 cfg->block_size);
        return NULL;
    }
    gpt *m = calloc(1, sizeof *m);
    if (!m) goto oom;
    m->cfg = *cfg;
    m->be = be;
    m->maxB = B;
    m->maxT = T;
    m->stats_inv = 1.0f;
    int nt = 2 + cfg->n_layer * GPT_TENSORS_PER_BLOCK + 2;
    m->tensors = calloc((size_t)nt, sizeof *m->tensors);
    m->copy_off = calloc((size_t)nt, sizeof *m->copy_off);
    m->blocks = calloc((size_t)cfg->n_layer, sizeof *m->blocks);
    m->lay = calloc((size_t)lay_rows(m) * 2, sizeof *m->lay);
    if (!m->tensors || !m->copy_off || !m->blocks || !m->lay) goto oom;
    gpt_tensors_build(m);
    gpt_adam_shard_set(m, rank, ranks);
    if (p && p->n != lay_rows(m)) p = NULL;
    allocator a = {be, 0, 0};
    buf_walk w = {m, p, alloc_one, &a};
    gpt_bufs_walk(&w, B, T);
    m->lay_n = lay_rows(m);
    layout_index(m, p);
    m->cls.chunk = m->cls.chunk_max = gpt_classifier_rows(cfg->vocab_size, B * T);
    m->cls.in_logits = -1;
    m->dlogits = m->logits; /* overwritten by the gradient in place (cls_backward_chunk) */
    m->dlnf = m->dc2;
    m->grads_zero = 1; /* bk_alloc zeroes */
    if (a.failed || (p && prec_any_fp8(p) && gpt_fp8_sync(m, p))) goto oom;
    return m;
oom:
    snprintf(err, errlen, "model: out of memory allocating a %dL/%dH/%dd model for batch "
             "%d x %d", cfg->n_layer, cfg->n_head, cfg->n_embd, B, T);
    gpt_free(m);
    return NULL;
}

gpt *gpt_create(backend *be, const gpt_config *cfg, int B, int T, char *err, size_t errlen)
{
    return gpt_create_for(be, cfg, NULL, B, T, err, errlen);
}

void gpt_free(gpt *m)
{
    if (!m) return;
    if (m->tensors && m->blocks) {
        freer f = {m, 0};
        buf_walk w = {m, NULL, free_one, &f};
        gpt_bufs_walk(&w, m->maxB, m->maxT);
    }
    if (m->cls.dw) bk_free(m->be, m->cls.dw);
    fp8_state_free(&m->fp8);
    free(m->fp8_cnt);
    free(m->fp8_sx);
    free(m->fp8_sw);
    free(m->blocks);
    free(m->tensors);
    free(m->copy_off);
    free(m->lay);
    free(m);
}

const gpt_config *gpt_get_config(const gpt *m) { return &m->cfg; }
int gpt_num_tensors(const gpt *m) { return m->n_tensors; }
const gpt_tensor *gpt_tensor_at(const gpt *m, int i) { return &m->tensors[i]; }
size_t gpt_num_params(const gpt *m) { return m->n_params; }
float *gpt_params(gpt *m) { return m->params; }
static void cls_sum_drop(gpt *m);

float *gpt_grads(gpt *m)
{
    cls_sum_drop(m);   /* a forward leaves the gradients as they were */
    m->grads_zero = 0; /* the caller may write through it */
    return m->grads;
}
float *gpt_adam_m(gpt *m) { return m->m; }
float *gpt_adam_v(gpt *m) { return m->v; }
size_t gpt_adam_numel(const gpt *m) { return m->mv_n; }
int gpt_adam_ranks(const gpt *m) { return m->shard_ranks; }
int gpt_adam_rank(const gpt *m) { return m->shard_rank; }

/* Tensor i's place in the held share, or NULL where another rank holds it. */
static float *adam_at(const gpt *m, float *base, int i)
{
    const gpt_tensor *t = &m->tensors[i];
    if (t->offset < m->mv_lo || t->offset + t->numel > m->mv_lo + m->mv_n) return NULL;
    return base + (t->offset - m->mv_lo);
}

float *gpt_tensor_adam_m(gpt *m, int i) { return adam_at(m, m->m, i); }
float *gpt_tensor_adam_v(gpt *m, int i) { return adam_at(m, m->v, i); }

size_t gpt_largest_tensor(const gpt *m)
{
    size_t big = 0;
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].numel > big) big = m->tensors[i].numel;
    return big;
}

int gpt_find_tensor(const gpt *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return i;
    return -1;
}

/* ---- init ---- */

/* Values are drawn in parameter order and uploaded a bounded chunk at a time, so a large
 * model's start holds no host copy of its weights (the memory plan counts none). */
#define GPT_INIT_CHUNK ((size_t)1 << 20)

void gpt_init_weights(gpt *m, rng_state *r)
{
    size_t cap = m->n_params < GPT_INIT_CHUNK ? m->n_params : GPT_INIT_CHUNK;
    float *host = malloc((cap ? cap : 1) * sizeof *host);
    if (!host) return; /* gpt_create already reserved the backend memory; host is 4 MiB */
    float proj_std = 0.02f / sqrtf(2.0f * (float)m->cfg.n_layer);
    for (int i = 0; i < m->n_tensors; i++) {
        const gpt_tensor *t = &m->tensors[i];
        int is_ln = strstr(t->name, ".ln_") != NULL;
        int is_proj = strstr(t->name, "c_proj.weight") != NULL;
        for (size_t j0 = 0; j0 < t->numel; j0 += cap) {
            size_t k = t->numel - j0 < cap ? t->numel - j0 : cap;
            for (size_t j = 0; j < k; j++) {
                if (is_ln) host[j] = strstr(t->name, ".weight") ? 1.0f : 0.0f;
                else if (t->ndim == 1) host[j] = 0.0f;
                else host[j] = rng_normal(r) * (is_proj ? proj_std : 0.02f);
            }
            bk_upload(m->be, m->params + t->offset + j0, host, k * sizeof *host);
        }
    }
    free(host);
    bk_zero(m->be, m->m, m->mv_n * sizeof(float));
    bk_zero(m->be, m->v, m->mv_n * sizeof(float));
    bk_zero(m->be, m->grads, m->n_params * sizeof(float));
    m->grads_zero = 1;
}

/* ---- precision plumbing ---- */

/* The buffer an op should read for tensor i: the fp32 master (rounded by the op when its
 * dtype is 16-bit), or its rounded copy. */
static const float *wt(const gpt *m, const prec_policy *p, int i)
{
    const gpt_tensor *t = &m->tensors[i];
    if (p->rows[t->prec_row].w == DT_F32 || m->copy_off[i] == GPT_NO_COPY)
        return m->params + t->offset;
    return m->wcopy + m->copy_off[i];
}

void gpt_refresh_copies(gpt *m, const prec_policy *p)
{
    if (gpt_set_layout(m, p, NULL, 0)) return;
    for (int i = 0; i < m->n_tensors; i++) {
        const gpt_tensor *t = &m->tensors[i];
        if (m->copy_off[i] == GPT_NO_COPY || (p->rows[t->prec_row].fp8 && t->ndim == 2))
            continue; /* an fp8 weight matrix is cast by gpt_fp8_refresh */
        bk_cast(m->be, m->wcopy + m->copy_off[i], m->params + t->offset, t->numel,
                p->rows[t->prec_row].w, NULL);
    }
    gpt_fp8_refresh(m, p);
}

static int tix(int layer, int which) { return 2 + layer * GPT_TENSORS_PER_BLOCK + which; }
static float *gp(gpt *m, int i) { return m->grads + m->tensors[i].offset; }
static const float *mp(const gpt *m, int i) { return m->params + m->tensors[i].offset; }

static num_stats *sa(gpt_row_stats *s, int row) { return s ? &s[row].act : NULL; }
static num_stats *sg(gpt_row_stats *s, int row) { return s ? &s[row].grad : NULL; }
static num_stats *sw(gpt_row_stats *s, int row) { return s ? &s[row].wgrad : NULL; }
/* A row's output gradient is produced by its consumer in the consumer's dtype `from`. When
 * that is the row's own dtype `to`, the producing rounding is the one to count; otherwise
 * the conversion in grad_to is (so the statistics always describe the stored dtype). */
static num_stats *sgp(gpt_row_stats *s, int row, dtype_t from, dtype_t to)
{
    return s && from == to ? &s[row].grad : NULL;
}

/* Values of (maxB, maxT, C) scratch: dc's size (d4c holds 4 times as many). */
static size_t bt_c(const gpt *m) { return (size_t)m->maxB * m->maxT * m->cfg.n_embd; }

/* grad_unscaled's extra pass over a stored (scaled) gradient g in dtype dt: x * inv in fp32,
 * rounded to dt, counted. fp32 gradients lose nothing to a rounding, so they are skipped.
 * It works a chunk at a time in d4c, or in dc when g is d4c: wherever a gradient is passed,
 * that buffer is idle (docs/memory.md). */
static void grad_pass(gpt *m, const float *g, size_t n, dtype_t dt, gpt_row_stats *s, int row)
{
    if (!s || m->stats_inv == 1.0f || dt == DT_F32) return;
    float *buf = g == m->d4c ? m->dc : m->d4c;
    size_t step = g == m->d4c ? bt_c(m) : 4 * bt_c(m);
    for (size_t i = 0; i < n; i += step) {
        size_t k = n - i < step ? n - i : step;
        bk_copy(m->be, buf, g + i, k * sizeof(float));
        bk_scale(m->be, buf, k, m->stats_inv);
        bk_cast(m->be, buf, buf, k, dt, &s[row].grad_pass);
    }
}

/* A gradient produced in the consumer's dtype becomes the producer's (row's) gradient dtype. */
static void grad_to(gpt *m, float *g, size_t n, dtype_t from, dtype_t to, gpt_row_stats *s,
                    int row)
{
    if (from != to) bk_cast(m->be, g, g, n, to, sg(s, row));
    grad_pass(m, g, n, to, s, row);
}

void gpt_set_stats_unscale(gpt *m, float inv_scale) { m->stats_inv = inv_scale; }

/* ---- classifier (docs/precision.md, "The classifier in chunks") ---- */

int gpt_classifier_rows(int V, int N)
{
    int rows = GPT_CLASSIFIER_FLOATS / (V > 0 ? V : 1);
    if (rows < 1) rows = 1;
    return rows < N ? rows : (N > 0 ? N : 1);
}

void gpt_set_classifier_rows(gpt *m, int rows)
{
    m->cls.chunk = rows < 1 || rows > m->cls.chunk_max ? m->cls.chunk_max : rows;
}

static int cls_sum_begin(gpt *m);

/* Rows of the chunk starting at c0 of the forward's N rows (the last one may be short). */
static int cls_rows(const gpt_classifier *k, int c0, int N)
{
    return N - c0 < k->chunk ? N - c0 : k->chunk;
}

/* Where row c0 of ln_f's output is in fp32: in place, or in the same row of dc, where
 * cls_input unpacks it (dc is idle from the last block's forward to the first block's
 * backward, docs/memory.md). */
static const float *cls_input_at(const gpt *m, int c0)
{
    size_t off = (size_t)c0 * m->cfg.n_embd;
    return m->lnf_sdt == DT_F32 ? (const float *)m->lnf + off : m->dc + off;
}

/* Rows [c0, c0 + rows) of ln_f's output in fp32 (cls_input_at), unpacked there first when
 * stored in 16 bits. */
static const float *cls_input(gpt *m, int c0, int rows)
{
    size_t off = (size_t)c0 * m->cfg.n_embd;
    if (m->lnf_sdt != DT_F32)
        bk_unpack(m->be, m->dc + off, (const uint16_t *)m->lnf + off,
                  (size_t)rows * m->cfg.n_embd, m->lnf_sdt);
    return cls_input_at(m, c0);
}

/* Logits of rows [c0, c0 + rows) into m->logits: lm_head's GEMM, rounded to its act dtype.
 * A row's bits depend on the chunk's shape (docs/precision.md), so every caller cuts the same
 * chunks: [k * chunk, (k + 1) * chunk) of the forward's N rows. */
static void cls_logits(gpt *m, int c0, int rows, num_stats *st)
{
    gpt_classifier *k = &m->cls;
    int C = m->cfg.n_embd, V = m->cfg.vocab_size;
    k->in_logits = c0 / k->chunk;
    if (k->fp8) {
        gpt_fp8_cls_logits(m, c0, rows, st);
        return;
    }
    /* wt() of the tied wte (tensor 0), from the dtype the forward saw */
    const float *w = k->w_dt == DT_F32 || m->copy_off[0] == GPT_NO_COPY
                         ? m->params + m->tensors[0].offset
                         : m->wcopy + m->copy_off[0];
    bk_matmul_forward(m->be, m->logits, cls_input(m, c0, rows), w, NULL, rows, C, V, 1,
                      k->w_dt, k->w_dt, k->act_dt, st);
}

/* Backward of the chunk cls_logits last formed (its logits in m->logits, its ln_f rows where
 * cls_input put them): dlogits = round_g(dloss (softmax - onehot)) in their place (the losses
 * are taken: one (chunk, V) buffer for both), dlnf's rows = round_g(dlogits @ W), and
 * cls.sum += dlogits^T @ lnf unrounded (the first chunk overwrites). s[ih] counts lm_head's gradient, s[iff] ln_f's (s may be NULL). */
static void cls_backward_chunk(gpt *m, const prec_policy *p, int c0, int rows, int N,
                               float mult, gpt_row_stats *s, int ih, int iff)
{
    gpt_classifier *k = &m->cls;
    int C = m->cfg.n_embd, V = m->cfg.vocab_size;
    dtype_t gh = p->rows[prec_row_lmhead(p)].grad, gf = p->rows[prec_row_lnf(p)].grad;
    k->in_logits = -1;
    bk_crossentropy_backward(m->be, m->dlogits, m->logits, m->d_targets + c0, rows, V,
                             mult / (float)N, gh, sg(s, ih));
    grad_pass(m, m->dlogits, (size_t)rows * V, gh, s, ih);
    if (k->fp8) {
        gpt_fp8_cls_backward(m, p, c0, rows, sgp(s, iff, gh, gf));
        return;
    }
    const float *lnf = cls_input_at(m, c0); /* where cls_logits unpacked this chunk's rows */
    bk_matmul_backward(m->be, m->dlnf + (size_t)c0 * C, NULL, NULL, m->dlogits, lnf, wt(m, p, 0),
                       rows, C, V, 1, gh, sgp(s, iff, gh, gf), NULL);
    /* dW(V,C) as matmul_backward forms it (both operands in the gradient dtype), summed
     * over the chunks in fp32 and rounded once by gpt_backward */
    bk_gemm(m->be, k->sum, DT_F32, m->dlogits, gh, 1, lnf, gh, 0, V, C, rows, 1.0f, c0 > 0, NULL);
}

/* Logits and losses of the forward's N rows, chunk by chunk; with a pending
 * gpt_prepare_backward each chunk's backward runs while its logits exist. */
static void cls_forward(gpt *m, const prec_policy *p, int N, gpt_row_stats *st)
{
    gpt_classifier *k = &m->cls;
    int V = m->cfg.vocab_size, rh = prec_row_lmhead(p);
    k->fused = k->prepared && cls_sum_begin(m) == 0;
    k->fused_mult = k->prep_mult;
    k->fused_st = st ? k->fst : NULL;
    memset(k->fst, 0, sizeof k->fst);
    if (k->fp8) gpt_fp8_cls_begin(m, N);
    for (int c0 = 0; c0 < N; c0 += k->chunk) {
        int rows = cls_rows(k, c0, N);
        cls_logits(m, c0, rows, sa(st, rh));
        bk_crossentropy_forward(m->be, m->losses + c0, m->logits, m->d_targets + c0, rows, V);
        if (k->fused) cls_backward_chunk(m, p, c0, rows, N, k->fused_mult, k->fused_st, 0, 1);
    }
}

void gpt_prepare_backward(gpt *m, float dloss_mult)
{
    m->cls.prepared = 1;
    m->cls.prep_mult = dloss_mult;
}

/* The encoder's counts (m->enc_stats, written by the backend at its next synchronizing call)
 * into the wte and wpe rows: act after a forward, grad after a backward. */
static void enc_stats_merge(gpt *m, gpt_row_stats *st, int grad)
{
    num_stats_merge(grad ? &st[0].grad : &st[0].act, &m->enc_stats);
    num_stats_merge(grad ? &st[1].grad : &st[1].act, &m->enc_stats);
}

/* bk_status is a synchronizing call: every count an op was given has landed after it. A
 * failed op is reported by the engine's own once-per-step bk_status. */
static void enc_stats_land(gpt *m, gpt_row_stats *st, int grad)
{
    bk_status(m->be, NULL, 0);
    enc_stats_merge(m, st, grad);
}

/* ---- forward ---- */

/* The fp32 buffer an op writes saved activation i of a block to: the saved buffer itself when
 * it is stored in fp32, else the working buffer `work`, packed into it by act_save. */
static float *act_out(gpt_block_acts *a, int i, float *work)
{
    return a->sdt[i] == DT_F32 ? a->sv[i] : work;
}

static void act_save(gpt *m, gpt_block_acts *a, int i, const float *x, size_t n)
{
    if (a->sdt[i] != DT_F32) bk_pack(m->be, a->sv[i], x, n, a->sdt[i]);
}

/* Values [off, off + n) of saved activation i as fp32 for the backward: in place, or
 * unpacked into `into`, a buffer the caller knows to be idle until it has read them. */
static const float *act_in_at(gpt *m, gpt_block_acts *a, int i, size_t off, size_t n,
                              float *into)
{
    if (a->sdt[i] == DT_F32) return (const float *)a->sv[i] + off;
    bk_unpack(m->be, into, (const uint16_t *)a->sv[i] + off, n, a->sdt[i]);
    return into;
}

static const float *act_in(gpt *m, gpt_block_acts *a, int i, size_t n, float *into)
{
    return act_in_at(m, a, i, 0, n, into);
}

/* Block l's Linear at block row r (weight tensor w, bias w + 1): out = inp @ W + b in the
 * row's dtypes, or through FP8 casts on an fp8 row (docs/fp8.md). `again`: the backward's
 * second forming of an output (res2_again), with the forward's scales and no counts. */
static void linear_forward(gpt *m, const prec_policy *p, int l, int r, int w, float *out,
                           const float *inp, int N, int IC, int OC, int again,
                           gpt_row_stats *st)
{
    int row = prec_block_row(l, r);
    const prec_layer *pr = &p->rows[row];
    if (pr->fp8) {
        gpt_fp8_linear_forward(m, p, row, tix(l, w), out, inp, N, IC, OC, again, sa(st, row));
        return;
    }
    bk_matmul_forward(m->be, out, inp, wt(m, p, tix(l, w)), wt(m, p, tix(l, w + 1)), N, IC, OC,
                      0, pr->w, pr->w, pr->act, sa(st, row));
}

/* Ops write fp32 buffers (the working ones are the backward's scratch dc, dc2 and d4c); a
 * 16-bit output is packed as soon as it is written. c_proj outputs are read only by
 * the residual add, so they are never saved (docs/memory.md). */
static void block_forward(gpt *m, const prec_policy *p, int l, const float *res, int B, int T,
                          gpt_row_stats *st)
{
    int C = m->cfg.n_embd, NH = m->cfg.n_head, N = B * T;
    size_t NC = (size_t)N * C;
    gpt_block_acts *a = &m->blocks[l];
    const prec_layer *r = &p->rows[prec_block_row(l, 0)];
    int row0 = prec_block_row(l, 0);
    backend *be = m->be;

    float *ln1 = act_out(a, SA_LN1, m->dc);
    bk_layernorm_forward(be, ln1, a->ln1_mean, a->ln1_rstd, res, mp(m, tix(l, P_LN1W)),
                         mp(m, tix(l, P_LN1B)), N, C, r[PR_LN1].act, sa(st, row0 + PR_LN1));
    act_save(m, a, SA_LN1, ln1, NC);
    float *qkv = act_out(a, SA_QKV, m->d4c); /* read by attention only: d4c is free again */
    linear_forward(m, p, l, PR_QKV, P_QKVW, qkv, ln1, N, C, 3 * C, 0, st);
    act_save(m, a, SA_QKV, qkv, NC * 3);
    const float *qa = qkv;
    if (r[PR_QKV].act != r[PR_ATTN].act) { /* autocast casts the input to the op's dtype */
        bk_cast(be, m->qkv_cast, qkv, NC * 3, r[PR_ATTN].act, NULL);
        qa = m->qkv_cast;
    }
    float *atty = act_out(a, SA_ATTY, m->dc2);
    bk_attention_forward(be, atty, a->att, qa, B, T, C, NH, r[PR_ATTN].act,
                         sa(st, row0 + PR_ATTN));
    act_save(m, a, SA_ATTY, atty, NC);
    linear_forward(m, p, l, PR_ATTPROJ, P_ATTPROJW, m->dc, atty, N, C, C, 0, st);
    /* res2 is formed in res3's buffer (block 0's input is there too) and not kept: the
     * backward forms it again (res2_again) */
    float *res2 = a->res3;
    if (res == res2)
        bk_add_inplace(be, res2, m->dc, NC);
    else
        bk_residual_forward(be, res2, res, m->dc, NC);
    float *ln2 = act_out(a, SA_LN2, m->dc2);
    bk_layernorm_forward(be, ln2, a->ln2_mean, a->ln2_rstd, res2, mp(m, tix(l, P_LN2W)),
                         mp(m, tix(l, P_LN2B)), N, C, r[PR_LN2].act, sa(st, row0 + PR_LN2));
    act_save(m, a, SA_LN2, ln2, NC);
    float *fch = act_out(a, SA_FCH, m->d4c);
    linear_forward(m, p, l, PR_FC, P_FCW, fch, ln2, N, C, 4 * C, 0, st);
    act_save(m, a, SA_FCH, fch, NC * 4);
    float *gl = act_out(a, SA_GELU, m->d4c); /* in place over fch's working copy */
    bk_gelu_forward(be, gl, fch, NC * 4, r[PR_GELU].act, sa(st, row0 + PR_GELU));
    act_save(m, a, SA_GELU, gl, NC * 4);
    linear_forward(m, p, l, PR_FCPROJ, P_FCPROJW, m->dc, gl, N, 4 * C, C, 0, st);
    bk_add_inplace(be, a->res3, m->dc, NC); /* res2 + c_proj's output, as a + b */
}

float gpt_forward(gpt *m, const prec_policy *p, const int32_t *inputs, const int32_t *targets,
                  int B, int T, gpt_row_stats *st)
{
    int C = m->cfg.n_embd, N = B * T, L = m->cfg.n_layer;
    backend *be = m->be;
    m->have_targets = 0;
    if (gpt_set_layout(m, p, NULL, 0)) return NAN; /* gpt_status says why */
    m->B = B;
    m->T = T;
    gpt_fp8_forward_begin(m);
    bk_upload(be, m->d_inputs, inputs, (size_t)N * sizeof(int32_t));
    /* block 0's input is formed in its output buffer (block_forward) */
    float *encoded = m->blocks[0].res3;
    bk_encoder_forward(be, encoded, m->d_inputs, mp(m, 0), mp(m, 1), B, T, C);
    /* wte and wpe share the encoder's output (and its gradient); the counts land in a
     * model-owned record at the next synchronizing call (backend.h), merged after it */
    num_stats_reset(&m->enc_stats);
    if (st) bk_stats(be, encoded, (size_t)N * C, &m->enc_stats);
    const float *res = encoded;
    for (int l = 0; l < L; l++) {
        block_forward(m, p, l, res, B, T, st);
        res = m->blocks[l].res3;
    }
    int rf = prec_row_lnf(p), rh = prec_row_lmhead(p);
    int lnw = tix(L, 0); /* ln_f.weight follows the last block */
    /* a 16-bit ln_f output is written into dc, idle now, and packed (cls_input) */
    float *lnf = m->lnf_sdt == DT_F32 ? m->lnf : m->dc;
    bk_layernorm_forward(be, lnf, m->lnf_mean, m->lnf_rstd, res, mp(m, lnw), mp(m, lnw + 1), N,
                         C, p->rows[rf].act, sa(st, rf));
    if (m->lnf_sdt != DT_F32) bk_pack(be, m->lnf, lnf, (size_t)N * C, m->lnf_sdt);
    m->cls.w_dt = p->rows[rh].w;
    m->cls.act_dt = p->rows[rh].act;
    m->cls.fp8 = p->rows[rh].fp8;
    m->cls.in_logits = -1;
    m->cls.fused = 0;
    m->have_targets = targets != NULL;
    if (!targets) { /* sampling: gpt_logits_row computes the chunk it needs */
        m->cls.prepared = 0;
        if (st) enc_stats_land(m, st, 0);
        return NAN;
    }
    bk_upload(be, m->d_targets, targets, (size_t)N * sizeof(int32_t));
    cls_forward(m, p, N, st);
    m->cls.prepared = 0;
    if (st) bk_stats(be, m->losses, (size_t)N, &st[prec_row_loss(p)].act);
    /* the sum synchronises: the fused part's counts are in cls.fst from here on */
    m->cls.loss_sum = bk_sum(be, m->losses, (size_t)N);
    if (st) enc_stats_merge(m, st, 0);
    double mean = m->cls.loss_sum / N;
    return isfinite(mean) ? (float)mean : NAN;
}

/* ---- backward ---- */

_Static_assert(P_QKVB == P_QKVW + 1 && P_ATTPROJB == P_ATTPROJW + 1 && P_FCB == P_FCW + 1 &&
               P_FCPROJB == P_FCPROJW + 1, "a block's bias tensor follows its weight");

/* Block l's linear layer at policy row `row` (weight tensor w, bias w + 1): dinp, dW and dB
 * from dout; dinp is then moved into the gradient dtype of the row before it, `prev`. */
/* Block l's linear layer at policy row `row` (weight tensor w, bias w + 1): dinp, dW and dB
 * from dout; dinp is then moved into the gradient dtype of the row before it, `prev`. A 16-bit
 * saved input is unpacked into `into`, an idle gradient buffer, which may be dinp itself: the
 * weight and bias gradients then come first (the same bits: each GEMM is its own call). */
static void linear_backward(gpt *m, const prec_policy *p, gpt_row_stats *st, int l, int row,
                            int prev, int w, float *dinp, const float *dout, int saved, int N,
                            int IC, int OC, float *into)
{
    dtype_t g = p->rows[row].grad, gprev = p->rows[prev].grad;
    const float *inp = act_in(m, &m->blocks[l], saved, (size_t)N * IC, into);
    float *dw = gp(m, tix(l, w)), *db = gp(m, tix(l, w + 1));
    const float *wv = wt(m, p, tix(l, w));
    num_stats *s_in = sgp(st, prev, g, gprev), *s_w = sw(st, row);
    if (p->rows[row].fp8) { /* casts the input before it writes dinp (model_fp8.c) */
        gpt_fp8_linear_backward(m, p, row, tix(l, w), dinp, dout, inp, N, IC, OC, s_in, s_w);
    } else if (inp == dinp) {
        bk_matmul_backward(m->be, NULL, dw, db, dout, inp, wv, N, IC, OC, 0, g, NULL, s_w);
        bk_matmul_backward(m->be, dinp, NULL, NULL, dout, inp, wv, N, IC, OC, 0, g, s_in, NULL);
    } else {
        bk_matmul_backward(m->be, dinp, dw, db, dout, inp, wv, N, IC, OC, 0, g, s_in, s_w);
    }
    grad_to(m, dinp, (size_t)N * IC, g, gprev, st, prev);
}

/* GELU's backward in place over its output gradient d (n values): its input (c_fc's output)
 * read in place, or unpacked a chunk at a time into dc, idle since c_proj's backward read it
 * (elementwise: the same bits, the counts add). */
static void gelu_backward_in_place(gpt *m, gpt_block_acts *a, float *d, size_t n, dtype_t g,
                                   num_stats *st)
{
    size_t step = a->sdt[SA_FCH] == DT_F32 ? n : bt_c(m);
    for (size_t i = 0; i < n; i += step) {
        size_t k = n - i < step ? n - i : step;
        const float *x = act_in_at(m, a, SA_FCH, i, k, m->dc);
        bk_gelu_backward(m->be, d + i, x, d + i, k, g, st);
    }
}

/* Attention's backward into dqkv (B,T,3C) from dout (B,T,C), one batch row at a time: a row's
 * qkv unpacked (and cast to attention's dtype where c_attn's differs) into dc, idle since
 * c_proj's backward read it, or into unp where dc is smaller than a row (a batch below 3).
 * Heads are independent, so the rows give the bits of one call over the batch. */
static void attention_backward_rows(gpt *m, gpt_block_acts *a, const prec_layer *r, float *dqkv,
                                    const float *dout, int B, int T, num_stats *st)
{
    int C = m->cfg.n_embd, NH = m->cfg.n_head;
    size_t row3 = (size_t)T * 3 * C;
    if (a->sdt[SA_QKV] == DT_F32 && r[PR_QKV].act == r[PR_ATTN].act) { /* read in place */
        bk_attention_backward(m->be, dqkv, dout, a->sv[SA_QKV], a->att, B, T, C, NH,
                              r[PR_ATTN].grad, st);
        return;
    }
    float *buf = m->unp ? m->unp : m->dc;
    for (int b = 0; b < B; b++) {
        const float *qkv = act_in_at(m, a, SA_QKV, (size_t)b * row3, row3, buf);
        if (r[PR_QKV].act != r[PR_ATTN].act) { /* as the forward's cast (qkv_cast) */
            bk_cast(m->be, buf, qkv, row3, r[PR_ATTN].act, NULL);
            qkv = buf;
        }
        bk_attention_backward(m->be, dqkv + (size_t)b * row3, dout + (size_t)b * T * C, qkv,
                              a->att + (size_t)b * NH * T * 2, 1, T, C, NH, r[PR_ATTN].grad, st);
    }
}

/* Block l's input: the block before's output, or block 0's, the encoder's output, formed again
 * into `into` (an idle buffer: it is not kept, docs/memory.md). */
static const float *block_input(gpt *m, int l, float *into)
{
    if (l > 0) return m->blocks[l - 1].res3;
    bk_encoder_forward(m->be, into, m->d_inputs, mp(m, 0), mp(m, 1), m->B, m->T,
                       m->cfg.n_embd);
    return into;
}

/* Block l's residual after attention, res2 = input + c_proj(attention output), formed again as
 * the forward formed it (the same ops on the same values: the same bits) into d4c, idle
 * between c_fc's backward and attention's c_proj: the attention output is unpacked into dc,
 * block 0's input formed in d4c's second (B,T,C). Keeping it would take (B,T,C) fp32 per
 * block; forming it again costs one (C,C) GEMM per block (docs/memory.md). */
static const float *res2_again(gpt *m, const prec_policy *p, int l, int N)
{
    int C = m->cfg.n_embd;
    size_t NC = (size_t)N * C;
    const float *atty = act_in(m, &m->blocks[l], SA_ATTY, NC, m->dc);
    const float *res = block_input(m, l, m->d4c + NC);
    linear_forward(m, p, l, PR_ATTPROJ, P_ATTPROJW, m->d4c, atty, N, C, C, 1, NULL);
    bk_add_inplace(m->be, m->d4c, res, NC); /* c_proj's output + input: a + b commutes */
    return m->d4c;
}

static void block_backward(gpt *m, const prec_policy *p, int l, int B, int T, gpt_row_stats *st)
{
    int C = m->cfg.n_embd, N = B * T;
    size_t NC = (size_t)N * C;
    gpt_block_acts *a = &m->blocks[l];
    int row0 = prec_block_row(l, 0);
    const prec_layer *r = &p->rows[row0];
    backend *be = m->be;

    /* MLP: dres is d(res3); the branch's gradient enters in c_proj's gradient dtype */
    bk_cast(be, m->dc, m->dres, NC, r[PR_FCPROJ].grad, sg(st, row0 + PR_FCPROJ));
    grad_pass(m, m->dc, NC, r[PR_FCPROJ].grad, st, row0 + PR_FCPROJ);
    /* the unpack targets are gradient buffers idle at that point (docs/memory.md) */
    linear_backward(m, p, st, l, row0 + PR_FCPROJ, row0 + PR_GELU, P_FCPROJW, m->d4c, m->dc,
                    SA_GELU, N, 4 * C, C, m->d4c);
    gelu_backward_in_place(m, a, m->d4c, NC * 4, r[PR_GELU].grad,
                           sgp(st, row0 + PR_FC, r[PR_GELU].grad, r[PR_FC].grad));
    grad_to(m, m->d4c, NC * 4, r[PR_GELU].grad, r[PR_FC].grad, st, row0 + PR_FC);
    linear_backward(m, p, st, l, row0 + PR_FC, row0 + PR_LN2, P_FCW, m->dc2, m->d4c, SA_LN2, N,
                    C, 4 * C, m->dc);
    bk_layernorm_backward(be, m->dres, gp(m, tix(l, P_LN2W)), gp(m, tix(l, P_LN2B)), m->dc2,
                          res2_again(m, p, l, N), mp(m, tix(l, P_LN2W)), a->ln2_mean,
                          a->ln2_rstd, N, C);

    /* attention: dres is now d(res2) */
    bk_cast(be, m->dc, m->dres, NC, r[PR_ATTPROJ].grad, sg(st, row0 + PR_ATTPROJ));
    grad_pass(m, m->dc, NC, r[PR_ATTPROJ].grad, st, row0 + PR_ATTPROJ);
    linear_backward(m, p, st, l, row0 + PR_ATTPROJ, row0 + PR_ATTN, P_ATTPROJW, m->dc2, m->dc,
                    SA_ATTY, N, C, C, m->d4c);
    float *d3c = m->d4c; /* (B,T,3C): the MLP's gradients are spent */
    attention_backward_rows(m, a, r, d3c, m->dc2, B, T,
                            sgp(st, row0 + PR_QKV, r[PR_ATTN].grad, r[PR_QKV].grad));
    grad_to(m, d3c, NC * 3, r[PR_ATTN].grad, r[PR_QKV].grad, st, row0 + PR_QKV);
    linear_backward(m, p, st, l, row0 + PR_QKV, row0 + PR_LN1, P_QKVW, m->dc, d3c, SA_LN1, N,
                    C, 3 * C, m->dc2);
    const float *res = block_input(m, l, m->dc2); /* dc2 is idle again */
    bk_layernorm_backward(be, m->dres, gp(m, tix(l, P_LN1W)), gp(m, tix(l, P_LN1B)), m->dc, res,
                          mp(m, tix(l, P_LN1W)), a->ln1_mean, a->ln1_rstd, N, C);
}

void gpt_backward(gpt *m, const prec_policy *p, float dloss_mult, gpt_row_stats *st)
{
    int C = m->cfg.n_embd, V = m->cfg.vocab_size, B = m->B, T = m->T, N = B * T;
    int L = m->cfg.n_layer, rf = prec_row_lnf(p), rh = prec_row_lmhead(p);
    size_t NC = (size_t)N * C;
    backend *be = m->be;
    if (!m->have_targets || !layout_matches(m, p)) return;

    gpt_classifier *k = &m->cls;
    /* the fused part serves only the multiplier it ran for, and only once; a backward that
     * wants counts the forward did not gather recomputes too (the same bits either way) */
    if (k->fused && k->fused_mult == dloss_mult && (!st || k->fused_st)) {
        if (st) {
            num_stats_merge(&st[rh].grad, &k->fst[0].grad);
            num_stats_merge(&st[rh].grad_pass, &k->fst[0].grad_pass);
            num_stats_merge(&st[rf].grad, &k->fst[1].grad);
        }
    } else {
        if (cls_sum_begin(m)) return; /* gpt_status says why */
        if (k->fp8) {
            /* a fused pass for another multiplier counted its casts already */
            k->fp8_grad_counted = k->fused;
            gpt_fp8_cls_begin(m, N);
        }
        for (int c0 = 0; c0 < N; c0 += k->chunk) {
            int rows = cls_rows(k, c0, N);
            cls_logits(m, c0, rows, NULL);
            cls_backward_chunk(m, p, c0, rows, N, dloss_mult, st, rh, rf);
        }
    }
    k->fused = 0;
    /* dW += round_g(sum over all rows), the one rounding matmul_backward makes; a sum formed
     * in dW itself (zero before) is only rounded */
    bk_cast(be, k->sum, k->sum, (size_t)V * C, p->rows[rh].grad, sw(st, rh));
    if (k->sum != gp(m, 0)) bk_add_inplace(be, gp(m, 0), k->sum, (size_t)V * C);
    m->grads_zero = 0;
    grad_to(m, m->dlnf, NC, p->rows[rh].grad, p->rows[rf].grad, st, rf);
    bk_zero(be, m->dres, NC * sizeof(float));
    const float *res_last = m->blocks[L - 1].res3;
    int lnw = tix(L, 0);
    bk_layernorm_backward(be, m->dres, gp(m, lnw), gp(m, lnw + 1), m->dlnf, res_last,
                          mp(m, lnw), m->lnf_mean, m->lnf_rstd, N, C);
    for (int l = L - 1; l >= 0; l--) block_backward(m, p, l, B, T, st);
    if (st) {
        num_stats_reset(&m->enc_stats);
        bk_stats(be, m->dres, NC, &m->enc_stats);
        /* grad_unscaled is derived from counts the backward's ops deliver at the next
         * synchronizing call (on CUDA): sync once, on steps that gather statistics only */
        enc_stats_land(m, st, 1);
        /* recomputed from the running sums, so accumulation micro-batches add up */
        for (int i = 0; i < p->n; i++)
            health_unscaled(&st[i].grad, &st[i].grad_pass, m->stats_inv, &st[i].grad_unscaled);
    }
    bk_encoder_backward(be, gp(m, 0), gp(m, 1), m->dres, m->d_inputs, B, T, C);
}

void gpt_zero_grads(gpt *m)
{
    cls_sum_drop(m);
    bk_zero(m->be, m->grads, m->n_params * sizeof(float));
    m->grads_zero = 1;
}

int gpt_reserve_grad_sum(gpt *m)
{
    if (!m->cls.dw) m->cls.dw = bk_alloc(m->be, m->tensors[0].numel * sizeof(float)); /* wte's */
    return m->cls.dw ? 0 : -1;
}

int gpt_has_grad_sum(const gpt *m) { return m->cls.dw != NULL; }

/* Where this classifier pass sums lm_head's weight gradient over its chunks (the first chunk
 * overwrites): wte's own gradient when every gradient is zero, as at a step's first
 * micro-batch (rounding that sum in place then gives what adding it to zero would: no (V, C)
 * buffer apart), else dw, allocated on first need (gradient accumulation, docs/memory.md).
 * -1: out of memory (gpt_status). */
static int cls_sum_begin(gpt *m)
{
    if (m->grads_zero) {
        m->cls.sum = gp(m, 0);
        return 0;
    }
    if (gpt_reserve_grad_sum(m)) {
        m->lay_n = 0;
        snprintf(m->lay_err, sizeof m->lay_err, "memory: out of memory for lm_head's gradient "
                 "sum (%d x %d fp32) of a backward that accumulates", m->cfg.vocab_size,
                 m->cfg.n_embd);
        return -1;
    }
    m->cls.sum = m->cls.dw;
    return 0;
}

/* A fused forward (gpt_prepare_backward) whose backward has not run yet may hold its part of
 * lm_head's gradient in wte's (cls_sum_begin): dropped, as if that forward had not fused. */
static void cls_sum_drop(gpt *m)
{
    gpt_classifier *k = &m->cls;
    if (!k->fused || k->sum != gp(m, 0)) return;
    bk_zero(m->be, k->sum, m->tensors[0].numel * sizeof(float));
    k->fused = 0; /* the backward recomputes: the same bits */
}

void gpt_logits_row(gpt *m, int b, int t, float *out)
{
    gpt_classifier *k = &m->cls;
    size_t V = (size_t)m->cfg.vocab_size;
    int n = b * m->T + t, N = m->B * m->T, c0 = n / k->chunk * k->chunk;
    /* the whole chunk, as the forward cuts it: a lone row could round otherwise */
    if (k->in_logits != n / k->chunk) {
        if (k->fp8) gpt_fp8_cls_begin(m, N);
        cls_logits(m, c0, cls_rows(k, c0, N), NULL);
    }
    bk_download(m->be, out, m->logits + (size_t)(n - c0) * V, V * sizeof(float));
}

double gpt_loss_sum(const gpt *m) { return m->cls.loss_sum; }
int gpt_max_batch(const gpt *m) { return m->maxB; }

backend *gpt_backend(const gpt *m) { return m->be; }

size_t gpt_config_num_params(const gpt_config *c)
{
    size_t L = (size_t)c->n_layer, C = (size_t)c->n_embd;
    return (size_t)c->vocab_size * C + (size_t)c->block_size * C + L * (12 * C * C + 13 * C) +
           2 * C;
}
