/* trainer_ddp.c — the trainer's side of data parallelism (docs/dist.md): one set of options
 * on every rank, screen commands and stop requests agreed on at step boundaries. */
#include "trainer_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

void trainer_ddp_fail(trainer *t, const char *why)
{
    if (t->failed) return;
    t->failed = 1;
    snprintf(t->fail_err, sizeof t->fail_err, "%s", why);
}

/* FNV-1a over the options as a config file writes them: two ranks with another value
 * anywhere differ. */
static uint64_t options_hash(const mp_config *c)
{
    mp_config k = *c;
    k.precision_from_cli = 0; /* how an option was given is no difference */
    char path[] = "/tmp/mptui-opts-XXXXXX", err[256];
    int fd = mkstemp(path);
    uint64_t h = 1469598103934665603ull;
    if (fd < 0) return h;
    close(fd);
    FILE *f = cfg_write_file(&k, path, err, sizeof err) == 0 ? fopen(path, "r") : NULL;
    char line[2048];
    while (f && fgets(line, sizeof line, f))
        for (const char *c = line; *line != '#' && *c; c++) /* the header names the path */
            h = (h ^ (uint64_t)(unsigned char)*c) * 1099511628211ull;
    if (f) fclose(f);
    remove(path);
    return h;
}

int trainer_ddp_check_options(trainer *t, char *err, size_t errlen)
{
    if (t->nranks < 2) return 0;
    uint64_t mine = options_hash(&t->cfg), *all = NULL;
    if (t->rank == 0 && !(all = calloc((size_t)t->nranks, sizeof *all))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int32_t bad = -1;
    if (dist_gather(t->d, &mine, all, sizeof mine, 0, err, errlen)) goto fail;
    for (int r = 1; all && r < t->nranks && bad < 0; r++)
        if (all[r] != all[0]) bad = r;
    if (dist_bcast(t->d, &bad, sizeof bad, 0, err, errlen)) goto fail;
    free(all);
    if (bad < 0) return 0;
    snprintf(err, errlen, "rank %d was started with other options than rank 0: every rank of an "
             "mpirun must get the same command line", bad);
    return -1;
fail:
    free(all);
    return -1;
}

double trainer_ddp_comm_seconds(const trainer *t)
{
    return dist_comm_seconds(t->d) + devcomm_seconds(t->dc);
}

int trainer_ddp_devcomm(trainer *t, char *err, size_t errlen)
{
    if (t->nranks < 2) return 0;
    /* all or none: a rank without NCCL (another build, the CPU) keeps every rank on MPI */
    int32_t without = !devcomm_available(t->be);
    if (dist_allreduce_max_i32(t->d, &without, 1, err, errlen)) return -1;
    if (without) return 0;
    uint8_t id[DEVCOMM_ID_BYTES] = {0};
    char why[256] = "";
    int32_t bad = t->rank == 0 && devcomm_unique_id(id, why, sizeof why) ? 1 : 0;
    if (dist_bcast(t->d, &bad, sizeof bad, 0, err, errlen) ||
        dist_bcast(t->d, id, sizeof id, 0, err, errlen))
        return -1;
    if (bad) {
        snprintf(err, errlen, "rank 0 could not start NCCL%s%s", why[0] ? ": " : "", why);
        return -1;
    }
    t->dc = devcomm_init(t->be, id, t->nranks, t->rank, t->cfg.ddp_timeout, err, errlen);
    return t->dc ? 0 : -1;
}

/* Commands travel as fixed records: up to TRAINER_DDP_CMDS per boundary. */
enum { TRAINER_DDP_CMDS = 16 };
typedef struct {
    int32_t n, stop;
    feed_cmd c[TRAINER_DDP_CMDS];
} cmd_packet;

int trainer_ddp_commands(trainer *t, feed_cmd *cmds, int max, int *n)
{
    *n = 0;
    if (t->nranks < 2) {
        while (*n < max && t->feed && feed_pop_cmd(t->feed, &cmds[*n])) (*n)++;
        return 0;
    }
    cmd_packet p;
    memset(&p, 0, sizeof p);
    int cap = max < TRAINER_DDP_CMDS ? max : TRAINER_DDP_CMDS;
    while (t->rank == 0 && p.n < cap && t->feed && feed_pop_cmd(t->feed, &p.c[p.n])) p.n++;
    char err[256];
    int32_t stop = atomic_load(&t->stop) != 0;
    if (dist_bcast(t->d, &p, sizeof p, 0, err, sizeof err) ||
        dist_allreduce_max_i32(t->d, &stop, 1, err, sizeof err)) {
        trainer_ddp_fail(t, err);
        return -1;
    }
    if (stop) atomic_store(&t->stop, 1); /* one rank's SIGINT or q stops all at this step */
    t->stopping = stop; /* what the loop obeys: t->stop may turn 1 on rank 0 alone any time */
    memcpy(cmds, p.c, (size_t)p.n * sizeof *cmds);
    *n = p.n;
    return 0;
}

/* This process's peak resident memory: what a rank costs its host. */
static size_t peak_rss(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (size_t)ru.ru_maxrss * 1024 : 0;
}

void trainer_ddp_ranks(trainer *t, double dt)
{
    if (t->nranks < 2) return;
    feed_rank me;
    memset(&me, 0, sizeof me);
    double comm = trainer_ddp_comm_seconds(t);
    int64_t rows = (int64_t)t->win_steps * t->B * t->T * t->accum; /* this rank's share */
    me.tokens_per_s = dt > 0 ? (double)rows / dt : 0;
    me.step_time = t->win_steps ? dt / (double)t->win_steps : 0;
    me.comm_s = t->win_steps ? (comm - t->comm_base) / (double)t->win_steps : 0;
    me.overflow_total = trainer_sel(t)->sc.overflow_total;
    me.mem_bytes = peak_rss();
    me.local_rank = dist_local_rank(t->d);
    gethostname(me.host, sizeof me.host - 1);
    t->comm_base = comm;
    if (t->rank == 0 && !t->ranks && !(t->ranks = calloc((size_t)t->nranks, sizeof *t->ranks))) {
        trainer_ddp_fail(t, "out of memory for the ranks table");
        return;
    }
    char err[256];
    if (dist_gather(t->d, &me, t->ranks, sizeof me, 0, err, sizeof err)) trainer_ddp_fail(t, err);
}
