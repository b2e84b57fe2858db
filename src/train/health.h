/* health.h — per-layer tensor health (Transformer Engine style debug statistics): amax,
 * underflow %, overflow count, dynamic range, computed from what a rounding did (num_stats). */
#ifndef MPTUI_HEALTH_H
#define MPTUI_HEALTH_H

#include <stdint.h>

#include "fp8.h"
#include "numerics.h"

/* The tensors of a precision-map row that get a health record (docs/layers.md). */
typedef enum {
    HT_ACTIVATION = 0,   /* the row's output activation, rounded to its act dtype */
    HT_GRADIENT,         /* gradient of that output in the true (unscaled) domain */
    HT_GRADIENT_SCALED,  /* the same gradient as the backward stores it: times the loss scale */
    HT_WGRAD_SCALED,     /* weight + bias gradients, rounded to the grad dtype, scaled */
    HT_FP8_INPUT,        /* an FP8 row's casts (docs/fp8.md): its GEMM input, */
    HT_FP8_WEIGHT,       /* its weight, */
    HT_FP8_GRAD,         /* the gradient of its output (unscaled amax, saturations as overflow) */
    HT_COUNT
} health_tensor;
/* The tensors every row's roundings give (HT_ACTIVATION .. HT_WGRAD_SCALED). */
#define HT_ROUNDINGS HT_FP8_INPUT

/* "activation", "gradient", "gradient_scaled", "weight_gradient_scaled", "fp8_input",
 * "fp8_weight", "fp8_grad"; "?" otherwise. */
const char *health_tensor_name(health_tensor t);
/* The record of FP8 tensor t (HT_FP8_INPUT + t); HT_COUNT for an invalid t. */
health_tensor health_fp8_tensor(fp8_tensor t);

typedef struct {
    double amax;            /* largest finite |x| before rounding */
    double underflow_pct;   /* 100 * (nonzero before, zero after) / elements */
    int64_t overflow;       /* finite before, Inf after */
    int64_t nonfinite;      /* Inf / NaN already before the rounding */
    double dynamic_range;   /* log2 amax - log2 smallest nonzero |x|; NAN when no nonzero */
    uint64_t count;         /* elements */
} tensor_health;

/* Health of one rounding's statistics. count 0 gives zeros and dynamic_range NAN. */
void health_from_stats(const num_stats *st, tensor_health *out);

/* The statistics of the gradient in the unscaled domain, from those of the stored scaled
 * gradient (scaled) and of the extra pass over it (pass: each stored value times
 * inv_scale in fp32, rounded to the grad dtype): what was lost at the scaled rounding stays
 * lost, plus what the pass flushes; amax / amin scale by inv_scale. */
void health_unscaled(const num_stats *scaled, const num_stats *pass, float inv_scale,
                     num_stats *out);

#endif
