/* numerics.c — bit-exact fp16 / bf16 conversions (scalar reference + SIMD fast paths)
 * and the round-through with loss counters that all emulation goes through. */
#include "numerics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define NUM_X86 1
#endif

static const dtype_info dtype_table[] = {
    [DT_F32] = {"fp32", "float32", "FP32", 32, 23, 8, DT_ROLE_FULL, DT_F16, 0},
    [DT_F16] = {"fp16", "float16", "FP16", 16, 10, 5, DT_ROLE_HALF, DT_BF16, 1},
    [DT_BF16] = {"bf16", "bfloat16", "BF16", 16, 7, 8, DT_ROLE_BRAIN, DT_FP8, 0},
    /* a mode (numerics.h): E4M3's bits for the label; the fp8 GEMM inputs are one byte */
    [DT_FP8] = {"fp8", "float8", "FP8", 8, 3, 4, DT_ROLE_FP8, DT_F32, 0},
};
_Static_assert(sizeof dtype_table / sizeof dtype_table[0] == DT_COUNT,
               "one dtype_table row per dtype_t value");

const dtype_info *dtype_info_of(dtype_t dt)
{
    return (unsigned)dt < DT_COUNT ? &dtype_table[dt] : NULL;
}

int dtype_auto_scaled(dtype_t dt) { return (unsigned)dt < DT_COUNT && dtype_table[dt].auto_scaled; }

const char *dtype_name(dtype_t dt) { return (unsigned)dt < DT_COUNT ? dtype_table[dt].name : "?"; }
const char *dtype_label(dtype_t dt) { return (unsigned)dt < DT_COUNT ? dtype_table[dt].label : "?"; }

int dtype_parse(const char *s, dtype_t *out)
{
    if (!s) return -1;
    for (int d = 0; d < DT_COUNT; d++)
        if (!strcasecmp(s, dtype_table[d].name) || !strcasecmp(s, dtype_table[d].alias)) {
            *out = (dtype_t)d;
            return 0;
        }
    return -1;
}

const char *dtype_names_joined(const char *sep, char *buf, size_t len)
{
    size_t k = 0;
    if (!len) return buf;
    buf[0] = '\0';
    for (int d = 0; d < DT_COUNT && k < len; d++) {
        int w = snprintf(buf + k, len - k, "%s%s", d ? sep : "", dtype_table[d].name);
        if (w < 0) break;
        k += (size_t)w;
    }
    return buf;
}

static inline uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* ---- scalar reference, written from the definition ---- */

uint16_t num_f32_to_f16(float x)
{
    uint32_t u = f2u(x);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) /* NaN: quiet it, keep the top payload bits (as F16C does) */
        return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    if (a >= 0x477ff000u) /* >= 65520 (and Inf) rounds to Inf */
        return (uint16_t)(sign | 0x7c00u);
    if (a >= 0x38800000u) { /* normal in fp16: rebias exponent, RNE on the 13 dropped bits */
        uint32_t r = (a - (112u << 23)) + 0xfffu + ((a >> 13) & 1u);
        return (uint16_t)(sign | (r >> 13));
    }
    if (a <= 0x33000000u) /* <= 2^-25: the tie at 2^-25 goes to even (zero) */
        return sign;
    /* subnormal: value = m * 2^(e-150); fp16 units are 2^-24, so shift by 126 - e */
    uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
    uint32_t s = 126u - e;
    uint32_t r = m >> s, rem = m & ((1u << s) - 1u), half = 1u << (s - 1u);
    if (rem > half || (rem == half && (r & 1u))) r++;
    return (uint16_t)(sign | r);
}

float num_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0) { /* zero or subnormal: exact in fp32 */
        float v = (float)m * 0x1p-24f;
        return u2f(f2u(v) | sign);
    }
    if (e == 31) /* Inf, or NaN made quiet as VCVTPH2PS does (keeps the array path equal) */
        return u2f(sign | 0x7f800000u | (m << 13) | (m ? 0x400000u : 0u));
    return u2f(sign | ((e + 112u) << 23) | (m << 13));
}

