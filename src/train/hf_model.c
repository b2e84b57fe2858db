/* hf_model.c — Hugging Face GPT-2 folders: config.json as GPT2Config reads it (defaults for
 * absent keys, refusals for what this GPT-2 cannot compute), weights streamed from safetensors. */
#include "hf_model.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "config.h"
#include "errfmt.h"
#include "fsutil.h"
#include "safetensors.h"

#define HF_PATH_MAX (CFG_PATH_MAX + 64)
#define HF_MAX_SHARDS 1024

/* ================= config.json ================= */

static int is_file(const char *dir, const char *name)
{
    char p[HF_PATH_MAX];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return !stat(p, &sb) && S_ISREG(sb.st_mode);
}

/* An int key (or its GPT2Config alias), GPT2Config's default when both are absent. */
static int rd_int(json_t *o, const char *path, const char *key, const char *alias, int def,
                  int *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);
    const char *name = key;
    if (!v && alias && (v = json_object_get(o, alias))) name = alias;
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > (1 << 30))
        return errfmt(err, errlen, "%s: \"%s\" must be an integer >= 1; fix config.json", path,
                      name);
    *out = (int)json_integer_value(v);
    return 0;
}

static int rd_bool(json_t *o, const char *path, const char *key, int def, int *out, char *err,
                   size_t errlen)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v))
        return errfmt(err, errlen, "%s: \"%s\" must be true or false; fix config.json", path, key);
    *out = json_is_true(v);
    return 0;
}

/* A number key, def when absent. */
static int rd_num(json_t *o, const char *path, const char *key, double def, double *out,
                  char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_number(v))
        return errfmt(err, errlen, "%s: \"%s\" must be a number; fix config.json", path, key);
    *out = json_number_value(v);
    return 0;
}

/* A token id: GPT2Config's default when absent, -1 when null. */
static int rd_token(json_t *o, const char *path, const char *key, int *out, char *err,
                    size_t errlen)
{
    json_t *v = json_object_get(o, key);
    if (!v) return *out = 50256, 0;
    if (json_is_null(v)) return *out = -1, 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > (1 << 30))
        return errfmt(err, errlen, "%s: \"%s\" must be a token id (an integer >= 0) or null",
                      path, key);
    *out = (int)json_integer_value(v);
    return 0;
}

/* The activations Hugging Face computes as 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))):
 * the same function as mptui's GELU, differing only in fp32 rounding (docs/files.md). */
static int tanh_gelu(const char *a)
{
    static const char *const ok[] = {"gelu_new", "gelu_pytorch_tanh", "gelu_fast",
                                     "gelu_accurate"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!strcmp(a, ok[i])) return 1;
    return 0;
}

static int check_model_type(json_t *o, const char *path, char *err, size_t errlen)
{
    json_t *mt = json_object_get(o, "model_type");
    if (!json_is_string(mt))
        return errfmt(err, errlen, "%s: no \"model_type\" string; a GPT-2 folder's config.json "
                      "says \"model_type\": \"gpt2\"", path);
    if (strcmp(json_string_value(mt), "gpt2"))
        return errfmt(err, errlen, "%s: model_type \"%.64s\" is not supported: mptui trains "
                      "GPT-2 (\"gpt2\") models only", path, json_string_value(mt));
    return 0;
}

static int check_activation(json_t *o, const char *path, char *err, size_t errlen)
{
    json_t *a = json_object_get(o, "activation_function");
    if (!a) return 0; /* GPT2Config's default: gelu_new */
    if (!json_is_string(a))
        return errfmt(err, errlen, "%s: \"activation_function\" must be a string", path);
    if (tanh_gelu(json_string_value(a))) return 0;
    return errfmt(err, errlen, "%s: activation_function \"%.64s\" is not supported: mptui's "
                  "GPT-2 computes the tanh GELU (gelu_new, gelu_pytorch_tanh, gelu_fast or "
                  "gelu_accurate)", path, json_string_value(a));
}

