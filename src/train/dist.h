/* dist.h — the processes of one data-parallel run (docs/dist.md): rank, size, and the
 * collectives the trainer needs, over MPI when built with it, else one process alone. */
#ifndef MPTUI_DIST_H
#define MPTUI_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "numerics.h"

typedef struct dist dist;

/* 1 when this binary was built with MPI (make found mpicc / the OpenMPI headers). */
int dist_built_with_mpi(void);
/* 1 when this process was started by a launcher (mpirun / mpiexec: OMPI_COMM_WORLD_SIZE,
 * PMI_SIZE or PMIX_RANK in the environment), so dist_init must join the others. */
int dist_launched(void);

/* Joins the run: MPI_Init_thread (MPI_THREAD_FUNNELED; every collective is called from the
 * trainer's thread) when launched, else a world of one. timeout_s > 0: a collective that does
 * not complete in that many seconds fails (-1 + "rank R: <what> timed out after S s waiting
 * for the other ranks") instead of hanging. Launched under mpirun but built without MPI: NULL
 * + err naming the rebuild. NULL + err on failure. */
dist *dist_init(int *argc, char ***argv, double timeout_s, char *err, size_t errlen);
/* MPI_Finalize when launched; frees d. NULL is a no-op. */
void dist_finalize(dist *d);
/* Ends every rank of the run (MPI_Abort with code, which does not return) when launched;
 * in a world of one it returns at once and the caller's own exit ends the run. For main.c,
 * after it has printed its one line. */
void dist_abort(dist *d, int code);

int dist_rank(const dist *d);       /* 0 .. size-1; 0 for NULL */
int dist_size(const dist *d);       /* 1 for NULL */
int dist_local_rank(const dist *d); /* rank among the processes of this host */
int dist_local_size(const dist *d);

/* Every collective below: all ranks call it in the same order with the same n; 0 ok, -1 +
 * err (an MPI error or the timeout). d NULL or size 1: a no-op that succeeds (the buffers
 * already hold the result). */

/* x[i] = the sum over ranks of x[i], travelling as dtype comm (DT_F32, DT_F16, DT_BF16;
 * PyTorch's comm hooks): fp32 contributions are summed in fp32 in rank order; fp16 / bf16
 * contributions are rounded to comm (16 bits on the wire), summed in fp32 in rank order, and
 * the sum is rounded to comm. The same bits on every rank. The trainer folds 1 / ranks into
 * each rank's loss, so this sum is the average DDP takes (docs/dist.md). */
/* wire (may be NULL): what rounding this rank's contributions to comm did (amax, overflow to
 * Inf, flush to zero), ADDED to it; the precision map's comm row (docs/dist.md). Counted only
 * when values travel (size > 1). */
int dist_allreduce_sum_f32(dist *d, float *x, size_t n, dtype_t comm, num_stats *wire,
                           char *err, size_t errlen);
/* x[i] = the sum over ranks, in double, rank order (loss sums, eval counts). */
int dist_allreduce_sum_f64(dist *d, double *x, size_t n, char *err, size_t errlen);
/* x[i] = the max over ranks (found-inf flags, amax). */
int dist_allreduce_max_i32(dist *d, int32_t *x, size_t n, char *err, size_t errlen);
/* num_stats of every rank merged as num_stats_merge does (counts summed, amax max, amin_nz
 * the smallest nonzero), element by element over n records. */
int dist_allreduce_stats(dist *d, num_stats *st, size_t n, char *err, size_t errlen);
/* buf (n bytes) from root to all. */
int dist_bcast(dist *d, void *buf, size_t n, int root, char *err, size_t errlen);
/* Rank `from`'s n bytes at buf into rank `to`'s buf; the other ranks do not take part (and
 * return 0 at once), nor does anyone when from == to. */
int dist_send(dist *d, void *buf, size_t n, int from, int to, char *err, size_t errlen);
/* Rank r's n bytes at `mine` land at all + r * n on root (all NULL elsewhere). */
int dist_gather(dist *d, const void *mine, void *all, size_t n, int root, char *err,
                size_t errlen);
/* Seconds this process has spent inside collectives since dist_init (the Ranks panel's
 * comm time). */
double dist_comm_seconds(const dist *d);

#endif
