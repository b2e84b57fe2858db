/* feed.c — worker <-> reader channel: a ring of metric rows with global sequence numbers, the
 * latest snapshot with a version, and a bounded command queue; one mutex held only for copies. */
#include "feed.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FEED_CMDS 64

struct feed {
    pthread_mutex_t mu;
    /* rows: row with sequence s lives in rows[s % FEED_RING] while s >= next_seq - FEED_RING */
    metric_row rows[FEED_RING];
    uint64_t next_seq;
    /* latest snapshot */
    feed_snapshot snap;
    uint64_t snap_version;
    /* commands, FIFO */
    feed_cmd cmds[FEED_CMDS];
    size_t cmd_head, cmd_count;
};

feed *feed_create(void)
{
    feed *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    if (pthread_mutex_init(&f->mu, NULL) != 0) {
        free(f);
        return NULL;
    }
    return f;
}

void feed_destroy(feed *f)
{
    if (!f) return;
    pthread_mutex_destroy(&f->mu);
    free(f);
}

void feed_publish_row(feed *f, const metric_row *r)
{
    pthread_mutex_lock(&f->mu);
    f->rows[f->next_seq % FEED_RING] = *r;
    f->next_seq++;
    pthread_mutex_unlock(&f->mu);
}

void feed_publish_snapshot(feed *f, const feed_snapshot *s)
{
    pthread_mutex_lock(&f->mu);
    memcpy(&f->snap, s, sizeof f->snap);
    f->snap_version++;
    pthread_mutex_unlock(&f->mu);
}

int feed_pop_cmd(feed *f, feed_cmd *out)
{
    int took = 0;
    pthread_mutex_lock(&f->mu);
    if (f->cmd_count) {
        *out = f->cmds[f->cmd_head];
        f->cmd_head = (f->cmd_head + 1) % FEED_CMDS;
        f->cmd_count--;
        took = 1;
    }
    pthread_mutex_unlock(&f->mu);
    return took;
}

size_t feed_read_rows(feed *f, uint64_t *since, metric_row *out, size_t max)
{
    pthread_mutex_lock(&f->mu);
    uint64_t oldest = f->next_seq > FEED_RING ? f->next_seq - FEED_RING : 0;
    uint64_t start = *since > oldest ? *since : oldest; /* rows before `oldest` are gone */
    uint64_t avail = f->next_seq > start ? f->next_seq - start : 0;
    size_t n = avail < max ? (size_t)avail : max;
    for (size_t i = 0; i < n;) {
        /* copy in at most two runs: up to the end of the ring, then from its start */
        size_t at = (size_t)((start + i) % FEED_RING);
        size_t run = FEED_RING - at < n - i ? FEED_RING - at : n - i;
        memcpy(out + i, &f->rows[at], run * sizeof *out);
        i += run;
    }
    if (n || *since < start) *since = start + n;
    pthread_mutex_unlock(&f->mu);
    return n;
}

uint64_t feed_get_snapshot(feed *f, feed_snapshot *out)
{
    pthread_mutex_lock(&f->mu);
    uint64_t v = f->snap_version;
    if (v) memcpy(out, &f->snap, sizeof *out);
    pthread_mutex_unlock(&f->mu);
    return v;
}

int feed_push_cmd(feed *f, const feed_cmd *c)
{
    int rc = -1;
    pthread_mutex_lock(&f->mu);
    if (f->cmd_count < FEED_CMDS) {
        f->cmds[(f->cmd_head + f->cmd_count) % FEED_CMDS] = *c;
        f->cmd_count++;
        rc = 0;
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}
