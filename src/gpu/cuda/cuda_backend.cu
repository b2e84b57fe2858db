/* cuda_backend.cu — CUDA backend lifetime: device pick, stream, cuBLAS handle, the memory
 * arena, reusable scratch, device-side stats merged at sync points, errors, the ops table. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_backend.h"

/* ---- errors ---- */

void cu_fail(cuda_backend *cb, const char *fmt, ...)
{
    if (cb->failed) return;
    cb->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cb->err, sizeof cb->err, fmt, ap);
    va_end(ap);
}

int cu_check_result(cuda_backend *cb, cu_result r, const char *op, const char *fmt, ...)
{
    if (!r.kind) return 0;
    char sizes[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sizes, sizeof sizes, fmt, ap);
    va_end(ap);
    cu_fail(cb, "CUDA %s %s: %s in %s (%s)", r.kind, r.name, r.desc, op, sizes);
    return -1;
}

/* The runtime's current device is per thread, and the engine may create the backend on one
 * thread and step on another (the TUI's worker): make ours current where it is used. */
static __thread int tl_device = -1;
static void cu_enter(cuda_backend *cb)
{
    if (tl_device != cb->device && cudaSetDevice(cb->device) == cudaSuccess)
        tl_device = cb->device;
}

void cu_op(cuda_backend *cb, const char *op, long a, long b, long c, long d)
{
    cu_enter(cb);
    cb->last_op = op;
    cb->last_sz[0] = a, cb->last_sz[1] = b, cb->last_sz[2] = c, cb->last_sz[3] = d;
}

int cu_blocks(cuda_backend *cb, size_t n, int threads)
{
    /* grid-stride kernels: enough blocks to fill the GPU a few times over, no more */
    size_t want = (n + (size_t)threads - 1) / (size_t)threads;
    size_t cap = (size_t)cb->sm_count * 16;
    if (want > cap) want = cap;
    return want ? (int)want : 1;
}

long long cu_tlist_upload(cuda_backend *cb, cu_tlist *list, float *const *ptr, const size_t *n,
                          int count, size_t block, const char *op)
{
    /* one buffer: ptr[count] | n[count] | bstart[count + 1], all 8-byte entries */
    size_t bytes = (3 * (size_t)count + 1) * 8;
    if (bytes > cb->list_cap) {
        free(cb->list_host);
        cb->list_host = malloc(bytes);
        cb->list_cap = cb->list_host ? bytes : 0;
        if (!cb->list_host) {
            cu_fail(cb, "%s: out of host memory for a list of %d tensors", op, count);
            return -1;
        }
    }
    char *h = (char *)cb->list_host;
    memcpy(h, ptr, (size_t)count * 8);
    memcpy(h + (size_t)count * 8, n, (size_t)count * 8);
    long long *bs = (long long *)(h + (size_t)count * 16), total = 0;
    for (int i = 0; i < count; i++) {
        bs[i] = total;
        total += (long long)((n[i] + block - 1) / block);
    }
    bs[count] = total;
    char *d = (char *)cu_scratch(cb, CU_SCR_LIST, bytes);
    if (!d || cu_check(cb, cudaMemcpyAsync(d, h, bytes, cudaMemcpyHostToDevice, cb->stream), op,
                       "list of %d tensors", count))
        return -1;
    list->ptr = (float *const *)d;
    list->n = (const size_t *)(d + (size_t)count * 8);
    list->bstart = (const long long *)(d + (size_t)count * 16);
    return total;
}

/* ---- stats slots ---- */

cu_dstats *cu_stats_slot(cuda_backend *cb, num_stats *st, size_t count)
{
    if (!st || cb->failed) return NULL;
    int i = 0;
    while (i < cb->n_st && cb->st_host[i] != st) i++;
    if (i == cb->n_st) {
        if (cb->n_st == CU_MAX_STATS && cu_sync(cb, "stats")) return NULL;
        i = cb->n_st++;
        cb->st_host[i] = st;
    }
    cb->st_pinned[i].count += count; /* host-side part; device adds the rest */
    return cb->st_dev + i;
}

