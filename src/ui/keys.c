/* keys.c — key bindings: one function from a key to a view change or a worker command. */
#include "keys.h"

#include "panels_compare.h"

#include <curses.h>
#include <stdio.h>
#include <string.h>

/* The picker's keys are digits, one per choice (panel_picker_choices, which asserts they
 * suffice); a choice never asks for more lanes than the run has. */
_Static_assert(PANEL_PICKER_MAX <= 9, "one digit per picker choice");

/* The m cycle starts at the dtype table's first row. */
#define KEYS_CYCLE_FIRST DT_F32

dtype_t keys_next_mode(dtype_t m)
{
    const dtype_info *i = dtype_info_of(m);
    return i ? i->next : KEYS_CYCLE_FIRST;
}

int keys_next_override(int ov, layer_kind kind)
{
    int d = ov < 0 ? KEYS_CYCLE_FIRST : -1;
    if (ov >= 0) {
        const dtype_info *i = dtype_info_of((dtype_t)ov);
        d = i && i->next != KEYS_CYCLE_FIRST ? (int)i->next : -1;
    }
    /* skip what the row refuses (fp8 off Linear rows, all but fp32 on embeddings and loss) */
    while (d >= 0 && !prec_kind_accepts(kind, (dtype_t)d)) {
        dtype_t nx = dtype_info_of((dtype_t)d)->next;
        d = nx == KEYS_CYCLE_FIRST ? -1 : (int)nx;
    }
    return d;
}

static key_action keys_command(ui_view *v, const feed_snapshot *s, int key, feed_cmd *cmd)
{
    memset(cmd, 0, sizeof *cmd);
    switch (key) {
    case 'e': cmd->kind = CMD_EVAL; view_message(v, 0, "eval requested"); return KA_CMD;
    case 's': cmd->kind = CMD_SAVE; view_message(v, 0, "save requested"); return KA_CMD;
    case ' ': cmd->kind = CMD_TOGGLE_PAUSE; return KA_CMD;
    case 'm': {
        if (s->n_replicas > 0) {
            view_message(v, 1, "m: not during a comparison (c ends it, keeping the selected replica)");
            return KA_REDRAW;
        }
        cmd->kind = CMD_SET_MODE;
        cmd->arg = keys_next_mode(s->mode);
        char m[64];
        snprintf(m, sizeof m, "mode -> %s (applies at the next step)", dtype_label((dtype_t)cmd->arg));
        view_message(v, 0, m);
        return KA_CMD;
    }
    case 'c':
        if (s->n_replicas > 0) {
            char lab[PANEL_LABEL_LEN], m[64];
            cmd->kind = CMD_COMPARE_STOP;
            cmd->arg = s->replica_selected;
            panel_replica_label(&s->replicas[s->replica_selected], lab, sizeof lab);
            snprintf(m, sizeof m, "ending the comparison, keeping %s", lab);
            view_message(v, 0, m);
            return KA_CMD;
        }
        v->picker = 1;
        return KA_REDRAW;
    case '\t': case KEY_BTAB:
        if (s->n_replicas <= 0) return KA_NONE;
        cmd->kind = CMD_COMPARE_SELECT;
        cmd->arg = (s->replica_selected + (key == KEY_BTAB ? s->n_replicas - 1 : 1)) % s->n_replicas;
        return KA_CMD;
    case 'o': {
        if (s->n_layers <= 0 || v->selected < 0 || v->selected >= s->n_layers) {
            view_message(v, 1, "no layer selected (use the arrows in the precision map)");
            return KA_REDRAW;
        }
        const feed_layer *l = &s->layers[v->selected];
        if (l->comm) {
            view_message(v, 1, "the gradients travel as --ddp_comm_dtype, fixed for the run");
            return KA_REDRAW;
        }
        cmd->kind = CMD_SET_OVERRIDE;
        cmd->arg = keys_next_override(l->override, l->kind);
        snprintf(cmd->name, sizeof cmd->name, "%s", l->name);
        char m[96];
        snprintf(m, sizeof m, "override %s -> %s", l->name,
                 cmd->arg < 0 ? "inherit" : dtype_label((dtype_t)cmd->arg));
        view_message(v, 0, m);
        return KA_CMD;
    }
    }
    return KA_NONE;
}

/* The compare picker: 1 .. n start one of its n choices; anything else cancels. */
static key_action keys_picker(ui_view *v, const feed_snapshot *s, int key, feed_cmd *cmd)
{
    int c[PANEL_PICKER_MAX], n = panel_picker_choices(s->mode, c);
    v->picker = 0;
    memset(cmd, 0, sizeof *cmd);
    if (key == KEY_RESIZE) {
        v->picker = 1;
        return KA_REDRAW;
    }
    int pick = key - '1';
    if (pick < 0 || pick >= n) {
        view_message(v, 0, "compare cancelled");
        return KA_REDRAW;
    }
    cmd->kind = CMD_COMPARE_START;
    cmd->arg = c[pick];
    char m[96], lab[64];
    snprintf(m, sizeof m, "starting a comparison: %s vs %s", dtype_label(s->mode),
             panel_picker_label(c[pick], lab, sizeof lab));
    view_message(v, 0, m);
    return KA_CMD;
}

key_action keys_handle(ui_view *v, const feed_snapshot *s, int key, feed_cmd *cmd)
{
    if (key == KEY_CTRL_C) return KA_QUIT;
    if (v->help) { /* any key closes the overlay */
        if (key == KEY_RESIZE) return KA_REDRAW;
        v->help = 0;
        return KA_REDRAW;
    }
    if (v->picker) return keys_picker(v, s, key, cmd);
    int page = v->map_page > 0 ? v->map_page : 1;
    switch (key) {
    case 'q': case 'Q': case KEY_F(10): return KA_QUIT;
    case '?': case KEY_F(1): v->help = 1; return KA_REDRAW;
    case 'l': v->log_scale = !v->log_scale; return KA_REDRAW;
    case '[': v->smooth = v->smooth - 0.05 < 0 ? 0 : v->smooth - 0.05; return KA_REDRAW;
    case ']': v->smooth = v->smooth + 0.05 > 0.99 ? 0.99 : v->smooth + 0.05; return KA_REDRAW;
    case KEY_UP: v->selected--; return KA_REDRAW;
    case KEY_DOWN: v->selected++; return KA_REDRAW;
    case KEY_PPAGE: v->selected -= page; v->scroll -= page; return KA_REDRAW;
    case KEY_NPAGE: v->selected += page; v->scroll += page; return KA_REDRAW;
    case KEY_HOME: v->selected = 0; return KA_REDRAW;
    case KEY_END: v->selected = s->n_layers - 1; return KA_REDRAW;
    case KEY_RESIZE: return KA_REDRAW;
    }
    return keys_command(v, s, key, cmd);
}
