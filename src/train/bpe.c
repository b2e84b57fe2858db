/* bpe.c — GPT-2's byte-level BPE: vocab/merges loading (vocab.json + merges.txt or
 * tokenizer.json), PCRE2 pre-tokenization, rank-ordered merges, a word cache
 * (docs/tokenizer.md). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "bpe.h"

#include <jansson.h>
#include <limits.h>
#include <nettle/sha2.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "errfmt.h"
#include "fsutil.h"

#define BPE_FILE_MAX ((size_t)512 << 20)
/* Words up to this many bytes merge with encoder.py's loop (O(n^2), fast on short words);
 * longer ones with a heap, which gives the same result when merges are causal (see
 * bpe_check_causal) and keeps a megabyte of spaces from taking minutes. */
#define BPE_SIMPLE_MAX 64
/* Work buffers for pieces longer than this are freed after use, not kept. */
#define BPE_WORK_KEEP ((size_t)1 << 16)
/* The word cache: words up to CACHE_WORD_MAX bytes; cleared when it holds CACHE_MAX words or
 * its arenas pass CACHE_ARENA_MAX bytes, so memory stays bounded on any text. */
#define CACHE_SLOTS (1u << 17)
#define CACHE_MAX (CACHE_SLOTS / 2)
#define CACHE_WORD_MAX 256
#define CACHE_ARENA_MAX ((size_t)16 << 20)

/* GPT-2's pattern with \s spelled out as Unicode's White_Space, which is what the `regex`
 * module (encoder.py) and Perl mean by \s; PCRE2's \s under UCP also takes U+180E. */
#define WS                                                                                  \
    "\\t\\n\\x{0B}\\f\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}"                        \
    "\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
static const char bpe_pattern[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS
                                  "\\p{L}\\p{N}]+|[" WS "]+(?![^" WS "])|[" WS "]+";

typedef struct {
    int32_t rank; /* -1: empty slot */
    int32_t id;   /* the merged token */
    uint64_t key; /* (left id << 32) | right id */
} pair_slot;

typedef struct {
    uint64_t h;
    uint32_t boff, blen; /* blen 0: empty slot */
    uint32_t ioff, nids;
} cache_slot;

struct bpe {
    int n;               /* vocabulary entries */
    int eot;             /* <|endoftext|> or -1 */
    int n_merges;
    int causal;          /* merges only use bytes or earlier products (heap path allowed) */
    char *blob;          /* every token's bytes */
    size_t *off;         /* (n + 1) offsets into blob */
    int32_t byte_id[256];
    pair_slot *pairs;
    uint32_t pair_mask;
    char digest[65];
    pcre2_code *re;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jstack;
    int jit;
    /* word cache */
    cache_slot *cache;
    uint32_t cache_n;
    char *cbytes;
    size_t cb_len, cb_cap;
    int32_t *cids;
    size_t ci_len, ci_cap;
    /* merge work buffers */
    int32_t *sym, *prev, *next;
    uint64_t *heap;
    size_t work_cap;
};

/* ---------------------------------------------------------------- helpers */

/* Offset of the first byte that is not part of valid UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or n when all is valid. */
static size_t bpe_utf8_bad(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ull)) {
                i += 8;
                continue;
            }
        }
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else return i;
        if (i + len > n) return i;
        if (s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return i;
        i += len;
    }
    return n;
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 for
 * U+0100 + k in byte order. */
static void bpe_byte_table(uint32_t cp_of_byte[256])
{
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        cp_of_byte[b] = printable ? (uint32_t)b : (uint32_t)(256 + n++);
    }
}

static int bpe_utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 63));
        return 2;
    }
    out[0] = (char)(0xE0 | cp >> 12);
    out[1] = (char)(0x80 | ((cp >> 6) & 63));
    out[2] = (char)(0x80 | (cp & 63));
    return 3;
}

/* Decodes one UTF-8 character of valid text; returns its length. */
static int bpe_utf8_get(const unsigned char *s, uint32_t *cp)
{
    if (s[0] < 0x80) return *cp = s[0], 1;
    if (s[0] < 0xE0) return *cp = (uint32_t)(s[0] & 31) << 6 | (s[1] & 63), 2;
    if (s[0] < 0xF0)
        return *cp = (uint32_t)(s[0] & 15) << 12 | (uint32_t)(s[1] & 63) << 6 | (s[2] & 63), 3;
    *cp = (uint32_t)(s[0] & 7) << 18 | (uint32_t)(s[1] & 63) << 12 | (uint32_t)(s[2] & 63) << 6 |
          (s[3] & 63);
    return 4;
}

/* A short quotable excerpt of s for an error line: controls escaped, at most 40 bytes. */
static const char *bpe_quote(const char *s, size_t n, char *buf, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; i < n && j + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= 40) {
            j += (size_t)snprintf(buf + j, cap - j, "...");
            break;
        }
        if (c < 0x20 || c == 0x7F) j += (size_t)snprintf(buf + j, cap - j, "\\x%02x", c);
        else buf[j++] = (char)c;
    }
    buf[j] = 0;
    return buf;
}