uint16_t num_f32_to_bf16(float x)
{
    uint32_t u = f2u(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

float num_bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

/* ---- dispatch ---- */

/* Relaxed atomics: OpenMP workers read these while a test or bench may flip them. */
static int g_portable = 0;

int num_set_portable(int portable)
{
    return __atomic_exchange_n(&g_portable, portable, __ATOMIC_RELAXED);
}

int num_has_f16c(void)
{
#ifdef NUM_X86
    static int cached = -1;
    int has = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (has < 0) {
        __builtin_cpu_init();
        has = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx2");
        __atomic_store_n(&cached, has, __ATOMIC_RELAXED);
    }
    return has && !__atomic_load_n(&g_portable, __ATOMIC_RELAXED);
#else
    return 0;
#endif
}

/* ---- SIMD paths ---- */

#ifdef NUM_X86
__attribute__((target("avx2,f16c")))
static size_t f16_to_half_simd(uint16_t *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(dst + i), h);
    }
    return i;
}

__attribute__((target("avx2,f16c")))
static size_t half_to_f32_simd(float *dst, const uint16_t *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    return i;
}

__attribute__((target("avx2,f16c")))
static size_t round_f16_simd(float *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    return i;
}

/* bf16 RNE on the bits; NaN gets the quiet bit instead of a rounding carry. */
__attribute__((target("avx2")))
static inline __m256i bf16_round_bits(__m256 x)
{
    __m256i u = _mm256_castps_si256(x);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), lsb);
    __m256i q = _mm256_or_si256(u, _mm256_set1_epi32(0x00400000));
    __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_UNORD_Q));
    r = _mm256_blendv_epi8(r, q, nan);
    return _mm256_and_si256(r, _mm256_set1_epi32((int)0xffff0000u));
}

__attribute__((target("avx2")))
static size_t round_bf16_simd(float *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(bf16_round_bits(_mm256_loadu_ps(src + i))));
    return i;
}

__attribute__((target("avx2")))
static size_t to_bf16_simd(uint16_t *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i r = _mm256_srli_epi32(bf16_round_bits(_mm256_loadu_ps(src + i)), 16);
        __m128i lo = _mm256_castsi256_si128(r), hi = _mm256_extracti128_si256(r, 1);
        _mm_storeu_si128((__m128i *)(dst + i), _mm_packus_epi32(lo, hi));
    }
    return i;
}

__attribute__((target("avx2")))
static size_t from_bf16_simd(float *dst, const uint16_t *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
    return i;
}

/* Whether rounding changes any of the elements, 32 at a time (the differences of four
 * vectors OR-ed before one test); returns how many it checked, *changed set on the first
 * block that differs (that block counted as unchecked). */
__attribute__((target("avx2,f16c")))
static inline __m256i round_diff(__m256 x, dtype_t dt)
{
    __m256i r = dt == DT_F16
                    ? _mm256_castps_si256(_mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT)))
                    : bf16_round_bits(x);
    return _mm256_xor_si256(r, _mm256_castps_si256(x));
}

__attribute__((target("avx2,f16c")))
static size_t exact_simd(const float *x, size_t n, dtype_t dt, int *changed)
{
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i d = _mm256_or_si256(
            _mm256_or_si256(round_diff(_mm256_loadu_ps(x + i), dt),
                            round_diff(_mm256_loadu_ps(x + i + 8), dt)),
            _mm256_or_si256(round_diff(_mm256_loadu_ps(x + i + 16), dt),
                            round_diff(_mm256_loadu_ps(x + i + 24), dt)));
        if (!_mm256_testz_si256(d, d)) {
            *changed = 1;
            return i;
        }
    }
    for (; i + 8 <= n; i += 8) {
        __m256i d = round_diff(_mm256_loadu_ps(x + i), dt);
        if (!_mm256_testz_si256(d, d)) {
            *changed = 1;
            return i;
        }
    }
    return i;
}
#endif

static int use_simd(void) { return num_has_f16c(); }

/* A 16-bit format's rounding: the scalar reference (a branch, not a pointer, so it inlines
 * and vectorizes like a direct call) and, on x86, its SIMD fast paths (each does a multiple
 * of 8 elements and returns how many; the scalar path does the rest). */
