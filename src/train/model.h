/* model.h — GPT-2 (pre-LN, tied lm_head, learned positions) on the backend: parameters
 * with Hugging Face names, activations, forward and backward under a precision policy. */
#ifndef MPTUI_MODEL_H
#define MPTUI_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "fp8.h"
#include "memplan.h"
#include "precision.h"
#include "rng.h"

typedef struct {
    int n_layer, n_head, n_embd, block_size, vocab_size;
} gpt_config;

#define GPT_TENSORS_PER_BLOCK 12
#define GPT_NAME_MAX 64

typedef struct {
    char name[GPT_NAME_MAX]; /* Hugging Face name, e.g. transformer.h.0.attn.c_attn.weight */
    size_t offset, numel;    /* in floats, within the flat parameter buffer */
    int ndim;
    int shape[2];            /* Conv1D layout for Linear weights: (in, out) */
    int decay;               /* weight decay applies (2-D Linear weights only, docs/optimizer.md) */
    int prec_row;            /* precision-map row whose weight dtype this tensor takes */
} gpt_tensor;

/* Per precision-map row, what rounding did to its tensors (docs/layers.md):
 * act: its output activation, rounded to the row's act dtype;
 * grad: the gradient of that output as the backward stores it (scaled by the loss scale),
 *   rounded to the row's grad dtype;
 * grad_unscaled: that gradient in the true domain (health_unscaled of grad and grad_pass);
 * grad_pass: the extra pass behind grad_unscaled (stored value x inv_scale, rounded);
 * wgrad: weight and bias gradients rounded to the grad dtype before fp32 accumulation;
 * fp8: a Linear row's FP8 casts (docs/fp8.md), by fp8_tensor: input, weight, grad (amax of
 *   the unscaled values, saturations as overflow, flushes to zero as underflow). */
typedef struct {
    num_stats act, grad, grad_unscaled, grad_pass, wgrad;
    num_stats fp8[FP8_TENSORS];
} gpt_row_stats;
/* A row's records, for reducing them as an array of num_stats (data parallel). */
#define GPT_ROW_STATS_N (sizeof(gpt_row_stats) / sizeof(num_stats))
_Static_assert(sizeof(gpt_row_stats) % sizeof(num_stats) == 0, "gpt_row_stats is num_stats only");

typedef struct gpt gpt;

/* Checks the shape (n_embd % n_head, sizes > 0) and allocates parameters, gradients, AdamW
 * state and activations for micro-batches of up to B x T, laid out for policy p: activations
 * stored in their dtype, weight copies where p needs them (docs/memory.md). p NULL: fp32.
 * NULL + err on failure. */
gpt *gpt_create_for(backend *be, const gpt_config *cfg, const prec_policy *p, int B, int T,
                    char *err, size_t errlen);
/* gpt_create_for whose AdamW m and v hold only the share of rank (0 .. ranks-1) under ZeRO-1
 * (docs/dist.md): the tensors gpt_adam_owner gives it. ranks 1: every tensor's. */
gpt *gpt_create_shard(backend *be, const gpt_config *cfg, const prec_policy *p, int B, int T,
                      int rank, int ranks, char *err, size_t errlen);
/* gpt_create_for with the fp32 layout. */
gpt *gpt_create(backend *be, const gpt_config *cfg, int B, int T, char *err, size_t errlen);
/* Lays the model's policy-sized buffers out for p (a no-op when they already are): after a
 * precision change, before the next step (gpt_refresh_copies and gpt_forward do it too).
 * -1 + err ("memory: ...") when the memory is not there; the model then refuses to run
 * (gpt_status) until a layout succeeds. */
int gpt_set_layout(gpt *m, const prec_policy *p, char *err, size_t errlen);
/* 0, or -1 + err when the last layout failed (a forward then returns NaN and does nothing). */
int gpt_status(const gpt *m, char *err, size_t errlen);
void gpt_free(gpt *m);
const gpt_config *gpt_get_config(const gpt *m);

/* GPT-2 init: normal(0, 0.02); attn.c_proj and mlp.c_proj weights / sqrt(2 n_layer);
 * biases 0; LayerNorm weight 1, bias 0. m and v zeroed. */
void gpt_init_weights(gpt *m, rng_state *r);

