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
        {"BF16", DT_BF16}, {"fp8", DT_FP8}, {"float8", DT_FP8}, {"FP8", DT_FP8},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        dtype_t dt = DT_COUNT;
        cr_assert_eq(dtype_parse(good[i].s, &dt), 0, "%s", good[i].s);
        cr_assert_eq(dt, good[i].dt, "%s", good[i].s);
    }
    static const char *const bad[] = {"", "fp8 ", "e4m3", "fp16 ", " fp16", "bf1", "bf166", "float",
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
        {"bf16", "bfloat16", "BF16", 16, 7, 8, DT_ROLE_BRAIN, DT_FP8, 0},
        {"fp8", "float8", "FP8", 8, 3, 4, DT_ROLE_FP8, DT_F32, 0},
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
        if (d == DT_FP8) { /* a mode: its bits are E4M3's, which the fp8 casts round to */
            cr_assert_eq(num_e4m3_to_f32(num_f32_to_e4m3(1.0f + ulp, 1)), 1.0f + ulp);
            cr_assert_eq(num_e4m3_to_f32(num_f32_to_e4m3(1.0f + ulp / 2, 1)), 1.0f);
            cr_assert_eq(num_round1(1.0f + ulp / 2, DT_FP8), 1.0f + ulp / 2,
                         "no op rounds to the fp8 mode: num_round copies");
            continue;
        }
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
    cr_assert_str_eq(dtype_names_joined(", ", buf, sizeof buf), "fp32, fp16, bf16, fp8");
    cr_assert_str_eq(dtype_names_joined("|", buf, sizeof buf), "fp32|fp16|bf16|fp8");
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

/* ---- FP8 (docs/numerics.md "FP8"): a reference from the OCP definition ---- */

typedef struct {
    fp8_format f;
    int mbits, bias;
    uint8_t max_code; /* largest finite magnitude: 0x7e (448) / 0x7b (57344) */
    uint8_t over;     /* what a plain cast gives beyond it: NaN 0x7f / Inf 0x7c */
    double next;      /* the value above the maximum with an unbounded exponent: ties to it
                       * round out of range */
} ref8;

static const ref8 R_E4M3 = {FP8_E4M3, 3, 7, 0x7e, 0x7f, 480.0};
static const ref8 R_E5M2 = {FP8_E5M2, 2, 15, 0x7b, 0x7c, 65536.0};

static int ref8_is_nan(const ref8 *r, uint8_t b)
{
    return r->f == FP8_E4M3 ? (b & 0x7f) == 0x7f : (b & 0x7f) > 0x7c;
}

/* Value of a non-NaN code: sign, then 2^(1-bias) m / 2^mbits (subnormal) or
 * 2^(e-bias) (1 + m / 2^mbits); E5M2's exponent 31 with m = 0 is Inf. */
static double ref8_value(const ref8 *r, uint8_t b)
{
    int e = (b & 0x7f) >> r->mbits, m = b & ((1 << r->mbits) - 1);
    double v;
    if (r->f == FP8_E5M2 && e == 31) v = INFINITY;
    else if (e == 0) v = ldexp(m, 1 - r->bias - r->mbits);
    else v = ldexp(1.0 + ldexp(m, -r->mbits), e - r->bias);
    return (b & 0x80) ? -v : v;
}

/* Nearest code to a non-NaN x, ties to the even code; out of range: over, or max when
 * saturating. Values grow with the code, so a scan finds the neighbours. */
static uint8_t ref8_encode(const ref8 *r, float x, int saturate)
{
    uint8_t sign = signbit(x) ? 0x80 : 0, over = saturate ? r->max_code : r->over;
    if (isinf(x)) return sign | over;
    double a = fabs((double)x);
    uint8_t lo = 0;
    while (lo < r->max_code && ref8_value(r, (uint8_t)(lo + 1)) <= a) lo++;
    double vlo = ref8_value(r, lo), vhi = lo < r->max_code ? ref8_value(r, lo + 1) : r->next;
    double mid = (vlo + vhi) / 2;
    if (a < mid || (a == mid && !(lo & 1))) return sign | lo;
    return sign | (lo == r->max_code ? over : lo + 1);
}

static uint8_t enc8(const ref8 *r, float x, int sat)
{
    uint8_t b = num_f32_to_fp8(x, r->f, sat);
    uint8_t direct = r->f == FP8_E4M3 ? num_f32_to_e4m3(x, sat) : num_f32_to_e5m2(x, sat);
    cr_assert_eq(b, direct, "%s: dispatch %02x vs direct %02x", num_fp8_name(r->f), b, direct);
    return b;
}

static float dec8(const ref8 *r, uint8_t b)
{
    float v = num_fp8_to_f32(b, r->f);
    float direct = r->f == FP8_E4M3 ? num_e4m3_to_f32(b) : num_e5m2_to_f32(b);
    cr_assert_eq(bits(v), bits(direct), "%s: dispatch vs direct for %02x", num_fp8_name(r->f), b);
    return v;
}

/* One conversion against the reference; a NaN must give a NaN code of the same sign. */
static void check8(const ref8 *r, float x, int sat)
{
    uint8_t got = enc8(r, x, sat);
    if (isnan(x)) {
        cr_assert(ref8_is_nan(r, got) && (got & 0x80) == (signbit(x) ? 0x80 : 0),
                  "%s: NaN %08x -> %02x", num_fp8_name(r->f), bits(x), got);
        return;
    }
    uint8_t want = ref8_encode(r, x, sat);
    cr_assert_eq(got, want, "%s sat=%d: %a (%08x) -> %02x, want %02x", num_fp8_name(r->f), sat,
                 x, bits(x), got, want);
}

static const ref8 *const R8[] = {&R_E4M3, &R_E5M2};

Test(numerics, fp8_every_code_decodes_to_its_definition)
{
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < 256; b++) {
            const ref8 *r = R8[k];
            float v = dec8(r, (uint8_t)b);
            if (ref8_is_nan(r, (uint8_t)b)) {
                cr_assert(isnan(v) && !!signbit(v) == !!(b & 0x80), "%s %02x -> %08x",
                          num_fp8_name(r->f), b, bits(v));
                cr_assert(bits(v) & 0x400000u, "%s %02x: a quiet NaN", num_fp8_name(r->f), b);
                continue;
            }
            float want = (float)ref8_value(r, (uint8_t)b);
            cr_assert_eq(bits(v), bits(want), "%s %02x -> %a, want %a", num_fp8_name(r->f), b, v,
                         want);
        }
    /* the defining points: max, min normal, min subnormal, negative zero, the specials */
    cr_assert_eq(num_e4m3_to_f32(0x7e), 448.0f);
    cr_assert_eq(num_e4m3_to_f32(0x08), 0x1p-6f);
    cr_assert_eq(num_e4m3_to_f32(0x01), 0x1p-9f);
    cr_assert_eq(bits(num_e4m3_to_f32(0x80)), 0x80000000u);
    cr_assert_eq(num_e5m2_to_f32(0x7b), 57344.0f);
    cr_assert_eq(num_e5m2_to_f32(0x04), 0x1p-14f);
    cr_assert_eq(num_e5m2_to_f32(0x01), 0x1p-16f);
    cr_assert_eq(num_e5m2_to_f32(0xfc), -INFINITY);
    cr_assert(isnan(num_e5m2_to_f32(0x7d)) && isnan(num_e4m3_to_f32(0xff)));
}

