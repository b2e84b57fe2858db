/* mptui.h — the engine as a C library: what a hand-written mixed-precision training loop
 * needs (backend, data, GPT model, precision policy, loss scaler, AdamW). See
 * examples/manual_loop.c; the trainer (trainer.h) is the high-level alternative. */
#ifndef MPTUI_H
#define MPTUI_H

#include "backend.h"   /* bk_create, bk_unscale, ... : all math */
#include "data.h"      /* data_load, data_train_batch, data_default_path */
#include "model.h"     /* gpt_create, gpt_forward, gpt_backward, gpt_refresh_copies */
#include "numerics.h"  /* dtype_t: DT_F32, DT_F16, DT_BF16 */
#include "optim.h"     /* optim_init, optim_step, optim_grad_norm, optim_clip_coef */
#include "precision.h" /* prec_init, prec_set_mode, prec_set_override */
#include "rng.h"
#include "scaler.h"    /* scaler_init, scaler_loss_scale, scaler_inv_scale, scaler_update */

#endif
