/* hf_model.h — Hugging Face GPT-2 folders (--model_name_or_path): config.json read and checked
 * against what this GPT-2 computes, weights from model.safetensors or its shards (docs/files.md). */
#ifndef MPTUI_HF_MODEL_H
#define MPTUI_HF_MODEL_H

#include <stddef.h>

#include "model.h"

/* What a folder's config.json fixes (GPT2Config's defaults for absent keys). */
typedef struct {
    int n_layer, n_head, n_embd, n_positions, vocab_size;
    int bos_token_id, eos_token_id; /* -1: null */
    double dropout;                 /* the largest of resid / embd / attn_pdrop (not applied) */
} hf_config;

/* Reads DIR/config.json: model_type "gpt2", the shape (GPT2Config names or their aliases
 * hidden_size, num_hidden_layers, num_attention_heads, max_position_embeddings), and refuses
 * what this GPT-2 cannot honour (another activation than the tanh GELU, layer_norm_epsilon
 * other than 1e-5, n_inner other than 4 x n_embd, untied embeddings, attention variants).
 * 0, or -1 + one line naming the file, the key and what to do. */
int hf_config_read(const char *dir, hf_config *c, char *err, size_t errlen);

/* Loads DIR's weights into m's masters: DIR/config.json must describe m's shape, the tensors
 * come from DIR/model.safetensors or the shards DIR/model.safetensors.index.json lists (names
 * with or without "transformer.", F32 / F16 / BF16 widened exactly), one at a time (every one
 * checked before any is uploaded: on error m is unchanged). lm_head.weight must be absent or
 * equal wte bit for bit; tensors the model does not use (attn.bias buffers) are ignored. A
 * folder with only pytorch_model.bin is refused with how to convert it. info (may be NULL)
 * receives a line for the log: where the weights came from, and the dropout not applied. */
int hf_load(const char *dir, gpt *m, char *info, size_t infolen, char *err, size_t errlen);

#endif