/* LayerNorm epsilon, the MLP width and the attention variants this GPT-2 computes. */
static int check_fixed(json_t *o, const char *path, const hf_config *c, char *err,
                       size_t errlen)
{
    double eps = 0;
    if (rd_num(o, path, "layer_norm_epsilon", 1e-5, &eps, err, errlen)) return -1;
    if (eps != 1e-5)
        return errfmt(err, errlen, "%s: layer_norm_epsilon %g is not supported: mptui's "
                      "LayerNorm uses 1e-05", path, eps);
    json_t *inner = json_object_get(o, "n_inner");
    if (inner && !json_is_null(inner) &&
        !(json_is_integer(inner) && json_integer_value(inner) == 4 * (json_int_t)c->n_embd))
        return errfmt(err, errlen, "%s: n_inner is not supported: mptui's MLP is 4 x n_embd = "
                      "%d wide (n_inner null)", path, 4 * c->n_embd);
    static const struct { const char *key; int def, want; const char *why; } flags[] = {
        {"scale_attn_weights", 1, 1, "mptui scales attention scores by 1/sqrt(head size)"},
        {"scale_attn_by_inverse_layer_idx", 0, 0, "mptui does not scale scores by layer"},
        {"reorder_and_upcast_attn", 0, 0, "mptui rounds attention scores as its precision "
                                          "policy says (docs/precision.md)"},
        {"tie_word_embeddings", 1, 1, "mptui's GPT-2 ties lm_head to wte"},
        {"add_cross_attention", 0, 0, "mptui's GPT-2 is decoder-only"},
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        int v = 0;
        if (rd_bool(o, path, flags[i].key, flags[i].def, &v, err, errlen)) return -1;
        if (v != flags[i].want)
            return errfmt(err, errlen, "%s: %s %s is not supported: %s", path, flags[i].key,
                          v ? "true" : "false", flags[i].why);
    }
    return 0;
}

static int read_shape(json_t *o, const char *path, hf_config *c, char *err, size_t errlen)
{
    if (rd_int(o, path, "n_layer", "num_hidden_layers", 12, &c->n_layer, err, errlen) ||
        rd_int(o, path, "n_head", "num_attention_heads", 12, &c->n_head, err, errlen) ||
        rd_int(o, path, "n_embd", "hidden_size", 768, &c->n_embd, err, errlen) ||
        rd_int(o, path, "n_positions", "max_position_embeddings", 1024, &c->n_positions, err,
               errlen) ||
        rd_int(o, path, "vocab_size", NULL, 50257, &c->vocab_size, err, errlen))
        return -1;
    if (c->n_embd % c->n_head)
        return errfmt(err, errlen, "%s: n_embd %d is not divisible by n_head %d", path,
                      c->n_embd, c->n_head);
    return 0;
}

static int read_dropout(json_t *o, const char *path, hf_config *c, char *err, size_t errlen)
{
    static const char *const keys[] = {"resid_pdrop", "embd_pdrop", "attn_pdrop"};
    c->dropout = 0;
    for (int i = 0; i < 3; i++) {
        double p = 0;
        if (rd_num(o, path, keys[i], 0.1, &p, err, errlen)) return -1;
        if (p > c->dropout) c->dropout = p;
    }
    return 0;
}

int hf_config_read(const char *dir, hf_config *out, char *err, size_t errlen)
{
    char path[HF_PATH_MAX];
    size_t len;
    struct stat sb;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (stat(path, &sb) && errno == ENOENT)
        return errfmt(err, errlen, "%s: no config.json; --model_name_or_path takes a Hugging "
                      "Face model folder (config.json and model.safetensors, as save_pretrained "
                      "writes it)", dir);
    char *txt = fsutil_slurp(path, 1u << 20, "config.json must be a regular file", &len, err,
                             errlen);
    if (!txt) return -1;
    json_error_t je;
    json_t *o = json_loadb(txt, len, JSON_REJECT_DUPLICATES, &je);
    free(txt);
    if (!o)
        return errfmt(err, errlen, "%s: not valid JSON (line %d: %s)", path, je.line, je.text);
    hf_config c;
    int rc = -1;
    if (!json_is_object(o))
        errfmt(err, errlen, "%s: not a JSON object", path);
    else if (!check_model_type(o, path, err, errlen) && !read_shape(o, path, &c, err, errlen) &&
             !check_activation(o, path, err, errlen) && !check_fixed(o, path, &c, err, errlen) &&
             !read_dropout(o, path, &c, err, errlen) &&
             !rd_token(o, path, "bos_token_id", &c.bos_token_id, err, errlen) &&
             !rd_token(o, path, "eos_token_id", &c.eos_token_id, err, errlen)) {
        *out = c;
        rc = 0;
    }
    json_decref(o);
    return rc;
}

/* ================= weights ================= */

/* The files a folder's weights are in: model.safetensors, or the shards of an index. */
typedef struct {
    st_file *files[HF_MAX_SHARDS];
    char *names[HF_MAX_SHARDS]; /* shard file names (sharded only) */
    int n;
    json_t *map;                /* the index's weight_map; NULL for one file */
    char label[HF_PATH_MAX];
    char what[96];              /* for the info line: "model.safetensors" / "3 shards" */
} hf_files;

