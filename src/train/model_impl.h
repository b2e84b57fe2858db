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

/* The activations of a block the backward reads, each stored in its policy row's act dtype:
 * 2 bytes a value for fp16/bf16, packed from the fp32 buffer the producing op wrote
 * (docs/memory.md, "Activations stored in 16 bits"). */
enum { SA_LN1, SA_QKV, SA_ATTY, SA_LN2, SA_FCH, SA_GELU, SA_COUNT };
/* The block row (PR_*) whose act dtype each saved output has (model_plan.c). */
extern const int gpt_saved_row[SA_COUNT];

typedef struct {
    void *sv[SA_COUNT];    /* ln_1 (B,T,C), c_attn (B,T,3C), attn (B,T,C), ln_2 (B,T,C),
                            * c_fc and gelu (B,T,4C) */
    dtype_t sdt[SA_COUNT]; /* their storage dtypes under the model's layout */
    float *ln1_mean, *ln1_rstd, *ln2_mean, *ln2_rstd; /* (B,T) fp32 */
    float *att;            /* (B,NH,T,2) fp32 softmax row max, 1/sum */
    float *res3;           /* (B,T,C) fp32: block output. The residual after attention is formed
                            * here in the forward and again by the backward, never kept; block
                            * 0's input, the encoder's output, too (docs/memory.md) */
} gpt_block_acts;

/* The classifier in chunks of rows (docs/precision.md, "The classifier in chunks"): logits
 * never exist for more than one chunk; the tied lm_head's weight gradient sums over them
 * before its one rounding, in `sum` (docs/memory.md, "lm_head's gradient sum"). */
typedef struct {
    float *dw;               /* (V, C) fp32, only for gradient accumulation (gpt_reserve_grad_sum
                              * or first need): the sum apart from wte's gradient */
    float *sum;              /* this pass's sum: wte's gradient itself when that is zero, or dw */
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
    int fp8;                 /* lm_head ran in fp8 at the last forward (model_fp8.c) */
    int fp8_counted;         /* this forward's cast of ln_f is counted already */
    int fp8_grad_counted;    /* the fused pass counted dlogits' casts (a recompute does not) */
    int fp8_wt_ready;        /* MXFP8: q_b holds the weight cast for dlnf in this pass */
} gpt_classifier;

struct gpt {
    gpt_config cfg;
    backend *be;
    int maxB, maxT;
    int B, T; /* shape of the last forward */
    int n_tensors;
    gpt_tensor *tensors;
    size_t n_params;
    float *params, *grads;         /* flat, n_params floats each */
    float *m, *v;                  /* AdamW state of params [mv_lo, mv_lo + mv_n): all of
                                    * them, or one rank's share under ZeRO-1 (docs/dist.md) */
    int shard_rank, shard_ranks;
    size_t mv_lo, mv_n;
    float *wcopy;                  /* rounded compute copies of the tensors that keep one */
    size_t *copy_off;              /* per tensor: its copy in wcopy, or GPT_NO_COPY */
    int32_t *d_inputs, *d_targets; /* (B,T) on the backend */
    gpt_block_acts *blocks;
    void *lnf;                     /* ln_f's output (B,T,C), stored in lnf_sdt */
    dtype_t lnf_sdt;               /* its dtype, or fp32 (gpt_lnf_store) */
    float *lnf_mean, *lnf_rstd, *logits, *losses;
    /* backward scratch, reused across blocks; dc, dc2 and d4c are the forward's fp32 working
     * buffers too, and d4c holds attention's (B,T,3C) gradient once the MLP's is dead
     * (docs/memory.md) */
    float *dres, *dc, *dc2, *d4c, *qkv_cast;
    float *dlnf;        /* dc2: ln_f's output gradient, formed by the classifier after the
                         * blocks' forward and read before their backward */
    float *dlogits;     /* m->logits: a chunk's gradient replaces its logits */
    int have_targets;
    int grads_zero;     /* every gradient is known to be zero (gpt_zero_grads, before any
                         * backward since, and no caller has had the pointer: gpt_grads) */
    gpt_classifier cls; /* logits and dlogits: (chunk, V), one chunk of rows */
    float stats_inv;    /* 1 / loss scale for grad_unscaled; 1 = no extra pass */
    num_stats enc_stats; /* the encoder output's (or its gradient's) counts, until they land */
    float *unp;         /* (T,3C) fp32, with a 16-bit row and a batch below 3 (dc is smaller
                         * than a row): one batch row of a saved c_attn output unpacked for
                         * attention's backward; else dc serves (model.c, attention_backward_rows) */
    /* FP8 (docs/fp8.md, model_fp8.c) */
    fp8_state fp8;      /* scales and histories, for the recipe of the laid-out policy */
    num_stats *fp8_cnt; /* per fp8_index: the casts of the training step under way, landed
                         * by the step's own synchronizations; read at its commit */
    float *fp8_sx, *fp8_sw; /* per row: the scales of the last input cast and of the weight */
    float *q_a, *q_g;   /* (B,T,4C) scratch: an input and a gradient as FP8 values */
    float *q_b;         /* MXFP8: a weight quantized along OC for the backward */
    /* the layout: the (act, w) dtypes of every policy row the buffers were sized for (w is
     * DT_FP8 for an fp8 row, whose buffers differ) */
    dtype_t *lay;
    int lay_n;          /* rows in lay; 0: no valid layout (a re-layout failed) */
    char lay_err[160];  /* why the last re-layout failed */
};

