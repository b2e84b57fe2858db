/* test_numerics.c — fp16 / bf16 conversions checked bit for bit: exhaustive round trips,
 * hand-built ties and edges, random inputs against a reference written from the definition. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "numerics.h"

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- reference, from the definition (never calls numerics.c) ----
 * A format is its table of non-negative values by bit pattern, 0 .. inf_bits. The entry at
 * inf_bits holds the value the next pattern would have with an unbounded exponent (2^16 for
 * fp16, 2^128 for bf16): IEEE overflow is RNE against that value, so ties there go to Inf. */
typedef struct {
    int mant_bits;      /* 10 or 7 */
    int bias;           /* 15 or 127 */
    uint16_t inf_bits;  /* 0x7c00 or 0x7f80 */
    uint16_t quiet_bit; /* 0x0200 or 0x0040 */
    double *val;        /* inf_bits + 1 entries */
} ref_fmt;

static double ref_value(const ref_fmt *f, uint32_t p)
{
    int e = (int)(p >> f->mant_bits);
    double m = (double)(p & ((1u << f->mant_bits) - 1u));
    int lsb_exp = 1 - f->bias - f->mant_bits; /* weight of the last bit in subnormals */
    if (e == 0) return ldexp(m, lsb_exp);
    return ldexp(ldexp(1.0, f->mant_bits) + m, e - 1 + lsb_exp);
}

static ref_fmt ref_make(int mant_bits, int bias, uint16_t inf_bits, uint16_t quiet_bit)
{
    ref_fmt f = {mant_bits, bias, inf_bits, quiet_bit, NULL};
    f.val = malloc(((size_t)inf_bits + 1) * sizeof *f.val);
    cr_assert_not_null(f.val);
    for (uint32_t p = 0; p <= inf_bits; p++) f.val[p] = ref_value(&f, p);
    return f;
}

static ref_fmt ref_f16(void) { return ref_make(10, 15, 0x7c00, 0x0200); }
static ref_fmt ref_bf16(void) { return ref_make(7, 127, 0x7f80, 0x0040); }

/* Nearest pattern to a finite ax >= 0; ties to the even pattern. The midpoint of two
 * neighbours has at most 12 significant bits, so it and the comparisons are exact. */
static uint16_t ref_nearest(const ref_fmt *f, double ax)
{
    if (ax >= f->val[f->inf_bits]) return f->inf_bits;
    uint32_t lo = 0, hi = f->inf_bits; /* val[lo] <= ax < val[hi] */
    while (hi - lo > 1) {
        uint32_t mid = (lo + hi) / 2;
        if (f->val[mid] <= ax) lo = mid; else hi = mid;
    }
    double half = (f->val[lo] + f->val[hi]) / 2;
    if (ax < half) return (uint16_t)lo;
    if (ax > half) return (uint16_t)hi;
    return (uint16_t)((lo & 1u) ? hi : lo);
}

/* Non-NaN x only. */
static uint16_t ref_encode(const ref_fmt *f, float x)
{
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    if (isinf(x)) return (uint16_t)(sign | f->inf_bits);
    return (uint16_t)(sign | ref_nearest(f, fabs((double)x)));
}

/* Non-NaN pattern only. */
static float ref_decode(const ref_fmt *f, uint16_t h)
{
    uint16_t a = h & 0x7fff;
    float v = a == f->inf_bits ? INFINITY : (float)f->val[a];
    return (h & 0x8000) ? -v : v;
}

static int half_is_nan(const ref_fmt *f, uint16_t h)
{
    return (h & f->inf_bits) == f->inf_bits && (h & (f->inf_bits ^ 0x7fff)) != 0;
}

/* Checks one conversion result against the reference; NaN must stay a quiet NaN, same sign. */
static void check_encode(const ref_fmt *f, float x, uint16_t got, const char *what)
{
    if (isnan(x)) {
        cr_assert(half_is_nan(f, got) && (got & f->quiet_bit), "%s: NaN %08x -> %04x", what,
                  bits(x), got);
        cr_assert_eq(got & 0x8000, (bits(x) >> 16) & 0x8000, "%s: NaN sign %08x -> %04x", what,
                     bits(x), got);
        return;
    }
    uint16_t want = ref_encode(f, x);
    cr_assert_eq(got, want, "%s: %a (%08x) -> %04x, want %04x", what, x, bits(x), got, want);
}

static void check_round(const ref_fmt *f, float x, float got, const char *what)
{
    if (isnan(x)) {
        cr_assert(isnan(got) && !!signbit(got) == !!signbit(x), "%s: NaN %08x -> %08x", what,
                  bits(x), bits(got));
        return;
    }
    float want = ref_decode(f, ref_encode(f, x));
    cr_assert_eq(bits(got), bits(want), "%s: %a (%08x) -> %a, want %a", what, x, bits(x), got,
                 want);
}

/* ---- exhaustive round trips over every 16-bit pattern ---- */

typedef float (*dec_fn)(uint16_t);
typedef uint16_t (*enc_fn)(float);
typedef void (*dec_arr_fn)(float *, const uint16_t *, size_t);
typedef void (*enc_arr_fn)(uint16_t *, const float *, size_t);

static void check_roundtrip_one(const ref_fmt *f, uint16_t h, float v, uint16_t back,
                                const char *what)
{
    if (half_is_nan(f, h)) {
        cr_assert(isnan(v) && !!signbit(v) == !!(h & 0x8000), "%s: %04x -> %08x", what, h,
                  bits(v));
        cr_assert(half_is_nan(f, back) && (back & 0x8000) == (h & 0x8000), "%s: %04x -> %04x",
                  what, h, back);
        return;
    }
    float want = ref_decode(f, h);
    cr_assert_eq(bits(v), bits(want), "%s: %04x -> %a, want %a", what, h, v, want);
    cr_assert_eq(back, h, "%s: %04x -> %a -> %04x", what, h, v, back);
}

