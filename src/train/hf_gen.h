/* hf_gen.h — writes tiny random Hugging Face GPT-2 folders (config.json + safetensors, one file
 * or shards) in every layout mptui reads: the fixtures of tests and examples/make_tiny_gpt2. */
#ifndef MPTUI_HF_GEN_H
#define MPTUI_HF_GEN_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int n_layer, n_head, n_embd, n_positions, vocab_size;
    const char *dtype; /* storage of every weight: "F32", "F16" or "BF16" */
    int prefix;        /* 1: names start with "transformer." (GPT2LMHeadModel), 0: bare (hub gpt2) */
    int lm_head;       /* 1: also lm_head.weight, a copy of wte */
    int attn_bias;     /* 0: none; 1: attn.bias F32 (1,1,P,P) + attn.masked_bias F32 scalar per
                        * block, as old files hold them; 2: attn.bias as BOOL */
    int shards;        /* 0: model.safetensors; N >= 1: N shards + model.safetensors.index.json */
    uint64_t seed;
} hfgen_opts;

/* 2 layers, 2 heads, 32 wide, 64 positions, vocabulary 256, F32, prefixed, one file, seed 1. */
void hfgen_defaults(hfgen_opts *o);
/* Creates dir (and parents) and writes config.json (GPT2Config keys as the hub's gpt2 has
 * them) and the weights. 0, or -1 + err. */
int hfgen_write(const char *dir, const hfgen_opts *o, char *err, size_t errlen);
/* The n values hfgen_write stores in the GPT-2 tensor `name` (with or without
 * "transformer."): a function of the seed and the name only, each exactly representable in
 * o->dtype (so a reader must return them bit for bit). -1 for an unknown name. */
int hfgen_values(const hfgen_opts *o, const char *name, float *out, size_t n);

#endif
