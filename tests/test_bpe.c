/* test_bpe.c — GPT-2's BPE tokenizer: fixture texts id for id against the Perl reference
 * (scripts/bpe_reference.pl), round trips, datasets/gpt2's invariants, decode's snprintf
 * contract, tokenizer.json in both merge formats, and every bad-input line. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpe.h"
#include "test_deadline.h"

/* sha256 of datasets/gpt2 as bpe_digest serializes it (docs/tokenizer.md) */
#define GPT2_DIGEST "1c4edee9e610f3adb5f80866dc8e5d0d94ed0e452d340718c6902e78e92f78a3"

static char dir[64];
static char err[1024];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/mptui-bpe-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    test_deadline(60);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(bpe, .init = setup, .fini = teardown);

/* The source tree: MPTUI_ROOT (make exports it), else where this test was compiled. */
static const char *root_path(const char *rel)
{
    static char p[4][1024];
    static int k;
    k = (k + 1) % 4;
    const char *root = getenv("MPTUI_ROOT");
    snprintf(p[k], sizeof p[k], "%s/%s", root && *root ? root : MPTUI_SOURCE_DIR, rel);
    return p[k];
}

static const char *at(const char *name)
{
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static void put(const char *path, const char *text, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(text, 1, n, f), n);
    fclose(f);
}

static void puts_file(const char *path, const char *text) { put(path, text, strlen(text)); }

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = 0;
    fclose(f);
    *n = (size_t)len;
    return buf;
}

static bpe *gpt2(void)
{
    bpe *t = bpe_load_dir(root_path("datasets/gpt2"), err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    return t;
}

typedef struct {
    int32_t *ids;
    size_t n, cap;
} idvec;

static void enc(bpe *t, const char *s, size_t n, idvec *v)
{
    int rc = bpe_encode(t, s, n, &v->ids, &v->n, &v->cap, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
}

static void expect_ids(bpe *t, const char *s, const int32_t *want, size_t nw)
{
    idvec v = {0};
    enc(t, s, strlen(s), &v);
    cr_assert_eq(v.n, nw, "\"%s\": %zu ids, want %zu", s, v.n, nw);
    for (size_t i = 0; i < nw; i++)
        cr_assert_eq(v.ids[i], want[i], "\"%s\" id %zu: %d, want %d", s, i, v.ids[i], want[i]);
    free(v.ids);
}

static const char *const fixtures[] = {
    "english", "code_python", "code_c", "whitespace", "contractions", "cjk", "emoji", "crlf",
    "digits", "endoftext", "accented", "unicode_spaces", "controls", "long_words",
    "corpus_excerpt", "empty",
};
enum { N_FIXTURES = sizeof fixtures / sizeof *fixtures };

/* A fixture's expected ids: decimal, whitespace-separated. */
static int32_t *fixture_ids(const char *name, size_t *n)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tests/fixtures/bpe/%s.ids", name);
    size_t len;
    char *s = slurp(root_path(rel), &len);
    size_t cap = len / 2 + 1, k = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    for (char *p = s, *e; *p; p = e) {
        long v = strtol(p, &e, 10);
        if (e == p) break;
        ids[k++] = (int32_t)v;
    }
    free(s);
    *n = k;
    return ids;
}

static char *fixture_text(const char *name, size_t *n)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tests/fixtures/bpe/%s.txt", name);
    return slurp(root_path(rel), n);
}

Test(bpe, known_gpt2_ids)
{
    bpe *t = gpt2();
    expect_ids(t, "Hello world", (int32_t[]){15496, 995}, 2);
    expect_ids(t, "hello world", (int32_t[]){31373, 995}, 2);
    expect_ids(t, " the", (int32_t[]){262}, 1);
    expect_ids(t, "<|endoftext|>", (int32_t[]){50256}, 1);
    expect_ids(t, "The", (int32_t[]){464}, 1);
    expect_ids(t, " The", (int32_t[]){383}, 1);
    expect_ids(t, "\n\n", (int32_t[]){628}, 1);
    expect_ids(t, "I'm", (int32_t[]){40, 1101}, 2);
    expect_ids(t, "GPT-2", (int32_t[]){38, 11571, 12, 17}, 4);
    expect_ids(t, "", NULL, 0);
    bpe_free(t);
}

/* Every fixture id for id, all through one tokenizer (its word cache warm from the earlier
 * ones), then again in a fresh one. */