Test(numerics, fp8_every_code_roundtrips)
{
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < 256; b++)
            for (int sat = 0; sat <= 1; sat++) {
                const ref8 *r = R8[k];
                uint8_t back = enc8(r, dec8(r, (uint8_t)b), sat);
                if (ref8_is_nan(r, (uint8_t)b)) {
                    cr_assert(ref8_is_nan(r, back) && (back & 0x80) == (b & 0x80),
                              "%s %02x -> %02x", num_fp8_name(r->f), b, back);
                    continue;
                }
                int inf = r->f == FP8_E5M2 && (b & 0x7f) == 0x7c;
                uint8_t want = inf && sat ? (uint8_t)((b & 0x80) | r->max_code) : (uint8_t)b;
                cr_assert_eq(back, want, "%s sat=%d %02x -> %02x", num_fp8_name(r->f), sat, b,
                             back);
            }
}

Test(numerics, fp8_midpoints_tie_to_even)
{
    for (int k = 0; k < 2; k++)
        for (int lo = 0; lo < R8[k]->max_code; lo++)
            for (int sign = 0; sign <= 0x80; sign += 0x80)
                for (int sat = 0; sat <= 1; sat++) {
                    const ref8 *r = R8[k];
                    uint8_t blo = (uint8_t)(sign | lo), bhi = (uint8_t)(sign | (lo + 1));
                    /* at most mbits + 2 significant bits: exact in fp32 */
                    float mid = (float)((ref8_value(r, blo) + ref8_value(r, bhi)) / 2);
                    uint8_t even = (lo & 1) ? bhi : blo;
                    cr_assert_eq(enc8(r, mid, sat), even, "%s mid %a", num_fp8_name(r->f), mid);
                    float below = nextafterf(mid, 0.0f);
                    float above = nextafterf(mid, sign ? -1e30f : 1e30f);
                    cr_assert_eq(enc8(r, below, sat), blo, "%s %a", num_fp8_name(r->f), below);
                    cr_assert_eq(enc8(r, above, sat), bhi, "%s %a", num_fp8_name(r->f), above);
                    check8(r, mid, sat);
                    check8(r, below, sat);
                    check8(r, above, sat);
                }
}