static void stats_merge_pending(cuda_backend *cb)
{
    for (int i = 0; i < cb->n_st; i++) {
        const cu_dstats *d = &cb->st_pinned[CU_MAX_STATS + i];
        num_stats c;
        uint32_t amin = ~d->namin;
        memcpy(&c.amax, &d->amax, 4);
        if (d->namin) memcpy(&c.amin_nz, &amin, 4);
        else c.amin_nz = 0.0f;
        c.count = cb->st_pinned[i].count;
        c.overflow = d->overflow;
        c.underflow = d->underflow;
        c.nonfinite = d->nonfinite;
        num_stats_merge(cb->st_host[i], &c);
    }
    memset(cb->st_pinned, 0, sizeof(cu_dstats) * (size_t)cb->n_st);
}

int cu_sync(cuda_backend *cb, const char *where)
{
    if (cb->failed) return -1;
    int n = cb->n_st;
    if (n) {
        /* st_pinned holds two halves: [0, MAX) host-side counts, [MAX, 2 MAX) device copy */
        cudaMemcpyAsync(cb->st_pinned + CU_MAX_STATS, cb->st_dev, sizeof(cu_dstats) * (size_t)n,
                        cudaMemcpyDeviceToHost, cb->stream);
        cudaMemsetAsync(cb->st_dev, 0, sizeof(cu_dstats) * (size_t)n, cb->stream);
    }
    cudaError_t e = cudaStreamSynchronize(cb->stream);
    if (e != cudaSuccess) {
        char sizes[120];
        snprintf(sizes, sizeof sizes, "%ld, %ld, %ld, %ld", cb->last_sz[0], cb->last_sz[1],
                 cb->last_sz[2], cb->last_sz[3]);
        cu_fail(cb, "CUDA error %s: %s, found at %s; last op launched: %s (sizes %s)",
                cudaGetErrorName(e), cudaGetErrorString(e), where,
                cb->last_op ? cb->last_op : "none", sizes);
        return -1;
    }
    if (n) stats_merge_pending(cb);
    cb->n_st = 0;
    return 0;
}

/* ---- memory: arena ---- */

static size_t align256(size_t n) { return (n + 255) & ~(size_t)255; }

void *cuda_alloc(backend *be, size_t bytes)
{
    cuda_backend *cb = cu_of(be);
    if (cb->failed) return NULL;
    cu_enter(cb);
    size_t sz = align256(bytes ? bytes : 1);
    cu_chunk *c = cb->n_chunks ? &cb->chunks[cb->n_chunks - 1] : NULL;
    if (!c || c->size - c->used < sz) {
        if (cb->n_chunks == CU_MAX_CHUNKS) {
            cu_fail(cb, "CUDA arena: more than %d chunks (bk_alloc of %zu bytes)",
                    CU_MAX_CHUNKS, bytes);
            return NULL;
        }
        /* chunks of at least 256 MiB: a model's tensors land in a handful of cudaMallocs */
        size_t csz = sz > ((size_t)256 << 20) ? sz : ((size_t)256 << 20);
        void *p = NULL;
        cudaError_t e = cudaMalloc(&p, csz);
        if (e == cudaErrorMemoryAllocation && csz > sz) { /* near full: exactly what is asked */
            cudaGetLastError();
            csz = sz;
            e = cudaMalloc(&p, csz);
        }
        if (e != cudaSuccess) {
            cudaGetLastError(); /* OOM is not sticky: clear it, report through bk_status */
            size_t fr = 0, tot = 0;
            cudaMemGetInfo(&fr, &tot);
            cu_fail(cb, "CUDA out of memory in bk_alloc (%zu bytes requested, %zu MiB free of "
                    "%zu MiB): use a smaller batch or model", bytes, fr >> 20, tot >> 20);
            return NULL;
        }
        c = &cb->chunks[cb->n_chunks++];
        c->base = (char *)p;
        c->size = csz;
        c->used = 0;
        c->live = 0;
    }
    void *p = c->base + c->used;
    c->used += sz;
    c->live++;
    cu_op(cb, "bk_alloc", (long)bytes, 0, 0, 0);
    cu_check(cb, cudaMemsetAsync(p, 0, sz, cb->stream), "bk_alloc", "%zu bytes", bytes);
    return p;
}

