/* test_hf_model.c — Hugging Face GPT-2 folders: every layout and dtype hf_gen writes loads bit
 * for bit, every bad folder gets its one line, checkpoints load back, and the mptui binary
 * trains from a folder (--model_name_or_path) end to end. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "checkpoint.h"
#include "hf_gen.h"
#include "hf_model.h"
#include "model.h"
#include "safetensors.h"
#include "test_ckpt_util.h"
#include "test_deadline.h"

static char tdir[256];
static char err[2048];
static backend *be;

static void setup(void)
{
    snprintf(tdir, sizeof tdir, "/tmp/mptui-hf-XXXXXX");
    cr_assert_not_null(mkdtemp(tdir));
    be = bk_create(BK_CPU, 1, err, sizeof err);
    cr_assert_not_null(be, "%s", err);
    test_deadline(120);
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tdir);
    cr_assert_eq(system(cmd), 0);
    bk_destroy(be);
}

TestSuite(hf_model, .init = setup, .fini = teardown);

/* ---- helpers ---- */

static void path_in(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", tdir, name);
}

/* A generated folder tdir/<name>. */
static void gen(const char *name, const hfgen_opts *o, char *dir, size_t len)
{
    path_in(dir, len, name);
    cr_assert_eq(hfgen_write(dir, o, err, sizeof err), 0, "%s", err);
}

static gpt *model_for(const hfgen_opts *o)
{
    gpt_config c = {o->n_layer, o->n_head, o->n_embd, o->n_positions, o->vocab_size};
    gpt *m = gpt_create(be, &c, 1, 8, err, sizeof err);
    cr_assert_not_null(m, "%s", err);
    rng_state r;
    rng_seed(&r, 99);
    gpt_init_weights(m, &r);
    return m;
}

static float *masters(gpt *m)
{
    size_t n = gpt_num_params(m);
    float *h = malloc(n * sizeof *h);
    bk_download(be, h, gpt_params(m), n * sizeof *h);
    return h;
}

/* Every master equals what the generator wrote, bit for bit. */
static void expect_generated(gpt *m, const hfgen_opts *o, const char *what)
{
    float *h = masters(m);
    for (int i = 0; i < gpt_num_tensors(m); i++) {
        const gpt_tensor *t = gpt_tensor_at(m, i);
        float *want = malloc(t->numel * sizeof *want);
        cr_assert_eq(hfgen_values(o, t->name, want, t->numel), 0, "%s", t->name);
        for (size_t k = 0; k < t->numel; k++)
            cr_assert_eq(memcmp(&h[t->offset + k], &want[k], 4), 0,
                         "%s: %s[%zu] is %a, written %a", what, t->name, k,
                         (double)h[t->offset + k], (double)want[k]);
        free(want);
    }
    free(h);
}

static void put(const char *dir, const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f, "%s", p);
    fputs(text, f);
    fclose(f);
}

static void rm_in(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    cr_assert_eq(unlink(p), 0, "%s", p);
}

static long file_size(const char *dir, const char *name)
{
    char p[512];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    cr_assert_eq(stat(p, &sb), 0, "%s", p);
    return (long)sb.st_size;
}

/* hf_load refuses with exactly `want` (after "<dir>"), leaving the masters unchanged. */
static void expect_load_refused(const char *dir, const hfgen_opts *o, const char *want)
{
    gpt *m = model_for(o);
    float *before = masters(m);
    cr_assert_eq(hf_load(dir, m, NULL, 0, err, sizeof err), -1, "loaded: %s", dir);
    char full[2048];
    snprintf(full, sizeof full, "%s%s", dir, want);
    cr_assert_str_eq(err, full);
    float *after = masters(m);
    cr_assert_eq(memcmp(before, after, gpt_num_params(m) * 4), 0, "a refused load changed m");
    free(before);
    free(after);
    gpt_free(m);
}

/* hf_config_read refuses with exactly "<dir>/config.json: <want>". */
static void expect_config_refused(const char *dir, const char *json, const char *want)
{
    put(dir, "config.json", json);
    hf_config c;
    cr_assert_eq(hf_config_read(dir, &c, err, sizeof err), -1, "accepted: %s", json);
    char full[2048];
    snprintf(full, sizeof full, "%s/config.json: %s", dir, want);
    cr_assert_str_eq(err, full);
}