typedef struct {
    float x;
    uint8_t plain, sat;
} case8;

static void run_cases(const ref8 *r, const case8 *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (int neg = 0; neg <= 1; neg++) {
            float x = neg ? -c[i].x : c[i].x;
            uint8_t s = neg ? 0x80 : 0;
            cr_assert_eq(enc8(r, x, 0), s | c[i].plain, "%s %a plain", num_fp8_name(r->f), x);
            cr_assert_eq(enc8(r, x, 1), s | c[i].sat, "%s %a saturating", num_fp8_name(r->f), x);
            check8(r, x, 0);
            check8(r, x, 1);
        }
}

/* 464 is the tie between 448 (mantissa 110, even) and 480 (111: the NaN code): it stays 448. */
Test(numerics, fp8_e4m3_max_boundary)
{
    const case8 c[] = {
        {448.0f, 0x7e, 0x7e},
        {nextafterf(448.0f, 1e30f), 0x7e, 0x7e},
        {464.0f, 0x7e, 0x7e},
        {nextafterf(464.0f, 1e30f), 0x7f, 0x7e},
        {480.0f, 0x7f, 0x7e},
        {1e6f, 0x7f, 0x7e},
        {FLT_MAX, 0x7f, 0x7e},
        {INFINITY, 0x7f, 0x7e},
        {432.0f, 0x7e, 0x7e}, /* tie between 416 (101) and 448 (110): even 448 */
        {nextafterf(432.0f, 0.0f), 0x7d, 0x7d},
    };
    run_cases(&R_E4M3, c, sizeof c / sizeof c[0]);
}

/* 61440 is the tie between 57344 (mantissa 11, odd) and 65536 (out of range): it overflows;
 * 59392 is not a boundary (rounds to 57344). */
Test(numerics, fp8_e5m2_max_boundary)
{
    const case8 c[] = {
        {57344.0f, 0x7b, 0x7b},
        {59392.0f, 0x7b, 0x7b},
        {nextafterf(61440.0f, 0.0f), 0x7b, 0x7b},
        {61440.0f, 0x7c, 0x7b},
        {65536.0f, 0x7c, 0x7b},
        {FLT_MAX, 0x7c, 0x7b},
        {INFINITY, 0x7c, 0x7b},
        {53248.0f, 0x7a, 0x7a}, /* tie between 49152 (10, even) and 57344 (11) */
        {nextafterf(53248.0f, 1e30f), 0x7b, 0x7b},
    };
    run_cases(&R_E5M2, c, sizeof c / sizeof c[0]);
}

Test(numerics, fp8_subnormals_zero_and_fp32_subnormals)
{
    const case8 e4[] = {
        {0x1p-9f, 0x01, 0x01},           /* smallest subnormal */
        {0x1p-10f, 0x00, 0x00},          /* half of it: the tie goes to zero (even) */
        {nextafterf(0x1p-10f, 1.0f), 0x01, 0x01},
        {0x1.8p-9f, 0x02, 0x02},         /* 1.5 units: tie, even 2 */
        {0x1.4p-8f, 0x02, 0x02},         /* 2.5 units: tie, even 2 */
        {0x1.ep-7f, 0x08, 0x08},         /* 7.5 units: tie into the smallest normal 2^-6 */
        {0x1p-6f, 0x08, 0x08},
        {0x1p-149f, 0x00, 0x00},         /* fp32 subnormals */
        {0x1p-127f, 0x00, 0x00},
        {0.0f, 0x00, 0x00},
    };
    run_cases(&R_E4M3, e4, sizeof e4 / sizeof e4[0]);
    const case8 e5[] = {
        {0x1p-16f, 0x01, 0x01},
        {0x1p-17f, 0x00, 0x00},
        {nextafterf(0x1p-17f, 1.0f), 0x01, 0x01},
        {0x1.8p-16f, 0x02, 0x02},
        {0x1.cp-15f, 0x04, 0x04}, /* 3.5 units: tie into the smallest normal 2^-14 */
        {0x1p-14f, 0x04, 0x04},
        {0x1p-149f, 0x00, 0x00},
        {0.0f, 0x00, 0x00},
    };
    run_cases(&R_E5M2, e5, sizeof e5 / sizeof e5[0]);
    cr_assert_eq(num_f32_to_e4m3(-0.0f, 0), 0x80);
    cr_assert_eq(num_f32_to_e5m2(-1e-30f, 1), 0x80);
}