static inline uint16_t half_narrow(dtype_t dt, float x)
{
    return dt == DT_F16 ? num_f32_to_f16(x) : num_f32_to_bf16(x);
}

static inline float half_widen(dtype_t dt, uint16_t h)
{
    return dt == DT_F16 ? num_f16_to_f32(h) : num_bf16_to_f32(h);
}

typedef struct {
    size_t (*narrow)(uint16_t *dst, const float *src, size_t n);
    size_t (*widen)(float *dst, const uint16_t *src, size_t n);
    size_t (*round)(float *dst, const float *src, size_t n);
} half_simd;

/* Without x86 the entries stay NULL: use_simd() is 0 there, so none is called. */
static const half_simd half_simds[DT_COUNT] = {
#ifdef NUM_X86
    [DT_F16] = {f16_to_half_simd, half_to_f32_simd, round_f16_simd},
    [DT_BF16] = {to_bf16_simd, from_bf16_simd, round_bf16_simd},
#else
    {0},
#endif
};

static inline void narrow_array(dtype_t dt, uint16_t *dst, const float *src, size_t n)
{
    size_t i = use_simd() ? half_simds[dt].narrow(dst, src, n) : 0;
    for (; i < n; i++) dst[i] = half_narrow(dt, src[i]);
}

static inline void widen_array(dtype_t dt, float *dst, const uint16_t *src, size_t n)
{
    size_t i = use_simd() ? half_simds[dt].widen(dst, src, n) : 0;
    for (; i < n; i++) dst[i] = half_widen(dt, src[i]);
}

void num_f32_to_f16_array(uint16_t *dst, const float *src, size_t n)
{
    narrow_array(DT_F16, dst, src, n);
}

void num_f16_to_f32_array(float *dst, const uint16_t *src, size_t n)
{
    widen_array(DT_F16, dst, src, n);
}

void num_f32_to_bf16_array(uint16_t *dst, const float *src, size_t n)
{
    narrow_array(DT_BF16, dst, src, n);
}

void num_bf16_to_f32_array(float *dst, const uint16_t *src, size_t n)
{
    widen_array(DT_BF16, dst, src, n);
}

/* ---- round-through ---- */

float num_round1(float x, dtype_t dt)
{
    switch (dt) {
    case DT_F16: return num_f16_to_f32(num_f32_to_f16(x));
    case DT_BF16: return num_bf16_to_f32(num_f32_to_bf16(x));
    default: return x;
    }
}

static void round_plain(float *dst, const float *src, size_t n, dtype_t dt)
{
    if (dt != DT_F16 && dt != DT_BF16) { /* DT_F32 (and an invalid dt) copy */
        if (dst != src) memmove(dst, src, n * sizeof *dst);
        return;
    }
    size_t i = use_simd() ? half_simds[dt].round(dst, src, n) : 0;
    for (; i < n; i++) dst[i] = num_round1(src[i], dt);
}

int num_is_exact(const float *x, size_t n, dtype_t dt)
{
    if (dt != DT_F16 && dt != DT_BF16) return 1; /* DT_F32 (and an invalid dt) copy */
    size_t i = 0;
#ifdef NUM_X86
    if (use_simd()) {
        int changed = 0;
        i = exact_simd(x, n, dt, &changed);
        if (changed) return 0;
    }
#endif
    for (; i < n; i++)
        if (f2u(num_round1(x[i], dt)) != f2u(x[i])) return 0;
    return 1;
}

void num_stats_reset(num_stats *st)
{
    memset(st, 0, sizeof *st);
}

void num_stats_merge(num_stats *into, const num_stats *from)
{
    if (from->amax > into->amax) into->amax = from->amax;
    if (from->amin_nz > 0 && (into->amin_nz == 0 || from->amin_nz < into->amin_nz))
        into->amin_nz = from->amin_nz;
    into->count += from->count;
    into->overflow += from->overflow;
    into->underflow += from->underflow;
    into->nonfinite += from->nonfinite;
}

