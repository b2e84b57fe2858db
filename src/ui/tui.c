/* tui.c — the ncursesw loop: takes a snapshot and new metric rows at the frame rate, draws
 * the panels into a grid, copies the grid to the terminal, and turns keys into commands. */
#define NCURSES_WIDECHAR 1
#include "tui.h"

#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "grid.h"
#include "history.h"
#include "keys.h"
#include "panels.h"

static volatile sig_atomic_t tui_sigint;

/* SIGINT (kill -INT; Ctrl-C is a key in raw mode), SIGTERM and SIGHUP (an SSH drop) end the
 * loop like q: the terminal is restored (endwin) and the caller finishes the run. */
static const int tui_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define TUI_NSIG (int)(sizeof tui_signals / sizeof tui_signals[0])
static struct sigaction tui_old_sa[TUI_NSIG];

static void tui_on_sigint(int sig)
{
    tui_sigint = 1;
    for (int i = 0; i < TUI_NSIG; i++) /* the caller's handler still runs (it stops the run) */
        if (tui_signals[i] == sig && !(tui_old_sa[i].sa_flags & SA_SIGINFO) &&
            tui_old_sa[i].sa_handler != SIG_DFL && tui_old_sa[i].sa_handler != SIG_IGN)
            tui_old_sa[i].sa_handler(sig);
}

static long long tui_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The terminal's files: stdout / stdin, or /dev/tty to draw on. Keys still come from stdin
 * there: mpirun reads the terminal and forwards what it reads to rank 0's stdin, so reading
 * /dev/tty would race it; ncurses sets the modes on the output's terminal (raw, no echo),
 * which is the one mpirun reads. 0, or -1 when /dev/tty cannot be opened. */
static int term_files(int dev_tty, FILE **out, FILE **in)
{
    *out = stdout;
    *in = stdin;
    if (!dev_tty) return 0;
    *out = fopen("/dev/tty", "w");
    return *out ? 0 : -1;
}

static void term_files_close(FILE *out, FILE *in)
{
    if (out && out != stdout) fclose(out);
    if (in && in != stdin) fclose(in);
}

int tui_check_terminal_on(int dev_tty, char *err, size_t errlen)
{
    const char *term = getenv("TERM");
    const char *why = NULL;
    FILE *out = NULL, *in = NULL;
    if (term_files(dev_tty, &out, &in)) why = "/dev/tty cannot be opened (no terminal)";
    else if (!isatty(fileno(out)) || (!dev_tty && !isatty(fileno(in))))
        why = "stdin/stdout is not a terminal";
    else if (!term || !*term) why = "TERM is not set";
    else if (!strcmp(term, "dumb")) why = "TERM=dumb cannot draw a screen";
    if (!why) {
        setlocale(LC_ALL, "");
        SCREEN *sc = newterm(NULL, out, in);
        if (!sc) why = "the terminal type in TERM is unknown (newterm failed)";
        else {
            endwin();
            delscreen(sc);
        }
    }
    term_files_close(out, in);
    if (why) {
        snprintf(err, errlen, "no screen: %s; run with --headless to train without the screen", why);
        return -1;
    }
    return 0;
}

int tui_check_terminal(char *err, size_t errlen) { return tui_check_terminal_on(0, err, errlen); }

/* ---- terminal state ---- */

typedef struct {
    SCREEN *sc;
    FILE *out, *in;        /* what sc draws on and reads (stdout / stdin, or /dev/tty) */
    int color;
    int unicode;
    short pair[UC_COUNT];  /* 0 = default colors */
    attr_t mono[UC_COUNT]; /* what a color role becomes without colors */
} tui_term;

#define FP8_ORANGE 208 /* xterm-256 index: #ff8700 */

static void tui_colors(tui_term *t, int want)
{
    static const short fg[UC_COUNT] = {
        [UC_DEFAULT] = -1, [UC_TITLE] = COLOR_CYAN, [UC_FP32] = COLOR_CYAN,
        [UC_FP16] = COLOR_YELLOW, [UC_BF16] = COLOR_MAGENTA, [UC_FP8] = COLOR_GREEN,
        [UC_BAD] = COLOR_RED,
        [UC_WARN] = COLOR_YELLOW, [UC_GOOD] = COLOR_GREEN, [UC_RAW] = COLOR_BLUE,
        [UC_SMOOTH] = COLOR_CYAN, [UC_EVAL] = COLOR_MAGENTA, [UC_SCALE] = COLOR_GREEN,
        [UC_DIM] = -1,
    };
    memset(t->mono, 0, sizeof t->mono);
    t->mono[UC_TITLE] = A_BOLD;
    t->mono[UC_FP16] = A_BOLD;
    t->mono[UC_BF16] = A_UNDERLINE;
#ifdef A_ITALIC
    t->mono[UC_FP8] = A_ITALIC;
#else
    t->mono[UC_FP8] = A_BOLD;
#endif
    t->mono[UC_BAD] = A_BOLD | A_UNDERLINE;
    t->mono[UC_WARN] = A_BOLD;
    t->mono[UC_SMOOTH] = A_BOLD;
    t->mono[UC_DIM] = A_DIM;
    memset(t->pair, 0, sizeof t->pair);
    t->color = want && has_colors() && start_color() == OK;
    if (!t->color) return;
    use_default_colors();
    for (int c = 1; c < UC_COUNT; c++) {
        if (fg[c] < 0) continue;
        short f = fg[c];
        /* FP8: orange where the terminal has 256 colours (apart from FP16's yellow and
         * BF16's magenta, readable on dark and light backgrounds), else green */
        if (c == UC_FP8 && COLORS >= 256) f = FP8_ORANGE;
        init_pair((short)c, f, -1);
        t->pair[c] = (short)c;
    }
}

