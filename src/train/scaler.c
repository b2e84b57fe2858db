/* scaler.c — loss scale state machine with torch.amp.GradScaler's update rule
 * (_amp_update_scale_), a static-scale variant, and the overflow counters. */
#include "scaler.h"

#include <math.h>
#include <string.h>

void scaler_init(scaler *s, int enabled, int dynamic, float init_scale, float growth_factor,
                 float backoff_factor, int growth_interval, float min_scale)
{
    memset(s, 0, sizeof *s);
    s->enabled = enabled;
    s->dynamic = dynamic;
    s->scale = enabled ? init_scale : 1.0f;
    s->growth_factor = growth_factor;
    s->backoff_factor = backoff_factor;
    s->growth_interval = growth_interval;
    s->min_scale = min_scale;
    s->last_overflow_step = -1;
}

float scaler_loss_scale(const scaler *s) { return s->enabled ? s->scale : 1.0f; }

float scaler_inv_scale(const scaler *s)
{
    return (float)(1.0 / (double)scaler_loss_scale(s));
}

static void scaler_count(scaler *s, int64_t step, const char *tensor)
{
    s->overflow_total++;
    s->overflow_window++;
    s->last_overflow_step = step;
    s->first_nonfinite[0] = '\0';
    if (tensor) {
        strncpy(s->first_nonfinite, tensor, sizeof s->first_nonfinite - 1);
        s->first_nonfinite[sizeof s->first_nonfinite - 1] = '\0';
    }
}

/* The factors are Python floats (double) in PyTorch and the product is stored back into
 * the fp32 scale tensor, so multiply in double and round once to float. */
static void scaler_dynamic_update(scaler *s, int found_inf)
{
    if (found_inf) {
        float backed = (float)((double)s->scale * (double)s->backoff_factor);
        if (s->min_scale > 0.0f && !(backed >= s->min_scale)) backed = s->min_scale;
        s->scale = backed;
        s->growth_tracker = 0;
        return;
    }
    int successful = s->growth_tracker + 1;
    if (successful == s->growth_interval) { /* == as PyTorch */
        float grown = (float)((double)s->scale * (double)s->growth_factor);
        if (isfinite(grown)) s->scale = grown;
        s->growth_tracker = 0;
    } else {
        s->growth_tracker = successful;
    }
}

int scaler_update(scaler *s, int found_inf, int64_t step, const char *tensor)
{
    if (found_inf) scaler_count(s, step, tensor);
    if (!s->enabled) return 0; /* no scaler: PyTorch steps on whatever the grads hold */
    if (s->dynamic) scaler_dynamic_update(s, found_inf);
    return found_inf ? 1 : 0;
}

void scaler_window_reset(scaler *s) { s->overflow_window = 0; }
