/* health.c — turns the counters a rounding collected (num_stats) into the per-layer health
 * numbers the precision map and layers.csv show, with exact definitions (docs/layers.md). */
#include "health.h"

#include <math.h>
#include <string.h>

static const char *const names[HT_COUNT] = {
    "activation", "gradient", "gradient_scaled", "weight_gradient_scaled", "fp8_input",
    "fp8_weight", "fp8_grad",
};
_Static_assert(HT_FP8_GRAD - HT_FP8_INPUT == FP8_T_GRAD - FP8_T_INPUT &&
               HT_FP8_WEIGHT - HT_FP8_INPUT == FP8_T_WEIGHT - FP8_T_INPUT &&
               HT_COUNT - HT_FP8_INPUT == FP8_TENSORS, "one record per FP8 tensor, in order");

const char *health_tensor_name(health_tensor t)
{
    return (unsigned)t < HT_COUNT ? names[t] : "?";
}

health_tensor health_fp8_tensor(fp8_tensor t)
{
    return (unsigned)t < FP8_TENSORS ? (health_tensor)(HT_FP8_INPUT + (int)t) : HT_COUNT;
}

void health_from_stats(const num_stats *st, tensor_health *out)
{
    memset(out, 0, sizeof *out);
    out->count = st->count;
    out->amax = st->amax;
    out->overflow = (int64_t)st->overflow;
    out->nonfinite = (int64_t)st->nonfinite;
    out->underflow_pct = st->count ? 100.0 * (double)st->underflow / (double)st->count : 0.0;
    /* log2 in double of two floats: exact for powers of two, no fp32 rounding in between */
    out->dynamic_range = st->amin_nz > 0 ? log2((double)st->amax) - log2((double)st->amin_nz)
                                         : NAN;
}

void health_unscaled(const num_stats *scaled, const num_stats *pass, float inv_scale,
                     num_stats *out)
{
    *out = *scaled;
    out->amax = scaled->amax * inv_scale;
    out->amin_nz = scaled->amin_nz * inv_scale;
    if (out->amax == 0.0f) out->amin_nz = 0.0f; /* nothing nonzero is left to range over */
    out->underflow += pass->underflow;
    out->overflow += pass->overflow;
}
