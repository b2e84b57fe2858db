/* trainer_tok.c — the run's tokenizer: which one (--tokenizer_name, the model folder's, or
 * bytes), loading it, and tokenizing text data ahead of a run with progress (docs/data.md). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "trainer_impl.h"

/* Names of Hugging Face models that use GPT-2's tokenizer unchanged: --tokenizer_name takes
 * them for the copy mptui ships (datasets/gpt2). */
static const char *const gpt2_names[] = {
    "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "distilgpt2",
    "openai-community/gpt2", "openai-community/gpt2-medium", "openai-community/gpt2-large",
    "openai-community/gpt2-xl", "distilbert/distilgpt2",
};

static int is_gpt2_name(const char *s)
{
    for (size_t i = 0; i < sizeof gpt2_names / sizeof *gpt2_names; i++)
        if (strcmp(s, gpt2_names[i]) == 0) return 1;
    return 0;
}

/* Whether dir holds a tokenizer bpe_load_dir reads. */
static int has_tokenizer(const char *dir)
{
    char p[CFG_PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    if (access(p, R_OK) == 0) return 1;
    snprintf(p, sizeof p, "%s/vocab.json", dir);
    if (access(p, R_OK) != 0) return 0;
    snprintf(p, sizeof p, "%s/merges.txt", dir);
    return access(p, R_OK) == 0;
}

static const char *base_name(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--; /* "dir/" names dir */
    const char *s = path + n;
    while (s > path && s[-1] != '/') s--;
    return s;
}

int trainer_tokenizer_dir(const mp_config *c, const char *model_dir, char *dir, size_t len,
                          char *label, size_t llen, char *err, size_t errlen)
{
    const char *name = c->tokenizer_name;
    if (name[0] && is_gpt2_name(name)) {
        const char *d = data_gpt2_tokenizer_dir();
        if (!d) {
            snprintf(err, errlen, "--tokenizer_name %s: GPT-2's tokenizer files "
                     "(datasets/gpt2) were not found next to mptui or in its source tree; "
                     "give the folder that holds vocab.json and merges.txt", name);
            return -1;
        }
        snprintf(dir, len, "%s", d);
        snprintf(label, llen, "gpt2");
        return 1;
    }
    if (name[0]) {
        if (!has_tokenizer(name)) {
            snprintf(err, errlen, "--tokenizer_name %s: no vocab.json + merges.txt or "
                     "tokenizer.json there; give a tokenizer folder or gpt2", name);
            return -1;
        }
        snprintf(dir, len, "%s", name);
    } else if (model_dir && model_dir[0] && has_tokenizer(model_dir)) {
        snprintf(dir, len, "%s", model_dir);
    } else {
        return 0;
    }
    int k = snprintf(label, llen, "%s", base_name(dir));
    if (k < 0 || (size_t)k >= llen) snprintf(label, llen, "bpe");
    return 1;
}

int trainer_tokenizer_load(trainer *t, const char *model_dir, char *err, size_t errlen)
{
    char dir[CFG_PATH_MAX];
    int rc = trainer_tokenizer_dir(&t->cfg, model_dir, dir, sizeof dir, t->tok_label,
                                   sizeof t->tok_label, err, errlen);
    if (rc <= 0) return rc;
    t->tok = bpe_load_dir(dir, err, errlen);
    if (!t->tok) return -1;
    if (strcmp(bpe_digest(t->tok), BPE_GPT2_DIGEST) == 0) /* a model folder's copy of GPT-2's */
        snprintf(t->tok_label, sizeof t->tok_label, "gpt2");
    snprintf(t->tok_dir, sizeof t->tok_dir, "%s", dir);
    return 0;
}

void trainer_token_cache_dir(const mp_config *c, char *out, size_t len)
{
    snprintf(out, len, "%s/token-cache", c->output_dir);
}

int trainer_prepare_data(const mp_config *c, const char *model_dir, tokcache_progress_fn fn,
                         void *ctx, char *err, size_t errlen)
{
    char dir[CFG_PATH_MAX], label[64], cache[CFG_PATH_MAX + 16];
    int rc = trainer_tokenizer_dir(c, model_dir, dir, sizeof dir, label, sizeof label, err,
                                   errlen);
    if (rc <= 0) return rc;
    const char *path = c->data[0] ? c->data : data_default_path();
    if (!path) return 0; /* the run says so */
    bpe *tok = bpe_load_dir(dir, err, errlen);
    if (!tok) return -1;
    trainer_token_cache_dir(c, cache, sizeof cache);
    data_text tx = {tok, cache, fn, ctx};
    dataset d;
    rc = data_load_text(&d, path, c->val_data, c->validation_split_percentage, c->block_size,
                        &tx, err, errlen);
    if (!rc) data_free(&d);
    bpe_free(tok);
    return rc;
}
