/* model_impl.h — what model.c and model_plan.c share: the model's structure and the one list
 * of its buffers (gpt_bufs_walk), which allocation, freeing and the memory plan all walk. */
#ifndef MPTUI_MODEL_IMPL_H
#define MPTUI_MODEL_IMPL_H

#include "model.h"

/* Parameter order within a block (Hugging Face state_dict order). */
enum {
    P_LN1W, P_LN1B, P_QKVW, P_QKVB, P_ATTPROJW, P_ATTPROJB,
    P_LN2W, P_LN2B, P_FCW, P_FCB, P_FCPROJW, P_FCPROJB,
};

typedef struct {
    float *ln1, *ln1_mean, *ln1_rstd; /* (B,T,C) c; (B,T) fp32 */
    float *qkv;                       /* (B,T,3C) */
    float *att;                       /* (B,NH,T,2) fp32 softmax row max, 1/sum */
    float *atty;                      /* (B,T,C) */
    float *attproj;                   /* (B,T,C) */
    float *res2;                      /* (B,T,C) fp32: residual after attention */
    float *ln2, *ln2_mean, *ln2_rstd;
    float *fch, *fch_gelu;            /* (B,T,4C) */
    float *fcproj;                    /* (B,T,C) */
    float *res3;                      /* (B,T,C) fp32: block output */
} gpt_block_acts;

/* The classifier in chunks of rows (docs/precision.md, "The classifier in chunks"): logits
 * never exist for more than one chunk; the tied lm_head's weight gradient sums in dw before
 * its one rounding. */
typedef struct {
    float *dw;               /* (V, C) fp32: unrounded sum over the chunks of dlogits^T @ lnf */
    int chunk, chunk_max;    /* rows per chunk now / allocated */
    int in_logits;           /* chunk index whose logits are in m->logits, -1: none */
    dtype_t w_dt, act_dt;    /* lm_head's weight and act dtypes at the last forward */
    int prepared;            /* gpt_prepare_backward is pending, for multiplier prep_mult */
    float prep_mult;
    int fused;               /* the last forward ran the classifier backward for fused_mult */
    float fused_mult;
    gpt_row_stats *fused_st; /* fst, or NULL when the forward gathered no stats */
    gpt_row_stats fst[2];    /* what the fused part counted: [0] lm_head, [1] ln_f. Owned by
                              * the model: on CUDA the counts land at the next sync */
    double loss_sum;         /* sum over the last forward's positions */
} gpt_classifier;

struct gpt {
    gpt_config cfg;
    backend *be;
    int maxB, maxT;
    int B, T; /* shape of the last forward */
    int n_tensors;
    gpt_tensor *tensors;
    size_t n_params;
    float *params, *grads, *m, *v, *wcopy; /* flat, n_params floats each */
    int32_t *d_inputs, *d_targets;        /* (B,T) on the backend */
    float *encoded;                       /* (B,T,C) fp32 */
    gpt_block_acts *blocks;
    float *lnf, *lnf_mean, *lnf_rstd, *logits, *losses;
    /* backward scratch, reused across blocks */
    float *dres, *dlnf, *dlogits, *dc, *dc2, *d3c, *d4c, *d4c2, *qkv_cast;
    int have_targets;
    gpt_classifier cls; /* logits and dlogits: (chunk, V), one chunk of rows */
    float stats_inv;    /* 1 / loss scale for grad_unscaled; 1 = no extra pass */
    num_stats enc_stats; /* the encoder output's (or its gradient's) counts, until they land */
    float *hscratch;    /* (B,T,4C): chunks of a gradient for the unscaled pass */
    size_t hscratch_n;
};

/* One buffer: where its pointer lives (NULL while only planning), its size in values, and
 * its plan row: kind and the dtype of its values under the policy. dt -1: the weight copies,
 * whose dtype is each tensor's (the plan splits them). */
typedef struct {
    void *slot;   /* the address of a float * or int32_t * field */
    size_t n;
    mem_kind kind;
    int dt;
} gpt_buf;

typedef struct {
    gpt *m;                 /* tensors built; blocks NULL while only planning */
    const prec_policy *p;   /* NULL: the allocation view, every value fp32 */
    void (*fn)(void *ctx, const gpt_buf *b);
    void *ctx;
} buf_walk;

/* Checks a shape (n_embd % n_head, sizes > 0): 0, or -1 and err. */
int gpt_config_check(const gpt_config *c, char *err, size_t errlen);
/* Fills m->tensors (Hugging Face order) and m->n_params from m->cfg. */
void gpt_tensors_build(gpt *m);
/* Calls w->fn for every buffer of a model allocated for micro-batches of up to maxB x maxT,
 * in allocation order (docs/memory.md). */
void gpt_bufs_walk(const buf_walk *w, int maxB, int maxT);

#endif