Test(bpe, fixtures_match_reference)
{
    for (int pass = 0; pass < 2; pass++) {
        bpe *t = gpt2();
        for (int f = pass; f < N_FIXTURES; f++) {
            size_t nt, nw;
            char *text = fixture_text(fixtures[f], &nt);
            int32_t *want = fixture_ids(fixtures[f], &nw);
            idvec v = {0};
            enc(t, text, nt, &v);
            for (size_t i = 0; i < nw && i < v.n; i++)
                cr_assert_eq(v.ids[i], want[i], "%s.txt: id %zu is %d, the reference has %d",
                             fixtures[f], i, v.ids[i], want[i]);
            cr_assert_eq(v.n, nw, "%s.txt: %zu ids, the reference has %zu", fixtures[f], v.n, nw);
            free(v.ids);
            free(want);
            free(text);
        }
        bpe_free(t);
    }
}

Test(bpe, fixtures_round_trip)
{
    bpe *t = gpt2();
    for (int f = 0; f < N_FIXTURES; f++) {
        size_t nt;
        char *text = fixture_text(fixtures[f], &nt);
        idvec v = {0};
        enc(t, text, nt, &v);
        size_t need = bpe_decode(t, v.ids, v.n, NULL, 0);
        cr_assert_eq(need, nt, "%s.txt: decodes to %zu bytes, not %zu", fixtures[f], need, nt);
        char *out = malloc(need + 1);
        cr_assert_eq(bpe_decode(t, v.ids, v.n, out, need + 1), nt);
        cr_assert_eq(memcmp(out, text, nt), 0, "%s.txt does not round-trip", fixtures[f]);
        cr_assert_eq(out[nt], 0);
        free(out);
        free(v.ids);
        free(text);
    }
    bpe_free(t);
}

/* Encoding appends; the same text gives the same ids with the cache cold, warm, and after it
 * was cleared by more distinct words than it holds. */
Test(bpe, cache_and_append)
{
    bpe *t = gpt2();
    size_t nt, nw;
    char *text = fixture_text("english", &nt);
    int32_t *want = fixture_ids("english", &nw);
    idvec v = {0};
    enc(t, text, nt, &v);
    enc(t, text, nt, &v);
    cr_assert_eq(v.n, 2 * nw);
    for (size_t i = 0; i < nw; i++) cr_assert_eq(v.ids[nw + i], want[i], "warm id %zu", i);
    /* 100000 distinct words: the cache clears itself on the way */
    size_t cap = 100000 * 12, len = 0;
    char *many = malloc(cap);
    for (int i = 0; i < 100000; i++) len += (size_t)snprintf(many + len, cap - len, " w%dq", i);
    idvec m = {0};
    enc(t, many, len, &m);
    cr_assert_gt(m.n, 100000u);
    size_t need = bpe_decode(t, m.ids, m.n, NULL, 0);
    char *back = malloc(need + 1);
    bpe_decode(t, m.ids, m.n, back, need + 1);
    cr_assert_eq(need, len);
    cr_assert_eq(memcmp(back, many, len), 0);
    v.n = 0;
    enc(t, text, nt, &v);
    cr_assert_eq(v.n, nw);
    for (size_t i = 0; i < nw; i++) cr_assert_eq(v.ids[i], want[i], "after clearing: id %zu", i);
    free(back);
    free(m.ids);
    free(many);
    free(v.ids);
    free(want);
    free(text);
    bpe_free(t);
}

/* GPT-2's bytes_to_unicode, inverted: the byte a vocabulary character stands for. */
static int byte_of_char(unsigned cp)
{
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        unsigned c = printable ? (unsigned)b : 256u + (unsigned)n++;
        if (c == cp) return b;
    }
    return -1;
}

/* A merges.txt symbol as the bytes it stands for. */
static size_t symbol_bytes(const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        unsigned cp;
        if (c < 0x80) cp = c, i += 1;
        else cp = (unsigned)(c & 31) << 6 | (s[i + 1] & 63), i += 2; /* all below U+0800 */
        int b = byte_of_char(cp);
        cr_assert_geq(b, 0, "U+%04X is not a byte symbol", cp);
        out[k++] = (char)b;
    }
    return k;
}

/* datasets/gpt2: 50257 entries, ids 0-255 the bytes in GPT-2's order, id 256 + r the product
 * of merge r, 50256 <|endoftext|>. */
