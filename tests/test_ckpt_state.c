/* test_ckpt_state.c — trainer_state.json and config.json as text: the exact bytes written (the
 * file format), bit-exact round trips, odd text, and the one-line refusals of bad JSON. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_state.h"
#include "test_ckpt_util.h"

static char err[1024];

/* One of everything, with the awkward values: a non-power-of-two fp32 scale, NaN (none),
 * infinities, a non-UTF-8 override pattern, a text field without its NUL. */
static void small_state(ckpt_state *s, metric_row *row)
{
    memset(s, 0, sizeof *s);
    s->global_step = 7;
    s->epoch = 1.0 / 3.0;
    s->elapsed_s = 12.5;
    s->tokens_seen = 1ull << 40;
    scaler_init(&s->sc, 1, 1, 65536.0f, 2.0f, 0.5f, 2000, 0.0f);
    s->sc.scale = 0.1f;
    s->sc.overflow_total = 3;
    s->sc.last_overflow_step = -1;
    memset(s->sc.first_nonfinite, 'x', sizeof s->sc.first_nonfinite); /* no NUL */
    s->optim_t = 5;
    rng_seed(&s->data_rng, 1);
    rng_seed(&s->sample_rng, 2);
    s->mode = DT_F16;
    s->n_overrides = 1;
    snprintf(s->overrides[0].pattern, sizeof s->overrides[0].pattern, "h.\xff.mlp");
    s->overrides[0].dtype = -1;
    s->best_metric = NAN;
    s->best_step = -1;
    metric_row_init(row, MR_EVAL, 2);
    row->eval_loss = -INFINITY;
    row->eval_ppl = 1e300;
    row->overflow_total = 9;
    memcpy(row->replica, "fp16abcd", sizeof row->replica);
    s->log_history = row;
    s->n_log = 1;
    s->win = (ckpt_window){1, 1.5, 2, 3, 4, 0.25};
}

/* Written by mptui before ckpt_state.c was split out of checkpoint.c: the format, byte for byte. */
static const char GOLDEN_STATE[] =
    "{\n"
    " \"format\": \"mptui-trainer-state\",\n"
    " \"version\": 1,\n"
    " \"global_step\": 7,\n"
    " \"epoch\": 0.33333333333333331,\n"
    " \"elapsed_s\": 12.5,\n"
    " \"tokens_seen\": 1099511627776,\n"
    " \"optim_t\": 5,\n"
    " \"mode\": \"fp16\",\n"
    " \"overrides\": [\n"
    "  {\n"
    "   \"pattern\": \"h.?.mlp\",\n"
    "   \"dtype\": null\n"
    "  }\n"
    " ],\n"
    " \"scaler\": {\n"
    "  \"enabled\": true,\n"
    "  \"dynamic\": true,\n"
    "  \"scale\": 0.10000000149011612,\n"
    "  \"growth_factor\": 2.0,\n"
    "  \"backoff_factor\": 0.5,\n"
    "  \"min_scale\": 0.0,\n"
    "  \"growth_interval\": 2000,\n"
    "  \"growth_tracker\": 0,\n"
    "  \"overflow_total\": 3,\n"
    "  \"overflow_window\": 0,\n"
    "  \"last_overflow_step\": -1,\n"
    "  \"first_nonfinite\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"\n"
    " },\n"
    " \"data_rng\": [\n"
    "  \"0x910a2dec89025cc1\",\n"
    "  \"0xbeeb8da1658eec67\",\n"
    "  \"0xf893a2eefb32555e\",\n"
    "  \"0x71c18690ee42c90b\"\n"
    " ],\n"
    " \"sample_rng\": [\n"
    "  \"0x975835de1c9756ce\",\n"
    "  \"0xbfc846100bfc1e42\",\n"
    "  \"0x987bbcbfdd7e532f\",\n"
    "  \"0xc3f2827affe7f664\"\n"
    " ],\n"
    " \"best_metric\": null,\n"
    " \"best_step\": -1,\n"
    " \"log_window\": {\n"
    "  \"loss_sum\": 1.5,\n"
    "  \"loss_n\": 2,\n"
    "  \"steps\": 3,\n"
    "  \"tokens\": 4,\n"
    "  \"time_s\": 0.25\n"
    " },\n"
    " \"log_history\": [\n"
    "  {\n"
    "   \"step\": 2,\n"
    "   \"epoch\": null,\n"
    "   \"time_s\": null,\n"
    "   \"kind\": \"eval\",\n"
    "   \"precision\": \"fp32\",\n"
    "   \"loss\": null,\n"
    "   \"lr\": null,\n"
    "   \"grad_norm\": null,\n"
    "   \"loss_scale\": null,\n"
    "   \"overflow\": null,\n"
    "   \"overflow_total\": 9,\n"
    "   \"tokens_per_s\": null,\n"
    "   \"eval_loss\": \"-Infinity\",\n"
    "   \"eval_ppl\": 1.0000000000000001e300,\n"
    "   \"replica\": \"fp16abc\"\n"
    "  }\n"
    " ]\n"
    "}";

