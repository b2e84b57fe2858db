/* test_hf_gen.c — the tiny-folder generator itself: values exact in their dtype and fixed by
 * seed and name, files laid out as transformers writes them, bad options refused. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hf_gen.h"
#include "numerics.h"
#include "safetensors.h"

static char tdir[256];
static char err[1024];

static void setup(void)
{
    snprintf(tdir, sizeof tdir, "/tmp/mptui-hfgen-XXXXXX");
    cr_assert_not_null(mkdtemp(tdir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(hf_gen, .init = setup, .fini = teardown);

Test(hf_gen, values_are_exact_in_every_dtype_and_fixed_by_seed_and_name)
{
    static const char *const dtypes[] = {"F32", "F16", "BF16"};
    hfgen_opts o;
    hfgen_defaults(&o);
    float a[512], b[512];
    for (int d = 0; d < 3; d++) {
        o.dtype = dtypes[d];
        cr_assert_eq(hfgen_values(&o, "h.1.mlp.c_fc.weight", a, 512), 0);
        for (int i = 0; i < 512; i++) {
            cr_assert_eq(num_f16_to_f32(num_f32_to_f16(a[i])), a[i], "%a not fp16-exact", a[i]);
            cr_assert_eq(num_bf16_to_f32(num_f32_to_bf16(a[i])), a[i], "%a not bf16-exact", a[i]);
        }
        /* the prefix does not change the values; another name or seed does */
        cr_assert_eq(hfgen_values(&o, "transformer.h.1.mlp.c_fc.weight", b, 512), 0);
        cr_assert_eq(memcmp(a, b, sizeof a), 0);
        cr_assert_eq(hfgen_values(&o, "h.0.mlp.c_fc.weight", b, 512), 0);
        cr_assert_neq(memcmp(a, b, sizeof a), 0);
    }
    o.seed = 2;
    cr_assert_eq(hfgen_values(&o, "h.1.mlp.c_fc.weight", b, 512), 0);
    cr_assert_neq(memcmp(a, b, sizeof a), 0);
    cr_assert_eq(hfgen_values(&o, "h.0.ln_1.weight", a, 32), 0);
    for (int i = 0; i < 32; i++) cr_assert(a[i] >= 0.875f && a[i] <= 1.125f, "gain %g", a[i]);
    cr_assert_eq(hfgen_values(&o, "lm_head.weight", a, 4), -1);
    cr_assert_eq(hfgen_values(&o, "score.weight", a, 4), -1);
}

static json_t *load_json(const char *path)
{
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    cr_assert_not_null(o, "%s: %s", path, je.text);
    return o;
}

Test(hf_gen, files_are_laid_out_as_transformers_writes_them)
{
    hfgen_opts o;
    hfgen_defaults(&o);
    o.shards = 3;
    o.attn_bias = 1;
    o.lm_head = 1;
    o.dtype = "BF16";
    char dir[512], p[600];
    snprintf(dir, sizeof dir, "%s/sub/folder", tdir);
    cr_assert_eq(hfgen_write(dir, &o, err, sizeof err), 0, "%s", err);
    snprintf(p, sizeof p, "%s/config.json", dir);
    json_t *c = load_json(p);
    cr_assert_str_eq(json_string_value(json_object_get(c, "model_type")), "gpt2");
    cr_assert_str_eq(json_string_value(json_object_get(c, "torch_dtype")), "bfloat16");
    cr_assert_eq(json_integer_value(json_object_get(c, "n_positions")), 64);
    cr_assert_eq(json_integer_value(json_object_get(c, "eos_token_id")), 255);
    json_decref(c);
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    json_t *idx = load_json(p);
    json_t *map = json_object_get(idx, "weight_map");
    /* 2 + 2 x (12 + 2 buffers) + 2 + lm_head */
    cr_assert_eq(json_object_size(map), 33);
    size_t total = 0;
    for (int k = 1; k <= 3; k++) {
        char name[64];
        snprintf(name, sizeof name, "model-%05d-of-00003.safetensors", k);
        snprintf(p, sizeof p, "%s/%s", dir, name);
        st_file *f = st_open(p, err, sizeof err);
        cr_assert_not_null(f, "%s", err);
        for (int i = 0; i < st_count(f); i++) {
            const st_tensor *t = st_at(f, i);
            cr_assert_str_eq(json_string_value(json_object_get(map, t->name)), name, "%s",
                             t->name);
            total += t->end - t->begin;
            if (strstr(t->name, ".attn.bias")) cr_assert_str_eq(t->dtype_text, "F32");
            else if (strstr(t->name, "masked_bias")) cr_assert_eq(t->ndim, 0);
            else cr_assert_str_eq(t->dtype_text, "BF16", "%s", t->name);
        }
        st_close(f);
        /* the header is padded to 8 bytes, as the safetensors library writes it */
        FILE *fp = fopen(p, "rb");
        uint64_t hl;
        cr_assert_eq(fread(&hl, 8, 1, fp), 1);
        fclose(fp);
        cr_assert_eq(hl % 8, 0);
    }
    cr_assert_eq((size_t)json_integer_value(json_object_get(json_object_get(idx, "metadata"),
                                                            "total_size")), total);
    cr_assert_str_eq(json_string_value(json_object_get(map, "lm_head.weight")),
                     "model-00003-of-00003.safetensors");
    json_decref(idx);
}

Test(hf_gen, bad_options_refused)
{
    hfgen_opts o;
    hfgen_defaults(&o);
    o.n_head = 3; /* 32 is not a multiple of 3 */
    char dir[512];
    snprintf(dir, sizeof dir, "%s/bad", tdir);
    cr_assert_eq(hfgen_write(dir, &o, err, sizeof err), -1);
    cr_assert_str_eq(err, "hf_gen: bad options (sizes >= 1, n_embd a multiple of n_head, dtype "
                          "F32 / F16 / BF16, attn_bias 0..2, shards >= 0)");
    hfgen_defaults(&o);
    o.dtype = "F64";
    cr_assert_eq(hfgen_write(dir, &o, err, sizeof err), -1);
}