Test(bpe, gpt2_vocab_and_merges_consistent)
{
    bpe *t = gpt2();
    cr_assert_eq(bpe_vocab_size(t), 50257);
    cr_assert_eq(bpe_eot(t), 50256);
    int seen[256] = {0};
    for (int id = 0; id < 256; id++) {
        size_t len;
        const char *b = bpe_token_bytes(t, id, &len);
        cr_assert_eq(len, 1u, "id %d", id);
        seen[(unsigned char)b[0]]++;
    }
    for (int b = 0; b < 256; b++) cr_assert_eq(seen[b], 1, "byte 0x%02x", b);
    size_t n;
    char *m = slurp(root_path("datasets/gpt2/merges.txt"), &n);
    int r = 0;
    char *line = strchr(m, '\n') + 1; /* after #version */
    while (*line) {
        char *nl = strchr(line, '\n'), *sp = strchr(line, ' ');
        cr_assert(nl && sp && sp < nl, "merges line %d", r + 2);
        char want[256];
        size_t k = symbol_bytes(line, (size_t)(sp - line), want);
        k += symbol_bytes(sp + 1, (size_t)(nl - sp - 1), want + k);
        size_t len;
        const char *got = bpe_token_bytes(t, 256 + r, &len);
        cr_assert(got && len == k && memcmp(got, want, k) == 0, "merge %d is not id %d", r,
                  256 + r);
        r++;
        line = nl + 1;
    }
    cr_assert_eq(r, 50000);
    free(m);
    bpe_free(t);
}

static void expect_bytes(const bpe *t, int id, const char *want, size_t wn)
{
    size_t len = 99;
    const char *b = bpe_token_bytes(t, id, &len);
    cr_assert_not_null(b, "id %d", id);
    cr_assert_eq(len, wn, "id %d: %zu bytes", id, len);
    cr_assert_eq(memcmp(b, want, wn), 0, "id %d", id);
}

Test(bpe, token_bytes)
{
    bpe *t = gpt2();
    expect_bytes(t, 0, "!", 1);
    expect_bytes(t, 188, "\0", 1);
    expect_bytes(t, 220, " ", 1);
    expect_bytes(t, 198, "\n", 1);
    expect_bytes(t, 255, "\xad", 1);
    expect_bytes(t, 256, " t", 2);
    expect_bytes(t, 262, " the", 4);
    expect_bytes(t, 15496, "Hello", 5);
    expect_bytes(t, 50256, "<|endoftext|>", 13);
    size_t len = 7;
    cr_assert_null(bpe_token_bytes(t, -1, &len));
    cr_assert_null(bpe_token_bytes(t, 50257, &len));
    bpe_free(t);
}

Test(bpe, decode_is_snprintf_like)
{
    bpe *t = gpt2();
    int32_t ids[] = {15496, 995, 50256};
    char out[64];
    memset(out, 'x', sizeof out);
    cr_assert_eq(bpe_decode(t, ids, 3, out, sizeof out), 24u);
    cr_assert_str_eq(out, "Hello world<|endoftext|>");
    memset(out, 'x', sizeof out);
    cr_assert_eq(bpe_decode(t, ids, 3, out, 8), 24u); /* cut mid-token, NUL at out[7] */
    cr_assert_str_eq(out, "Hello w");
    cr_assert_eq(out[8], 'x');
    memset(out, 'x', sizeof out);
    cr_assert_eq(bpe_decode(t, ids, 3, out, 1), 24u);
    cr_assert_eq(out[0], 0);
    cr_assert_eq(out[1], 'x');
    cr_assert_eq(bpe_decode(t, ids, 3, NULL, 0), 24u);
    cr_assert_eq(bpe_decode(t, ids, 0, out, sizeof out), 0u);
    cr_assert_str_eq(out, "");
    int32_t bad[] = {31373, -5, 50257, 995};
    cr_assert_eq(bpe_decode(t, bad, 4, out, sizeof out), 5u + 3 + 3 + 6);
    cr_assert_str_eq(out, "hello\xEF\xBF\xBD\xEF\xBF\xBD world");
    /* a character split over tokens decodes whole once they are joined */
    idvec v = {0};
    enc(t, "\xF0\x9F\x91\x8D", 4, &v); /* 👍 */
    cr_assert_gt(v.n, 1u);
    cr_assert_eq(bpe_decode(t, v.ids, v.n, out, sizeof out), 4u);
    cr_assert_str_eq(out, "\xF0\x9F\x91\x8D");
    free(v.ids);
    bpe_free(t);
}

