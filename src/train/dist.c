/* dist.c — the communicator of a data-parallel run (docs/dist.md, "The communicator"): MPI
 * when built with it and launched by mpirun, a world of one otherwise; reductions in rank order. */
#include "dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef MPTUI_MPI
#include <limits.h>
#include <mpi.h>
#endif

struct dist {
    int rank, size, local_rank, local_size;
    double timeout_s, comm_s;
#ifdef MPTUI_MPI
    int mpi;          /* MPI_Init ran: finalize at the end */
    MPI_Comm comm, local;
#endif
};

int dist_built_with_mpi(void)
{
#ifdef MPTUI_MPI
    return 1;
#else
    return 0;
#endif
}

int dist_launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

int dist_rank(const dist *d) { return d ? d->rank : 0; }
int dist_size(const dist *d) { return d ? d->size : 1; }
int dist_local_rank(const dist *d) { return d ? d->local_rank : 0; }
int dist_local_size(const dist *d) { return d ? d->local_size : 1; }
double dist_comm_seconds(const dist *d) { return d ? d->comm_s : 0.0; }

#ifdef MPTUI_MPI

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int alone(const dist *d) { return !d || d->size < 2; }

static int mpi_fail(const dist *d, int rc, const char *what, char *err, size_t errlen)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", rc);
    snprintf(err, errlen, "rank %d: %s failed: %s", d->rank, what, msg);
    return -1;
}

/* Polls a nonblocking collective to its end or to the timeout: a dead or hung rank then
 * ends the run with a line instead of a hang. */
static int wait_req(dist *d, MPI_Request *req, const char *what, char *err, size_t errlen)
{
    double t0 = now_s();
    long sleep_ns = 0;
    for (;;) {
        int done = 0, rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_fail(d, rc, what, err, errlen);
        if (done) break;
        double dt = now_s() - t0;
        if (d->timeout_s > 0 && dt > d->timeout_s) {
            snprintf(err, errlen, "rank %d: %s timed out after %.0f s waiting for the other "
                     "ranks (one may have died or hung)", d->rank, what, d->timeout_s);
            d->comm_s += dt;
            return -1;
        }
        if (sleep_ns) {
            struct timespec ts = {0, sleep_ns};
            nanosleep(&ts, NULL);
        }
        sleep_ns = sleep_ns ? (sleep_ns < 1000000 ? sleep_ns * 2 : 1000000) : 1000;
    }
    d->comm_s += now_s() - t0;
    return 0;
}

/* All ranks' n bytes at `mine` into all (size * n bytes), in rank order. */
static int allgather(dist *d, const void *mine, void *all, size_t n, const char *what, char *err,
                     size_t errlen)
{
    if (n > INT_MAX) return snprintf(err, errlen, "rank %d: %s: %zu bytes in one piece", d->rank,
                                     what, n), -1;
    MPI_Request req;
    int rc = MPI_Iallgather(mine, (int)n, MPI_BYTE, all, (int)n, MPI_BYTE, d->comm, &req);
    if (rc != MPI_SUCCESS) return mpi_fail(d, rc, what, err, errlen);
    return wait_req(d, &req, what, err, errlen);
}

dist *dist_init(int *argc, char ***argv, double timeout_s, char *err, size_t errlen)
{
    dist *d = calloc(1, sizeof *d);
    if (!d) return snprintf(err, errlen, "out of memory"), NULL;
    d->size = d->local_size = 1;
    d->timeout_s = timeout_s;
    if (!dist_launched()) return d;
    int provided = 0, rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) {
        snprintf(err, errlen, "MPI_Init_thread failed (error %d)", rc);
        free(d);
        return NULL;
    }
    d->mpi = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &d->comm)) != MPI_SUCCESS ||
        (rc = MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN)) != MPI_SUCCESS ||
        (rc = MPI_Comm_rank(d->comm, &d->rank)) != MPI_SUCCESS ||
        (rc = MPI_Comm_size(d->comm, &d->size)) != MPI_SUCCESS ||
        (rc = MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL,
                                  &d->local)) != MPI_SUCCESS ||
        (rc = MPI_Comm_rank(d->local, &d->local_rank)) != MPI_SUCCESS ||
        (rc = MPI_Comm_size(d->local, &d->local_size)) != MPI_SUCCESS) {
        mpi_fail(d, rc, "joining the run (MPI_Comm_*)", err, errlen);
        MPI_Finalize();
        free(d);
        return NULL;
    }
    return d;
}

void dist_finalize(dist *d)
{
    if (!d) return;
    if (d->mpi) {
        MPI_Comm_free(&d->local);
        MPI_Comm_free(&d->comm);
        MPI_Finalize();
    }
    free(d);
}