/* ---- every layout loads, bit for bit ---- */

Test(hf_model, every_layout_and_dtype_loads_bit_for_bit)
{
    static const char *const dtypes[] = {"F32", "F16", "BF16"};
    int n = 0;
    for (int d = 0; d < 3; d++)
        for (int prefix = 0; prefix < 2; prefix++)
            for (int head = 0; head < 2; head++)
                for (int bias = 0; bias < 3; bias++)
                    for (int shards = 0; shards < 4; shards += 3) {
                        hfgen_opts o;
                        hfgen_defaults(&o);
                        o.dtype = dtypes[d];
                        o.prefix = prefix;
                        o.lm_head = head;
                        o.attn_bias = bias;
                        o.shards = shards;
                        o.seed = (uint64_t)n + 7;
                        char name[64], dir[512], what[128];
                        snprintf(name, sizeof name, "m%d", n++);
                        gen(name, &o, dir, sizeof dir);
                        snprintf(what, sizeof what, "%s prefix %d lm_head %d attn_bias %d "
                                 "shards %d", o.dtype, prefix, head, bias, shards);
                        gpt *m = model_for(&o);
                        char info[1024];
                        cr_assert_eq(hf_load(dir, m, info, sizeof info, err, sizeof err), 0,
                                     "%s: %s", what, err);
                        expect_generated(m, &o, what);
                        gpt_free(m);
                    }
    cr_assert_eq(n, 72);
}

Test(hf_model, widening_keeps_subnormals_and_negative_zero)
{
    /* ln_f.bias starts with -0 and two subnormals of the storage format (hf_gen.c) */
    static const struct { const char *dtype; uint32_t bits[3]; } cases[] = {
        {"F32", {0x80000000u, 0x00000001u, 0x807fffffu}},
        {"F16", {0x80000000u, 0x33800000u, 0xb8000000u}},
        {"BF16", {0x80000000u, 0x00010000u, 0x80080000u}},
    };
    for (int c = 0; c < 3; c++) {
        hfgen_opts o;
        hfgen_defaults(&o);
        o.dtype = cases[c].dtype;
        char dir[512];
        gen(cases[c].dtype, &o, dir, sizeof dir);
        gpt *m = model_for(&o);
        cr_assert_eq(hf_load(dir, m, NULL, 0, err, sizeof err), 0, "%s", err);
        float *h = masters(m);
        const gpt_tensor *t = gpt_tensor_at(m, gpt_find_tensor(m, "transformer.ln_f.bias"));
        for (int k = 0; k < 3; k++) {
            uint32_t b;
            memcpy(&b, &h[t->offset + k], 4);
            cr_assert_eq(b, cases[c].bits[k], "%s ln_f.bias[%d]: 0x%08x", o.dtype, k, b);
        }
        free(h);
        gpt_free(m);
    }
}

