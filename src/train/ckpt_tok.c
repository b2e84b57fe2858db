/* ckpt_tok.c — the tokenizer files a checkpoint of a BPE run carries: copies of the run's
 * tokenizer, plus the two small JSON files transformers' AutoTokenizer reads (docs/files.md). */
#include "ckpt_tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"

#define CKPT_TOK_PATH 4352
#define CKPT_TOK_MAX ((size_t)256 << 20) /* a tokenizer file larger than this is not one */

/* dir/name = tok_dir/name when tok_dir has it: 1 copied, 0 absent, -1 + err. */
static int copy_one(const char *dir, const char *tok_dir, const char *name, char *err,
                    size_t errlen)
{
    char from[CKPT_TOK_PATH], to[CKPT_TOK_PATH];
    snprintf(from, sizeof from, "%s/%s", tok_dir, name);
    if (access(from, R_OK) != 0) return 0;
    snprintf(to, sizeof to, "%s/%s", dir, name);
    size_t len;
    char *data = fsutil_slurp(from, CKPT_TOK_MAX, "give a tokenizer folder", &len, err, errlen);
    if (!data) return -1;
    int rc = fsutil_write_file(to, data, len, err, errlen);
    free(data);
    return rc ? -1 : 1;
}

/* dir/name = tok_dir's copy, else text. */
static int copy_or_write(const char *dir, const char *tok_dir, const char *name,
                         const char *text, char *err, size_t errlen)
{
    int rc = copy_one(dir, tok_dir, name, err, errlen);
    if (rc) return rc < 0 ? -1 : 0;
    char to[CKPT_TOK_PATH];
    snprintf(to, sizeof to, "%s/%s", dir, name);
    return fsutil_write_file(to, text, strlen(text), err, errlen);
}

int ckpt_tok_write(const char *dir, const char *tok_dir, int block_size, char *err,
                   size_t errlen)
{
    static const char *const files[] = {"vocab.json", "merges.txt", "tokenizer.json"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        if (copy_one(dir, tok_dir, files[i], err, errlen) < 0) return -1;
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\n  \"tokenizer_class\": \"GPT2Tokenizer\",\n  \"model_max_length\": %d,\n"
             "  \"bos_token\": \"<|endoftext|>\",\n  \"eos_token\": \"<|endoftext|>\",\n"
             "  \"unk_token\": \"<|endoftext|>\",\n  \"add_prefix_space\": false\n}\n",
             block_size);
    static const char special[] =
        "{\n  \"bos_token\": \"<|endoftext|>\",\n  \"eos_token\": \"<|endoftext|>\",\n"
        "  \"unk_token\": \"<|endoftext|>\"\n}\n";
    if (copy_or_write(dir, tok_dir, "tokenizer_config.json", cfg, err, errlen)) return -1;
    return copy_or_write(dir, tok_dir, "special_tokens_map.json", special, err, errlen);
}
