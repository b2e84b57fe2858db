/* precision.c — builds the per-layer policy table from the run mode plus overrides; the
 * ops read dtypes from this table only, so there are no mode branches in the model. */
#include "precision.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct { const char *suffix; layer_kind kind; int has_weight; }
    block_rows[PREC_ROWS_PER_BLOCK] = {
        {"ln_1", LK_LN, 1},        {"attn.c_attn", LK_LINEAR, 1}, {"attn", LK_ATTN, 0},
        {"attn.c_proj", LK_LINEAR, 1}, {"ln_2", LK_LN, 1},        {"mlp.c_fc", LK_LINEAR, 1},
        {"mlp.gelu", LK_GELU, 0},  {"mlp.c_proj", LK_LINEAR, 1},
};

static void row_set(prec_layer *r, const char *name, layer_kind kind, int has_weight)
{
    snprintf(r->name, sizeof r->name, "%s", name);
    r->kind = kind;
    r->has_weight = has_weight;
    r->override = -1;
}

int prec_init(prec_policy *p, int n_layer, dtype_t mode)
{
    p->n_layer = n_layer;
    fp8_recipe_default(&p->fp8);
    p->n = 2 + n_layer * PREC_ROWS_PER_BLOCK + 3;
    p->rows = calloc((size_t)p->n, sizeof *p->rows);
    if (!p->rows) return -1;
    row_set(&p->rows[0], "wte", LK_EMBED, 1);
    row_set(&p->rows[1], "wpe", LK_EMBED, 1);
    for (int b = 0; b < n_layer; b++)
        for (int r = 0; r < PREC_ROWS_PER_BLOCK; r++) {
            char name[PREC_NAME_MAX];
            snprintf(name, sizeof name, "h.%d.%s", b, block_rows[r].suffix);
            row_set(&p->rows[prec_block_row(b, r)], name, block_rows[r].kind,
                    block_rows[r].has_weight);
        }
    row_set(&p->rows[prec_row_lnf(p)], "ln_f", LK_LN, 1);
    row_set(&p->rows[prec_row_lmhead(p)], "lm_head", LK_LINEAR, 1);
    row_set(&p->rows[prec_row_loss(p)], "loss", LK_LOSS, 0);
    prec_set_mode(p, mode);
    return 0;
}

int prec_init_like(prec_policy *p, const prec_policy *src, dtype_t mode)
{
    if (prec_init(p, src->n_layer, mode)) return -1;
    for (int i = 0; i < src->n && i < p->n; i++) p->rows[i].override = src->rows[i].override;
    p->fp8 = src->fp8;
    prec_set_mode(p, mode);
    return 0;
}

void prec_free(prec_policy *p)
{
    free(p->rows);
    p->rows = NULL;
    p->n = 0;
}

/* docs/precision.md: embeddings and the loss are fp32; LayerNorm keeps fp32 parameters and statistics
 * but emits c; Linear / attention / GELU run in c; fp8 is bf16 plus FP8 GEMM inputs for Linears
 * (docs/fp8.md). */
static void row_resolve(prec_layer *r, dtype_t mode)
{
    dtype_t c = r->override >= 0 ? (dtype_t)r->override : mode;
    /* fp8 casts only a Linear's GEMM inputs; around them the bf16 policy holds */
    r->fp8 = c == DT_FP8 && r->kind == LK_LINEAR;
    if (c == DT_FP8) c = DT_BF16;
    switch (r->kind) {
    case LK_EMBED:
    case LK_LOSS: r->w = r->act = r->grad = DT_F32; break;
    case LK_LN: r->w = DT_F32; r->act = r->grad = c; break;
    default: r->w = r->has_weight ? c : DT_F32; r->act = r->grad = c; break;
    }
}

void prec_set_mode(prec_policy *p, dtype_t mode)
{
    p->mode = mode;
    for (int i = 0; i < p->n; i++) row_resolve(&p->rows[i], mode);
}

int prec_kind_accepts(layer_kind k, dtype_t dt)
{
    if (k == LK_EMBED || k == LK_LOSS) return dt == DT_F32;
    if (dt == DT_FP8) return k == LK_LINEAR;
    return (unsigned)dt < DT_COUNT;
}

int prec_any_fp8(const prec_policy *p)
{
    for (int i = 0; i < p->n; i++)
        if (p->rows[i].fp8) return 1;
    return 0;
}

int prec_set_override(prec_policy *p, const char *pattern, int dtype, char *err, size_t errlen)
{
    int matched = 0, takers = 0;
    if (dtype < -1 || dtype >= DT_COUNT) {
        snprintf(err, errlen, "override '%s': invalid dtype", pattern);
        return -1;
    }
    for (int i = 0; i < p->n; i++) {
        prec_layer *r = &p->rows[i];
        if (fnmatch(pattern, r->name, 0) != 0) continue;
        matched++;
        if (dtype < 0 || prec_kind_accepts(r->kind, (dtype_t)dtype)) takers++;
        if ((r->kind == LK_EMBED || r->kind == LK_LOSS) && dtype > DT_F32) {
            snprintf(err, errlen, "override '%s': %s always runs in fp32", pattern, r->name);
            return -1;
        }
    }
    if (!matched) {
        snprintf(err, errlen, "override '%s': no layer of this model matches (names like "
                 "lm_head, h.0.mlp.c_fc, h.*.attn)", pattern);
        return -1;
    }
    if (!takers) { /* fp8 on LayerNorm, attention or GELU rows only */
        snprintf(err, errlen, "override '%s': fp8 applies to Linear layers (c_attn, c_proj, "
                 "c_fc, lm_head); the rows matched have no GEMM inputs to cast", pattern);
        return -1;
    }
    for (int i = 0; i < p->n; i++)
        if (fnmatch(pattern, p->rows[i].name, 0) == 0 &&
            (dtype < 0 || prec_kind_accepts(p->rows[i].kind, (dtype_t)dtype)))
            p->rows[i].override = dtype;
    prec_set_mode(p, p->mode);
    return takers;
}

int prec_find(const prec_policy *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->rows[i].name, name) == 0) return i;
    return -1;
}