static uint64_t bpe_hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static inline uint32_t bpe_pair_hash(uint64_t key, uint32_t mask)
{
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static const pair_slot *bpe_pair_find(const bpe *t, int32_t a, int32_t b)
{
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    for (uint32_t i = bpe_pair_hash(key, t->pair_mask);; i = (i + 1) & t->pair_mask) {
        const pair_slot *s = &t->pairs[i];
        if (s->rank < 0) return NULL;
        if (s->key == key) return s;
    }
}

/* Later lines win over earlier ones for the same pair, as in encoder.py's dict and
 * Hugging Face's map. Returns 1 when the pair was already there. */
static int bpe_pair_put(bpe *t, int32_t a, int32_t b, int32_t rank, int32_t id)
{
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    for (uint32_t i = bpe_pair_hash(key, t->pair_mask);; i = (i + 1) & t->pair_mask) {
        pair_slot *s = &t->pairs[i];
        if (s->rank < 0 || s->key == key) {
            int had = s->rank >= 0;
            *s = (pair_slot){rank, id, key};
            return had;
        }
    }
}

/* ---------------------------------------------------------------- loading */

/* What a loader collects before the tables are built: the vocabulary object and the merges as
 * (left, right) strings with where each came from (for error lines). */
typedef struct {
    const char *vocab_name; /* the file named in errors about the vocabulary */
    const char *merges_name;
    json_t *vocab;          /* object: token string -> id (borrowed) */
    json_t *added;          /* tokenizer.json's added_tokens or NULL (borrowed) */
    int n_merges, cap;
    char **left, **right;   /* malloc'd strings */
    int *where;             /* merges.txt line number, or tokenizer.json merges index */
    int where_is_line;
} bpe_src;

static void bpe_src_free(bpe_src *s)
{
    for (int i = 0; i < s->n_merges; i++) {
        free(s->left[i]);
        free(s->right[i]);
    }
    free(s->left);
    free(s->right);
    free(s->where);
}

static int bpe_src_add(bpe_src *s, const char *a, size_t na, const char *b, size_t nb, int where)
{
    if (s->n_merges == s->cap) {
        size_t cap = s->cap ? (size_t)s->cap * 2 : 1024;
        char **l = realloc(s->left, cap * sizeof *l);
        if (l) s->left = l;
        char **r = realloc(s->right, cap * sizeof *r);
        if (r) s->right = r;
        int *w = realloc(s->where, cap * sizeof *w);
        if (w) s->where = w;
        if (!l || !r || !w) return -1;
        s->cap = (int)cap;
    }
    char *x = strndup(a, na), *y = strndup(b, nb);
    if (!x || !y) {
        free(x);
        free(y);
        return -1;
    }
    s->left[s->n_merges] = x;
    s->right[s->n_merges] = y;
    s->where[s->n_merges++] = where;
    return 0;
}

static json_t *bpe_json_file(const char *path, char *err, size_t errlen)
{
    size_t len;
    char *buf = fsutil_slurp(path, BPE_FILE_MAX, "expected a JSON file", &len, err, errlen);
    if (!buf) return NULL;
    json_error_t je;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    if (!j) errfmt(err, errlen, "%s:%d:%d: malformed JSON: %s", path, je.line, je.column, je.text);
    return j;
}

/* merges.txt: an optional "#version" first line, then one "LEFT RIGHT" per non-empty line
 * (rank = order); a trailing \r is dropped (CRLF files). */
static int bpe_parse_merges(bpe_src *s, const char *path, char *err, size_t errlen)
{
    size_t len;
    char *buf = fsutil_slurp(path, BPE_FILE_MAX, "expected merges.txt", &len, err, errlen);
    if (!buf) return -1;
    size_t bad = bpe_utf8_bad((const unsigned char *)buf, len);
    if (bad < len) {
        free(buf);
        return errfmt(err, errlen, "%s: not valid UTF-8 at byte offset %zu", path, bad);
    }
    int rc = 0, line = 0;
    for (char *p = buf; p < buf + len && rc == 0;) {
        char *nl = memchr(p, '\n', (size_t)(buf + len - p));
        char *e = nl ? nl : buf + len;
        size_t n = (size_t)(e - p);
        line++;
        if (n && p[n - 1] == '\r') n--;
        int header = line == 1 && n >= 8 && memcmp(p, "#version", 8) == 0;
        if (n && !header) {
            char *sp = memchr(p, ' ', n);
            char q[128];
            size_t nr = sp ? (size_t)(p + n - sp - 1) : 0; /* bytes right of the space */
            if (!sp || sp == p || !nr || memchr(sp + 1, ' ', nr) || memchr(p, 0, n))
                rc = errfmt(err, errlen,
                            "%s:%d: expected two symbols separated by one space, got \"%s\"", path,
                            line, bpe_quote(p, n, q, sizeof q));
            else if (bpe_src_add(s, p, (size_t)(sp - p), sp + 1, nr, line))
                rc = errfmt(err, errlen, "%s: out of memory", path);
        }
        p = e + 1;
    }
    s->where_is_line = 1;
    free(buf);
    return rc;
}

/* tokenizer.json's model.merges: "LEFT RIGHT" strings or ["LEFT", "RIGHT"] arrays. */
static int bpe_json_merges(bpe_src *s, json_t *merges, const char *path, char *err, size_t errlen)
{
    size_t i;
    json_t *m;
    json_array_foreach(merges, i, m) {
        const char *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        if (json_is_string(m)) {
            const char *v = json_string_value(m), *sp = strchr(v, ' ');
            if (sp && sp != v && sp[1] && !strchr(sp + 1, ' '))
                a = v, na = (size_t)(sp - v), b = sp + 1, nb = strlen(sp + 1);
        } else if (json_is_array(m) && json_array_size(m) == 2 &&
                   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
            a = json_string_value(json_array_get(m, 0)), na = strlen(a);
            b = json_string_value(json_array_get(m, 1)), nb = strlen(b);
        }
        if (!a || !na || !nb)
            return errfmt(err, errlen,
                          "%s: model.merges[%zu]: expected \"LEFT RIGHT\" or [\"LEFT\", \"RIGHT\"]",
                          path, i);
        if (bpe_src_add(s, a, na, b, nb, (int)i))
            return errfmt(err, errlen, "%s: out of memory", path);
    }
    return 0;
}

static int bpe_parse_tokenizer_json(bpe_src *s, json_t *root, const char *path, char *err,
                                    size_t errlen)
{
    json_t *model = json_object_get(root, "model");
    if (!json_is_object(model))
        return errfmt(err, errlen, "%s: no \"model\" object (not a Hugging Face tokenizer.json?)",
                      path);
    json_t *type = json_object_get(model, "type");
    if (type && (!json_is_string(type) || strcmp(json_string_value(type), "BPE") != 0))
        return errfmt(err, errlen, "%s: model.type is %s%s%s; only a BPE tokenizer is read", path,
                      json_is_string(type) ? "\"" : "",
                      json_is_string(type) ? json_string_value(type) : "not a string",
                      json_is_string(type) ? "\"" : "");
    s->vocab = json_object_get(model, "vocab");
    if (!json_is_object(s->vocab))
        return errfmt(err, errlen, "%s: model.vocab is missing or not an object", path);
    json_t *merges = json_object_get(model, "merges");
    if (!json_is_array(merges))
        return errfmt(err, errlen, "%s: model.merges is missing or not an array", path);
    json_t *added = json_object_get(root, "added_tokens");
    if (added && !json_is_array(added) && !json_is_null(added))
        return errfmt(err, errlen, "%s: added_tokens is not an array", path);
    s->added = json_is_array(added) ? added : NULL;
    return bpe_json_merges(s, merges, path, err, errlen);
}

/* Id of a token string: the vocabulary's, else an added token's past the vocabulary (one
 * with an id inside it is that entry, whatever its content says); -1 when neither has it. */
static int bpe_src_id(const bpe_src *s, const char *tok)
{
    json_t *v = json_object_get(s->vocab, tok);
    if (v) return (int)json_integer_value(v);
    size_t i, nv = json_object_size(s->vocab);
    json_t *a;
    json_array_foreach(s->added, i, a) {
        json_t *c = json_object_get(a, "content");
        json_int_t id = json_integer_value(json_object_get(a, "id"));
        if (id >= 0 && (size_t)id >= nv && json_is_string(c) &&
            strcmp(json_string_value(c), tok) == 0)
            return (int)id;
    }
    return -1;
}

/* Token strings by id, from the vocabulary and any added tokens with ids of their own; the ids
 * must be 0..n-1, each once. */
static const char **bpe_keys_by_id(const bpe_src *s, int *n_out, char *err, size_t errlen)
{
    size_t nv = json_object_size(s->vocab), na = s->added ? json_array_size(s->added) : 0;
    const char **keys = calloc(nv + na + 1, sizeof *keys);
    if (!keys) return errfmt(err, errlen, "%s: out of memory", s->vocab_name), NULL;
    size_t cap = nv + na, n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(s->vocab, k, v) {
        if (!json_is_integer(v)) {
            errfmt(err, errlen, "%s: token \"%s\": its id is not an integer", s->vocab_name, k);
            return free(keys), NULL;
        }
        json_int_t id = json_integer_value(v);
        if (id < 0 || (size_t)id >= nv) {
            errfmt(err, errlen, "%s: token \"%s\" has id %lld, outside 0..%zu (ids must be "
                   "0..n-1, each once)", s->vocab_name, k, (long long)id, nv - 1);
            return free(keys), NULL;
        }
        if (keys[id]) {
            errfmt(err, errlen, "%s: id %lld is given to both \"%s\" and \"%s\"", s->vocab_name,
                   (long long)id, keys[id], k);
            return free(keys), NULL;
        }
        keys[id] = k;
        n++;
    }
    /* added tokens beyond the model's vocabulary (tokenizer.json) extend it */
    size_t i;
    json_t *a;
    json_array_foreach(s->added, i, a) {
        json_t *c = json_object_get(a, "content"), *idv = json_object_get(a, "id");
        if (!json_is_string(c) || !json_is_integer(idv)) {
            errfmt(err, errlen, "%s: added_tokens[%zu] lacks a string \"content\" or an integer "
                   "\"id\"", s->vocab_name, i);
            return free(keys), NULL;
        }
        json_int_t id = json_integer_value(idv);
        if (id >= 0 && (size_t)id < nv) continue; /* the vocabulary's own entry */
        if (id < 0 || (size_t)id >= cap || keys[id]) {
            errfmt(err, errlen, "%s: added_tokens[%zu] (\"%s\") has id %lld; ids must be 0..n-1, "
                   "each once", s->vocab_name, i, json_string_value(c), (long long)id);
            return free(keys), NULL;
        }
        keys[id] = json_string_value(c);
        n++;
    }
    for (size_t id = 0; id < n; id++)
        if (!keys[id]) {
            errfmt(err, errlen, "%s: no token has id %zu; ids must be 0..n-1, each once",
                   s->vocab_name, id);
            return free(keys), NULL;
        }
    *n_out = (int)n;
    return keys;
}

/* Token bytes: each character of the key is one byte through GPT-2's table. A key with a
 * character outside the table (an added token written as plain text) stands for its own
 * UTF-8 bytes. */
static size_t bpe_key_bytes(const char *key, const int16_t byte_of_cp[512], char *out)
{
    const unsigned char *p = (const unsigned char *)key;
    size_t n = 0;
    while (*p) {
        uint32_t cp;
        p += bpe_utf8_get(p, &cp);
        if (cp >= 512 || byte_of_cp[cp] < 0) {
            size_t len = strlen(key);
            memcpy(out, key, len);
            return len;
        }
        out[n++] = (char)byte_of_cp[cp];
    }
    return n;
}

static int bpe_build_vocab(bpe *t, const bpe_src *s, const char **keys, char *err, size_t errlen)
{
    uint32_t cp_of_byte[256];
    int16_t byte_of_cp[512];
    bpe_byte_table(cp_of_byte);
    memset(byte_of_cp, 0xff, sizeof byte_of_cp);
    for (int b = 0; b < 256; b++) byte_of_cp[cp_of_byte[b]] = (int16_t)b;
    size_t total = 0;
    for (int i = 0; i < t->n; i++) {
        if (bpe_utf8_bad((const unsigned char *)keys[i], strlen(keys[i])) < strlen(keys[i]))
            return errfmt(err, errlen, "%s: token %d is not valid UTF-8", s->vocab_name, i);
        total += strlen(keys[i]);
    }
    t->blob = malloc(total + 1);
    t->off = malloc(((size_t)t->n + 1) * sizeof *t->off);
    if (!t->blob || !t->off) return errfmt(err, errlen, "%s: out of memory", s->vocab_name);
    size_t o = 0;
    for (int i = 0; i < t->n; i++) {
        t->off[i] = o;
        o += bpe_key_bytes(keys[i], byte_of_cp, t->blob + o);
    }
    t->off[t->n] = o;
    for (int b = 0; b < 256; b++) {
        char u[4] = {0};
        bpe_utf8_put(u, cp_of_byte[b]);
        t->byte_id[b] = bpe_src_id(s, u);
        if (t->byte_id[b] < 0)
            return errfmt(err, errlen, "%s: the symbol \"%s\" for byte 0x%02x is missing (a GPT-2 "
                          "byte-level vocabulary has all 256)", s->vocab_name, u, b);
    }
    t->eot = bpe_src_id(s, "<|endoftext|>");
    return 0;
}

/* Causal merges (every part a byte symbol or the product of an earlier merge, every product
 * made by one merge only) make the heap and encoder.py's loop agree on every word. */
static int bpe_check_causal(const bpe *t, const int32_t *ids3, int n_merges, int dup)
{
    if (dup) return 0;
    int *made_at = malloc((size_t)t->n * sizeof *made_at);
    if (!made_at) return 0;
    for (int i = 0; i < t->n; i++) made_at[i] = -1;
    int ok = 1;
    for (int r = 0; r < n_merges && ok; r++) {
        int32_t a = ids3[3 * r], b = ids3[3 * r + 1], p = ids3[3 * r + 2];
        if (made_at[p] >= 0) ok = 0;
        made_at[p] = r;
        size_t la = t->off[a + 1] - t->off[a], lb = t->off[b + 1] - t->off[b];
        int a_byte = la == 1 && t->byte_id[(unsigned char)t->blob[t->off[a]]] == a;
        int b_byte = lb == 1 && t->byte_id[(unsigned char)t->blob[t->off[b]]] == b;
        if ((!a_byte && made_at[a] < 0) || (!b_byte && made_at[b] < 0)) ok = 0;
        if ((made_at[a] >= r) || (made_at[b] >= r)) ok = 0;
    }
    free(made_at);
    return ok;
}

static void bpe_put_u32(struct sha256_ctx *c, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    sha256_update(c, 4, b);
}

/* sha256 of "mptui-bpe-1\n", the vocabulary (count, then each token string by id, length-
 * prefixed) and the merges (count, then the ids of each pair by rank): the same model gives
 * the same digest whichever files it came from. */
static void bpe_make_digest(bpe *t, const char **keys, const int32_t *ids3)
{
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, 12, (const uint8_t *)"mptui-bpe-1\n");
    bpe_put_u32(&c, (uint32_t)t->n);
    for (int i = 0; i < t->n; i++) {
        size_t len = strlen(keys[i]);
        bpe_put_u32(&c, (uint32_t)len);
        sha256_update(&c, len, (const uint8_t *)keys[i]);
    }
    bpe_put_u32(&c, (uint32_t)t->n_merges);
    for (int r = 0; r < t->n_merges; r++) {
        bpe_put_u32(&c, (uint32_t)ids3[3 * r]);
        bpe_put_u32(&c, (uint32_t)ids3[3 * r + 1]);
    }
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_digest(&c, sizeof d, d);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++) snprintf(t->digest + 2 * i, 3, "%02x", d[i]);
}