static const char GOLDEN_CONFIG[] =
    "{\n"
    "  \"architectures\": [\n"
    "    \"GPT2LMHeadModel\"\n"
    "  ],\n"
    "  \"model_type\": \"gpt2\",\n"
    "  \"n_layer\": 2,\n"
    "  \"n_head\": 2,\n"
    "  \"n_embd\": 32,\n"
    "  \"n_positions\": 16,\n"
    "  \"n_ctx\": 16,\n"
    "  \"vocab_size\": 64,\n"
    "  \"n_inner\": null,\n"
    "  \"activation_function\": \"gelu_new\",\n"
    "  \"layer_norm_epsilon\": 1.0000000000000001e-5,\n"
    "  \"initializer_range\": 0.02,\n"
    "  \"resid_pdrop\": 0.0,\n"
    "  \"embd_pdrop\": 0.0,\n"
    "  \"attn_pdrop\": 0.0,\n"
    "  \"scale_attn_weights\": true,\n"
    "  \"tie_word_embeddings\": true,\n"
    "  \"use_cache\": true,\n"
    "  \"bos_token_id\": 63,\n"
    "  \"eos_token_id\": 63,\n"
    "  \"torch_dtype\": \"float32\"\n"
    "}";

Test(ckpt_state, state_json_bytes_are_the_format)
{
    ckpt_state st;
    metric_row row;
    small_state(&st, &row);
    char *js = ckpt_state_to_json(&st);
    cr_assert_not_null(js);
    cr_assert_str_eq(js, GOLDEN_STATE);
    free(js);
}

Test(ckpt_state, config_json_bytes_and_round_trip)
{
    gpt_config c = {.n_layer = 2, .n_head = 2, .n_embd = 32, .block_size = 16, .vocab_size = 64};
    char *js = ckpt_config_to_json(&c);
    cr_assert_not_null(js);
    cr_assert_str_eq(js, GOLDEN_CONFIG);
    gpt_config got = {0};
    cr_assert_eq(ckpt_config_from_json(js, strlen(js), "cfg", &got, err, sizeof err), 0, "%s", err);
    cr_assert_eq(memcmp(&got, &c, sizeof c), 0);
    free(js);
}

Test(ckpt_state, state_json_round_trip_and_defaults)
{
    ckpt_state st, got;
    fill_state(&st, 99);
    st.best_metric = NAN;
    st.best_step = -1;
    char *js = ckpt_state_to_json(&st);
    cr_assert_not_null(js);
    cr_assert_eq(ckpt_state_from_json(js, strlen(js), "mem", &got, err, sizeof err), 0, "%s", err);
    expect_state_eq(&st, &got);
    cr_assert_not_null(strstr(js, "\"0xffffffffffffffff\""), "RNG words as exact hex");
    free(js);
    ckpt_state_free(&got);
    st.n_log = 0;
    js = ckpt_state_to_json(&st);
    cr_assert_eq(ckpt_state_from_json(js, strlen(js), "mem", &got, err, sizeof err), 0, "%s", err);
    cr_assert_eq(got.n_log, 0);
    cr_assert_null(got.log_history);
    free(js);
    st.n_log = 3;
    ckpt_state_free(&st);
}

