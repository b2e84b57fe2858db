/* hf_gen.c — tiny random GPT-2 folders as transformers' save_pretrained lays them out, written by
 * a safetensors writer of its own (not safetensors.c's), so the reader is tested against it. */
#include "hf_gen.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errfmt.h"
#include "fsutil.h"
#include "numerics.h"

#define GEN_PATH_MAX 1200

/* ================= values ================= */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static int ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && !strcmp(s + a - b, tail);
}

/* Values at the edges of the storage format (subnormals, -0): where a widening goes wrong. */
static int edge_values(const char *dtype, float *v)
{
    int n = 0;
    v[n++] = -0.0f;
    if (!strcmp(dtype, "F16")) {
        v[n++] = 0x1p-24f;  /* smallest fp16 subnormal */
        v[n++] = -0x1p-15f; /* an fp16 subnormal */
    } else if (!strcmp(dtype, "BF16")) {
        v[n++] = 0x1p-133f; /* smallest bf16 subnormal */
        v[n++] = -0x1p-130f;
    } else {
        v[n++] = 0x1p-149f; /* smallest fp32 subnormal */
        v[n++] = -0x1.fffffcp-127f; /* the largest fp32 subnormal */
    }
    return n;
}

int hfgen_values(const hfgen_opts *o, const char *name, float *out, size_t n)
{
    const char *pre = "transformer.";
    if (!strncmp(name, pre, strlen(pre))) name += strlen(pre);
    if (strncmp(name, "wte.", 4) && strncmp(name, "wpe.", 4) && strncmp(name, "h.", 2) &&
        strncmp(name, "ln_f.", 5))
        return -1;
    uint64_t s = o->seed ^ name_hash(name);
    /* LayerNorm gains 1 + m / 128 (|m| <= 16), everything else m / 4096 (|m| <= 127): at most
     * 8 significant bits, exact in fp32, fp16 and bf16 alike */
    int gain = ends_with(name, "ln_1.weight") || ends_with(name, "ln_2.weight") ||
               !strcmp(name, "ln_f.weight");
    for (size_t i = 0; i < n; i++) {
        uint64_t r = splitmix(&s);
        out[i] = gain ? 1.0f + (float)((int)(r % 33) - 16) / 128.0f
                      : (float)((int)(r % 255) - 127) / 4096.0f;
    }
    if (!strcmp(name, "ln_f.bias")) {
        float e[4];
        int k = edge_values(o->dtype, e);
        for (int i = 0; i < k && (size_t)i < n; i++) out[i] = e[i];
    }
    return 0;
}

void hfgen_defaults(hfgen_opts *o)
{
    *o = (hfgen_opts){.n_layer = 2, .n_head = 2, .n_embd = 32, .n_positions = 64,
                      .vocab_size = 256, .dtype = "F32", .prefix = 1, .seed = 1};
}

/* ================= tensors ================= */

typedef struct {
    char name[96];
    const char *dtype;
    int ndim;
    int64_t shape[4];
    size_t numel, nbytes;
    unsigned char *data;
} gtensor;

typedef struct {
    gtensor *t;
    int n, cap;
} glist;

static gtensor *add(glist *l, const hfgen_opts *o, const char *name, const char *dtype, int ndim,
                    int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 32;
        gtensor *t = realloc(l->t, (size_t)cap * sizeof *t);
        if (!t) return NULL;
        l->t = t;
        l->cap = cap;
    }
    gtensor *t = &l->t[l->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s%s", o->prefix && strncmp(name, "lm_head", 7) ?
             "transformer." : "", name);
    t->dtype = dtype;
    t->ndim = ndim;
    int64_t d[4] = {d0, d1, d2, d3};
    t->numel = 1;
    for (int i = 0; i < ndim; i++) t->numel *= (size_t)(t->shape[i] = d[i]);
    size_t es = !strcmp(dtype, "F32") ? 4 : !strcmp(dtype, "BOOL") ? 1 : 2;
    t->nbytes = t->numel * es;
    t->data = malloc(t->nbytes ? t->nbytes : 1);
    return t->data ? t : NULL;
}

/* A weight: hfgen_values stored in o->dtype. */
static int weight(glist *l, const hfgen_opts *o, const char *name, int ndim, int64_t d0,
                  int64_t d1)
{
    gtensor *t = add(l, o, name, o->dtype, ndim, d0, ndim > 1 ? d1 : 1, 1, 1);
    float *v = t ? malloc(t->numel * sizeof *v) : NULL;
    if (!v) return -1;
    hfgen_values(o, name, v, t->numel);
    for (size_t i = 0; i < t->numel; i++) {
        if (!strcmp(o->dtype, "F32")) {
            memcpy(t->data + 4 * i, &v[i], 4);
        } else {
            uint16_t h = !strcmp(o->dtype, "F16") ? num_f32_to_f16(v[i]) : num_f32_to_bf16(v[i]);
            memcpy(t->data + 2 * i, &h, 2);
        }
    }
    free(v);
    return 0;
}