Test(numerics, fp8_nan_keeps_its_sign)
{
    const uint32_t nans[] = {0x7fc00000u, 0x7f800001u, 0x7fa00000u, 0x7fffffffu};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++)
        for (int sat = 0; sat <= 1; sat++) {
            float p = from_bits(nans[i]), n = from_bits(nans[i] | 0x80000000u);
            cr_assert_eq(num_f32_to_e4m3(p, sat), 0x7f);
            cr_assert_eq(num_f32_to_e4m3(n, sat), 0xff);
            /* E5M2: quiet bit forced, the top payload bit kept (as fp32 -> fp16) */
            uint8_t want = (uint8_t)(0x7e | ((nans[i] >> 21) & 1u));
            cr_assert_eq(num_f32_to_e5m2(p, sat), want, "%08x", nans[i]);
            cr_assert_eq(num_f32_to_e5m2(n, sat), 0x80 | want, "%08x", nans[i]);
        }
    cr_assert_eq(bits(num_e4m3_to_f32(0x7f)), 0x7fc00000u);
    cr_assert_eq(bits(num_e4m3_to_f32(0xff)), 0xffc00000u);
    cr_assert_eq(bits(num_e5m2_to_f32(0x7d)), 0x7fe00000u); /* quieted, payload kept */
    cr_assert_eq(bits(num_e5m2_to_f32(0xfe)), 0xffc00000u);
    cr_assert_eq(bits(num_e5m2_to_f32(0x7f)), 0x7fe00000u);
}

Test(numerics, fp8_random_matches_reference)
{
    uint64_t s = 0x243f6a8885a308d3ull;
    for (int i = 0; i < 60000; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        uint32_t u = (uint32_t)s;
        if (i % 4) /* mostly the fp8 range: fp32 exponents 2^-20 .. 2^19 */
            u = (u & 0x807fffffu) | ((uint32_t)(107 + (s >> 40) % 40) << 23);
        for (int k = 0; k < 2; k++)
            for (int sat = 0; sat <= 1; sat++) check8(R8[k], from_bits(u), sat);
    }
}

Test(numerics, fp8_max_name_and_invalid_format)
{
    cr_assert_eq(num_fp8_max(FP8_E4M3), 448.0f);
    cr_assert_eq(num_fp8_max(FP8_E5M2), 57344.0f);
    cr_assert_eq(num_fp8_max(FP8_FORMATS), 0.0f);
    cr_assert_eq(num_fp8_max((fp8_format)FP8_DEQUANTIZED), 0.0f);
    cr_assert_str_eq(num_fp8_name(FP8_E4M3), "e4m3");
    cr_assert_str_eq(num_fp8_name(FP8_E5M2), "e5m2");
    cr_assert_str_eq(num_fp8_name(FP8_FORMATS), "?");
    cr_assert_str_eq(num_fp8_name((fp8_format)-1), "?");
    /* the conversions take any other value as E4M3 (numerics.h) */
    cr_assert_eq(num_f32_to_fp8(500.0f, FP8_FORMATS, 1), 0x7e);
    cr_assert_eq(num_fp8_to_f32(0x7e, (fp8_format)-1), 448.0f);
    cr_assert_eq(num_mx_exponent(1.0f, FP8_FORMATS), num_mx_exponent(1.0f, FP8_E4M3));
}

/* ---- num_fp8_quantize ---- */

/* The per-element rule of numerics.h, from the scalar conversions. */
static float quant1(float x, fp8_format f, float scale)
{
    return num_fp8_to_f32(num_f32_to_fp8(x * scale, f, 1), f);
}

