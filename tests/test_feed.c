/* test_feed.c — the worker/reader channel: row sequence numbers and gaps when the reader
 * falls behind the ring, snapshot versions, command FIFO and refusal, and two live threads. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"
#include "test_deadline.h"

static metric_row row_at(int64_t step)
{
    metric_row r;
    metric_row_init(&r, MR_TRAIN, step);
    r.loss = (double)step * 0.5;
    return r;
}

static metric_row out[FEED_RING + 16];

Test(feed, rows_in_order_and_since_advances)
{
    feed *f = feed_create();
    cr_assert_not_null(f);
    uint64_t since = 0;
    cr_assert_eq(feed_read_rows(f, &since, out, 10), 0u);
    cr_assert_eq(since, 0u);
    for (int i = 0; i < 5; i++) {
        metric_row r = row_at(i);
        feed_publish_row(f, &r);
    }
    cr_assert_eq(feed_read_rows(f, &since, out, 3), 3u); /* max respected */
    cr_assert_eq(since, 3u);
    for (int i = 0; i < 3; i++) cr_assert_eq(out[i].step, i);
    cr_assert_eq(feed_read_rows(f, &since, out, 10), 2u);
    cr_assert_eq(since, 5u);
    cr_assert_eq(out[0].step, 3);
    cr_assert_eq(out[1].loss, 2.0);
    cr_assert_eq(feed_read_rows(f, &since, out, 10), 0u);
    cr_assert_eq(since, 5u);
    /* a reader may re-read from any sequence still in the ring */
    uint64_t again = 1;
    cr_assert_eq(feed_read_rows(f, &again, out, 10), 4u);
    cr_assert_eq(out[0].step, 1);
    feed_destroy(f);
}

Test(feed, reader_behind_ring_sees_gap)
{
    feed *f = feed_create();
    const int total = FEED_RING + 100;
    for (int i = 0; i < total; i++) {
        metric_row r = row_at(i);
        feed_publish_row(f, &r);
    }
    uint64_t since = 0;
    size_t n = feed_read_rows(f, &since, out, FEED_RING + 16);
    cr_assert_eq(n, (size_t)FEED_RING);
    cr_assert_eq(since, (uint64_t)total);
    /* the oldest kept row is total - FEED_RING: rows 0..99 are lost, none is stale */
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(out[i].step, (int64_t)(100 + i), "row %zu is step %lld", i,
                     (long long)out[i].step);
    /* partially behind: start inside the lost range, read a few across the ring's wrap */
    since = 50;
    cr_assert_eq(feed_read_rows(f, &since, out, 5), 5u);
    cr_assert_eq(out[0].step, 100);
    cr_assert_eq(since, 105u);
    since = FEED_RING - 2; /* the physical wrap point is crossed within one read */
    cr_assert_eq(feed_read_rows(f, &since, out, 4), 4u);
    for (int i = 0; i < 4; i++) cr_assert_eq(out[i].step, FEED_RING - 2 + i);
    /* ahead of the writer: nothing, since unchanged */
    since = total + 10;
    cr_assert_eq(feed_read_rows(f, &since, out, 4), 0u);
    cr_assert_eq(since, (uint64_t)total + 10);
    feed_destroy(f);
}

Test(feed, snapshot_versions)
{
    feed *f = feed_create();
    feed_snapshot *s = calloc(1, sizeof *s), *got = calloc(1, sizeof *got);
    got->step = -5;
    cr_assert_eq(feed_get_snapshot(f, got), 0u);
    cr_assert_eq(got->step, -5, "no snapshot yet: out untouched");
    s->step = 7;
    strcpy(s->message, "hello");
    s->n_layers = 2;
    strcpy(s->layers[1].name, "lm_head");
    feed_publish_snapshot(f, s);
    cr_assert_eq(feed_get_snapshot(f, got), 1u);
    cr_assert_eq(got->step, 7);
    cr_assert_str_eq(got->message, "hello");
    cr_assert_str_eq(got->layers[1].name, "lm_head");
    s->step = 8;
    feed_publish_snapshot(f, s);
    feed_publish_snapshot(f, s);
    cr_assert_eq(feed_get_snapshot(f, got), 3u);
    cr_assert_eq(got->step, 8);
    cr_assert_eq(feed_get_snapshot(f, got), 3u, "reading does not change the version");
    free(s);
    free(got);
    feed_destroy(f);
}

