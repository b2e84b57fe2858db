/* tokcache.h — text tokenized once: chunked encoding with progress, UTF-8 checking, the
 * cache file of a text under a tokenizer and llm.c .bin writing (docs/data.md). */
#ifndef MPTUI_TOKCACHE_H
#define MPTUI_TOKCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "bpe.h"

/* Called after each chunk: bytes of text encoded so far, of total. */
typedef void (*tokcache_progress_fn)(void *ctx, size_t done, size_t total);

/* 0 when s holds only well-formed UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF); else -1 with the byte offset of the first bad byte and its 1-based line. */
int tokcache_check_utf8(const unsigned char *s, size_t n, size_t *bad_off, size_t *bad_line);
/* tokcache_check_utf8 with the message every reader of text for the tokenizer gives: 0, or -1
 * + "<label>: invalid UTF-8 at byte B (line L); ... convert the file (e.g. iconv ...)". */
int tokcache_check_text(const unsigned char *s, size_t n, const char *label, char *err,
                        size_t errlen);

/* Length of the well-formed UTF-8 character at s (n > 0 bytes left): 1-4, or 0 when the
 * bytes there are not one. */
size_t tokcache_utf8_len(const unsigned char *s, size_t n);

/* sha256 of n bytes as 64 hex digits + NUL. */
void tokcache_digest(const void *s, size_t n, char hex[65]);

/* <dir>/<name>.<text 12 hex>.<tokenizer 12 hex>.bin: the cache file of a text (its file name
 * `name`, its digest) under a tokenizer (bpe_digest). 0 ok; -1 when it does not fit. */
int tokcache_path(char *out, size_t outlen, const char *dir, const char *name,
                  const char *text_hex, const char *tok_hex);

/* Encodes n bytes of well-formed UTF-8 text in chunks of about 1 MiB, cut where
 * bpe_split_point allows (docs/tokenizer.md), so the ids equal one bpe_encode of the whole
 * text. *out is malloc'd. fn may be NULL. 0 ok; -1 + err. */
int tokcache_encode(bpe *t, const unsigned char *text, size_t n, tokcache_progress_fn fn,
                    void *ctx, int32_t **out, size_t *nout, char *err, size_t errlen);

/* Writes an llm.c token file (int32 header of 256: magic 20240520, version 1, count; then
 * uint16 tokens) atomically: a reader sees the old file or the whole new one. Tokens must
 * be 0..65535 and n at most INT32_MAX. 0 ok; -1 + err naming the path. */
int tokcache_write_bin(const char *path, const int32_t *tok, size_t n, char *err,
                       size_t errlen);

/* in (UTF-8 text, checked first) through t into the llm.c token file out (written
 * atomically); *n_bytes / *n_tokens say how much. 0 ok; -1 + one line naming the file. */
int tokcache_tokenize_file(bpe *t, const char *in, const char *out, tokcache_progress_fn fn,
                           void *ctx, size_t *n_bytes, size_t *n_tokens, char *err,
                           size_t errlen);

#endif