Test(numerics, fp8_quantize_values_and_stats_e4m3)
{
    const float scale = 3.7f; /* not a power of two: src * scale rounds in fp32 */
    float src[] = {
        1.0f, -2.5f, 0.3f,
        200.0f,           /* 740: saturates to 448, overflow */
        -125.0f,          /* -462.5: rounds to -448, no overflow */
        FLT_MAX,          /* src * scale is Inf in fp32: overflow, 448 */
        1e-5f,            /* 3.7e-5 < 2^-10: underflow */
        0x1p-149f,        /* fp32 subnormal: underflow, the smallest nonzero */
        0.0f, -0.0f,      /* zero is no underflow */
        INFINITY,         /* nonfinite, saturates, no overflow */
        -INFINITY, NAN,   /* NaN stays NaN */
    };
    enum { N = sizeof src / sizeof src[0] };
    float dst[N];
    num_stats st;
    num_stats_reset(&st);
    st.count = 5, st.overflow = 1; /* counts are ADDED */
    num_fp8_quantize(dst, src, N, FP8_E4M3, scale, &st);
    for (int i = 0; i < N; i++) {
        if (isnan(src[i])) {
            cr_assert(isnan(dst[i]));
            continue;
        }
        cr_assert_eq(bits(dst[i]), bits(quant1(src[i], FP8_E4M3, scale)), "[%d]", i);
    }
    cr_assert_eq(dst[0], 3.75f); /* 3.7 -> 3.75 */
    cr_assert_eq(dst[3], 448.0f);
    cr_assert_eq(dst[4], -448.0f);
    cr_assert_eq(dst[5], 448.0f);
    cr_assert_eq(bits(dst[9]), 0x80000000u);
    cr_assert_eq(dst[10], 448.0f);
    cr_assert_eq(dst[11], -448.0f);
    cr_assert_eq(st.count, 5 + N);
    cr_assert_eq(st.overflow, 1 + 2);
    cr_assert_eq(st.underflow, 2);
    cr_assert_eq(st.nonfinite, 3);
    cr_assert_eq(st.amax, FLT_MAX);
    cr_assert_eq(st.amin_nz, 0x1p-149f);
    /* in place, and without stats: the same values */
    float again[N];
    memcpy(again, src, sizeof src);
    num_fp8_quantize(again, again, N, FP8_E4M3, scale, NULL);
    cr_assert_eq(memcmp(again, dst, sizeof dst), 0);
}

Test(numerics, fp8_quantize_values_and_stats_e5m2)
{
    const float scale = 0.3f;
    float src[] = {1.0f, 2e5f /* 60000: rounds to 57344 */, 2.1e5f /* 63000: saturates */,
                   -3e-6f /* 9e-7 < 2^-17: underflow */, 1e-4f /* 3e-5: a subnormal */};
    enum { N = sizeof src / sizeof src[0] };
    float dst[N];
    num_stats st;
    num_stats_reset(&st);
    num_fp8_quantize(dst, src, N, FP8_E5M2, scale, &st);
    for (int i = 0; i < N; i++)
        cr_assert_eq(bits(dst[i]), bits(quant1(src[i], FP8_E5M2, scale)), "[%d]", i);
    cr_assert_eq(dst[1], 57344.0f);
    cr_assert_eq(dst[2], 57344.0f);
    cr_assert_eq(bits(dst[3]), 0x80000000u);
    cr_assert_eq(dst[4], 0x1p-15f); /* 3e-5 = 1.97 units of 2^-16 */
    cr_assert_eq(st.overflow, 1);
    cr_assert_eq(st.underflow, 1);
    cr_assert_eq(st.nonfinite, 0);
    cr_assert_eq(st.amax, 2.1e5f);
    cr_assert_eq(st.amin_nz, 3e-6f);
}