static int bpe_merge_error(const bpe_src *s, int r, const char *what, const char *tok, char *err,
                           size_t errlen)
{
    char q[128], l[128], rt[128];
    bpe_quote(tok, strlen(tok), q, sizeof q);
    bpe_quote(s->left[r], strlen(s->left[r]), l, sizeof l);
    bpe_quote(s->right[r], strlen(s->right[r]), rt, sizeof rt);
    if (s->where_is_line)
        return errfmt(err, errlen,
                      "%s:%d: merge \"%s %s\": %s \"%s\" is not in the vocabulary (%s)",
                      s->merges_name, s->where[r], l, rt, what, q, s->vocab_name);
    return errfmt(err, errlen, "%s: model.merges[%d] \"%s %s\": %s \"%s\" is not in the vocabulary",
                  s->merges_name, s->where[r], l, rt, what, q);
}

static int bpe_build_merges(bpe *t, const bpe_src *s, const char **keys, char *err, size_t errlen)
{
    uint32_t cap = 1024;
    while (cap < 2u * (uint32_t)s->n_merges + 2) cap <<= 1;
    t->pairs = malloc(cap * sizeof *t->pairs);
    int32_t *ids3 = malloc(((size_t)s->n_merges + 1) * 3 * sizeof *ids3);
    if (!t->pairs || !ids3)
        return free(ids3), errfmt(err, errlen, "%s: out of memory", s->merges_name);
    for (uint32_t i = 0; i < cap; i++) t->pairs[i].rank = -1;
    t->pair_mask = cap - 1;
    t->n_merges = s->n_merges;
    int dup = 0, rc = 0;
    for (int r = 0; r < s->n_merges && rc == 0; r++) {
        int a = bpe_src_id(s, s->left[r]), b = bpe_src_id(s, s->right[r]);
        size_t la = strlen(s->left[r]), lb = strlen(s->right[r]);
        char *prod = malloc(la + lb + 1);
        if (!prod) {
            rc = errfmt(err, errlen, "%s: out of memory", s->merges_name);
            break;
        }
        memcpy(prod, s->left[r], la);
        memcpy(prod + la, s->right[r], lb + 1);
        int p = bpe_src_id(s, prod);
        if (a < 0) rc = bpe_merge_error(s, r, "its left part", s->left[r], err, errlen);
        else if (b < 0) rc = bpe_merge_error(s, r, "its right part", s->right[r], err, errlen);
        else if (p < 0) rc = bpe_merge_error(s, r, "the merged token", prod, err, errlen);
        else {
            ids3[3 * r] = a, ids3[3 * r + 1] = b, ids3[3 * r + 2] = p;
            dup |= bpe_pair_put(t, a, b, r, p);
        }
        free(prod);
    }
    if (rc == 0) {
        t->causal = bpe_check_causal(t, ids3, s->n_merges, dup);
        bpe_make_digest(t, keys, ids3);
    }
    free(ids3);
    return rc;
}

