/* test_data.c — text and .bin loading with every rejected input, the validation split,
 * deterministic training windows and the fixed eval windows of docs/data.md. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data.h"
#include "rng.h"
#include "test_deadline.h"

static char tmpdir[256];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mptui_test_data_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(data, .init = setup, .fini = teardown);

static const char *tpath(const char *name)
{
    static char p[64][512]; /* callers hold several paths at once */
    static int k;
    k = (k + 1) % 64;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

static const char *write_bytes(const char *name, const void *buf, size_t n)
{
    const char *p = tpath(name);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    if (n) cr_assert_eq(fwrite(buf, 1, n, f), n);
    fclose(f);
    return p;
}

/* n bytes of text whose byte i is 'a' + i % 26 */
static const char *write_text(const char *name, size_t n)
{
    char *buf = malloc(n + 1);
    for (size_t i = 0; i < n; i++) buf[i] = (char)('a' + i % 26);
    const char *p = write_bytes(name, buf, n);
    free(buf);
    return p;
}

/* llm.c token file: header (magic, version, count as given) + body of `body_tokens` tokens
 * tok(i) = (i * mul) % 65536, plus `extra` stray bytes. */
static const char *write_bin(const char *name, int32_t magic, int32_t version, int32_t count,
                             size_t body_tokens, unsigned mul, size_t extra)
{
    size_t n = 1024 + body_tokens * 2 + extra;
    unsigned char *buf = calloc(1, n);
    int32_t hdr[3] = {magic, version, count};
    memcpy(buf, hdr, sizeof hdr);
    for (size_t i = 0; i < body_tokens; i++) {
        uint16_t t = (uint16_t)((i * mul) % 65536);
        memcpy(buf + 1024 + 2 * i, &t, 2);
    }
    const char *p = write_bytes(name, buf, n);
    free(buf);
    return p;
}

static void expect_fail(const char *path, const char *val, int pct, int vocab, int block,
                        const char *want1, const char *want2)
{
    dataset d;
    char err[512] = "";
    cr_assert_eq(data_load(&d, path, val, pct, vocab, block, err, sizeof err), -1,
                 "expected failure for %s", path);
    cr_assert_not_null(strstr(err, want1), "err '%s' lacks '%s'", err, want1);
    if (want2) cr_assert_not_null(strstr(err, want2), "err '%s' lacks '%s'", err, want2);
    cr_assert_null(strchr(err, '\n'), "one line: %s", err);
    cr_assert_null(d.train);
    cr_assert_null(d.val);
}

Test(data, text_split_sizes_and_contents)
{
    const char *p = write_text("corpus.txt", 1000);
    dataset d;
    char err[512] = "";
    cr_assert_eq(data_load(&d, p, NULL, 10, 0, 16, err, sizeof err), 0, "%s", err);
    cr_assert_eq(d.vocab_size, 256);
    cr_assert_eq(d.is_bytes, 1);
    cr_assert_str_eq(d.name, "corpus.txt");
    cr_assert_eq(d.n_train, 900);
    cr_assert_eq(d.n_val, 100);
    cr_assert_eq(d.train[0], 'a');
    cr_assert_eq(d.train[899], 'a' + 899 % 26);
    cr_assert_eq(d.val[0], 'a' + 900 % 26);
    cr_assert_eq(d.val[99], 'a' + 999 % 26);
    data_free(&d);
    cr_assert_null(d.train);
}

Test(data, split_floors_the_percentage)
{
    static const struct { size_t n; int pct; size_t val; } cases[] = {
        {1005, 10, 100}, {999, 7, 69}, {1000, 1, 10}, {1099, 1, 10}, {500, 50, 250},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = write_text("s.txt", cases[i].n);
        dataset d;
        char err[512] = "";
        cr_assert_eq(data_load(&d, p, "", cases[i].pct, 0, 8, err, sizeof err), 0, "%s", err);
        cr_assert_eq(d.n_val, cases[i].val, "n %zu pct %d: %zu", cases[i].n, cases[i].pct,
                     d.n_val);
        cr_assert_eq(d.n_train, cases[i].n - cases[i].val);
        data_free(&d);
    }
}

