/* test_ckpt_tok.c — the tokenizer files a checkpoint carries: byte-identical copies, the
 * generated tokenizer_config.json / special_tokens_map.json, a folder's own ones kept. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt_tok.h"

static char tmpdir[256];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mptui_test_ckpt_tok_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(ckpt_tok, .init = setup, .fini = teardown);

static const char *path_in(const char *dir, const char *name)
{
    static char p[8][600];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static void put(const char *path, const char *s)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    fputs(s, f);
    fclose(f);
}

static char *get(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void make_dirs(char *src, char *dst)
{
    snprintf(src, 400, "%s/tok", tmpdir);
    snprintf(dst, 400, "%s/ckpt", tmpdir);
    cr_assert_eq(mkdir(src, 0755), 0);
    cr_assert_eq(mkdir(dst, 0755), 0);
}

Test(ckpt_tok, copies_and_writes_configs)
{
    char src[400], dst[400], err[256];
    make_dirs(src, dst);
    put(path_in(src, "vocab.json"), "{\"a\": 0}");
    put(path_in(src, "merges.txt"), "#version: 0.2\n");
    cr_assert_eq(ckpt_tok_write(dst, src, 1024, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(get(path_in(dst, "vocab.json")), "{\"a\": 0}");
    cr_assert_str_eq(get(path_in(dst, "merges.txt")), "#version: 0.2\n");
    cr_assert_eq(access(path_in(dst, "tokenizer.json"), F_OK), -1, "none to copy");
    json_error_t je;
    json_t *c = json_loads(get(path_in(dst, "tokenizer_config.json")), 0, &je);
    cr_assert_not_null(c, "%s", je.text);
    cr_assert_str_eq(json_string_value(json_object_get(c, "tokenizer_class")), "GPT2Tokenizer");
    cr_assert_eq(json_integer_value(json_object_get(c, "model_max_length")), 1024);
    cr_assert_str_eq(json_string_value(json_object_get(c, "eos_token")), "<|endoftext|>");
    cr_assert(json_is_false(json_object_get(c, "add_prefix_space")));
    json_decref(c);
    json_t *s = json_loads(get(path_in(dst, "special_tokens_map.json")), 0, &je);
    cr_assert_not_null(s, "%s", je.text);
    cr_assert_str_eq(json_string_value(json_object_get(s, "bos_token")), "<|endoftext|>");
    cr_assert_str_eq(json_string_value(json_object_get(s, "unk_token")), "<|endoftext|>");
    json_decref(s);
}

Test(ckpt_tok, a_folders_own_files_are_kept)
{
    char src[400], dst[400], err[256];
    make_dirs(src, dst);
    put(path_in(src, "tokenizer.json"), "{\"model\": {}}");
    put(path_in(src, "tokenizer_config.json"), "{\"mine\": true}");
    cr_assert_eq(ckpt_tok_write(dst, src, 64, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(get(path_in(dst, "tokenizer.json")), "{\"model\": {}}");
    cr_assert_str_eq(get(path_in(dst, "tokenizer_config.json")), "{\"mine\": true}");
    cr_assert_eq(access(path_in(dst, "special_tokens_map.json"), R_OK), 0);
}

Test(ckpt_tok, unwritable_destination_is_an_error)
{
    char src[400], dst[400], err[256] = "";
    make_dirs(src, dst);
    put(path_in(src, "vocab.json"), "{}");
    char gone[600];
    snprintf(gone, sizeof gone, "%s/missing", dst);
    cr_assert_eq(ckpt_tok_write(gone, src, 64, err, sizeof err), -1);
    cr_assert(strstr(err, "missing/vocab.json") && strstr(err, "cannot create"), "%s", err);
}