static int tui_open(tui_term *t, const tui_options *o, char *err, size_t errlen)
{
    setlocale(LC_ALL, "");
    if (term_files(o->dev_tty, &t->out, &t->in)) {
        t->sc = NULL;
        snprintf(err, errlen, "cannot start the screen: /dev/tty cannot be opened; run with "
                 "--headless");
        return -1;
    }
    t->sc = newterm(NULL, t->out, t->in);
    if (!t->sc) {
        term_files_close(t->out, t->in);
        t->out = t->in = NULL;
        snprintf(err, errlen, "cannot start the screen (newterm failed for TERM=%s); "
                 "run with --headless", getenv("TERM") ? getenv("TERM") : "");
        return -1;
    }
    set_term(t->sc);
    raw(); /* Ctrl-C arrives as a key: no signal can interrupt a half-written frame */
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    curs_set(0);
    const char *cs = nl_langinfo(CODESET);
    t->unicode = !o->no_unicode && cs && (!strcmp(cs, "UTF-8") || !strcmp(cs, "utf8"));
    const char *nc = getenv("NO_COLOR");
    tui_colors(t, !o->no_color && !(nc && *nc));
    return 0;
}

static void tui_close(tui_term *t)
{
    if (!t->sc) return;
    endwin();
    delscreen(t->sc);
    t->sc = NULL;
    term_files_close(t->out, t->in);
    t->out = t->in = NULL;
}

/* Copies the grid to curses; ncurses itself sends only the cells that changed. */
static void tui_blit(const tui_term *t, const ui_grid *g)
{
    for (int y = 0; y < g->h; y++)
        for (int x = 0; x < g->w; x++) {
            const ui_cell *c = grid_cell(g, x, y);
            attr_t a = 0;
            if (c->attr & UA_BOLD) a |= A_BOLD;
            if (c->attr & UA_REVERSE) a |= A_REVERSE;
            if (c->attr & UA_UNDERLINE) a |= A_UNDERLINE;
            if (c->attr & UA_DIM) a |= A_DIM;
            short pair = 0;
            if (t->color) pair = c->color < UC_COUNT ? t->pair[c->color] : 0;
            else if (c->color < UC_COUNT) a |= t->mono[c->color];
            if (c->color == UC_DIM && t->color) a |= A_DIM;
            wchar_t wc[2] = {(wchar_t)c->ch, 0};
            if (!t->unicode && c->ch >= 0x80) wc[0] = '?';
            cchar_t cc;
            setcchar(&cc, wc, a, pair, NULL);
            mvadd_wch(y, x, &cc);
        }
}

/* ---- the loop ---- */

typedef struct {
    feed *f;
    tui_term term;
    ui_grid grid;
    ui_history hist;
    ui_view view;
    feed_snapshot *snap;
    metric_row *rows;
    uint64_t snap_version, msg_seq;
} tui_state;

enum { TUI_ROWS = 256 };

/* Pulls new rows and the latest snapshot; 1 when something changed. */
static int tui_poll(tui_state *st)
{
    int changed = 0;
    size_t n;
    while ((n = feed_read_rows(st->f, &st->hist.since, st->rows, TUI_ROWS)) > 0) {
        history_ingest(&st->hist, st->rows, n);
        changed = 1;
    }
    uint64_t ver = feed_get_snapshot(st->f, st->snap);
    if (ver != st->snap_version) {
        st->snap_version = ver;
        changed = 1;
    }
    if (st->snap->msg_seq != st->msg_seq) { /* a newer engine message replaces our own */
        st->msg_seq = st->snap->msg_seq;
        st->view.msg[0] = 0;
    }
    return changed;
}

static void tui_draw(tui_state *st)
{
    int w = COLS, h = LINES;
    if (w != st->grid.w || h != st->grid.h) {
        if (grid_resize(&st->grid, w > 0 ? w : 1, h > 0 ? h : 1)) return;
        clearok(curscr, TRUE);
    }
    panels_draw(&st->grid, st->snap, &st->hist, &st->view);
    tui_blit(&st->term, &st->grid);
    wnoutrefresh(stdscr);
    doupdate();
}

