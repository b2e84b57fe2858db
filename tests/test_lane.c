/* Tests for src/train/lane.c: mode lists, the memory estimate against what gpt_create
 * really allocates, the memory refusal, fork / keep moving state bit for bit, and the lockstep
 * step (two lanes in one mode stay bit-identical; a stop abandons it). (Whole runs:
 * test_trainer.c.) */
#include <criterion/criterion.h>
#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backend.h"
#include "config.h"
#include "lane.h"

Test(lane, parse_modes)
{
    lane_spec s[LANE_MAX];
    char err[256];
    cr_assert_eq(lane_parse_modes("fp16,bf16", s, err, sizeof err), 2, "%s", err);
    cr_assert_eq(s[0].mode, DT_F16);
    cr_assert_eq(s[1].mode, DT_BF16);
    cr_assert_str_eq(s[0].name, "");
    cr_assert_eq(s[0].static_scale, 0);
    cr_assert_eq(lane_parse_modes("bf16,float32,fp16", s, err, sizeof err), 3, "%s", err);
    cr_assert_eq(s[1].mode, DT_F32);
    static const struct { const char *in, *msg; } bad[] = {
        {"fp16", "compare: 'fp16' needs two or three modes, e.g. fp16,bf16"},
        {"fp16,fp16", "compare: 'fp16' given twice"},
        {"fp16,int8", "compare: 'int8' is not one of fp32, fp16, bf16"},
        {"", "compare: '' needs two or three modes, e.g. fp16,bf16"},
        {"fp32,fp16,bf16,fp32", "compare: 'fp32' given twice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(lane_parse_modes(bad[i].in, s, err, sizeof err), -1, "%s", bad[i].in);
        cr_assert_str_eq(err, bad[i].msg);
    }
    cr_assert_eq(lane_parse_modes(NULL, s, err, sizeof err), -1);
    cr_assert_str_eq(err, "compare: the mode list is missing or too long");
}

Test(lane, memory_check)
{
    char err[256] = "";
    size_t gib = (size_t)1 << 30;
    cr_assert_eq(lane_check_memory(2, gib, 2 * gib, err, sizeof err), 0);
    cr_assert_eq(lane_check_memory(0, gib, 0, err, sizeof err), 0);
    cr_assert_eq(lane_check_memory(2, gib, 3 * gib / 2, err, sizeof err), -1);
    cr_assert_str_eq(err, "compare: 2 more replicas need 2.0 GiB (1.0 GiB each) but only 1.5 GiB "
                          "is available; compare fewer modes or use a smaller model or batch");
    cr_assert_eq(lane_check_memory(1, 3 << 20, 1 << 20, err, sizeof err), -1);
    cr_assert_str_eq(err, "compare: 1 more replica needs 3.0 MiB (3.0 MiB each) but only 1.0 MiB "
                          "is available; compare fewer modes or use a smaller model or batch");
    /* no wrap-around for absurd sizes */
    cr_assert_eq(lane_check_memory(3, SIZE_MAX / 2, SIZE_MAX - 1, err, sizeof err), -1);
}

static const gpt_config CFG = {2, 2, 64, 64, 256};

/* The estimate is what gpt_create takes from the heap (aligned_alloc on the CPU backend),
 * within allocator overhead. */
Test(lane, estimate_matches_allocation)
{
#ifdef __SANITIZE_ADDRESS__
    cr_skip_test("ASan's allocator does not report through mallinfo2");
#endif
    char err[256];
    backend *be = bk_create(BK_CPU, 1, err, sizeof err);
    cr_assert_not_null(be, "%s", err);
    struct mallinfo2 a = mallinfo2();
    gpt *m = gpt_create(be, &CFG, 8, 64, err, sizeof err);
    cr_assert_not_null(m, "%s", err);
    struct mallinfo2 b = mallinfo2();
    double used = (double)(b.uordblks + b.hblkhd) - (double)(a.uordblks + a.hblkhd);
    double est = (double)gpt_memory_bytes(&CFG, 8, 64);
    cr_assert(used >= est && used <= est * 1.03 + 65536, "estimate %.0f, allocated %.0f", est, used);
    cr_assert_eq(lane_bytes(&CFG, NULL, 8, 64, 0), gpt_memory_bytes(&CFG, 8, 64) +
                                                       2 * gpt_num_params(m) * sizeof(float));
    /* a bf16 lane is laid out for bf16: its 16-bit activations take half */
    prec_policy bf;
    cr_assert_eq(prec_init(&bf, CFG.n_layer, DT_BF16), 0);
    gpt_mem_plan plan;
    cr_assert_eq(gpt_memory_plan(&CFG, &bf, 8, 64, NULL, &plan, err, sizeof err), 0, "%s", err);
    cr_assert_eq(lane_bytes(&CFG, &bf, 8, 64, 0), plan.total + 2 * gpt_num_params(m) * sizeof(float));
    cr_assert_lt(lane_bytes(&CFG, &bf, 8, 64, 0), lane_bytes(&CFG, NULL, 8, 64, 0));
    /* a replica of a run that accumulates gradients keeps lm_head's (V, C) sum apart */
    cr_assert_eq(lane_bytes(&CFG, &bf, 8, 64, 1) - lane_bytes(&CFG, &bf, 8, 64, 0),
                 (size_t)256 * 64 * sizeof(float));
    prec_free(&bf);
    cr_assert_eq(gpt_config_num_params(&CFG), gpt_num_params(m));
    gpt_free(m);
    bk_destroy(be);
}

/* A single run's lane on a model with AdamW state a trained run would have. */
typedef struct {
    backend *be;
    gpt *m;
    mp_config cfg;
    lane ls[LANE_MAX];
    int n, sel;
} source;

static void source_make(source *s)
{
    char err[256];
    memset(s, 0, sizeof *s);
    s->be = bk_create(BK_CPU, 1, err, sizeof err);
    cr_assert_not_null(s->be, "%s", err);
    s->m = gpt_create(s->be, &CFG, 4, 64, err, sizeof err);
    cr_assert_not_null(s->m, "%s", err);
    rng_state r;
    rng_seed(&r, 7);
    gpt_init_weights(s->m, &r);
    size_t n = gpt_num_params(s->m);
    for (size_t i = 0; i < n; i++) {
        gpt_adam_m(s->m)[i] = (float)i * 1e-6f;
        gpt_adam_v(s->m)[i] = (float)i * 1e-9f;
    }
    cfg_defaults(&s->cfg);
    lane *l = &s->ls[0];
    cr_assert_eq(prec_init(&l->policy, CFG.n_layer, DT_BF16), 0);
    cr_assert_eq(prec_set_override(&l->policy, "lm_head", DT_F32, err, sizeof err), 1, "%s", err);
    cr_assert_eq(lane_init(l, s->m, &s->cfg, 100), 0);
    scaler_init(&l->sc, 1, 1, 1234.0f, 2.0f, 0.5f, 100, 0.0f);
    l->sc.overflow_total = 5;
    l->opt.t = 7;
    l->last_loss = 2.5;
    l->win_loss_sum = 6.0;
    l->win_loss_n = 3;
    s->n = 1;
}

static void source_free(source *s)
{
    for (int i = 0; i < s->n; i++) lane_free(&s->ls[i]);
    gpt_free(s->m);
    bk_destroy(s->be);
}

Test(lane, init_builds_the_tables_of_a_single_run)
{
    source s;
    source_make(&s);
    const lane *l = &s.ls[0];
    cr_assert_eq(l->model, s.m);
    cr_assert_eq(l->owns_model, 0);
    cr_assert_str_eq(l->name, "");
    cr_assert_eq(l->n_ot, gpt_num_tensors(s.m));
    for (int i = 0; i < l->n_ot; i++) {
        const gpt_tensor *g = gpt_tensor_at(s.m, i);
        cr_assert_eq(l->ot[i].p, gpt_params(s.m) + g->offset);
        cr_assert_eq(l->ot[i].v, gpt_adam_v(s.m) + g->offset);
        cr_assert_eq(l->ot[i].n, g->numel);
        cr_assert_eq(l->ot[i].decay, g->decay);
    }
    cr_assert_eq(l->opt.total_steps, 100);
    cr_assert_eq(l->opt.lr, s.cfg.learning_rate);
    source_free(&s);
}

Test(lane, fork_refused_when_memory_is_short)
{
    source s;
    source_make(&s);
    lane_spec sp[2] = {{"", DT_F16, 0}, {"", DT_BF16, 0}};
    char err[256];
    prec_policy p16; /* the new replica's: fp16 with the source's lm_head override */
    cr_assert_eq(prec_init(&p16, CFG.n_layer, DT_F16), 0);
    cr_assert_eq(prec_set_override(&p16, "lm_head", DT_F32, err, sizeof err), 1, "%s", err);
    size_t each = lane_bytes(&CFG, &p16, 4, 64, 0);
    prec_free(&p16);
    cr_assert_eq(lane_fork(s.ls, &s.n, &s.sel, &s.cfg, sp, 2, 4, 64, each - 1, err, sizeof err),
                 -1);
    cr_assert(strncmp(err, "compare: 1 more replica needs ", 30) == 0, "%s", err);
    cr_assert(strstr(err, "available") != NULL, "%s", err);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.ls[0].model, s.m, "the single lane is left as it was");
    cr_assert_eq(lane_fork(s.ls, &s.n, &s.sel, &s.cfg, sp, 1, 4, 64, SIZE_MAX, err, sizeof err),
                 -1);
    cr_assert_str_eq(err, "compare: 1 replicas asked; 2 or 3 can run side by side");
    cr_assert_eq(lane_fork(s.ls, &s.n, &s.sel, &s.cfg, sp, 2, 4, 64, each, err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(s.n, 2);
    source_free(&s);
}

Test(lane, fork_copies_state_and_keep_hands_it_back)
{
    source s;
    source_make(&s);
    lane_spec sp[3] = {{"", DT_F16, 0}, {"", DT_BF16, 0}, {"f32x", DT_F32, 512}};
    char err[256];
    cr_assert_eq(lane_fork(s.ls, &s.n, &s.sel, &s.cfg, sp, 3, 4, 64, SIZE_MAX, err, sizeof err),
                 0, "%s", err);
    cr_assert_eq(s.n, 3);
    /* the lane in the run's mode (bf16) continues it: the run's model, same scaler */
    cr_assert_eq(s.sel, 1);
    cr_assert_eq(s.ls[1].model, s.m);
    cr_assert_eq(s.ls[1].owns_model, 0);
    cr_assert_eq(s.ls[1].sc.scale, 1234.0f);
    cr_assert_eq(s.ls[1].sc.overflow_total, 5);
    cr_assert_eq(s.ls[1].last_loss, 2.5);
    cr_assert(isnan(s.ls[0].last_loss));
    /* the others: fresh scalers for their mode (fp16 dynamic 65536; a static override) */
    cr_assert(s.ls[0].sc.enabled && s.ls[0].sc.dynamic);
    cr_assert_eq(s.ls[0].sc.scale, 65536.0f);
    cr_assert_eq(s.ls[0].sc.overflow_total, 0);
    cr_assert(s.ls[2].sc.enabled && !s.ls[2].sc.dynamic);
    cr_assert_eq(s.ls[2].sc.scale, 512.0f);
    cr_assert_str_eq(s.ls[0].name, "fp16");
    cr_assert_str_eq(s.ls[1].name, "bf16");
    cr_assert_str_eq(s.ls[2].name, "f32x");
    size_t n = gpt_num_params(s.m), bytes = n * sizeof(float);
    for (int i = 0; i < 3; i++) {
        const lane *l = &s.ls[i];
        cr_assert_eq(l->opt.t, 7);
        cr_assert_eq(l->win_loss_sum, 6.0, "the window before the fork is every lane's");
        cr_assert_eq(l->win_loss_n, 3);
        cr_assert_eq(memcmp(gpt_params(l->model), gpt_params(s.m), bytes), 0);
        cr_assert_eq(memcmp(gpt_adam_m(l->model), gpt_adam_m(s.m), bytes), 0);
        cr_assert_eq(memcmp(gpt_adam_v(l->model), gpt_adam_v(s.m), bytes), 0);
        int lm = prec_row_lmhead(&l->policy), fc = prec_find(&l->policy, "h.0.mlp.c_fc");
        cr_assert_eq(l->policy.rows[lm].act, DT_F32, "lane %d keeps the override", i);
        cr_assert_eq(l->policy.rows[fc].act, sp[i].mode);
        cr_assert_eq(l->ot[0].p, gpt_params(l->model));
    }
    cr_assert_neq(gpt_params(s.ls[0].model), gpt_params(s.m));
    /* overrides apply to every lane */
    cr_assert_eq(lane_set_override(s.ls, s.n, "h.*.mlp.c_fc", DT_F32, err, sizeof err), 2);
    cr_assert_eq(lane_set_override(s.ls, s.n, "nothing", DT_F32, err, sizeof err), -1);
    cr_assert(strstr(err, "nothing") != NULL, "%s", err);
    /* keep fp16: its (changed) masters come back into the run's model, with its scaler */
    gpt_params(s.ls[0].model)[3] = 42.0f;
    s.ls[0].sc.overflow_total = 9;
    s.ls[0].opt.t = 11;
    s.ls[0].stats[2].act.amax = 3.5f;
    s.ls[0].have_stats = 1;
    lane_keep(s.ls, &s.n, 0, s.m);
    const lane *k = &s.ls[0];
    cr_assert_eq(s.n, 1);
    cr_assert_eq(k->model, s.m);
    cr_assert_eq(k->owns_model, 0);
    cr_assert_str_eq(k->name, "");
    cr_assert_eq(gpt_params(s.m)[3], 42.0f);
    cr_assert_eq(k->ot[0].p, gpt_params(s.m), "the optimizer walks the run's model");
    cr_assert_eq(k->policy.mode, DT_F16);
    cr_assert_eq(k->policy.rows[prec_find(&k->policy, "h.1.mlp.c_fc")].act, DT_F32);
    cr_assert_eq(k->sc.overflow_total, 9);
    cr_assert_eq(k->sc.scale, 65536.0f);
    cr_assert_eq(k->opt.t, 11);
    cr_assert_eq(k->stats[2].act.amax, 3.5f);
    cr_assert_eq(k->have_stats, 1);
    source_free(&s);
}

/* No lane in the run's mode (bf16 source, fp8 + fp16 asked): the first continues the run's
 * model but takes its own mode's scaler, as the m key would; and a fork into fp8 carries the
 * recipe of the run's policy. */
Test(lane, heir_in_another_mode_gets_its_modes_scaler)
{
    source s;
    source_make(&s);
    s.ls[0].policy.fp8.kind = FP8_CURRENT;
    s.ls[0].policy.fp8.margin = 2;
    lane_spec sp[2] = {{"", DT_FP8, 0}, {"", DT_F16, 0}};
    char err[256];
    cr_assert_eq(lane_fork(s.ls, &s.n, &s.sel, &s.cfg, sp, 2, 4, 64, SIZE_MAX, err, sizeof err),
                 0, "%s", err);
    cr_assert_eq(s.sel, 0);
    cr_assert_eq(s.ls[0].model, s.m);
    cr_assert_not(s.ls[0].sc.enabled, "fp8 under --loss_scale auto has no scaler (bf16's)");
    cr_assert_eq(s.ls[0].sc.overflow_total, 0);
    cr_assert(s.ls[1].sc.enabled && s.ls[1].sc.dynamic);
    cr_assert_eq(s.ls[0].policy.fp8.kind, FP8_CURRENT);
    cr_assert_eq(s.ls[0].policy.fp8.margin, 2);
    int fc = prec_find(&s.ls[0].policy, "h.0.mlp.c_fc");
    cr_assert(s.ls[0].policy.rows[fc].fp8);
    cr_assert_not(s.ls[1].policy.rows[fc].fp8);
    source_free(&s);
}

/* Two lanes in one mode see the same batches: they stay bit-identical, and each lane's
 * numbers are those of a single lane stepped alone from the same state. A stop between
 * micro-batches changes nothing and puts the data RNG back. */
Test(lane, lockstep_step_and_abandon)
{
    char err[256];
    source s, one;
    source_make(&s);
    source_make(&one);
    dataset d;
    cr_assert_eq(data_load(&d, data_default_path(), "", 5, 0, 64, err, sizeof err), 0, "%s", err);
    int32_t in[4 * 64], tg[4 * 64];
    rng_state r2, r1;
    rng_seed(&r2, 3);
    r1 = r2;
    lane_batches b2 = {&d, &r2, 4, 64, 2, in, tg, NULL, DT_F32, 0, NULL, 0, NULL};
    lane_batches b1 = {&d, &r1, 4, 64, 2, in, tg, NULL, DT_F32, 0, NULL, 0, NULL};
    lane_spec sp[2] = {{"a", DT_BF16, 0}, {"b", DT_BF16, 0}};
    cr_assert_eq(lane_fork(s.ls, &s.n, &s.sel, &s.cfg, sp, 2, 4, 64, SIZE_MAX, err, sizeof err),
                 0, "%s", err);
    s.ls[1].sc = s.ls[0].sc; /* the same scale: the same bits */
    int at = -1;
    double bad = 0;
    atomic_int stop;
    atomic_init(&stop, 1);
    rng_state before = r2;
    cr_assert_eq(lane_step(s.ls, s.n, &b2, 1, 1, &stop, 0, &at, &bad), LANE_STEP_STOPPED);
    cr_assert_eq(at, 1);
    cr_assert_eq(memcmp(&before, &r2, sizeof r2), 0, "the data RNG is put back");
    cr_assert_eq(s.ls[0].opt.t, 7);
    cr_assert_eq(s.ls[0].have_stats, 0);
    atomic_store(&stop, 0);
    for (int step = 1; step <= 2; step++) {
        cr_assert_eq(lane_step(s.ls, s.n, &b2, step, 1, &stop, 0, &at, &bad), LANE_STEP_DONE);
        cr_assert_eq(lane_step(one.ls, 1, &b1, step, 1, &stop, 0, &at, &bad), LANE_STEP_DONE);
    }
    size_t bytes = gpt_num_params(s.m) * sizeof(float);
    for (int i = 0; i < 2; i++) {
        const lane *l = &s.ls[i];
        cr_assert_eq(l->opt.t, 9);
        cr_assert_eq(memcmp(&l->last_loss, &one.ls[0].last_loss, sizeof(double)), 0);
        cr_assert_eq(memcmp(&l->last_norm, &one.ls[0].last_norm, sizeof(double)), 0);
        cr_assert_eq(memcmp(gpt_params(l->model), gpt_params(one.m), bytes), 0, "lane %d", i);
        cr_assert_eq(l->stats_step, 2);
        cr_assert(l->have_stats);
    }
    cr_assert(isfinite(s.ls[0].last_loss) && s.ls[0].win_loss_n == 3 + 2);
    metric_row row;
    metric_row_init(&row, MR_TRAIN, 2);
    lane_row(&s.ls[1], &row);
    cr_assert_str_eq(row.replica, "b");
    cr_assert_eq(row.loss, s.ls[1].win_loss_sum / 5);
    cr_assert_eq(row.overflow_total, 5);
    lane_window_reset(&s.ls[1]);
    cr_assert_eq(s.ls[1].win_loss_n, 0);
    data_free(&d);
    source_free(&s);
    source_free(&one);
}
