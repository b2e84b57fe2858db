/* main.c — parses options, runs the engine headless or under the screen (worker thread +
 * UI thread), and decides what the user sees and the exit code. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blas_retune.h"
#include "config.h"
#include "data.h"
#include "dist.h"
#include "feed.h"
#include "trainer.h"
#include "tui.h"
#include "viewout.h"
#include "viewscreen.h"

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

/* ---- tokenizing text (docs/data.md, "Text through a tokenizer") ---- */

typedef struct {
    const char *what;  /* the file being tokenized */
    double t0, last;   /* clock at the start and at the last line (terminal) */
    int quarter;       /* the last quarter a line was printed for (pipe) */
    int tty;           /* stderr is a terminal: one line rewritten in place */
} progress;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define PROGRESS_MIN ((size_t)4 << 20)

/* On stderr, so a --headless log on stdout stays clean: a terminal gets one line rewritten
 * at most 5 times a second, a pipe a line per quarter. */
static void on_progress(void *ctx, size_t done, size_t total)
{
    progress *p = ctx;
    double t = now_s(), dt = t - p->t0;
    int pct = total ? (int)(100.0 * (double)done / (double)total) : 100;
    int end = done >= total;
    if (total < PROGRESS_MIN) return; /* done before a line would help */
    if (!end && (p->tty ? t - p->last < 0.2 : pct / 25 == p->quarter)) return;
    p->last = t;
    p->quarter = pct / 25;
    fprintf(stderr, "%smptui: tokenizing %s: %3d%% (%.1f MB/s)%s", p->tty ? "\r" : "", p->what,
            pct, dt > 0 ? (double)done / dt / 1e6 : 0.0, p->tty && !end ? "" : "\n");
    fflush(stderr);
}

static void progress_start(progress *p, const char *what)
{
    p->what = what;
    p->t0 = now_s();
    p->last = 0;
    p->quarter = -1;
    p->tty = isatty(2);
}

/* A run's text data through its tokenizer before the run opens: the progress shows here,
 * and the run then reads the token cache. */
static int prepare_data(const mp_config *c)
{
    char err[512] = "";
    progress p;
    progress_start(&p, c->data[0] ? c->data : "the built-in corpus");
    if (trainer_prepare_data(c, c->model_name_or_path, on_progress, &p, err, sizeof err) == 0)
        return 0;
    fprintf(stderr, "mptui: %s\n", err);
    return 1;
}

static const char tokenize_usage[] =
    "usage: mptui tokenize (--tokenizer_name gpt2|DIR | --model_name_or_path DIR) IN.txt OUT.bin\n"
    "Writes IN.txt's GPT-2 BPE tokens as an llm.c token file (magic 20240520, version 1,\n"
    "uint16), usable as --data / --val_data. gpt2 is the tokenizer mptui ships.\n";

/* mptui tokenize ...: 0 done, 1 failed, 2 bad arguments. */
static int run_tokenize(int argc, char **argv)
{
    mp_config c;
    cfg_defaults(&c);
    const char *model_dir = "", *files[2];
    int nf = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = strchr(a, '=');
        size_t klen = v ? (size_t)(v - a) : strlen(a);
        int is_tok = strncmp(a, "--tokenizer_name", klen) == 0 && klen == 16;
        int is_model = strncmp(a, "--model_name_or_path", klen) == 0 && klen == 20;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(tokenize_usage, stdout);
            return 0;
        }
        if (is_tok || is_model) {
            const char *val = v ? v + 1 : i + 1 < argc ? argv[++i] : NULL;
            if (!val) {
                fprintf(stderr, "mptui tokenize: %.*s needs a value\n%s", (int)klen, a,
                        tokenize_usage);
                return 2;
            }
            if (is_tok) snprintf(c.tokenizer_name, sizeof c.tokenizer_name, "%s", val);
            else model_dir = val;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "mptui tokenize: unknown option '%s'\n%s", a, tokenize_usage);
            return 2;
        } else if (nf < 2) {
            files[nf++] = a;
        } else {
            fprintf(stderr, "mptui tokenize: one input and one output file, got '%s' too\n%s",
                    a, tokenize_usage);
            return 2;
        }
    }
    if (nf < 2) {
        fprintf(stderr, "mptui tokenize: give IN.txt and OUT.bin\n%s", tokenize_usage);
        return 2;
    }
    char dir[CFG_PATH_MAX], label[64], err[512] = "";
    int rc = trainer_tokenizer_dir(&c, model_dir, dir, sizeof dir, label, sizeof label, err,
                                   sizeof err);
    if (rc == 0) {
        if (model_dir[0])
            fprintf(stderr, "mptui tokenize: %s has no vocab.json + merges.txt or "
                    "tokenizer.json; give --tokenizer_name gpt2 or a tokenizer folder\n",
                    model_dir);
        else
            fprintf(stderr, "mptui tokenize: no tokenizer given\n%s", tokenize_usage);
        return 2;
    }
    bpe *tok = rc > 0 ? bpe_load_dir(dir, err, sizeof err) : NULL;
    if (!tok) {
        fprintf(stderr, "mptui tokenize: %s\n", err);
        return rc < 0 ? 2 : 1;
    }
    progress p;
    progress_start(&p, files[0]);
    size_t nb = 0, nt = 0;
    rc = tokcache_tokenize_file(tok, files[0], files[1], on_progress, &p, &nb, &nt, err,
                                sizeof err);
    bpe_free(tok);
    if (rc) {
        fprintf(stderr, "mptui tokenize: %s\n", err);
        return 1;
    }
    double dt = now_s() - p.t0;
    printf("mptui: %s: %zu bytes -> %zu tokens with %s in %.2f s; wrote %s\n", files[0], nb,
           nt, label, dt, files[1]);
    return 0;
}