void cuda_free(backend *be, void *p)
{
    cuda_backend *cb = cu_of(be);
    if (!p) return;
    cu_enter(cb);
    for (int i = 0; i < cb->n_chunks; i++) {
        cu_chunk *c = &cb->chunks[i];
        if ((char *)p < c->base || (char *)p >= c->base + c->size) continue;
        if (--c->live > 0) return;
        if (i == cb->n_chunks - 1) { /* the open chunk is kept for reuse */
            c->used = 0;
            return;
        }
        cudaFree(c->base); /* synchronizes: nothing queued can still use it */
        memmove(c, c + 1, sizeof *c * (size_t)(cb->n_chunks - 1 - i));
        cb->n_chunks--;
        return;
    }
    cu_fail(cb, "bk_free: %p is not CUDA backend memory", p);
}

void *cu_scratch(cuda_backend *cb, cu_scratch_slot slot, size_t bytes)
{
    if (cb->failed) return NULL;
    if (bytes <= cb->scr_cap[slot]) return cb->scr[slot];
    /* cudaFree waits for the device, so a kernel still reading the old buffer is done */
    if (cb->scr[slot]) cudaFree(cb->scr[slot]);
    size_t cap = align256(bytes + bytes / 2);
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, cap);
    if (e != cudaSuccess) {
        cudaGetLastError();
        cb->scr[slot] = NULL;
        cb->scr_cap[slot] = 0;
        cu_fail(cb, "CUDA out of memory for scratch slot %d (%zu bytes) after %s: use a smaller "
                "batch or model", (int)slot, cap, cb->last_op ? cb->last_op : "start");
        return NULL;
    }
    cb->scr[slot] = p;
    cb->scr_cap[slot] = cap;
    return p;
}

void cuda_zero(backend *be, void *p, size_t bytes)
{
    cuda_backend *cb = cu_of(be);
    if (cb->failed || !bytes) return;
    cu_op(cb, "bk_zero", (long)bytes, 0, 0, 0);
    cu_check(cb, cudaMemsetAsync(p, 0, bytes, cb->stream), "bk_zero", "%zu bytes", bytes);
}

/* Pageable source: cudaMemcpyAsync returns once the bytes are staged, so the caller may
 * reuse its buffer at once; the copy stays ordered with the kernels on the stream. */
void cuda_upload(backend *be, void *dst, const void *src, size_t bytes)
{
    cuda_backend *cb = cu_of(be);
    if (cb->failed || !bytes) return;
    cu_op(cb, "bk_upload", (long)bytes, 0, 0, 0);
    cu_check(cb, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cb->stream),
             "bk_upload", "%zu bytes", bytes);
}

void cuda_download(backend *be, void *dst, const void *src, size_t bytes)
{
    cuda_backend *cb = cu_of(be);
    if (cb->failed) {
        memset(dst, 0, bytes);
        return;
    }
    if (!bytes) return;
    cu_op(cb, "bk_download", (long)bytes, 0, 0, 0);
    if (cu_check(cb, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cb->stream),
                 "bk_download", "%zu bytes", bytes) ||
        cu_sync(cb, "bk_download"))
        memset(dst, 0, bytes);
}

void cuda_copy(backend *be, void *dst, const void *src, size_t bytes)
{
    cuda_backend *cb = cu_of(be);
    if (cb->failed || !bytes || dst == src) return;
    cu_op(cb, "bk_copy", (long)bytes, 0, 0, 0);
    const char *d = (const char *)dst, *s = (const char *)src;
    if (d < s + bytes && s < d + bytes) { /* overlap: memmove semantics, through scratch */
        void *tmp = cu_scratch(cb, CU_SCR_OUT, bytes);
        if (!tmp ||
            cu_check(cb, cudaMemcpyAsync(tmp, src, bytes, cudaMemcpyDeviceToDevice, cb->stream),
                     "bk_copy", "%zu bytes", bytes))
            return;
        src = tmp;
    }
    cu_check(cb, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cb->stream),
             "bk_copy", "%zu bytes", bytes);
}

/* ---- memory planning (docs/memory.md) ---- */

