/* tsan_threads.c — the engine's two-thread paths under ThreadSanitizer, as a plain program:
 * Criterion cannot start under TSan (Snaipe/Criterion#274), so `make SAN=thread test` runs this. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "feed.h"
#include "trainer.h"

static int failures;

static void check(int ok, const char *fmt, ...)
{
    if (ok) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tsan_threads: FAIL: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    failures++;
}

static void nap_ms(int ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- 1. feed: a producer publishing rows / snapshots while a reader reads and commands ---- */

enum { N_ROWS = 20000 };

static void *feed_producer(void *p)
{
    feed *f = p;
    feed_snapshot *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    for (int i = 0; i < N_ROWS; i++) {
        metric_row r;
        memset(&r, 0, sizeof r);
        r.step = i;
        r.kind = MR_TRAIN;
        r.loss = i * 0.5;
        feed_publish_row(f, &r);
        if (i % 100 == 0) {
            s->step = i;
            feed_publish_snapshot(f, s);
        }
        feed_cmd c;
        while (feed_pop_cmd(f, &c)) s->msg_seq = (uint64_t)c.arg;
    }
    free(s);
    return NULL;
}

static void feed_case(void)
{
    feed *f = feed_create();
    feed_snapshot *snap = calloc(1, sizeof *snap);
    static metric_row buf[512];
    pthread_t th;
    check(f && snap && pthread_create(&th, NULL, feed_producer, f) == 0, "feed: start");
    if (failures) return;
    uint64_t since = 0;
    int64_t expect = 0, last_step = -1;
    while (expect < N_ROWS) {
        size_t n = feed_read_rows(f, &since, buf, 512);
        for (size_t i = 0; i < n; i++) {
            check(buf[i].step >= expect, "feed: row %lld after %lld", (long long)buf[i].step,
                  (long long)expect);
            check(buf[i].loss == buf[i].step * 0.5, "feed: torn row at %lld",
                  (long long)buf[i].step);
            expect = buf[i].step + 1;
        }
        if (feed_get_snapshot(f, snap)) {
            check(snap->step >= last_step, "feed: snapshot went back");
            last_step = snap->step;
        }
        feed_cmd c = {.kind = CMD_EVAL, .arg = (int)expect};
        feed_push_cmd(f, &c);
        if (failures) break;
    }
    pthread_join(th, NULL);
    check(expect == N_ROWS, "feed: read %lld of %d rows", (long long)expect, N_ROWS);
    free(snap);
    feed_destroy(f);
    printf("tsan_threads: feed producer/reader: %s\n", failures ? "FAIL" : "ok");
}

/* ---- 2. a training run on a worker thread, driven the way the screen drives it ---- */

typedef struct {
    trainer *t;
    int rc;
    char err[512];
} worker;

static void *worker_main(void *p)
{
    worker *w = p;
    w->rc = trainer_run(w->t, w->err, sizeof w->err);
    return NULL;
}

static int small_config(mp_config *c, const char *dir, char *err, size_t errlen)
{
    const char *kv[][2] = {
        {"n_layer", "2"}, {"n_head", "2"}, {"n_embd", "32"}, {"block_size", "32"},
        {"per_device_train_batch_size", "4"}, {"per_device_eval_batch_size", "4"},
        {"logging_steps", "2"}, {"eval_steps", "10"}, {"eval_max_batches", "1"},
        {"save_steps", "15"}, {"sample_length", "16"}, {"device", "cpu"},
        {"precision", "fp16"}, {"max_steps", "40"}, {"output_dir", dir},
    };
    cfg_defaults(c);
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (cfg_set(c, kv[i][0], kv[i][1], err, errlen)) return -1;
    return 0;
}

static void push(feed *f, cmd_kind k, int arg, const char *name)
{
    feed_cmd c = {.kind = k, .arg = arg};
    if (name) snprintf(c.name, sizeof c.name, "%s", name);
    check(feed_push_cmd(f, &c) == 0, "trainer: command %d refused", (int)k);
}

static void trainer_case(void)
{
    char dir[] = "/tmp/mptui-tsan-XXXXXX", err[512] = "";
    check(mkdtemp(dir) != NULL, "trainer: mkdtemp");
    mp_config c;
    check(small_config(&c, dir, err, sizeof err) == 0, "trainer: config: %s", err);
    feed *f = feed_create();
    worker w = {trainer_create(&c, f, NULL, NULL, err, sizeof err), 0, ""};
    check(w.t != NULL, "trainer: create: %s", err);
    if (failures) return;
    pthread_t th;
    check(pthread_create(&th, NULL, worker_main, &w) == 0, "trainer: thread");
    feed_snapshot *snap = calloc(1, sizeof *snap);
    static metric_row rows[256];
    uint64_t since = 0;
    size_t nrows = 0;
    int sent = 0;
    /* Commands go in as the screen sends them, each once the run has reached a step. */
    for (int polls = 0; polls < 20000; polls++) {
        nrows += feed_read_rows(f, &since, rows, 256);
        if (!feed_get_snapshot(f, snap)) {
            nap_ms(2);
            continue;
        }
        if (snap->state == RUN_FINISHED || snap->state == RUN_FAILED) break;
        if (sent == 0 && snap->step >= 3) push(f, CMD_EVAL, 0, NULL), sent++;
        else if (sent == 1 && snap->step >= 6) push(f, CMD_SET_MODE, DT_BF16, NULL), sent++;
        else if (sent == 2 && snap->step >= 8) push(f, CMD_SET_OVERRIDE, DT_F32, "lm_head"), sent++;
        else if (sent == 3 && snap->step >= 10) push(f, CMD_TOGGLE_PAUSE, 0, NULL), sent++;
        else if (sent == 4 && snap->state == RUN_PAUSED) push(f, CMD_TOGGLE_PAUSE, 0, NULL), sent++;
        else if (sent == 5 && snap->step >= 12) push(f, CMD_SAVE, 0, NULL), sent++;
        else if (sent == 6 && snap->step >= 20) push(f, CMD_QUIT, 0, NULL), sent++;
        nap_ms(2);
    }
    pthread_join(th, NULL);
    check(w.rc == 0, "trainer: run failed: %s", w.err);
    nrows += feed_read_rows(f, &since, rows, 256);
    feed_get_snapshot(f, snap);
    check(sent == 7, "trainer: only %d of 7 commands were sent", sent);
    check(snap->step >= 20 && snap->step < 40, "trainer: quit at step %lld",
          (long long)snap->step);
    check(snap->mode == DT_BF16, "trainer: mode command not applied");
    check(snap->have_eval, "trainer: no eval result");
    check(nrows > 5, "trainer: only %zu metric rows", nrows);
    char ck[96];
    snprintf(ck, sizeof ck, "%s/checkpoint-15", dir);
    check(access(ck, F_OK) == 0, "trainer: %s missing", ck);
    trainer_free(w.t);
    feed_destroy(f);
    free(snap);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    check(system(cmd) == 0, "trainer: cleanup");
    printf("tsan_threads: trainer worker + reader: %s\n", failures ? "FAIL" : "ok");
}

int main(void)
{
    feed_case();
    trainer_case();
    printf("tsan_threads: %s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
