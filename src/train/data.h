/* data.h — token sources (UTF-8 text as bytes, llm.c .bin token files), the train /
 * validation split, random training windows and fixed eval windows (docs/data.md). */
#ifndef MPTUI_DATA_H
#define MPTUI_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "bpe.h"
#include "rng.h"
#include "tokcache.h"

typedef struct {
    int vocab_size;      /* 256 for text; 50257 (or --vocab_size) for .bin */
    int is_bytes;        /* 1: tokens are bytes, decodable as text */
    int from_cache;      /* text tokenized with a BPE: 1 when the ids came from the cache */
    char note[256];      /* something the run should say (a cache that could not be written) */
    char name[128];      /* short label for the screen: file name without directories */
    int32_t *train;      /* training split */
    size_t n_train;
    int32_t *val;        /* validation split */
    size_t n_val;
} dataset;

/* Loads `path` (a .bin token file when its first int32 is the llm.c magic 20240520 or its
 * name ends in .bin; otherwise text bytes). val_path NULL/"" splits off the last val_pct
 * percent of the tokens; otherwise the whole second file is the validation split.
 * vocab_override > 0 replaces the default vocabulary of a .bin file. Checks that both splits
 * hold at least one window of block_size + 1 tokens. 0 ok; -1 with one line in err naming
 * the file and the problem. */
int data_load(dataset *d, const char *path, const char *val_path, int val_pct,
              int vocab_override, int block_size, char *err, size_t errlen);
/* How text files become tokens: with a BPE (bpe.h) instead of bytes, through a cache. */
typedef struct {
    bpe *tok;                 /* NULL: text is read as bytes */
    const char *cache_dir;    /* the token cache's folder; NULL or "": no cache */
    tokcache_progress_fn progress; /* while encoding (may be NULL) */
    void *progress_ctx;
} data_text;

/* data_load with text read through tx (docs/data.md, "Text through a tokenizer"): the ids
 * come from <cache_dir>/<file>.<text digest>.<tokenizer digest>.bin when it exists and is a
 * valid token file, else from encoding the text, which then writes that file. A .bin data
 * file is read as in data_load, its vocabulary the tokenizer's. Text that is not UTF-8 is
 * refused with the byte offset and line of the first bad byte. */
int data_load_text(dataset *d, const char *path, const char *val_path, int val_pct,
                   int block_size, const data_text *tx, char *err, size_t errlen);
void data_free(dataset *d);

/* B training windows of T + 1 tokens at offsets drawn from r: inputs and targets (B,T). */
void data_train_batch(const dataset *d, rng_state *r, int B, int T, int32_t *inputs,
                      int32_t *targets);
/* Number of eval windows: floor((n_val - 1) / T), capped at max_windows when > 0. */
int data_eval_windows(const dataset *d, int T, int max_windows);
/* Windows first .. first + count - 1 (window w covers val[w*T .. w*T + T]). */
void data_eval_batch(const dataset *d, int first, int count, int T, int32_t *inputs,
                     int32_t *targets);
/* Steps per epoch: ceil(n_train / (B * T * accum)). */
int64_t data_steps_per_epoch(const dataset *d, int B, int T, int accum);
/* Path of the built-in default corpus (found next to the binary or in the source tree);
 * NULL when it cannot be found. */
const char *data_default_path(void);
/* The folder of GPT-2's tokenizer files shipped with mptui (datasets/gpt2, found as the
 * default corpus is); NULL when it cannot be found. */
const char *data_gpt2_tokenizer_dir(void);

#endif