int gpt_num_tensors(const gpt *m);
const gpt_tensor *gpt_tensor_at(const gpt *m, int i);
/* Values of the model's largest tensor (wte at GPT-2): what a tensor-at-a-time host buffer
 * holds. */
size_t gpt_largest_tensor(const gpt *m);
int gpt_find_tensor(const gpt *m, const char *name); /* -1 when absent */
size_t gpt_num_params(const gpt *m);
/* Backend buffers (fp32, flat, gpt_tensor offsets): master weights, gradients, AdamW m, v. */
float *gpt_params(gpt *m);
float *gpt_grads(gpt *m);
float *gpt_adam_m(gpt *m);
float *gpt_adam_v(gpt *m);
/* Floats in gpt_adam_m / gpt_adam_v: gpt_num_params, or the rank's share under ZeRO-1. */
size_t gpt_adam_numel(const gpt *m);
/* The share the model holds: rank of ranks (0 of 1 unsharded). */
int gpt_adam_rank(const gpt *m);
int gpt_adam_ranks(const gpt *m);
/* The rank that holds (and updates) tensor i's AdamW state among `ranks`: where the tensor's
 * middle lies in the flat parameters, so each rank's tensors are one contiguous run. */
int gpt_adam_owner(const gpt *m, int i, int ranks);
/* Tensor i's AdamW m / v in the held share; NULL where another rank holds it. */
float *gpt_tensor_adam_m(gpt *m, int i);
float *gpt_tensor_adam_v(gpt *m, int i);

/* Makes the compute copies of the weights from the masters under the policy. Call once per
 * optimizer step (and after the masters or the policy change). */
void gpt_refresh_copies(gpt *m, const prec_policy *p);
/* Forward of a micro-batch: inputs / targets are host arrays (B,T), B x T within the
 * allocation. Returns the mean cross-entropy (fp32 math), or NAN when it is not finite.
 * targets NULL: no classifier at all (for sampling; see gpt_logits_row). stats (one entry
 * per policy row, may be NULL) collect activation rounding. The logits exist one chunk of
 * gpt_classifier_rows rows at a time (docs/precision.md, "The classifier in chunks"). A
 * forward never touches the gradients. */
float gpt_forward(gpt *m, const prec_policy *p, const int32_t *inputs, const int32_t *targets,
                  int B, int T, gpt_row_stats *stats);
/* Fused classifier (llm.c style): the next gpt_forward with targets also runs the classifier's
 * backward for dloss_mult while each chunk's logits exist, into model scratch (no gradient
 * changes until gpt_backward). A gpt_backward with the same dloss_mult then skips that part;
 * any other backward recomputes the logits chunk by chunk (one more GEMM, the same bits).
 * Give the forward and the backward the same stats (both or neither). The next gpt_forward
 * consumes the request. */
void gpt_prepare_backward(gpt *m, float dloss_mult);
/* Backward of the last forward: d(loss * dloss_mult)/dparams ADDED into the fp32 gradients
 * (dloss_mult = loss scale / accumulation steps). stats collect gradient rounding. The stats
 * of gpt_forward and gpt_backward are complete when they return, on every backend (the
 * backend's counts have landed: one more synchronization on a backward with stats). */
void gpt_backward(gpt *m, const prec_policy *p, float dloss_mult, gpt_row_stats *stats);
/* 1 / loss scale for the unscaled gradient statistics of the next backwards that collect
 * stats (default 1: no extra pass, grad_unscaled equals grad). */
void gpt_set_stats_unscale(gpt *m, float inv_scale);
/* Zeroes every gradient. The backward after it sums lm_head's weight gradient in wte's own
 * (no (V, C) buffer apart: docs/memory.md, "lm_head's gradient sum"). */
void gpt_zero_grads(gpt *m);
/* For a run that accumulates gradients over micro-batches: allocates now the fp32 (V, C)
 * sum a backward into gradients that are not zero needs (else allocated at that backward).
 * 0, or -1 when out of memory. */
int gpt_reserve_grad_sum(gpt *m);
int gpt_has_grad_sum(const gpt *m);
/* Copies logits (V floats) of position t of sequence b of the last forward to host (call it
 * before the weights change): the chunk that holds the row is recomputed from the kept ln_f
 * output unless it is still there, bit-identical to the row a forward with targets computes. */
