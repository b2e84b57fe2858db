/* Tests for src/train/evaluate.c: a stop request ends long evaluations promptly (between
 * batches, between sampled tokens) with a clean state; --eval_max_batches products past
 * INT_MAX; exact loss over the windows, the same bits for any eval batch. */
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "evaluate.h"
#include "model.h"
#include "precision.h"
#include "rng.h"

static backend *be;
static gpt *m;
static prec_policy pol;
static dataset d;
static int32_t in[4 * 8], tg[4 * 8];
static const gpt_config tiny = {1, 2, 16, 8, 256};
enum { B = 4, T = 8 };

static void setup(void)
{
    char err[256];
    be = bk_create(BK_CPU, 1, err, sizeof err);
    cr_assert_not_null(be, "%s", err);
    m = gpt_create(be, &tiny, B, T, err, sizeof err);
    cr_assert_not_null(m, "%s", err);
    rng_state r;
    rng_seed(&r, 7);
    gpt_init_weights(m, &r);
    cr_assert_eq(prec_init(&pol, tiny.n_layer, DT_F32), 0);
    memset(&d, 0, sizeof d);
    d.vocab_size = 256;
    d.is_bytes = 1;
    d.n_val = 8 * T + 1; /* 8 windows: two batches of 4 */
    d.val = malloc(d.n_val * sizeof *d.val);
    cr_assert_not_null(d.val);
    for (size_t i = 0; i < d.n_val; i++) d.val[i] = 'a' + (int32_t)(i % 26);
}

static void teardown(void)
{
    free(d.val);
    prec_free(&pol);
    gpt_free(m);
    bk_destroy(be);
}

TestSuite(evaluate, .init = setup, .fini = teardown);

static eval_args args(int max_batches, int sample_length, rng_state *r, const atomic_int *stop)
{
    eval_args a = {m, &d, &pol, DT_F32, B, T, max_batches, in, tg, sample_length, 0.8f, r, stop,
                   NULL, NULL, NULL, 0};
    return a;
}

Test(evaluate, stop_between_batches_returns_without_a_result)
{
    atomic_int stop;
    atomic_init(&stop, 1);
    rng_state r;
    rng_seed(&r, 1);
    eval_result res;
    memset(&res, 0x5a, sizeof res);
    eval_args a = args(0, 0, &r, &stop);
    cr_assert_eq(eval_run(&a, &res), 1); /* first batch done, stopped before the second */
    cr_assert_eq(res.windows, 0x5a5a5a5a, "a stopped eval must not fill the result");
    atomic_store(&stop, 0);
    cr_assert_eq(eval_run(&a, &res), 0);
    cr_assert_eq(res.windows, 8);
    cr_assert(isfinite(res.loss));
}

Test(evaluate, stop_cuts_a_huge_sample_at_the_prompt_and_keeps_the_rng)
{
    atomic_int stop;
    atomic_init(&stop, 1);
    rng_state r, r0;
    rng_seed(&r, 3);
    r0 = r;
    eval_result res, full;
    /* one batch (max 1): the loss is complete; the million-token sample stops at once */
    eval_args a = args(1, 1 << 20, &r, &stop);
    cr_assert_eq(eval_run(&a, &res), 0);
    cr_assert_eq(res.windows, 4);
    cr_assert_str_eq(res.sample, "abcdefghijklmnop"); /* the prompt, no token sampled */
    cr_assert_eq(memcmp(&r, &r0, sizeof r), 0, "a cut sample puts the RNG back");
    eval_args b = args(1, 0, &r, NULL);
    cr_assert_eq(eval_run(&b, &full), 0);
    cr_assert_eq(memcmp(&res.loss, &full.loss, sizeof res.loss), 0, "same loss bits");
}

Test(evaluate, max_batches_times_batch_past_int_max_means_every_window)
{
    rng_state r;
    rng_seed(&r, 1);
    eval_result all, big;
    eval_args a = args(0, 0, &r, NULL), b = args(INT_MAX / 2, 0, &r, NULL);
    cr_assert_eq(eval_run(&a, &all), 0);
    cr_assert_eq(eval_run(&b, &big), 0); /* (INT_MAX / 2) * 4 overflowed an int (UBSan) */
    cr_assert_eq(big.windows, 8);
    cr_assert_eq(memcmp(&all.loss, &big.loss, sizeof all.loss), 0);
}

/* The eval batch only counts windows for --eval_max_batches: forwards always take the
 * model's batch (here 4), so the loss has the same bits for eval batch 1, 8 or 16 (past the
 * training batch, with scratch for 4 windows only), and it is the mean of the per-window
 * losses. */
Test(evaluate, loss_does_not_depend_on_the_eval_batch)
{
    rng_state r;
    rng_seed(&r, 1);
    eval_result res[3];
    const int batches[3] = {1, 8, 16};
    for (int k = 0; k < 3; k++) {
        eval_args a = args(0, 0, &r, NULL);
        a.batch = batches[k];
        cr_assert_eq(eval_run(&a, &res[k]), 0);
        cr_assert_eq(res[k].windows, 8);
    }
    cr_assert_eq(memcmp(&res[0].loss, &res[1].loss, sizeof res[0].loss), 0);
    cr_assert_eq(memcmp(&res[0].loss, &res[2].loss, sizeof res[0].loss), 0);
    double sum = 0;
    for (int w = 0; w < 8; w++) { /* one window per forward */
        data_eval_batch(&d, w, 1, T, in, tg);
        sum += gpt_forward(m, &pol, in, tg, 1, T, NULL);
    }
    cr_assert(fabs(res[0].loss - sum / 8) <= 1e-6 * sum / 8, "%.9g vs %.9g", res[0].loss, sum / 8);
    /* --eval_max_batches 1 with eval batch 2: two windows, in one forward */
    eval_args a = args(1, 0, &r, NULL);
    a.batch = 2;
    cr_assert_eq(eval_run(&a, &res[0]), 0);
    cr_assert_eq(res[0].windows, 2);
}