/* Counts on the raw bits so the compiler can vectorize it; before = input, after = rounded. */
static void stats_chunk(num_stats *st, const float *before, const float *after, size_t n)
{
    uint32_t amax = 0, amin = 0xffffffffu, ovf = 0, unf = 0, nonfin = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t a = f2u(before[i]) & 0x7fffffffu, r = f2u(after[i]) & 0x7fffffffu;
        uint32_t fin = a < 0x7f800000u;
        ovf += fin & (r == 0x7f800000u);
        unf += (a != 0) & (r == 0);
        nonfin += !fin;
        uint32_t am = fin ? a : 0;
        amax = am > amax ? am : amax;
        uint32_t an = (fin && a) ? a : 0xffffffffu;
        amin = an < amin ? an : amin;
    }
    num_stats c = {u2f(amax), amin == 0xffffffffu ? 0.0f : u2f(amin), n, ovf, unf, nonfin};
    num_stats_merge(st, &c);
}

#ifdef NUM_X86
/* Rounds 8 lanes and folds them into the running lane counters (same rules as stats_chunk). */
typedef struct {
    __m256i amax, amin, ovf, unf, nonfin;
} stats_lanes;

__attribute__((target("avx2,f16c")))
static inline void stats_lanes_add(stats_lanes *l, __m256 x, __m256 r)
{
    const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    const __m256i zero = _mm256_setzero_si256();
    __m256i a = _mm256_and_si256(_mm256_castps_si256(x), abs_mask);
    __m256i ra = _mm256_and_si256(_mm256_castps_si256(r), abs_mask);
    __m256i fin = _mm256_cmpgt_epi32(inf, a); /* a <= 0x7fffffff, so signed compare is fine */
    __m256i nz = _mm256_xor_si256(_mm256_cmpeq_epi32(a, zero), _mm256_set1_epi32(-1));
    /* mask lanes are -1: subtracting counts them */
    l->ovf = _mm256_sub_epi32(l->ovf, _mm256_and_si256(fin, _mm256_cmpeq_epi32(ra, inf)));
    l->unf = _mm256_sub_epi32(l->unf, _mm256_and_si256(nz, _mm256_cmpeq_epi32(ra, zero)));
    l->nonfin = _mm256_add_epi32(l->nonfin, _mm256_and_si256(_mm256_set1_epi32(1),
                                                             _mm256_cmpeq_epi32(fin, zero)));
    l->amax = _mm256_max_epu32(l->amax, _mm256_and_si256(a, fin));
    __m256i keep = _mm256_and_si256(fin, nz);
    l->amin = _mm256_min_epu32(l->amin, _mm256_or_si256(a, _mm256_xor_si256(keep,
                                                        _mm256_set1_epi32(-1))));
}

static uint64_t lanes_sum(const uint32_t v[8])
{
    uint64_t s = 0;
    for (int k = 0; k < 8; k++) s += v[k];
    return s;
}

__attribute__((target("avx2,f16c")))
static void stats_lanes_flush(num_stats *st, const stats_lanes *l, size_t count)
{
    uint32_t mx[8], mn[8], o[8], u[8], nf[8];
    _mm256_storeu_si256((__m256i *)mx, l->amax);
    _mm256_storeu_si256((__m256i *)mn, l->amin);
    _mm256_storeu_si256((__m256i *)o, l->ovf);
    _mm256_storeu_si256((__m256i *)u, l->unf);
    _mm256_storeu_si256((__m256i *)nf, l->nonfin);
    uint32_t amax = 0, amin = 0xffffffffu;
    for (int k = 0; k < 8; k++) {
        amax = mx[k] > amax ? mx[k] : amax;
        amin = mn[k] < amin ? mn[k] : amin;
    }
    num_stats c = {u2f(amax), amin == 0xffffffffu ? 0.0f : u2f(amin), count, lanes_sum(o),
                   lanes_sum(u), lanes_sum(nf)};
    num_stats_merge(st, &c);
}

/* Fused round + stats in one pass; returns how many elements it did (a multiple of 8).
 * Blocks of 2^24 keep the 32-bit lane counters from wrapping. */