/* Past several chunks, odd length: every value is the scalar rule, the stats a plain count. */
Test(numerics, fp8_quantize_long_matches_scalar_rule)
{
    enum { N = 3 * 4096 + 1237 };
    float *src = malloc(N * sizeof *src), *dst = malloc(N * sizeof *dst);
    cr_assert(src && dst);
    uint64_t s = 7;
    for (int i = 0; i < N; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        uint32_t u = ((uint32_t)s & 0x807fffffu) | ((uint32_t)(100 + (s >> 40) % 50) << 23);
        src[i] = i % 1001 == 0 ? INFINITY : i % 997 == 0 ? NAN : from_bits(u);
    }
    for (int k = 0; k < 2; k++) {
        fp8_format f = R8[k]->f;
        float scale = k ? 0.013f : 7.3f, mx = num_fp8_max(f);
        num_stats st, want;
        num_stats_reset(&st);
        num_stats_reset(&want);
        num_fp8_quantize(dst, src, N, f, scale, &st);
        for (int i = 0; i < N; i++) {
            float q = quant1(src[i], f, scale), a = fabsf(src[i]);
            cr_assert(bits(dst[i]) == bits(q) || (isnan(q) && isnan(dst[i])), "%s [%d]",
                      num_fp8_name(f), i);
            if (!isfinite(src[i])) {
                want.nonfinite++;
                continue;
            }
            want.amax = a > want.amax ? a : want.amax;
            if (a > 0 && (want.amin_nz == 0 || a < want.amin_nz)) want.amin_nz = a;
            want.underflow += a > 0 && q == 0;
            /* saturated: the scaled value lies beyond max + half an ulp (or is Inf) */
            double half = f == FP8_E4M3 ? 16.0 : 4096.0;
            double sc = fabs((double)(src[i] * scale));
            want.overflow += f == FP8_E4M3 ? sc > mx + half : sc >= mx + half;
        }
        cr_assert_eq(st.count, N);
        cr_assert_eq(st.nonfinite, want.nonfinite);
        cr_assert_eq(st.overflow, want.overflow);
        cr_assert_gt(st.overflow, 0);
        cr_assert_eq(st.underflow, want.underflow);
        cr_assert_gt(st.underflow, 0);
        cr_assert_eq(st.amax, want.amax);
        cr_assert_eq(st.amin_nz, want.amin_nz);
    }
    free(src);
    free(dst);
}

/* The array path rounds without going through the codes (and with AVX2 when the CPU has
 * it): every fp32 pattern of the top 20 bits, with low bits 0 (ties), 1 (just past a tie)
 * and a few others, equals the scalar decode(encode), on the SIMD and portable paths. */
Test(numerics, fp8_quantize_sweep_equals_the_codes)
{
    static const uint32_t lows[] = {0x000, 0x001, 0x7ff, 0x800, 0x801, 0xfff};
    enum { NL = sizeof lows / sizeof lows[0], N = (1 << 20) * NL };
    float *x = malloc(N * sizeof *x), *q = malloc(N * sizeof *q);
    cr_assert(x && q);
    for (uint32_t hi = 0; hi < (1u << 20); hi++)
        for (int l = 0; l < NL; l++) x[hi * NL + l] = from_bits(hi << 12 | lows[l]);
    for (int k = 0; k < 2; k++) {
        num_stats st[2];
        for (int portable = 0; portable <= 1; portable++) {
            fp8_format f = R8[k]->f;
            num_set_portable(portable);
            num_stats_reset(&st[portable]);
            num_fp8_quantize(q, x, N, f, 1.0f, &st[portable]);
            for (size_t i = 0; i < N; i++) {
                float want = num_fp8_to_f32(num_f32_to_fp8(x[i], f, 1), f);
                if (bits(q[i]) != bits(want))
                    cr_assert_fail("%s portable=%d: %08x -> %08x, want %08x", num_fp8_name(f),
                                   portable, bits(x[i]), bits(q[i]), bits(want));
            }
        }
        cr_assert_eq(memcmp(&st[0], &st[1], sizeof st[0]), 0, "stats of the two paths");
        cr_assert_gt(st[0].overflow, 0);
        cr_assert_gt(st[0].underflow, 0);
    }
    num_set_portable(0);
    free(x);
    free(q);
}

/* ---- MXFP8 ---- */

/* The rule of numerics.h from frexp: the smallest e with 2^e >= fp32(amax * fp32(1 / max)),
 * clamped to [-127, 127]. */
static int mx_exp_ref(float amax, fp8_format f)
{
    float v = fabsf(amax) * (1.0f / num_fp8_max(f));
    if (v == 0) return -127;
    int e;
    double m = frexp((double)v, &e); /* v = m 2^e, m in [0.5, 1) */
    int k = m == 0.5 ? e - 1 : e;
    return k < -127 ? -127 : k > 127 ? 127 : k;
}

