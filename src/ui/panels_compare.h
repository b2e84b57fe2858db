/* panels_compare.h — panels drawn instead of (or beside) the usual ones while lockstep
 * replicas run: loss overlay + legend, per-replica scale and eval, divergence, the picker. */
#ifndef MPTUI_PANELS_COMPARE_H
#define MPTUI_PANELS_COMPARE_H

#include "panels.h"

/* Marker of replica i: ● ▲ ■ (ASCII o + x). */
uint32_t panel_replica_glyph(int i, int unicode);
/* Room for a replica label: its name or a dtype label, never cut. */
#define PANEL_LABEL_LEN 16
_Static_assert(PANEL_LABEL_LEN >= sizeof(((feed_replica *)0)->name) &&
               PANEL_LABEL_LEN > DT_LABEL_MAX, "a replica label fits PANEL_LABEL_LEN");
/* "FP16" for a replica named after its mode, else its name. */
void panel_replica_label(const feed_replica *r, char *buf, size_t n);

void panel_loss_compare(ui_grid *g, ui_rect r, const feed_snapshot *s, const ui_history *h,
                        const ui_view *v);
void panel_scale_compare(ui_grid *g, ui_rect r, const feed_snapshot *s, const ui_history *h,
                         const ui_view *v);
void panel_eval_compare(ui_grid *g, ui_rect r, const feed_snapshot *s, const ui_view *v);
void panel_div(ui_grid *g, ui_rect r, const feed_snapshot *s, const ui_view *v);
/* The picker's choices from `current`: every set of other modes a comparison can add beside
 * it (the run's own mode takes one of the FEED_MAX_LANES lanes), as bit masks (1 << dtype):
 * single modes in dtype-table order, then pairs, ... Keys 1 .. n. Returns n. */
#define PANEL_PICKER_MAX 9 /* one digit each */
int panel_picker_choices(dtype_t current, int out[PANEL_PICKER_MAX]);
/* A choice's modes joined by '+': "FP32+BF16". Returns buf. */
const char *panel_picker_label(int mask, char *buf, size_t n);
/* The one-line picker, drawn over the message line. */
void panel_picker(ui_grid *g, ui_rect r, const feed_snapshot *s);

#endif