static void files_close(hf_files *h)
{
    for (int i = 0; i < h->n; i++) {
        st_close(h->files[i]);
        free(h->names[i]);
    }
    json_decref(h->map);
    h->n = 0;
    h->map = NULL;
}

static const st_tensor *files_find_exact(hf_files *h, const char *name, const st_file **file)
{
    if (!h->map) {
        *file = h->files[0];
        return h->n ? st_find(h->files[0], name) : NULL;
    }
    json_t *v = json_object_get(h->map, name);
    for (int i = 0; v && i < h->n; i++)
        if (!strcmp(h->names[i], json_string_value(v))) {
            *file = h->files[i];
            return st_find(h->files[i], name);
        }
    return NULL;
}

/* A file tied the other way round (lm_head.weight kept, wte dropped) still loads: the head
 * is the embedding. */
static const st_tensor *files_find(void *ctx, const char *name, const st_file **file)
{
    const st_tensor *t = files_find_exact(ctx, name, file);
    if (!t && (!strcmp(name, "transformer.wte.weight") || !strcmp(name, "wte.weight")) &&
        !files_find_exact(ctx, "transformer.wte.weight", file) &&
        !files_find_exact(ctx, "wte.weight", file))
        t = files_find_exact(ctx, "lm_head.weight", file);
    return t;
}

static int open_single(const char *dir, hf_files *h, char *err, size_t errlen)
{
    snprintf(h->label, sizeof h->label, "%s/model.safetensors", dir);
    snprintf(h->what, sizeof h->what, "model.safetensors");
    if (!(h->files[0] = st_open(h->label, err, errlen))) return -1;
    h->n = 1;
    return 0;
}

