/* Tests for src/train/trainer.c: runs on the built-in corpus with a small model, checking
 * learning in every mode, loss-scaling behaviour, determinism and commands. */
#include <criterion/criterion.h>
#include <csv.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "feed.h"
#include "trainer.h"
#include "test_deadline.h"

static char dir[64];

static void mk(void)
{
    snprintf(dir, sizeof dir, "/tmp/mptui-trainer-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    test_deadline(120);
}

static void rm(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(trainer, .init = mk, .fini = rm);

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

/* Heap bytes trainer_create takes (the model, its lane, data and scratch). */
static double create_bytes(const mp_config *c, trainer **t, feed **f)
{
    char err[512] = "";
    struct mallinfo2 a = mallinfo2();
    *f = feed_create();
    *t = trainer_create(c, *f, NULL, NULL, err, sizeof err);
    cr_assert_not_null(*t, "%s", err);
    struct mallinfo2 b = mallinfo2();
    return (double)(b.uordblks + b.hblkhd) - (double)(a.uordblks + a.hblkhd);
}

/* --per_device_eval_batch_size never sizes memory (eval runs in chunks of the training
 * batch), and the eval loss does not depend on it. */
Test(trainer, eval_batch_never_sizes_memory)
{
#ifdef __SANITIZE_ADDRESS__
    cr_skip_test("ASan's allocator does not report through mallinfo2");
#endif
    double used[2], loss[2];
    const char *eb[2] = {"1", "100000"};
    for (int k = 0; k < 2; k++) {
        mp_config c;
        char err[512] = "";
        small_config(&c, "bf16", 2);
        cr_assert_eq(cfg_set(&c, "per_device_eval_batch_size", eb[k], err, sizeof err), 0);
        cr_assert_eq(cfg_set(&c, "eval_max_batches", "0", err, sizeof err), 0);
        /* 1% of the corpus: still far more eval windows than the training batch's 8 */
        cr_assert_eq(cfg_set(&c, "validation_split_percentage", "1", err, sizeof err), 0);
        cr_assert_eq(cfg_set(&c, "eval_steps", "2", err, sizeof err), 0);
        trainer *t;
        feed *f;
        used[k] = create_bytes(&c, &t, &f);
        cr_assert_eq(trainer_run(t, err, sizeof err), 0, "%s", err);
        feed_snapshot snap;
        cr_assert(feed_get_snapshot(f, &snap) > 0);
        cr_assert(snap.have_eval);
        loss[k] = snap.eval_loss;
        trainer_free(t);
        feed_destroy(f);
    }
    /* the training batch is 8 windows of 64 tokens; the eval windows are hundreds */
    cr_assert(fabs(used[1] - used[0]) <= 0.01 * used[0], "eval batch 1: %.0f bytes, 100000: %.0f",
              used[0], used[1]);
    cr_assert_eq(memcmp(&loss[0], &loss[1], sizeof loss[0]), 0, "%.17g vs %.17g", loss[0], loss[1]);
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

/* ---- lockstep comparison ---- */

static void run_cmp(const mp_config *c, const lane_spec *sp, int n, const feed_cmd *cmds,
                    int ncmds, run_out *o)
{
    char err[512] = "";
    feed *f = feed_create();
    trainer *t = trainer_create(c, f, NULL, NULL, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    if (sp) cr_assert_eq(trainer_compare_start(t, sp, n, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < ncmds; i++) cr_assert_eq(feed_push_cmd(f, &cmds[i]), 0);
    cr_assert_eq(trainer_run(t, err, sizeof err), 0, "%s", err);
    uint64_t since = 0;
    o->n = feed_read_rows(f, &since, o->rows, 256);
    cr_assert(feed_get_snapshot(f, &o->snap) > 0);
    trainer_free(t);
    feed_destroy(f);
}

/* The train rows of one replica ("" = rows outside a comparison), in order. */
static size_t rows_of(const run_out *o, const char *replica, metric_kind kind, metric_row *out)
{
    size_t k = 0;
    for (size_t i = 0; i < o->n; i++)
        if (o->rows[i].kind == kind && strcmp(o->rows[i].replica, replica) == 0)
            out[k++] = o->rows[i];
    return k;
}

static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

Test(trainer, compare_same_mode_replicas_are_bit_identical)
{
    mp_config c;
    char err[64];
    static run_out o;
    static metric_row a[64], b[64];
    small_config(&c, "fp16", 20);
    cr_assert_eq(cfg_set(&c, "logging_steps", "5", err, sizeof err), 0);
    lane_spec sp[2] = {{"a", DT_F16, 0}, {"b", DT_F16, 0}};
    run_cmp(&c, sp, 2, NULL, 0, &o);
    size_t na = rows_of(&o, "a", MR_TRAIN, a), nb = rows_of(&o, "b", MR_TRAIN, b);
    cr_assert_eq(na, 4);
    cr_assert_eq(nb, 4);
    for (size_t i = 0; i < na; i++) {
        cr_assert_eq(a[i].step, (int64_t)(5 * (i + 1)));
        cr_assert_eq(b[i].step, a[i].step);
        cr_assert(same_bits(a[i].loss, b[i].loss), "step %lld: %.9g vs %.9g",
                  (long long)a[i].step, a[i].loss, b[i].loss);
        cr_assert(same_bits(a[i].grad_norm, b[i].grad_norm));
        cr_assert(same_bits(a[i].loss_scale, b[i].loss_scale));
        cr_assert_eq(a[i].precision, DT_F16);
    }
    cr_assert(a[3].loss < a[0].loss - 0.3, "loss %g -> %g", a[0].loss, a[3].loss);
    cr_assert_eq(o.snap.n_replicas, 2);
    cr_assert_eq(o.snap.n_div, 1);
    cr_assert_eq(o.snap.div_step, 20);
    cr_assert_eq(o.snap.div[0].weight_rel_l2, 0.0);
    cr_assert_eq(o.snap.div[0].loss_diff, 0.0);
    cr_assert_float_eq(o.snap.div[0].grad_cos, 1.0, 1e-12);
}

typedef struct { char cell[8][16][48]; int ncols[1024]; int nrows, col; } csv_table;
static csv_table ctab;

static void cb_field(void *s, size_t len, void *ud)
{
    csv_table *t = ud;
    if (t->nrows < 1024 && t->col < 16) {
        if (t->nrows < 8) {
            size_t n = len < 47 ? len : 47;
            memcpy(t->cell[t->nrows][t->col], s, n);
            t->cell[t->nrows][t->col][n] = 0;
        }
    }
    t->col++;
}

static void cb_row(int c, void *ud)
{
    (void)c;
    csv_table *t = ud;
    if (t->nrows < 1024) t->ncols[t->nrows] = t->col;
    t->nrows++;
    t->col = 0;
}

static char *slurp_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    static char buf[1 << 20];
    *len = fread(buf, 1, sizeof buf - 1, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

static void parse_csv(const char *path, csv_table *t)
{
    memset(t, 0, sizeof *t);
    size_t len;
    char *text = slurp_file(path, &len);
    struct csv_parser p;
    cr_assert_eq(csv_init(&p, CSV_STRICT | CSV_STRICT_FINI), 0);
    cr_assert_eq(csv_parse(&p, text, len, cb_field, cb_row, t), len, "%s", csv_strerror(csv_error(&p)));
    cr_assert_eq(csv_fini(&p, cb_field, cb_row, t), 0);
    csv_free(&p);
}

/* Forking a trained state (resume + --compare) continues the run exactly in the replica of
 * the same mode; the bf16 replica learns too and goes its own way; compare.csv parses. */
Test(trainer, compare_fork_from_checkpoint_continues_and_modes_differ)
{
    mp_config c;
    char err[256], ck[128], out2[128], path[192];
    static run_out straight, cmp;
    static metric_row sf[64], f16[64], b16[64], e16[16], eb[16];
    small_config(&c, "fp16", 40);
    cr_assert_eq(cfg_set(&c, "save_strategy", "steps", err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "save_steps", "20", err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "eval_steps", "30", err, sizeof err), 0);
    run(&c, NULL, 0, &straight);
    snprintf(ck, sizeof ck, "%s/checkpoint-20", dir);
    snprintf(out2, sizeof out2, "%s/cmp", dir);
    cr_assert_eq(cfg_set(&c, "resume_from_checkpoint", ck, err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "output_dir", out2, err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "compare", "fp16,bf16", err, sizeof err), 0);
    run_cmp(&c, NULL, 0, NULL, 0, &cmp);

    size_t ns = rows_of(&straight, "", MR_TRAIN, sf);
    size_t n16 = rows_of(&cmp, "fp16", MR_TRAIN, f16), nbf = rows_of(&cmp, "bf16", MR_TRAIN, b16);
    cr_assert_eq(ns, 4);
    cr_assert_eq(n16, 2);
    cr_assert_eq(nbf, 2);
    for (size_t i = 0; i < 2; i++) {
        cr_assert(same_row(&f16[i], &sf[2 + i]), "fp16 replica step %lld: loss %.9g vs %.9g",
                  (long long)f16[i].step, f16[i].loss, sf[2 + i].loss);
        cr_assert_eq(b16[i].step, f16[i].step);
        cr_assert_eq(b16[i].precision, DT_BF16);
        cr_assert(!same_bits(b16[i].loss, f16[i].loss), "bf16 and fp16 losses equal at %lld",
                  (long long)b16[i].step);
        cr_assert_eq(b16[i].loss_scale, 1.0);
    }
    /* both learn from where the straight run was at its first log */
    cr_assert(f16[1].loss < sf[0].loss - 0.5, "fp16 %g -> %g", sf[0].loss, f16[1].loss);
    cr_assert(b16[1].loss < sf[0].loss - 0.5, "bf16 %g -> %g", sf[0].loss, b16[1].loss);
    /* eval per replica on the same windows; fp16's equals the straight run's */
    cr_assert_eq(rows_of(&cmp, "fp16", MR_EVAL, e16), 1);
    cr_assert_eq(rows_of(&cmp, "bf16", MR_EVAL, eb), 1);
    metric_row se[4];
    cr_assert_eq(rows_of(&straight, "", MR_EVAL, se), 1);
    cr_assert(same_bits(e16[0].eval_loss, se[0].eval_loss));
    cr_assert(!same_bits(eb[0].eval_loss, se[0].eval_loss));
    cr_assert_eq(cmp.snap.div[0].a, 0);
    cr_assert(cmp.snap.div[0].weight_rel_l2 > 1e-6 && cmp.snap.div[0].weight_rel_l2 < 0.1,
              "rel L2 %g", cmp.snap.div[0].weight_rel_l2);
    cr_assert(cmp.snap.div[0].grad_cos > 0.5 && cmp.snap.div[0].grad_cos < 1.0, "grad cos %.17g",
              cmp.snap.div[0].grad_cos);

    /* compare.csv: a header, then per logged step one "all" row and one row per layer */
    snprintf(path, sizeof path, "%s/logs/compare.csv", out2);
    parse_csv(path, &ctab);
    static const char *cols[9] = {"step", "a", "b", "layer", "loss_a", "loss_b", "loss_diff",
                                  "weight_rel_l2", "grad_cos"};
    for (int k = 0; k < 9; k++) cr_assert_str_eq(ctab.cell[0][k], cols[k]);
    int layers = 2 + 6 * 2 + 1; /* wte, wpe, 6 modules per block, ln_f */
    cr_assert_eq(ctab.nrows, 1 + 2 * (1 + layers));
    for (int r = 0; r < ctab.nrows; r++) cr_assert_eq(ctab.ncols[r], 9, "row %d", r);
    char (*all)[48] = ctab.cell[1];
    cr_assert_str_eq(all[0], "30");
    cr_assert_str_eq(all[1], "fp16");
    cr_assert_str_eq(all[2], "bf16");
    cr_assert_str_eq(all[3], "all");
    cr_assert_float_eq(strtod(all[4], NULL), f16[0].loss, 1e-8); /* 9 significant digits */
    cr_assert_float_eq(strtod(all[5], NULL), b16[0].loss, 1e-8);
    cr_assert_float_eq(strtod(all[6], NULL), b16[0].loss - f16[0].loss, 1e-7);
    cr_assert(strtod(all[7], NULL) > 0);
    char (*wte)[48] = ctab.cell[2];
    cr_assert_str_eq(wte[3], "wte");
    cr_assert_str_eq(wte[4], "");
    cr_assert(strtod(wte[8], NULL) > 0.5);
    cr_assert_str_eq(ctab.cell[5][3], "h.0.attn.c_attn");
    /* metrics.csv labels the replicas in its last column */
    snprintf(path, sizeof path, "%s/logs/metrics.csv", out2);
    size_t len;
    const char *text = slurp_file(path, &len);
    cr_assert_not_null(strstr(text, ",eval_ppl,replica\n"));
    cr_assert_not_null(strstr(text, ",bf16\n"));
    /* layers.csv: each replica's tensor health, labelled with its name */
    snprintf(path, sizeof path, "%s/logs/layers.csv", out2);
    text = slurp_file(path, &len);
    int n30[2] = {0, 0}, n40[2] = {0, 0};
    for (const char *l = text; (l = strchr(l, '\n')) != NULL; l++) {
        n30[0] += strncmp(l + 1, "30,fp16,", 8) == 0;
        n30[1] += strncmp(l + 1, "30,bf16,", 8) == 0;
        n40[0] += strncmp(l + 1, "40,fp16,", 8) == 0;
        n40[1] += strncmp(l + 1, "40,bf16,", 8) == 0;
    }
    cr_assert(n30[0] > 20 && n30[0] == n30[1] && n40[0] == n30[0] && n40[1] == n30[0],
              "layers.csv rows per replica: %d %d %d %d", n30[0], n30[1], n40[0], n40[1]);
    cr_assert_not_null(strstr(text, "\n30,bf16,h.0.mlp.c_fc,activation,bf16,"));
    cr_assert_not_null(strstr(text, "\n40,fp16,h.1.attn.c_proj,activation,fp16,"));
    /* each replica saved as its own resumable checkpoint */
    snprintf(path, sizeof path, "%s/compare-bf16/checkpoint-40/model.safetensors", out2);
    cr_assert_eq(access(path, R_OK), 0, "%s", path);
    snprintf(path, sizeof path, "%s/compare-fp16/checkpoint-40/trainer_state.json", out2);
    cr_assert_eq(access(path, R_OK), 0, "%s", path);
}

/* A replica that overflows on every step (static 2^40 in fp16) leaves the fp32 replica
 * exactly where a plain fp32 run would be: same steps, same batches, same numbers. */
Test(trainer, compare_overflow_in_one_replica_does_not_disturb_the_other)
{
    mp_config c;
    static run_out plain, cmp;
    static metric_row p[64], r32[64], r16[64];
    small_config(&c, "fp32", 20);
    run(&c, NULL, 0, &plain);
    lane_spec sp[2] = {{"", DT_F32, 0}, {"", DT_F16, 1099511627776.0}};
    run_cmp(&c, sp, 2, NULL, 0, &cmp);
    size_t np = rows_of(&plain, "", MR_TRAIN, p);
    cr_assert_eq(rows_of(&cmp, "fp32", MR_TRAIN, r32), np);
    cr_assert_eq(rows_of(&cmp, "fp16", MR_TRAIN, r16), np);
    for (size_t i = 0; i < np; i++) {
        cr_assert(same_row(&r32[i], &p[i]), "step %lld: %.9g vs %.9g", (long long)p[i].step,
                  r32[i].loss, p[i].loss);
        cr_assert_eq(r16[i].step, p[i].step);
        cr_assert_eq(r16[i].overflow, 1);
        cr_assert(isnan(r16[i].grad_norm));
    }
    cr_assert_eq(cmp.snap.step, 20);
    cr_assert_eq(cmp.snap.n_replicas, 2);
    cr_assert_eq(cmp.snap.replica_selected, 0);
    cr_assert_eq(cmp.snap.replicas[1].overflow_total, 20);
    cr_assert_eq(cmp.snap.replicas[1].last_overflow_step, 20);
    cr_assert_eq(cmp.snap.replicas[0].overflow_total, 0);
    cr_assert(cmp.snap.replicas[1].first_nonfinite[0] != 0, "the overflow is blamed on a tensor");
    cr_assert_eq(cmp.snap.overflow_total, 0); /* the headline follows the selected replica */
    cr_assert_eq(cmp.snap.mode, DT_F32);
    cr_assert(isnan(cmp.snap.div[0].grad_cos)); /* fp16 grads are not finite */
}

Test(trainer, compare_commands_start_select_stop)
{
    mp_config c;
    static run_out o;
    small_config(&c, "fp16", 10);
    feed_cmd cmds[] = {
        {.kind = CMD_COMPARE_START, .arg = 1 << DT_F16}, /* only the current mode: refused */
        {.kind = CMD_COMPARE_START, .arg = 1 << DT_BF16},
        {.kind = CMD_COMPARE_START, .arg = 1 << DT_F32}, /* one is running */
        {.kind = CMD_SET_MODE, .arg = DT_F32},           /* refused while comparing */
        {.kind = CMD_SET_OVERRIDE, .arg = DT_F32, .name = "lm_head"},
        {.kind = CMD_COMPARE_SELECT, .arg = 1},
        {.kind = CMD_COMPARE_STOP, .arg = -1},          /* keeps the selected: bf16 */
    };
    run(&c, cmds, (int)(sizeof cmds / sizeof cmds[0]), &o);
    cr_assert_eq(o.snap.n_replicas, 0);
    cr_assert_eq(o.snap.mode, DT_BF16);
    cr_assert_eq(o.snap.scaler_enabled, 0);
    cr_assert(strstr(o.snap.message, "comparison ended at step 0: training goes on as bf16") != NULL,
              "%s", o.snap.message);
    int lm = o.snap.n_layers - 2;
    cr_assert_eq(o.snap.layers[lm].override, DT_F32);
    for (size_t i = 0; i < o.n; i++) {
        cr_assert_str_eq(o.rows[i].replica, "");
        cr_assert_eq(o.rows[i].precision, DT_BF16);
    }
    /* the messages of the refused commands */
    feed_cmd stop = {.kind = CMD_COMPARE_STOP, .arg = -1};
    run(&c, &stop, 1, &o);
    cr_assert(o.snap.msg_is_error);
    cr_assert_str_eq(o.snap.message, "compare: no comparison is running");
    feed_cmd only = {.kind = CMD_COMPARE_START, .arg = 1 << DT_F16};
    run(&c, &only, 1, &o);
    cr_assert_str_eq(o.snap.message, "compare: pick at least one mode besides FP16");
    feed_cmd two[2] = {{.kind = CMD_COMPARE_START, .arg = 1 << DT_BF16},
                       {.kind = CMD_SET_MODE, .arg = DT_F32}};
    run(&c, two, 2, &o);
    cr_assert_str_eq(o.snap.message,
                     "mode: not during a comparison (c ends it, keeping the selected replica)");
    cr_assert_eq(o.snap.n_replicas, 2);
    cr_assert_eq(o.snap.replicas[0].mode, DT_F16);
    cr_assert_eq(o.snap.replicas[1].mode, DT_BF16);
}

/* ---- resume and the log (metrics.csv / layers.csv rows), failed saves ---- */

#include <jansson.h>

typedef struct { char line[128][640]; int n; } log_lines;

static void log_cb(void *ud, const char *line)
{
    log_lines *l = ud;
    if (l->n < 128) snprintf(l->line[l->n++], sizeof l->line[0], "%s", line);
}

static int count_lines(const log_lines *l, const char *needle)
{
    int k = 0;
    for (int i = 0; i < l->n; i++) k += strstr(l->line[i], needle) != NULL;
    return k;
}

static const char *find_line(const log_lines *l, const char *needle)
{
    for (int i = 0; i < l->n; i++)
        if (strstr(l->line[i], needle)) return l->line[i];
    return "(none)";
}

static void run_logged(const mp_config *c, log_lines *l)
{
    char err[512] = "";
    memset(l, 0, sizeof *l);
    trainer *t = trainer_create(c, NULL, log_cb, l, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    cr_assert_eq(trainer_run(t, err, sizeof err), 0, "%s", err);
    trainer_free(t);
}

/* metrics.csv's lines as text, time_s and tokens_per_s (wall-clock) replaced by '*'. */
typedef struct { char row[64][320]; int n; } csv_lines;

static void metrics_lines(const char *path, csv_lines *r)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char line[512];
    r->n = 0;
    while (fgets(line, sizeof line, f)) {
        cr_assert_lt(r->n, 64);
        char *out = r->row[r->n++];
        size_t o = 0;
        int col = 0;
        for (const char *p = line; *p && *p != '\n' && o + 2 < sizeof r->row[0]; p++) {
            if (*p == ',') {
                out[o++] = ',';
                if (++col == 2 || col == 11) out[o++] = '*';
            } else if (col != 2 && col != 11) {
                out[o++] = *p;
            }
        }
        out[o] = 0;
    }
    fclose(f);
}

static void cell_of(const char *row, int k, char *out, size_t len)
{
    const char *p = row;
    for (int i = 0; i < k && p; i++) p = strchr(p, ','), p = p ? p + 1 : NULL;
    cr_assert_not_null(p, "row '%s' has no cell %d", row, k);
    size_t n = strcspn(p, ",");
    snprintf(out, len, "%.*s", (int)n, p);
}

static void resume_config(mp_config *c, int steps, const char *from, const char *out)
{
    char err[256], ck[160];
    small_config(c, "fp16", steps);
    cr_assert_eq(cfg_set(c, "save_strategy", "steps", err, sizeof err), 0);
    cr_assert_eq(cfg_set(c, "save_steps", "15", err, sizeof err), 0); /* not a multiple of 10 */
    cr_assert_eq(cfg_set(c, "growth_interval", "4", err, sizeof err), 0);
    if (from) {
        snprintf(ck, sizeof ck, "%s/%s", dir, from);
        cr_assert_eq(cfg_set(c, "resume_from_checkpoint", ck, err, sizeof err), 0, "%s", err);
    }
    if (out) {
        snprintf(ck, sizeof ck, "%s/%s", dir, out);
        cr_assert_eq(cfg_set(c, "output_dir", ck, err, sizeof err), 0);
    }
}

/* Saved at step 15 with logging every 10: the row at step 20 after the resume averages steps
 * 11..20 as the uninterrupted run's does (the window's sums are in the checkpoint). */
Test(trainer, resume_mid_window_logs_the_uninterrupted_rows)
{
    mp_config c;
    char path[192];
    static log_lines lg;
    static csv_lines straight, resumed;
    resume_config(&c, 30, NULL, NULL);
    run_logged(&c, &lg);
    snprintf(path, sizeof path, "%s/logs/metrics.csv", dir);
    metrics_lines(path, &straight);
    cr_assert_eq(straight.n, 4, "header + steps 10, 20, 30");
    resume_config(&c, 30, "checkpoint-15", "second");
    run_logged(&c, &lg);
    snprintf(path, sizeof path, "%s/second/logs/metrics.csv", dir);
    metrics_lines(path, &resumed);
    cr_assert_eq(resumed.n, 3, "header + steps 20, 30");
    for (int i = 0; i < 3; i++)
        cr_assert_str_eq(resumed.row[i], straight.row[i ? i + 1 : 0]);
    /* resumed into a comparison: the replica in the checkpoint's mode logs the same loss */
    static csv_lines cmp;
    char e2[256];
    resume_config(&c, 30, "checkpoint-15", "cmp");
    cr_assert_eq(cfg_set(&c, "compare", "fp16,bf16", e2, sizeof e2), 0, "%s", e2);
    run_logged(&c, &lg);
    snprintf(path, sizeof path, "%s/cmp/logs/metrics.csv", dir);
    metrics_lines(path, &cmp);
    char want[64], got[64];
    cell_of(straight.row[2], 5, want, sizeof want); /* loss at step 20 */
    int seen = 0;
    for (int i = 1; i < cmp.n; i++) {
        size_t len = strlen(cmp.row[i]);
        if (strncmp(cmp.row[i], "20,", 3) || len < 5 || strcmp(cmp.row[i] + len - 5, ",fp16"))
            continue;
        cell_of(cmp.row[i], 5, got, sizeof got);
        cr_assert_str_eq(got, want, "fp16 replica's loss at step 20");
        seen++;
    }
    cr_assert_eq(seen, 1);
    /* a checkpoint from before the window was saved: resumes, and says what the row means */
    char st[192];
    snprintf(st, sizeof st, "%s/checkpoint-15/trainer_state.json", dir);
    json_error_t je;
    json_t *root = json_load_file(st, 0, &je);
    cr_assert_not_null(root);
    cr_assert_not_null(json_object_get(root, "log_window"));
    json_object_del(root, "log_window");
    cr_assert_eq(json_dump_file(root, st, 0), 0);
    json_decref(root);
    resume_config(&c, 30, "checkpoint-15", "third");
    run_logged(&c, &lg);
    cr_assert_eq(count_lines(&lg, "this checkpoint predates the saved log window: the next train "
                             "row averages only the steps after 15"), 1);
}

static char *file_text(const char *path)
{
    size_t len;
    return strdup(slurp_file(path, &len));
}

/* Resumed from an older checkpoint in the same output_dir (or after a kill between a logged
 * row and its save): the rows after it are dropped and logged again, each step once. */
Test(trainer, resume_from_older_checkpoint_logs_each_step_once)
{
    mp_config c;
    char mpath[192], lpath[192], err[512] = "";
    static log_lines lg;
    static csv_lines straight, resumed;
    resume_config(&c, 30, NULL, NULL);
    cr_assert_eq(cfg_set(&c, "eval_steps", "20", err, sizeof err), 0);
    run_logged(&c, &lg);
    snprintf(mpath, sizeof mpath, "%s/logs/metrics.csv", dir);
    snprintf(lpath, sizeof lpath, "%s/logs/layers.csv", dir);
    metrics_lines(mpath, &straight);
    cr_assert_eq(straight.n, 5, "header + 10, 20, eval 20, 30");
    char *layers = file_text(lpath);
    resume_config(&c, 30, "checkpoint-15", NULL);
    cr_assert_eq(cfg_set(&c, "eval_steps", "20", err, sizeof err), 0);
    run_logged(&c, &lg);
    cr_assert_eq(count_lines(&lg, "; dropped the rows logged after step 15 (metrics.csv 3, "
                             "layers.csv "), 1, "%s", find_line(&lg, "resumed"));
    metrics_lines(mpath, &resumed);
    cr_assert_eq(resumed.n, straight.n, "a step logged twice or lost");
    for (int i = 0; i < straight.n; i++) cr_assert_str_eq(resumed.row[i], straight.row[i]);
    char *layers2 = file_text(lpath);
    cr_assert_str_eq(layers2, layers, "layers.csv differs from the uninterrupted run's");
    free(layers);
    free(layers2);
    /* a checkpoint beyond this run's steps: refused, not silently "finished" */
    resume_config(&c, 20, "checkpoint-30", NULL);
    cr_assert_null(trainer_create(&c, NULL, NULL, NULL, err, sizeof err));
    cr_assert_not_null(strstr(err, "checkpoint-30: the checkpoint is at step 30, beyond this run's "
                              "20 steps; raise --max_steps"), "%s", err);
}

/* The last step's scheduled save and the end-of-run save are one save: one failure line. A
 * file named checkpoint-10 is not replaced. */
Test(trainer, failed_save_at_the_last_step_reported_once)
{
    mp_config c;
    char err[256], p[192];
    static log_lines lg;
    small_config(&c, "fp32", 10);
    cr_assert_eq(cfg_set(&c, "save_strategy", "steps", err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "save_steps", "10", err, sizeof err), 0);
    snprintf(p, sizeof p, "%s/checkpoint-10", dir);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs("mine", f);
    fclose(f);
    run_logged(&c, &lg);
    cr_assert_eq(count_lines(&lg, "save failed at step 10: checkpoint: "), 1, "%s",
                 find_line(&lg, "save failed"));
    cr_assert_eq(count_lines(&lg, "checkpoint-10 exists and is not a directory; it is left "
                             "alone"), 1);
    size_t len;
    cr_assert_str_eq(slurp_file(p, &len), "mine");
}

/* ---- stop requests, one eval per step, NaN losses, option limits ---- */

typedef struct {
    char text[16384];
    feed *f;
    const char *eval_on; /* push CMD_EVAL when a line starts with this */
} log_capture;

static void capture_line(void *ud, const char *line)
{
    log_capture *lc = ud;
    size_t n = strlen(lc->text);
    snprintf(lc->text + n, sizeof lc->text - n, "%s\n", line);
    if (lc->eval_on && !strncmp(line, lc->eval_on, strlen(lc->eval_on))) {
        feed_cmd e = {.kind = CMD_EVAL};
        feed_push_cmd(lc->f, &e);
    }
}

typedef struct { trainer *t; int rc; char err[512]; } run_thread;

static void *run_in_thread(void *p)
{
    run_thread *r = p;
    r->rc = trainer_run(r->t, r->err, sizeof r->err);
    return NULL;
}

static int path_exists(const char *p) { return access(p, F_OK) == 0; }

/* Runs c on a thread whose step 1 is a million micro-batches, stops it inside that step and
 * checks the run ended cleanly at step 0; the log lines land in lc. */
static void stop_inside_step_1(const mp_config *c, log_capture *lc)
{
    char err[512] = "";
    memset(lc, 0, sizeof *lc);
    feed *f = feed_create();
    run_thread r = {trainer_create(c, f, capture_line, lc, err, sizeof err), 0, ""};
    cr_assert_not_null(r.t, "%s", err);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, run_in_thread, &r), 0);
    static feed_snapshot snap;
    while (feed_get_snapshot(f, &snap) == 0) usleep(1000); /* the run has started */
    usleep(300 * 1000);                                    /* and is inside step 1 */
    trainer_request_stop(r.t);
    pthread_join(th, NULL);
    cr_assert_eq(r.rc, 0, "%s", r.err);
    feed_get_snapshot(f, &snap);
    cr_assert_eq(snap.step, 0);
    trainer_free(r.t);
    feed_destroy(f);
}

/* A million micro-batches per step: the stop request ends the step between two of them,
 * abandons it (no optimizer step on a partial sum) and saves the state of the last full
 * step; resuming that checkpoint gives exactly a fresh run's rows (the data RNG went back). */
Test(trainer, stop_inside_long_accumulation_abandons_the_step_with_a_clean_state)
{
    mp_config c;
    char err[512] = "", ck[128], sub[128];
    static log_capture lc;
    small_config(&c, "fp32", 5);
    cr_assert_eq(cfg_set(&c, "gradient_accumulation_steps", "1048576", err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "save_strategy", "steps", err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "save_steps", "1000", err, sizeof err), 0);
    stop_inside_step_1(&c, &lc);
    cr_assert(strstr(lc.text, "stopped during step 1 (micro-batch ") != NULL, "%s", lc.text);
    cr_assert(strstr(lc.text, "that step is abandoned; the state is the one after step 0") != NULL,
              "%s", lc.text);
    snprintf(ck, sizeof ck, "%s/checkpoint-0", dir);
    cr_assert(path_exists(ck), "no %s: %s", ck, lc.text);

    static run_out fresh, resumed;
    cr_assert_eq(cfg_set(&c, "gradient_accumulation_steps", "2", err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "logging_steps", "1", err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "max_steps", "3", err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "save_strategy", "no", err, sizeof err), 0);
    snprintf(sub, sizeof sub, "%s/fresh", dir);
    cr_assert_eq(cfg_set(&c, "output_dir", sub, err, sizeof err), 0);
    run(&c, NULL, 0, &fresh);
    snprintf(sub, sizeof sub, "%s/resumed", dir);
    cr_assert_eq(cfg_set(&c, "output_dir", sub, err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "resume_from_checkpoint", ck, err, sizeof err), 0);
    run(&c, NULL, 0, &resumed);
    cr_assert_eq(fresh.n, 3);
    cr_assert_eq(resumed.n, 3);
    for (size_t i = 0; i < 3; i++)
        cr_assert(same_row(&fresh.rows[i], &resumed.rows[i]), "step %lld: loss %.9g vs %.9g",
                  (long long)fresh.rows[i].step, fresh.rows[i].loss, resumed.rows[i].loss);
}

/* The same in a lockstep comparison: every replica abandons the step together. */
Test(trainer, stop_inside_long_accumulation_of_a_comparison_abandons_the_step)
{
    mp_config c;
    char err[512] = "", ck[160];
    static log_capture lc;
    small_config(&c, "fp32", 5);
    cr_assert_eq(cfg_set(&c, "gradient_accumulation_steps", "1048576", err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "compare", "fp32,bf16", err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "save_strategy", "steps", err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "save_steps", "1000", err, sizeof err), 0);
    stop_inside_step_1(&c, &lc);
    cr_assert(strstr(lc.text, "stopped during step 1: that step is abandoned by every replica; "
                              "the state is the one after step 0") != NULL, "%s", lc.text);
    snprintf(ck, sizeof ck, "%s/compare-bf16/checkpoint-0", dir);
    cr_assert(path_exists(ck), "no %s: %s", ck, lc.text);
}

/* e pressed right after the scheduled eval of step 2 (the key is read at the top of the next
 * iteration, still at step 2): one eval row for step 2, and the key says why. */
Test(trainer, eval_key_on_a_scheduled_eval_step_gives_one_eval_row)
{
    mp_config c;
    char err[512] = "";
    static log_capture lc;
    memset(&lc, 0, sizeof lc);
    small_config(&c, "fp32", 3);
    cr_assert_eq(cfg_set(&c, "logging_steps", "1", err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "eval_steps", "2", err, sizeof err), 0);
    feed *f = feed_create();
    lc.f = f;
    lc.eval_on = "step      2/3";
    trainer *t = trainer_create(&c, f, capture_line, &lc, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    cr_assert_eq(trainer_run(t, err, sizeof err), 0, "%s", err);
    static metric_row rows[64];
    uint64_t since = 0;
    size_t n = feed_read_rows(f, &since, rows, 64), evals = 0;
    for (size_t i = 0; i < n; i++)
        if (rows[i].kind == MR_EVAL) {
            evals++;
            cr_assert_eq(rows[i].step, 2);
        }
    cr_assert_eq(evals, 1, "eval rows: %zu\n%s", evals, lc.text);
    cr_assert(strstr(lc.text, "eval: step 2 is already evaluated\n") != NULL, "%s", lc.text);
    trainer_free(t);
    feed_destroy(f);
}

/* The step a checkpoint was saved at was evaluated before the save: `e` pressed right after
 * resuming there says so instead of logging a second eval row for that step. */
Test(trainer, eval_key_on_a_resumed_evaluated_step_gives_no_second_row)
{
    mp_config c;
    char err[512] = "", ck[600];
    small_config(&c, "fp32", 2);
    cr_assert_eq(cfg_set(&c, "eval_steps", "2", err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "save_strategy", "steps", err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "save_steps", "2", err, sizeof err), 0);
    run_out o;
    run(&c, NULL, 0, &o);
    snprintf(ck, sizeof ck, "%s/checkpoint-2", dir);
    small_config(&c, "fp32", 3);
    cr_assert_eq(cfg_set(&c, "resume_from_checkpoint", ck, err, sizeof err), 0);
    static log_capture lc;
    memset(&lc, 0, sizeof lc);
    feed *f = feed_create();
    feed_cmd e = {.kind = CMD_EVAL};
    cr_assert_eq(feed_push_cmd(f, &e), 0);
    trainer *t = trainer_create(&c, f, capture_line, &lc, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    cr_assert_eq(trainer_run(t, err, sizeof err), 0, "%s", err);
    static metric_row rows[64];
    uint64_t since = 0;
    size_t n = feed_read_rows(f, &since, rows, 64);
    for (size_t i = 0; i < n; i++) cr_assert_neq(rows[i].kind, MR_EVAL, "%s", lc.text);
    cr_assert(strstr(lc.text, "eval: step 2 is already evaluated\n") != NULL, "%s", lc.text);
    trainer_free(t);
    feed_destroy(f);
}

/* lr 1e30 drives the weights to inf within a few steps. */
static void nan_config(mp_config *c, const char *precision)
{
    char err[256];
    small_config(c, precision, 8);
    cr_assert_eq(cfg_set(c, "learning_rate", "1e30", err, sizeof err), 0);
    cr_assert_eq(cfg_set(c, "warmup_steps", "0", err, sizeof err), 0);
    cr_assert_eq(cfg_set(c, "logging_steps", "1", err, sizeof err), 0);
    cr_assert_eq(cfg_set(c, "save_strategy", "steps", err, sizeof err), 0);
    cr_assert_eq(cfg_set(c, "save_steps", "100", err, sizeof err), 0);
}

static void nan_stops(const char *precision)
{
    mp_config c;
    char err[512] = "", want[512], ck[128];
    static log_capture lc;
    memset(&lc, 0, sizeof lc);
    nan_config(&c, precision);
    feed *f = feed_create();
    trainer *t = trainer_create(&c, f, capture_line, &lc, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    cr_assert_eq(trainer_run(t, err, sizeof err), -1, "%s: the run went on\n%s", precision, lc.text);
    static feed_snapshot snap;
    feed_get_snapshot(f, &snap);
    long long good = snap.step;
    cr_assert(good >= 1 && good < 8, "stopped at %lld", good);
    snprintf(want, sizeof want, "loss is nan at step %lld (%s, no loss scaling): stopped before "
             "its optimizer step, the state is step %lld's (saved); --on_nan continue trains on",
             good + 1, precision, good);
    cr_assert_str_eq(err, want);
    cr_assert_str_eq(snap.message, want);
    cr_assert(snap.msg_is_error);
    cr_assert_eq(snap.state, RUN_FAILED);
    cr_assert(strstr(lc.text, "loss is nan") == NULL, "said once (by the caller): %s", lc.text);
    cr_assert(strstr(lc.text, "| loss nan") == NULL, "no NaN row was logged: %s", lc.text);
    snprintf(ck, sizeof ck, "%s/checkpoint-%lld", dir, good);
    cr_assert(path_exists(ck), "no %s", ck);
    trainer_free(t);
    feed_destroy(f);
}

Test(trainer, nan_loss_without_a_scaler_stops_once_fp32) { nan_stops("fp32"); }
Test(trainer, nan_loss_without_a_scaler_stops_once_bf16) { nan_stops("bf16"); }

Test(trainer, on_nan_continue_trains_on_and_prints_nan_not_minus_nan)
{
    mp_config c;
    char err[512] = "";
    static log_capture lc;
    memset(&lc, 0, sizeof lc);
    nan_config(&c, "fp32");
    cr_assert_eq(cfg_set(&c, "on_nan", "continue", err, sizeof err), 0);
    trainer *t = trainer_create(&c, NULL, capture_line, &lc, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    cr_assert_eq(trainer_run(t, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(lc.text, "step      8/8 | loss nan |") != NULL, "%s", lc.text);
    cr_assert(strstr(lc.text, "| norm     nan |") != NULL, "%s", lc.text);
    cr_assert(strstr(lc.text, "-nan") == NULL, "%s", lc.text);
    trainer_free(t);
}

Test(trainer, fp16_dynamic_scaling_treats_nan_as_overflow)
{
    mp_config c;
    char err[512] = "";
    nan_config(&c, "fp16");
    static run_out o;
    run(&c, NULL, 0, &o); /* asserts trainer_run returned 0 */
    cr_assert_eq(o.snap.step, 8);
    cr_assert(o.snap.overflow_total > 0);
    (void)err;
}

Test(trainer, epochs_whose_step_count_overflows_are_refused)
{
    mp_config c;
    char err[512] = "";
    small_config(&c, "fp32", 1);
    cr_assert_eq(cfg_set(&c, "max_steps", "-1", err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "num_train_epochs", "1e300", err, sizeof err), 0);
    cr_assert_null(trainer_create(&c, NULL, NULL, NULL, err, sizeof err));
    cr_assert(!strncmp(err, "--num_train_epochs 1e+300 at ", 29), "%s", err);
    cr_assert(strstr(err, " steps, more than 1e+15: give fewer epochs or --max_steps") != NULL,
              "%s", err);
}

/* The eval batch is sized by the windows there are: 2^20 sequences of 64 tokens would be
 * gigabytes of activations for the few validation windows of the corpus. */
Test(trainer, huge_eval_batch_allocates_by_windows)
{
    mp_config c;
    char err[512] = "";
    small_config(&c, "fp32", 1);
    cr_assert_eq(cfg_set(&c, "per_device_eval_batch_size", "1048576", err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "eval_steps", "1", err, sizeof err), 0);
    cr_assert_eq(cfg_set(&c, "eval_max_batches", "1", err, sizeof err), 0);
    static run_out o;
    run(&c, NULL, 0, &o);
    cr_assert(o.snap.have_eval);
    cr_assert(isfinite(o.snap.eval_loss));
}

/* ---- issue 13: the memory plan in the snapshot, the refusal, the dry run ---- */

static const mem_row *mem_find(const gpt_mem_plan *p, mem_kind k, int dt, int idle)
{
    for (int i = 0; i < p->n; i++)
        if (p->rows[i].kind == k && p->rows[i].dt == dt && p->rows[i].idle == idle)
            return &p->rows[i];
    return NULL;
}

Test(trainer, snapshot_memory_plan_follows_the_mode)
{
    mp_config c;
    static run_out o;
    small_config(&c, "bf16", 4);
    feed_cmd cmd = {.kind = CMD_SET_MODE, .arg = DT_F32};
    run(&c, NULL, 0, &o);
    const gpt_mem_plan *p = &o.snap.mem;
    cr_assert_gt(p->n, 0);
    cr_assert_not_null(mem_find(p, MEM_ACT, DT_BF16, 0));
    cr_assert_not_null(mem_find(p, MEM_WCOPY, DT_BF16, 0));
    cr_assert_gt(o.snap.mem_available, 0);
    /* the same plan as before the run was allocated: the model's shape, lane 0's policy */
    prec_policy pol;
    cr_assert_eq(prec_init(&pol, 2, DT_BF16), 0);
    gpt_config gc = {2, 2, 64, 64, 256};
    gpt_mem_plan want;
    char err[256];
    cr_assert_eq(gpt_memory_plan(&gc, &pol, 8, 64, NULL, &want, err, sizeof err), 0, "%s", err);
    const mem_row *ws = mem_find(p, MEM_WORKSPACE, DT_F32, 0);
    const mem_row *stage = mem_find(p, MEM_STAGING, DT_F32, 0); /* the CPU backend's own */
    cr_assert_not_null(ws);
    cr_assert_not_null(stage);
    cr_assert_eq(p->total - ws->bytes - stage->bytes, want.total);
    prec_free(&pol);
    run(&c, &cmd, 1, &o); /* m to fp32: no copies, no 16-bit rows */
    p = &o.snap.mem;
    cr_assert_null(mem_find(p, MEM_ACT, DT_BF16, 0));
    cr_assert_null(mem_find(p, MEM_WCOPY, DT_BF16, 0));
    cr_assert_null(mem_find(p, MEM_WCOPY, DT_F32, 0));
    cr_assert_null(mem_find(p, MEM_WCOPY, DT_F32, 1));
}

/* Gradient accumulation keeps lm_head's fp32 gradient sum (V x C) apart from wte's gradient,
 * allocated at the start and in the plan (docs/memory.md); a run without it has none. */
Test(trainer, accumulation_plans_and_holds_lm_head_sum)
{
    mp_config c;
    static run_out one, two;
    small_config(&c, "bf16", 2);
    run(&c, NULL, 0, &one);
    char err[256];
    cr_assert_eq(cfg_set(&c, "gradient_accumulation_steps", "2", err, sizeof err), 0, "%s", err);
    run(&c, NULL, 0, &two);
    const mem_row *a = mem_find(&one.snap.mem, MEM_SCRATCH, DT_F32, 0);
    const mem_row *b = mem_find(&two.snap.mem, MEM_SCRATCH, DT_F32, 0);
    cr_assert(a && b);
    cr_assert_eq(b->values - a->values, (size_t)256 * 64);
    cr_assert_eq(two.snap.mem.total - one.snap.mem.total, (size_t)256 * 64 * 4);
    char table[4096];
    cr_assert_eq(trainer_dry_run(&c, NULL, table, sizeof table, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(table, "total (peak) ") != NULL, "%s", table);
    gpt_mem_plan dry;
    prec_policy pol;
    cr_assert_eq(prec_init(&pol, 2, DT_BF16), 0);
    gpt_config gc = {2, 2, 64, 64, 256};
    cr_assert_eq(gpt_memory_plan(&gc, &pol, 8, 64, NULL, &dry, err, sizeof err), 0, "%s", err);
    gpt_memory_plan_add_grad_sum(&gc, &dry);
    const mem_row *ws = mem_find(&two.snap.mem, MEM_WORKSPACE, DT_F32, 0);
    const mem_row *st = mem_find(&two.snap.mem, MEM_STAGING, DT_F32, 0);
    cr_assert(ws && st);
    cr_assert_eq(two.snap.mem.total - ws->bytes - st->bytes, dry.total);
    prec_free(&pol);
}

Test(trainer, memory_refusal_before_allocating)
{
    mp_config c;
    char err[512] = "";
    small_config(&c, "fp16", 1);
    cr_assert_eq(cfg_set(&c, "n_embd", "65536", err, sizeof err), 0);
    int why = 0;
    trainer *t = trainer_open(&c, NULL, NULL, NULL, &why, err, sizeof err);
    cr_assert_null(t);
    cr_assert_eq(why, TRAINER_NO_MEMORY);
    cr_assert(strstr(err, "memory: a 2L/2H/65536d model at batch 8 x 64 in fp16 needs ") == err,
              "%s", err);
    char table[4096];
    cr_assert_eq(trainer_dry_run(&c, NULL, table, sizeof table, err, sizeof err), TRAINER_NO_MEMORY);
    cr_assert(strstr(table, "does not fit") != NULL, "%s", table);
    cr_assert_eq(cfg_set(&c, "n_embd", "64", err, sizeof err), 0);
    cr_assert_eq(trainer_dry_run(&c, NULL, table, sizeof table, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(table, "memory plan: 2L/2H/64d model (vocab 256), batch 8 x 64, fp16, cpu")
              == table, "%s", table);
    cr_assert(strstr(table, "available: fits\n") != NULL, "%s", table);
    cr_assert_eq(cfg_set(&c, "n_head", "3", err, sizeof err), 0); /* other errors: -1 */
    cr_assert_eq(trainer_dry_run(&c, NULL, table, sizeof table, err, sizeof err), -1);
    cr_assert_str_eq(err, "model: n_embd (64) must be divisible by n_head (3)");
    t = trainer_open(&c, NULL, NULL, NULL, &why, err, sizeof err);
    cr_assert_null(t);
    cr_assert_eq(why, -1);
}

/* ---- stats delivery (backend.h; docs/cuda.md "Stats delivery") ---- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    static char buf[1 << 20];
    *len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    cr_assert_lt(*len, sizeof buf - 1, "%s: larger than the test reads", path);
    char *s = malloc(*len + 1);
    memcpy(s, buf, *len);
    s[*len] = 0;
    return s;
}

/* A headless run logging layers.csv every step, with accumulation (compare: lockstep lanes
 * on one backend): with the CPU backend delivering counts only at synchronizing calls (as
 * CUDA), layers.csv is the same bytes and the training rows the same values as with counts
 * delivered at once. */
static void layers_same_when_deferred(const char *precision, const char *compare)
{
    char *csv[2];
    size_t len[2];
    run_out *o = calloc(2, sizeof *o);
    for (int defer = 0; defer <= 1; defer++) {
        mp_config c;
        small_config(&c, precision, 4);
        char out[96], err[512] = "", path[160];
        snprintf(out, sizeof out, "%s/%s", dir, defer ? "deferred" : "immediate");
        cr_assert_eq(cfg_set(&c, "output_dir", out, err, sizeof err), 0, "%s", err);
        cr_assert_eq(cfg_set(&c, "logging_steps", "1", err, sizeof err), 0, "%s", err);
        cr_assert_eq(cfg_set(&c, "gradient_accumulation_steps", "2", err, sizeof err), 0);
        if (compare) cr_assert_eq(cfg_set(&c, "compare", compare, err, sizeof err), 0, "%s", err);
        feed *f = feed_create();
        trainer *t = trainer_create(&c, f, NULL, NULL, err, sizeof err);
        cr_assert_not_null(t, "%s", err);
        bk_cpu_defer_stats(trainer_backend(t), defer);
        cr_assert_eq(trainer_run(t, err, sizeof err), 0, "%s", err);
        uint64_t since = 0;
        o[defer].n = feed_read_rows(f, &since, o[defer].rows, 256);
        trainer_free(t);
        feed_destroy(f);
        snprintf(path, sizeof path, "%s/logs/layers.csv", out);
        csv[defer] = slurp(path, &len[defer]);
    }
    cr_assert_gt(len[0], 1000, "%s: layers.csv has the steps' rows", precision);
    cr_assert(strstr(csv[0], "\n4,") != NULL, "%s: step 4 logged", precision);
    if (compare) cr_assert(strstr(csv[0], "\n4,bf16,lm_head,gradient,") != NULL, "%s", csv[0]);
    cr_assert_eq(len[0], len[1], "%s: layers.csv sizes differ", precision);
    size_t i = 0;
    while (i < len[0] && csv[0][i] == csv[1][i]) i++;
    if (i < len[0]) { /* the line where they part */
        size_t b = i;
        while (b > 0 && csv[0][b - 1] != '\n') b--;
        cr_assert_fail("%s: layers.csv differs at byte %zu: '%.100s' vs deferred '%.100s'",
                       precision, i, csv[0] + b, csv[1] + b);
    }
    cr_assert_eq(o[0].n, o[1].n);
    for (size_t k = 0; k < o[0].n; k++) {
        const metric_row *a = &o[0].rows[k], *b = &o[1].rows[k];
        if (a->kind != MR_TRAIN) continue;
        cr_assert(memcmp(&a->loss, &b->loss, sizeof a->loss) == 0 &&
                      memcmp(&a->grad_norm, &b->grad_norm, sizeof a->grad_norm) == 0 &&
                      a->loss_scale == b->loss_scale,
                  "%s: row %zu differs", precision, k);
    }
    free(csv[0]);
    free(csv[1]);
    free(o);
}

Test(trainer, layers_csv_same_when_stats_land_at_the_sync_fp16)
{
    layers_same_when_deferred("fp16", NULL);
}
Test(trainer, layers_csv_same_when_stats_land_at_the_sync_bf16)
{
    layers_same_when_deferred("bf16", NULL);
}
Test(trainer, layers_csv_same_when_stats_land_at_the_sync_compare)
{
    layers_same_when_deferred("fp16", "fp16,bf16");
}

/* ---- --eval_on_start, --do_train false, --do_eval (docs/options.md) ---- */

/* The steps of the eval rows, in order; returns how many. */
static size_t eval_steps_of(const run_out *o, int64_t *steps, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < o->n; i++)
        if (o->rows[i].kind == MR_EVAL && k < max) steps[k++] = o->rows[i].step;
    return k;
}

static void set_out(mp_config *c, const char *sub)
{
    char err[256], path[160];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    cr_assert_eq(cfg_set(c, "output_dir", path, err, sizeof err), 0, "%s", err);
}

static void set_opt(mp_config *c, const char *name, const char *value)
{
    char err[256];
    cr_assert_eq(cfg_set(c, name, value, err, sizeof err), 0, "%s", err);
}

/* 1 when the two files hold the same bytes. */
static int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    cr_assert(fa && fb, "%s / %s", a, b);
    int ca, cb, same = 1;
    long n = 0;
    do {
        ca = fgetc(fa);
        cb = fgetc(fb);
        same = ca == cb;
        n++;
    } while (same && ca != EOF);
    fclose(fa);
    fclose(fb);
    return same && n > 1000; /* and not empty */
}

/* The eval at step 0 reads no data RNG and changes no weight: the run trains the same bits
 * (every train row, every later eval, the final weights and AdamW moments) as one without
 * it, with a text sample that draws the sample RNG. */
Test(trainer, eval_on_start_trains_bit_identical_weights)
{
    mp_config c;
    static run_out a, b;
    char pa[256], pb[256];
    small_config(&c, "fp16", 10);
    set_opt(&c, "logging_steps", "2");
    set_opt(&c, "eval_steps", "5");
    set_opt(&c, "sample_length", "16");
    set_opt(&c, "sample_temperature", "0.8");
    set_opt(&c, "save_strategy", "steps");
    set_opt(&c, "save_steps", "10");
    set_out(&c, "b");
    run(&c, NULL, 0, &b);
    set_opt(&c, "eval_on_start", NULL);
    set_out(&c, "a");
    run(&c, NULL, 0, &a);
    cr_assert_eq(a.n, b.n + 1);
    cr_assert_eq(a.rows[0].kind, MR_EVAL);
    cr_assert_eq(a.rows[0].step, 0);
    cr_assert_eq(a.rows[0].epoch, 0.0);
    /* an untrained byte model: about ln 256 = 5.545 */
    cr_assert(a.rows[0].eval_loss > 5.3 && a.rows[0].eval_loss < 5.8, "%g", a.rows[0].eval_loss);
    for (size_t i = 0; i < b.n; i++)
        cr_assert(same_row(&a.rows[i + 1], &b.rows[i]), "row %zu (step %lld, %s) differs: loss "
                  "%.9g/%.9g eval %.9g/%.9g", i, (long long)b.rows[i].step,
                  b.rows[i].kind == MR_EVAL ? "eval" : "train", a.rows[i + 1].loss,
                  b.rows[i].loss, a.rows[i + 1].eval_loss, b.rows[i].eval_loss);
    const char *files[] = {"model.safetensors", "optimizer.safetensors"};
    for (int k = 0; k < 2; k++) {
        snprintf(pa, sizeof pa, "%s/a/checkpoint-10/%s", dir, files[k]);
        snprintf(pb, sizeof pb, "%s/b/checkpoint-10/%s", dir, files[k]);
        cr_assert(same_file(pa, pb), "%s differs", files[k]);
    }
}

/* Hugging Face evaluates at the start whatever eval_strategy says. */
Test(trainer, eval_on_start_with_eval_strategy_no)
{
    mp_config c;
    static run_out o;
    int64_t steps[8];
    small_config(&c, "fp32", 5);
    set_opt(&c, "eval_strategy", "no");
    set_opt(&c, "eval_on_start", "true");
    run(&c, NULL, 0, &o);
    cr_assert_eq(eval_steps_of(&o, steps, 8), 1);
    cr_assert_eq(steps[0], 0);
    cr_assert_eq(o.rows[0].kind, MR_EVAL, "the eval row comes before the first train row");
    cr_assert(o.snap.have_eval);
    cr_assert_eq(o.snap.eval_step, 0);
    cr_assert_eq(o.snap.step, 5);
}

/* --do_train false: one eval row at step 0, the same bits as the eval at the start of a
 * training run from the same weights, no checkpoint (save_strategy notwithstanding). */
Test(trainer, eval_only_evaluates_once_and_saves_nothing)
{
    mp_config c;
    static run_out start, only;
    static log_capture lc;
    char err[512] = "", path[256], summary[4096], want[256];
    small_config(&c, "bf16", 2);
    set_opt(&c, "eval_on_start", NULL);
    set_out(&c, "train");
    run(&c, NULL, 0, &start);
    set_opt(&c, "do_train", "false");
    set_opt(&c, "save_strategy", "steps");
    set_opt(&c, "save_steps", "1");
    set_out(&c, "only");
    memset(&lc, 0, sizeof lc);
    feed *f = feed_create();
    trainer *t = trainer_create(&c, f, capture_line, &lc, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    cr_assert_eq(trainer_run(t, err, sizeof err), 0, "%s", err);
    trainer_summary(t, summary, sizeof summary);
    uint64_t since = 0;
    only.n = feed_read_rows(f, &since, only.rows, 256);
    cr_assert(feed_get_snapshot(f, &only.snap) > 0);
    trainer_free(t);
    feed_destroy(f);
    cr_assert_eq(only.n, 1);
    cr_assert_eq(only.rows[0].kind, MR_EVAL);
    cr_assert_eq(only.rows[0].step, 0);
    cr_assert_eq(only.rows[0].precision, DT_BF16);
    cr_assert(same_row(&only.rows[0], &start.rows[0]), "eval %.17g vs %.17g",
              only.rows[0].eval_loss, start.rows[0].eval_loss);
    cr_assert_eq(only.snap.state, RUN_FINISHED);
    cr_assert_eq(only.snap.step, 0);
    cr_assert(only.snap.have_eval);
    cr_assert_str_eq(only.snap.message,
                     "evaluation only (--do_train false): no training step, no checkpoint");
    snprintf(path, sizeof path, "%s/only/checkpoint-0", dir);
    cr_assert(!path_exists(path), "an eval-only run saved %s", path);
    snprintf(path, sizeof path, "%s/only/logs/metrics.csv", dir);
    cr_assert(path_exists(path));
    snprintf(want, sizeof want, "eval only: eval loss %.4f (ppl %.3f, %.3f bits/token) @0 | "
             "16 windows | ", only.rows[0].eval_loss, only.rows[0].eval_ppl,
             only.rows[0].eval_loss / log(2.0));
    cr_assert(!strncmp(summary, want, strlen(want)), "summary: %s\nwant: %s", summary, want);
    cr_assert(strstr(summary, "s | bf16\nmemory (bf16") != NULL, "%s", summary);
    cr_assert(strstr(lc.text, "eval @0 | loss ") == lc.text, "%s", lc.text);
}

/* A checkpoint's weights through --init_from evaluate to the bits the training run logged at
 * that step (same mode); the row is at step 0: --init_from brings weights, not a step. */
Test(trainer, eval_only_of_a_checkpoint_equals_the_training_eval)
{
    mp_config c;
    static run_out train, only;
    char ck[256];
    small_config(&c, "fp16", 10);
    set_opt(&c, "eval_steps", "10");
    set_opt(&c, "save_strategy", "steps");
    set_opt(&c, "save_steps", "10");
    set_out(&c, "train");
    run(&c, NULL, 0, &train);
    const metric_row *at10 = NULL;
    for (size_t i = 0; i < train.n; i++)
        if (train.rows[i].kind == MR_EVAL && train.rows[i].step == 10) at10 = &train.rows[i];
    cr_assert_not_null(at10);
    small_config(&c, "fp16", 10);
    snprintf(ck, sizeof ck, "%s/train/checkpoint-10", dir);
    set_opt(&c, "init_from", ck);
    set_opt(&c, "do_train", "false");
    set_out(&c, "only");
    run(&c, NULL, 0, &only);
    cr_assert_eq(only.n, 1);
    cr_assert_eq(only.rows[0].step, 0);
    cr_assert_eq(memcmp(&only.rows[0].eval_loss, &at10->eval_loss, sizeof(double)), 0,
                 "%.17g vs %.17g", only.rows[0].eval_loss, at10->eval_loss);
    cr_assert(only.rows[0].eval_loss < 5.3, "trained weights: %g", only.rows[0].eval_loss);
}

/* --compare with --do_train false: the same weights evaluated in each mode, a row each. */
Test(trainer, eval_only_comparison_evaluates_each_replica)
{
    mp_config c;
    static run_out plain, cmp;
    small_config(&c, "fp32", 10);
    set_opt(&c, "do_train", "false");
    set_out(&c, "plain");
    run(&c, NULL, 0, &plain);
    set_opt(&c, "compare", "fp32,bf16");
    set_out(&c, "cmp");
    run(&c, NULL, 0, &cmp);
    cr_assert_eq(cmp.n, 2);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(cmp.rows[i].kind, MR_EVAL);
        cr_assert_eq(cmp.rows[i].step, 0);
    }
    cr_assert_str_eq(cmp.rows[0].replica, "fp32");
    cr_assert_str_eq(cmp.rows[1].replica, "bf16");
    cr_assert_eq(cmp.rows[1].precision, DT_BF16);
    cr_assert_eq(memcmp(&cmp.rows[0].eval_loss, &plain.rows[0].eval_loss, sizeof(double)), 0);
    cr_assert(cmp.rows[1].eval_loss != cmp.rows[0].eval_loss, "bf16 rounds: %.17g",
              cmp.rows[1].eval_loss);
    cr_assert(fabs(cmp.rows[1].eval_loss - cmp.rows[0].eval_loss) < 0.05);
    cr_assert_eq(cmp.snap.state, RUN_FINISHED);
}

/* Trainer.train() evaluates before its first step, also when it resumes: the eval lands at
 * the checkpoint's step and the training after it is the uninterrupted run's. A step that
 * was evaluated before its checkpoint was saved is not logged twice. */
Test(trainer, eval_on_start_on_a_resume)
{
    mp_config c;
    static run_out straight, resumed, only;
    char ck[256];
    small_config(&c, "fp16", 8);
    set_opt(&c, "logging_steps", "2");
    set_opt(&c, "save_strategy", "steps");
    set_opt(&c, "save_steps", "4");
    set_out(&c, "s");
    run(&c, NULL, 0, &straight);
    snprintf(ck, sizeof ck, "%s/s/checkpoint-4", dir);
    set_opt(&c, "resume_from_checkpoint", ck);
    set_opt(&c, "eval_on_start", NULL);
    set_out(&c, "r");
    run(&c, NULL, 0, &resumed);
    cr_assert_eq(resumed.rows[0].kind, MR_EVAL);
    cr_assert_eq(resumed.rows[0].step, 4);
    size_t k = 0;
    while (k < straight.n && straight.rows[k].step <= 4) k++;
    cr_assert_eq(resumed.n, straight.n - k + 1);
    for (size_t i = 1; i < resumed.n; i++)
        cr_assert(same_row(&resumed.rows[i], &straight.rows[k + i - 1]), "row %zu differs", i);
    /* the eval at the resume point: the checkpoint's weights, as --init_from evaluates them */
    small_config(&c, "fp16", 8);
    set_opt(&c, "init_from", ck);
    set_opt(&c, "do_train", "false");
    set_out(&c, "o");
    run(&c, NULL, 0, &only);
    cr_assert_eq(memcmp(&only.rows[0].eval_loss, &resumed.rows[0].eval_loss, sizeof(double)), 0);

    /* now a checkpoint whose step was evaluated before the save */
    static run_out evald;
    static log_lines l;
    char want[160];
    small_config(&c, "fp16", 4);
    set_opt(&c, "eval_steps", "4");
    set_opt(&c, "save_strategy", "steps");
    set_opt(&c, "save_steps", "4");
    set_out(&c, "e");
    run(&c, NULL, 0, &evald);
    cr_assert_eq(evald.rows[evald.n - 1].kind, MR_EVAL);
    small_config(&c, "fp16", 5);
    snprintf(ck, sizeof ck, "%s/e/checkpoint-4", dir);
    set_opt(&c, "resume_from_checkpoint", ck);
    set_opt(&c, "eval_on_start", NULL);
    set_opt(&c, "logging_steps", "1");
    set_out(&c, "e2");
    run_logged(&c, &l);
    snprintf(want, sizeof want, "eval_on_start: step 4 is already evaluated (eval loss %.4f, "
             "before the checkpoint was saved)", evald.rows[evald.n - 1].eval_loss);
    cr_assert_eq(count_lines(&l, want), 1, "%s", find_line(&l, "eval"));
    cr_assert_eq(count_lines(&l, "eval @"), 0, "%s", find_line(&l, "eval @"));
    cr_assert_eq(count_lines(&l, "step      5/5"), 1);
}

/* run_clm.py's --do_train --do_eval: trainer.evaluate() after train(). Given explicitly,
 * --do_eval adds an eval at the last step when the schedule did not evaluate it. */
Test(trainer, do_eval_given_adds_a_final_eval)
{
    struct { const char *strategy, *do_eval; int steps; int64_t want[4]; size_t n; } cases[] = {
        {"steps", NULL, 5, {2, 4}, 2},
        {"steps", "true", 5, {2, 4, 5}, 3},
        {"steps", "true", 4, {2, 4}, 2},
        {"no", "true", 5, {5}, 1},
        {"no", NULL, 5, {0}, 0},
        {"steps", "false", 5, {2, 4}, 2}, /* the schedule is eval_strategy's, as in HF */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        mp_config c;
        static run_out o;
        int64_t steps[8];
        small_config(&c, "fp32", cases[k].steps);
        set_opt(&c, "eval_steps", "2");
        set_opt(&c, "eval_strategy", cases[k].strategy);
        if (cases[k].do_eval) set_opt(&c, "do_eval", cases[k].do_eval);
        run(&c, NULL, 0, &o);
        size_t n = eval_steps_of(&o, steps, 8);
        cr_assert_eq(n, cases[k].n, "case %zu: %zu evals", k, n);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(steps[i], cases[k].want[i], "case %zu eval %zu", k, i);
        if (n && steps[n - 1] == cases[k].steps) /* after the last train row */
            cr_assert_eq(o.rows[o.n - 1].kind, MR_EVAL, "case %zu: the eval comes last", k);
    }
}

/* A stop before the eval-only run's eval got through its windows: nothing recorded, exit 0. */
Test(trainer, eval_only_stopped_is_not_recorded)
{
    mp_config c;
    char err[512] = "", summary[4096];
    small_config(&c, "fp32", 10);
    set_opt(&c, "do_train", "false");
    feed *f = feed_create();
    trainer *t = trainer_create(&c, f, NULL, NULL, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    trainer_request_stop(t);
    cr_assert_eq(trainer_run(t, err, sizeof err), 0, "%s", err);
    trainer_summary(t, summary, sizeof summary);
    static metric_row rows[8];
    uint64_t since = 0;
    cr_assert_eq(feed_read_rows(f, &since, rows, 8), 0);
    feed_snapshot snap;
    cr_assert(feed_get_snapshot(f, &snap) > 0);
    cr_assert_eq(snap.state, RUN_FINISHED);
    cr_assert_str_eq(snap.message, "eval at step 0 stopped by the stop request: not recorded");
    cr_assert(!strncmp(summary, "eval only: no eval (stopped) | ", 31), "%s", summary);
    trainer_free(t);
    feed_destroy(f);
}
