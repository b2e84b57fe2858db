/* ckpt_tok.h — the tokenizer files a checkpoint of a BPE run carries, so the checkpoint
 * folder loads as a Hugging Face model folder with its tokenizer (docs/files.md). */
#ifndef MPTUI_CKPT_TOK_H
#define MPTUI_CKPT_TOK_H

#include <stddef.h>

/* Copies tok_dir's tokenizer files into dir (vocab.json + merges.txt, and tokenizer.json
 * where tok_dir has one) and writes tokenizer_config.json and special_tokens_map.json (GPT-2's
 * <|endoftext|> as bos, eos and unk; model_max_length = block_size) unless tok_dir has its own,
 * which are copied. Each file fsynced. 0 ok; -1 + err naming the file. */
int ckpt_tok_write(const char *dir, const char *tok_dir, int block_size, char *err,
                   size_t errlen);

#endif
