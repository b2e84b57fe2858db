/* Tests for src/train/trainer.c: runs on the built-in corpus with a small model, checking
 * learning in every mode, loss-scaling behaviour, determinism and commands. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "feed.h"
#include "trainer.h"

static char dir[64];

static void mk(void)
{
    snprintf(dir, sizeof dir, "/tmp/mptui-trainer-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void rm(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(trainer, .init = mk, .fini = rm, .timeout = 120);

/* A model small enough for tests under sanitizers: 2 layers, 64 wide, context 64. */
static void small_config(mp_config *c, const char *precision, int steps)
{
    char err[256];
    cfg_defaults(c);
    const char *kv[][2] = {
        {"n_layer", "2"}, {"n_head", "2"}, {"n_embd", "64"}, {"block_size", "64"},
        {"per_device_train_batch_size", "8"}, {"per_device_eval_batch_size", "8"},
        {"learning_rate", "3e-3"}, {"warmup_steps", "5"}, {"logging_steps", "10"},
        {"eval_steps", "1000000"}, {"eval_max_batches", "2"}, {"save_strategy", "no"},
        {"sample_length", "0"}, {"device", "cpu"}, {"precision", precision},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        cr_assert_eq(cfg_set(c, kv[i][0], kv[i][1], err, sizeof err), 0, "%s", err);
    char steps_s[16];
    snprintf(steps_s, sizeof steps_s, "%d", steps);
    cr_assert_eq(cfg_set(c, "max_steps", steps_s, err, sizeof err), 0);
    cr_assert_eq(cfg_set(c, "output_dir", dir, err, sizeof err), 0);
}

typedef struct { metric_row rows[256]; size_t n; feed_snapshot snap; } run_out;

static void run(const mp_config *c, const feed_cmd *cmds, int ncmds, run_out *o)
{
    char err[512] = "";
    feed *f = feed_create();
    trainer *t = trainer_create(c, f, NULL, NULL, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    for (int i = 0; i < ncmds; i++) cr_assert_eq(feed_push_cmd(f, &cmds[i]), 0);
    cr_assert_eq(trainer_run(t, err, sizeof err), 0, "%s", err);
    uint64_t since = 0;
    o->n = feed_read_rows(f, &since, o->rows, 256);
    cr_assert(feed_get_snapshot(f, &o->snap) > 0);
    trainer_free(t);
    feed_destroy(f);
}

static double first_train_loss(const run_out *o)
{
    for (size_t i = 0; i < o->n; i++)
        if (o->rows[i].kind == MR_TRAIN) return o->rows[i].loss;
    return NAN;
}

static void learns(const char *precision)
{
    mp_config c;
    small_config(&c, precision, 120);
    static run_out o;
    run(&c, NULL, 0, &o);
    double first = first_train_loss(&o), last = o.snap.loss;
    cr_assert_eq(o.snap.step, 120);
    /* a byte model starts near ln 256 = 5.55; the journal corpus is very regular */
    cr_assert(first > 3.5, "%s first logged loss %g", precision, first);
    cr_assert(last < 2.6, "%s loss only fell from %g to %g", precision, first, last);
    cr_assert(o.snap.state == RUN_FINISHED);
}

Test(trainer, learns_fp32) { learns("fp32"); }
Test(trainer, learns_fp16) { learns("fp16"); }
Test(trainer, learns_bf16) { learns("bf16"); }

Test(trainer, absurd_static_scale_overflows_and_skips_every_step)
{
    mp_config c;
    char err[128];
    small_config(&c, "fp16", 20);
    cr_assert_eq(cfg_set(&c, "loss_scale", "1099511627776", err, sizeof err), 0); /* 2^40 */
    static run_out o;
    run(&c, NULL, 0, &o);
    cr_assert_eq(o.snap.step, 20);
    cr_assert_eq(o.snap.overflow_total, 20);
    cr_assert_eq(o.snap.last_overflow_step, 20);
    cr_assert_eq(o.snap.loss_scale, 1099511627776.0f); /* static: never backs off */
    cr_assert(o.snap.first_nonfinite[0] != 0);
    for (size_t i = 0; i < o.n; i++) {
        cr_assert_eq(o.rows[i].overflow, 1);
        cr_assert(isnan(o.rows[i].grad_norm)); /* no optimizer step, no norm */
    }
}

static double grad_underflow(const feed_snapshot *s)
{
    double sum = 0;
    for (int i = 0; i < s->n_layers; i++) sum += s->layers[i].grad_uflow_pct;
    return sum;
}

Test(trainer, no_loss_scaling_underflows_more_than_dynamic)
{
    mp_config c;
    char err[128];
    static run_out stat1, dyn;
    small_config(&c, "fp16", 20);
    cr_assert_eq(cfg_set(&c, "loss_scale", "1", err, sizeof err), 0);
    run(&c, NULL, 0, &stat1);
    small_config(&c, "fp16", 20);
    cr_assert_eq(cfg_set(&c, "loss_scale", "dynamic", err, sizeof err), 0);
    run(&c, NULL, 0, &dyn);
    double u1 = grad_underflow(&stat1.snap), ud = grad_underflow(&dyn.snap);
    cr_assert(u1 > ud, "underflow%% sum: static 1 = %g, dynamic = %g", u1, ud);
    cr_assert(u1 > 0);
}

Test(trainer, deterministic_loss_columns)
{
    mp_config c;
    static run_out a, b;
    small_config(&c, "bf16", 30);
    run(&c, NULL, 0, &a);
    run(&c, NULL, 0, &b);
    cr_assert_eq(a.n, b.n);
    for (size_t i = 0; i < a.n; i++) {
        cr_assert_eq(memcmp(&a.rows[i].loss, &b.rows[i].loss, sizeof(double)), 0);
        cr_assert_eq(memcmp(&a.rows[i].grad_norm, &b.rows[i].grad_norm, sizeof(double)), 0);
    }
}

Test(trainer, mode_switch_command_applies_and_scaler_follows)
{
    mp_config c;
    static run_out o;
    small_config(&c, "fp16", 10);
    feed_cmd cmd = {.kind = CMD_SET_MODE, .arg = DT_BF16};
    run(&c, &cmd, 1, &o);
    cr_assert_eq(o.snap.mode, DT_BF16);
    cr_assert_eq(o.snap.scaler_enabled, 0);
    cr_assert_eq(o.rows[0].precision, DT_BF16);
    cr_assert(strstr(o.snap.message, "BF16") != NULL, "%s", o.snap.message);
    int fc = -1;
    for (int i = 0; i < o.snap.n_layers; i++)
        if (strcmp(o.snap.layers[i].name, "h.0.mlp.c_fc") == 0) fc = i;
    cr_assert(fc >= 0);
    cr_assert_eq(o.snap.layers[fc].act, DT_BF16);
}

Test(trainer, override_command_and_bad_override_message)
{
    mp_config c;
    static run_out o;
    small_config(&c, "fp16", 10);
    feed_cmd cmds[2] = {{.kind = CMD_SET_OVERRIDE, .arg = DT_F32, .name = "lm_head"},
                        {.kind = CMD_SET_OVERRIDE, .arg = DT_F32, .name = "h.7.nothing"}};
    run(&c, cmds, 2, &o);
    int lm = o.snap.n_layers - 2;
    cr_assert_str_eq(o.snap.layers[lm].name, "lm_head");
    cr_assert_eq(o.snap.layers[lm].act, DT_F32);
    cr_assert_eq(o.snap.layers[lm].override, DT_F32);
    cr_assert(o.snap.msg_is_error);
    cr_assert(strstr(o.snap.message, "no layer") != NULL, "%s", o.snap.message);
}

Test(trainer, eval_rows_and_perplexity)
{
    mp_config c;
    char err[128];
    static run_out o;
    small_config(&c, "fp32", 20);
    cr_assert_eq(cfg_set(&c, "eval_steps", "10", err, sizeof err), 0);
    run(&c, NULL, 0, &o);
    int evals = 0;
    for (size_t i = 0; i < o.n; i++) {
        if (o.rows[i].kind != MR_EVAL) continue;
        evals++;
        cr_assert(isnan(o.rows[i].loss));
        cr_assert_float_eq(o.rows[i].eval_ppl, exp(o.rows[i].eval_loss), 1e-9 * o.rows[i].eval_ppl);
    }
    cr_assert_eq(evals, 2);
    cr_assert(o.snap.have_eval);
    cr_assert_float_eq(o.snap.eval_bits, o.snap.eval_loss / log(2.0), 1e-9);
}

Test(trainer, missing_data_file_is_one_clear_line)
{
    mp_config c;
    char err[512] = "";
    small_config(&c, "fp32", 10);
    cr_assert_eq(cfg_set(&c, "data", "/nonexistent/corpus.txt", err, sizeof err), 0);
    cr_assert_null(trainer_create(&c, NULL, NULL, NULL, err, sizeof err));
    cr_assert(strstr(err, "/nonexistent/corpus.txt") != NULL, "%s", err);
    cr_assert_null(strchr(err, '\n'));
}

static int same_row(const metric_row *a, const metric_row *b)
{
    return a->step == b->step && a->kind == b->kind && a->precision == b->precision &&
           memcmp(&a->loss, &b->loss, sizeof a->loss) == 0 &&
           memcmp(&a->lr, &b->lr, sizeof a->lr) == 0 &&
           memcmp(&a->grad_norm, &b->grad_norm, sizeof a->grad_norm) == 0 &&
           memcmp(&a->loss_scale, &b->loss_scale, sizeof a->loss_scale) == 0 &&
           a->overflow == b->overflow &&
           a->overflow_total == b->overflow_total &&
           memcmp(&a->eval_loss, &b->eval_loss, sizeof a->eval_loss) == 0;
}

/* 2N steps straight vs resume from checkpoint-N + N steps: identical rows after N (all but
 * the time columns), with the linear schedule, fp16 dynamic scaling and an eval between. */
Test(trainer, resume_continues_exactly)
{
    mp_config c;
    char err[256], ck[128];
    static run_out straight, resumed;
    small_config(&c, "fp16", 40);
    cr_assert_eq(cfg_set(&c, "save_strategy", "steps", err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "save_steps", "20", err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "eval_steps", "30", err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "growth_interval", "7", err, sizeof err), 0); /* scale changes */
    run(&c, NULL, 0, &straight);
    snprintf(ck, sizeof ck, "%s/checkpoint-20", dir);
    cr_assert_eq(cfg_set(&c, "resume_from_checkpoint", ck, err, sizeof err), 0);
    char out2[128];
    snprintf(out2, sizeof out2, "%s/second", dir);
    cr_assert_eq(cfg_set(&c, "output_dir", out2, err, sizeof err), 0);
    run(&c, NULL, 0, &resumed);
    size_t k = 0;
    while (k < straight.n && straight.rows[k].step <= 20) k++;
    cr_assert_eq(resumed.n, straight.n - k, "rows after the resume point");
    for (size_t i = 0; i < resumed.n; i++)
        cr_assert(same_row(&resumed.rows[i], &straight.rows[k + i]),
                  "row %zu (step %lld) differs: loss %.9g/%.9g eval %.9g/%.9g scale %g/%g ovf %lld/%lld",
                  i, (long long)resumed.rows[i].step, resumed.rows[i].loss, straight.rows[k + i].loss,
                  resumed.rows[i].eval_loss, straight.rows[k + i].eval_loss,
                  resumed.rows[i].loss_scale, straight.rows[k + i].loss_scale,
                  (long long)resumed.rows[i].overflow_total, (long long)straight.rows[k + i].overflow_total);
    cr_assert_eq(resumed.snap.loss_scale, straight.snap.loss_scale);
    cr_assert(resumed.snap.loss_scale > 65536.0f, "growth_interval 7 should have grown the scale");
}

Test(trainer, resume_latest_without_checkpoint_fails_clearly)
{
    mp_config c;
    char err[512] = "";
    small_config(&c, "fp32", 10);
    cr_assert_eq(cfg_set(&c, "resume_from_checkpoint", "latest", err, sizeof err), 0);
    cr_assert_null(trainer_create(&c, NULL, NULL, NULL, err, sizeof err));
    cr_assert(strstr(err, dir) != NULL, "%s", err);
}
