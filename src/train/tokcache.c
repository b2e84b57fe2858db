/* tokcache.c — text tokenized once: chunked BPE encoding with progress, UTF-8 checking, the
 * cache file name (text and tokenizer digests) and atomic llm.c .bin writing (docs/data.md). */
#include "tokcache.h"

#include <errno.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"

#define TOKCACHE_MAGIC 20240520
#define TOKCACHE_VERSION 1
#define TOKCACHE_HEADER_INTS 256
/* Chunks of about this many bytes: progress every few tenths of a second, and an encode
 * error's offset stays cheap to place. */
#define TOKCACHE_CHUNK ((size_t)1 << 20)

size_t tokcache_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned min;
    if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
    else return 0; /* a continuation byte, an overlong lead (C0, C1) or past F4 */
    if (n < len) return 0;
    unsigned cp = c & (0x3Fu >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

int tokcache_check_utf8(const unsigned char *s, size_t n, size_t *bad_off, size_t *bad_line)
{
    size_t line = 1;
    for (size_t i = 0; i < n;) {
        size_t k = tokcache_utf8_len(s + i, n - i);
        if (!k) {
            if (bad_off) *bad_off = i;
            if (bad_line) *bad_line = line;
            return -1;
        }
        line += s[i] == '\n';
        i += k;
    }
    return 0;
}

int tokcache_check_text(const unsigned char *s, size_t n, const char *label, char *err,
                        size_t errlen)
{
    size_t off, line;
    if (!tokcache_check_utf8(s, n, &off, &line)) return 0;
    snprintf(err, errlen, "%s: invalid UTF-8 at byte %zu (line %zu); the BPE tokenizer reads "
             "UTF-8 text: convert the file (e.g. iconv -f latin1 -t utf-8)", label, off, line);
    return -1;
}

void tokcache_digest(const void *s, size_t n, char hex[65])
{
    struct sha256_ctx ctx;
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_init(&ctx);
    sha256_update(&ctx, n, s);
    sha256_digest(&ctx, sizeof d, d);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

int tokcache_path(char *out, size_t outlen, const char *dir, const char *name,
                  const char *text_hex, const char *tok_hex)
{
    int k = snprintf(out, outlen, "%s/%s.%.12s.%.12s.bin", dir, name, text_hex, tok_hex);
    return k < 0 || (size_t)k >= outlen ? -1 : 0;
}

/* The end of the chunk that starts at `from`: the first point at or after from +
 * TOKCACHE_CHUNK where the text can be cut without changing its ids (bpe_split_point). */
static size_t chunk_end(const unsigned char *text, size_t n, size_t from)
{
    if (n - from <= TOKCACHE_CHUNK) return n;
    return bpe_split_point((const char *)text, n, from + TOKCACHE_CHUNK);
}

int tokcache_encode(bpe *t, const unsigned char *text, size_t n, tokcache_progress_fn fn,
                    void *ctx, int32_t **out, size_t *nout, char *err, size_t errlen)
{
    int32_t *ids = NULL;
    size_t nids = 0, cap = 0;
    for (size_t at = 0; at < n;) {
        size_t end = chunk_end(text, n, at);
        if (bpe_encode(t, (const char *)text + at, end - at, &ids, &nids, &cap, err, errlen)) {
            free(ids);
            return -1;
        }
        at = end;
        if (fn) fn(ctx, at, n);
    }
    *out = ids;
    *nout = nids;
    return 0;
}

typedef struct {
    const int32_t *tok;
    size_t n;
} bin_job;

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16), p[3] = (unsigned char)(v >> 24);
}

static int bin_fill(FILE *f, void *ctx)
{
    const bin_job *j = ctx;
    unsigned char head[TOKCACHE_HEADER_INTS * 4] = {0};
    put_le32(head, TOKCACHE_MAGIC);
    put_le32(head + 4, TOKCACHE_VERSION);
    put_le32(head + 8, (uint32_t)j->n);
    if (fwrite(head, 1, sizeof head, f) != sizeof head) return -1;
    unsigned char buf[8192];
    for (size_t i = 0; i < j->n;) {
        size_t k = 0;
        for (; i < j->n && k < sizeof buf; i++, k += 2) {
            buf[k] = (unsigned char)j->tok[i];
            buf[k + 1] = (unsigned char)(j->tok[i] >> 8);
        }
        if (fwrite(buf, 1, k, f) != k) return -1;
    }
    return 0;
}

int tokcache_write_bin(const char *path, const int32_t *tok, size_t n, char *err,
                       size_t errlen)
{
    if (n == 0 || n > INT32_MAX) {
        snprintf(err, errlen, "token file %s: %zu tokens; an llm.c file holds 1 to %d", path,
                 n, INT32_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (tok[i] < 0 || tok[i] > 65535) {
            snprintf(err, errlen, "token file %s: token %d at position %zu does not fit the "
                     "file's 16 bits", path, (int)tok[i], i);
            return -1;
        }
    bin_job j = {tok, n};
    if (fsutil_replace(path, "tok", 0644, bin_fill, &j)) {
        snprintf(err, errlen, "token file %s: cannot write (%s)", path, strerror(errno));
        return -1;
    }
    return 0;
}

int tokcache_tokenize_file(bpe *t, const char *in, const char *out, tokcache_progress_fn fn,
                           void *ctx, size_t *n_bytes, size_t *n_tokens, char *err,
                           size_t errlen)
{
    size_t len;
    char why[256];
    char *text = fsutil_slurp(in, (size_t)-1 / 2, "give a text file", &len, why, sizeof why);
    if (!text) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = tokcache_check_text((const unsigned char *)text, len, in, err, errlen);
    if (!rc && len == 0) {
        snprintf(err, errlen, "%s: is empty; give a file with text", in);
        rc = -1;
    }
    if (!rc && tokcache_encode(t, (const unsigned char *)text, len, fn, ctx, &ids, &n, why,
                               sizeof why)) {
        snprintf(err, errlen, "%s: %s", in, why);
        rc = -1;
    }
    if (!rc) rc = tokcache_write_bin(out, ids, n, err, errlen);
    if (!rc) *n_bytes = len, *n_tokens = n;
    free(ids);
    free(text);
    return rc;
}
