/* test_rng.c — xoshiro256** / splitmix64 against reference outputs computed independently
 * (Python big-int implementation), bias-free bounded draws, uniform and normal draws. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "rng.h"

Test(rng, splitmix_seeding_reference)
{
    rng_state r;
    rng_seed(&r, 0);
    /* splitmix64 from 0: its well-known first output is 0xe220a8397b1dcdaf */
    cr_assert_eq(r.s[0], 0xe220a8397b1dcdafull);
    cr_assert_eq(r.s[1], 0x6e789e6aa1b965f4ull);
    cr_assert_eq(r.s[2], 0x06c45d188009454full);
    cr_assert_eq(r.s[3], 0xf88bb8a8724c81ecull);
}

Test(rng, xoshiro_reference_outputs)
{
    static const uint64_t want0[4] = {0x99ec5f36cb75f2b4ull, 0xbf6e1f784956452aull,
                                      0x1a5f849d4933e6e0ull, 0x6aa594f1262d2d2cull};
    static const uint64_t want42[4] = {0x15780b2e0c2ec716ull, 0x6104d9866d113a7eull,
                                       0xae17533239e499a1ull, 0xecb8ad4703b360a1ull};
    rng_state a, b;
    rng_seed(&a, 0);
    rng_seed(&b, 42);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(rng_next(&a), want0[i], "seed 0 output %d", i);
        cr_assert_eq(rng_next(&b), want42[i], "seed 42 output %d", i);
    }
}

Test(rng, deterministic_and_seed_sensitive)
{
    rng_state a, b, c;
    rng_seed(&a, 1234);
    rng_seed(&b, 1234);
    rng_seed(&c, 1235);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = rng_next(&a);
        cr_assert_eq(x, rng_next(&b));
        differ += x != rng_next(&c);
    }
    cr_assert_eq(differ, 1000);
    /* the state is plain data: a copy continues the same stream (checkpoint resume) */
    rng_state saved;
    memcpy(&saved, &a, sizeof a);
    uint64_t x = rng_next(&a);
    cr_assert_eq(rng_next(&saved), x);
}

Test(rng, below_bounds_and_values)
{
    rng_state r, q;
    rng_seed(&r, 7);
    /* rejection only drops values in the top UINT64_MAX % n: for n = 1000 that is ~1e-16 of
     * draws, so the results equal next % 1000 (reference values from the Python model) */
    static const uint64_t want[5] = {994, 674, 638, 664, 664};
    for (int i = 0; i < 5; i++) cr_assert_eq(rng_below(&r, 1000), want[i]);
    rng_seed(&r, 9);
    for (int i = 0; i < 1000; i++) cr_assert_eq(rng_below(&r, 1), 0u);
    /* n just above 2^63: half the 64-bit range is rejected, every result is still < n */
    uint64_t n = (1ull << 63) + 1;
    rng_seed(&r, 3);
    rng_seed(&q, 3);
    int rejected = 0;
    for (int i = 0; i < 2000; i++) {
        uint64_t v = rng_below(&r, n);
        cr_assert_lt(v, n);
        uint64_t raw;
        do {
            raw = rng_next(&q);
            rejected += raw >= UINT64_MAX - UINT64_MAX % n;
        } while (raw >= UINT64_MAX - UINT64_MAX % n);
        cr_assert_eq(v, raw % n);
    }
    cr_assert(rejected > 800 && rejected < 3200, "about one rejection per draw: %d", rejected);
}

Test(rng, below_is_uniform)
{
    rng_state r;
    rng_seed(&r, 11);
    int count[7] = {0};
    const int N = 70000;
    for (int i = 0; i < N; i++) count[rng_below(&r, 7)]++;
    double chi2 = 0;
    for (int k = 0; k < 7; k++) chi2 += pow(count[k] - N / 7.0, 2) / (N / 7.0);
    cr_assert(chi2 < 22.46, "chi2 %g (6 dof, p = 0.001)", chi2);
}

Test(rng, uniform_has_24_bits)
{
    rng_state r;
    rng_seed(&r, 1);
    cr_assert_eq(rng_uniform(&r), 11793071 * 0x1p-24f);
    cr_assert_eq(rng_uniform(&r), 8731477 * 0x1p-24f);
    cr_assert_eq(rng_uniform(&r), 9631895 * 0x1p-24f);
    double sum = 0;
    for (int i = 0; i < 100000; i++) {
        float u = rng_uniform(&r);
        cr_assert(u >= 0.0f && u < 1.0f);
        cr_assert_eq(u * 0x1p24f, floorf(u * 0x1p24f), "a multiple of 2^-24");
        sum += u;
    }
    cr_assert(fabs(sum / 100000 - 0.5) < 0.005, "mean %g", sum / 100000);
}

Test(rng, normal_reference_and_moments)
{
    rng_state r, q;
    rng_seed(&r, 0);
    static const float want[3] = {-0.01410679705440998f, -1.8458950519561768f,
                                  0.7881791591644287f};
    for (int i = 0; i < 3; i++) {
        float z = rng_normal(&r);
        cr_assert(fabsf(z - want[i]) <= 1e-6f, "draw %d: %.9g vs %.9g", i, z, want[i]);
    }
    /* one normal consumes exactly two 64-bit draws */
    rng_seed(&q, 0);
    for (int i = 0; i < 6; i++) rng_next(&q);
    cr_assert_eq(memcmp(&q, &r, sizeof q), 0);
    double s1 = 0, s2 = 0;
    const int N = 200000;
    for (int i = 0; i < N; i++) {
        float z = rng_normal(&r);
        cr_assert(isfinite(z));
        s1 += z;
        s2 += (double)z * z;
    }
    double mean = s1 / N, var = s2 / N - mean * mean;
    cr_assert(fabs(mean) < 0.01, "mean %g", mean);
    cr_assert(fabs(var - 1.0) < 0.02, "var %g", var);
}
