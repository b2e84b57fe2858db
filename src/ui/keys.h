/* keys.h — what a key press means: view changes (selection, smoothing, log scale, help) and
 * commands for the worker. ncurses key codes; no terminal needed. */
#ifndef MPTUI_KEYS_H
#define MPTUI_KEYS_H

#include "feed.h"
#include "panels.h"

typedef enum { KA_NONE = 0, KA_REDRAW, KA_CMD, KA_QUIT } key_action;

#define KEY_CTRL_C 3

/* Applies key to the view; KA_CMD fills *cmd for the worker. */
key_action keys_handle(ui_view *v, const feed_snapshot *s, int key, feed_cmd *cmd);
/* Next mode in the cycle fp32 -> fp16 -> bf16 -> fp8 -> fp32 (dtype_info.next). */
dtype_t keys_next_mode(dtype_t m);
/* Next override of a row of this kind in the cycle inherit (-1) -> fp32 -> fp16 -> bf16 ->
 * fp8 -> inherit (the m cycle with inherit where it would start again), skipping the dtypes
 * the row does not take (prec_kind_accepts: fp8 only on Linear rows, fp32 only on
 * embeddings and the loss). */
int keys_next_override(int ov, layer_kind kind);

#endif
