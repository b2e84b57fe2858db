/* panels_compare.h — panels drawn instead of (or beside) the usual ones while lockstep
 * replicas run: loss overlay + legend, per-replica scale and eval, divergence, the picker. */
#ifndef MPTUI_PANELS_COMPARE_H
#define MPTUI_PANELS_COMPARE_H

#include "panels.h"

/* Marker of replica i: ● ▲ ■ (ASCII o + x). */
uint32_t panel_replica_glyph(int i, int unicode);
/* "FP16" for a replica named after its mode, else its name. */
void panel_replica_label(const feed_replica *r, char *buf, size_t n);

void panel_loss_compare(ui_grid *g, ui_rect r, const feed_snapshot *s, const ui_history *h,
                        const ui_view *v);
void panel_scale_compare(ui_grid *g, ui_rect r, const feed_snapshot *s, const ui_history *h,
                         const ui_view *v);
void panel_eval_compare(ui_grid *g, ui_rect r, const feed_snapshot *s, const ui_view *v);
void panel_div(ui_grid *g, ui_rect r, const feed_snapshot *s, const ui_view *v);
/* The two modes a comparison from `current` can add (keys 1 and 2; 3 = both). */
void panel_picker_modes(dtype_t current, dtype_t out[2]);
/* The one-line picker, drawn over the message line. */
void panel_picker(ui_grid *g, ui_rect r, const feed_snapshot *s);

#endif