static int bpe_compile(bpe *t, char *err, size_t errlen)
{
    int ec;
    PCRE2_SIZE eo;
    t->re = pcre2_compile((PCRE2_SPTR)bpe_pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                          &ec, &eo, NULL);
    if (!t->re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return errfmt(err, errlen, "GPT-2 pattern: PCRE2 refused it at offset %zu: %s "
                      "(PCRE2 built without Unicode support?)", (size_t)eo, (const char *)msg);
    }
    t->md = pcre2_match_data_create_from_pattern(t->re, NULL);
    t->mctx = pcre2_match_context_create(NULL);
    if (!t->md || !t->mctx) return errfmt(err, errlen, "out of memory compiling the GPT-2 pattern");
    /* JIT when PCRE2 has it (several times faster); the interpreter otherwise. */
    t->jit = pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE) == 0;
    if (t->jit) {
        t->jstack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
        if (t->jstack) pcre2_jit_stack_assign(t->mctx, NULL, t->jstack);
    }
    return 0;
}

static bpe *bpe_build(bpe_src *s, char *err, size_t errlen)
{
    bpe *t = calloc(1, sizeof *t);
    if (!t) return errfmt(err, errlen, "out of memory loading the tokenizer"), NULL;
    const char **keys = bpe_keys_by_id(s, &t->n, err, errlen);
    int rc = keys ? 0 : -1;
    if (rc == 0) rc = bpe_build_vocab(t, s, keys, err, errlen);
    if (rc == 0) rc = bpe_build_merges(t, s, keys, err, errlen);
    if (rc == 0) rc = bpe_compile(t, err, errlen);
    free(keys);
    if (rc) {
        bpe_free(t);
        return NULL;
    }
    return t;
}