__attribute__((target("avx2,f16c")))
static size_t round_stats_simd(float *dst, const float *src, size_t n, dtype_t dt,
                               num_stats *st)
{
    size_t i = 0;
    while (i + 8 <= n) {
        size_t end = n - i > ((size_t)1 << 24) ? i + ((size_t)1 << 24) : n, start = i;
        stats_lanes l = {_mm256_setzero_si256(), _mm256_set1_epi32(-1), _mm256_setzero_si256(),
                         _mm256_setzero_si256(), _mm256_setzero_si256()};
        for (; i + 8 <= end; i += 8) {
            __m256 x = _mm256_loadu_ps(src + i), r;
            if (dt == DT_F16)
                r = _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
            else if (dt == DT_BF16)
                r = _mm256_castsi256_ps(bf16_round_bits(x));
            else /* fp32: stats of the values as they are */
                r = x;
            stats_lanes_add(&l, x, r);
            _mm256_storeu_ps(dst + i, r);
        }
        stats_lanes_flush(st, &l, i - start);
    }
    return i;
}
#endif

void num_round(float *dst, const float *src, size_t n, dtype_t dt, num_stats *st)
{
    if (!st) {
        round_plain(dst, src, n, dt);
        return;
    }
#ifdef NUM_X86
    if (use_simd() && (dt == DT_F16 || dt == DT_BF16 || dt == DT_F32)) {
        size_t i = round_stats_simd(dst, src, n, dt, st);
        dst += i, src += i, n -= i; /* the tail (< 8) goes the portable way */
    }
#endif
    enum { CHUNK = 1024 };
    float tmp[CHUNK];
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t k = n - i < CHUNK ? n - i : CHUNK;
        round_plain(tmp, src + i, k, dt);
        stats_chunk(st, src + i, tmp, k);
        memcpy(dst + i, tmp, k * sizeof *tmp);
    }
}

/* ---- FP8 (docs/numerics.md, "FP8") ----
 * Encoders on the fp32 bits, branch-free so the array loops vectorize: normals round to
 * nearest even with the integer carry trick (as bf16 above); subnormals by one fp32 add of a
 * power of two whose ulp is the format's smallest subnormal (the FPU's own RNE does the
 * rounding, as PyTorch's c10 Float8 casts). The range checks come last and override. */

enum {
    E4M3_MIN_NORMAL = 0x3c800000u, /* 2^-6 */
    E4M3_SUB_ADD = 0x46800000u,    /* 2^14: its ulp is 2^-9 */
    E4M3_OVF = 0x43e80000u,        /* 464 = 448 + half an ulp: the tie goes to even 448 */
    E5M2_MIN_NORMAL = 0x38800000u, /* 2^-14 */
    E5M2_SUB_ADD = 0x43000000u,    /* 2^7: its ulp is 2^-16 */
    E5M2_OVF = 0x47700000u,        /* 61440 = 57344 + half an ulp: the tie goes to even (Inf) */
    F32_INF = 0x7f800000u,
};

static inline uint32_t e4m3_encode(uint32_t u, int saturate)
{
    uint32_t sign = (u >> 24) & 0x80u, a = u & 0x7fffffffu;
    uint32_t sub = f2u(u2f(a) + u2f(E4M3_SUB_ADD)) - E4M3_SUB_ADD;
    uint32_t nrm = (a - (120u << 23) + 0x7ffffu + ((a >> 20) & 1u)) >> 20;
    uint32_t r = a < E4M3_MIN_NORMAL ? sub : nrm;
    r = a > E4M3_OVF ? (saturate ? 0x7eu : 0x7fu) : r; /* Inf included */
    r = a > F32_INF ? 0x7fu : r;
    return sign | r;
}