static const char view_usage[] =
    "usage: mptui view [--summary] [--plot FILE.svg] [--no-color] [--no-unicode] PATH...\n"
    "Opens saved runs read-only (up to 8): each PATH is an output dir, a logging dir or a\n"
    "metrics.csv. --summary prints a table per run, --plot writes the overlaid loss curves\n"
    "as SVG; without either, the screen shows them (q quits; docs/view.md).\n";

typedef struct { int summary, no_color, no_unicode; const char *plot; } view_args;

/* mptui view ...: 0 done, 1 bad input, 2 bad arguments. */
static int run_view(int argc, char **argv)
{
    view_args va = {0, 0, 0, NULL};
    static view_set set;
    char err[1024] = "";
    int rc = 0;
    for (int i = 2; i < argc && !rc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return fputs(view_usage, stdout), 0;
        if (!strcmp(a, "--summary")) va.summary = 1;
        else if (!strcmp(a, "--no-color")) va.no_color = 1;
        else if (!strcmp(a, "--no-unicode")) va.no_unicode = 1;
        else if (!strncmp(a, "--plot=", 7) && a[7]) va.plot = a + 7;
        else if (!strcmp(a, "--plot") && i + 1 < argc) va.plot = argv[++i];
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "mptui view: %s '%s'\n%s", strncmp(a, "--plot", 6) ? "unknown option"
                    : "--plot needs a file name:", a, view_usage);
            rc = 2;
        } else if (viewrun_add(&set, a, err, sizeof err)) {
            fprintf(stderr, "mptui view: %s\n", err);
            rc = 1;
        }
    }
    if (!rc && set.n == 0) {
        fprintf(stderr, "mptui view: give one or more runs\n%s", view_usage);
        rc = 2;
    }
    int screen = !va.summary && !va.plot;
    for (int i = 0; i < set.n && !rc && !screen; i++) /* the screen shows them itself */
        if (set.run[i].notice[0] && (i == 0 || strcmp(set.run[i].notice, set.run[i - 1].notice)))
            fprintf(stderr, "mptui view: notice: %s\n", set.run[i].notice);
    if (!rc && va.summary) {
        static char table[16384];
        viewout_summary(&set, table, sizeof table);
        fputs(table, stdout);
    }
    if (!rc && va.plot && viewout_write_svg(&set, va.plot, err, sizeof err)) {
        fprintf(stderr, "mptui view: %s\n", err);
        rc = 1;
    }
    if (!rc && screen && tui_check_terminal(err, sizeof err)) {
        char *semi = strchr(err, ';'); /* its hint is about training */
        if (semi) *semi = 0;
        fprintf(stderr, "mptui view: %s; use --summary or --plot FILE.svg\n", err);
        rc = 1;
    }
    tui_options o = {1, va.no_color, va.no_unicode, 0};
    if (!rc && screen && viewscreen_run(&set, &o, err, sizeof err)) {
        fprintf(stderr, "mptui view: %s\n", err);
        rc = 1;
    }
    viewrun_free(&set);
    return rc;
}

/* The exit status of a run that could not start: 2 when its memory plan does not fit (a
 * bad value, as docs/memory.md says), else 1. */
static int open_failed(int why) { return why == TRAINER_NO_MEMORY ? 2 : 1; }

/* --dry_run: the memory plan on stdout; 0 when it fits, 2 (and the refusal) when not. */
static int run_dry(const mp_config *c, dist *d)
{
    static char table[8192];
    char err[512] = "";
    int rc = trainer_dry_run(c, d, table, sizeof table, err, sizeof err);
    if (rc >= 0) fputs(table, stdout);
    if (rc) fprintf(stderr, "mptui: %s\n", err);
    return rc == 0 ? 0 : open_failed(rc);
}

