/* make_tiny_gpt2.c — writes a tiny random Hugging Face GPT-2 folder (hf_gen.h) for trying
 * --model_name_or_path without a download, and for tests:
 *
 *     make_tiny_gpt2 DIR [--n_layer N] [--n_head N] [--n_embd N] [--n_positions N]
 *                        [--vocab_size N] [--dtype F32|F16|BF16] [--no_prefix] [--lm_head]
 *                        [--attn_bias f32|bool] [--shards N] [--seed N]
 *     mptui --model_name_or_path DIR ...
 *
 * Defaults: 2 layers, 2 heads, 32 wide, 64 positions, vocabulary 256 (bytes), F32. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hf_gen.h"

static int usage(void)
{
    fprintf(stderr, "usage: make_tiny_gpt2 DIR [--n_layer N] [--n_head N] [--n_embd N] "
            "[--n_positions N] [--vocab_size N] [--dtype F32|F16|BF16] [--no_prefix] "
            "[--lm_head] [--attn_bias f32|bool] [--shards N] [--seed N]\n");
    return 2;
}

/* One "--name value" pair into o; 0 ok, -1 unknown or bad. */
static int set(hfgen_opts *o, const char *name, const char *v)
{
    static const char *const ints[] = {"n_layer", "n_head", "n_embd", "n_positions",
                                       "vocab_size", "shards"};
    int *fields[] = {&o->n_layer, &o->n_head, &o->n_embd, &o->n_positions, &o->vocab_size,
                     &o->shards};
    char *end;
    for (int i = 0; i < 6; i++)
        if (!strcmp(name, ints[i])) {
            long x = strtol(v, &end, 10);
            if (*end || x < 0 || x > (1 << 24)) return -1;
            *fields[i] = (int)x;
            return 0;
        }
    if (!strcmp(name, "seed")) {
        o->seed = strtoull(v, &end, 10);
        return *end ? -1 : 0;
    }
    if (!strcmp(name, "dtype")) {
        static const char *const dt[] = {"F32", "F16", "BF16"};
        for (int i = 0; i < 3; i++)
            if (!strcasecmp(v, dt[i])) return o->dtype = dt[i], 0;
        return -1;
    }
    if (!strcmp(name, "attn_bias")) {
        o->attn_bias = !strcmp(v, "f32") ? 1 : !strcmp(v, "bool") ? 2 : -1;
        return o->attn_bias < 0 ? -1 : 0;
    }
    return -1;
}

int main(int argc, char **argv)
{
    hfgen_opts o;
    hfgen_defaults(&o);
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2)) {
            if (dir) return usage();
            dir = a;
        } else if (!strcmp(a, "--no_prefix")) {
            o.prefix = 0;
        } else if (!strcmp(a, "--lm_head")) {
            o.lm_head = 1;
        } else if (i + 1 >= argc || set(&o, a + 2, argv[i + 1])) {
            fprintf(stderr, "make_tiny_gpt2: bad option %s\n", a);
            return usage();
        } else {
            i++;
        }
    }
    if (!dir) return usage();
    char err[512];
    if (hfgen_write(dir, &o, err, sizeof err)) {
        fprintf(stderr, "make_tiny_gpt2: %s\n", err);
        return 1;
    }
    printf("%s: GPT-2 %dL/%dH/%dd, %d positions, vocabulary %d, %s%s\n", dir, o.n_layer,
           o.n_head, o.n_embd, o.n_positions, o.vocab_size, o.dtype,
           o.shards ? ", sharded" : "");
    return 0;
}