static inline uint32_t e5m2_encode(uint32_t u, int saturate)
{
    uint32_t sign = (u >> 24) & 0x80u, a = u & 0x7fffffffu;
    uint32_t sub = f2u(u2f(a) + u2f(E5M2_SUB_ADD)) - E5M2_SUB_ADD;
    uint32_t nrm = (a - (112u << 23) + 0xfffffu + ((a >> 21) & 1u)) >> 21;
    uint32_t r = a < E5M2_MIN_NORMAL ? sub : nrm;
    r = a >= E5M2_OVF ? (saturate ? 0x7bu : 0x7cu) : r; /* Inf included */
    r = a > F32_INF ? 0x7eu | ((a >> 21) & 1u) : r;     /* quiet bit forced, top payload bit */
    return sign | r;
}

static inline uint32_t e4m3_decode(uint32_t b)
{
    uint32_t sign = (b & 0x80u) << 24, e = (b >> 3) & 15u, m = b & 7u;
    uint32_t r = e ? ((e + 120u) << 23) | (m << 20) : f2u((float)m * 0x1p-9f);
    r = (b & 0x7fu) == 0x7fu ? 0x7fc00000u : r;
    return sign | r;
}

static inline uint32_t e5m2_decode(uint32_t b)
{
    uint32_t sign = (b & 0x80u) << 24, e = (b >> 2) & 31u, m = b & 3u;
    uint32_t r = e ? ((e + 112u) << 23) | (m << 21) : f2u((float)m * 0x1p-16f);
    r = e == 31u ? F32_INF | (m << 21) | (m ? 0x400000u : 0u) : r; /* NaNs come out quiet */
    return sign | r;
}

uint8_t num_f32_to_e4m3(float x, int saturate) { return (uint8_t)e4m3_encode(f2u(x), saturate); }
float num_e4m3_to_f32(uint8_t b) { return u2f(e4m3_decode(b)); }
uint8_t num_f32_to_e5m2(float x, int saturate) { return (uint8_t)e5m2_encode(f2u(x), saturate); }
float num_e5m2_to_f32(uint8_t b) { return u2f(e5m2_decode(b)); }

uint8_t num_f32_to_fp8(float x, fp8_format f, int saturate)
{
    return f == FP8_E5M2 ? num_f32_to_e5m2(x, saturate) : num_f32_to_e4m3(x, saturate);
}

float num_fp8_to_f32(uint8_t b, fp8_format f)
{
    return f == FP8_E5M2 ? num_e5m2_to_f32(b) : num_e4m3_to_f32(b);
}

float num_fp8_max(fp8_format f)
{
    return f == FP8_E4M3 ? 448.0f : f == FP8_E5M2 ? 57344.0f : 0.0f;
}

const char *num_fp8_name(fp8_format f)
{
    return f == FP8_E4M3 ? "e4m3" : f == FP8_E5M2 ? "e5m2" : "?";
}

/* What a scaled cast did, in 32-bit lane counters (chunks of at most FP8_CHUNK values). */
typedef struct {
    uint32_t amax, amin, ovf, unf, nonfin;
} fp8_counts;

enum { FP8_CHUNK = 4096 };

/* decode(encode(x, saturate 1)) without the codes: the nearest fp8 value as fp32 bits. Normals
 * keep the top mantissa bits after the RNE carry; subnormals are (|x| + 2^k) - 2^k, both
 * steps exact but the rounding of the first. The tests check it against the codes. */
static inline __attribute__((always_inline)) uint32_t fp8_round_sat(uint32_t u, fp8_format f)
{
    uint32_t sign = u & 0x80000000u, a = u & 0x7fffffffu, r;
    if (f == FP8_E5M2) {
        float sub = (u2f(a) + u2f(E5M2_SUB_ADD)) - u2f(E5M2_SUB_ADD);
        r = a < E5M2_MIN_NORMAL ? f2u(sub) : (a + 0xfffffu + ((a >> 21) & 1u)) & 0xffe00000u;
        r = a >= E5M2_OVF ? 0x47600000u : r;                      /* 57344 */
        r = a > F32_INF ? 0x7fc00000u | (a & 0x200000u) : r;      /* as e5m2_decode's NaN */
    } else {
        float sub = (u2f(a) + u2f(E4M3_SUB_ADD)) - u2f(E4M3_SUB_ADD);
        r = a < E4M3_MIN_NORMAL ? f2u(sub) : (a + 0x7ffffu + ((a >> 20) & 1u)) & 0xfff00000u;
        r = a > E4M3_OVF ? 0x43e00000u : r;                       /* 448 */
        r = a > F32_INF ? 0x7fc00000u : r;
    }
    return sign | r;
}