static void roundtrip_all(const ref_fmt *f, dec_fn dec, enc_fn enc, dec_arr_fn deca,
                          enc_arr_fn enca, const char *what)
{
    enum { N = 65536 };
    uint16_t *h = malloc(N * sizeof *h), *back = malloc(N * sizeof *back);
    float *v = malloc(N * sizeof *v);
    cr_assert(h && back && v);
    for (uint32_t i = 0; i < N; i++) h[i] = (uint16_t)i;
    for (int portable = 0; portable <= 1; portable++) {
        num_set_portable(portable);
        for (uint32_t i = 0; i < N; i++)
            check_roundtrip_one(f, h[i], dec(h[i]), enc(dec(h[i])), what);
        deca(v, h, N);
        enca(back, v, N);
        for (uint32_t i = 0; i < N; i++) {
            check_roundtrip_one(f, h[i], v[i], back[i], what);
            /* The array path promises the scalar bits, NaN payloads included. */
            cr_assert_eq(bits(v[i]), bits(dec(h[i])), "%s array decode %04x portable=%d", what,
                         h[i], portable);
            cr_assert_eq(back[i], enc(v[i]), "%s array encode %08x portable=%d", what,
                         bits(v[i]), portable);
        }
    }
    num_set_portable(0);
    free(h);
    free(back);
    free(v);
}

Test(numerics, f16_every_pattern_roundtrips)
{
    ref_fmt f = ref_f16();
    roundtrip_all(&f, num_f16_to_f32, num_f32_to_f16, num_f16_to_f32_array,
                  num_f32_to_f16_array, "fp16");
    free(f.val);
}

Test(numerics, bf16_every_pattern_roundtrips)
{
    ref_fmt f = ref_bf16();
    roundtrip_all(&f, num_bf16_to_f32, num_f32_to_bf16, num_bf16_to_f32_array,
                  num_f32_to_bf16_array, "bf16");
    free(f.val);
}

Test(numerics, reference_tables_are_sane)
{
    /* Guards the reference itself with values known by hand. */
    ref_fmt h = ref_f16(), b = ref_bf16();
    cr_assert_eq(h.val[0x3c00], 1.0);
    cr_assert_eq(h.val[0x7bff], 65504.0);
    cr_assert_eq(h.val[0x0001], 0x1p-24);
    cr_assert_eq(h.val[0x0400], 0x1p-14);
    cr_assert_eq(h.val[0x7c00], 65536.0);
    cr_assert_eq(b.val[0x3f80], 1.0);
    cr_assert_eq(b.val[0x0001], 0x1p-133);
    cr_assert_eq(b.val[0x0080], 0x1p-126);
    cr_assert_eq(b.val[0x7f7f], (double)from_bits(0x7f7f0000u));
    cr_assert_eq(b.val[0x7f80], 0x1p128);
    free(h.val);
    free(b.val);
}

/* ---- every entry point on one input: scalar, array and round-through, both paths ---- */

static void expect_f16(float x, uint16_t want)
{
    for (int portable = 0; portable <= 1; portable++) {
        num_set_portable(portable);
        float in[9], r[9];
        uint16_t out[9];
        for (int i = 0; i < 9; i++) in[i] = x; /* 8 go through SIMD, 1 through the tail */
        num_f32_to_f16_array(out, in, 9);
        num_round(r, in, 9, DT_F16, NULL);
        cr_assert_eq(num_f32_to_f16(x), want, "fp16 %a -> %04x, want %04x", x,
                     num_f32_to_f16(x), want);
        for (int i = 0; i < 9; i++) {
            cr_assert_eq(out[i], want, "fp16 array[%d] %a -> %04x, want %04x p=%d", i, x,
                         out[i], want, portable);
            cr_assert_eq(bits(r[i]), bits(num_f16_to_f32(want)), "fp16 round[%d] %a p=%d", i,
                         x, portable);
        }
        cr_assert_eq(bits(num_round1(x, DT_F16)), bits(num_f16_to_f32(want)));
    }
    num_set_portable(0);
}

static void expect_bf16(float x, uint16_t want)
{
    for (int portable = 0; portable <= 1; portable++) {
        num_set_portable(portable);
        float in[9], r[9];
        uint16_t out[9];
        for (int i = 0; i < 9; i++) in[i] = x;
        num_f32_to_bf16_array(out, in, 9);
        num_round(r, in, 9, DT_BF16, NULL);
        cr_assert_eq(num_f32_to_bf16(x), want, "bf16 %a (%08x) -> %04x, want %04x", x, bits(x),
                     num_f32_to_bf16(x), want);
        for (int i = 0; i < 9; i++) {
            cr_assert_eq(out[i], want, "bf16 array[%d] %08x -> %04x, want %04x p=%d", i,
                         bits(x), out[i], want, portable);
            cr_assert_eq(bits(r[i]), (uint32_t)want << 16, "bf16 round[%d] %08x p=%d", i,
                         bits(x), portable);
        }
        cr_assert_eq(bits(num_round1(x, DT_BF16)), (uint32_t)want << 16);
    }
    num_set_portable(0);
}

/* x and -x */
static void expect_f16_pm(float x, uint16_t want)
{
    expect_f16(x, want);
    expect_f16(-x, (uint16_t)(want | 0x8000));
}

static void expect_bf16_pm(uint32_t xbits, uint16_t want)
{
    expect_bf16(from_bits(xbits), want);
    expect_bf16(from_bits(xbits | 0x80000000u), (uint16_t)(want | 0x8000));
}

/* A tie t between patterns lo and lo+1: t goes to the even one, its fp32 neighbours go to
 * the nearer one. */
static void f16_tie(float t, uint16_t lo)
{
    uint16_t even = (lo & 1) ? (uint16_t)(lo + 1) : lo;
    expect_f16_pm(t, even);
    expect_f16_pm(nextafterf(t, 0.0f), lo);
    expect_f16_pm(nextafterf(t, INFINITY), (uint16_t)(lo + 1));
}

static void bf16_tie(uint32_t tbits, uint16_t lo)
{
    uint16_t even = (lo & 1) ? (uint16_t)(lo + 1) : lo;
    expect_bf16_pm(tbits, even);
    expect_bf16_pm(tbits - 1, lo);
    expect_bf16_pm(tbits + 1, (uint16_t)(lo + 1));
}

Test(numerics, f16_rne_ties_normal)
{
    f16_tie(1.0f + 0x1p-11f, 0x3c00);       /* 1 | 1+2^-10: down to even 0x3c00 */
    f16_tie(1.0f + 3 * 0x1p-11f, 0x3c01);   /* 0x3c01 | 0x3c02: up to even 0x3c02 */
    f16_tie(2048.0f + 1.0f, 0x6800);        /* ulp 2 at 2048 */
    f16_tie(2048.0f + 3.0f, 0x6801);
    f16_tie(0x1p-14f + 0x1p-25f, 0x0400);   /* just above the smallest normal */
    f16_tie(0x1p-14f + 3 * 0x1p-25f, 0x0401);
    f16_tie(65488.0f, 0x7bfe);              /* 65472 | 65504: down to even 0x7bfe */
    f16_tie(2.0f - 0x1p-11f, 0x3fff);       /* 0x3fff | 0x4000 across a binade: to 0x4000 */
}

