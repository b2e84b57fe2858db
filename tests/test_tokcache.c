/* test_tokcache.c — UTF-8 checking, digests, cache names, chunked encoding equal to one
 * encode, and llm.c token files written atomically and read back (docs/data.md). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data.h"
#include "test_deadline.h"
#include "tokcache.h"

static char tmpdir[256];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mptui_test_tokcache_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(tokcache, .init = setup, .fini = teardown);

static int utf8_ok(const char *s, size_t n, size_t *off, size_t *line)
{
    return tokcache_check_utf8((const unsigned char *)s, n, off, line);
}

Test(tokcache, utf8_accepts_every_length)
{
    const char s[] = "a\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf"; /* a é 中 😀 U+10FFFF */
    cr_assert_eq(utf8_ok(s, sizeof s - 1, NULL, NULL), 0);
    cr_assert_eq(tokcache_utf8_len((const unsigned char *)s + 1, 2), 2);
    cr_assert_eq(tokcache_utf8_len((const unsigned char *)s + 3, 3), 3);
    cr_assert_eq(tokcache_utf8_len((const unsigned char *)s + 6, 4), 4);
    cr_assert_eq(tokcache_utf8_len((const unsigned char *)s + 6, 3), 0, "cut short");
}

Test(tokcache, utf8_refuses_with_offset_and_line)
{
    static const struct { const char *s; size_t off; } bad[] = {
        {"ab\ncd\xff", 5},           /* not a UTF-8 byte */
        {"x\n\ny\x80", 4},           /* a lone continuation */
        {"\xc0\xaf", 0},             /* overlong '/' */
        {"\xe0\x80\xaf", 0},         /* overlong, 3 bytes */
        {"ok\xed\xa0\x80", 2},       /* a UTF-16 surrogate */
        {"\xf4\x90\x80\x80", 0},     /* past U+10FFFF */
        {"\xe4\xb8", 0},             /* cut at the end */
        {"\xe4" "a\xad", 0},         /* continuation missing */
    };
    static const size_t lines[] = {2, 3, 1, 1, 1, 1, 1, 1};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t off = 99, line = 99;
        cr_assert_eq(utf8_ok(bad[i].s, strlen(bad[i].s), &off, &line), -1, "case %zu", i);
        cr_assert_eq(off, bad[i].off, "case %zu: offset %zu", i, off);
        cr_assert_eq(line, lines[i], "case %zu: line %zu", i, line);
    }
}