bpe *bpe_load_files(const char *vocab_json, const char *merges_txt, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    bpe_src s = {.vocab_name = vocab_json, .merges_name = merges_txt ? merges_txt : vocab_json};
    json_t *root = bpe_json_file(vocab_json, err, errlen);
    if (!root) return NULL;
    int rc = 0;
    if (merges_txt) {
        s.vocab = root;
        if (!json_is_object(root))
            rc = errfmt(err, errlen, "%s: expected a JSON object of token -> id", vocab_json);
        else rc = bpe_parse_merges(&s, merges_txt, err, errlen);
    } else {
        rc = json_is_object(root) ? bpe_parse_tokenizer_json(&s, root, vocab_json, err, errlen)
                                  : errfmt(err, errlen, "%s: expected a JSON object", vocab_json);
    }
    bpe *t = rc ? NULL : bpe_build(&s, err, errlen);
    bpe_src_free(&s);
    json_decref(root);
    return t;
}

static int bpe_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bpe *bpe_load_dir(const char *dir, char *err, size_t errlen)
{
    char v[4096], m[4096], tj[4096];
    if (snprintf(v, sizeof v, "%s/vocab.json", dir) >= (int)sizeof v ||
        snprintf(m, sizeof m, "%s/merges.txt", dir) >= (int)sizeof m ||
        snprintf(tj, sizeof tj, "%s/tokenizer.json", dir) >= (int)sizeof tj)
        return errfmt(err, errlen, "%s: path too long", dir), NULL;
    int hv = bpe_is_file(v), hm = bpe_is_file(m);
    if (hv && hm) return bpe_load_files(v, m, err, errlen);
    if (bpe_is_file(tj)) return bpe_load_files(tj, NULL, err, errlen);
    if (hv || hm)
        return errfmt(err, errlen, "%s: has %s but no %s (nor tokenizer.json); a GPT-2 tokenizer "
                      "needs both", dir, hv ? "vocab.json" : "merges.txt",
                      hv ? "merges.txt" : "vocab.json"), NULL;
    return errfmt(err, errlen, "%s: no tokenizer files (expected vocab.json + merges.txt, or "
                  "tokenizer.json)", dir), NULL;
}