Test(numerics, f16_rne_ties_subnormal)
{
    f16_tie(1.5f * 0x1p-24f, 0x0001);       /* 1 | 2 units: up to 2 */
    f16_tie(2.5f * 0x1p-24f, 0x0002);       /* 2 | 3 units: down to 2 */
    f16_tie(511.5f * 0x1p-24f, 0x01ff);
    f16_tie(1022.5f * 0x1p-24f, 0x03fe);
    f16_tie(1023.5f * 0x1p-24f, 0x03ff);    /* largest subnormal | min normal: to 0x0400 */
}

Test(numerics, bf16_rne_ties_normal)
{
    bf16_tie(0x3f808000u, 0x3f80);          /* 1 + 2^-8: down to 0x3f80 */
    bf16_tie(0x3f818000u, 0x3f81);          /* up to 0x3f82 */
    bf16_tie(0x00808000u, 0x0080);          /* min normal */
    bf16_tie(0x3fff8000u, 0x3fff);          /* carries into the exponent: 0x4000 */
    bf16_tie(0x7f7e8000u, 0x7f7e);          /* top of the range, stays finite */
}

Test(numerics, bf16_rne_ties_subnormal)
{
    bf16_tie(0x00018000u, 0x0001);          /* 1.5 * 2^-133: up to 2 */
    bf16_tie(0x00028000u, 0x0002);          /* 2.5 * 2^-133: down to 2 */
    bf16_tie(0x007e8000u, 0x007e);
    bf16_tie(0x007f8000u, 0x007f);          /* largest subnormal | min normal: to 0x0080 */
    expect_bf16_pm(0x00008000u, 0x0000);    /* 2^-134 ties to zero */
    expect_bf16_pm(0x00008001u, 0x0001);
    expect_bf16_pm(0x00007fffu, 0x0000);
}

Test(numerics, f16_overflow_threshold)
{
    float below = nextafterf(65520.0f, 0.0f);
    cr_assert_eq(bits(below), 0x477fefffu, "65519.996 is %08x", bits(below));
    expect_f16_pm(65504.0f, 0x7bff);
    expect_f16_pm(below, 0x7bff);
    expect_f16_pm(65520.0f, 0x7c00);
    expect_f16_pm(65536.0f, 0x7c00);
    expect_f16_pm(1e6f, 0x7c00);
    expect_f16_pm(FLT_MAX, 0x7c00);
    expect_f16_pm(INFINITY, 0x7c00);
    cr_assert(isinf(num_round1(65520.0f, DT_F16)) && num_round1(65520.0f, DT_F16) > 0);
    cr_assert_eq(num_round1(-below, DT_F16), -65504.0f);
}

Test(numerics, bf16_overflow_by_bit_rule)
{
    expect_bf16_pm(0x7f7f0000u, 0x7f7f);    /* max finite bf16 */
    expect_bf16_pm(0x7f7f7fffu, 0x7f7f);    /* below the tie */
    expect_bf16_pm(0x7f7f8000u, 0x7f80);    /* tie: 0x7f7f is odd, the carry gives Inf */
    expect_bf16_pm(0x7f7fffffu, 0x7f80);    /* FLT_MAX */
    expect_bf16_pm(0x7f800000u, 0x7f80);    /* Inf */
    expect_bf16_pm(0x7f7e8000u, 0x7f7e);    /* tie to even below, stays finite */
    cr_assert_eq(bits(FLT_MAX), 0x7f7fffffu);
    cr_assert(isinf(num_round1(FLT_MAX, DT_BF16)));
    cr_assert(isinf(num_round1(-FLT_MAX, DT_BF16)) && num_round1(-FLT_MAX, DT_BF16) < 0);
}

Test(numerics, f16_smallest_subnormals_and_boundary)
{
    expect_f16_pm(0x1p-24f, 0x0001);
    expect_f16_pm(0x1p-25f, 0x0000);        /* tie between 0 and 2^-24: even is zero */
    expect_f16_pm(nextafterf(0x1p-25f, 1.0f), 0x0001);
    expect_f16_pm(nextafterf(0x1p-25f, 0.0f), 0x0000);
    expect_f16_pm(0x1p-26f, 0x0000);
    expect_f16_pm(FLT_MIN, 0x0000);
    expect_f16_pm(from_bits(1), 0x0000);    /* fp32 denormal */
    expect_f16_pm(0x1p-14f, 0x0400);        /* min normal */
    expect_f16_pm(1023.0f * 0x1p-24f, 0x03ff);
    expect_f16_pm(nextafterf(0x1p-14f, 0.0f), 0x0400);  /* within half a unit of 2^-14 */
    expect_f16_pm(0x1p-15f, 0x0200);
    cr_assert_eq(num_f16_to_f32(0x0001), 0x1p-24f);
    cr_assert_eq(num_f16_to_f32(0x03ff), 1023.0f * 0x1p-24f);
    cr_assert_eq(num_f16_to_f32(0x0400), 0x1p-14f);
}

Test(numerics, bf16_subnormals_not_flushed)
{
    float tiny = ldexpf(1.0f, -133);
    cr_assert_eq(bits(tiny), 0x00010000u);
    expect_bf16_pm(0x00010000u, 0x0001);
    expect_bf16_pm(0x00050000u, 0x0005);
    expect_bf16_pm(0x007f0000u, 0x007f);
    cr_assert_eq(num_bf16_to_f32(0x0001), tiny);
    cr_assert_eq(num_bf16_to_f32(0x8001), -tiny);
    cr_assert_eq(num_round1(tiny, DT_BF16), tiny);
    cr_assert_eq(num_round1(3 * tiny, DT_BF16), 3 * tiny);
    float out[16];
    uint16_t in[16];
    for (int i = 0; i < 16; i++) in[i] = (uint16_t)(i + 1);
    num_bf16_to_f32_array(out, in, 16);
    for (int i = 0; i < 16; i++) cr_assert_eq(out[i], (float)(i + 1) * tiny);
}

