/* cuda_optim.cu — loss-scale unscaling with the non-finite check and the AdamW step, fp32,
 * with the reference's expressions (and no FMA contraction), so both are bit-identical. */
#include <math.h>

#include "cuda_backend.h"
#include "opmath.h"

__global__ void unscale_k(float *g, size_t n, float inv, int *found)
{
    int f = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        f |= !isfinite(g[i]);
        g[i] *= inv;
    }
    f = __any_sync(0xffffffffu, f);
    if (f && (threadIdx.x & 31) == 0) atomicOr(found, 1);
}

/* The return value is the scaler's decision, so this waits for the device (as GradScaler's
 * found_inf.item()); on a CUDA error it reports "found" so no optimizer step uses garbage. */
int cuda_unscale(backend *be, float *g, size_t n, float inv_scale)
{
    cuda_backend *cb = cu_of(be);
    if (cb->failed) return 1;
    if (!n) return 0;
    cu_op(cb, "bk_unscale", (long)n, 0, 0, 0);
    int *flag = (int *)cu_scratch(cb, CU_SCR_FLAG, sizeof(int));
    if (!flag) return 1;
    int *h = (int *)cb->pinned;
    if (cu_check(cb, cudaMemsetAsync(flag, 0, sizeof *flag, cb->stream), "bk_unscale",
                 "n=%zu", n))
        return 1;
    unscale_k<<<cu_blocks(cb, n, 256), 256, 0, cb->stream>>>(g, n, inv_scale, flag);
    if (cu_check(cb, cudaGetLastError(), "bk_unscale", "n=%zu", n) ||
        cu_check(cb, cudaMemcpyAsync(h, flag, sizeof *h, cudaMemcpyDeviceToHost, cb->stream),
                 "bk_unscale", "n=%zu", n) ||
        cu_sync(cb, "bk_unscale"))
        return 1;
    return *h != 0;
}

enum { UNS_BLOCK = 16384 };

/* Multi-tensor unscale: global block b covers UNS_BLOCK elements of one tensor; found[t] is
 * set when tensor t held a non-finite value (checked before scaling, as the single form). */
__global__ void unscale_multi_k(const cu_tlist list, int count, float inv, int *found)
{
    long long b = blockIdx.x;
    int lo = cu_tlist_tensor(list, count, b);
    float *g = list.ptr[lo];
    size_t i0 = (size_t)(b - list.bstart[lo]) * UNS_BLOCK, end = min(list.n[lo], i0 + UNS_BLOCK);
    int f = 0;
    for (size_t i = i0 + threadIdx.x; i < end; i += blockDim.x) {
        f |= !isfinite(g[i]);
        g[i] *= inv;
    }
    f = __any_sync(0xffffffffu, f);
    if (f && (threadIdx.x & 31) == 0) atomicOr(&found[lo], 1);
}

/* All gradients in one launch and one synchronization (torch's
 * _amp_foreach_non_finite_check_and_unscale_ over the list). */
int cuda_unscale_multi(backend *be, float *const *g, const size_t *n, int count, float inv_scale)
{
    cuda_backend *cb = cu_of(be);
    const char *op = "bk_unscale_multi";
    if (count <= 0) return -1;
    if (cb->failed) return 0;
    cu_op(cb, op, count, 0, 0, 0);
    cu_tlist list;
    long long nb = cu_tlist_upload(cb, &list, g, n, count, UNS_BLOCK, op);
    if (nb < 0) return 0;
    int *found = (int *)cu_scratch(cb, CU_SCR_FLAG, (size_t)count * sizeof *found);
    int *h = (int *)malloc((size_t)count * sizeof *h);
    if (!found || !h) {
        free(h);
        if (!cb->failed) cu_fail(cb, "%s: out of memory for %d flags", op, count);
        return 0;
    }
    int first = 0; /* on any error: "found", so no optimizer step uses garbage */
    if (!cu_check(cb, cudaMemsetAsync(found, 0, (size_t)count * sizeof *found, cb->stream), op,
                  "%d tensors", count)) {
        if (nb > 0)
            unscale_multi_k<<<(unsigned)nb, 256, 0, cb->stream>>>(list, count, inv_scale, found);
        if (!cu_check(cb, cudaGetLastError(), op, "%d tensors, %lld blocks", count, nb) &&
            !cu_check(cb, cudaMemcpyAsync(h, found, (size_t)count * sizeof *h,
                                          cudaMemcpyDeviceToHost, cb->stream),
                      op, "%d tensors", count) &&
            !cu_sync(cb, op)) {
            first = -1;
            for (int i = 0; i < count && first < 0; i++)
                if (h[i]) first = i;
        }
    }
    free(h);
    return first;
}

/* The update of opmath.h, element by element, as cpu_adamw. */
__global__ void adamw_k(float *p, const float *g, float *m, float *v, size_t n,
                        bk_adamw_scalars c, float grad_mult)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        adamw_update(p + i, m + i, v + i, g[i] * grad_mult, &c);
}

/* Scalars formed on the host in double once for every backend (bk_adamw). */
void cuda_adamw(backend *be, float *p, const float *g, float *m, float *v, size_t n,
                const bk_adamw_scalars *s, float grad_mult)
{
    cuda_backend *cb = cu_of(be);
    if (cb->failed || !n) return;
    cu_op(cb, "bk_adamw", (long)n, s->t, 0, 0);
    adamw_k<<<cu_blocks(cb, n, 256), 256, 0, cb->stream>>>(p, g, m, v, n, *s, grad_mult);
    cu_check(cb, cudaGetLastError(), "bk_adamw", "n=%zu t=%d", n, s->t);
}
