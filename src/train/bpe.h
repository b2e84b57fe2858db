/* bpe.h — GPT-2's byte-level BPE tokenizer: vocab.json + merges.txt (or tokenizer.json),
 * PCRE2 pre-tokenization, merge ranks, encode and decode (docs/tokenizer.md). */
#ifndef MPTUI_BPE_H
#define MPTUI_BPE_H

#include <stddef.h>
#include <stdint.h>

typedef struct bpe bpe;

/* Loads DIR/vocab.json and DIR/merges.txt, or DIR/tokenizer.json when those two are absent.
 * NULL with one line in err (the file, the line or key, what is wrong) on any problem: a
 * missing file, malformed JSON, a merges line that is not two symbols, a merge whose parts
 * or product are not in the vocabulary, ids that are not 0..n-1 each once. */
bpe *bpe_load_dir(const char *dir, char *err, size_t errlen);
/* The same from explicit paths (merges NULL: vocab is a tokenizer.json). */
bpe *bpe_load_files(const char *vocab_json, const char *merges_txt, char *err, size_t errlen);
void bpe_free(bpe *t);

/* Vocabulary entries (50257 for GPT-2). */
int bpe_vocab_size(const bpe *t);
/* Id of <|endoftext|>, -1 when the vocabulary has none. */
int bpe_eot(const bpe *t);
/* bpe_digest of GPT-2's tokenizer (datasets/gpt2, and every hub folder that copies it). */
#define BPE_GPT2_DIGEST "1c4edee9e610f3adb5f80866dc8e5d0d94ed0e452d340718c6902e78e92f78a3"
/* sha256 of the vocabulary and merges as loaded (hex, 64 chars + NUL): the tokenizer's part of
 * a token cache key. */
const char *bpe_digest(const bpe *t);

/* Encodes n bytes of UTF-8 text, appending ids to *ids (grown with realloc; *n_ids and *cap
 * updated). The literal `<|endoftext|>` in the text is the special token (as Hugging Face's
 * GPT-2 tokenizer treats it). 0 ok; -1 with err naming the byte offset of invalid UTF-8, or
 * out of memory. Not thread-safe on one bpe (its word cache); use one bpe per thread. */
int bpe_encode(bpe *t, const char *text, size_t n, int32_t **ids, size_t *n_ids, size_t *cap,
               char *err, size_t errlen);
/* The bytes token `id` stands for (not NUL-terminated: *len bytes); NULL for an id outside the
 * vocabulary. A token may be part of a UTF-8 character; concatenate before showing. */
const char *bpe_token_bytes(const bpe *t, int id, size_t *len);
/* Decodes n ids into out (at most cap bytes, always NUL-terminated when cap > 0); returns the
 * bytes the whole decoding needs (excluding the NUL), like snprintf. Ids outside the
 * vocabulary decode to U+FFFD. */
size_t bpe_decode(const bpe *t, const int32_t *ids, size_t n, char *out, size_t cap);

/* The first offset p in [from, n] where text can be cut without changing its encoding: encoding
 * [0, p) then [p, n) appends the same ids as encoding [0, n) at once. It is a space after a
 * visible ASCII character (docs/tokenizer.md); n when there is none. For encoding a large
 * text in chunks (a progress line, bounded memory). */
size_t bpe_split_point(const char *text, size_t n, size_t from);

#endif