/* The causal-mask buffers older transformers saved: attn.bias (1, 1, P, P) lower triangle
 * (F32 or BOOL) and attn.masked_bias, a scalar -1e4. */
static int buffers(glist *l, const hfgen_opts *o, int layer)
{
    char nm[64];
    int64_t P = o->n_positions;
    snprintf(nm, sizeof nm, "h.%d.attn.bias", layer);
    gtensor *t = add(l, o, nm, o->attn_bias == 2 ? "BOOL" : "F32", 4, 1, 1, P, P);
    if (!t) return -1;
    for (int64_t i = 0; i < P; i++)
        for (int64_t j = 0; j < P; j++) {
            float one = j <= i ? 1.0f : 0.0f;
            if (o->attn_bias == 2) t->data[i * P + j] = j <= i;
            else memcpy(t->data + 4 * (i * P + j), &one, 4);
        }
    snprintf(nm, sizeof nm, "h.%d.attn.masked_bias", layer);
    if (!(t = add(l, o, nm, "F32", 0, 1, 1, 1, 1))) return -1;
    float mb = -1e4f;
    memcpy(t->data, &mb, 4);
    return 0;
}

static int block(glist *l, const hfgen_opts *o, int i)
{
    static const struct { const char *n; int ndim, a, b; } w[] = {
        /* shapes in units of C: (C, 3C) is {1, 3} */
        {"ln_1.weight", 1, 1, 0}, {"ln_1.bias", 1, 1, 0},
        {"attn.c_attn.weight", 2, 1, 3}, {"attn.c_attn.bias", 1, 3, 0},
        {"attn.c_proj.weight", 2, 1, 1}, {"attn.c_proj.bias", 1, 1, 0},
        {"ln_2.weight", 1, 1, 0}, {"ln_2.bias", 1, 1, 0},
        {"mlp.c_fc.weight", 2, 1, 4}, {"mlp.c_fc.bias", 1, 4, 0},
        {"mlp.c_proj.weight", 2, 4, 1}, {"mlp.c_proj.bias", 1, 1, 0},
    };
    int64_t C = o->n_embd;
    char nm[64];
    for (size_t k = 0; k < sizeof w / sizeof w[0]; k++) {
        snprintf(nm, sizeof nm, "h.%d.%s", i, w[k].n);
        if (weight(l, o, nm, w[k].ndim, w[k].a * C, w[k].b * C)) return -1;
    }
    return o->attn_bias ? buffers(l, o, i) : 0;
}

static int all_tensors(glist *l, const hfgen_opts *o)
{
    int64_t C = o->n_embd;
    if (weight(l, o, "wte.weight", 2, o->vocab_size, C) ||
        weight(l, o, "wpe.weight", 2, o->n_positions, C))
        return -1;
    for (int i = 0; i < o->n_layer; i++)
        if (block(l, o, i)) return -1;
    if (weight(l, o, "ln_f.weight", 1, C, 0) || weight(l, o, "ln_f.bias", 1, C, 0)) return -1;
    if (o->lm_head) {
        gtensor *t = add(l, o, "lm_head.weight", o->dtype, 2, o->vocab_size, C, 1, 1);
        if (!t) return -1;
        memcpy(t->data, l->t[0].data, t->nbytes); /* wte, tied */
    }
    return 0;
}

/* ================= files ================= */

/* Tensors [a, b) of l as one safetensors file: header padded with spaces to 8 bytes, data
 * in header order, as the safetensors library writes. */
static int write_st(const char *path, const glist *l, int a, int b, char *err, size_t errlen)
{
    json_t *h = json_object(), *meta = json_object();
    json_object_set_new(meta, "format", json_string("pt"));
    json_object_set_new(h, "__metadata__", meta);
    size_t off = 0;
    for (int i = a; i < b; i++) {
        const gtensor *t = &l->t[i];
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        json_object_set_new(h, t->name, json_pack("{s:s, s:o, s:[I, I]}", "dtype", t->dtype,
                                                  "shape", shape, "data_offsets",
                                                  (json_int_t)off, (json_int_t)(off + t->nbytes)));
        off += t->nbytes;
    }
    char *js = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(h);
    size_t hl = js ? (strlen(js) + 7) & ~(size_t)7 : 0;
    unsigned char *buf = js ? malloc(8 + hl + off) : NULL;
    if (!buf) {
        free(js);
        return errfmt(err, errlen, "%s: out of memory", path);
    }
    uint64_t hl64 = hl;
    memcpy(buf, &hl64, 8);
    memset(buf + 8, ' ', hl);
    memcpy(buf + 8, js, strlen(js));
    free(js);
    size_t p = 8 + hl;
    for (int i = a; i < b; i++) {
        memcpy(buf + p, l->t[i].data, l->t[i].nbytes);
        p += l->t[i].nbytes;
    }
    int rc = fsutil_write_file(path, buf, p, err, errlen);
    free(buf);
    return rc;
}