static void bpe_work_release(bpe *t);

void bpe_free(bpe *t)
{
    if (!t) return;
    pcre2_match_data_free(t->md);
    pcre2_match_context_free(t->mctx);
    if (t->jstack) pcre2_jit_stack_free(t->jstack);
    pcre2_code_free(t->re);
    free(t->blob);
    free(t->off);
    free(t->pairs);
    free(t->cache);
    free(t->cbytes);
    free(t->cids);
    bpe_work_release(t);
    free(t);
}

int bpe_vocab_size(const bpe *t) { return t->n; }
int bpe_eot(const bpe *t) { return t->eot; }
const char *bpe_digest(const bpe *t) { return t->digest; }

const char *bpe_token_bytes(const bpe *t, int id, size_t *len)
{
    if (id < 0 || id >= t->n) return NULL;
    *len = t->off[id + 1] - t->off[id];
    return t->blob + t->off[id];
}

/* ---------------------------------------------------------------- encoding */

typedef struct {
    int32_t **ids;
    size_t *n, *cap;
} bpe_out;

static int bpe_push(bpe_out *o, const int32_t *ids, size_t n)
{
    if (*o->n + n > *o->cap) {
        size_t cap = *o->cap ? *o->cap : 1024;
        while (cap < *o->n + n) cap *= 2;
        int32_t *p = realloc(*o->ids, cap * sizeof *p);
        if (!p) return -1;
        *o->ids = p;
        *o->cap = cap;
    }
    memcpy(*o->ids + *o->n, ids, n * sizeof *ids);
    *o->n += n;
    return 0;
}

static int bpe_work_reserve(bpe *t, size_t n)
{
    if (n <= t->work_cap) return 0;
    size_t cap = t->work_cap ? t->work_cap : 256;
    while (cap < n) cap *= 2;
    int32_t *s = realloc(t->sym, cap * sizeof *s);
    if (s) t->sym = s;
    int32_t *p = realloc(t->prev, cap * sizeof *p);
    if (p) t->prev = p;
    int32_t *x = realloc(t->next, cap * sizeof *x);
    if (x) t->next = x;
    uint64_t *h = realloc(t->heap, 3 * cap * sizeof *h);
    if (h) t->heap = h;
    if (!s || !p || !x || !h) return -1;
    t->work_cap = cap;
    return 0;
}

static void bpe_work_release(bpe *t)
{
    free(t->sym);
    free(t->prev);
    free(t->next);
    free(t->heap);
    t->sym = t->prev = t->next = NULL;
    t->heap = NULL;
    t->work_cap = 0;
}

/* encoder.py's bpe(): merge every occurrence of the lowest-ranked pair, left to right, until
 * no pair has a rank. Returns the symbol count left in t->sym. */
