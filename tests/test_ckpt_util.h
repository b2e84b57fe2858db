/* test_ckpt_util.h — helpers shared by the checkpoint tests: a trainer state with odd values
 * in every field, and a bit-exact comparison of two states. */
#ifndef MPTUI_TEST_CKPT_UTIL_H
#define MPTUI_TEST_CKPT_UTIL_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_state.h"

static inline void fill_state(ckpt_state *st, int64_t step)
{
    memset(st, 0, sizeof *st);
    st->global_step = step;
    st->epoch = 1.0 / 3.0;
    st->elapsed_s = M_PI * 1e3;
    st->tokens_seen = 123456789012ull;
    scaler_init(&st->sc, 1, 1, 65536.0f, 2.0f, 0.5f, 2000, 0.0f);
    st->sc.scale = 0.1f; /* not a power of two: must still round-trip exactly */
    st->sc.growth_tracker = 17;
    st->sc.overflow_total = 5;
    st->sc.overflow_window = 2;
    st->sc.last_overflow_step = step / 2;
    snprintf(st->sc.first_nonfinite, sizeof st->sc.first_nonfinite, "h.1.mlp.c_fc");
    st->optim_t = step - step / 3; /* skipped steps: fewer AdamW updates than steps */
    rng_seed(&st->data_rng, 42);
    st->data_rng.s[3] = 0xffffffffffffffffull;
    rng_seed(&st->sample_rng, 7);
    st->mode = DT_BF16;
    st->n_overrides = 2;
    snprintf(st->overrides[0].pattern, 64, "lm_head");
    st->overrides[0].dtype = DT_F32;
    snprintf(st->overrides[1].pattern, 64, "h.*.mlp.c_fc");
    st->overrides[1].dtype = -1;
    st->best_metric = 1.2345678901234567;
    st->best_step = step - 1;
    st->n_log = 3;
    st->log_history = calloc(3, sizeof *st->log_history);
    metric_row_init(&st->log_history[0], MR_TRAIN, 1);
    st->log_history[0].loss = 4.1588830833596715;
    st->log_history[0].lr = 6e-4;
    st->log_history[0].overflow = 0;
    st->log_history[0].overflow_total = 0;
    st->log_history[0].loss_scale = 65536;
    st->log_history[0].precision = DT_F16;
    metric_row_init(&st->log_history[1], MR_EVAL, 2);
    st->log_history[1].eval_loss = 1000.0;
    st->log_history[1].eval_ppl = INFINITY;
    st->log_history[1].epoch = 5e-324; /* smallest subnormal double */
    metric_row_init(&st->log_history[2], MR_TRAIN, 3);
    st->log_history[2].grad_norm = -INFINITY;
    st->log_history[2].overflow = 1;
    snprintf(st->log_history[2].replica, 8, "fp16");
    st->win = (ckpt_window){1, 12.345678901234567, step % 10, step % 10, 4096 * (step % 10), 0.1};
}

static inline void expect_same_double(double a, double b, const char *what)
{
    if (isnan(a) && isnan(b)) return;
    cr_assert_eq(memcmp(&a, &b, sizeof a), 0, "%s: %.17g vs %.17g", what, a, b);
}

static inline void expect_state_eq(const ckpt_state *a, const ckpt_state *b)
{
    cr_assert_eq(a->global_step, b->global_step);
    expect_same_double(a->epoch, b->epoch, "epoch");
    expect_same_double(a->elapsed_s, b->elapsed_s, "elapsed_s");
    cr_assert_eq(a->tokens_seen, b->tokens_seen);
    cr_assert_eq(memcmp(&a->sc, &b->sc, sizeof a->sc), 0, "scaler differs");
    cr_assert_eq(a->optim_t, b->optim_t);
    cr_assert_eq(memcmp(&a->data_rng, &b->data_rng, sizeof a->data_rng), 0);
    cr_assert_eq(memcmp(&a->sample_rng, &b->sample_rng, sizeof a->sample_rng), 0);
    cr_assert_eq(a->mode, b->mode);
    cr_assert_eq(a->n_overrides, b->n_overrides);
    for (int i = 0; i < a->n_overrides; i++) {
        cr_assert_str_eq(a->overrides[i].pattern, b->overrides[i].pattern);
        cr_assert_eq(a->overrides[i].dtype, b->overrides[i].dtype);
    }
    expect_same_double(a->best_metric, b->best_metric, "best_metric");
    cr_assert_eq(a->best_step, b->best_step);
    cr_assert_eq(a->win.known, b->win.known);
    expect_same_double(a->win.loss_sum, b->win.loss_sum, "win.loss_sum");
    cr_assert_eq(a->win.loss_n, b->win.loss_n);
    cr_assert_eq(a->win.steps, b->win.steps);
    cr_assert_eq(a->win.tokens, b->win.tokens);
    expect_same_double(a->win.time_s, b->win.time_s, "win.time_s");
    cr_assert_eq(a->n_log, b->n_log);
    for (size_t i = 0; i < a->n_log; i++) {
        const metric_row *x = &a->log_history[i], *y = &b->log_history[i];
        cr_assert_eq(x->step, y->step);
        cr_assert_eq(x->kind, y->kind);
        cr_assert_eq(x->precision, y->precision);
        double xs[] = {x->epoch, x->time_s, x->loss, x->lr, x->grad_norm, x->loss_scale,
                       x->tokens_per_s, x->eval_loss, x->eval_ppl};
        double ys[] = {y->epoch, y->time_s, y->loss, y->lr, y->grad_norm, y->loss_scale,
                       y->tokens_per_s, y->eval_loss, y->eval_ppl};
        for (int k = 0; k < 9; k++) expect_same_double(xs[k], ys[k], "log_history");
        cr_assert_eq(x->overflow, y->overflow);
        cr_assert_eq(x->overflow_total, y->overflow_total);
        cr_assert_str_eq(x->replica, y->replica);
    }
}

#endif
