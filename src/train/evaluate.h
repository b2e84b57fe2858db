/* evaluate.h — eval loss / perplexity / bits per token on the fixed validation windows
 * (docs/data.md), and a short seeded text sample (bytes, or decoded BPE tokens). */
#ifndef MPTUI_EVALUATE_H
#define MPTUI_EVALUATE_H

#include <stdatomic.h>
#include <stdint.h>

#include "bpe.h"
#include "data.h"
#include "dist.h"
#include "model.h"
#include "precision.h"

typedef struct {
    gpt *model;
    const dataset *data;
    const prec_policy *policy; /* NULL: full eval, every row cast to full_dtype */
    dtype_t full_dtype;
    int batch, T, max_batches;  /* max_batches 0 = every window; max_batches x batch
                                 * windows are evaluated, gpt_max_batch(model) per forward */
    int32_t *inputs, *targets;  /* host scratch, gpt_max_batch(model) x T */
    int sample_length;          /* 0 = no sample */
    float temperature;          /* 0 = greedy */
    rng_state *sample_rng;
    const atomic_int *stop;     /* NULL, or nonzero = stop between batches and tokens */
    const bpe *tok;             /* decodes the sample of BPE tokens; NULL: byte tokens only */
    dist *d;                    /* NULL or one rank: all windows here. Else this rank takes
                                 * every ranks-th group of windows and the sums are reduced
                                 * (docs/dist.md); stop must then be NULL */
    char *err;                  /* rc -2: the collective that failed */
    size_t errlen;
} eval_args;

typedef struct {
    int64_t step;
    double loss, ppl, bits;
    int windows;
    char sample[512];
} eval_result;

/* 0 ok; -1 out of memory; -2 a collective failed (a->err); 1 stopped (a->stop, checked between batches) before every window
 * was evaluated: out is not a result. A stop while sampling keeps the loss, cuts the sample short and puts the
 * sample RNG back where it was (a checkpoint then holds an RNG no sample consumed). Leaves the model's weight copies in the eval policy: the trainer
 * refreshes them at the start of every step anyway. */
int eval_run(const eval_args *a, eval_result *out);
/* eval_loss -> perplexity (Inf on overflow) and bits per token. */
double eval_ppl(double loss);
double eval_bits(double loss);

#endif
