/* data.c — loads text (byte tokens) or llm.c .bin token files with strict checks, splits off
 * the validation tail, and cuts training / eval windows (docs/data.md). */
#include "data.h"

#include "fsutil.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DATA_MAGIC 20240520
#define DATA_VERSION 1
#define DATA_HEADER_BYTES (256 * 4)
#define DATA_GPT2_VOCAB 50257
#define DATA_DEFAULT_FILE "mptui-corpus.txt"

typedef struct {
    int32_t *tok;
    size_t n;
    int vocab, is_bytes;
} token_buf;

/* Whole file into memory; reads in chunks so /proc files (size 0) work too. Only regular
 * files: a FIFO or a device (/dev/zero) would block or read forever. opt names the option
 * that gave the path. */
static int data_read_file(const char *path, const char *opt, unsigned char **out, size_t *len,
                          char *err, size_t errlen)
{
    const char *kind = NULL;
    int fd = fsutil_open_regular(path, &kind);
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        if (fd == -2)
            snprintf(err, errlen, "data file %s: is %s, not a regular file; give %s a text or "
                     ".bin token file", path, kind, opt);
        else if (errno == ENOENT)
            snprintf(err, errlen, "data file %s: not found; check the path given to %s", path,
                     opt);
        else
            snprintf(err, errlen, "data file %s: cannot open (%s)", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = !buf || ferror(f);
    int eno = errno;
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "data file %s: cannot read (%s)", path,
                 buf ? strerror(eno) : "out of memory");
        free(buf);
        return -1;
    }
    if (n == 0) {
        snprintf(err, errlen, "data file %s: is empty; give a file with text or tokens", path);
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

static int32_t data_le32(const unsigned char *p)
{
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24);
}

static int data_is_bin(const char *path, const unsigned char *buf, size_t len)
{
    size_t pl = strlen(path);
    if (pl >= 4 && strcmp(path + pl - 4, ".bin") == 0) return 1;
    return len >= 4 && data_le32(buf) == DATA_MAGIC;
}

static int data_parse_bin_header(const char *path, const unsigned char *buf, size_t len,
                                 size_t *ntok, char *err, size_t errlen)
{
    if (len < DATA_HEADER_BYTES) {
        snprintf(err, errlen,
                 "data file %s: truncated .bin header (%zu bytes, an llm.c header is %d)", path,
                 len, DATA_HEADER_BYTES);
        return -1;
    }
    int32_t magic = data_le32(buf), version = data_le32(buf + 4), count = data_le32(buf + 8);
    if (magic != DATA_MAGIC) {
        snprintf(err, errlen,
                 "data file %s: bad magic %d (an llm.c .bin token file starts with %d); "
                 "rename it if it is text",
                 path, (int)magic, DATA_MAGIC);
        return -1;
    }
    if (version != DATA_VERSION) {
        snprintf(err, errlen, "data file %s: unsupported .bin version %d (expected %d)", path,
                 (int)version, DATA_VERSION);
        return -1;
    }
    size_t body = len - DATA_HEADER_BYTES;
    if (count <= 0) {
        snprintf(err, errlen, "data file %s: header says %d tokens; the file holds none", path,
                 (int)count);
        return -1;
    }
    if (body < (size_t)count * 2) {
        snprintf(err, errlen,
                 "data file %s: truncated: header says %d tokens (%zu bytes) but only %zu "
                 "bytes of tokens follow",
                 path, (int)count, (size_t)count * 2, body);
        return -1;
    }
    if (body > (size_t)count * 2) {
        snprintf(err, errlen,
                 "data file %s: %zu stray bytes after the %d tokens the header announces", path,
                 body - (size_t)count * 2, (int)count);
        return -1;
    }
    *ntok = (size_t)count;
    return 0;
}

