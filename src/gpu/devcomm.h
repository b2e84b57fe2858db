/* devcomm.h — the gradient all-reduce on device buffers between the processes of a
 * data-parallel run: NCCL on the CUDA backend when the build found it (docs/dist.md). */
#ifndef MPTUI_DEVCOMM_H
#define MPTUI_DEVCOMM_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

typedef struct devcomm devcomm;

/* NCCL's unique id (NCCL_UNIQUE_ID_BYTES): rank 0 makes it, the others receive it over MPI. */
#define DEVCOMM_ID_BYTES 128

/* 1 when this binary was built with NCCL (make found nccl.h and libnccl beside CUDA). */
int devcomm_built(void);
/* 1 when gradients on be can travel through a device communicator: built with NCCL and be is
 * the CUDA backend. */
int devcomm_available(const backend *be);
/* Rank 0: a fresh id for devcomm_init (ncclGetUniqueId). 0 ok, -1 + err. */
int devcomm_unique_id(uint8_t id[DEVCOMM_ID_BYTES], char *err, size_t errlen);
/* Every rank, with rank 0's id (ncclCommInitRank on be's device and stream). timeout_s > 0:
 * an all-reduce that does not finish in that many seconds aborts the communicator and fails
 * (a dead rank must not hang the others). NULL + err on failure. */
devcomm *devcomm_init(backend *be, const uint8_t id[DEVCOMM_ID_BYTES], int nranks, int rank,
                      double timeout_s, char *err, size_t errlen);
/* x (n floats on be) = the sum over ranks, travelling as comm: DT_F32 as is; DT_F16 / DT_BF16
 * packed to 2 bytes per value (x must hold values exact in comm: bk_cast first), summed by
 * NCCL in that dtype, unpacked. Waits for the result. 0 ok, -1 + err. */
int devcomm_allreduce_sum(devcomm *c, float *x, size_t n, dtype_t comm, char *err,
                          size_t errlen);
/* Seconds spent in devcomm_allreduce_sum so far. */
double devcomm_seconds(const devcomm *c);
/* NULL is a no-op. */
void devcomm_destroy(devcomm *c);

#endif