Test(data, missing_unreadable_empty)
{
    expect_fail(tpath("nope.txt"), NULL, 10, 0, 8, "nope.txt", "not found");
    expect_fail(tmpdir, NULL, 10, 0, 8, tmpdir, "is a directory, not a regular file; give --data a text or .bin token file");
    const char *e = write_bytes("empty.txt", "", 0);
    expect_fail(e, NULL, 10, 0, 8, "empty.txt", "empty");
    expect_fail("", NULL, 10, 0, 8, "no path", NULL);
}

Test(data, unreadable_permission)
{
    if (geteuid() == 0) cr_skip_test("root reads any file");
    const char *p = write_text("locked.txt", 1000);
    chmod(p, 0);
    expect_fail(p, NULL, 10, 0, 8, "locked.txt", "cannot open");
}

Test(data, too_short_splits)
{
    const char *p = write_text("short.txt", 100);
    /* train 90 < 129 */
    expect_fail(p, NULL, 10, 0, 128, "short.txt", "training split has 90 tokens, needs at least 129");
    /* train 900 fine, val 100 < 129 */
    p = write_text("mid.txt", 1000);
    expect_fail(p, NULL, 10, 0, 128, "mid.txt", "validation split (last 10%) has 100 tokens, needs at least 129");
    expect_fail(p, NULL, 0, 0, 8, "mid.txt", "has 0 tokens");
    expect_fail(p, NULL, 100, 0, 8, "mid.txt", "outside 0..99");
    expect_fail(p, NULL, -1, 0, 8, "mid.txt", "outside 0..99");
    expect_fail(p, NULL, 10, 0, 0, "mid.txt", "block_size");
    /* exact boundary: 129 tokens of validation are one window of 128 + 1 */
    p = write_text("edge.txt", 1290);
    dataset d;
    char err[512] = "";
    cr_assert_eq(data_load(&d, p, NULL, 10, 0, 128, err, sizeof err), 0, "%s", err);
    cr_assert_eq(data_eval_windows(&d, 128, 0), 1);
    data_free(&d);
    p = write_text("edge2.txt", 1289); /* val 128: one short */
    expect_fail(p, NULL, 10, 0, 128, "edge2.txt", "has 128 tokens, needs at least 129");
}

Test(data, separate_validation_file)
{
    const char *tr = write_text("train.txt", 129), *va = write_text("val.txt", 300);
    dataset d;
    char err[512] = "";
    cr_assert_eq(data_load(&d, tr, va, 10, 0, 128, err, sizeof err), 0, "%s", err);
    cr_assert_eq(d.n_train, 129, "the whole file trains");
    cr_assert_eq(d.n_val, 300);
    cr_assert_eq(d.val[27], 'a' + 1);
    data_free(&d);
    expect_fail(write_text("train2.txt", 128), va, 10, 0, 128, "train2.txt", "training split has 128");
    expect_fail(tr, write_text("v2.txt", 50), 10, 0, 128, "v2.txt", "validation file has 50 tokens");
    expect_fail(tr, tpath("gone.txt"), 10, 0, 128, "gone.txt", "not found");
    const char *vb = write_bin("v.bin", 20240520, 1, 500, 500, 1, 0);
    expect_fail(tr, vb, 10, 0, 128, "v.bin", "same kind");
}

Test(data, bin_round_trip)
{
    const char *p = write_bin("tok.bin", 20240520, 1, 3000, 3000, 13, 0);
    dataset d;
    char err[512] = "";
    cr_assert_eq(data_load(&d, p, NULL, 10, 0, 64, err, sizeof err), 0, "%s", err);
    cr_assert_eq(d.vocab_size, 50257);
    cr_assert_eq(d.is_bytes, 0);
    cr_assert_str_eq(d.name, "tok.bin");
    cr_assert_eq(d.n_train, 2700);
    cr_assert_eq(d.n_val, 300);
    for (size_t i = 0; i < d.n_train; i++) cr_assert_eq(d.train[i], (int32_t)(i * 13));
    for (size_t i = 0; i < d.n_val; i++) cr_assert_eq(d.val[i], (int32_t)((2700 + i) * 13));
    data_free(&d);
}