void dist_abort(dist *d, int code)
{
    if (d && d->mpi && d->size > 1) MPI_Abort(d->comm, code);
}

/* Values per piece of a float reduction: the scratch holds size x this many. */
enum { DIST_CHUNK = 1 << 20 };

static int sum_chunk(dist *d, float *x, size_t n, dtype_t comm, num_stats *wire, void *mine,
                     void *all, float *tmp, char *err, size_t errlen)
{
    size_t es = comm == DT_F32 ? sizeof(float) : sizeof(uint16_t);
    if (wire) num_round(tmp, x, n, comm, wire); /* a logging step's extra pass */
    if (comm == DT_F16) num_f32_to_f16_array(mine, x, n);
    else if (comm == DT_BF16) num_f32_to_bf16_array(mine, x, n);
    else memcpy(mine, x, n * es);
    if (allgather(d, mine, all, n * es, "gradient all-reduce (MPI_Iallgather)", err, errlen))
        return -1;
    for (int r = 0; r < d->size; r++) {
        const void *src = (const char *)all + (size_t)r * n * es;
        const float *v = tmp;
        if (comm == DT_F16) num_f16_to_f32_array(tmp, src, n);
        else if (comm == DT_BF16) num_bf16_to_f32_array(tmp, src, n);
        else v = src;
        if (r == 0) memcpy(x, v, n * sizeof *x);
        else
            for (size_t i = 0; i < n; i++) x[i] += v[i];
    }
    if (comm != DT_F32) num_round(x, x, n, comm, NULL);
    return 0;
}

int dist_allreduce_sum_f32(dist *d, float *x, size_t n, dtype_t comm, num_stats *wire,
                           char *err, size_t errlen)
{
    if (alone(d) || !n) return 0;
    if (comm != DT_F16 && comm != DT_BF16) comm = DT_F32;
    size_t chunk = n < DIST_CHUNK ? n : DIST_CHUNK;
    void *mine = malloc(chunk * sizeof(float));
    void *all = malloc((size_t)d->size * chunk * sizeof(float));
    float *tmp = malloc(chunk * sizeof(float));
    int rc = mine && all && tmp ? 0 : (snprintf(err, errlen, "rank %d: out of memory for the "
                                                "all-reduce", d->rank), -1);
    for (size_t i = 0; !rc && i < n; i += chunk) {
        size_t k = n - i < chunk ? n - i : chunk;
        rc = sum_chunk(d, x + i, k, comm, wire, mine, all, tmp, err, errlen);
    }
    free(mine);
    free(all);
    free(tmp);
    return rc;
}

int dist_allreduce_sum_f64(dist *d, double *x, size_t n, char *err, size_t errlen)
{
    if (alone(d) || !n) return 0;
    double *all = malloc((size_t)d->size * n * sizeof *all);
    if (!all) return snprintf(err, errlen, "rank %d: out of memory", d->rank), -1;
    int rc = allgather(d, x, all, n * sizeof *x, "sum (MPI_Iallgather)", err, errlen);
    for (size_t i = 0; !rc && i < n; i++) {
        double s = all[i];
        for (int r = 1; r < d->size; r++) s += all[(size_t)r * n + i];
        x[i] = s;
    }
    free(all);
    return rc;
}

int dist_allreduce_max_i32(dist *d, int32_t *x, size_t n, char *err, size_t errlen)
{
    if (alone(d) || !n) return 0;
    if (n > INT_MAX) return snprintf(err, errlen, "rank %d: max of too many values", d->rank), -1;
    MPI_Request req;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, x, (int)n, MPI_INT32_T, MPI_MAX, d->comm, &req);
    if (rc != MPI_SUCCESS) return mpi_fail(d, rc, "max (MPI_Iallreduce)", err, errlen);
    return wait_req(d, &req, "max (MPI_Iallreduce)", err, errlen);
}

int dist_allreduce_stats(dist *d, num_stats *st, size_t n, char *err, size_t errlen)
{
    if (alone(d) || !n) return 0;
    num_stats *all = malloc((size_t)d->size * n * sizeof *all);
    if (!all) return snprintf(err, errlen, "rank %d: out of memory", d->rank), -1;
    int rc = allgather(d, st, all, n * sizeof *st, "statistics (MPI_Iallgather)", err, errlen);
    for (size_t i = 0; !rc && i < n; i++) {
        st[i] = all[i];
        for (int r = 1; r < d->size; r++) num_stats_merge(&st[i], &all[(size_t)r * n + i]);
    }
    free(all);
    return rc;
}