Test(numerics, specials_nan_inf_signed_zero)
{
    static const uint32_t nans[] = {0x7fc00000u, 0x7f800001u, 0x7fbfffffu, 0x7fffffffu,
                                    0xffc00000u, 0xff800001u, 0xffffffffu, 0x7f802000u,
                                    0x7fa00000u, 0x7f810000u};
    ref_fmt h = ref_f16(), b = ref_bf16();
    for (size_t k = 0; k < sizeof nans / sizeof nans[0]; k++) {
        float x = from_bits(nans[k]);
        for (int portable = 0; portable <= 1; portable++) {
            num_set_portable(portable);
            float in[9], r16[9], rb[9];
            uint16_t o16[9], ob[9];
            for (int i = 0; i < 9; i++) in[i] = x;
            num_f32_to_f16_array(o16, in, 9);
            num_f32_to_bf16_array(ob, in, 9);
            num_round(r16, in, 9, DT_F16, NULL);
            num_round(rb, in, 9, DT_BF16, NULL);
            for (int i = 0; i < 9; i++) {
                check_encode(&h, x, o16[i], "fp16 NaN array");
                check_encode(&b, x, ob[i], "bf16 NaN array");
                check_round(&h, x, r16[i], "fp16 NaN round");
                check_round(&b, x, rb[i], "bf16 NaN round");
                cr_assert_eq(o16[i], num_f32_to_f16(x), "fp16 NaN %08x: array vs scalar",
                             nans[k]);
                cr_assert_eq(ob[i], num_f32_to_bf16(x), "bf16 NaN %08x: array vs scalar",
                             nans[k]);
            }
            check_encode(&h, x, num_f32_to_f16(x), "fp16 NaN scalar");
            check_encode(&b, x, num_f32_to_bf16(x), "bf16 NaN scalar");
        }
    }
    num_set_portable(0);
    /* Specific payload behaviour: top payload bits kept, quiet bit forced. */
    cr_assert_eq(num_f32_to_f16(from_bits(0x7f800001u)), 0x7e00);
    cr_assert_eq(num_f32_to_f16(from_bits(0xff802000u)), 0xfe01);
    cr_assert_eq(num_f32_to_f16(from_bits(0x7fbfe000u)), 0x7fff);
    cr_assert_eq(num_f32_to_bf16(from_bits(0x7f800001u)), 0x7fc0);
    cr_assert_eq(num_f32_to_bf16(from_bits(0xff810000u)), 0xffc1);
    expect_f16_pm(INFINITY, 0x7c00);
    expect_bf16_pm(0x7f800000u, 0x7f80);
    expect_f16(0.0f, 0x0000);
    expect_f16(-0.0f, 0x8000);
    expect_bf16(0.0f, 0x0000);
    expect_bf16(-0.0f, 0x8000);
    cr_assert_eq(bits(num_f16_to_f32(0x8000)), 0x80000000u);
    cr_assert_eq(bits(num_bf16_to_f32(0x8000)), 0x80000000u);
    cr_assert_eq(bits(num_f16_to_f32(0xfc00)), 0xff800000u);
    cr_assert_eq(bits(num_bf16_to_f32(0xff80)), 0xff800000u);
    cr_assert(isnan(num_f16_to_f32(0x7c01)) && isnan(num_f16_to_f32(0xfe00)));
    cr_assert(signbit(num_f16_to_f32(0xfe00)));
    cr_assert_eq(bits(num_f16_to_f32(0x7c01)), 0x7fc02000u); /* signalling NaN comes back quiet */
    cr_assert_eq(bits(num_f16_to_f32(0xfd55)), 0xffeaa000u);
    cr_assert_eq(bits(num_round1(-0.0f, DT_F16)), 0x80000000u);
    cr_assert_eq(bits(num_round1(-0.0f, DT_BF16)), 0x80000000u);
    cr_assert_eq(bits(num_round1(-1e-30f, DT_F16)), 0x80000000u); /* underflow keeps sign */
    free(h.val);
    free(b.val);
}

/* ---- random inputs against the reference ---- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t pick(uint64_t *s, const uint32_t *opts, int n)
{
    return opts[rng_next(s) % (uint64_t)n];
}

/* Random sign, exponent in [elo, ehi] (fp32 biased), random mantissa. */
static float rnd_exp_range(uint64_t *s, uint32_t elo, uint32_t ehi)
{
    uint64_t r = rng_next(s);
    uint32_t e = elo + (uint32_t)((r >> 32) % (ehi - elo + 1));
    return from_bits(((uint32_t)r & 0x807fffffu) | (e << 23));
}

/* Kinds: 0 random bits, 1 fp16 range, 2 fp16 normal ties, 3 fp16 subnormal ties,
 * 4 bf16 ties over the whole range (fp32 denormals included), 5 bf16 subnormal range. */
static float rnd_input(uint64_t *s, int kind)
{
    static const uint32_t tie13[] = {0x1000, 0x0fff, 0x1001, 0x0000, 0x1fff};
    static const uint32_t tie16[] = {0x8000, 0x7fff, 0x8001, 0x0000, 0xffff};
    switch (kind) {
    case 0: return from_bits((uint32_t)rng_next(s));
    case 1: return rnd_exp_range(s, 127 - 26, 127 + 17);
    case 2: return from_bits((bits(rnd_exp_range(s, 127 - 15, 127 + 16)) & ~0x1fffu) |
                             pick(s, tie13, 5));
    case 3: {
        uint64_t r = rng_next(s);
        float t = ((float)(r % 1025u) + 0.5f) * 0x1p-24f; /* exact: 12 bits */
        float x = (r >> 32) % 3 == 0 ? t : nextafterf(t, (r >> 40) & 1 ? INFINITY : 0.0f);
        return (r >> 48) & 1 ? -x : x;
    }
    case 4: return from_bits(((uint32_t)rng_next(s) & ~0xffffu) | pick(s, tie16, 5));
    default: return rnd_exp_range(s, 0, 12);
    }
}

enum { RND_N = 1 << 20, RND_KINDS = 6, RND_CHUNK = 4093 /* odd: SIMD bodies and tails */ };

/* The stats num_round must report for x, from the reference rounding. */
static num_stats ref_stats(const ref_fmt *f, const float *x, size_t n)
{
    num_stats e;
    memset(&e, 0, sizeof e);
    e.count = n;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            e.nonfinite++;
            continue;
        }
        float ax = fabsf(x[i]), r = ref_decode(f, ref_encode(f, x[i]));
        e.overflow += isinf(r) != 0; /* glibc isinf gives -1 for -Inf */
        e.underflow += ax != 0 && r == 0;
        if (ax > e.amax) e.amax = ax;
        if (ax != 0 && (e.amin_nz == 0 || ax < e.amin_nz)) e.amin_nz = ax;
    }
    return e;
}