static void tui_send(tui_state *st, const feed_cmd *c)
{
    if (feed_push_cmd(st->f, c) != 0) view_message(&st->view, 1, "command queue full; try again");
}

static void tui_quit(tui_state *st)
{
    feed_cmd q = {.kind = CMD_QUIT};
    for (int i = 0; i < 200 && feed_push_cmd(st->f, &q) != 0; i++) { /* worker drains within a step */
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
}

static void tui_loop(tui_state *st, int delay_ms)
{
    long long next = 0;
    int dirty = 1;
    for (;;) {
        if (tui_sigint) break;
        long long now = tui_now_ms();
        if (now >= next) {
            dirty |= tui_poll(st);
            next = now + delay_ms;
        }
        if (dirty) {
            tui_draw(st);
            dirty = 0;
        }
        long long wait = next - tui_now_ms();
        timeout(wait > 0 ? (int)wait : 0);
        int key = getch();
        if (key == ERR) continue;
        feed_cmd cmd;
        key_action a = keys_handle(&st->view, st->snap, key, &cmd);
        if (a == KA_QUIT) break;
        if (a == KA_CMD) tui_send(st, &cmd);
        if (a != KA_NONE) dirty = 1;
    }
}

static void tui_state_free(tui_state *st)
{
    grid_free(&st->grid);
    history_free(&st->hist);
    free(st->snap);
    free(st->rows);
}

int tui_run(feed *f, const tui_options *o, char *err, size_t errlen)
{
    tui_state st;
    memset(&st, 0, sizeof st);
    st.f = f;
    st.snap = calloc(1, sizeof *st.snap);
    st.rows = calloc(TUI_ROWS, sizeof *st.rows);
    if (!st.snap || !st.rows || history_init(&st.hist) || grid_init(&st.grid, 80, 24)) {
        tui_state_free(&st);
        snprintf(err, errlen, "out of memory starting the screen");
        tui_quit(&(tui_state){.f = f});
        return -1;
    }
    /* before newterm: ncurses then installs no handler of its own (its SIGTERM one exits 1
     * without the final save) */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = tui_on_sigint;
    sigemptyset(&sa.sa_mask);
    tui_sigint = 0;
    for (int i = 0; i < TUI_NSIG; i++) sigaction(tui_signals[i], &sa, &tui_old_sa[i]);
    if (tui_open(&st.term, o, err, errlen)) {
        for (int i = 0; i < TUI_NSIG; i++) sigaction(tui_signals[i], &tui_old_sa[i], NULL);
        tui_quit(&st);
        tui_state_free(&st);
        return -1;
    }
    view_init(&st.view, st.term.unicode);
    int delay = o->delay_tenths > 0 ? o->delay_tenths * 100 : 100;
    tui_loop(&st, delay);
    tui_quit(&st);
    tui_close(&st.term);
    for (int i = 0; i < TUI_NSIG; i++) sigaction(tui_signals[i], &tui_old_sa[i], NULL);
    tui_state_free(&st);
    return 0;
}

/* ---- a read-only screen (mptui view) ---- */

static void tui_app_loop(const tui_app *app, tui_term *t, ui_grid *g, int delay_ms)
{
    long long next = 0;
    int dirty = 1;
    while (!tui_sigint) {
        long long now = tui_now_ms();
        if (now >= next) {
            dirty |= app->poll ? app->poll(app->ctx) : 0;
            next = now + delay_ms;
        }
        if (dirty && (COLS != g->w || LINES != g->h)) {
            if (grid_resize(g, COLS > 0 ? COLS : 1, LINES > 0 ? LINES : 1)) break;
            clearok(curscr, TRUE);
        }
        if (dirty) {
            app->draw(app->ctx, g, t->unicode);
            tui_blit(t, g);
            wnoutrefresh(stdscr);
            doupdate();
            dirty = 0;
        }
        long long wait = next - tui_now_ms();
        timeout(wait > 0 ? (int)wait : 0);
        int key = getch();
        if (key == ERR) continue;
        if (app->key(app->ctx, key)) break;
        dirty = 1;
    }
}

int tui_run_app(const tui_app *app, const tui_options *o, char *err, size_t errlen)
{
    ui_grid g;
    tui_term t;
    memset(&t, 0, sizeof t);
    if (grid_init(&g, 80, 24)) {
        snprintf(err, errlen, "out of memory starting the screen");
        return -1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = tui_on_sigint;
    sigemptyset(&sa.sa_mask);
    tui_sigint = 0;
    for (int i = 0; i < TUI_NSIG; i++) sigaction(tui_signals[i], &sa, &tui_old_sa[i]);
    int rc = tui_open(&t, o, err, errlen);
    if (rc == 0) {
        tui_app_loop(app, &t, &g, o->delay_tenths > 0 ? o->delay_tenths * 100 : 100);
        tui_close(&t);
    }
    for (int i = 0; i < TUI_NSIG; i++) sigaction(tui_signals[i], &tui_old_sa[i], NULL);
    grid_free(&g);
    return rc;
}