Test(data, bin_detected_by_magic)
{
    const char *p = write_bin("tokens.dat", 20240520, 1, 400, 400, 1, 0);
    dataset d;
    char err[512] = "";
    cr_assert_eq(data_load(&d, p, NULL, 50, 0, 8, err, sizeof err), 0, "%s", err);
    cr_assert_eq(d.is_bytes, 0);
    cr_assert_eq(d.n_train, 200);
    cr_assert_eq(d.val[0], 200);
    data_free(&d);
    /* without the magic a non-.bin name is text: 1024 + 800 bytes */
    p = write_bin("tokens2.dat", 12345, 1, 400, 400, 1, 0);
    cr_assert_eq(data_load(&d, p, NULL, 50, 0, 8, err, sizeof err), 0, "%s", err);
    cr_assert_eq(d.is_bytes, 1);
    cr_assert_eq(d.n_train + d.n_val, 1824);
    data_free(&d);
}

Test(data, bin_bad_inputs)
{
    expect_fail(write_bin("m.bin", 12345, 1, 400, 400, 1, 0), NULL, 10, 0, 8, "m.bin", "bad magic 12345");
    expect_fail(write_bin("v.bin", 20240520, 2, 400, 400, 1, 0), NULL, 10, 0, 8, "v.bin", "version 2");
    expect_fail(write_bin("t.bin", 20240520, 1, 2000, 1999, 1, 1), NULL, 10, 0, 8, "t.bin", "truncated");
    expect_fail(write_bin("x.bin", 20240520, 1, 400, 400, 1, 2), NULL, 10, 0, 8, "x.bin", "stray bytes");
    expect_fail(write_bin("z.bin", 20240520, 1, 0, 0, 1, 0), NULL, 10, 0, 8, "z.bin", "0 tokens");
    expect_fail(write_bin("n.bin", 20240520, 1, -5, 0, 1, 0), NULL, 10, 0, 8, "n.bin", "-5 tokens");
    expect_fail(write_bytes("h.bin", "\x28\x0b\x35\x01", 4), NULL, 10, 0, 8, "h.bin", "truncated .bin header");
    /* two tokens short of the header's promise */
    expect_fail(write_bin("t2.bin", 20240520, 1, 400, 398, 1, 0), NULL, 10, 0, 8, "t2.bin", "796 bytes");
}

Test(data, bin_vocab_check)
{
    /* tokens 0, 101, 202, ... 100*101 = 10100 at position 100 */
    const char *p = write_bin("voc.bin", 20240520, 1, 400, 400, 101, 0);
    expect_fail(p, NULL, 10, 1000, 8, "voc.bin", "token 1010 at position 10 is outside the vocabulary of 1000");
    dataset d;
    char err[512] = "";
    cr_assert_eq(data_load(&d, p, NULL, 10, 40400, 8, err, sizeof err), 0, "%s", err);
    cr_assert_eq(d.vocab_size, 40400);
    data_free(&d);
    expect_fail(p, NULL, 10, 40299, 8, "voc.bin", "token 40299 at position 399");
    /* the GPT-2 default 50257: token 50257 is out, 50256 is in */
    unsigned char buf[1024 + 4] = {0};
    int32_t hdr[3] = {20240520, 1, 2};
    memcpy(buf, hdr, sizeof hdr);
    uint16_t toks[2] = {50256, 50257};
    memcpy(buf + 1024, toks, 4);
    expect_fail(write_bytes("g.bin", buf, sizeof buf), NULL, 10, 0, 8, "g.bin", "token 50257 at position 1");
}