static void check_stats_eq(const num_stats *got, const num_stats *want, const char *what)
{
    cr_assert_eq(got->count, want->count, "%s count", what);
    cr_assert_eq(got->overflow, want->overflow, "%s overflow %llu want %llu", what,
                 (unsigned long long)got->overflow, (unsigned long long)want->overflow);
    cr_assert_eq(got->underflow, want->underflow, "%s underflow %llu want %llu", what,
                 (unsigned long long)got->underflow, (unsigned long long)want->underflow);
    cr_assert_eq(got->nonfinite, want->nonfinite, "%s nonfinite", what);
    cr_assert_eq(bits(got->amax), bits(want->amax), "%s amax %a want %a", what, got->amax,
                 want->amax);
    cr_assert_eq(bits(got->amin_nz), bits(want->amin_nz), "%s amin_nz %a want %a", what,
                 got->amin_nz, want->amin_nz);
}

/* num_round with stats on the whole array (odd length) against ref_stats and ref values. */
static void random_stats_check(const ref_fmt *f, dtype_t dt, const float *x, float *r,
                               int portable)
{
    size_t n = RND_N - 3;
    num_stats want = ref_stats(f, x, n), got;
    num_stats_reset(&got);
    num_round(r, x, n, dt, &got);
    check_stats_eq(&got, &want, portable ? "portable stats" : "simd stats");
    for (size_t i = 0; i < n; i++) check_round(f, x[i], r[i], "round with stats");
}

static void random_check(const ref_fmt *f, dtype_t dt)
{
    enc_arr_fn enca = dt == DT_F16 ? num_f32_to_f16_array : num_f32_to_bf16_array;
    enc_fn enc = dt == DT_F16 ? num_f32_to_f16 : num_f32_to_bf16;
    float *x = malloc(RND_N * sizeof *x), *r = malloc(RND_N * sizeof *r);
    uint16_t *h = malloc(RND_N * sizeof *h);
    cr_assert(x && r && h);
    uint64_t seed = 0x5eed0000u + (uint64_t)dt;
    for (int kind = 0; kind < RND_KINDS; kind++) {
        for (size_t i = 0; i < RND_N; i++) x[i] = rnd_input(&seed, kind);
        for (int portable = 0; portable <= 1; portable++) {
            num_set_portable(portable);
            for (size_t i = 0; i < RND_N; i += RND_CHUNK) {
                size_t k = RND_N - i < RND_CHUNK ? RND_N - i : RND_CHUNK;
                enca(h + i, x + i, k);
                num_round(r + i, x + i, k, dt, NULL);
            }
            const char *what = portable ? "portable" : "simd";
            for (size_t i = 0; i < RND_N; i++) {
                check_encode(f, x[i], h[i], what);
                check_round(f, x[i], r[i], what);
                cr_assert_eq(h[i], enc(x[i]), "%s kind %d: array %04x vs scalar for %08x",
                             what, kind, h[i], bits(x[i]));
            }
            random_stats_check(f, dt, x, r, portable);
        }
    }
    num_set_portable(0);
    free(x);
    free(r);
    free(h);
}

Test(numerics, f16_random_matches_reference)
{
    ref_fmt f = ref_f16();
    random_check(&f, DT_F16);
    free(f.val);
}

Test(numerics, bf16_random_matches_reference)
{
    ref_fmt f = ref_bf16();
    random_check(&f, DT_BF16);
    free(f.val);
}

/* ---- num_round with stats ---- */

enum { ST_N = 2053 }; /* two full 1024 chunks and a 5-element tail, not a multiple of 8 */

/* Known mix: 7 overflows at 70000, 5 underflows (1e-9 for fp16, fp32 denormal 2^-149
 * for bf16), 3 Inf and 2 NaN, one -0, the rest multiples of 0.5 in [-2.5, 3.5]. */
static void stats_input(float *x, dtype_t dt)
{
    for (int i = 0; i < ST_N; i++) x[i] = 0.5f + (float)(i % 7) * 0.5f * (i % 2 ? -1 : 1);
    static const int ovf_at[] = {0, 8, 1023, 1024, 1500, 2047, 2052};
    static const int unf_at[] = {1, 9, 1025, 2048, 2051};
    static const int inf_at[] = {2, 1026, 2049};
    static const int nan_at[] = {3, 2050};
    for (int i = 0; i < 7; i++) x[ovf_at[i]] = (i & 1) ? -70000.0f : 70000.0f;
    for (int i = 0; i < 5; i++) {
        float u = dt == DT_F16 ? 1e-9f : from_bits(1);
        x[unf_at[i]] = (i & 1) ? -u : u;
    }
    for (int i = 0; i < 3; i++) x[inf_at[i]] = (i & 1) ? -INFINITY : INFINITY;
    for (int i = 0; i < 2; i++) x[nan_at[i]] = from_bits(0x7fc00000u | (uint32_t)i);
    x[100] = -0.0f;
    x[200] = 123456.0f * (dt == DT_BF16 ? 1e30f : 1.0f); /* largest finite input */
}

static void expect_stats(const num_stats *st, dtype_t dt, uint64_t times)
{
    float amax = dt == DT_BF16 ? 123456.0f * 1e30f : 123456.0f;
    float amin = dt == DT_F16 ? 1e-9f : dt == DT_BF16 ? from_bits(1) : from_bits(1);
    cr_assert_eq(st->count, times * ST_N);
    cr_assert_eq(st->overflow, times * (dt == DT_F16 ? 8 : 0)); /* 7 at 70000 + 123456 */
    cr_assert_eq(st->underflow, times * (dt == DT_F32 ? 0 : 5));
    cr_assert_eq(st->nonfinite, times * 5);
    cr_assert_eq(bits(st->amax), bits(amax), "amax %a want %a", st->amax, amax);
    cr_assert_eq(bits(st->amin_nz), bits(amin), "amin_nz %a want %a", st->amin_nz, amin);
}

static void stats_case(dtype_t dt, int portable)
{
    num_set_portable(portable);
    float x[ST_N], out[ST_N], plain[ST_N], inplace[ST_N];
    stats_input(x, dt);
    memcpy(inplace, x, sizeof x);
    num_stats st, st2;
    num_stats_reset(&st);
    num_stats_reset(&st2);
    num_round(out, x, ST_N, dt, &st);
    num_round(plain, x, ST_N, dt, NULL);
    num_round(inplace, inplace, ST_N, dt, &st2);
    expect_stats(&st, dt, 1);
    expect_stats(&st2, dt, 1);
    for (int i = 0; i < ST_N; i++) {
        uint32_t want = bits(num_round1(x[i], dt));
        if (isnan(x[i])) {
            cr_assert(isnan(out[i]) && isnan(plain[i]) && isnan(inplace[i]));
            continue;
        }
        cr_assert_eq(bits(out[i]), want, "out[%d] p=%d", i, portable);
        cr_assert_eq(bits(plain[i]), want, "plain[%d] p=%d", i, portable);
        cr_assert_eq(bits(inplace[i]), want, "inplace[%d] p=%d", i, portable);
    }
    num_round(out, x, ST_N, dt, &st); /* counts accumulate */
    expect_stats(&st, dt, 2);
    num_round(out, x, 0, dt, &st);    /* an empty call adds nothing */
    expect_stats(&st, dt, 2);
    num_set_portable(0);
}

