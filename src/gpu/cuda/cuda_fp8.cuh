/* cuda_fp8.cuh — fp32 <-> OCP FP8 (E4M3, E5M2) conversions for the device, bit-identical to
 * numerics.c's num_f32_to_e4m3 / e5m2 and decoders, the MXFP8 block exponent, FP8 stats. */
#ifndef MPTUI_CUDA_FP8_CUH
#define MPTUI_CUDA_FP8_CUH

#include <stdint.h>
#include <string.h>

#include "numerics.h"

/*
 * Why integer code and not __nv_cvt_float_to_fp8 (docs/cuda.md, "FP8"): the hardware conversion
 * exists only on sm_89 and newer and only saturating (cvt.rn.satfinite), so sm_80 and the
 * plain cast would need an emulation anyway; one integer path gives the same bits on every GPU.
 * It is numerics.c's definition: normals round to nearest even by an integer carry (PyTorch's
 * c10 Float8 trick), subnormals by one fp32 addition of a power of two whose ulp is the
 * format's smallest subnormal (RNE by the FPU; __fadd_rn on the device so nothing is
 * contracted or flushed). NaN: E4M3 gives S.1111.111, E5M2 S.11111.1p (p: the fp32 payload's
 * top bit, as CUDA's own emulation); decoded, 0x7fc00000 (| p << 21), with the sign. The
 * kernels are memory-bound: the few integer ops cost nothing measurable.
 * __host__ __device__ so a host program can check them against numerics.c (docs/cuda.md).
 */

#if defined(__CUDACC__)
#define CU_FP8_FN __host__ __device__ __forceinline__
#else
#define CU_FP8_FN static inline
#endif

CU_FP8_FN uint32_t cu_fp8_bits(float x)
{
#if defined(__CUDA_ARCH__)
    return __float_as_uint(x);
#else
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
#endif
}

CU_FP8_FN float cu_fp8_float(uint32_t u)
{
#if defined(__CUDA_ARCH__)
    return __uint_as_float(u);
#else
    float x;
    memcpy(&x, &u, 4);
    return x;
#endif
}

/* a + b rounded to nearest even, never fused or flushed */
CU_FP8_FN float cu_fp8_add_rn(float a, float b)
{
#if defined(__CUDA_ARCH__)
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}

/* E4M3: bias 7, max 448 (0x7E), S.1111.111 NaN, no infinities. Non-saturating: |x| > 464
 * (rounds above 448), Inf and NaN give NaN 0x7F (sign kept). Saturating: finite beyond the
 * maximum and Inf give +-448; NaN stays 0x7F. */
CU_FP8_FN uint8_t cu_f32_to_e4m3(float x, int saturate)
{
    const uint32_t nan_from = 1087u << 20; /* 480.0: the first magnitude that rounds to NaN */
    const uint32_t denorm = 141u << 23;    /* 2^14: its fp32 ulp is E4M3's 2^-9 */
    uint32_t u = cu_fp8_bits(x);
    uint32_t sign = u & 0x80000000u;
    u ^= sign;
    uint8_t r;
    if (u > 0x7f800000u) {
        r = 0x7f;
    } else if (saturate && u > 0x43e00000u) { /* above 448 (Inf included) */
        r = 0x7e;
    } else if (u >= nan_from) {
        r = 0x7f;
    } else if (u < (121u << 23)) { /* below 2^-6, the smallest normal */
        r = (uint8_t)(cu_fp8_bits(cu_fp8_add_rn(cu_fp8_float(u), cu_fp8_float(denorm))) - denorm);
    } else {
        uint32_t odd = (u >> 20) & 1u;
        u += ((uint32_t)(7 - 127) << 23) + 0x7ffffu + odd;
        r = (uint8_t)(u >> 20);
    }
    return (uint8_t)(r | (sign >> 24));
}

/* E5M2: bias 15, max 57344 (0x7B), IEEE-like. Non-saturating: |x| >= 61440 (rounds above the
 * maximum) and Inf give Inf 0x7C; NaN gives quiet 0x7E | its top payload bit. Saturating:
 * +-57344 instead of Inf. */