Test(data, eval_windows_count_and_contents)
{
    const char *tr = write_text("tr.txt", 100);
    /* validation tokens 0..9 as a .bin would make them awkward here; use text bytes */
    char v[10];
    for (int i = 0; i < 10; i++) v[i] = (char)('0' + i);
    const char *va = write_bytes("va.txt", v, 10);
    dataset d;
    char err[512] = "";
    cr_assert_eq(data_load(&d, tr, va, 0, 0, 3, err, sizeof err), 0, "%s", err);
    cr_assert_eq(data_eval_windows(&d, 3, 0), 3, "floor(9 / 3)");
    cr_assert_eq(data_eval_windows(&d, 3, 2), 2, "capped");
    cr_assert_eq(data_eval_windows(&d, 3, 5), 3, "cap above the count");
    cr_assert_eq(data_eval_windows(&d, 4, 0), 2, "floor(9 / 4)");
    cr_assert_eq(data_eval_windows(&d, 9, 0), 1);
    int32_t in[9], tg[9];
    data_eval_batch(&d, 0, 3, 3, in, tg);
    static const char want_in[] = "012345678", want_tg[] = "123456789";
    for (int i = 0; i < 9; i++) {
        cr_assert_eq(in[i], want_in[i], "in[%d]", i);
        cr_assert_eq(tg[i], want_tg[i], "tg[%d]", i);
    }
    data_eval_batch(&d, 2, 1, 3, in, tg); /* window 2 alone: tokens 6..9 */
    cr_assert(in[0] == '6' && in[2] == '8' && tg[0] == '7' && tg[2] == '9');
    data_free(&d);
    /* n_val = 9, T = 3: floor(8 / 3) = 2, the last token of window 2 would be missing */
    va = write_bytes("va9.txt", v, 9);
    cr_assert_eq(data_load(&d, tr, va, 0, 0, 3, err, sizeof err), 0, "%s", err);
    cr_assert_eq(data_eval_windows(&d, 3, 0), 2);
    data_free(&d);
}

Test(data, train_batches_bounded_and_deterministic)
{
    /* tokens equal their position, so each window reveals its offset */
    const char *p = write_bin("pos.bin", 20240520, 1, 1000, 1000, 1, 0);
    dataset d;
    char err[512] = "";
    cr_assert_eq(data_load(&d, p, NULL, 10, 0, 32, err, sizeof err), 0, "%s", err);
    enum { B = 8, T = 32 };
    int32_t in[B * T], tg[B * T], in2[B * T], tg2[B * T];
    rng_state r, r2, rr;
    rng_seed(&r, 42);
    rng_seed(&r2, 42);
    rng_seed(&rr, 42);
    for (int rep = 0; rep < 50; rep++) {
        data_train_batch(&d, &r, B, T, in, tg);
        data_train_batch(&d, &r2, B, T, in2, tg2);
        cr_assert_eq(memcmp(in, in2, sizeof in), 0);
        cr_assert_eq(memcmp(tg, tg2, sizeof tg), 0);
        for (int b = 0; b < B; b++) {
            int32_t o = in[b * T];
            cr_assert_eq((uint64_t)o, rng_below(&rr, 900 - T), "offset = rng_below(n_train - T)");
            cr_assert(o >= 0 && o + T <= 899, "window inside the training split");
            for (int j = 0; j < T; j++) {
                cr_assert_eq(in[b * T + j], o + j);
                cr_assert_eq(tg[b * T + j], o + j + 1);
            }
        }
    }
    rng_seed(&r2, 43);
    data_train_batch(&d, &r2, B, T, in2, tg2);
    rng_seed(&r, 42);
    data_train_batch(&d, &r, B, T, in, tg);
    cr_assert_neq(memcmp(in, in2, sizeof in), 0, "another seed, other windows");
    data_free(&d);
}

Test(data, train_offsets_cover_the_split)
{
    /* n_train = T + 3: offsets 0, 1, 2 only; the last window ends at the last token */
    const char *tr = write_bin("c.bin", 20240520, 1, 11, 11, 1, 0);
    const char *va = write_bin("cv.bin", 20240520, 1, 20, 20, 1, 0);
    dataset d;
    char err[512] = "";
    cr_assert_eq(data_load(&d, tr, va, 10, 0, 8, err, sizeof err), 0, "%s", err);
    int seen[3] = {0};
    rng_state r;
    rng_seed(&r, 7);
    for (int i = 0; i < 200; i++) {
        int32_t in[8], tg[8];
        data_train_batch(&d, &r, 1, 8, in, tg);
        cr_assert(in[0] >= 0 && in[0] <= 2);
        seen[in[0]]++;
        cr_assert(tg[7] <= 10);
    }
    cr_assert(seen[0] && seen[1] && seen[2]);
    data_free(&d);
}

