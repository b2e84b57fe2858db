/* main.c — parses options, runs the engine headless or under the screen (worker thread +
 * UI thread), and decides what the user sees and the exit code. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blas_retune.h"
#include "config.h"
#include "feed.h"
#include "trainer.h"
#include "tui.h"

static trainer *volatile g_trainer; /* for the signal handler only */
static volatile sig_atomic_t g_stop;  /* a signal before the trainer existed */

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
    if (g_trainer) trainer_request_stop(g_trainer);
}

/* SIGINT, SIGTERM and SIGHUP (an SSH drop) all finish the step, save per --save_strategy
 * and exit 0. Installed before the screen starts: ncurses then leaves them alone instead of
 * exiting with 1 on SIGTERM without the final save. */
static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

static void watch_trainer(trainer *t)
{
    g_trainer = t;
    if (g_stop) trainer_request_stop(t);
}

static void log_stdout(void *ud, const char *line)
{
    (void)ud;
    printf("%s\n", line);
    fflush(stdout);
}

/* Under the screen, engine lines go to <output_dir>/mptui.log (the screen shows the
 * newest one on its message line). */
static void log_file(void *ud, const char *line)
{
    FILE *f = ud;
    if (!f) return;
    fprintf(f, "%s\n", line);
    fflush(f);
}

static FILE *open_log(const mp_config *c)
{
    char path[CFG_PATH_MAX + 16];
    mkdir(c->output_dir, 0755); /* the trainer creates the rest; EEXIST is fine */
    snprintf(path, sizeof path, "%s/mptui.log", c->output_dir);
    return fopen(path, "a");
}

typedef struct { trainer *t; int rc; char err[512]; } worker_args;

static void *worker_main(void *p)
{
    worker_args *w = p;
    w->rc = trainer_run(w->t, w->err, sizeof w->err);
    return NULL;
}

/* The exit status of a run that could not start: 2 when its memory plan does not fit (a
 * bad value, as docs/memory.md says), else 1. */
static int open_failed(int why) { return why == TRAINER_NO_MEMORY ? 2 : 1; }

/* --dry_run: the memory plan on stdout; 0 when it fits, 2 (and the refusal) when not. */
static int run_dry(const mp_config *c)
{
    static char table[8192];
    char err[512] = "";
    int rc = trainer_dry_run(c, table, sizeof table, err, sizeof err);
    if (rc >= 0) fputs(table, stdout);
    if (rc) fprintf(stderr, "mptui: %s\n", err);
    return rc == 0 ? 0 : open_failed(rc);
}

static int run_headless(const mp_config *c)
{
    char err[512] = "";
    int why = 0;
    install_signals();
    trainer *t = trainer_open(c, NULL, log_stdout, NULL, &why, err, sizeof err);
    if (!t) {
        fprintf(stderr, "mptui: %s\n", err);
        return open_failed(why);
    }
    watch_trainer(t);
    int rc = trainer_run(t, err, sizeof err);
    char summary[4096];
    trainer_summary(t, summary, sizeof summary);
    printf("%s\n", summary);
    g_trainer = NULL;
    trainer_free(t);
    if (rc) fprintf(stderr, "mptui: %s\n", err);
    return rc ? 1 : 0;
}

static int run_screen(const mp_config *c)
{
    char err[512] = "";
    install_signals(); /* before ncurses first starts (tui_check_terminal) */
    if (tui_check_terminal(err, sizeof err)) {
        fprintf(stderr, "mptui: %s\n", err);
        return 1;
    }
    FILE *logf = open_log(c);
    feed *f = feed_create();
    int why = -1;
    trainer *t = f ? trainer_open(c, f, log_file, logf, &why, err, sizeof err) : NULL;
    if (!t) {
        fprintf(stderr, "mptui: %s\n", f ? err : "out of memory");
        feed_destroy(f);
        if (logf) fclose(logf);
        return open_failed(why);
    }
    watch_trainer(t);
    worker_args w = {t, 0, ""};
    pthread_t th;
    if (pthread_create(&th, NULL, worker_main, &w)) {
        fprintf(stderr, "mptui: cannot start the worker thread: %s\n", strerror(errno));
        g_trainer = NULL;
        trainer_free(t);
        feed_destroy(f);
        return 1;
    }
    tui_options o = {c->delay, c->no_color, c->no_unicode};
    int ui_rc = tui_run(f, &o, err, sizeof err);
    trainer_request_stop(t); /* the screen is gone: finish the step, flush, join */
    pthread_join(th, NULL);
    char summary[4096];
    trainer_summary(t, summary, sizeof summary);
    printf("%s\n", summary);
    g_trainer = NULL;
    trainer_free(t);
    feed_destroy(f);
    if (logf) fclose(logf);
    if (ui_rc) fprintf(stderr, "mptui: %s\n", err);
    if (w.rc) fprintf(stderr, "mptui: %s\n", w.err);
    return ui_rc || w.rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    mp_config c;
    static char msg[16384]; /* --help is about 6 KB */
    blas_retune(argv);
    cfg_defaults(&c);
    cfg_result r = cfg_parse_args(&c, argc, argv, msg, sizeof msg);
    if (r == CFG_EXIT_OK) {
        fputs(msg, stdout);
        return 0;
    }
    if (r == CFG_ERR || cfg_validate(&c, msg, sizeof msg)) {
        fprintf(stderr, "mptui: %s\n", msg);
        return 2;
    }
    if (c.dry_run) return run_dry(&c);
    return c.headless ? run_headless(&c) : run_screen(&c);
}