void gpt_logits_row(gpt *m, int b, int t, float *out);
/* Sum in double of the per-position losses of the last forward with targets. */
double gpt_loss_sum(const gpt *m);
/* The B the model was created for: the most sequences one forward may take. */
int gpt_max_batch(const gpt *m);
/* Floats one classifier chunk aims at (logits and dlogits hold one chunk each). */
#define GPT_CLASSIFIER_FLOATS (8 << 20)
/* Rows per classifier chunk for vocabulary V and N = B x T rows: GPT_CLASSIFIER_FLOATS / V,
 * at least 1, at most N. A function of the shape only, so results never depend on threads. */
int gpt_classifier_rows(int V, int N);
/* Tests: cut the classifier into chunks of `rows` (1 .. the allocated chunk; anything else
 * restores the default). */
void gpt_set_classifier_rows(gpt *m, int rows);
/* ---- FP8 (docs/fp8.md) ----
 * The scaling state of the model's FP8 casts, for the recipe of the policy it was last laid
 * out for (a policy with another recipe kind, format or history length starts it afresh:
 * scales 1, histories empty). A training step under policy p is bracketed by
 * gpt_fp8_step_begin (before gpt_refresh_copies) and either gpt_fp8_step_commit or
 * gpt_fp8_step_abandon. Commit after the optimizer step or skip, past a synchronizing call
 * such as bk_unscale_multi: the step's amaxes enter the histories, delayed scales update,
 * and the step's cast counts are added to stats[row].fp8 when stats is given (the one part
 * of the statistics gpt_backward does not complete). Forwards outside a step (evaluation,
 * samples) cast with the current scales and record nothing. */
void gpt_fp8_step_begin(gpt *m, const prec_policy *p);
void gpt_fp8_step_commit(gpt *m, gpt_row_stats *stats);
void gpt_fp8_step_abandon(gpt *m);
/* The counts of the step under way (*n records, fp8_index order): data-parallel ranks merge
 * theirs before the commit, so every rank derives the same scales. NULL when the model has no
 * FP8 state. */
num_stats *gpt_fp8_counts(gpt *m, size_t *n);
/* A checkpoint's fp8_state.bin (fp8_state_write bytes) into the model, set up for p's recipe
 * first (fp8_state_read carries the scales and histories over). 0, or -1 + err. */
int gpt_fp8_restore(gpt *m, const prec_policy *p, const uint8_t *bytes, size_t n, char *err,
                    size_t errlen);
/* The state (checkpoints save and restore it, the screen reads it). */
fp8_state *gpt_fp8(gpt *m);
const fp8_state *gpt_fp8_const(const gpt *m);

/* The backend the model's buffers live on (checkpoints move them to and from the host). */
backend *gpt_backend(const gpt *m);
/* Parameters of a model of this shape: gpt_num_params of the model gpt_create would build
 * (wte, wpe, 12 C^2 + 13 C per block, ln_f), without building it. */
size_t gpt_config_num_params(const gpt_config *cfg);
/* Bytes gpt_create allocates on the backend for this shape (what one more model costs):
 * the total of gpt_memory_plan without a policy or a backend. 0 for a bad shape. */
size_t gpt_memory_bytes(const gpt_config *cfg, int B, int T);
/* The memory plan of a model of this shape for micro-batches of up to B x T, before any
 * allocation: exactly the buffers gpt_create allocates, each in the plan row of its role and
 * its dtype under policy p (NULL: every value fp32), plus, when be is given, the workspace
 * that backend's ops take for one training step (docs/memory.md). 0 ok; -1 + err for a bad
 * shape (as gpt_create says it). */
int gpt_memory_plan(const gpt_config *cfg, const prec_policy *p, int B, int T,
                    const backend *be, gpt_mem_plan *out, char *err, size_t errlen);
/* Adds gpt_reserve_grad_sum's buffer to a plan (a run that accumulates gradients). */
void gpt_memory_plan_add_grad_sum(const gpt_config *cfg, gpt_mem_plan *plan);
/* gpt_memory_plan of a gpt_create_shard model: AdamW m and v are rank's share of ranks. */
int gpt_memory_plan_shard(const gpt_config *cfg, const prec_policy *p, int B, int T,
                          const backend *be, int rank, int ranks, gpt_mem_plan *out,
                          char *err, size_t errlen);
/* The plan of an existing model under policy p (its allocation shape, its backend). */
void gpt_model_memory_plan(const gpt *m, const prec_policy *p, gpt_mem_plan *out);

#endif