int dist_bcast(dist *d, void *buf, size_t n, int root, char *err, size_t errlen)
{
    if (alone(d)) return 0;
    for (size_t off = 0; off < n;) { /* MPI counts are ints */
        size_t k = n - off < (size_t)INT_MAX ? n - off : (size_t)INT_MAX;
        MPI_Request req;
        int rc = MPI_Ibcast((char *)buf + off, (int)k, MPI_BYTE, root, d->comm, &req);
        if (rc != MPI_SUCCESS) return mpi_fail(d, rc, "broadcast (MPI_Ibcast)", err, errlen);
        if (wait_req(d, &req, "broadcast (MPI_Ibcast)", err, errlen)) return -1;
        off += k;
    }
    return 0;
}

int dist_send(dist *d, void *buf, size_t n, int from, int to, char *err, size_t errlen)
{
    if (alone(d) || from == to || (d->rank != from && d->rank != to)) return 0;
    const char *what = d->rank == from ? "send (MPI_Isend)" : "receive (MPI_Irecv)";
    for (size_t off = 0; off < n;) {
        size_t k = n - off < (size_t)INT_MAX ? n - off : (size_t)INT_MAX;
        MPI_Request req;
        /* one tag: messages between two ranks arrive in the order they were sent */
        int rc = d->rank == from
                     ? MPI_Isend((char *)buf + off, (int)k, MPI_BYTE, to, 7, d->comm, &req)
                     : MPI_Irecv((char *)buf + off, (int)k, MPI_BYTE, from, 7, d->comm, &req);
        if (rc != MPI_SUCCESS) return mpi_fail(d, rc, what, err, errlen);
        if (wait_req(d, &req, what, err, errlen)) return -1;
        off += k;
    }
    return 0;
}

int dist_gather(dist *d, const void *mine, void *all, size_t n, int root, char *err,
                size_t errlen)
{
    if (alone(d)) {
        if (all && all != mine) memcpy(all, mine, n);
        return 0;
    }
    if (n > INT_MAX) return snprintf(err, errlen, "rank %d: gather too large", d->rank), -1;
    MPI_Request req;
    int rc = MPI_Igather(mine, (int)n, MPI_BYTE, all, (int)n, MPI_BYTE, root, d->comm, &req);
    if (rc != MPI_SUCCESS) return mpi_fail(d, rc, "gather (MPI_Igather)", err, errlen);
    return wait_req(d, &req, "gather (MPI_Igather)", err, errlen);
}

#else /* a world of one: every collective is already complete */

dist *dist_init(int *argc, char ***argv, double timeout_s, char *err, size_t errlen)
{
    (void)argc, (void)argv;
    if (dist_launched()) {
        snprintf(err, errlen, "started by mpirun, but this mptui was built without MPI: install "
                 "libopenmpi-dev (make deps) and rebuild (make clean && make)");
        return NULL;
    }
    dist *d = calloc(1, sizeof *d);
    if (!d) return snprintf(err, errlen, "out of memory"), NULL;
    d->size = d->local_size = 1;
    d->timeout_s = timeout_s;
    return d;
}

void dist_finalize(dist *d) { free(d); }
void dist_abort(dist *d, int code) { (void)d, (void)code; }

int dist_allreduce_sum_f32(dist *d, float *x, size_t n, dtype_t comm, num_stats *wire,
                           char *err, size_t errlen)
{
    (void)d, (void)x, (void)n, (void)comm, (void)wire, (void)err, (void)errlen;
    return 0;
}

int dist_allreduce_sum_f64(dist *d, double *x, size_t n, char *err, size_t errlen)
{
    (void)d, (void)x, (void)n, (void)err, (void)errlen;
    return 0;
}

int dist_allreduce_max_i32(dist *d, int32_t *x, size_t n, char *err, size_t errlen)
{
    (void)d, (void)x, (void)n, (void)err, (void)errlen;
    return 0;
}

int dist_allreduce_stats(dist *d, num_stats *st, size_t n, char *err, size_t errlen)
{
    (void)d, (void)st, (void)n, (void)err, (void)errlen;
    return 0;
}

int dist_bcast(dist *d, void *buf, size_t n, int root, char *err, size_t errlen)
{
    (void)d, (void)buf, (void)n, (void)root, (void)err, (void)errlen;
    return 0;
}

int dist_send(dist *d, void *buf, size_t n, int from, int to, char *err, size_t errlen)
{
    (void)d, (void)buf, (void)n, (void)from, (void)to, (void)err, (void)errlen;
    return 0;
}

int dist_gather(dist *d, const void *mine, void *all, size_t n, int root, char *err,
                size_t errlen)
{
    (void)d, (void)root, (void)err, (void)errlen;
    if (all && all != mine) memcpy(all, mine, n);
    return 0;
}

#endif