Test(data, steps_per_epoch)
{
    const char *p = write_text("e.txt", 1000);
    dataset d;
    char err[512] = "";
    cr_assert_eq(data_load(&d, p, NULL, 10, 0, 8, err, sizeof err), 0, "%s", err);
    cr_assert_eq(data_steps_per_epoch(&d, 2, 8, 3), 19);  /* ceil(900 / 48) */
    cr_assert_eq(data_steps_per_epoch(&d, 1, 9, 1), 100); /* exact */
    cr_assert_eq(data_steps_per_epoch(&d, 1, 901, 1), 1);
    cr_assert_eq(data_steps_per_epoch(&d, 0, 8, 1), 0);
    data_free(&d);
}

Test(data, default_path_search)
{
    char *old = getenv("MPTUI_DATA_DIR") ? strdup(getenv("MPTUI_DATA_DIR")) : NULL;
    write_text("mptui-corpus.txt", 10);
    setenv("MPTUI_DATA_DIR", tmpdir, 1);
    const char *p = data_default_path();
    cr_assert_not_null(p);
    cr_assert_str_eq(p, tpath("mptui-corpus.txt"));
    /* without it: the source tree's datasets/ (compile-time MPTUI_SOURCE_DIR) */
    setenv("MPTUI_DATA_DIR", "/nonexistent-mptui-dir", 1);
    p = data_default_path();
    cr_assert_not_null(p, "the committed corpus is found");
    const char *suffix = "/datasets/mptui-corpus.txt";
    size_t n = strlen(p), ns = strlen(suffix);
    cr_assert(n > ns && strcmp(p + n - ns, suffix) == 0, "%s", p);
    cr_assert_eq(access(p, R_OK), 0);
    if (old) setenv("MPTUI_DATA_DIR", old, 1);
    else unsetenv("MPTUI_DATA_DIR");
    free(old);
}

Test(data, shakespeare_if_present)
{
    const char *p = "../shared/datasets/tinyshakespeare.txt";
    struct stat st;
    if (stat(p, &st) != 0) cr_skip_test("tinyshakespeare.txt not present");
    dataset d;
    char err[512] = "";
    cr_assert_eq(data_load(&d, p, NULL, 10, 0, 128, err, sizeof err), 0, "%s", err);
    cr_assert_eq(d.n_train + d.n_val, (size_t)st.st_size);
    cr_assert_eq(d.n_val, (size_t)st.st_size / 10);
    cr_assert_eq(d.train[0], 'F'); /* "First Citizen:" */
    data_free(&d);
}

Test(data, default_corpus_loads)
{
    char *old = getenv("MPTUI_DATA_DIR") ? strdup(getenv("MPTUI_DATA_DIR")) : NULL;
    unsetenv("MPTUI_DATA_DIR");
    const char *p = data_default_path();
    cr_assert_not_null(p);
    dataset d;
    char err[512] = "";
    cr_assert_eq(data_load(&d, p, NULL, 10, 0, 128, err, sizeof err), 0, "%s", err);
    size_t n = d.n_train + d.n_val;
    cr_assert(n >= 250000 && n <= 400000, "%zu bytes", n);
    cr_assert_str_eq(d.name, "mptui-corpus.txt");
    for (size_t i = 0; i < d.n_train; i++) cr_assert(d.train[i] >= 1 && d.train[i] < 128);
    cr_assert(data_eval_windows(&d, 128, 0) > 100);
    data_free(&d);
    if (old) setenv("MPTUI_DATA_DIR", old, 1);
    free(old);
}