static size_t bpe_merge_simple(const bpe *t, size_t n)
{
    int32_t *w = t->sym;
    while (n > 1) {
        const pair_slot *best = NULL;
        for (size_t i = 0; i + 1 < n; i++) {
            const pair_slot *p = bpe_pair_find(t, w[i], w[i + 1]);
            if (p && (!best || p->rank < best->rank)) best = p;
        }
        if (!best) break;
        int32_t a = (int32_t)(best->key >> 32), b = (int32_t)(uint32_t)best->key;
        size_t j = 0;
        for (size_t i = 0; i < n;) {
            if (i + 1 < n && w[i] == a && w[i + 1] == b) {
                w[j++] = best->id;
                i += 2;
            } else w[j++] = w[i++];
        }
        n = j;
    }
    return n;
}

static void bpe_heap_push(uint64_t *h, size_t *n, uint64_t v)
{
    size_t i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] > v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static uint64_t bpe_heap_pop(uint64_t *h, size_t *n)
{
    uint64_t top = h[0], v = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1] < h[c]) c++;
        if (h[c] >= v) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
    return top;
}

static void bpe_heap_pair(const bpe *t, uint64_t *h, size_t *nh, int32_t pos)
{
    int32_t nx = t->next[pos];
    if (nx < 0) return;
    const pair_slot *p = bpe_pair_find(t, t->sym[pos], t->sym[nx]);
    if (p) bpe_heap_push(h, nh, (uint64_t)(uint32_t)p->rank << 32 | (uint32_t)pos);
}

/* The same merges in O(n log n): a heap of (rank, position); an entry whose pair has changed
 * since it was pushed is skipped. Compacts the survivors into t->sym; returns their count. */