/* One value: fp8_sat(x * scale) as fp32, times unscale when mx (2^e of an MX block: exact but
 * for the Inf past fp32's last binade, counted as overflow). f and mx are constants after
 * inlining, so each caller's loop is specialized and vectorizes. */
static inline __attribute__((always_inline)) float fp8_scaled(float x, float scale,
                                                               float unscale, fp8_format f,
                                                               int mx, fp8_counts *c)
{
    uint32_t a = f2u(x) & 0x7fffffffu, s = f2u(x * scale), sa = s & 0x7fffffffu;
    float d = u2f(fp8_round_sat(s, f));
    if (mx) d *= unscale;
    uint32_t da = f2u(d) & 0x7fffffffu, fin = a < F32_INF;
    uint32_t sat = f == FP8_E5M2 ? sa >= E5M2_OVF : sa > E4M3_OVF;
    c->ovf += fin & (sat | (da == F32_INF));
    c->unf += (a != 0) & (da == 0);
    c->nonfin += !fin;
    /* masks rather than && and ?: on the lanes: GCC then vectorizes the min / max */
    uint32_t keep = 0u - (fin & (a != 0)), am = a & (0u - fin), an = (a & keep) | ~keep;
    c->amax = am > c->amax ? am : c->amax;
    c->amin = an < c->amin ? an : c->amin;
    return d;
}

static void fp8_counts_flush(num_stats *st, const fp8_counts *c, size_t n)
{
    num_stats k = {u2f(c->amax), c->amin == 0xffffffffu ? 0.0f : u2f(c->amin), n, c->ovf,
                   c->unf, c->nonfin};
    num_stats_merge(st, &k);
}

static inline __attribute__((always_inline)) void fp8_quantize_chunk(
    float *dst, const float *src, size_t n, fp8_format f, float scale, num_stats *st)
{
    fp8_counts c = {0, 0xffffffffu, 0, 0, 0};
    for (size_t i = 0; i < n; i++) dst[i] = fp8_scaled(src[i], scale, 1.0f, f, 0, &c);
    if (st) fp8_counts_flush(st, &c, n);
}

static void fp8_quantize_portable(float *dst, const float *src, size_t n, fp8_format f,
                                  float scale, num_stats *st)
{
    if (f == FP8_E5M2) fp8_quantize_chunk(dst, src, n, FP8_E5M2, scale, st);
    else fp8_quantize_chunk(dst, src, n, FP8_E4M3, scale, st);
}

#ifdef NUM_X86
/* The same C compiled for AVX2 (8 lanes instead of SSE2's 4): the same operations on the
 * same values, so the same bits; no FMA is enabled, so nothing is contracted. */
__attribute__((target("avx2")))
static void fp8_quantize_avx2(float *dst, const float *src, size_t n, fp8_format f, float scale,
                              num_stats *st)
{
    if (f == FP8_E5M2) fp8_quantize_chunk(dst, src, n, FP8_E5M2, scale, st);
    else fp8_quantize_chunk(dst, src, n, FP8_E4M3, scale, st);
}
#endif

void num_fp8_quantize(float *dst, const float *src, size_t n, fp8_format f, float scale,
                      num_stats *st)
{
    for (size_t i = 0; i < n; i += FP8_CHUNK) {
        size_t k = n - i < FP8_CHUNK ? n - i : FP8_CHUNK;
#ifdef NUM_X86
        if (use_simd()) {
            fp8_quantize_avx2(dst + i, src + i, k, f, scale, st);
            continue;
        }
#endif
        fp8_quantize_portable(dst + i, src + i, k, f, scale, st);
    }
}

/* 2^k for k in [-149, 127], built from the bits (2^-127 is an fp32 subnormal). */
static inline float pow2f(int k)
{
    return k >= -126 ? u2f((uint32_t)(k + 127) << 23) : u2f(1u << (k + 149));
}