Test(bpe, digest)
{
    bpe *t = gpt2();
    const char *d = bpe_digest(t);
    cr_assert_eq(strlen(d), 64u);
    cr_assert_eq(strspn(d, "0123456789abcdef"), 64u);
    /* pinned: the serialization (docs/tokenizer.md) of GPT-2's vocabulary and merges */
    cr_assert_str_eq(d, GPT2_DIGEST);
    cr_assert_str_eq(BPE_GPT2_DIGEST, GPT2_DIGEST);
    bpe_free(t);
}

/* ---- small vocabularies written by the tests */

/* GPT-2's 256 byte symbols at ids 0..255, then `extra` tokens at 256.. */
static json_t *byte_vocab(const char *const *extra, int n_extra)
{
    json_t *v = json_object();
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        if (!printable) continue;
        char u[3] = {0};
        if (b < 0x80) u[0] = (char)b;
        else u[0] = (char)(0xC0 | b >> 6), u[1] = (char)(0x80 | (b & 63));
        json_object_set_new(v, u, json_integer(n++));
    }
    for (int b = 0, k = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        if (printable) continue;
        unsigned cp = 256u + (unsigned)k++;
        char u[3] = {(char)(0xC0 | cp >> 6), (char)(0x80 | (cp & 63)), 0};
        json_object_set_new(v, u, json_integer(n++));
    }
    for (int i = 0; i < n_extra; i++) json_object_set_new(v, extra[i], json_integer(n++));
    return v;
}

static void write_json(const char *path, json_t *j)
{
    cr_assert_eq(json_dump_file(j, path, JSON_COMPACT), 0, "%s", path);
    json_decref(j);
}

static const char *const small_extra[] = {"he", "ll", "hell", "hello", "Ġw", "<|endoftext|>"};
static const char small_merges[] = "#version: 0.2\nh e\nl l\nhe ll\nhell o\nĠ w\n";

static void write_small(void)
{
    write_json(at("vocab.json"), byte_vocab(small_extra, 6));
    puts_file(at("merges.txt"), small_merges);
}