Test(numerics, round_stats_fp16)
{
    stats_case(DT_F16, 0);
    stats_case(DT_F16, 1);
}

Test(numerics, round_stats_bf16)
{
    stats_case(DT_BF16, 0);
    stats_case(DT_BF16, 1);
}

Test(numerics, round_stats_fp32_copies)
{
    stats_case(DT_F32, 0);
    float x[13], y[13];
    for (int i = 0; i < 13; i++) x[i] = from_bits(0x3f800001u + (uint32_t)i * 77u);
    num_round(y, x, 13, DT_F32, NULL);
    cr_assert_eq(memcmp(x, y, sizeof x), 0);
    for (int portable = 0; portable <= 1; portable++) { /* an invalid dtype copies too */
        num_set_portable(portable);
        memset(y, 0, sizeof y);
        num_round(y, x, 13, DT_COUNT, NULL);
        cr_assert_eq(memcmp(x, y, sizeof x), 0);
        cr_assert_eq(bits(num_round1(x[3], DT_COUNT)), bits(x[3]));
    }
    num_set_portable(0);
}

Test(numerics, round_stats_odd_lengths)
{
    /* Every length around the 8-lane and 1024-chunk edges: count and overflow exact. */
    static const size_t lens[] = {3, 7, 8, 9, 15, 17, 1023, 1024, 1025, 2047, 2048, 2049, 3077};
    float *x = malloc(3077 * sizeof *x), *y = malloc(3077 * sizeof *y);
    cr_assert(x && y);
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        size_t n = lens[k];
        for (size_t i = 0; i < n; i++) x[i] = 1.0f;
        x[n - 1] = 1e5f;  /* the last element, always in a tail */
        x[n / 2] = 3e-8f; /* 0.5 * 2^-24 is 2.98e-8: rounds to 2^-24, not zero */
        x[0] = 2e-8f;     /* rounds to zero */
        for (int portable = 0; portable <= 1; portable++) {
            num_set_portable(portable);
            num_stats st;
            num_stats_reset(&st);
            num_round(y, x, n, DT_F16, &st);
            cr_assert_eq(st.count, n);
            cr_assert_eq(st.overflow, 1, "n=%zu", n);
            cr_assert_eq(st.underflow, 1, "n=%zu", n);
            cr_assert_eq(st.nonfinite, 0, "n=%zu", n);
            cr_assert_eq(st.amax, 1e5f);
            cr_assert_eq(st.amin_nz, 2e-8f);
            cr_assert_eq(y[n - 1], INFINITY);
            cr_assert_eq(y[n / 2], 0x1p-24f);
            cr_assert_eq(bits(y[0]), 0u);
        }
    }
    num_set_portable(0);
    free(x);
    free(y);
}

Test(numerics, round_stats_past_2_pow_24)
{
    /* The SIMD path keeps 32-bit lane counters per 2^24-element block: cross a block. */
    size_t n = ((size_t)1 << 24) + 21;
    float *x = calloc(n, sizeof *x);
    cr_assert_not_null(x);
    static const size_t at[] = {0, ((size_t)1 << 24) - 1, (size_t)1 << 24,
                                ((size_t)1 << 24) + 8, ((size_t)1 << 24) + 20};
    for (size_t k = 0; k < 5; k++) x[at[k]] = k & 1 ? -1e5f : 1e5f;
    x[12345] = 1e-30f;
    x[(size_t)1 << 24 | 3] = NAN;
    num_stats st;
    num_stats_reset(&st);
    num_round(x, x, n, DT_F16, &st);
    cr_assert_eq(st.count, n);
    cr_assert_eq(st.overflow, 5);
    cr_assert_eq(st.underflow, 1);
    cr_assert_eq(st.nonfinite, 1);
    cr_assert_eq(st.amax, 1e5f);
    cr_assert_eq(st.amin_nz, 1e-30f);
    cr_assert_eq(x[((size_t)1 << 24) + 20], INFINITY);
    cr_assert_eq(x[12345], 0.0f);
    free(x);
}

Test(numerics, round_stats_nonfinite_only)
{
    /* Inf / NaN inputs never reach amax or amin_nz, and zeros do not count as underflow. */
    float x[19], y[19];
    for (int i = 0; i < 19; i++)
        x[i] = i % 3 == 0 ? INFINITY : i % 3 == 1 ? -NAN : (i & 1 ? -0.0f : 0.0f);
    static const dtype_t dts[] = {DT_F32, DT_F16, DT_BF16};
    for (int portable = 0; portable <= 1; portable++) {
        num_set_portable(portable);
        for (int d = 0; d < 3; d++) {
            num_stats st;
            num_stats_reset(&st);
            num_round(y, x, 19, dts[d], &st);
            cr_assert_eq(st.count, 19);
            cr_assert_eq(st.nonfinite, 13, "%s p=%d", dtype_name(dts[d]), portable);
            cr_assert_eq(st.overflow, 0);
            cr_assert_eq(st.underflow, 0);
            cr_assert_eq(bits(st.amax), 0u, "%s p=%d amax %a", dtype_name(dts[d]), portable,
                         st.amax);
            cr_assert_eq(bits(st.amin_nz), 0u, "%s p=%d amin_nz %a", dtype_name(dts[d]),
                         portable, st.amin_nz);
            cr_assert_eq(bits(y[2]), 0u);
            cr_assert_eq(bits(y[5]), 0x80000000u);
        }
    }
    num_set_portable(0);
}

