/* cuda_nccl.cu — devcomm.h on NCCL: the gradient all-reduce between the ranks' GPUs on the
 * backend's stream, polled against a timeout as the MPI path is (docs/dist.md). */
#include "cuda_backend.h"

#ifdef MPTUI_NCCL

#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern "C" {
#include "devcomm.h"
}

static_assert(DEVCOMM_ID_BYTES == NCCL_UNIQUE_ID_BYTES, "devcomm id size is NCCL's");

struct devcomm {
    backend *be;
    ncclComm_t comm;
    double timeout_s, seconds;
    void *half;        /* 2-byte values for 16-bit traffic, cudaMalloc'd, cap values */
    size_t cap;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int nccl_fail(ncclResult_t r, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "NCCL %s failed: %s", what, ncclGetErrorString(r));
    return -1;
}

extern "C" int devcomm_built(void) { return 1; }

extern "C" int devcomm_available(const backend *be) { return be && bk_get_kind(be) == BK_CUDA; }

extern "C" int devcomm_unique_id(uint8_t id[DEVCOMM_ID_BYTES], char *err, size_t errlen)
{
    ncclUniqueId u;
    ncclResult_t r = ncclGetUniqueId(&u);
    if (r != ncclSuccess) return nccl_fail(r, "ncclGetUniqueId", err, errlen);
    memcpy(id, u.internal, DEVCOMM_ID_BYTES);
    return 0;
}

extern "C" devcomm *devcomm_init(backend *be, const uint8_t id[DEVCOMM_ID_BYTES], int nranks,
                                 int rank, double timeout_s, char *err, size_t errlen)
{
    if (!devcomm_available(be)) {
        snprintf(err, errlen, "NCCL needs the CUDA backend (--device cuda)");
        return NULL;
    }
    cuda_backend *cb = cu_of(be);
    cu_op(cb, "devcomm_init", nranks, rank, 0, 0); /* the backend's device is current */
    devcomm *c = (devcomm *)calloc(1, sizeof *c);
    if (!c) return snprintf(err, errlen, "out of memory"), (devcomm *)NULL;
    ncclUniqueId u;
    memcpy(u.internal, id, DEVCOMM_ID_BYTES);
    ncclResult_t r = ncclCommInitRank(&c->comm, nranks, u, rank);
    if (r != ncclSuccess) {
        nccl_fail(r, "ncclCommInitRank", err, errlen);
        free(c);
        return NULL;
    }
    c->be = be;
    c->timeout_s = timeout_s;
    return c;
}

/* Waits for the stream's work and the communicator: done, an NCCL error, or the timeout
 * (then the communicator is aborted, so no kernel waits forever on a dead rank). */
static int wait_done(devcomm *c, cuda_backend *cb, char *err, size_t errlen)
{
    double t0 = now_s();
    for (long sleep_ns = 1000;; sleep_ns = sleep_ns < 1000000 ? sleep_ns * 2 : 1000000) {
        cudaError_t q = cudaStreamQuery(cb->stream);
        if (q == cudaSuccess) return 0;
        if (q != cudaErrorNotReady) {
            snprintf(err, errlen, "NCCL all-reduce: CUDA %s", cudaGetErrorString(q));
            return -1;
        }
        ncclResult_t async = ncclSuccess;
        ncclCommGetAsyncError(c->comm, &async);
        if (async != ncclSuccess && async != ncclInProgress) {
            ncclCommAbort(c->comm);
            c->comm = NULL;
            return nccl_fail(async, "all-reduce", err, errlen);
        }
        if (c->timeout_s > 0 && now_s() - t0 > c->timeout_s) {
            ncclCommAbort(c->comm);
            c->comm = NULL;
            snprintf(err, errlen, "NCCL all-reduce timed out after %.0f s waiting for the other "
                     "ranks (one may have died or hung)", c->timeout_s);
            return -1;
        }
        struct timespec ts = {0, sleep_ns};
        nanosleep(&ts, NULL);
    }
}

static int reserve_half(devcomm *c, size_t n, char *err, size_t errlen)
{
    if (n <= c->cap) return 0;
    cudaFree(c->half);
    c->half = NULL;
    c->cap = 0;
    cudaError_t e = cudaMalloc(&c->half, n * 2);
    if (e != cudaSuccess) {
        snprintf(err, errlen, "NCCL all-reduce: no device memory for %zu 16-bit values (%s)", n,
                 cudaGetErrorString(e));
        return -1;
    }
    c->cap = n;
    return 0;
}

extern "C" int devcomm_allreduce_sum(devcomm *c, float *x, size_t n, dtype_t comm, char *err,
                                     size_t errlen)
{
    if (!c || !c->comm) return snprintf(err, errlen, "NCCL communicator is gone"), -1;
    if (!n) return 0;
    cuda_backend *cb = cu_of(c->be);
    cu_op(cb, "devcomm_allreduce_sum", (long)n, comm, 0, 0);
    double t0 = now_s();
    int half = comm == DT_F16 || comm == DT_BF16;
    void *buf = x;
    if (half) {
        if (reserve_half(c, n, err, errlen)) return -1;
        bk_pack(c->be, c->half, x, n, comm);
        buf = c->half;
    }
    ncclDataType_t t = comm == DT_F16 ? ncclFloat16 : comm == DT_BF16 ? ncclBfloat16 : ncclFloat32;
    ncclResult_t r = ncclAllReduce(buf, buf, n, t, ncclSum, c->comm, cb->stream);
    if (r != ncclSuccess) return nccl_fail(r, "ncclAllReduce", err, errlen);
    if (half) bk_unpack(c->be, x, c->half, n, comm);
    int rc = wait_done(c, cb, err, errlen);
    c->seconds += now_s() - t0;
    return rc;
}

extern "C" double devcomm_seconds(const devcomm *c) { return c ? c->seconds : 0.0; }

extern "C" void devcomm_destroy(devcomm *c)
{
    if (!c) return;
    if (c->comm) ncclCommDestroy(c->comm);
    cudaFree(c->half);
    free(c);
}

#endif
