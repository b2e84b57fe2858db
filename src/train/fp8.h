/* fp8.h — FP8 recipes (docs/fp8.md): the per-tensor scales and amax histories of a model's
 * FP8 GEMM inputs, how each recipe chooses a scale, and their checkpoint bytes. */
#ifndef MPTUI_FP8_H
#define MPTUI_FP8_H

#include <stddef.h>
#include <stdint.h>

#include "numerics.h"

/* Transformer Engine's recipe names (DelayedScaling, Float8CurrentScaling, MXFP8BlockScaling). */
typedef enum { FP8_DELAYED = 0, FP8_CURRENT = 1, FP8_MXFP8 = 2, FP8_RECIPES = 3 } fp8_recipe_kind;
/* TE's Format: HYBRID = E4M3 forward (inputs, weights), E5M2 backward (gradients). */
typedef enum { FP8_HYBRID = 0, FP8_ALL_E4M3 = 1 } fp8_format_mode;
typedef enum { FP8_AMAX_MAX = 0, FP8_AMAX_MOST_RECENT = 1 } fp8_amax_algo;

typedef struct {
    fp8_recipe_kind kind;
    fp8_format_mode format;
    int history_len;          /* --fp8_amax_history_len, >= 1 (delayed) */
    fp8_amax_algo algo;       /* --fp8_amax_compute_algo */
    int margin;               /* --fp8_margin: scale = max / amax / 2^margin */
} fp8_recipe;

/* The defaults TE and accelerate use: delayed, hybrid, 1024, max, margin 0. */
void fp8_recipe_default(fp8_recipe *r);
/* Names for options, checkpoints and the screen: "delayed" / "current" / "mxfp8",
 * "hybrid" / "e4m3", "max" / "most_recent"; "?" for an invalid value. Parsers: 0 ok, -1. */
const char *fp8_recipe_name(fp8_recipe_kind k);
const char *fp8_format_mode_name(fp8_format_mode f);
const char *fp8_algo_name(fp8_amax_algo a);
int fp8_recipe_parse(const char *s, fp8_recipe_kind *out);
int fp8_format_mode_parse(const char *s, fp8_format_mode *out);
int fp8_algo_parse(const char *s, fp8_amax_algo *out);

/* The three FP8 tensors of a Linear layer (TE's fp8 meta: forward input and weight, backward
 * grad_output). */
typedef enum { FP8_T_INPUT = 0, FP8_T_WEIGHT = 1, FP8_T_GRAD = 2, FP8_TENSORS = 3 } fp8_tensor;
/* "input" / "weight" / "grad". */
const char *fp8_tensor_name(fp8_tensor t);
/* The format of tensor t under format mode f: E5M2 for gradients in hybrid, else E4M3. */
fp8_format fp8_format_of(fp8_format_mode f, fp8_tensor t);

/* The scale a per-tensor recipe derives from an amax (TE's _default_sf_compute):
 * max / amax / 2^margin; `prev` when amax is 0 or not finite. */
float fp8_scale_from_amax(float amax, fp8_format f, int margin, float prev);

/* One FP8 tensor's scaling state. */
typedef struct {
    float scale;              /* what the next cast multiplies by (per-tensor recipes) */
    float step_amax;          /* this step's amax so far (max over its micro-batches) */
    float used_scale;         /* the scale of the last recorded cast (the map shows it) */
    float hist_max;           /* the history's max at the last commit, this step's included */
    int seen;                 /* step_amax holds a value recorded this step */
} fp8_meta;

/* The scaling state of every FP8 tensor of a model: FP8_TENSORS per precision-map row (rows
 * that do not run in FP8 keep theirs untouched, so switching a row back resumes them). */
typedef struct {
    fp8_recipe r;
    int n_rows;
    fp8_meta *meta;           /* n_rows * FP8_TENSORS, index fp8_index */
    float *hist;              /* n_rows * FP8_TENSORS * r.history_len: ring buffers */
    int pos;                  /* ring slot this step's amaxes go to; shared: histories roll
                               * together */
    int64_t steps;            /* steps committed (slots of the ring filled, up to its length) */
    int recording;            /* between fp8_step_begin and fp8_step_commit / _abandon */
} fp8_state;

static inline int fp8_index(int row, fp8_tensor t) { return row * FP8_TENSORS + (int)t; }

/* Scales 1, histories 0 (TE's initial state). 0 ok, -1 out of memory (r.history_len < 1 is
 * taken as 1). */
int fp8_state_init(fp8_state *s, int n_rows, const fp8_recipe *r);
void fp8_state_free(fp8_state *s);
/* A copy of src into dst (initialized or zeroed); 0 ok, -1 out of memory. */
int fp8_state_copy(fp8_state *dst, const fp8_state *src);

/* The scale for a cast of tensor t of row `row` now. Per-tensor delayed: the meta's scale.
 * Current: from amax_now (the tensor's own amax; the caller measured it). MXFP8: 1 (blocks
 * carry their own). */
float fp8_scale_for(const fp8_state *s, int row, fp8_tensor t, float amax_now);
/* Records a cast's input amax (and the scale it used) into the step's entry, while recording
 * (training forward and backward; an evaluation or a sample changes nothing). */
void fp8_record(fp8_state *s, int row, fp8_tensor t, float amax, float scale);

/* Starts a training step: step amaxes cleared, recording on. */
void fp8_step_begin(fp8_state *s);
/* Ends it (after the optimizer step or the scaler's skip, as TE updates every iteration):
 * for every tensor recorded this step, its amax enters the history and, with the delayed
 * recipe, the new scale is fp8_scale_from_amax(max of the history, or this step's amax
 * with most_recent). Then the ring rolls. Recording off. */
void fp8_step_commit(fp8_state *s);
/* A step abandoned midway (stop key): nothing recorded enters the history. */
void fp8_step_abandon(fp8_state *s);

/* The largest amax the history of tensor (row, t) held at the last commit, that step's
 * included (what a delayed scale with `max` was derived from; the map's "hist max"); 0 when
 * none. */
float fp8_history_max(const fp8_state *s, int row, fp8_tensor t);

/* Checkpoint bytes (docs/files.md, "fp8_state.bin"): little-endian, a header with the recipe,
 * then every meta's scale and the histories in ring order. fp8_state_bytes is the size. */
size_t fp8_state_bytes(const fp8_state *s);
void fp8_state_write(const fp8_state *s, uint8_t *out);
/* Reads bytes written by fp8_state_write into s (initialized for the same rows). A different
 * row count or a truncated buffer: -1 + err. A different recipe is no error: scales carry
 * over, and a history of another length is cut or zero-padded at its oldest end. */
int fp8_state_read(fp8_state *s, const uint8_t *in, size_t n, char *err, size_t errlen);

#endif