Test(numerics, stats_reset_and_merge)
{
    num_stats a, b, empty;
    memset(&a, 0xff, sizeof a);
    num_stats_reset(&a);
    cr_assert_eq(a.count, 0);
    cr_assert_eq(a.amax, 0.0f);
    cr_assert_eq(a.amin_nz, 0.0f);
    num_stats_reset(&empty);
    a = (num_stats){.amax = 3.0f, .amin_nz = 0.25f, .count = 10, .overflow = 1,
                    .underflow = 2, .nonfinite = 3};
    b = (num_stats){.amax = 5.0f, .amin_nz = 0.5f, .count = 4, .overflow = 10,
                    .underflow = 20, .nonfinite = 30};
    num_stats_merge(&a, &b);
    cr_assert_eq(a.amax, 5.0f);
    cr_assert_eq(a.amin_nz, 0.25f);
    cr_assert_eq(a.count, 14);
    cr_assert_eq(a.overflow, 11);
    cr_assert_eq(a.underflow, 22);
    cr_assert_eq(a.nonfinite, 33);
    num_stats_merge(&a, &empty); /* an empty amin_nz (0) does not win */
    cr_assert_eq(a.amin_nz, 0.25f);
    cr_assert_eq(a.amax, 5.0f);
    cr_assert_eq(a.count, 14);
    num_stats_merge(&empty, &b); /* into an empty one: takes b's values */
    cr_assert_eq(empty.amin_nz, 0.5f);
    cr_assert_eq(empty.amax, 5.0f);
    b.amin_nz = 0.125f;
    num_stats_merge(&a, &b);
    cr_assert_eq(a.amin_nz, 0.125f);
}

/* ---- dtype names ---- */

Test(numerics, dtype_names_and_labels)
{
    cr_assert_str_eq(dtype_name(DT_F32), "fp32");
    cr_assert_str_eq(dtype_name(DT_F16), "fp16");
    cr_assert_str_eq(dtype_name(DT_BF16), "bf16");
    cr_assert_str_eq(dtype_name(DT_COUNT), "?");
    cr_assert_str_eq(dtype_name((dtype_t)-1), "?");
    cr_assert_str_eq(dtype_label(DT_F32), "FP32");
    cr_assert_str_eq(dtype_label(DT_F16), "FP16");
    cr_assert_str_eq(dtype_label(DT_BF16), "BF16");
    cr_assert_str_eq(dtype_label(DT_COUNT), "?");
    cr_assert_str_eq(dtype_label((dtype_t)99), "?");
}

Test(numerics, dtype_parse_good_and_bad)
{
    static const struct { const char *s; dtype_t dt; } good[] = {
        {"fp32", DT_F32}, {"float32", DT_F32}, {"FP32", DT_F32}, {"fp16", DT_F16},
        {"float16", DT_F16}, {"Fp16", DT_F16}, {"bf16", DT_BF16}, {"bfloat16", DT_BF16},
        {"BF16", DT_BF16},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        dtype_t dt = DT_COUNT;
        cr_assert_eq(dtype_parse(good[i].s, &dt), 0, "%s", good[i].s);
        cr_assert_eq(dt, good[i].dt, "%s", good[i].s);
    }
    static const char *const bad[] = {"", "fp8", "fp16 ", " fp16", "bf1", "bf166", "float",
                                      "half", "f16", "fp32x", "1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dtype_t dt = DT_BF16;
        cr_assert_eq(dtype_parse(bad[i], &dt), -1, "'%s' accepted", bad[i]);
        cr_assert_eq(dt, DT_BF16, "'%s' changed the output", bad[i]);
    }
    dtype_t dt = DT_F16;
    cr_assert_eq(dtype_parse(NULL, &dt), -1);
    cr_assert_eq(dt, DT_F16);
}

/* Every row of the dtype table, field by field: what config, keys and the screen read. */
Test(numerics, dtype_table_rows)
{
    static const dtype_info want[DT_COUNT] = {
        {"fp32", "float32", "FP32", 32, 23, 8, DT_ROLE_FULL, DT_F16, 0},
        {"fp16", "float16", "FP16", 16, 10, 5, DT_ROLE_HALF, DT_BF16, 1},
        {"bf16", "bfloat16", "BF16", 16, 7, 8, DT_ROLE_BRAIN, DT_F32, 0},
    };
    for (int d = 0; d < DT_COUNT; d++) {
        const dtype_info *i = dtype_info_of((dtype_t)d);
        cr_assert_not_null(i, "row %d", d);
        cr_assert_str_eq(i->name, want[d].name);
        cr_assert_str_eq(i->alias, want[d].alias);
        cr_assert_str_eq(i->label, want[d].label);
        cr_assert_eq(i->bits, want[d].bits, "%s", i->name);
        cr_assert_eq(i->mant_bits, want[d].mant_bits, "%s", i->name);
        cr_assert_eq(i->exp_bits, want[d].exp_bits, "%s", i->name);
        cr_assert_eq(1 + i->mant_bits + i->exp_bits, i->bits, "%s: sign + mantissa + exponent", i->name);
        cr_assert_eq(i->role, want[d].role, "%s", i->name);
        cr_assert_eq(i->next, want[d].next, "%s", i->name);
        cr_assert_eq(i->auto_scaled, want[d].auto_scaled, "%s", i->name);
        cr_assert_eq(dtype_auto_scaled((dtype_t)d), want[d].auto_scaled, "%s", i->name);
        cr_assert(strlen(i->label) <= DT_LABEL_MAX, "%s longer than DT_LABEL_MAX", i->label);
        cr_assert_str_eq(dtype_name((dtype_t)d), i->name);
        cr_assert_str_eq(dtype_label((dtype_t)d), i->label);
    }
    cr_assert_eq(dtype_auto_scaled(DT_COUNT), 0);
    cr_assert_null(dtype_info_of(DT_COUNT));
    cr_assert_null(dtype_info_of((dtype_t)-1));
}

/* The rounding of a 16-bit row keeps exactly its mantissa bits: 1 + 2^-m rounds to itself,
 * 1 + 2^-(m+1) (a tie) to 1; the largest finite value has the row's exponent range. */
Test(numerics, dtype_table_bits_match_the_rounding)
{
    for (int d = 0; d < DT_COUNT; d++) {
        const dtype_info *i = dtype_info_of((dtype_t)d);
        float ulp = ldexpf(1.0f, -i->mant_bits);
        cr_assert_eq(num_round1(1.0f + ulp, (dtype_t)d), 1.0f + ulp, "%s", i->name);
        cr_assert_eq(num_round1(1.0f + ulp / 2, (dtype_t)d), 1.0f, "%s", i->name);
        int emax = (1 << (i->exp_bits - 1)) - 1;
        float maxv = ldexpf(2.0f - ulp, emax);
        cr_assert_eq(num_round1(maxv, (dtype_t)d), maxv, "%s", i->name);
        cr_assert(isinf(num_round1(ldexpf(1.0f, emax + 1), (dtype_t)d)) || d == DT_F32,
                  "%s", i->name);
    }
}