/* A rank's failure is the run's: one line naming the rank, then every rank ends. */
static int rank_failed(dist *d, const char *err, int code)
{
    if (dist_size(d) > 1) {
        char me[32];
        int n = snprintf(me, sizeof me, "rank %d: ", dist_rank(d));
        if (strncmp(err, me, (size_t)n) == 0) err += n; /* a collective's error names it too */
        fprintf(stderr, "mptui: %s%s\n", me, err);
        fflush(stderr);
        dist_abort(d, code);
    }
    fprintf(stderr, "mptui: %s\n", err);
    return code;
}

/* Headless, or a rank other than 0 of a data-parallel run (no log lines, no summary). */
static int run_headless(const mp_config *c, dist *d)
{
    char err[512] = "";
    int why = 0, speaks = dist_rank(d) == 0;
    install_signals();
    trainer *t = trainer_open_ranks(c, d, NULL, speaks ? log_stdout : NULL, NULL, &why, err,
                                    sizeof err);
    if (!t) return rank_failed(d, err, open_failed(why));
    watch_trainer(t);
    int rc = trainer_run(t, err, sizeof err);
    if (rc && dist_size(d) > 1) rank_failed(d, err, 1);
    char summary[4096];
    trainer_summary(t, summary, sizeof summary);
    if (speaks) printf("%s\n", summary);
    g_trainer = NULL;
    trainer_free(t);
    if (rc) fprintf(stderr, "mptui: %s\n", err);
    return rc ? 1 : 0;
}

/* The screen; under mpirun (d of several ranks, rank 0) on /dev/tty, the training on every
 * rank. */
static int run_screen(const mp_config *c, dist *d)
{
    char err[512] = "";
    int tty = dist_size(d) > 1;
    install_signals(); /* before ncurses first starts (tui_check_terminal) */
    if (tui_check_terminal_on(tty, err, sizeof err)) return rank_failed(d, err, 1);
    FILE *logf = open_log(c);
    feed *f = feed_create();
    int why = -1;
    trainer *t = f ? trainer_open_ranks(c, d, f, log_file, logf, &why, err, sizeof err) : NULL;
    if (!t) {
        feed_destroy(f);
        if (logf) fclose(logf);
        return rank_failed(d, f ? err : "out of memory", open_failed(why));
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
    tui_options o = {c->delay, c->no_color, c->no_unicode, tty};
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
    if (w.rc && tty) rank_failed(d, w.err, 1);
    if (w.rc) fprintf(stderr, "mptui: %s\n", w.err);
    return ui_rc || w.rc ? 1 : 0;
}

/* Under mpirun (docs/dist.md): every rank trains its rows of each batch; rank 0 prepares
 * the data (its token cache serves the others), prints, writes and runs the screen. */
static int run_ranks(const mp_config *c)
{
    char err[512] = "";
    dist *d = dist_init(NULL, NULL, c->ddp_timeout, err, sizeof err);
    if (!d) {
        fprintf(stderr, "mptui: %s\n", err);
        return 1;
    }
    int rc = 0;
    if (dist_size(d) == 1) { /* mpirun -np 1: a single run */
        rc = prepare_data(c)  ? 1
             : c->dry_run     ? run_dry(c, NULL)
             : c->headless    ? run_headless(c, NULL)
                              : run_screen(c, NULL);
        dist_finalize(d);
        return rc;
    }
    /* CUDA: local rank r uses GPU r, unless the user chose (docs/dist.md) */
    if (!getenv("MPTUI_CUDA_DEVICE")) {
        char dev[16];
        snprintf(dev, sizeof dev, "%d", dist_local_rank(d));
        setenv("MPTUI_CUDA_DEVICE", dev, 1);
    }
    int32_t bad = dist_rank(d) == 0 ? prepare_data(c) : 0;
    if (dist_bcast(d, &bad, sizeof bad, 0, err, sizeof err)) return rank_failed(d, err, 1);
    if (bad) { /* rank 0 said why */
        dist_finalize(d);
        return 1;
    }
    if (c->dry_run)
        rc = dist_rank(d) == 0 ? run_dry(c, d) : 0;
    else if (dist_rank(d) == 0 && !c->headless)
        rc = run_screen(c, d);
    else
        rc = run_headless(c, d);
    dist_finalize(d);
    return rc;
}

int main(int argc, char **argv)
{
    mp_config c;
    static char msg[16384]; /* --help is about 6 KB */
    blas_retune(argv);
    if (argc > 1 && strcmp(argv[1], "tokenize") == 0) return run_tokenize(argc, argv);
    if (argc > 1 && strcmp(argv[1], "view") == 0) return run_view(argc, argv);
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
    if (dist_launched()) return run_ranks(&c);
    if (prepare_data(&c)) return 1;
    if (c.dry_run) return run_dry(&c, NULL);
    return c.headless ? run_headless(&c, NULL) : run_screen(&c, NULL);
}