int num_mx_exponent(float amax, fp8_format f)
{
    /* fp32(1 / max) and one fp32 multiply, then the exponent rounded up (TE's float_to_e8m0) */
    float v = u2f(f2u(amax) & 0x7fffffffu) * (f == FP8_E5M2 ? 1.0f / 57344.0f : 1.0f / 448.0f);
    uint32_t u = f2u(v), e = u >> 23, m = u & 0x7fffffu;
    if (u >= F32_INF) return 127; /* a caller bug (amax is finite): the widest scale */
    if (e == 0) return m > 0x400000u ? -126 : -127; /* 2^-127 covers v <= 2^-127 (and 0) */
    int k = (int)e - 127 + (m != 0);
    return k > 127 ? 127 : k;
}

/* Largest finite magnitude of n values at stride `stride`. */
static float mx_amax(const float *x, size_t n, size_t stride)
{
    uint32_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t a = f2u(x[i * stride]) & 0x7fffffffu;
        m = a < F32_INF && a > m ? a : m;
    }
    return u2f(m);
}

/* One block of n values at stride `stride` (MX_BLOCK or fewer): its exponent, then its values. */
static void mx_block(float *dst, const float *src, size_t n, size_t stride, fp8_format f,
                     fp8_counts *c)
{
    int e = num_mx_exponent(mx_amax(src, n, stride), f);
    float scale = pow2f(-e), unscale = pow2f(e);
    if (f == FP8_E5M2)
        for (size_t i = 0; i < n; i++)
            dst[i * stride] = fp8_scaled(src[i * stride], scale, unscale, FP8_E5M2, 1, c);
    else
        for (size_t i = 0; i < n; i++)
            dst[i * stride] = fp8_scaled(src[i * stride], scale, unscale, FP8_E4M3, 1, c);
}

/* Blocks along a row; the counts are flushed per row (at most 2^31 values each). */
static void mx_along_rows(float *dst, const float *src, int rows, int cols, fp8_format f,
                          num_stats *st)
{
    size_t ld = (size_t)cols;
    for (size_t r = 0; r < (size_t)rows; r++) {
        fp8_counts c = {0, 0xffffffffu, 0, 0, 0};
        for (size_t c0 = 0; c0 < ld; c0 += MX_BLOCK)
            mx_block(dst + r * ld + c0, src + r * ld + c0, ld - c0 < MX_BLOCK ? ld - c0 : MX_BLOCK,
                     1, f, &c);
        if (st) fp8_counts_flush(st, &c, ld);
    }
}

/* Blocks down each column, MX_BLOCK rows at a time; a band of rows is walked column by
 * column (strided, but the band's rows stay in cache), the counts flushed per band. */
static void mx_along_cols(float *dst, const float *src, int rows, int cols, fp8_format f,
                          num_stats *st)
{
    size_t ld = (size_t)cols;
    for (size_t r0 = 0; r0 < (size_t)rows; r0 += MX_BLOCK) {
        size_t kr = (size_t)rows - r0 < MX_BLOCK ? (size_t)rows - r0 : MX_BLOCK;
        for (size_t c0 = 0; c0 < ld; c0 += FP8_CHUNK / MX_BLOCK) {
            size_t kc = ld - c0 < FP8_CHUNK / MX_BLOCK ? ld - c0 : FP8_CHUNK / MX_BLOCK;
            fp8_counts c = {0, 0xffffffffu, 0, 0, 0};
            for (size_t j = c0; j < c0 + kc; j++)
                mx_block(dst + r0 * ld + j, src + r0 * ld + j, kr, ld, f, &c);
            if (st) fp8_counts_flush(st, &c, kr * kc);
        }
    }
}

void num_mx_quantize(float *dst, const float *src, int rows, int cols, int along,
                     fp8_format f, num_stats *st)
{
    if (rows <= 0 || cols <= 0) return;
    if (along == 0) mx_along_cols(dst, src, rows, cols, f, st);
    else mx_along_rows(dst, src, rows, cols, f, st);
}