Test(ckpt_state, text_fields_non_utf8_and_unterminated)
{
    ckpt_state st, got;
    metric_row row;
    small_state(&st, &row);
    char *js = ckpt_state_to_json(&st);
    cr_assert_eq(ckpt_state_from_json(js, strlen(js), "mem", &got, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(got.overrides[0].pattern, "h.?.mlp"); /* not UTF-8: kept loadable */
    cr_assert_eq(got.overrides[0].dtype, -1);
    char want[sizeof st.sc.first_nonfinite];
    memset(want, 'x', sizeof want - 1); /* the field's last byte holds the NUL */
    want[sizeof want - 1] = 0;
    cr_assert_str_eq(got.sc.first_nonfinite, want);
    cr_assert_str_eq(got.log_history[0].replica, "fp16abc");
    expect_same_double(got.log_history[0].eval_loss, -INFINITY, "eval_loss");
    expect_same_double(got.log_history[0].eval_ppl, 1e300, "eval_ppl");
    ckpt_state_free(&got);
    free(js);
}

static void expect_state_error(const char *text, const char *want)
{
    ckpt_state st;
    memset(&st, 0x5a, sizeof st);
    cr_assert_eq(ckpt_state_from_json(text, strlen(text), "lbl", &st, err, sizeof err), -1);
    cr_assert_str_eq(err, want);
    unsigned char *b = (unsigned char *)&st; /* untouched on error */
    for (size_t i = 0; i < sizeof st; i++) cr_assert_eq(b[i], 0x5a);
}

Test(ckpt_state, state_json_refusals_name_file_and_field)
{
    expect_state_error("[1]", "lbl: JSON is not an object");
    expect_state_error("{}", "lbl: field 'format' missing");
    expect_state_error("{\"format\": 3}", "lbl: field 'format' has the wrong type (expected a "
                       "string)");
    expect_state_error("{\"format\": \"other\"}", "lbl: field 'format' is not mptui-trainer-state");
    expect_state_error("{\"format\": \"mptui-trainer-state\", \"version\": 2}",
                       "lbl: field 'version' is not 1 (written by another version)");
    expect_state_error("{\"format\": \"mptui-trainer-state\", \"version\": 1, \"global_step\": -1}",
                       "lbl: field 'global_step' is -1, must be >= 0; the checkpoint is damaged "
                       "or was edited: resume from another checkpoint");
    ckpt_state st;
    cr_assert_eq(ckpt_state_from_json("{\"a\": 1, \"a\": 2}", 16, "lbl", &st, err, sizeof err), -1);
    cr_assert(!strncmp(err, "lbl: malformed JSON (line 1: ", 29), "%s", err);
    cr_assert_eq(ckpt_state_from_json("{", 1, "lbl", &st, NULL, 0), -1); /* no message buffer */
}

Test(ckpt_state, config_json_refusals)
{
    gpt_config g = {1, 1, 1, 1, 1};
    const char *t = "{\"model_type\": \"llama\"}";
    cr_assert_eq(ckpt_config_from_json(t, strlen(t), "c.json", &g, err, sizeof err), -1);
    cr_assert_str_eq(err, "c.json: field 'model_type' is not \"gpt2\"");
    t = "{\"model_type\": \"gpt2\", \"n_layer\": 0}";
    cr_assert_eq(ckpt_config_from_json(t, strlen(t), "c.json", &g, err, sizeof err), -1);
    cr_assert_str_eq(err, "c.json: field 'n_layer' is 0, must be in [1, 2147483647]; the "
                     "checkpoint is damaged or was edited: resume from another checkpoint");
    t = "{\"model_type\": \"gpt2\", \"n_layer\": 2, \"n_head\": 2.5}";
    cr_assert_eq(ckpt_config_from_json(t, strlen(t), "c.json", &g, err, sizeof err), -1);
    cr_assert_str_eq(err, "c.json: field 'n_head' has the wrong type (expected an integer)");
    cr_assert_eq(g.n_layer, 1, "untouched on error");
}
