/* fuzz_bpe.c — libFuzzer harness: any bytes as text for GPT-2's tokenizer (datasets/gpt2 under
 * MPTUI_ROOT, which make exports); valid UTF-8 must decode back to itself, invalid gets an error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bpe *t;
    static char err[512];
    if (!t) {
        char dir[4096];
        const char *root = getenv("MPTUI_ROOT");
        snprintf(dir, sizeof dir, "%s/datasets/gpt2", root ? root : "..");
        t = bpe_load_dir(dir, err, sizeof err);
        if (!t) {
            fprintf(stderr, "fuzz_bpe: %s\n", err);
            abort();
        }
    }
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    err[0] = 0;
    if (bpe_encode(t, (const char *)data, size, &ids, &n, &cap, err, sizeof err) == 0) {
        char *out = malloc(size + 1);
        if (bpe_decode(t, ids, n, out, size + 1) != size || memcmp(out, data, size) != 0) abort();
        free(out);
    } else if (!err[0]) abort();
    free(ids);
    return 0;
}
