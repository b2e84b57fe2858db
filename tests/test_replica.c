/* Tests for src/train/replica.c: mode lists, the memory estimate against what gpt_create
 * really allocates, the memory refusal, and fork / keep moving state bit for bit. (Lockstep
 * training itself is checked end to end in test_trainer.c.) */
#include <criterion/criterion.h>
#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backend.h"
#include "config.h"
#include "replica.h"

Test(replica, parse_modes)
{
    replica_spec s[REPLICA_MAX];
    char err[256];
    cr_assert_eq(replica_parse_modes("fp16,bf16", s, err, sizeof err), 2, "%s", err);
    cr_assert_eq(s[0].mode, DT_F16);
    cr_assert_eq(s[1].mode, DT_BF16);
    cr_assert_str_eq(s[0].name, "");
    cr_assert_eq(s[0].static_scale, 0);
    cr_assert_eq(replica_parse_modes("bf16,float32,fp16", s, err, sizeof err), 3, "%s", err);
    cr_assert_eq(s[1].mode, DT_F32);
    static const struct { const char *in, *msg; } bad[] = {
        {"fp16", "compare: 'fp16' needs two or three modes, e.g. fp16,bf16"},
        {"fp16,fp16", "compare: 'fp16' given twice"},
        {"fp16,int8", "compare: 'int8' is not one of fp32, fp16, bf16"},
        {"", "compare: '' needs two or three modes, e.g. fp16,bf16"},
        {"fp32,fp16,bf16,fp32", "compare: 'fp32' given twice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(replica_parse_modes(bad[i].in, s, err, sizeof err), -1, "%s", bad[i].in);
        cr_assert_str_eq(err, bad[i].msg);
    }
    cr_assert_eq(replica_parse_modes(NULL, s, err, sizeof err), -1);
    cr_assert_str_eq(err, "compare: the mode list is missing or too long");
}

Test(replica, memory_check)
{
    char err[256] = "";
    size_t gib = (size_t)1 << 30;
    cr_assert_eq(replica_check_memory(2, gib, 2 * gib, err, sizeof err), 0);
    cr_assert_eq(replica_check_memory(0, gib, 0, err, sizeof err), 0);
    cr_assert_eq(replica_check_memory(2, gib, 3 * gib / 2, err, sizeof err), -1);
    cr_assert_str_eq(err, "compare: 2 more replicas need 2.0 GiB (1.0 GiB each) but only 1.5 GiB "
                          "is available; compare fewer modes or use a smaller model or batch");
    cr_assert_eq(replica_check_memory(1, 3 << 20, 1 << 20, err, sizeof err), -1);
    cr_assert_str_eq(err, "compare: 1 more replica needs 3.0 MiB (3.0 MiB each) but only 1.0 MiB "
                          "is available; compare fewer modes or use a smaller model or batch");
    /* no wrap-around for absurd sizes */
    cr_assert_eq(replica_check_memory(3, SIZE_MAX / 2, SIZE_MAX - 1, err, sizeof err), -1);
    cr_assert(replica_mem_available() > 0);
}

static const gpt_config CFG = {2, 2, 64, 64, 256};

/* The estimate is what gpt_create takes from the heap (aligned_alloc on the CPU backend),
 * within allocator overhead. */
Test(replica, estimate_matches_allocation)
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
    cr_assert_eq(replica_bytes(&CFG, 8, 64), gpt_memory_bytes(&CFG, 8, 64) +
                                                 2 * gpt_num_params(m) * sizeof(float));
    gpt_free(m);
    bk_destroy(be);
}

typedef struct {
    backend *be;
    gpt *m;
    prec_policy p;
    scaler sc;
    optim opt;
    mp_config cfg;
} source;

static void source_make(source *s)
{
    char err[256];
    s->be = bk_create(BK_CPU, 1, err, sizeof err);
    cr_assert_not_null(s->be, "%s", err);
    s->m = gpt_create(s->be, &CFG, 4, 64, err, sizeof err);
    cr_assert_not_null(s->m, "%s", err);
    rng_state r;
    rng_seed(&r, 7);
    gpt_init_weights(s->m, &r);
    size_t n = gpt_num_params(s->m);
    for (size_t i = 0; i < n; i++) { /* AdamW state a trained run would have */
        gpt_adam_m(s->m)[i] = (float)i * 1e-6f;
        gpt_adam_v(s->m)[i] = (float)i * 1e-9f;
    }
    cr_assert_eq(prec_init(&s->p, CFG.n_layer, DT_BF16), 0);
    cr_assert_eq(prec_set_override(&s->p, "lm_head", DT_F32, err, sizeof err), 1, "%s", err);
    scaler_init(&s->sc, 1, 1, 1234.0f, 2.0f, 0.5f, 100, 0.0f);
    s->sc.overflow_total = 5;
    cfg_defaults(&s->cfg);
    optim_init(&s->opt, 1e-3, 0.9, 0.999, 1e-8, 0, 1, SCHED_LINEAR, 0, 100);
    s->opt.t = 7;
}

static void source_free(source *s)
{
    prec_free(&s->p);
    gpt_free(s->m);
    bk_destroy(s->be);
}