CU_FP8_FN uint8_t cu_f32_to_e5m2(float x, int saturate)
{
    const uint32_t inf_from = 143u << 23; /* 65536: at or above, the cast is Inf or NaN */
    const uint32_t denorm = 134u << 23;   /* 2^7: its fp32 ulp is E5M2's 2^-16 */
    uint32_t u = cu_fp8_bits(x);
    uint32_t sign = u & 0x80000000u;
    u ^= sign;
    uint8_t r;
    if (u > 0x7f800000u) {
        r = (uint8_t)(0x7eu | ((u >> 21) & 1u));
    } else if (saturate && u > 0x47600000u) { /* above 57344 (Inf included) */
        r = 0x7b;
    } else if (u >= inf_from) {
        r = 0x7c;
    } else if (u < (113u << 23)) { /* below 2^-14, the smallest normal */
        r = (uint8_t)(cu_fp8_bits(cu_fp8_add_rn(cu_fp8_float(u), cu_fp8_float(denorm))) - denorm);
    } else {
        uint32_t odd = (u >> 21) & 1u;
        u += ((uint32_t)(15 - 127) << 23) + 0xfffffu + odd;
        r = (uint8_t)(u >> 21);
    }
    return (uint8_t)(r | (sign >> 24));
}

/* Exact. NaN (S.1111.111) decodes to sign | 0x7fc00000. */
CU_FP8_FN float cu_e4m3_to_f32(uint8_t b)
{
    uint32_t sign = (uint32_t)(b & 0x80u) << 24, e = (b >> 3) & 15u, m = b & 7u;
    if ((b & 0x7fu) == 0x7fu) return cu_fp8_float(sign | 0x7fc00000u);
    if (e == 0) /* subnormal: m 2^-9, exact in fp32 */
        return cu_fp8_float(cu_fp8_bits((float)m * 0x1p-9f) | sign);
    return cu_fp8_float(sign | ((e + 120u) << 23) | (m << 20));
}

/* Exact: E5M2 is the top byte of an fp16; NaN payloads kept with the quiet bit set, as
 * num_f16_to_f32. */
CU_FP8_FN float cu_e5m2_to_f32(uint8_t b)
{
    uint32_t sign = (uint32_t)(b & 0x80u) << 24;
    uint32_t e = (b >> 2) & 0x1fu, m = b & 0x3u;
    if (e == 0) /* subnormal: m 2^-16, exact in fp32 */
        return cu_fp8_float(cu_fp8_bits((float)m * 0x1p-16f) | sign);
    if (e == 31) return cu_fp8_float(sign | 0x7f800000u | (m << 21) | (m ? 0x400000u : 0u));
    return cu_fp8_float(sign | ((e + 112u) << 23) | (m << 21));
}

CU_FP8_FN uint8_t cu_f32_to_fp8(float x, int f, int saturate)
{
    return f == FP8_E5M2 ? cu_f32_to_e5m2(x, saturate) : cu_f32_to_e4m3(x, saturate);
}

CU_FP8_FN float cu_fp8_to_f32(uint8_t b, int f)
{
    return f == FP8_E5M2 ? cu_e5m2_to_f32(b) : cu_e4m3_to_f32(b);
}

/* The saturating cast decoded: what num_fp8_quantize stores for a scaled value y. */
CU_FP8_FN float cu_fp8_round(float y, int f) { return cu_fp8_to_f32(cu_f32_to_fp8(y, f, 1), f); }

/* 1 when a plain (non-saturating) cast of y would leave the finite range (|y| > 464 for E4M3,
 * >= 61440 for E5M2): the "overflow" of num_fp8_quantize for a finite input whose scaled
 * value y saturated. A format other than FP8_E5M2 is E4M3 here, as in numerics.c. */
CU_FP8_FN int cu_fp8_overflows(float y, int f)
{
    uint32_t b = cu_f32_to_fp8(y, f, 0) & 0x7fu;
    return f == FP8_E5M2 ? b >= 0x7cu : b == 0x7fu;
}

/* 2^k for k in [-149, 127], exactly (subnormal below -126). */
CU_FP8_FN float cu_pow2f(int k)
{
    return k >= -126 ? cu_fp8_float((uint32_t)(k + 127) << 23)
                     : cu_fp8_float(1u << (uint32_t)(k + 149));
}

/* num_mx_exponent: ceil(log2(|amax| * fp32(1 / max))), exact powers of two kept, clamped to
 * E8M0's [-127, 127]; -127 for amax 0, 127 for Inf / NaN. */
CU_FP8_FN int cu_mx_exponent(float amax, int f)
{
    float q = cu_fp8_float(cu_fp8_bits(amax) & 0x7fffffffu) *
              (f == FP8_E5M2 ? 1.0f / 57344.0f : 1.0f / 448.0f);
    uint32_t u = cu_fp8_bits(q), ex = u >> 23, m = u & 0x7fffffu;
    if (u >= 0x7f800000u) return 127;
    if (ex == 0) return m > 0x400000u ? -126 : -127; /* 2^-127 covers q <= 2^-127 (and 0) */
    int e = (int)ex - 127 + (m != 0u);
    return e > 127 ? 127 : e;
}

#endif