Test(numerics, mx_exponent_rule)
{
    cr_assert_eq(num_mx_exponent(0.0f, FP8_E4M3), -127);
    cr_assert_eq(num_mx_exponent(1.0f, FP8_E4M3), -8);   /* 1/448 = 2^-8.8: up to 2^-8 */
    cr_assert_eq(num_mx_exponent(-1.0f, FP8_E4M3), -8);  /* a magnitude */
    cr_assert_eq(num_mx_exponent(1.0f, FP8_E5M2), -15);  /* 1/57344 = 2^-15.8 */
    cr_assert_eq(num_mx_exponent(0x1p-140f, FP8_E4M3), -127); /* clamped below */
    cr_assert_eq(num_mx_exponent(FLT_MAX, FP8_E4M3), 120);
    cr_assert_eq(num_mx_exponent(FLT_MAX, FP8_E5M2), 113);
    cr_assert_eq(num_mx_exponent(INFINITY, FP8_E4M3), 127); /* not finite: the widest */
    cr_assert_eq(num_mx_exponent(NAN, FP8_E5M2), 127);
    /* fp32(1/448) is not exact: 448 * it is the fp32 product, whatever side of 1 it falls */
    cr_assert_eq(num_mx_exponent(448.0f, FP8_E4M3), mx_exp_ref(448.0f, FP8_E4M3));
    /* exact powers of two are kept: amax = max 2^k */
    cr_assert_eq(num_mx_exponent(57344.0f * 0x1p-20f, FP8_E5M2),
                 mx_exp_ref(57344.0f * 0x1p-20f, FP8_E5M2));
    uint64_t s = 99;
    for (int i = 0; i < 100000; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        float a = from_bits((uint32_t)s & 0x7f7fffffu); /* finite, any exponent */
        for (int k = 0; k < 2; k++)
            cr_assert_eq(num_mx_exponent(a, R8[k]->f), mx_exp_ref(a, R8[k]->f), "%a %s", a,
                         num_fp8_name(R8[k]->f));
    }
}

/* The block rule with the block found by the test: e from the block's largest finite |x|,
 * dst = fp8_sat(x 2^-e) 2^e, computed here in double (both products are exact there). */
static float mx_ref1(float x, int e, fp8_format f)
{
    float scaled = (float)ldexp((double)x, -e);
    double exact = ldexp((double)num_fp8_to_f32(num_f32_to_fp8(scaled, f, 1), f), e);
    /* the dequantized value is exact in fp32 (fp32 subnormals included), short of Inf */
    cr_assert(isnan(exact) || fabs(exact) > FLT_MAX || (double)(float)exact == exact, "%a", x);
    return (float)exact;
}

static void mx_check_rows(const float *src, const float *dst, int rows, int cols, fp8_format f)
{
    for (int r = 0; r < rows; r++)
        for (int c0 = 0; c0 < cols; c0 += MX_BLOCK) {
            int k = cols - c0 < MX_BLOCK ? cols - c0 : MX_BLOCK;
            float amax = 0;
            for (int i = 0; i < k; i++) {
                float a = fabsf(src[r * cols + c0 + i]);
                if (isfinite(a) && a > amax) amax = a;
            }
            int e = mx_exp_ref(amax, f);
            for (int i = 0; i < k; i++) {
                float x = src[r * cols + c0 + i], d = dst[r * cols + c0 + i];
                float want = mx_ref1(x, e, f);
                cr_assert(bits(d) == bits(want) || (isnan(d) && isnan(want)),
                          "%s row %d col %d: %a -> %a want %a (e %d)", num_fp8_name(f), r,
                          c0 + i, x, d, want, e);
            }
        }
}

/* 3 rows of 70: blocks of 32, 32 and a short one of 6, each at its own magnitude; row 1's
 * first block all zero, row 2's second block at 2^-140 (exponent clamped to -127: values
 * below 2^-136 underflow). */
static void mx_fill(float *x, int rows, int cols, uint64_t seed)
{
    uint64_t s = seed;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            float u = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
            int blk = c / MX_BLOCK;
            x[r * cols + c] = ldexpf(u, (r * 7 + blk * 13) % 40 - 20);
        }
}

Test(numerics, mx_quantize_along_rows_blocks)
{
    enum { R = 3, C = 70 };
    float src[R * C], dst[R * C];
    for (int k = 0; k < 2; k++) {
        fp8_format f = R8[k]->f;
        mx_fill(src, R, C, 5);
        for (int c = 0; c < MX_BLOCK; c++) src[1 * C + c] = 0.0f;
        for (int c = MX_BLOCK; c < 2 * MX_BLOCK; c++) src[2 * C + c] = ldexpf(1.0f + c, -145);
        num_stats st;
        num_stats_reset(&st);
        num_mx_quantize(dst, src, R, C, 1, f, &st);
        mx_check_rows(src, dst, R, C, f);
        for (int c = 0; c < MX_BLOCK; c++) cr_assert_eq(bits(dst[1 * C + c]), 0u);
        cr_assert_eq(st.count, R * C);
        cr_assert_eq(st.overflow, 0);
        cr_assert_eq(st.nonfinite, 0);
        /* the clamped block: 2^-145 (1 + c) * 2^127 = (1 + c) 2^-18 is below E4M3's 2^-10
         * (all underflow) and above E5M2's 2^-17 (c >= 32): none there */
        int unf = 0;
        for (int i = 0; i < R * C; i++) unf += src[i] != 0 && dst[i] == 0;
        cr_assert_eq(st.underflow, (uint64_t)unf);
        if (f == FP8_E4M3) cr_assert_geq(unf, MX_BLOCK);
        else cr_assert_eq(unf, 0);
        cr_assert_eq(st.amin_nz, ldexpf(1.0f + MX_BLOCK, -145));
        /* the short last block has its own exponent: its largest value is represented to
         * within fp8's precision, not flushed by the block before it */
        float a = 0, d = 0;
        for (int c = 2 * MX_BLOCK; c < C; c++)
            if (fabsf(src[c]) > a) a = fabsf(src[c]), d = fabsf(dst[c]);
        cr_assert(fabsf(d - a) <= a * (f == FP8_E4M3 ? 0x1p-4f : 0x1p-3f), "%a vs %a", d, a);
    }
}

