/* precision.h — precision modes and the per-layer policy table (docs/precision.md): for every
 * layer, the dtype of its weight copy, its output activation and its gradient. */
#ifndef MPTUI_PRECISION_H
#define MPTUI_PRECISION_H

#include <stddef.h>

#include "fp8.h"
#include "numerics.h"

typedef enum {
    LK_EMBED = 0, /* wte, wpe: fp32 always */
    LK_LN,        /* fp32 statistics; output cast to c */
    LK_LINEAR,    /* c in, fp32 accumulate, c out */
    LK_ATTN,      /* QK^T and AV in c, softmax fp32 */
    LK_GELU,      /* fp32 math on c input, stored in c */
    LK_LOSS,      /* logits -> cross-entropy, fp32 */
} layer_kind;

#define PREC_NAME_MAX 32
#define PREC_ROWS_PER_BLOCK 8

typedef struct {
    char name[PREC_NAME_MAX]; /* wte, h.0.attn.c_attn, lm_head, loss, ... */
    layer_kind kind;
    int has_weight;           /* 0: the weight column does not apply */
    dtype_t w, act, grad;     /* resolved from mode + override; never DT_FP8 */
    int fp8;                  /* 1: a Linear whose GEMM inputs are cast to FP8 (mode or override
                               * fp8); w, act and grad are then bf16 (docs/fp8.md) */
    int override;             /* -1 inherit, else the dtype_t forced for this row */
} prec_layer;

typedef struct {
    dtype_t mode;
    fp8_recipe fp8;           /* how fp8 rows choose their scales (TE's defaults until set) */
    int n_layer;              /* transformer blocks */
    int n;                    /* rows */
    prec_layer *rows;
} prec_policy;

/* Row order: wte, wpe, per block (ln_1, attn.c_attn, attn, attn.c_proj, ln_2, mlp.c_fc,
 * mlp.gelu, mlp.c_proj), ln_f, lm_head, loss. 0 ok, -1 out of memory. */
int prec_init(prec_policy *p, int n_layer, dtype_t mode);
/* A policy of src's depth with src's overrides and fp8 recipe, resolved under mode (a copy when mode is
 * src's): what a precision change or a comparison replica would run with. 0 ok, -1 out of
 * memory. */
int prec_init_like(prec_policy *p, const prec_policy *src, dtype_t mode);
void prec_free(prec_policy *p);
/* Refills every row from the mode and the overrides. */
void prec_set_mode(prec_policy *p, dtype_t mode);
/* dtype -1 = inherit. pattern is a row name or an fnmatch(3) pattern ("h.*.mlp.c_fc").
 * Returns the number of rows matched, or -1 with err when none matched. Rows of kind
 * LK_EMBED and LK_LOSS accept only fp32 (they have no low-precision form); fp8 applies to
 * Linear rows only (a pattern matching others too sets it on its Linear rows alone). */
int prec_set_override(prec_policy *p, const char *pattern, int dtype, char *err, size_t errlen);
/* 1 when some row runs in FP8. */
int prec_any_fp8(const prec_policy *p);
/* Whether a row of this kind takes dtype dt as an override (the o key's cycle skips others). */
int prec_kind_accepts(layer_kind k, dtype_t dt);
/* Index of a row by exact name, -1 when absent. */
int prec_find(const prec_policy *p, const char *name);
/* Index of block b's row r (0 .. PREC_ROWS_PER_BLOCK-1, in the order above). */
static inline int prec_block_row(int b, int r) { return 2 + b * PREC_ROWS_PER_BLOCK + r; }
enum { PR_LN1 = 0, PR_QKV, PR_ATTN, PR_ATTPROJ, PR_LN2, PR_FC, PR_GELU, PR_FCPROJ };
static inline int prec_row_lnf(const prec_policy *p) { return p->n - 3; }
static inline int prec_row_lmhead(const prec_policy *p) { return p->n - 2; }
static inline int prec_row_loss(const prec_policy *p) { return p->n - 1; }

#endif