static int data_tokens_bin(const char *path, const unsigned char *buf, size_t len, int vocab,
                           token_buf *tb, char *err, size_t errlen)
{
    size_t n;
    if (data_parse_bin_header(path, buf, len, &n, err, errlen)) return -1;
    int32_t *tok = malloc(n * sizeof *tok);
    if (!tok) {
        snprintf(err, errlen, "data file %s: out of memory for %zu tokens", path, n);
        return -1;
    }
    const unsigned char *p = buf + DATA_HEADER_BYTES;
    for (size_t i = 0; i < n; i++) {
        tok[i] = (int32_t)((uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8); /* uint16 LE */
        if (tok[i] >= vocab) {
            snprintf(err, errlen,
                     "data file %s: token %d at position %zu is outside the vocabulary of %d; "
                     "set --vocab_size",
                     path, (int)tok[i], i, vocab);
            free(tok);
            return -1;
        }
    }
    tb->tok = tok;
    tb->n = n;
    tb->vocab = vocab;
    tb->is_bytes = 0;
    return 0;
}

static int data_tokens_text(const char *path, const unsigned char *buf, size_t len,
                            token_buf *tb, char *err, size_t errlen)
{
    int32_t *tok = malloc(len * sizeof *tok);
    if (!tok) {
        snprintf(err, errlen, "data file %s: out of memory for %zu tokens", path, len);
        return -1;
    }
    for (size_t i = 0; i < len; i++) tok[i] = buf[i];
    tb->tok = tok;
    tb->n = len;
    tb->vocab = 256;
    tb->is_bytes = 1;
    return 0;
}

static const char *data_base(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The cache file's ids when it exists and is a valid token file of this vocabulary (a
 * damaged one is encoded again and replaced): 1 loaded, 0 not. */
static int data_cache_read(const char *cpath, int vocab, token_buf *tb)
{
    unsigned char *buf;
    size_t len;
    char ignore[256];
    if (access(cpath, R_OK) != 0) return 0;
    if (data_read_file(cpath, "--data", &buf, &len, ignore, sizeof ignore)) return 0;
    int rc = data_tokens_bin(cpath, buf, len, vocab, tb, ignore, sizeof ignore);
    free(buf);
    return rc == 0;
}

/* Text through the tokenizer: UTF-8 checked, then the cache or the encoder. */
static int data_tokens_bpe(const char *path, const unsigned char *buf, size_t len,
                           const data_text *tx, token_buf *tb, dataset *d, char *err,
                           size_t errlen)
{
    char label[PATH_MAX + 16];
    snprintf(label, sizeof label, "data file %s", path);
    if (tokcache_check_text(buf, len, label, err, errlen)) return -1;
    int vocab = bpe_vocab_size(tx->tok);
    char text_hex[65], cpath[PATH_MAX];
    tokcache_digest(buf, len, text_hex);
    int cached = tx->cache_dir && tx->cache_dir[0] &&
                 !tokcache_path(cpath, sizeof cpath, tx->cache_dir, data_base(path), text_hex,
                                bpe_digest(tx->tok));
    if (cached && data_cache_read(cpath, vocab, tb)) {
        d->from_cache = 1;
        return 0;
    }
    int32_t *ids;
    size_t n;
    char why[256];
    if (tokcache_encode(tx->tok, buf, len, tx->progress, tx->progress_ctx, &ids, &n, why,
                        sizeof why)) {
        snprintf(err, errlen, "data file %s: %s", path, why);
        return -1;
    }
    if (n == 0) {
        free(ids);
        snprintf(err, errlen, "data file %s: holds no tokens; give a file with text", path);
        return -1;
    }
    if (cached && (fsutil_mkdir_p(tx->cache_dir, 0755, NULL) ||
                   tokcache_write_bin(cpath, ids, n, why, sizeof why)))
        snprintf(d->note, sizeof d->note, "the token cache was not written (%s); the text "
                 "will be tokenized again next time", why[0] ? why : strerror(errno));
    tb->tok = ids;
    tb->n = n;
    tb->vocab = vocab;
    tb->is_bytes = 0;
    return 0;
}

static int data_load_tokens(dataset *d, const char *path, const char *opt, int vocab_override,
                            const data_text *tx, token_buf *tb, char *err, size_t errlen)
{
    unsigned char *buf;
    size_t len;
    if (data_read_file(path, opt, &buf, &len, err, errlen)) return -1;
    int vocab = tx && tx->tok ? bpe_vocab_size(tx->tok)
                : vocab_override > 0 ? vocab_override : DATA_GPT2_VOCAB;
    int rc;
    if (data_is_bin(path, buf, len))
        rc = data_tokens_bin(path, buf, len, vocab, tb, err, errlen);
    else if (tx && tx->tok)
        rc = data_tokens_bpe(path, buf, len, tx, tb, d, err, errlen);
    else
        rc = data_tokens_text(path, buf, len, tb, err, errlen);
    free(buf);
    return rc;
}

static void data_set_name(dataset *d, const char *path)
{
    const char *slash = strrchr(path, '/');
    snprintf(d->name, sizeof d->name, "%s", slash ? slash + 1 : path);
}

static int data_check_sizes(const dataset *d, const char *path, const char *val_path,
                            int val_pct, int block_size, char *err, size_t errlen)
{
    size_t need = (size_t)block_size + 1;
    if (d->n_train < need) {
        snprintf(err, errlen,
                 "data file %s: training split has %zu tokens, needs at least %zu (one window "
                 "of block_size %d + 1); use a longer file or a smaller --block_size",
                 path, d->n_train, need, block_size);
        return -1;
    }
    if (d->n_val >= need) return 0;
    if (val_path)
        snprintf(err, errlen,
                 "data file %s: validation file has %zu tokens, needs at least %zu (one window "
                 "of block_size %d + 1); use a longer file or a smaller --block_size",
                 val_path, d->n_val, need, block_size);
    else
        snprintf(err, errlen,
                 "data file %s: validation split (last %d%%) has %zu tokens, needs at least %zu "
                 "(one window of block_size %d + 1); raise --validation_split_percentage, "
                 "pass --val_data or lower --block_size",
                 path, val_pct, d->n_val, need, block_size);
    return -1;
}

static int data_split(dataset *d, token_buf *all, int val_pct, char *err, size_t errlen,
                      const char *path)
{
    size_t n_val = (size_t)((unsigned long long)all->n * (unsigned)val_pct / 100u);
    d->train = all->tok;
    d->n_train = all->n - n_val;
    d->n_val = n_val;
    d->val = malloc((n_val ? n_val : 1) * sizeof *d->val);
    if (!d->val) {
        snprintf(err, errlen, "data file %s: out of memory for the validation split", path);
        return -1;
    }
    memcpy(d->val, all->tok + d->n_train, n_val * sizeof *d->val);
    return 0;
}

static int data_load_val(dataset *d, const char *val_path, int vocab_override,
                         const data_text *tx, char *err, size_t errlen)
{
    token_buf vb;
    if (data_load_tokens(d, val_path, "--val_data", vocab_override, tx, &vb, err, errlen))
        return -1;
    if (vb.is_bytes != d->is_bytes) {
        snprintf(err, errlen,
                 "data file %s: validation data is %s but the training data is %s; use the "
                 "same kind for both",
                 val_path, vb.is_bytes ? "text" : "a .bin token file",
                 d->is_bytes ? "text" : "a .bin token file");
        free(vb.tok);
        return -1;
    }
    d->val = vb.tok;
    d->n_val = vb.n;
    return 0;
}

static int data_load_with(dataset *d, const char *path, const char *val_path, int val_pct,
                          int vocab_override, int block_size, const data_text *tx, char *err,
                          size_t errlen)
{
    memset(d, 0, sizeof *d);
    if (val_path && !val_path[0]) val_path = NULL;
    if (!path || !path[0]) {
        snprintf(err, errlen, "data file: no path given; pass --data FILE");
        return -1;
    }
    if (block_size <= 0) {
        snprintf(err, errlen, "data file %s: block_size %d must be positive", path, block_size);
        return -1;
    }
    if (!val_path && (val_pct < 0 || val_pct >= 100)) {
        snprintf(err, errlen,
                 "data file %s: validation_split_percentage %d is outside 0..99", path, val_pct);
        return -1;
    }
    token_buf tb;
    if (data_load_tokens(d, path, "--data", vocab_override, tx, &tb, err, errlen)) return -1;
    d->vocab_size = tb.vocab;
    d->is_bytes = tb.is_bytes;
    data_set_name(d, path);
    int rc;
    if (val_path) {
        d->train = tb.tok;
        d->n_train = tb.n;
        rc = data_load_val(d, val_path, vocab_override, tx, err, errlen);
    } else {
        rc = data_split(d, &tb, val_pct, err, errlen, path);
    }
    if (!rc) rc = data_check_sizes(d, path, val_path, val_pct, block_size, err, errlen);
    if (rc) data_free(d);
    return rc;
}

int data_load(dataset *d, const char *path, const char *val_path, int val_pct,
              int vocab_override, int block_size, char *err, size_t errlen)
{
    return data_load_with(d, path, val_path, val_pct, vocab_override, block_size, NULL, err,
                          errlen);
}

int data_load_text(dataset *d, const char *path, const char *val_path, int val_pct,
                   int block_size, const data_text *tx, char *err, size_t errlen)
{
    return data_load_with(d, path, val_path, val_pct, 0, block_size, tx, err, errlen);
}

void data_free(dataset *d)
{
    free(d->train);
    free(d->val);
    memset(d, 0, sizeof *d);
}

void data_train_batch(const dataset *d, rng_state *r, int B, int T, int32_t *inputs,
                      int32_t *targets)
{
    uint64_t span = (uint64_t)(d->n_train - (size_t)T); /* data_load checked n_train > T */
    for (int b = 0; b < B; b++) {
        const int32_t *w = d->train + rng_below(r, span); /* window of T + 1 tokens */
        memcpy(inputs + (size_t)b * T, w, (size_t)T * sizeof *w);
        memcpy(targets + (size_t)b * T, w + 1, (size_t)T * sizeof *w);
    }
}

int data_eval_windows(const dataset *d, int T, int max_windows)
{
    if (T <= 0 || d->n_val < 2) return 0;
    size_t w = (d->n_val - 1) / (size_t)T;
    if (max_windows > 0 && w > (size_t)max_windows) w = (size_t)max_windows;
    return w > INT_MAX ? INT_MAX : (int)w;
}

void data_eval_batch(const dataset *d, int first, int count, int T, int32_t *inputs,
                     int32_t *targets)
{
    for (int i = 0; i < count; i++) {
        const int32_t *w = d->val + (size_t)(first + i) * T; /* val[w*T .. w*T + T] */
        memcpy(inputs + (size_t)i * T, w, (size_t)T * sizeof *w);
        memcpy(targets + (size_t)i * T, w + 1, (size_t)T * sizeof *w);
    }
}

int64_t data_steps_per_epoch(const dataset *d, int B, int T, int accum)
{
    int64_t per_step = (int64_t)B * T * accum;
    if (per_step <= 0) return 0;
    return ((int64_t)d->n_train + per_step - 1) / per_step;
}

static const char *data_try_dir(char *buf, size_t len, const char *dir, const char *rel)
{
    if (!dir || !dir[0]) return NULL;
    int k = snprintf(buf, len, "%s/%s", dir, rel);
    if (k < 0 || (size_t)k >= len) return NULL;
    return access(buf, R_OK) == 0 ? buf : NULL;
}

/* rel under $MPTUI_DATA_DIR, datasets/ next to the binary or above it, or the source tree's. */
static const char *data_find(char *path, size_t len, const char *rel)
{
    char dir[PATH_MAX + 32];
    if (data_try_dir(path, len, getenv("MPTUI_DATA_DIR"), rel)) return path;
    ssize_t n = readlink("/proc/self/exe", dir, PATH_MAX);
    if (n > 0) {
        dir[n] = '\0';
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = '\0';
            size_t dl = strlen(dir);
            snprintf(dir + dl, sizeof dir - dl, "/datasets");
            if (data_try_dir(path, len, dir, rel)) return path;
            snprintf(dir + dl, sizeof dir - dl, "/../datasets");
            if (data_try_dir(path, len, dir, rel)) return path;
        }
    }
#ifdef MPTUI_SOURCE_DIR
    if (data_try_dir(path, len, MPTUI_SOURCE_DIR "/datasets", rel)) return path;
#endif
    return NULL;
}

const char *data_default_path(void)
{
    static char path[PATH_MAX + 64];
    return data_find(path, sizeof path, DATA_DEFAULT_FILE);
}

const char *data_gpt2_tokenizer_dir(void)
{
    static char path[PATH_MAX + 64];
    if (!data_find(path, sizeof path, "gpt2/merges.txt")) return NULL;
    *strrchr(path, '/') = '\0';
    return path;
}