#define GPT_NO_COPY ((size_t)-1)

/* One buffer: where its pointer lives (NULL while only planning), its size in values, and
 * its plan row: kind, the dtype of its values under the policy and the dtype they are stored
 * in. dt -1: the weight copies, whose dtype is each tensor's (the plan splits them). dyn: its
 * size depends on the policy (a re-layout frees and allocates it again). */
typedef struct {
    void *slot;   /* the address of a float *, int32_t * or void * field */
    size_t n;
    mem_kind kind;
    int dt, store;
    int dyn;
} gpt_buf;

typedef struct {
    gpt *m;                 /* tensors built; blocks NULL while only planning */
    const prec_policy *p;   /* the policy the buffers are laid out for; NULL: all fp32 */
    void (*fn)(void *ctx, const gpt_buf *b);
    void *ctx;
} buf_walk;

/* Checks a shape (n_embd % n_head, sizes > 0): 0, or -1 and err. */
int gpt_config_check(const gpt_config *c, char *err, size_t errlen);
/* Fills m->tensors (Hugging Face order) and m->n_params from m->cfg. */
void gpt_tensors_build(gpt *m);
/* Sets which tensors' AdamW m and v the model holds: rank's share of `ranks` (mv_lo, mv_n).
 * Needs the tensor table. */
void gpt_adam_shard_set(gpt *m, int rank, int ranks);
/* Whether tensor i keeps a rounded compute copy under p: the tied wte (lm_head's weight,
 * read a chunk of rows at a time) and the biases of 16-bit rows. A block's weight matrices
 * are rounded by the GEMM that reads them (docs/memory.md). */
int gpt_copy_needed(const gpt *m, const prec_policy *p, int i);
/* The dtype ln_f's output is stored in under p: its act dtype, as a block's saved outputs,
 * or fp32 where lm_head runs in fp8 (its casts read the whole output: model_fp8.c). */
dtype_t gpt_lnf_store(const prec_policy *p);
/* ---- model_fp8.c: Linear layers in FP8 (docs/fp8.md) ---- */
/* Sets m->fp8 up for p's recipe (afresh when kind, format or history length changed). 0 or -1
 * out of memory. */
int gpt_fp8_sync(gpt *m, const prec_policy *p);
/* Quantizes the weight copies of p's fp8 rows (gpt_refresh_copies). */
void gpt_fp8_refresh(gpt *m, const prec_policy *p);
/* A block Linear at policy row `row`: weight tensor wi (bias wi + 1), inp (N,IC) -> out
 * (N,OC) rounded to the row's act dtype. `again`: the backward forms this step's output once
 * more (model.c, res2_again): the input's scale is the forward's, and nothing is counted or
 * recorded, so the bits are the forward's and its statistics are left as they were. */
void gpt_fp8_linear_forward(gpt *m, const prec_policy *p, int row, int wi, float *out,
                            const float *inp, int N, int IC, int OC, int again, num_stats *st);
/* Its backward: dinp (N,IC) rounded to the row's grad dtype, dW and dB added. */
void gpt_fp8_linear_backward(gpt *m, const prec_policy *p, int row, int wi, float *dinp,
                             const float *dout, const float *inp, int N, int IC, int OC,
                             num_stats *st_dinp, num_stats *st_dw);
/* lm_head in FP8: casts the whole ln_f output (N rows) for the classifier pass about to run
 * (each pass casts again: the block Linears' backward reuses the scratch). */
void gpt_fp8_cls_begin(gpt *m, int N);
/* Logits of rows [c0, c0 + rows) into m->logits, rounded to lm_head's act dtype. */
void gpt_fp8_cls_logits(gpt *m, int c0, int rows, num_stats *st);
/* Backward of that chunk from dlogits: dlnf's rows and cls.dw += (unrounded). */
void gpt_fp8_cls_backward(gpt *m, const prec_policy *p, int c0, int rows, num_stats *st_dinp);
/* Before a forward: its cast of ln_f is not counted yet. */
void gpt_fp8_forward_begin(gpt *m);

/* Calls w->fn for every buffer of a model allocated for micro-batches of up to maxB x maxT,
 * in allocation order (docs/memory.md). */
void gpt_bufs_walk(const buf_walk *w, int maxB, int maxT);

#endif
