/* devcomm.c — devcomm.h where the build has no NCCL: nothing is available, and every rank's
 * gradients travel through host memory and MPI instead (docs/dist.md). */
#include "devcomm.h"

#include <stdio.h>

#ifndef MPTUI_NCCL

static int none(char *err, size_t errlen)
{
    if (err && errlen) snprintf(err, errlen, "this mptui was built without NCCL");
    return -1;
}

int devcomm_built(void) { return 0; }
int devcomm_available(const backend *be) { return (void)be, 0; }
int devcomm_unique_id(uint8_t id[DEVCOMM_ID_BYTES], char *err, size_t errlen)
{
    (void)id;
    return none(err, errlen);
}

devcomm *devcomm_init(backend *be, const uint8_t id[DEVCOMM_ID_BYTES], int nranks, int rank,
                      double timeout_s, char *err, size_t errlen)
{
    (void)be, (void)id, (void)nranks, (void)rank, (void)timeout_s;
    none(err, errlen);
    return NULL;
}

int devcomm_allreduce_sum(devcomm *c, float *x, size_t n, dtype_t comm, char *err,
                          size_t errlen)
{
    (void)c, (void)x, (void)n, (void)comm;
    return none(err, errlen);
}

double devcomm_seconds(const devcomm *c) { return (void)c, 0.0; }
void devcomm_destroy(devcomm *c) { (void)c; }

#endif