/* The m cycle starts at fp32, visits every dtype once and comes back. */
Test(numerics, dtype_next_cycles_through_every_dtype)
{
    int seen[DT_COUNT] = {0};
    dtype_t d = DT_F32;
    for (int k = 0; k < DT_COUNT; k++) {
        cr_assert_eq(seen[d]++, 0, "%s visited twice", dtype_name(d));
        d = dtype_info_of(d)->next;
        cr_assert(dtype_info_of(d), "next of a row is not a dtype");
    }
    cr_assert_eq(d, DT_F32);
}

Test(numerics, dtype_names_and_aliases_parse_both_ways)
{
    for (int d = 0; d < DT_COUNT; d++) {
        const dtype_info *i = dtype_info_of((dtype_t)d);
        dtype_t a = DT_COUNT, b = DT_COUNT, c = DT_COUNT;
        cr_assert_eq(dtype_parse(i->name, &a), 0);
        cr_assert_eq(dtype_parse(i->alias, &b), 0);
        cr_assert_eq(dtype_parse(i->label, &c), 0);
        cr_assert_eq(a, (dtype_t)d);
        cr_assert_eq(b, (dtype_t)d);
        cr_assert_eq(c, (dtype_t)d);
        cr_assert_str_eq(dtype_name(a), i->name);
    }
}

Test(numerics, dtype_names_joined)
{
    char buf[64];
    cr_assert_str_eq(dtype_names_joined(", ", buf, sizeof buf), "fp32, fp16, bf16");
    cr_assert_str_eq(dtype_names_joined("|", buf, sizeof buf), "fp32|fp16|bf16");
    cr_assert_str_eq(dtype_names_joined("|", buf, 8), "fp32|fp");
    cr_assert_str_eq(dtype_names_joined("|", buf, 1), "");
}

Test(numerics, portable_switch_reports_old_value)
{
    int had = num_has_f16c();
    cr_assert_eq(num_set_portable(1), 0);
    cr_assert_eq(num_has_f16c(), 0);
    cr_assert_eq(num_set_portable(0), 1);
    cr_assert_eq(num_has_f16c(), had);
}

/* ---- num_is_exact: may a reader skip the rounded copy? ---- */

enum { EX_LEN = 75 }; /* two 32-value SIMD blocks, one 8-vector, a 3-value scalar tail */

/* v placed at `at` among values already stored in dt: num_is_exact, SIMD and portable, must
 * say whether the scalar rounding gives v's bits back (and, v not NaN, the reference too). */
static void exact_case(const ref_fmt *f, dtype_t dt, float v, int at)
{
    float buf[EX_LEN];
    for (int i = 0; i < EX_LEN; i++) buf[i] = num_round1((float)(i - 30) * 0.3712f, dt);
    buf[at] = v;
    int want = bits(num_round1(v, dt)) == bits(v);
    if (!isnan(v))
        cr_assert_eq(want, bits(ref_decode(f, ref_encode(f, v))) == bits(v), "ref %08x",
                     bits(v));
    for (int portable = 0; portable <= 1; portable++) {
        num_set_portable(portable);
        cr_assert_eq(num_is_exact(buf, EX_LEN, dt), want, "%s %s: %08x at %d",
                     dtype_name(dt), portable ? "portable" : "simd", bits(v), at);
    }
    num_set_portable(0);
}

static void exact_check(const ref_fmt *f, dtype_t dt)
{
    static const uint32_t edges[] = {
        0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u,   /* zeros, infinities */
        0x7fc00000u, 0xffc00000u, 0x7fc00001u, 0x7fc02000u,   /* quiet NaNs, payloads */
        0x7fc10000u, 0x7f800001u, 0x7fa00000u, 0xff810000u,   /* more; signalling NaNs */
        0x00000001u, 0x00010000u, 0x80010000u, 0x00400000u,   /* fp32 / bf16 subnormals */
        0x33800000u, 0x33000000u, 0x33c00000u, 0x387fc000u,   /* fp16 subnormals, 2^-25 tie */
        0x3f808000u, 0x3f810000u, 0x3f818000u, 0x3f800001u,   /* bf16 ties and exact */
        0x3f801000u, 0x3f802000u, 0x3f803000u, 0x477fe000u,   /* fp16 ties, exact, 65504 */
        0x477ff000u, 0x7f7f0000u, 0x7f7f8000u, 0x7f7fffffu,   /* 65520, bf16 max, overflow */
    };
    int ne = (int)(sizeof edges / sizeof edges[0]);
    for (int e = 0; e < ne; e++)
        for (int at = 0; at < EX_LEN; at++) exact_case(f, dt, from_bits(edges[e]), at);
    uint64_t seed = 0xe4ac7000u + (uint64_t)dt;
    for (int kind = 0; kind < RND_KINDS; kind++)
        for (int i = 0; i < 20000; i++) {
            float v = rnd_input(&seed, kind);
            exact_case(f, dt, v, i % EX_LEN);
            exact_case(f, dt, num_round1(v, dt), (i * 7) % EX_LEN); /* stored in dt */
        }
    /* every length, all stored in dt: yes; one changed value anywhere: no */
    float buf[EX_LEN];
    for (int n = 0; n <= EX_LEN; n++)
        for (int portable = 0; portable <= 1; portable++) {
            num_set_portable(portable);
            for (int i = 0; i < n; i++) buf[i] = num_round1((float)i * 1.1f + 0.01f, dt);
            cr_assert_eq(num_is_exact(buf, (size_t)n, dt), 1, "length %d", n);
            if (n == 0) continue;
            buf[n - 1] = from_bits(bits(buf[n - 1]) + 1); /* one fp32 ulp off */
            cr_assert_eq(num_is_exact(buf, (size_t)n, dt), 0, "length %d, last", n);
        }
    num_set_portable(0);
}

Test(numerics, is_exact_fast_path_matches_scalar_fp16)
{
    ref_fmt f = ref_f16();
    exact_check(&f, DT_F16);
    free(f.val);
}

Test(numerics, is_exact_fast_path_matches_scalar_bf16)
{
    ref_fmt f = ref_bf16();
    exact_check(&f, DT_BF16);
    free(f.val);
}

Test(numerics, is_exact_fp32_is_always_yes)
{
    float x[3] = {0.1f, NAN, from_bits(0x7f800001u)};
    cr_assert_eq(num_is_exact(x, 3, DT_F32), 1);
    cr_assert_eq(num_is_exact(x, 0, DT_BF16), 1);
}
