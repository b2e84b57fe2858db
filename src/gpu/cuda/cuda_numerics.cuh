/* cuda_numerics.cuh — device fp32 <-> fp16 / bf16 conversions, bit-identical to
 * src/gpu/numerics.c, and the warp/block stats accumulation every rounding kernel uses. */
#ifndef MPTUI_CUDA_NUMERICS_CUH
#define MPTUI_CUDA_NUMERICS_CUH

#include <stdint.h>

#include "cuda_backend.h"

/* Hand-written integer ports of numerics.c rather than __float2half_rn / __half2float /
 * __float2bfloat16_rn: those agree on every finite value and Inf (all are RNE), but the
 * hardware conversions return a canonical NaN while numerics.c keeps the payload and sets the
 * quiet bit (as F16C does on the CPU). docs/numerics.md wants CPU and CUDA to agree bit for bit, so
 * the device follows the same definition; the tests compare every fp16/bf16 pattern and
 * millions of fp32 patterns. The kernels using them are memory-bound, so the few extra
 * integer ops cost nothing measurable. */
__device__ __forceinline__ uint16_t cu_f32_to_f16(float x)
{
    uint32_t u = __float_as_uint(x);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);
    if (a >= 0x38800000u) {
        uint32_t r = (a - (112u << 23)) + 0xfffu + ((a >> 13) & 1u);
        return (uint16_t)(sign | (r >> 13));
    }
    if (a <= 0x33000000u) return sign;
    uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
    uint32_t s = 126u - e;
    uint32_t r = m >> s, rem = m & ((1u << s) - 1u), half = 1u << (s - 1u);
    if (rem > half || (rem == half && (r & 1u))) r++;
    return (uint16_t)(sign | r);
}

__device__ __forceinline__ float cu_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0) return __uint_as_float(__float_as_uint((float)m * 0x1p-24f) | sign);
    if (e == 31) return __uint_as_float(sign | 0x7f800000u | (m << 13) | (m ? 0x400000u : 0u));
    return __uint_as_float(sign | ((e + 112u) << 23) | (m << 13));
}

__device__ __forceinline__ uint16_t cu_f32_to_bf16(float x)
{
    uint32_t u = __float_as_uint(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

__device__ __forceinline__ float cu_bf16_to_f32(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }

/* num_round1 */
__device__ __forceinline__ float cu_round(float x, int dt)
{
    if (dt == DT_F16) return cu_f16_to_f32(cu_f32_to_f16(x));
    if (dt == DT_BF16) return cu_bf16_to_f32(cu_f32_to_bf16(x));
    return x;
}

/* The storage bits of an already-rounded value, for cuBLAS inputs. */
__device__ __forceinline__ uint16_t cu_to_bits(float x, int dt)
{
    return dt == DT_F16 ? cu_f32_to_f16(x) : cu_f32_to_bf16(x);
}

/* Per-thread counters with the rules of numerics.c stats_chunk: before = input value,
 * after = rounded value. amin is kept as its complement so atomicMax finds the minimum and
 * a zeroed slot means "none". */
struct cu_lstats {
    uint32_t amax, namin;
    uint32_t ovf, unf, nonfin;
};

__device__ __forceinline__ void cu_lstats_init(cu_lstats *l)
{
    l->amax = 0;
    l->namin = 0;
    l->ovf = l->unf = l->nonfin = 0;
}

__device__ __forceinline__ void cu_lstats_add(cu_lstats *l, float before, float after)
{
    uint32_t a = __float_as_uint(before) & 0x7fffffffu, r = __float_as_uint(after) & 0x7fffffffu;
    uint32_t fin = a < 0x7f800000u;
    l->ovf += fin & (r == 0x7f800000u);
    l->unf += (a != 0) & (r == 0);
    l->nonfin += !fin;
    uint32_t am = fin ? a : 0;
    l->amax = am > l->amax ? am : l->amax;
    uint32_t na = (fin && a) ? ~a : 0u;
    l->namin = na > l->namin ? na : l->namin;
}

/* Warp-reduce then one atomic per warp into the device slot (counts are exact integers, so
 * the order of the atomics does not matter). count is added by the host at launch. */
__device__ __forceinline__ void cu_lstats_commit(cu_lstats *l, cu_dstats *slot)
{
    if (!slot) return;
    for (int o = 16; o > 0; o >>= 1) {
        l->amax = max(l->amax, __shfl_xor_sync(0xffffffffu, l->amax, o));
        l->namin = max(l->namin, __shfl_xor_sync(0xffffffffu, l->namin, o));
        l->ovf += __shfl_xor_sync(0xffffffffu, l->ovf, o);
        l->unf += __shfl_xor_sync(0xffffffffu, l->unf, o);
        l->nonfin += __shfl_xor_sync(0xffffffffu, l->nonfin, o);
    }
    if ((threadIdx.x & 31) == 0) {
        if (l->amax) atomicMax(&slot->amax, l->amax);
        if (l->namin) atomicMax(&slot->namin, l->namin);
        if (l->ovf) atomicAdd(&slot->overflow, (unsigned long long)l->ovf);
        if (l->unf) atomicAdd(&slot->underflow, (unsigned long long)l->unf);
        if (l->nonfin) atomicAdd(&slot->nonfinite, (unsigned long long)l->nonfin);
    }
}

#endif