Test(feed, commands_fifo_and_full)
{
    feed *f = feed_create();
    feed_cmd c = {0}, got;
    cr_assert_eq(feed_pop_cmd(f, &got), 0);
    int pushed = 0;
    for (int i = 0; i < 1000; i++) {
        c.kind = CMD_SET_OVERRIDE;
        c.arg = i;
        snprintf(c.name, sizeof c.name, "h.%d", i);
        if (feed_push_cmd(f, &c) != 0) break;
        pushed++;
    }
    cr_assert_eq(pushed, 64, "queue holds %d", pushed);
    cr_assert_eq(feed_push_cmd(f, &c), -1, "full queue refuses");
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(feed_pop_cmd(f, &got), 1);
        cr_assert_eq(got.arg, i);
    }
    /* room again; order continues across the wrap */
    for (int i = 0; i < 10; i++) {
        c.arg = 1000 + i;
        cr_assert_eq(feed_push_cmd(f, &c), 0);
    }
    cr_assert_eq(feed_push_cmd(f, &c), -1);
    for (int i = 10; i < 64; i++) {
        cr_assert_eq(feed_pop_cmd(f, &got), 1);
        cr_assert_eq(got.arg, i);
        char want[32];
        snprintf(want, sizeof want, "h.%d", i);
        cr_assert_str_eq(got.name, want);
    }
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(feed_pop_cmd(f, &got), 1);
        cr_assert_eq(got.arg, 1000 + i);
    }
    cr_assert_eq(feed_pop_cmd(f, &got), 0);
    feed_destroy(f);
}

#define N_ROWS 100000

static void *producer(void *p)
{
    feed *f = p;
    feed_snapshot *s = calloc(1, sizeof *s);
    for (int i = 0; i < N_ROWS; i++) {
        metric_row r = row_at(i);
        feed_publish_row(f, &r);
        if (i % 1000 == 0) {
            s->step = i;
            feed_publish_snapshot(f, s);
        }
        feed_cmd c;
        while (feed_pop_cmd(f, &c)) s->msg_seq = (uint64_t)c.arg;
    }
    free(s);
    return NULL;
}

Test(feed, producer_and_reader_threads)
{
    test_deadline(60);
    feed *f = feed_create();
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, producer, f), 0);
    static metric_row buf[512];
    feed_snapshot *snap = calloc(1, sizeof *snap);
    uint64_t since = 0, last_version = 0;
    int64_t expect = 0, last_snap_step = -1;
    size_t got = 0, gaps = 0;
    while (expect < N_ROWS) {
        size_t n = feed_read_rows(f, &since, buf, 512);
        for (size_t i = 0; i < n; i++) {
            /* strictly increasing; a jump forward is a gap (rows overwritten), never stale */
            cr_assert_geq(buf[i].step, expect);
            if (buf[i].step != expect) gaps++;
            cr_assert_eq(buf[i].loss, (double)buf[i].step * 0.5, "torn row");
            expect = buf[i].step + 1;
        }
        got += n;
        cr_assert_eq(since, (uint64_t)expect);
        uint64_t v = feed_get_snapshot(f, snap);
        cr_assert_geq(v, last_version);
        if (v) {
            cr_assert_geq(snap->step, last_snap_step);
            last_snap_step = snap->step;
        }
        last_version = v;
        feed_cmd c = {.kind = CMD_EVAL, .arg = (int)got};
        feed_push_cmd(f, &c); /* may be refused when full; that is allowed */
    }
    pthread_join(th, NULL);
    cr_assert_eq(feed_get_snapshot(f, snap), (uint64_t)(N_ROWS / 1000));
    cr_assert_eq(snap->step, N_ROWS - 1000);
    cr_assert_eq(expect, N_ROWS);
    cr_assert_leq(got, (size_t)N_ROWS);
    cr_log_info("reader got %zu of %d rows, %zu gaps", got, N_ROWS, gaps);
    free(snap);
    feed_destroy(f);
}