/* A FIFO blocked the open (no writer) and /dev/zero read until memory ran out: both are
 * refused at once with one line naming the option. The timeout catches a hang. */
#include <sys/types.h>

static void expect_exact(const char *path, const char *val, const char *want)
{
    dataset d;
    char err[512] = "";
    cr_assert_eq(data_load(&d, path, val, 10, 0, 8, err, sizeof err), -1);
    cr_assert_str_eq(err, want);
}

Test(data, fifo_and_devices_refused)
{
    test_deadline(20);
    const char *fifo = tpath("fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    char want[700];
    snprintf(want, sizeof want, "data file %s: is a FIFO, not a regular file; give --data a "
             "text or .bin token file", fifo);
    expect_exact(fifo, NULL, want);
    const char *good = write_text("good.txt", 1000);
    snprintf(want, sizeof want, "data file %s: is a FIFO, not a regular file; give --val_data "
             "a text or .bin token file", fifo);
    expect_exact(good, fifo, want);
    expect_exact("/dev/zero", NULL, "data file /dev/zero: is a character device, not a regular "
                 "file; give --data a text or .bin token file");
    expect_exact(good, "/dev/null", "data file /dev/null: is a character device, not a regular "
                 "file; give --val_data a text or .bin token file");
    snprintf(want, sizeof want, "data file %s: not found; check the path given to --val_data",
             tpath("nope.txt"));
    expect_exact(good, tpath("nope.txt"), want);
}

/* ---- text through a tokenizer (docs/data.md, "Text through a tokenizer") ---- */

static bpe *gpt2_bpe(void)
{
    const char *dir = data_gpt2_tokenizer_dir();
    cr_assert_not_null(dir, "datasets/gpt2 not found");
    size_t n = strlen(dir);
    cr_assert(n > 13 && strcmp(dir + n - 13, "datasets/gpt2") == 0, "%s", dir);
    char err[256];
    bpe *t = bpe_load_dir(dir, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    return t;
}

/* "Hello world\n" x 20: GPT-2 ids 15496, 995, 198 per line. */
static const char *write_hello(const char *name)
{
    char text[20 * 12 + 1] = "";
    for (int i = 0; i < 20; i++) strcat(text, "Hello world\n");
    return write_bytes(name, text, strlen(text));
}

static void expect_hello(const dataset *d)
{
    cr_assert_eq(d->vocab_size, 50257);
    cr_assert_eq(d->is_bytes, 0);
    cr_assert_eq(d->n_train + d->n_val, 60);
    static const int32_t want[3] = {15496, 995, 198};
    for (size_t i = 0; i < d->n_train; i++) cr_assert_eq(d->train[i], want[i % 3], "token %zu", i);
}

Test(data, bpe_text_writes_then_reads_its_cache)
{
    bpe *t = gpt2_bpe();
    const char *p = write_hello("hello.txt");
    data_text tx = {t, tpath("cache"), NULL, NULL};
    dataset d;
    char err[512] = "";
    cr_assert_eq(data_load_text(&d, p, NULL, 10, 4, &tx, err, sizeof err), 0, "%s", err);
    expect_hello(&d);
    cr_assert_eq(d.from_cache, 0);
    cr_assert_str_eq(d.note, "");
    data_free(&d);
    char text_hex[65], cpath[512];
    size_t len;
    FILE *f = fopen(p, "rb");
    char buf[512];
    len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    tokcache_digest(buf, len, text_hex);
    cr_assert_eq(tokcache_path(cpath, sizeof cpath, tpath("cache"), "hello.txt", text_hex,
                               bpe_digest(t)), 0);
    cr_assert_eq(access(cpath, R_OK), 0, "no cache at %s", cpath);
    /* the second load reads the cache: same ids */
    cr_assert_eq(data_load_text(&d, p, NULL, 10, 4, &tx, err, sizeof err), 0, "%s", err);
    expect_hello(&d);
    cr_assert_eq(d.from_cache, 1);
    data_free(&d);
    /* a damaged cache is encoded again and replaced */
    FILE *c = fopen(cpath, "r+b");
    fseek(c, 8, SEEK_SET);
    fputc(0x7f, c); /* the token count */
    fclose(c);
    cr_assert_eq(data_load_text(&d, p, NULL, 10, 4, &tx, err, sizeof err), 0, "%s", err);
    expect_hello(&d);
    cr_assert_eq(d.from_cache, 0);
    data_free(&d);
    cr_assert_eq(data_load_text(&d, p, NULL, 10, 4, &tx, err, sizeof err), 0, "%s", err);
    cr_assert_eq(d.from_cache, 1, "rewritten");
    data_free(&d);
    bpe_free(t);
}

Test(data, bpe_text_changed_is_a_new_cache)
{
    bpe *t = gpt2_bpe();
    const char *p = write_hello("hello.txt");
    data_text tx = {t, tpath("cache"), NULL, NULL};
    dataset d;
    char err[512] = "";
    cr_assert_eq(data_load_text(&d, p, NULL, 10, 4, &tx, err, sizeof err), 0, "%s", err);
    data_free(&d);
    char text[20 * 12 + 1] = "";
    for (int i = 0; i < 20; i++) strcat(text, "Hello there\n");
    write_bytes("hello.txt", text, strlen(text));
    cr_assert_eq(data_load_text(&d, p, NULL, 10, 4, &tx, err, sizeof err), 0, "%s", err);
    cr_assert_eq(d.from_cache, 0);
    cr_assert_eq(d.train[1], 612, "\" there\""); /* GPT-2's id of " there" */
    data_free(&d);
    bpe_free(t);
}

Test(data, bpe_cache_unwritable_is_a_note)
{
    bpe *t = gpt2_bpe();
    const char *p = write_hello("hello.txt");
    write_bytes("file", "x", 1);
    data_text tx = {t, tpath("file/cache"), NULL, NULL}; /* a file where a folder must go */
    dataset d;
    char err[512] = "";
    cr_assert_eq(data_load_text(&d, p, NULL, 10, 4, &tx, err, sizeof err), 0, "%s", err);
    expect_hello(&d);
    cr_assert(strstr(d.note, "the token cache was not written (") &&
              strstr(d.note, "); the text will be tokenized again next time"), "%s", d.note);
    data_free(&d);
    bpe_free(t);
}

Test(data, bpe_refuses_invalid_utf8_with_line)
{
    bpe *t = gpt2_bpe();
    const char *p = write_bytes("latin1.txt", "line one\nna\xefve\n", 15);
    data_text tx = {t, NULL, NULL, NULL};
    dataset d;
    char err[512] = "";
    cr_assert_eq(data_load_text(&d, p, NULL, 10, 4, &tx, err, sizeof err), -1);
    char want[600];
    snprintf(want, sizeof want, "data file %s: invalid UTF-8 at byte 11 (line 2); the BPE "
             "tokenizer reads UTF-8 text: convert the file (e.g. iconv -f latin1 -t utf-8)", p);
    cr_assert_str_eq(err, want);
    bpe_free(t);
}

Test(data, bpe_reads_bin_with_its_vocabulary)
{
    bpe *t = gpt2_bpe();
    const char *p = write_hello("hello.txt");
    char err[512] = "", out[512];
    snprintf(out, sizeof out, "%s", tpath("hello.bin"));
    size_t nb, nt;
    cr_assert_eq(tokcache_tokenize_file(t, p, out, NULL, NULL, &nb, &nt, err, sizeof err), 0,
                 "%s", err);
    data_text tx = {t, NULL, NULL, NULL};
    dataset d;
    cr_assert_eq(data_load_text(&d, out, NULL, 10, 4, &tx, err, sizeof err), 0, "%s", err);
    expect_hello(&d);
    data_free(&d);
    /* text validation against a .bin training file: the kinds must agree */
    cr_assert_eq(data_load_text(&d, out, p, 10, 4, &tx, err, sizeof err), 0, "%s", err);
    cr_assert_eq(d.n_val, 60, "the text validation file is tokenized too");
    data_free(&d);
    bpe_free(t);
}