Test(hf_model, info_line_names_the_source_and_the_dropout)
{
    hfgen_opts o;
    hfgen_defaults(&o);
    char dir[512], info[1024], want[1200];
    gen("one", &o, dir, sizeof dir);
    gpt *m = model_for(&o);
    cr_assert_eq(hf_load(dir, m, info, sizeof info, err, sizeof err), 0, "%s", err);
    snprintf(want, sizeof want, "weights from %s (model.safetensors); config.json's dropout 0.1 "
             "is not applied (mptui trains without dropout)", dir);
    cr_assert_str_eq(info, want);
    o.shards = 2;
    gen("two", &o, dir, sizeof dir);
    cr_assert_eq(hf_load(dir, m, info, sizeof info, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(info, "(2 shards of model.safetensors.index.json)"), "%s", info);
    gpt_free(m);
}

Test(hf_model, head_without_wte_is_the_embedding)
{
    /* a file tied the other way round: lm_head.weight kept, wte.weight dropped */
    hfgen_opts o;
    hfgen_defaults(&o);
    o.lm_head = 1;
    char dir[512];
    gen("headonly", &o, dir, sizeof dir);
    char p[600];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    st_file *f = st_open(p, err, sizeof err);
    cr_assert_not_null(f, "%s", err);
    /* rename wte in the header: same length, so every offset stays */
    st_close(f);
    FILE *fp = fopen(p, "r+b");
    char hdr[256];
    cr_assert_eq(fread(hdr, 1, sizeof hdr - 1, fp), sizeof hdr - 1);
    hdr[sizeof hdr - 1] = 0;
    char *w = strstr(hdr + 8, "transformer.wte.weight"); /* after the binary length */
    cr_assert_not_null(w);
    memcpy(w, "transformer.xxx", 15);
    fseek(fp, w - hdr, SEEK_SET);
    fwrite(w, 1, 15, fp);
    fclose(fp);
    gpt *m = model_for(&o);
    cr_assert_eq(hf_load(dir, m, NULL, 0, err, sizeof err), 0, "%s", err);
    expect_generated(m, &o, "wte from lm_head");
    gpt_free(m);
}

/* ---- config.json ---- */

Test(hf_model, config_defaults_and_aliases)
{
    char dir[512];
    path_in(dir, sizeof dir, "cfg");
    mkdir(dir, 0755);
    put(dir, "config.json", "{\"model_type\": \"gpt2\"}");
    hf_config c;
    cr_assert_eq(hf_config_read(dir, &c, err, sizeof err), 0, "%s", err);
    /* GPT2Config's defaults: GPT-2 124M */
    cr_assert_eq(c.n_layer, 12);
    cr_assert_eq(c.n_head, 12);
    cr_assert_eq(c.n_embd, 768);
    cr_assert_eq(c.n_positions, 1024);
    cr_assert_eq(c.vocab_size, 50257);
    cr_assert_eq(c.bos_token_id, 50256);
    cr_assert_eq(c.eos_token_id, 50256);
    cr_assert_eq(c.dropout, 0.1);
    put(dir, "config.json", "{\"model_type\": \"gpt2\", \"num_hidden_layers\": 3, "
        "\"num_attention_heads\": 4, \"hidden_size\": 64, \"max_position_embeddings\": 32, "
        "\"vocab_size\": 100, \"activation_function\": \"gelu_pytorch_tanh\", "
        "\"n_inner\": 256, \"resid_pdrop\": 0, \"embd_pdrop\": 0.0, \"attn_pdrop\": 0.05, "
        "\"eos_token_id\": null, \"layer_norm_epsilon\": 1e-05}");
    cr_assert_eq(hf_config_read(dir, &c, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.n_layer, 3);
    cr_assert_eq(c.n_head, 4);
    cr_assert_eq(c.n_embd, 64);
    cr_assert_eq(c.n_positions, 32);
    cr_assert_eq(c.vocab_size, 100);
    cr_assert_eq(c.eos_token_id, -1);
    cr_assert_eq(c.dropout, 0.05);
    static const char *const gelus[] = {"gelu_new", "gelu_fast", "gelu_accurate"};
    for (int i = 0; i < 3; i++) {
        char js[256];
        snprintf(js, sizeof js, "{\"model_type\":\"gpt2\",\"activation_function\":\"%s\","
                 "\"n_inner\":null}", gelus[i]);
        put(dir, "config.json", js);
        cr_assert_eq(hf_config_read(dir, &c, err, sizeof err), 0, "%s: %s", gelus[i], err);
    }
}

Test(hf_model, config_refusals_one_line_each)
{
    char dir[512], want[1024];
    path_in(dir, sizeof dir, "cfg");
    mkdir(dir, 0755);
    hf_config c;
    cr_assert_eq(hf_config_read(dir, &c, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: no config.json; --model_name_or_path takes a Hugging Face "
             "model folder (config.json and model.safetensors, as save_pretrained writes it)",
             dir);
    cr_assert_str_eq(err, want);
    expect_config_refused(dir, "{\"model_type\": \"llama\"}", "model_type \"llama\" is not "
                          "supported: mptui trains GPT-2 (\"gpt2\") models only");
    expect_config_refused(dir, "{\"n_layer\": 2}", "no \"model_type\" string; a GPT-2 folder's "
                          "config.json says \"model_type\": \"gpt2\"");
    expect_config_refused(dir, "{\"model_type\":\"gpt2\",\"activation_function\":\"gelu\"}",
                          "activation_function \"gelu\" is not supported: mptui's GPT-2 computes "
                          "the tanh GELU (gelu_new, gelu_pytorch_tanh, gelu_fast or "
                          "gelu_accurate)");
    expect_config_refused(dir, "{\"model_type\":\"gpt2\",\"activation_function\":\"relu\"}",
                          "activation_function \"relu\" is not supported: mptui's GPT-2 computes "
                          "the tanh GELU (gelu_new, gelu_pytorch_tanh, gelu_fast or "
                          "gelu_accurate)");
    expect_config_refused(dir, "{\"model_type\":\"gpt2\",\"layer_norm_epsilon\":1e-6}",
                          "layer_norm_epsilon 1e-06 is not supported: mptui's LayerNorm uses "
                          "1e-05");
    expect_config_refused(dir, "{\"model_type\":\"gpt2\",\"n_embd\":32,\"n_head\":2,"
                          "\"n_inner\":100}", "n_inner is not supported: mptui's MLP is 4 x "
                          "n_embd = 128 wide (n_inner null)");
    expect_config_refused(dir, "{\"model_type\":\"gpt2\",\"scale_attn_weights\":false}",
                          "scale_attn_weights false is not supported: mptui scales attention "
                          "scores by 1/sqrt(head size)");
    expect_config_refused(dir, "{\"model_type\":\"gpt2\",\"tie_word_embeddings\":false}",
                          "tie_word_embeddings false is not supported: mptui's GPT-2 ties "
                          "lm_head to wte");
    expect_config_refused(dir, "{\"model_type\":\"gpt2\",\"reorder_and_upcast_attn\":true}",
                          "reorder_and_upcast_attn true is not supported: mptui rounds attention "
                          "scores as its precision policy says (docs/precision.md)");
    expect_config_refused(dir, "{\"model_type\":\"gpt2\",\"scale_attn_by_inverse_layer_idx\":"
                          "true}", "scale_attn_by_inverse_layer_idx true is not supported: "
                          "mptui does not scale scores by layer");
    expect_config_refused(dir, "{\"model_type\":\"gpt2\",\"add_cross_attention\":true}",
                          "add_cross_attention true is not supported: mptui's GPT-2 is "
                          "decoder-only");
    expect_config_refused(dir, "{\"model_type\":\"gpt2\",\"use_cache\":true,\"n_embd\":30,"
                          "\"n_head\":4}", "n_embd 30 is not divisible by n_head 4");
    expect_config_refused(dir, "{\"model_type\":\"gpt2\",\"n_layer\":\"two\"}",
                          "\"n_layer\" must be an integer >= 1; fix config.json");
    expect_config_refused(dir, "{\"model_type\":\"gpt2\",\"hidden_size\":0}",
                          "\"hidden_size\" must be an integer >= 1; fix config.json");
    expect_config_refused(dir, "{\"model_type\":\"gpt2\",\"scale_attn_weights\":1}",
                          "\"scale_attn_weights\" must be true or false; fix config.json");
    expect_config_refused(dir, "{\"model_type\":\"gpt2\",\"resid_pdrop\":\"0.1\"}",
                          "\"resid_pdrop\" must be a number; fix config.json");
    expect_config_refused(dir, "{\"model_type\":\"gpt2\",\"eos_token_id\":-3}",
                          "\"eos_token_id\" must be a token id (an integer >= 0) or null");
    expect_config_refused(dir, "{\"model_type\":\"gpt2\",", "not valid JSON (line 1: "
                          "string or '}' expected near end of file)");
    expect_config_refused(dir, "[1]", "not a JSON object");
}

/* ---- weights: bad folders ---- */

Test(hf_model, missing_or_other_weight_files)
{
    hfgen_opts o;
    hfgen_defaults(&o);
    char dir[512], want[2048];
    gen("pt", &o, dir, sizeof dir);
    char from[600], to[600];
    snprintf(from, sizeof from, "%s/model.safetensors", dir);
    snprintf(to, sizeof to, "%s/pytorch_model.bin", dir);
    cr_assert_eq(rename(from, to), 0);
    snprintf(want, sizeof want, ": only pytorch_model.bin, and mptui reads safetensors only; "
             "convert once with: python3 -c \"from transformers import AutoModelForCausalLM as "
             "M; M.from_pretrained('%s').save_pretrained('%s', safe_serialization=True)\"", dir,
             dir);
    expect_load_refused(dir, &o, want);
    rm_in(dir, "pytorch_model.bin");
    expect_load_refused(dir, &o, ": no model.safetensors (or model.safetensors.index.json); a "
                        "Hugging Face folder as save_pretrained writes it has one");
}

Test(hf_model, truncated_safetensors)
{
    hfgen_opts o;
    hfgen_defaults(&o);
    char dir[512], p[600];
    gen("trunc", &o, dir, sizeof dir);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    long size = file_size(dir, "model.safetensors");
    cr_assert_eq(truncate(p, size - 100), 0);
    /* the last tensor (ln_f.bias, 32 x F32) now ends past the data */
    gpt *m = model_for(&o);
    cr_assert_eq(hf_load(dir, m, NULL, 0, err, sizeof err), -1);
    cr_assert(strstr(err, "/model.safetensors: tensor 'transformer.ln_f.bias': data_offsets ["),
              "%s", err);
    cr_assert(strstr(err, "outside the data section"), "%s", err);
    cr_assert_eq(truncate(p, 5), 0);
    char want[1024];
    snprintf(want, sizeof want, "/model.safetensors: file too short (5 bytes) for a safetensors "
             "header length");
    expect_load_refused(dir, &o, want);
    gpt_free(m);
}

Test(hf_model, wrong_shapes_named)
{
    hfgen_opts o, small;
    hfgen_defaults(&o);
    small = o;
    small.n_embd = 16;
    char dir[512], other[512];
    gen("shape", &small, dir, sizeof dir);
    gen("cfg32", &o, other, sizeof other);
    char p[600];
    snprintf(p, sizeof p, "%s/config.json", other);
    FILE *f = fopen(p, "rb");
    char js[2048];
    size_t n = fread(js, 1, sizeof js - 1, f);
    js[n] = 0;
    fclose(f);
    put(dir, "config.json", js); /* config.json says 32 wide, the weights are 16 */
    expect_load_refused(dir, &o, "/model.safetensors: tensor 'transformer.wte.weight' has shape "
                        "[256, 16], config.json says [256, 32]");
    /* a model of another shape than config.json (the options were not applied) */
    hfgen_opts three = o;
    three.n_layer = 3;
    expect_load_refused(other, &three, "/config.json: n_layer 2 does not match the model (3)");
}

Test(hf_model, untied_head_refused)
{
    hfgen_opts o;
    hfgen_defaults(&o);
    o.lm_head = 1;
    o.prefix = 0;
    char dir[512], p[600];
    gen("untied", &o, dir, sizeof dir);
    /* lm_head.weight is the last tensor: change its last element */
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    FILE *f = fopen(p, "r+b");
    float v = 0.5f;
    fseek(f, -4, SEEK_END);
    fwrite(&v, 4, 1, f);
    fclose(f);
    float want_wte;
    float *w = malloc(256 * 32 * sizeof *w);
    hfgen_values(&o, "wte.weight", w, 256 * 32);
    want_wte = w[256 * 32 - 1];
    free(w);
    char want[1024];
    snprintf(want, sizeof want, "/model.safetensors: lm_head.weight differs from wte.weight, and "
             "mptui's GPT-2 ties them (tie_word_embeddings): it cannot load a separate head "
             "(element 8191: 0.5 vs %g)", (double)want_wte);
    expect_load_refused(dir, &o, want);
}

Test(hf_model, used_tensor_in_another_dtype_refused)
{
    hfgen_opts o;
    hfgen_defaults(&o);
    o.prefix = 0;
    char dir[512], p[600];
    gen("i32", &o, dir, sizeof dir);
    /* ln_f.bias is F32 (32 x 4 bytes): relabel it I32, same size */
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    FILE *f = fopen(p, "r+b");
    char hdr[8192];
    size_t n = fread(hdr, 1, sizeof hdr - 1, f);
    hdr[n] = 0;
    char *e = strstr(hdr + 8, "\"ln_f.bias\":{\"dtype\":\"F32\"");
    cr_assert_not_null(e);
    e += strlen("\"ln_f.bias\":{\"dtype\":\"");
    fseek(f, e - hdr, SEEK_SET);
    fwrite("I32", 1, 3, f);
    fclose(f);
    expect_load_refused(dir, &o, "/model.safetensors: tensor 'ln_f.bias': dtype I32 not "
                        "supported (F32, F16, BF16 are)");
}

Test(hf_model, bad_shard_indexes)
{
    hfgen_opts o;
    hfgen_defaults(&o);
    o.shards = 2;
    char dir[512], want[1024];
    gen("sh", &o, dir, sizeof dir);
    rm_in(dir, "model-00002-of-00002.safetensors");
    snprintf(want, sizeof want, "/model-00002-of-00002.safetensors: cannot open: No such file or "
             "directory");
    expect_load_refused(dir, &o, want);
    put(dir, "model.safetensors.index.json", "{\"weight_map\": {\"transformer.wte.weight\": "
        "\"model-00001-of-00002.safetensors\", \"transformer.ln_f.bias\": "
        "\"model-00001-of-00002.safetensors\"}}");
    expect_load_refused(dir, &o, "/model.safetensors.index.json: weight_map puts "
                        "'transformer.ln_f.bias' in model-00001-of-00002.safetensors, which does "
                        "not hold it: the folder is incomplete or mixed; download it again");
    put(dir, "model.safetensors.index.json", "{\"weight_map\": {\"transformer.wte.weight\": "
        "\"model-00001-of-00002.safetensors\"}}");
    expect_load_refused(dir, &o, "/model.safetensors.index.json: tensor "
                        "'transformer.wpe.weight' missing");
    put(dir, "model.safetensors.index.json", "{\"weight_map\": {\"a\": \"../x.safetensors\"}}");
    expect_load_refused(dir, &o, "/model.safetensors.index.json: weight_map entry 'a' must name "
                        "a file in the folder");
    put(dir, "model.safetensors.index.json", "{\"metadata\": {}}");
    expect_load_refused(dir, &o, "/model.safetensors.index.json: no \"weight_map\" object "
                        "(tensor name -> shard file)");
    put(dir, "model.safetensors.index.json", "{");
    expect_load_refused(dir, &o, "/model.safetensors.index.json: not valid JSON (line 1: string "
                        "or '}' expected near end of file)");
}

/* ---- checkpoints load back ---- */

Test(hf_model, checkpoint_folder_loads_back)
{
    hfgen_opts o;
    hfgen_defaults(&o);
    gpt *a = model_for(&o);
    rng_state r;
    rng_seed(&r, 5);
    gpt_init_weights(a, &r);
    ckpt_state st;
    fill_state(&st, 3);
    char out[512], saved[1024];
    path_in(out, sizeof out, "run");
    cr_assert_eq(ckpt_save(out, a, &st, 0, saved, sizeof saved, err, sizeof err), 0, "%s", err);
    ckpt_state_free(&st);
    hf_config c;
    cr_assert_eq(hf_config_read(saved, &c, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.n_positions, 64);
    cr_assert_eq(c.dropout, 0);
    gpt *b = model_for(&o);
    cr_assert_eq(hf_load(saved, b, NULL, 0, err, sizeof err), 0, "%s", err);
    float *ha = masters(a), *hb = masters(b);
    cr_assert_eq(memcmp(ha, hb, gpt_num_params(a) * 4), 0, "checkpoint weights differ");
    free(ha);
    free(hb);
    gpt_free(a);
    gpt_free(b);
}

/* ---- the binary, end to end ---- */

static const char *bin(void)
{
    const char *b = getenv("MPTUI_BIN");
    cr_assert_not_null(b, "MPTUI_BIN is not set (run through make test)");
    return b;
}

/* mptui ARGS in tdir; stdout + stderr into tdir/out.txt; the exit code. */
static int run(const char *args, char *out, size_t outlen)
{
    char cmd[4096], p[600];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s >out.txt 2>&1 </dev/null", tdir, bin(), args);
    int st = system(cmd);
    path_in(p, sizeof p, "out.txt");
    FILE *f = fopen(p, "r");
    size_t n = f ? fread(out, 1, outlen - 1, f) : 0;
    out[n] = 0;
    if (f) fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The masters a run saved equal what the generator wrote. */
static void expect_saved_generated(const char *ckpt, const hfgen_opts *o)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s/model.safetensors", tdir, ckpt);
    st_file *f = st_open(p, err, sizeof err);
    cr_assert_not_null(f, "%s", err);
    int n = 0;
    for (int i = 0; i < st_count(f); i++) {
        const st_tensor *t = st_at(f, i);
        float *got = malloc(t->numel * 4), *want = malloc(t->numel * 4);
        cr_assert_eq(st_read_f32(f, t, got, t->numel, err, sizeof err), 0, "%s", err);
        cr_assert_eq(hfgen_values(o, t->name, want, t->numel), 0, "%s", t->name);
        cr_assert_eq(memcmp(got, want, t->numel * 4), 0, "%s: %s changed", ckpt, t->name);
        free(got);
        free(want);
        n++;
    }
    cr_assert_eq(n, 4 + 12 * o->n_layer, "%d tensors", n);
    st_close(f);
}

Test(hf_model, binary_trains_from_a_folder_and_its_checkpoint)
{
    hfgen_opts o;
    hfgen_defaults(&o);
    o.dtype = "BF16";
    o.prefix = 0;
    o.lm_head = 1;
    o.attn_bias = 2;
    char dir[512], out[8192];
    gen("tiny", &o, dir, sizeof dir);
    /* learning rate 0: the saved masters are the loaded ones, so the save shows where the run
     * started; block_size 32 trains shorter windows than the folder's 64 positions */
    const char *common = "--headless --device cpu --per_device_train_batch_size 2 "
                         "--learning_rate 0 --eval_strategy no --sample_length 0";
    char args[2048];
    snprintf(args, sizeof args, "--model_name_or_path tiny/ --block_size 32 --max_steps 1 "
             "--output_dir o1 %s", common);
    cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "weights from tiny (model.safetensors); config.json's dropout 0.1 is "
                     "not applied"), "%s", out);
    expect_saved_generated("o1/checkpoint-1", &o);
    char p[600];
    path_in(p, sizeof p, "o1/checkpoint-1");
    hf_config c;
    cr_assert_eq(hf_config_read(p, &c, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.n_positions, 64, "the checkpoint keeps every position");
    /* the checkpoint as a model folder: the same weights again */
    snprintf(args, sizeof args, "--model_name_or_path o1/checkpoint-1 --max_steps 1 "
             "--output_dir o2 %s", common);
    cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
    expect_saved_generated("o2/checkpoint-1", &o);
    /* and training moves them: two real steps, a finite loss */
    cr_assert_eq(run("--model_name_or_path tiny --max_steps 2 --logging_steps 1 --bf16 "
                     "--headless --device cpu --per_device_train_batch_size 2 --output_dir o3 "
                     "--eval_strategy no", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "step      2/2 | loss 5.5"), "%s", out);
    /* shorter windows train the first block_size positions; the other rows get no gradient
     * and AdamW leaves them as loaded */
    cr_assert_eq(run("--model_name_or_path tiny --block_size 32 --max_steps 2 --warmup_steps 0 "
                     "--headless --device cpu --per_device_train_batch_size 2 --output_dir o4 "
                     "--eval_strategy no --sample_length 0", out, sizeof out), 0, "%s", out);
    char p4[600];
    path_in(p4, sizeof p4, "o4/checkpoint-2/model.safetensors");
    st_file *f = st_open(p4, err, sizeof err);
    cr_assert_not_null(f, "%s", err);
    const st_tensor *wpe = st_find(f, "transformer.wpe.weight");
    cr_assert_eq(wpe->shape[0], 64);
    float got[64 * 32], want[64 * 32];
    cr_assert_eq(st_read_f32(f, wpe, got, 64 * 32, err, sizeof err), 0, "%s", err);
    hfgen_values(&o, "wpe.weight", want, 64 * 32);
    cr_assert_neq(memcmp(got, want, 32 * 32 * 4), 0, "the trained rows moved");
    cr_assert_eq(memcmp(got + 32 * 32, want + 32 * 32, 32 * 32 * 4), 0, "rows 32..63 untouched");
    st_close(f);
    /* a resume with the folder: the folder fixes the model, the checkpoint the weights */
    int rc = run("--model_name_or_path tiny --block_size 32 --max_steps 3 --warmup_steps 0 "
                 "--headless --device cpu --per_device_train_batch_size 2 --output_dir o4 "
                 "--eval_strategy no --sample_length 0 --resume_from_checkpoint latest", out,
                 sizeof out);
    cr_assert_eq(rc, 0, "exit status %d (>= 128: a signal): %s", rc, out);
    cr_assert(strstr(out, "resumed from o4/checkpoint-2 at step 2"), "%s", out);
    cr_assert_null(strstr(out, "weights from"), "%s", out);
}

Test(hf_model, example_program_writes_a_loadable_folder)
{
    const char *ex = getenv("MPTUI_EXAMPLES");
    cr_assert_not_null(ex, "MPTUI_EXAMPLES is not set (run through make test)");
    char cmd[1024], dir[512];
    path_in(dir, sizeof dir, "ex");
    snprintf(cmd, sizeof cmd, "'%s/make_tiny_gpt2' '%s' --dtype f16 --shards 2 --no_prefix "
             "--lm_head --attn_bias bool --n_layer 3 --n_embd 48 --n_head 3 --seed 9 >/dev/null",
             ex, dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    hfgen_opts o;
    hfgen_defaults(&o);
    o.dtype = "F16";
    o.shards = 2;
    o.prefix = 0;
    o.lm_head = 1;
    o.attn_bias = 2;
    o.n_layer = 3;
    o.n_embd = 48;
    o.n_head = 3;
    o.seed = 9;
    gpt *m = model_for(&o);
    cr_assert_eq(hf_load(dir, m, NULL, 0, err, sizeof err), 0, "%s", err);
    expect_generated(m, &o, "make_tiny_gpt2");
    gpt_free(m);
    snprintf(cmd, sizeof cmd, "'%s/make_tiny_gpt2' '%s' --dtype q 2>/dev/null", ex, dir);
    int st = system(cmd);
    cr_assert_eq(WEXITSTATUS(st), 2, "a bad option is exit status 2");
}

Test(hf_model, binary_refuses_bad_folders_in_one_line)
{
    hfgen_opts o;
    hfgen_defaults(&o);
    char dir[512], out[8192];
    gen("tiny", &o, dir, sizeof dir);
    cr_assert_eq(run("--model_name_or_path tiny --n_embd 64 --headless", out, sizeof out), 2);
    cr_assert_str_eq(out, "mptui: --n_embd 64 disagrees with tiny/config.json (n_embd 32); drop "
                     "the option or give the folder's value\n");
    /* the data's vocabulary must be the model's (eval and samples rely on it) */
    o.vocab_size = 300;
    char v300[512];
    gen("v300", &o, v300, sizeof v300);
    cr_assert_eq(run("--model_name_or_path v300 --headless --device cpu --max_steps 1", out,
                     sizeof out), 1);
    cr_assert_str_eq(out, "mptui: mptui-corpus.txt: its vocabulary (256, text read as bytes) is "
                     "not v300/config.json's vocab_size 300; the folder has no tokenizer "
                     "files: give its tokenizer's folder with --tokenizer_name, or data "
                     "tokenized for that model\n");
    rm_in(dir, "model.safetensors");
    cr_assert_eq(run("--model_name_or_path tiny --headless --device cpu --max_steps 1", out,
                     sizeof out), 1);
    cr_assert(strstr(out, "mptui: tiny: no model.safetensors (or model.safetensors.index.json)"),
              "%s", out);
}
