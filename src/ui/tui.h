/* tui.h — the ncurses screen: runs on the calling (main) thread, reads the engine only
 * through the feed, and sends commands back through it. */
#ifndef MPTUI_TUI_H
#define MPTUI_TUI_H

#include <stddef.h>

#include "feed.h"
#include "grid.h"

/* dev_tty: draw on /dev/tty instead of stdout, keys from stdin: rank 0 under mpirun, whose
 * stdout is mpirun's pty and whose stdin mpirun feeds from the terminal (docs/dist.md). */
typedef struct { int delay_tenths; int no_color; int no_unicode; int dev_tty; } tui_options;
/* 0 when a screen can start: stdout and stdin are terminals (or /dev/tty opens, with
 * dev_tty: stdin may then be a pipe), TERM is set, not "dumb", and newterm() works; else -1 and err = one line that
 * points to --headless. Restores the terminal. */
int tui_check_terminal(char *err, size_t errlen);
int tui_check_terminal_on(int dev_tty, char *err, size_t errlen);
/* Runs the screen on the calling thread until the user quits (q, F10, Ctrl-C); sends
 * CMD_QUIT to the worker through the feed, and returns 0; -1 + err if the terminal fails. */
int tui_run(feed *f, const tui_options *o, char *err, size_t errlen);

/* A read-only screen of its own (mptui view) on the same terminal handling: poll returns 1
 * when there is something new to draw, draw fills the grid (unicode: braille and box
 * drawing allowed), key returns 1 to quit. */
typedef struct {
    void *ctx;
    int (*poll)(void *ctx);
    void (*draw)(void *ctx, ui_grid *g, int unicode);
    int (*key)(void *ctx, int key);
} tui_app;
/* Runs app until it quits (or SIGINT / SIGTERM / SIGHUP); 0, or -1 + err. */
int tui_run_app(const tui_app *app, const tui_options *o, char *err, size_t errlen);

#endif