static bpe *load_small(void)
{
    bpe *t = bpe_load_dir(dir, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    return t;
}

/* "hello world<|endoftext|>": hello (259), Ġw (260), o r l d as bytes, then the separator */
static void expect_small_ids(bpe *t)
{
    cr_assert_eq(bpe_vocab_size(t), 262);
    cr_assert_eq(bpe_eot(t), 261);
    expect_ids(t, "hello world<|endoftext|>", (int32_t[]){259, 260, 78, 81, 75, 67, 261}, 7);
}

Test(bpe, small_vocab_and_merges)
{
    write_small();
    bpe *t = load_small();
    expect_small_ids(t);
    bpe_free(t);
}

static void write_tokenizer_json(int arrays, int eot_in_added_only)
{
    json_t *vocab = byte_vocab(small_extra, eot_in_added_only ? 5 : 6);
    json_t *merges = json_array();
    const char *pairs[][2] = {{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"Ġ", "w"}};
    for (int i = 0; i < 5; i++) {
        if (arrays) json_array_append_new(merges, json_pack("[ss]", pairs[i][0], pairs[i][1]));
        else {
            char s[32];
            snprintf(s, sizeof s, "%s %s", pairs[i][0], pairs[i][1]);
            json_array_append_new(merges, json_string(s));
        }
    }
    json_t *root = json_pack("{s:[{s:i,s:s,s:b}],s:{s:s,s:o,s:o}}", "added_tokens", "id", 261,
                             "content", "<|endoftext|>", "special", 1, "model", "type", "BPE",
                             "vocab", vocab, "merges", merges);
    cr_assert_not_null(root);
    write_json(at("tokenizer.json"), root);
}

Test(bpe, tokenizer_json_both_merge_formats)
{
    write_small();
    bpe *ref = load_small();
    char want[65];
    strcpy(want, bpe_digest(ref));
    bpe_free(ref);
    unlink(at("vocab.json"));
    unlink(at("merges.txt"));
    for (int arrays = 0; arrays < 2; arrays++)
        for (int added_only = 0; added_only < 2; added_only++) {
            write_tokenizer_json(arrays, added_only);
            bpe *t = load_small(); /* the folder has only tokenizer.json now */
            expect_small_ids(t);
            cr_assert_str_eq(bpe_digest(t), want, "arrays=%d added_only=%d", arrays, added_only);
            bpe_free(t);
            t = bpe_load_files(at("tokenizer.json"), NULL, err, sizeof err);
            cr_assert_not_null(t, "%s", err);
            bpe_free(t);
        }
}

Test(bpe, load_dir_prefers_vocab_and_merges)
{
    write_tokenizer_json(0, 0);
    /* vocab.json + merges.txt with one merge fewer: these must be the ones read */
    write_json(at("vocab.json"), byte_vocab(small_extra, 6));
    puts_file(at("merges.txt"), "#version: 0.2\nh e\nl l\nhe ll\nhell o\n");
    bpe *t = load_small();
    expect_ids(t, " w", (int32_t[]){220, 86}, 2);
    bpe_free(t);
}

Test(bpe, digest_follows_content)
{
    write_small();
    bpe *a = load_small();
    puts_file(at("merges.txt"), "#version: 0.2\nl l\nh e\nhe ll\nhell o\nĠ w\n");
    bpe *b = load_small();
    cr_assert_str_neq(bpe_digest(a), bpe_digest(b), "merge order is part of the model");
    /* CRLF line ends and no #version line: the same model */
    puts_file(at("merges.txt"), "h e\r\nl l\r\nhe ll\r\nhell o\r\nĠ w\r\n");
    bpe *c = load_small();
    cr_assert_str_eq(bpe_digest(a), bpe_digest(c));
    bpe_free(a);
    bpe_free(b);
    bpe_free(c);
}

/* ---- bad input: one line each */

static void expect_load_error(const char *want)
{
    bpe *t = bpe_load_dir(dir, err, sizeof err);
    cr_assert_null(t);
    cr_assert_str_eq(err, want);
}

static void expect_merges_error(const char *merges, const char *want_fmt)
{
    write_json(at("vocab.json"), byte_vocab(small_extra, 6));
    puts_file(at("merges.txt"), merges);
    char want[1024];
    snprintf(want, sizeof want, want_fmt, dir, dir);
    expect_load_error(want);
}

Test(bpe, bad_folders)
{
    char want[1024];
    snprintf(want, sizeof want,
             "%s: no tokenizer files (expected vocab.json + merges.txt, or tokenizer.json)", dir);
    expect_load_error(want);
    write_json(at("vocab.json"), byte_vocab(NULL, 0));
    snprintf(want, sizeof want,
             "%s: has vocab.json but no merges.txt (nor tokenizer.json); a GPT-2 tokenizer needs "
             "both", dir);
    expect_load_error(want);
    cr_assert_null(bpe_load_files(at("nope.json"), at("nope.txt"), err, sizeof err));
    snprintf(want, sizeof want, "%s/nope.json: cannot open: No such file or directory", dir);
    cr_assert_str_eq(err, want);
    cr_assert_null(bpe_load_files(at("vocab.json"), at("nope.txt"), err, sizeof err));
    snprintf(want, sizeof want, "%s/nope.txt: cannot open: No such file or directory", dir);
    cr_assert_str_eq(err, want);
}

Test(bpe, malformed_json)
{
    puts_file(at("vocab.json"), "{\"a\": 0,\n \"b\": }");
    puts_file(at("merges.txt"), "");
    char want[1024];
    snprintf(want, sizeof want, "%s/vocab.json:2:7: malformed JSON: unexpected token near '}'",
             dir);
    expect_load_error(want);
    puts_file(at("vocab.json"), "[1, 2]");
    snprintf(want, sizeof want, "%s/vocab.json: expected a JSON object of token -> id", dir);
    expect_load_error(want);
    unlink(at("vocab.json"));
    unlink(at("merges.txt"));
    puts_file(at("tokenizer.json"), "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}");
    snprintf(want, sizeof want,
             "%s/tokenizer.json: model.type is \"WordPiece\"; only a BPE tokenizer is read", dir);
    expect_load_error(want);
    puts_file(at("tokenizer.json"), "{\"version\": \"1.0\"}");
    snprintf(want, sizeof want,
             "%s/tokenizer.json: no \"model\" object (not a Hugging Face tokenizer.json?)", dir);
    expect_load_error(want);
    puts_file(at("tokenizer.json"), "{\"model\": {\"vocab\": {}, \"merges\": [\"a b\", 7]}}");
    snprintf(want, sizeof want, "%s/tokenizer.json: model.merges[1]: expected \"LEFT RIGHT\" or "
             "[\"LEFT\", \"RIGHT\"]", dir);
    expect_load_error(want);
}

Test(bpe, bad_merges_lines)
{
    expect_merges_error("#version: 0.2\nh e\nhe\n",
                        "%s/merges.txt:3: expected two symbols separated by one space, got \"he\"");
    expect_merges_error("#version: 0.2\nh e l\n", "%s/merges.txt:2: expected two symbols "
                        "separated by one space, got \"h e l\"");
    expect_merges_error("h  e\n", "%s/merges.txt:1: expected two symbols separated by one space, "
                        "got \"h  e\"");
    expect_merges_error("h e\nh\te\n", "%s/merges.txt:2: expected two symbols separated by one "
                        "space, got \"h\\x09e\"");
    expect_merges_error("h e\nq zz\n", "%s/merges.txt:2: merge \"q zz\": its right part \"zz\" is "
                        "not in the vocabulary (%s/vocab.json)");
    expect_merges_error("h e\nzz q\n", "%s/merges.txt:2: merge \"zz q\": its left part \"zz\" is "
                        "not in the vocabulary (%s/vocab.json)");
    expect_merges_error("h e\n\nh o\n", "%s/merges.txt:3: merge \"h o\": the merged token \"ho\" "
                        "is not in the vocabulary (%s/vocab.json)");
    expect_merges_error("h e\n\xff\xfe\n", "%s/merges.txt: not valid UTF-8 at byte offset 4");
    put(at("merges.txt"), "h e\nh\0 e\n", 8);
    char want[1024];
    snprintf(want, sizeof want, "%s/merges.txt:2: expected two symbols separated by one space, "
             "got \"h\\x00 e\"", dir);
    expect_load_error(want);
}

Test(bpe, bad_vocab_ids)
{
    char want[1024];
    puts_file(at("merges.txt"), "");
    json_t *v = byte_vocab(small_extra, 2);
    json_object_set_new(v, "ll", json_integer(300));
    write_json(at("vocab.json"), v);
    snprintf(want, sizeof want, "%s/vocab.json: token \"ll\" has id 300, outside 0..257 (ids must "
             "be 0..n-1, each once)", dir);
    expect_load_error(want);
    v = byte_vocab(small_extra, 2);
    json_object_set_new(v, "ll", json_integer(5));
    write_json(at("vocab.json"), v);
    snprintf(want, sizeof want, "%s/vocab.json: id 5 is given to both \"&\" and \"ll\"", dir);
    expect_load_error(want);
    v = byte_vocab(small_extra, 2);
    json_object_set_new(v, "ll", json_string("257"));
    write_json(at("vocab.json"), v);
    snprintf(want, sizeof want, "%s/vocab.json: token \"ll\": its id is not an integer", dir);
    expect_load_error(want);
    v = byte_vocab(small_extra, 2);
    json_object_del(v, "Ġ");
    json_object_set_new(v, "ll", json_integer(220));
    write_json(at("vocab.json"), v);
    snprintf(want, sizeof want, "%s/vocab.json: the symbol \"Ġ\" for byte 0x20 is missing (a "
             "GPT-2 byte-level vocabulary has all 256)", dir);
    expect_load_error(want);
}

Test(bpe, invalid_utf8_text)
{
    bpe *t = gpt2();
    idvec v = {0};
    static const char *const bad[] = {
        "abc\xff", "ok \xc3", "\xc0\xaf", "x\xed\xa0\x80", "xy\xf4\x90\x80\x80", "é\x80",
    };
    static const size_t at_byte[] = {3, 3, 0, 1, 2, 2};
    static const unsigned char byte[] = {0xff, 0xc3, 0xc0, 0xed, 0xf4, 0x80};
    for (int i = 0; i < 6; i++) {
        int rc = bpe_encode(t, bad[i], strlen(bad[i]), &v.ids, &v.n, &v.cap, err, sizeof err);
        cr_assert_eq(rc, -1);
        char want[256];
        snprintf(want, sizeof want, "text is not valid UTF-8 at byte offset %zu (byte 0x%02x); "
                 "convert it to UTF-8 first", at_byte[i], byte[i]);
        cr_assert_str_eq(err, want);
        cr_assert_eq(v.n, 0u, "nothing is appended");
    }
    free(v.ids);
    bpe_free(t);
}

/* A merge that uses a later merge's product: the heap would merge "ab a" as soon as the first
 * "ab" forms; encoder.py merges every "a b" first. Such files keep encoder.py's loop on long
 * words too. */
Test(bpe, non_causal_merges_follow_encoder_py)
{
    static const char *const extra[] = {"ab", "aba"};
    write_json(at("vocab.json"), byte_vocab(extra, 2));
    puts_file(at("merges.txt"), "ab a\na b\n");
    bpe *t = load_small();
    for (int len = 8; len <= 200; len += 96) { /* below and above the heap's threshold */
        char text[256];
        int32_t want[128];
        for (int i = 0; i < len; i++) text[i] = i % 2 ? 'b' : 'a';
        text[len] = 0;
        for (int i = 0; i < len / 2; i++) want[i] = 256;
        expect_ids(t, text, want, (size_t)len / 2);
    }
    bpe_free(t);
}

Test(bpe, tokenizer_json_bad_merge_and_foreign_added_token)
{
    char want[1024];
    json_t *root = json_pack("{s:{s:o,s:[ss]}}", "model", "vocab", byte_vocab(small_extra, 5),
                             "merges", "h e", "q zz");
    write_json(at("tokenizer.json"), root);
    snprintf(want, sizeof want, "%s/tokenizer.json: model.merges[1] \"q zz\": its right part "
             "\"zz\" is not in the vocabulary", dir);
    expect_load_error(want);
    /* an added token with an id inside the vocabulary is that entry: no separator here */
    root = json_pack("{s:[{s:i,s:s}],s:{s:o,s:[s]}}", "added_tokens", "id", 5, "content",
                     "<|endoftext|>", "model", "vocab", byte_vocab(small_extra, 5), "merges",
                     "h e");
    write_json(at("tokenizer.json"), root);
    bpe *t = load_small();
    cr_assert_eq(bpe_eot(t), -1);
    cr_assert_eq(bpe_vocab_size(t), 261);
    expect_ids(t, "<|", (int32_t[]){27, 91}, 2);
    bpe_free(t);
}

/* Encoding in chunks cut at bpe_split_point gives the whole text's ids, for every fixture and
 * several chunk sizes. */
Test(bpe, chunks_at_split_points_encode_as_whole)
{
    bpe *t = gpt2();
    static const size_t steps[] = {1, 7, 64, 1000};
    for (int f = 0; f < N_FIXTURES; f++) {
        size_t nt, nw;
        char *text = fixture_text(fixtures[f], &nt);
        int32_t *want = fixture_ids(fixtures[f], &nw);
        for (int s = 0; s < 4; s++) {
            idvec v = {0};
            size_t cuts = 0;
            for (size_t a = 0; a < nt;) {
                size_t b = bpe_split_point(text, nt, a + steps[s]);
                cr_assert(b > a && b <= nt, "%s: split %zu after %zu", fixtures[f], b, a);
                cr_assert(b == nt || (text[b] == ' ' && text[b - 1] > ' '));
                enc(t, text + a, b - a, &v);
                a = b;
                cuts++;
            }
            cr_assert_eq(v.n, nw, "%s in chunks of >= %zu: %zu ids, want %zu", fixtures[f],
                         steps[s], v.n, nw);
            for (size_t i = 0; i < nw; i++)
                cr_assert_eq(v.ids[i], want[i], "%s in chunks of >= %zu: id %zu", fixtures[f],
                             steps[s], i);
            int prose = !strcmp(fixtures[f], "english") || !strcmp(fixtures[f], "corpus_excerpt");
            if (steps[s] == 1 && prose)
                cr_assert_gt(cuts, 50u, "%s: %zu chunks", fixtures[f], cuts);
            free(v.ids);
        }
        free(want);
        free(text);
    }
    cr_assert_eq(bpe_split_point("abc", 3, 0), 3u);
    cr_assert_eq(bpe_split_point("a b", 3, 0), 1u);
    cr_assert_eq(bpe_split_point("a b", 3, 2), 3u);
    cr_assert_eq(bpe_split_point("\n b", 3, 0), 3u, "not after whitespace");
    cr_assert_eq(bpe_split_point("\xc3\xa9 b", 4, 0), 4u, "not after a non-ASCII character");
    bpe_free(t);
}