static int write_json(const char *path, json_t *o, size_t flags, char *err, size_t errlen)
{
    char *s = json_dumps(o, JSON_INDENT(2) | flags);
    json_decref(o);
    if (!s) return errfmt(err, errlen, "%s: out of memory", path);
    int rc = fsutil_write_file(path, s, strlen(s), err, errlen);
    free(s);
    return rc;
}

/* config.json with the keys and values the hub's gpt2 folder has (dropout 0.1 included). */
static int write_config(const char *dir, const hfgen_opts *o, char *err, size_t errlen)
{
    char path[GEN_PATH_MAX];
    snprintf(path, sizeof path, "%s/config.json", dir);
    const char *td = !strcmp(o->dtype, "F16") ? "float16" : !strcmp(o->dtype, "BF16") ?
                     "bfloat16" : "float32";
    json_t *c = json_pack("{s:s, s:[s], s:f, s:i, s:f, s:i, s:f, s:f, s:s, s:i, s:i, s:i, s:i, "
                          "s:i, s:f, s:s, s:b, s:i}",
                          "activation_function", "gelu_new", "architectures", "GPT2LMHeadModel",
                          "attn_pdrop", 0.1, "bos_token_id", o->vocab_size - 1, "embd_pdrop",
                          0.1, "eos_token_id", o->vocab_size - 1, "initializer_range", 0.02,
                          "layer_norm_epsilon", 1e-5, "model_type", "gpt2", "n_ctx",
                          o->n_positions, "n_embd", o->n_embd, "n_head", o->n_head, "n_layer",
                          o->n_layer, "n_positions", o->n_positions, "resid_pdrop", 0.1,
                          "torch_dtype", td, "use_cache", 1, "vocab_size", o->vocab_size);
    return c ? write_json(path, c, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10), err, errlen)
             : errfmt(err, errlen, "%s: out of memory", path);
}

static int write_sharded(const char *dir, const hfgen_opts *o, const glist *l, char *err,
                         size_t errlen)
{
    char path[GEN_PATH_MAX], file[64];
    json_t *map = json_object();
    size_t total = 0;
    int rc = 0;
    for (int k = 0; k < o->shards && !rc; k++) {
        int a = (int)((int64_t)l->n * k / o->shards), b = (int)((int64_t)l->n * (k + 1) / o->shards);
        snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", k + 1, o->shards);
        snprintf(path, sizeof path, "%s/%s", dir, file);
        rc = write_st(path, l, a, b, err, errlen);
        for (int i = a; i < b; i++) {
            json_object_set_new(map, l->t[i].name, json_string(file));
            total += l->t[i].nbytes;
        }
    }
    if (rc) {
        json_decref(map);
        return -1;
    }
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    json_t *idx = json_pack("{s:{s:I}, s:o}", "metadata", "total_size", (json_int_t)total,
                            "weight_map", map);
    return write_json(path, idx, JSON_SORT_KEYS, err, errlen);
}

static int check_opts(const hfgen_opts *o, char *err, size_t errlen)
{
    if (o->n_layer < 1 || o->n_head < 1 || o->n_embd < 1 || o->n_embd % o->n_head ||
        o->n_positions < 1 || o->vocab_size < 1 || o->shards < 0 || o->attn_bias < 0 ||
        o->attn_bias > 2 || !o->dtype ||
        (strcmp(o->dtype, "F32") && strcmp(o->dtype, "F16") && strcmp(o->dtype, "BF16")))
        return errfmt(err, errlen, "hf_gen: bad options (sizes >= 1, n_embd a multiple of "
                      "n_head, dtype F32 / F16 / BF16, attn_bias 0..2, shards >= 0)");
    return 0;
}

int hfgen_write(const char *dir, const hfgen_opts *o, char *err, size_t errlen)
{
    if (check_opts(o, err, errlen)) return -1;
    if (strlen(dir) > GEN_PATH_MAX - 64) return errfmt(err, errlen, "%s: path too long", dir);
    if (fsutil_mkdir_p(dir, 0755, NULL)) return errfmt(err, errlen, "%s: cannot create", dir);
    glist l = {0};
    int rc = all_tensors(&l, o);
    if (rc) errfmt(err, errlen, "%s: out of memory", dir);
    if (!rc) rc = write_config(dir, o, err, errlen);
    if (!rc && o->shards) {
        rc = write_sharded(dir, o, &l, err, errlen);
    } else if (!rc) {
        char path[GEN_PATH_MAX];
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        rc = write_st(path, &l, 0, l.n, err, errlen);
    }
    for (int i = 0; i < l.n; i++) free(l.t[i].data);
    free(l.t);
    return rc;
}
