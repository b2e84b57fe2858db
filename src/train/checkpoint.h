/* checkpoint.h — checkpoint-<step>/ directories (model.safetensors, optimizer.safetensors,
 * trainer_state.json, config.json): atomic save, rotation, validated load, --init_from. */
#ifndef MPTUI_CHECKPOINT_H
#define MPTUI_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt_state.h"
#include "model.h"
#include "safetensors.h"

/* Writes <output_dir>/checkpoint-<global_step>/ atomically (temporary directory, fsync, rename;
 * an existing directory of the same step is swapped out atomically; anything else of that
 * name, e.g. a user's file, is never replaced: the save fails), then keeps the newest
 * save_total_limit complete checkpoints (0 = all; the one just written is always kept) and
 * removes stale temporary directories. saved_dir (may be NULL) receives the path. 0 ok;
 * -1 + err (unwritable, disk full), every earlier checkpoint untouched. */
int ckpt_save(const char *output_dir, gpt *m, const ckpt_state *st, int save_total_limit,
              char *saved_dir, size_t saved_len, char *err, size_t errlen);
/* Loads weights, AdamW m / v and the state; checks config.json against the model's config,
 * every tensor's shape and values (finite; exp_avg_sq >= 0), and a checkpoint-<N> folder's N
 * against global_step. st is overwritten (free it with ckpt_state_free); on error neither the
 * model nor st is changed. */
int ckpt_load(const char *dir, gpt *m, ckpt_state *st, char *err, size_t errlen);
/* Newest complete checkpoint-<step> under output_dir; -1 + err when there is none. */
int ckpt_find_latest(const char *output_dir, char *out, size_t outlen, char *err, size_t errlen);
/* --init_from: master weights only, from a checkpoint directory or a .safetensors file; names
 * with or without the "transformer." prefix, F32 / F16 / BF16; extra tensors ignored; a
 * missing tensor or one whose shape differs from the model's refused by name. */
int ckpt_load_weights(const char *path, gpt *m, char *err, size_t errlen);

/* Where a weights load finds its tensors: one safetensors file, or the shards of a Hugging
 * Face folder (hf_model.c). find returns the tensor called `name` and sets *file to the file
 * that holds it, or returns NULL; label names the source in "tensor 'x' missing". */
typedef struct {
    const st_tensor *(*find)(void *ctx, const char *name, const st_file **file);
    void *ctx;
    const char *label;
} ckpt_source;
/* ckpt_load_weights from any source: every tensor found and its shape checked (the message
 * says "<expects> [shape]") before any is uploaded, one tensor at a time through a host buffer
 * as large as the largest tensor (docs/memory.md). On error the model is unchanged. */
int ckpt_load_weights_from(const ckpt_source *src, gpt *m, const char *expects, char *err,
                           size_t errlen);

#endif
