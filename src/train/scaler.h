/* scaler.h — dynamic / static loss scaling with PyTorch GradScaler semantics (docs/loss-scaling.md)
 * and the overflow counters the screen and the CSV report. */
#ifndef MPTUI_SCALER_H
#define MPTUI_SCALER_H

#include <stdint.h>

typedef struct {
    int enabled;           /* 0: scale is 1, nothing is checked or skipped */
    int dynamic;           /* 1: GradScaler update rule; 0: static scale */
    float scale;           /* fp32, as GradScaler's _scale tensor */
    float growth_factor, backoff_factor, min_scale; /* min_scale 0 = no floor */
    int growth_interval;
    int growth_tracker;
    int64_t overflow_total;     /* skipped steps, whole run */
    int64_t overflow_window;    /* skipped steps since scaler_window_reset */
    int64_t last_overflow_step; /* -1 = never */
    char first_nonfinite[64];   /* tensor of the last overflow step, "" if unknown */
} scaler;

/* dynamic: GradScaler rule; !dynamic: fixed scale = init_scale. */
void scaler_init(scaler *s, int enabled, int dynamic, float init_scale, float growth_factor,
                 float backoff_factor, int growth_interval, float min_scale);
/* The scale to multiply the loss by (1 when disabled). */
float scaler_loss_scale(const scaler *s);
/* inv = (float)(1.0 / (double)scale), exactly as GradScaler.unscale_ computes it. */
float scaler_inv_scale(const scaler *s);
/* After unscale: found_inf says whether any gradient was non-finite. Counts the overflow
 * (step = global step of this optimizer step, tensor = first non-finite tensor or NULL)
 * and applies the update rule. Returns 1 when the optimizer step must be skipped. */
int scaler_update(scaler *s, int found_inf, int64_t step, const char *tensor);
void scaler_window_reset(scaler *s);

#endif
