/* bench_bpe.c — MB/s of GPT-2 BPE encoding on one thread (issue 14's target: >= 2 MB/s) with
 * the word cache cold (a fresh tokenizer) and warm, and of decoding; median of 5 runs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bpe.h"

enum { REPS = 5 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return buf;
}

/* Seconds to encode text: with a fresh tokenizer (cold cache) or the one given (warm). */
static double encode_s(bpe *warm, const char *dir, const char *text, size_t n, size_t *n_ids)
{
    char err[512];
    bpe *t = warm ? warm : bpe_load_dir(dir, err, sizeof err);
    int32_t *ids = NULL;
    size_t cap = 0;
    *n_ids = 0;
    double t0 = now_s();
    int rc = t ? bpe_encode(t, text, n, &ids, n_ids, &cap, err, sizeof err) : -1;
    double dt = now_s() - t0;
    if (rc) fprintf(stderr, "bench_bpe: %s\n", err);
    free(ids);
    if (!warm) bpe_free(t);
    return rc ? -1 : dt;
}

int main(void)
{
    const char *dir = MPTUI_SOURCE_DIR "/datasets/gpt2";
    const char *path = "../shared/datasets/tinyshakespeare.txt";
    size_t n;
    char *text = slurp(path, &n);
    if (!text) text = slurp(path = MPTUI_SOURCE_DIR "/datasets/mptui-corpus.txt", &n);
    char err[512];
    double t0 = now_s();
    bpe *t = bpe_load_dir(dir, err, sizeof err);
    double load = now_s() - t0;
    if (!text || !t) {
        fprintf(stderr, "bench_bpe: %s\n", t ? "no text to encode" : err);
        return 1;
    }
    double cold[REPS], warm[REPS], dec[REPS];
    size_t n_ids = 0;
    encode_s(t, dir, text, n, &n_ids); /* warms t's cache */
    for (int r = 0; r < REPS; r++) {
        cold[r] = encode_s(NULL, dir, text, n, &n_ids);
        warm[r] = encode_s(t, dir, text, n, &n_ids);
        if (cold[r] < 0 || warm[r] < 0) return 1;
    }
    int32_t *ids = NULL;
    size_t cap = 0, m = 0;
    if (bpe_encode(t, text, n, &ids, &m, &cap, err, sizeof err)) return 1;
    char *out = malloc(n + 1);
    for (int r = 0; r < REPS; r++) {
        double d0 = now_s();
        size_t k = bpe_decode(t, ids, m, out, n + 1);
        dec[r] = now_s() - d0;
        if (k != n || memcmp(out, text, n) != 0) {
            fprintf(stderr, "bench_bpe: decode(encode(text)) differs from the text\n");
            return 1;
        }
    }
    qsort(cold, REPS, sizeof *cold, cmp_d);
    qsort(warm, REPS, sizeof *warm, cmp_d);
    qsort(dec, REPS, sizeof *dec, cmp_d);
    double mb = (double)n / 1e6;
    printf("bpe: %s, %.2f MB -> %zu tokens (%.2f bytes/token); load %.0f ms; median of %d, "
           "one thread\n", path, mb, m, (double)n / (double)m, load * 1e3, REPS);
    printf("  encode, cold cache  %8.1f MB/s\n", mb / cold[REPS / 2]);
    printf("  encode, warm cache  %8.1f MB/s\n", mb / warm[REPS / 2]);
    printf("  decode              %8.1f MB/s\n", mb / dec[REPS / 2]);
    printf("  target >= 2 MB/s (cold): %s\n", mb / cold[REPS / 2] >= 2.0 ? "met" : "NOT met");
    free(out);
    free(ids);
    free(text);
    bpe_free(t);
    return 0;
}