/* Opens every shard the weight_map names, once each. */
static int open_shards(const char *dir, hf_files *h, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    json_object_foreach(h->map, key, v) {
        const char *s = json_is_string(v) ? json_string_value(v) : NULL;
        if (!s || !s[0] || strchr(s, '/') || strlen(s) > 255)
            return errfmt(err, errlen, "%s: weight_map entry '%.80s' must name a file in the "
                          "folder", h->label, key);
        int seen = 0;
        for (int i = 0; i < h->n && !seen; i++) seen = !strcmp(h->names[i], s);
        if (seen) continue;
        if (h->n == HF_MAX_SHARDS)
            return errfmt(err, errlen, "%s: more than %d shards", h->label, HF_MAX_SHARDS);
        char p[HF_PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", dir, s);
        if (!(h->names[h->n] = strdup(s)))
            return errfmt(err, errlen, "%s: out of memory", h->label);
        h->files[h->n] = st_open(p, err, errlen);
        h->n++; /* files_close frees the name, and closes the file when it opened */
        if (!h->files[h->n - 1]) return -1;
    }
    return 0;
}

/* Every weight_map entry in the shard it names (as transformers checks). */
static int check_map(hf_files *h, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    json_object_foreach(h->map, key, v) {
        const st_file *f;
        if (!files_find_exact(h, key, &f))
            return errfmt(err, errlen, "%s: weight_map puts '%.80s' in %s, which does not hold "
                          "it: the folder is incomplete or mixed; download it again", h->label,
                          key, json_string_value(v));
    }
    return 0;
}

static int open_sharded(const char *dir, hf_files *h, char *err, size_t errlen)
{
    size_t len;
    snprintf(h->label, sizeof h->label, "%s/model.safetensors.index.json", dir);
    char *txt = fsutil_slurp(h->label, 64u << 20, "it must be a regular file", &len, err,
                             errlen);
    if (!txt) return -1;
    json_error_t je;
    json_t *o = json_loadb(txt, len, JSON_REJECT_DUPLICATES, &je);
    free(txt);
    if (!o)
        return errfmt(err, errlen, "%s: not valid JSON (line %d: %s)", h->label, je.line,
                      je.text);
    json_t *map = json_object_get(o, "weight_map");
    if (!json_is_object(map)) {
        json_decref(o);
        return errfmt(err, errlen, "%s: no \"weight_map\" object (tensor name -> shard file)",
                      h->label);
    }
    h->map = json_incref(map);
    json_decref(o);
    if (open_shards(dir, h, err, errlen) || check_map(h, err, errlen)) return -1;
    snprintf(h->what, sizeof h->what, "%d shard%s of model.safetensors.index.json", h->n,
             h->n == 1 ? "" : "s");
    return 0;
}

/* The weight files of dir, or the one line that says why there are none we read. */
static int open_weights(const char *dir, hf_files *h, char *err, size_t errlen)
{
    if (is_file(dir, "model.safetensors")) return open_single(dir, h, err, errlen);
    if (is_file(dir, "model.safetensors.index.json")) return open_sharded(dir, h, err, errlen);
    if (is_file(dir, "pytorch_model.bin") || is_file(dir, "pytorch_model.bin.index.json"))
        return errfmt(err, errlen, "%s: only pytorch_model.bin, and mptui reads safetensors "
                      "only; convert once with: python3 -c \"from transformers import "
                      "AutoModelForCausalLM as M; M.from_pretrained('%s').save_pretrained('%s', "
                      "safe_serialization=True)\"", dir, dir, dir);
    return errfmt(err, errlen, "%s: no model.safetensors (or model.safetensors.index.json); a "
                  "Hugging Face folder as save_pretrained writes it has one", dir);
}

/* lm_head.weight, when the file keeps it, must be wte itself: this GPT-2 has no separate head.
 * Compared chunk by chunk, so no whole copy of either is held. */
static int check_tied(hf_files *h, char *err, size_t errlen)
{
    const st_file *fh, *fw;
    const st_tensor *head = files_find_exact(h, "lm_head.weight", &fh);
    const st_tensor *wte = files_find_exact(h, "transformer.wte.weight", &fw);
    if (!wte) wte = files_find_exact(h, "wte.weight", &fw);
    if (!head || !wte) return 0;
    const char *why = "lm_head.weight differs from wte.weight, and mptui's GPT-2 ties them "
                      "(tie_word_embeddings): it cannot load a separate head";
    int same = head->ndim == wte->ndim;
    for (int d = 0; same && d < head->ndim; d++) same = head->shape[d] == wte->shape[d];
    if (!same) return errfmt(err, errlen, "%s: %s (their shapes differ)", st_label(fh), why);
    enum { CHUNK = 16384 };
    float *a = malloc(2 * CHUNK * sizeof *a);
    if (!a) return errfmt(err, errlen, "%s: out of memory", st_label(fh));
    int rc = 0;
    for (size_t i = 0; i < head->numel && !rc; i += CHUNK) {
        size_t k = head->numel - i < CHUNK ? head->numel - i : CHUNK;
        if (st_read_f32_part(fh, head, i, a, k, err, errlen) ||
            st_read_f32_part(fw, wte, i, a + CHUNK, k, err, errlen))
            rc = -1;
        for (size_t j = 0; j < k && !rc; j++)
            if (memcmp(&a[j], &a[CHUNK + j], sizeof(float)))
                rc = errfmt(err, errlen, "%s: %s (element %zu: %g vs %g)", st_label(fh), why,
                            i + j, (double)a[j], (double)a[CHUNK + j]);
    }
    free(a);
    return rc;
}

static int check_shape(const char *dir, const hf_config *fc, const gpt_config *mc, char *err,
                       size_t errlen)
{
    const struct { const char *key; int file, model; } f[] = {
        {"n_layer", fc->n_layer, mc->n_layer},       {"n_head", fc->n_head, mc->n_head},
        {"n_embd", fc->n_embd, mc->n_embd},          {"n_positions", fc->n_positions, mc->block_size},
        {"vocab_size", fc->vocab_size, mc->vocab_size},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].file != f[i].model)
            return errfmt(err, errlen, "%s/config.json: %s %d does not match the model (%d)", dir,
                          f[i].key, f[i].file, f[i].model);
    return 0;
}

int hf_load(const char *dir, gpt *m, char *info, size_t infolen, char *err, size_t errlen)
{
    hf_config fc;
    if (hf_config_read(dir, &fc, err, errlen) ||
        check_shape(dir, &fc, gpt_get_config(m), err, errlen))
        return -1;
    hf_files *h = calloc(1, sizeof *h);
    if (!h) return errfmt(err, errlen, "%s: out of memory", dir);
    int rc = -1;
    if (open_weights(dir, h, err, errlen) || check_tied(h, err, errlen)) goto out;
    ckpt_source src = {files_find, h, h->label};
    if (ckpt_load_weights_from(&src, m, "config.json says", err, errlen)) goto out;
    if (info && infolen) {
        char drop[160] = "";
        if (fc.dropout > 0)
            snprintf(drop, sizeof drop, "; config.json's dropout %g is not applied (mptui "
                     "trains without dropout)", fc.dropout);
        snprintf(info, infolen, "weights from %s (%s)%s", dir, h->what, drop);
    }
    rc = 0;
out:
    files_close(h);
    free(h);
    return rc;
}
