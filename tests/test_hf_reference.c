/* test_hf_reference.c — a Hugging Face GPT-2 folder read the way transformers reads it: the
 * fp32 loss of tests/fixtures/hf-tiny equals an independent double-precision forward
 * (scripts/gpt2_reference.py, its result in expected.json) to 1e-5 relative. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>

#include "backend.h"
#include "checkpoint.h"
#include "hf_model.h"
#include "model.h"
#include "precision.h"

#define FIXTURE MPTUI_SOURCE_DIR "/tests/fixtures/hf-tiny"

/* The fixture's tokens (17: 16 inputs, 16 targets) and the reference loss. */
static double expected(int32_t *tok, int n)
{
    json_error_t je;
    json_t *j = json_load_file(FIXTURE "/expected.json", 0, &je);
    cr_assert_not_null(j, "%s", je.text);
    json_t *a = json_object_get(j, "tokens");
    cr_assert_eq((int)json_array_size(a), n);
    for (int i = 0; i < n; i++) tok[i] = (int32_t)json_integer_value(json_array_get(a, i));
    double loss = atof(json_string_value(json_object_get(j, "loss")));
    json_decref(j);
    return loss;
}

/* The fixture's fp32 loss after `load` filled the masters. */
static void check_loss(int (*load)(gpt *m, char *err, size_t errlen))
{
    int32_t tok[17];
    double want = expected(tok, 17);
    char err[512];
    backend *be = bk_create(BK_CPU, 1, err, sizeof err);
    cr_assert_not_null(be, "%s", err);
    gpt_config c = {2, 2, 16, 16, 256};
    gpt *m = gpt_create(be, &c, 1, 16, err, sizeof err);
    cr_assert_not_null(m, "%s", err);
    /* transformer. prefix, lm_head.weight equal to wte, attn.bias buffers: all as the hub's
     * older GPT-2 files hold them */
    cr_assert_eq(load(m, err, sizeof err), 0, "%s", err);
    prec_policy p;
    cr_assert_eq(prec_init(&p, c.n_layer, DT_F32), 0);
    gpt_forward(m, &p, tok, tok + 1, 1, 16, NULL);
    double got = gpt_loss_sum(m) / 16.0;
    cr_assert(fabs(got - want) <= 1e-5 * fabs(want), "mptui %.9f, reference %.9f", got, want);
    prec_free(&p);
    gpt_free(m);
    bk_destroy(be);
}

static int by_model_name_or_path(gpt *m, char *err, size_t errlen)
{
    return hf_load(FIXTURE, m, NULL, 0, err, errlen);
}

static int by_init_from(gpt *m, char *err, size_t errlen)
{
    return ckpt_load_weights(FIXTURE, m, err, errlen);
}

Test(hf_reference, model_name_or_path_loss_equals_the_reference)
{
    check_loss(by_model_name_or_path);
}

Test(hf_reference, init_from_loss_equals_the_reference) { check_loss(by_init_from); }