Test(tokcache, digest_is_sha256)
{
    char hex[65];
    tokcache_digest("abc", 3, hex); /* FIPS 180-2 test vector */
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    tokcache_digest("", 0, hex);
    cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

Test(tokcache, path_names_text_and_tokenizer)
{
    char p[128];
    cr_assert_eq(tokcache_path(p, sizeof p, "/o/token-cache", "in.txt",
                               "0123456789abcdef", "fedcba9876543210"), 0);
    cr_assert_str_eq(p, "/o/token-cache/in.txt.0123456789ab.fedcba987654.bin");
    cr_assert_eq(tokcache_path(p, 20, "/o/token-cache", "in.txt", "01", "02"), -1);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n + 1);
    cr_assert_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

Test(tokcache, bin_file_layout)
{
    char path[300], err[256];
    snprintf(path, sizeof path, "%s/t.bin", tmpdir);
    int32_t tok[5000];
    for (int i = 0; i < 5000; i++) tok[i] = (i * 7919) % 65536; /* crosses the 8 KiB buffer */
    cr_assert_eq(tokcache_write_bin(path, tok, 5000, err, sizeof err), 0, "%s", err);
    size_t n;
    unsigned char *b = slurp(path, &n);
    cr_assert_eq(n, 1024 + 2 * 5000);
    cr_assert_eq(le32(b), 20240520u);
    cr_assert_eq(le32(b + 4), 1u);
    cr_assert_eq(le32(b + 8), 5000u);
    for (int i = 3; i < 256; i++) cr_assert_eq(le32(b + 4 * i), 0u);
    for (int i = 0; i < 5000; i++)
        cr_assert_eq(b[1024 + 2 * i] | b[1024 + 2 * i + 1] << 8, tok[i], "token %d", i);
    free(b);
    /* and data_load reads it back as the same tokens */
    dataset d;
    cr_assert_eq(data_load(&d, path, NULL, 10, 65536, 8, err, sizeof err), 0, "%s", err);
    cr_assert_eq(d.n_train + d.n_val, 5000);
    cr_assert_eq(d.train[4321], tok[4321]);
    data_free(&d);
}

Test(tokcache, bin_refuses_what_16_bits_cannot_hold)
{
    char path[300], err[256];
    snprintf(path, sizeof path, "%s/t.bin", tmpdir);
    int32_t tok[3] = {1, 65536, 2};
    cr_assert_eq(tokcache_write_bin(path, tok, 3, err, sizeof err), -1);
    cr_assert(strstr(err, "token 65536 at position 1 does not fit the file's 16 bits"), "%s", err);
    cr_assert_eq(tokcache_write_bin(path, tok, 0, err, sizeof err), -1);
    cr_assert(strstr(err, "0 tokens; an llm.c file holds 1 to"), "%s", err);
    cr_assert_eq(access(path, F_OK), -1, "nothing written");
    snprintf(path, sizeof path, "%s/no/such/dir/t.bin", tmpdir);
    cr_assert_eq(tokcache_write_bin(path, tok, 1, err, sizeof err), -1);
    cr_assert(strstr(err, "cannot write (No such file or directory)"), "%s", err);
}

static bpe *gpt2(void)
{
    const char *dir = data_gpt2_tokenizer_dir();
    cr_assert_not_null(dir, "datasets/gpt2 not found");
    char err[256];
    bpe *t = bpe_load_dir(dir, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    return t;
}

typedef struct { size_t calls, last; } prog;

static void count(void *ctx, size_t done, size_t total)
{
    prog *p = ctx;
    cr_assert(done > p->last && done <= total);
    p->calls++;
    p->last = done;
}

/* Text of about 3 MiB cut into chunks after newlines: the ids equal one bpe_encode, and the
 * progress rises to the total. The text mixes the cases a cut must not change: runs of
 * newlines, indentation, and lines that start with a space or a non-ASCII letter. */
Test(tokcache, chunks_equal_one_encode)
{
    test_deadline(120);
    static const char *lines[] = {
        "First Citizen:\n", "Before we proceed any further, hear me speak.\n", "\n\n",
        "    indented = code(1, 2)\n", " starts with a space\n", "\xc3\xa9t\xc3\xa9 \xe4\xb8\xad\n",
        "\t\ttabs\r\n", "It's 12:30 -- don't!\n", "<|endoftext|>\n",
    };
    size_t cap = 3u << 20, n = 0, k = 0;
    char *text = malloc(cap + 64);
    while (n < cap) {
        const char *l = lines[k++ % (sizeof lines / sizeof *lines)];
        memcpy(text + n, l, strlen(l));
        n += strlen(l);
    }
    bpe *t = gpt2();
    int32_t *whole = NULL, *chunked = NULL;
    size_t nw = 0, cw = 0, nc = 0;
    char err[256];
    cr_assert_eq(bpe_encode(t, text, n, &whole, &nw, &cw, err, sizeof err), 0, "%s", err);
    prog p = {0, 0};
    cr_assert_eq(tokcache_encode(t, (const unsigned char *)text, n, count, &p, &chunked, &nc,
                                 err, sizeof err), 0, "%s", err);
    cr_assert_geq(p.calls, 3, "%zu progress calls", p.calls);
    cr_assert_eq(p.last, n);
    cr_assert_eq(nc, nw);
    cr_assert_eq(memcmp(whole, chunked, nw * sizeof *whole), 0);
    free(whole);
    free(chunked);
    free(text);
    bpe_free(t);
}

static const char *write_file(const char *name, const char *s)
{
    static char p[8][300];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    FILE *f = fopen(p[k], "wb");
    cr_assert_not_null(f);
    fputs(s, f);
    fclose(f);
    return p[k];
}

Test(tokcache, tokenize_file_writes_gpt2_ids)
{
    bpe *t = gpt2();
    const char *in = write_file("in.txt", "Hello world");
    char out[300], err[256];
    snprintf(out, sizeof out, "%s/out.bin", tmpdir);
    size_t nb = 0, nt = 0;
    cr_assert_eq(tokcache_tokenize_file(t, in, out, NULL, NULL, &nb, &nt, err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(nb, 11);
    cr_assert_eq(nt, 2);
    size_t n;
    unsigned char *b = slurp(out, &n);
    cr_assert_eq(n, 1024 + 4);
    cr_assert_eq(b[1024] | b[1025] << 8, 15496); /* "Hello" */
    cr_assert_eq(b[1026] | b[1027] << 8, 995);   /* " world" */
    free(b);
    const char *bad = write_file("bad.txt", "caf\xe9\nna\xefve\n");
    cr_assert_eq(tokcache_tokenize_file(t, bad, out, NULL, NULL, &nb, &nt, err, sizeof err), -1);
    cr_assert(strstr(err, "bad.txt: invalid UTF-8 at byte 3 (line 1); the BPE tokenizer reads "
                          "UTF-8 text: convert the file (e.g. iconv -f latin1 -t utf-8)"), "%s", err);
    const char *empty = write_file("empty.txt", "");
    cr_assert_eq(tokcache_tokenize_file(t, empty, out, NULL, NULL, &nb, &nt, err, sizeof err), -1);
    cr_assert(strstr(err, "empty.txt: is empty; give a file with text"), "%s", err);
    snprintf(out, sizeof out, "%s/missing.txt", tmpdir);
    cr_assert_eq(tokcache_tokenize_file(t, out, out, NULL, NULL, &nb, &nt, err, sizeof err), -1);
    cr_assert(strstr(err, "missing.txt"), "%s", err);
    bpe_free(t);
}