static size_t bpe_merge_heap(const bpe *t, size_t n)
{
    uint64_t *h = t->heap;
    size_t nh = 0;
    for (size_t i = 0; i < n; i++) {
        t->prev[i] = (int32_t)i - 1;
        t->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    for (size_t i = 0; i + 1 < n; i++) bpe_heap_pair(t, h, &nh, (int32_t)i);
    while (nh) {
        uint64_t e = bpe_heap_pop(h, &nh);
        int32_t pos = (int32_t)(uint32_t)e, rank = (int32_t)(e >> 32), nx = t->next[pos];
        if (t->prev[pos] == -2 || nx < 0) continue; /* merged away, or last */
        const pair_slot *p = bpe_pair_find(t, t->sym[pos], t->sym[nx]);
        if (!p || p->rank != rank) continue;
        t->sym[pos] = p->id;
        t->next[pos] = t->next[nx];
        if (t->next[nx] >= 0) t->prev[t->next[nx]] = pos;
        t->prev[nx] = -2;
        if (t->prev[pos] >= 0) bpe_heap_pair(t, h, &nh, t->prev[pos]);
        bpe_heap_pair(t, h, &nh, pos);
    }
    size_t j = 0;
    for (int32_t i = 0; i >= 0; i = t->next[i]) t->sym[j++] = t->sym[i];
    return j;
}

static void bpe_cache_clear(bpe *t)
{
    memset(t->cache, 0, CACHE_SLOTS * sizeof *t->cache);
    t->cache_n = 0;
    t->cb_len = t->ci_len = 0;
}

static const cache_slot *bpe_cache_find(const bpe *t, const char *w, size_t n, uint64_t h,
                                        uint32_t *slot)
{
    uint32_t i = (uint32_t)h & (CACHE_SLOTS - 1);
    for (;; i = (i + 1) & (CACHE_SLOTS - 1)) {
        const cache_slot *c = &t->cache[i];
        if (!c->blen) break;
        if (c->h == h && c->blen == n && memcmp(t->cbytes + c->boff, w, n) == 0) return c;
    }
    *slot = i;
    return NULL;
}

/* Remembers a word's ids; a cache that cannot grow just stays as it is. */
static void bpe_cache_put(bpe *t, const char *w, size_t n, uint64_t h, uint32_t slot,
                          const int32_t *ids, size_t nids)
{
    if (t->cb_len + n > t->cb_cap) {
        size_t cap = t->cb_cap ? t->cb_cap * 2 : 1 << 16;
        char *p = realloc(t->cbytes, cap);
        if (!p) return;
        t->cbytes = p, t->cb_cap = cap;
    }
    if (t->ci_len + nids > t->ci_cap) {
        size_t cap = t->ci_cap ? t->ci_cap * 2 : 1 << 16;
        int32_t *p = realloc(t->cids, cap * sizeof *p);
        if (!p) return;
        t->cids = p, t->ci_cap = cap;
    }
    memcpy(t->cbytes + t->cb_len, w, n);
    memcpy(t->cids + t->ci_len, ids, nids * sizeof *ids);
    t->cache[slot] = (cache_slot){h, (uint32_t)t->cb_len, (uint32_t)n, (uint32_t)t->ci_len,
                                  (uint32_t)nids};
    t->cb_len += n, t->ci_len += nids;
    t->cache_n++;
}

/* One pre-token: from the cache, else bytes -> byte symbols -> merges. */
static int bpe_encode_word(bpe *t, const char *w, size_t n, bpe_out *o)
{
    uint64_t h = 0;
    uint32_t slot = 0;
    int cacheable = n <= CACHE_WORD_MAX && t->cache;
    if (cacheable) {
        if (t->cache_n >= CACHE_MAX || t->cb_len > CACHE_ARENA_MAX) bpe_cache_clear(t);
        h = bpe_hash_bytes(w, n);
        const cache_slot *c = bpe_cache_find(t, w, n, h, &slot);
        if (c) return bpe_push(o, t->cids + c->ioff, c->nids);
    }
    if (bpe_work_reserve(t, n)) return -1;
    for (size_t i = 0; i < n; i++) t->sym[i] = t->byte_id[(unsigned char)w[i]];
    size_t m = (n > BPE_SIMPLE_MAX && t->causal) ? bpe_merge_heap(t, n) : bpe_merge_simple(t, n);
    if (cacheable) bpe_cache_put(t, w, n, h, slot, t->sym, m);
    int rc = bpe_push(o, t->sym, m);
    if (n > BPE_WORK_KEEP) bpe_work_release(t); /* 36 bytes per byte of a huge piece */
    return rc;
}

/* Pre-tokenizes one stretch of text without <|endoftext|> and encodes each piece. */
static int bpe_encode_segment(bpe *t, const char *s, size_t n, size_t base, bpe_out *o,
                              char *err, size_t errlen)
{
    size_t pos = 0;
    while (pos < n) {
        /* the text was checked once in bpe_encode: no per-match UTF-8 check */
        const uint32_t opt = PCRE2_NO_UTF_CHECK;
        PCRE2_SPTR subj = (PCRE2_SPTR)s;
        int rc = t->jit ? pcre2_jit_match(t->re, subj, n, pos, opt, t->md, t->mctx)
                        : pcre2_match(t->re, subj, n, pos, opt, t->md, t->mctx);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return errfmt(err, errlen, "pre-tokenizing failed at byte offset %zu: %s", base + pos,
                          (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(t->md);
        if (ov[1] <= ov[0]) { /* cannot happen: no branch matches empty */
            pos = ov[0] + 1;
            continue;
        }
        if (bpe_encode_word(t, s + ov[0], ov[1] - ov[0], o))
            return errfmt(err, errlen, "out of memory encoding text (at byte offset %zu)",
                          base + ov[0]);
        pos = ov[1];
    }
    return 0;
}

int bpe_encode(bpe *t, const char *text, size_t n, int32_t **ids, size_t *n_ids, size_t *cap,
               char *err, size_t errlen)
{
    size_t bad = bpe_utf8_bad((const unsigned char *)text, n);
    if (bad < n)
        return errfmt(err, errlen, "text is not valid UTF-8 at byte offset %zu (byte 0x%02x); "
                      "convert it to UTF-8 first", bad, (unsigned char)text[bad]);
    if (!t->cache) /* allocated on first use; NULL just means encoding without a cache */
        t->cache = calloc(CACHE_SLOTS, sizeof *t->cache);
    bpe_out o = {ids, n_ids, cap};
    size_t elen = 0;
    const char *eot = t->eot >= 0 ? bpe_token_bytes(t, t->eot, &elen) : NULL;
    size_t pos = 0;
    while (pos < n) {
        const char *q = eot && elen ? memmem(text + pos, n - pos, eot, elen) : NULL;
        size_t seg = q ? (size_t)(q - text) - pos : n - pos;
        if (bpe_encode_segment(t, text + pos, seg, pos, &o, err, errlen)) return -1;
        if (!q) break;
        int32_t e = t->eot;
        if (bpe_push(&o, &e, 1)) return errfmt(err, errlen, "out of memory encoding text");
        pos += seg + elen;
    }
    return 0;
}

/* A space after a visible ASCII character starts a piece whatever follows it (only a leading
 * space or a whitespace run can hold a space), and the piece before it ends there whatever
 * follows (no branch crosses a space from a non-space; the look-ahead serves whitespace runs
 * only), so both halves pre-tokenize as the whole does. <|endoftext|> has no space. */
size_t bpe_split_point(const char *text, size_t n, size_t from)
{
    size_t p = from ? from : 1;
    while (p < n) {
        const char *sp = memchr(text + p, ' ', n - p);
        if (!sp) break;
        p = (size_t)(sp - text);
        unsigned char c = (unsigned char)text[p - 1];
        if (c >= 0x21 && c <= 0x7E) return p;
        p++;
    }
    return n;
}

/* ---------------------------------------------------------------- decoding */

size_t bpe_decode(const bpe *t, const int32_t *ids, size_t n, char *out, size_t cap)
{
    static const char fffd[] = "\xEF\xBF\xBD";
    size_t need = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *b = bpe_token_bytes(t, ids[i], &len);
        if (!b) b = fffd, len = 3;
        if (need + 1 < cap) {
            size_t k = len < cap - 1 - need ? len : cap - 1 - need;
            memcpy(out + need, b, k);
        }
        need += len;
    }
    if (cap) out[need < cap ? need : cap - 1] = 0;
    return need;
}