size_t cuda_mem_available(const backend *be)
{
    cuda_backend *cb = (cuda_backend *)be;
    cu_enter(cb);
    size_t free_b = 0, total = 0;
    if (cudaMemGetInfo(&free_b, &total) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return free_b;
}

static size_t ws_max(size_t a, size_t b) { return a > b ? a : b; }

/* An upper bound of the scratch slots (cu_scratch grows a slot to 1.5x a request): 16-bit
 * GEMM operands (A, B, C), the fp32 weight gradient and overlapping-copy buffer (OUT),
 * reduction partials (RED), plus all of attention's workspace as if it shared no slot. FP8
 * GEMMs (cuda_fp8.cu) put their byte operands in A and B and their fp32 result in OUT, each
 * padded to multiples of 16 (at most 1/8 more for dimensions of 256 and up, GPT-2's), and take
 * cuBLASLt's 32 MiB workspace. */
size_t cuda_workspace_bytes(const backend *be, const bk_workspace_req *r)
{
    size_t n = r->ln_rows, C = r->ln_c;
    size_t wb = r->gemm_b; /* a weight rounded from its master: whole, in 16 bits */
    for (int i = 0; i < r->n_wgemm && i < BK_WGEMMS; i++)
        wb = ws_max(wb, (size_t)r->wgemm[i].K * (size_t)r->wgemm[i].N);
    size_t a = r->gemm_a * 2, b = wb * 2, c = r->gemm_c * 2;
    size_t out = ws_max(r->wgrad, r->gemm_a) * 4;
    size_t red = ws_max((n + 63) / 64 * 2 * C * 4, (r->reduce + 255) / 256 * 8);
    size_t att = r->att_T ? cuda_attention_workspace(be, r->att_B, r->att_T, r->att_C, r->att_NH) : 0;
    size_t lt = 0;
    if (r->fp8) {
        size_t padded = r->fp8 + r->fp8 / 8 + 4096;
        a = ws_max(a, padded);
        b = ws_max(b, padded);
        out = ws_max(out, padded * 4);
        lt = (size_t)32 << 20;
    }
    size_t slot[] = {a, b, c, out, red, att, lt}, total = 0;
    for (size_t i = 0; i < sizeof slot / sizeof slot[0]; i++)
        total += slot[i] ? align256(slot[i] + slot[i] / 2) : 0;
    return total;
}

/* ---- lifetime ---- */

void cuda_destroy(backend *be)
{
    cuda_backend *cb = cu_of(be);
    cu_enter(cb);
    cudaStreamSynchronize(cb->stream);
    for (int i = 0; i < cb->n_chunks; i++) cudaFree(cb->chunks[i].base);
    for (int i = 0; i < CU_SCR_COUNT; i++)
        if (cb->scr[i]) cudaFree(cb->scr[i]);
    if (cb->st_dev) cudaFree(cb->st_dev);
    if (cb->st_pinned) cudaFreeHost(cb->st_pinned);
    if (cb->pinned) cudaFreeHost(cb->pinned);
    if (cb->blas) cublasDestroy(cb->blas);
    if (cb->lt) cublasLtDestroy(cb->lt);
    if (cb->stream) cudaStreamDestroy(cb->stream);
    free(cb->tok_host);
    free(cb->tok_order);
    free(cb->tok_start);
    free(cb->list_host);
    free(cb);
}

const char *cuda_describe(const backend *be) { return ((const cuda_backend *)be)->desc; }

int cuda_status(const backend *be, char *err, size_t errlen)
{
    cuda_backend *cb = (cuda_backend *)be;
    cu_enter(cb);
    /* the once-per-step check is also where pending stats land and async errors surface */
    if (!cb->failed) cu_sync(cb, "bk_status");
    if (!cb->failed) return 0;
    if (err && errlen) snprintf(err, errlen, "%s", cb->err);
    return -1;
}

/* In the order of bk_ops (C++ wants designators in declaration order). */
#define CUDA_SLOT(ret, name, params, args) .name = cuda_##name,
static const bk_ops cuda_ops = {BK_OPS(CUDA_SLOT, CUDA_SLOT) BK_OPS_OPTIONAL(CUDA_SLOT, CUDA_SLOT)
                                    BK_OPS_BACKEND(CUDA_SLOT, CUDA_SLOT)};
#undef CUDA_SLOT

static backend *create_fail(cuda_backend *cb, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static backend *create_fail(cuda_backend *cb, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    if (cb) cuda_destroy(&cb->base);
    return NULL;
}

/* nthreads is the CPU thread count; the GPU ignores it. MPTUI_CUDA_DEVICE picks the GPU. */
extern "C" backend *cuda_backend_create(int nthreads, char *err, size_t errlen)
{
    (void)nthreads;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return create_fail(NULL, err, errlen, "%s", e == cudaErrorNoDevice ? "no CUDA GPU found"
                           : e == cudaErrorInsufficientDriver ? "NVIDIA driver missing or too old"
                                                              : cudaGetErrorString(e));
    }
    if (n == 0) return create_fail(NULL, err, errlen, "no CUDA GPU found");
    const char *env = getenv("MPTUI_CUDA_DEVICE");
    int dev = env && *env ? atoi(env) : 0;
    if (dev < 0 || dev >= n)
        return create_fail(NULL, err, errlen, "MPTUI_CUDA_DEVICE=%s but only %d GPU%s", env, n,
                           n == 1 ? "" : "s");
    cudaDeviceProp prop;
    if ((e = cudaGetDeviceProperties(&prop, dev)) != cudaSuccess)
        return create_fail(NULL, err, errlen, "GPU %d: %s", dev, cudaGetErrorString(e));
    if (prop.major < 8)
        return create_fail(NULL, err, errlen, "GPU %d (%s) is compute capability %d.%d; mptui "
                           "needs 8.0 or newer (bf16 tensor cores)", dev, prop.name,
                           prop.major, prop.minor);
    cuda_backend *cb = (cuda_backend *)calloc(1, sizeof *cb);
    if (!cb) return create_fail(NULL, err, errlen, "out of memory creating the CUDA backend");
    cb->base.ops = &cuda_ops;
    cb->base.kind = BK_CUDA;
    cb->device = dev;
    cb->sm_count = prop.multiProcessorCount;
    cb->cc = prop.major * 10 + prop.minor;
    if (cu_fp8_init(cb, err, errlen)) return create_fail(cb, NULL, 0, "%s", "");
    if ((e = cudaSetDevice(dev)) != cudaSuccess ||
        (e = cudaStreamCreateWithFlags(&cb->stream, cudaStreamNonBlocking)) != cudaSuccess ||
        (e = cudaMalloc((void **)&cb->st_dev, sizeof(cu_dstats) * CU_MAX_STATS)) != cudaSuccess ||
        (e = cudaMemset(cb->st_dev, 0, sizeof(cu_dstats) * CU_MAX_STATS)) != cudaSuccess ||
        (e = cudaMallocHost((void **)&cb->st_pinned, 2 * sizeof(cu_dstats) * CU_MAX_STATS)) !=
            cudaSuccess ||
        (e = cudaMallocHost(&cb->pinned, 4096)) != cudaSuccess) {
        cudaGetLastError();
        return create_fail(cb, err, errlen, "GPU %d (%s): %s", dev, prop.name,
                           cudaGetErrorString(e));
    }
    memset(cb->st_pinned, 0, 2 * sizeof(cu_dstats) * CU_MAX_STATS);
    cublasStatus_t s;
    if ((s = cublasCreate(&cb->blas)) != CUBLAS_STATUS_SUCCESS ||
        (s = cublasSetStream(cb->blas, cb->stream)) != CUBLAS_STATUS_SUCCESS ||
        /* no TF32: fp32 GEMMs stay true fp32 (CUBLAS_COMPUTE_32F), as the CPU's sgemm */
        (s = cublasSetMathMode(cb->blas, CUBLAS_DEFAULT_MATH)) != CUBLAS_STATUS_SUCCESS)
        return create_fail(cb, err, errlen, "cuBLAS init on GPU %d: %s", dev,
                           cublasGetStatusString(s));
    snprintf(cb->desc, sizeof cb->desc, "cuda %d: %s (sm_%d%d, %.0f GiB)", dev, prop.name,
             prop.major, prop.minor, (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
    return &cb->base;
}