Test(replica, fork_refused_when_memory_is_short)
{
    source s;
    source_make(&s);
    replica_set rs;
    replica_spec sp[2] = {{"", DT_F16, 0}, {"", DT_BF16, 0}};
    replica_source src = {&s.cfg, s.m, &s.p, &s.sc, &s.opt, 4, 64};
    char err[256];
    size_t each = replica_bytes(&CFG, 4, 64);
    cr_assert_eq(replica_fork(&rs, &src, sp, 2, each - 1, err, sizeof err), -1);
    cr_assert(strncmp(err, "compare: 1 more replica needs ", 30) == 0, "%s", err);
    cr_assert(strstr(err, "available") != NULL, "%s", err);
    cr_assert_eq(rs.n, 0);
    cr_assert_eq(replica_fork(&rs, &src, sp, 1, SIZE_MAX, err, sizeof err), -1);
    cr_assert_str_eq(err, "compare: 1 replicas asked; 2 or 3 can run side by side");
    cr_assert_eq(replica_fork(&rs, &src, sp, 2, each, err, sizeof err), 0, "%s", err);
    replica_free(&rs);
    source_free(&s);
}

Test(replica, fork_copies_state_and_keep_hands_it_back)
{
    source s;
    source_make(&s);
    replica_set rs;
    replica_spec sp[3] = {{"", DT_F16, 0}, {"", DT_BF16, 0}, {"f32x", DT_F32, 512}};
    replica_source src = {&s.cfg, s.m, &s.p, &s.sc, &s.opt, 4, 64};
    char err[256];
    cr_assert_eq(replica_fork(&rs, &src, sp, 3, SIZE_MAX, err, sizeof err), 0, "%s", err);
    cr_assert_eq(rs.n, 3);
    /* the replica in the run's mode (bf16) continues it: borrowed model, same scaler */
    cr_assert_eq(rs.selected, 1);
    cr_assert_eq(rs.r[1].model, s.m);
    cr_assert_eq(rs.r[1].owns_model, 0);
    cr_assert_eq(rs.r[1].sc.scale, 1234.0f);
    cr_assert_eq(rs.r[1].sc.overflow_total, 5);
    /* the others: fresh scalers for their mode (fp16 dynamic 65536; a static override) */
    cr_assert(rs.r[0].sc.enabled && rs.r[0].sc.dynamic);
    cr_assert_eq(rs.r[0].sc.scale, 65536.0f);
    cr_assert_eq(rs.r[0].sc.overflow_total, 0);
    cr_assert(rs.r[2].sc.enabled && !rs.r[2].sc.dynamic);
    cr_assert_eq(rs.r[2].sc.scale, 512.0f);
    cr_assert_str_eq(rs.r[0].name, "fp16");
    cr_assert_str_eq(rs.r[2].name, "f32x");
    size_t n = gpt_num_params(s.m), bytes = n * sizeof(float);
    for (int i = 0; i < 3; i++) {
        const replica *r = &rs.r[i];
        cr_assert_eq(r->opt.t, 7);
        cr_assert_eq(memcmp(gpt_params(r->model), gpt_params(s.m), bytes), 0);
        cr_assert_eq(memcmp(gpt_adam_m(r->model), gpt_adam_m(s.m), bytes), 0);
        cr_assert_eq(memcmp(gpt_adam_v(r->model), gpt_adam_v(s.m), bytes), 0);
        int lm = prec_row_lmhead(&r->policy), fc = prec_find(&r->policy, "h.0.mlp.c_fc");
        cr_assert_eq(r->policy.rows[lm].act, DT_F32, "replica %d keeps the override", i);
        cr_assert_eq(r->policy.rows[fc].act, sp[i].mode);
        cr_assert_eq(r->ot[0].p, gpt_params(r->model));
    }
    cr_assert_neq(gpt_params(rs.r[0].model), gpt_params(s.m));
    /* overrides apply to every replica */
    cr_assert_eq(replica_set_override(&rs, "h.*.mlp.c_fc", DT_F32, err, sizeof err), 2);
    cr_assert_eq(replica_set_override(&rs, "nothing", DT_F32, err, sizeof err), -1);
    cr_assert(strstr(err, "nothing") != NULL, "%s", err);
    cr_assert_eq(replica_find(&rs, "f32x"), 2);
    cr_assert_eq(replica_find(&rs, "fp8"), -1);
    /* keep fp16: its (changed) masters and its scaler come back into the run */
    gpt_params(rs.r[0].model)[3] = 42.0f;
    rs.r[0].sc.overflow_total = 9;
    rs.r[0].opt.t = 11;
    gpt_row_stats *stats = calloc((size_t)s.p.n, sizeof *stats);
    rs.r[0].stats[2].act.amax = 3.5f;
    rs.r[0].have_stats = 1;
    int have = 0;
    replica_keep(&rs, 0, s.m, &s.p, &s.sc, &s.opt, stats, &have);
    cr_assert_eq(rs.n, 0);
    cr_assert_eq(gpt_params(s.m)[3], 42.0f);
    cr_assert_eq(s.p.mode, DT_F16);
    cr_assert_eq(s.p.rows[prec_find(&s.p, "h.1.mlp.c_fc")].act, DT_F32);
    cr_assert_eq(s.sc.overflow_total, 9);
    cr_assert_eq(s.sc.scale, 65536.0f);
    cr_assert_eq(s.opt.t, 11);
    cr_assert_eq(stats[2].act.amax, 3.5f);
    cr_assert_eq(have, 1);
    free(stats);
    source_free(&s);
}