Test(numerics, mx_quantize_along_cols_is_the_transpose)
{
    enum { R = 70, C = 45 };
    static float a[R * C], at[C * R], q0[R * C], q1[C * R];
    mx_fill(at, C, R, 11); /* blocks along rows of a^T are blocks down columns of a */
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) a[r * C + c] = at[c * R + r];
    a[40 * C + 3] = INFINITY, a[5 * C + 7] = NAN, a[69 * C + 44] = -INFINITY;
    at[3 * R + 40] = INFINITY, at[7 * R + 5] = NAN, at[44 * R + 69] = -INFINITY;
    for (int k = 0; k < 2; k++) {
        fp8_format f = R8[k]->f;
        num_stats s0, s1;
        num_stats_reset(&s0);
        num_stats_reset(&s1);
        num_mx_quantize(q0, a, R, C, 0, f, &s0);
        num_mx_quantize(q1, at, C, R, 1, f, &s1);
        mx_check_rows(at, q1, C, R, f);
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++)
                cr_assert_eq(bits(q0[r * C + c]), bits(q1[c * R + r]), "%s (%d,%d)",
                             num_fp8_name(f), r, c);
        cr_assert_eq(memcmp(&s0, &s1, sizeof s0), 0);
        cr_assert_eq(s0.nonfinite, 3);
        cr_assert_eq(s0.count, R * C);
        /* Inf saturates to the block's max; NaN stays NaN */
        cr_assert(isnan(q0[5 * C + 7]));
        cr_assert(isfinite(q0[40 * C + 3]) && q0[40 * C + 3] > 0);
        cr_assert(isfinite(q0[69 * C + 44]) && q0[69 * C + 44] < 0);
    }
}

Test(numerics, mx_quantize_in_place_edges_and_dequantized_overflow)
{
    /* 3.3e38 (E4M3): e = 120, 3.3e38 2^-120 = 248.3 rounds to 256, and 256 2^120 = 2^128 is
     * beyond fp32: Inf, counted as overflow (only |x| >= 1.875 2^127 does this) */
    float x[40];
    for (int i = 0; i < 40; i++) x[i] = (float)i;
    x[3] = 3.3e38f;
    float want[40];
    num_stats st;
    num_stats_reset(&st);
    num_mx_quantize(want, x, 1, 40, 1, FP8_E4M3, &st);
    cr_assert(isinf(want[3]) && want[3] > 0);
    cr_assert_eq(st.overflow, 1);
    cr_assert_eq(st.amax, 3.3e38f);
    num_mx_quantize(x, x, 1, 40, 1, FP8_E4M3, NULL); /* dst == src */
    cr_assert_eq(memcmp(x, want, sizeof x), 0);
    /* nothing to do for an empty shape: no count, dst untouched */
    num_stats_reset(&st);
    float y = 5.0f;
    num_mx_quantize(&y, &y, 0, 1, 0, FP8_E4M3, &st);
    num_mx_quantize(&y, &y, 1, -3, 1, FP8_E5M2, &st);
    cr_assert_eq(y, 5.0f);
    cr_assert_eq(st.count, 0);
    /* along values other than 0 mean rows (numerics.h) */
    float z[40], z1[40];
    for (int i = 0; i < 40; i++) z[i] = (float)i * 0.37f;
    num_mx_quantize(z1, z, 1, 40, 1, FP8_E5M2, NULL);
    num_mx_quantize(z, z, 1, 40, 7, FP8_E5M2, NULL);
    cr_assert_eq(memcmp(z, z1, sizeof z), 0);
}
