/* rng.h — the engine's one source of randomness (xoshiro256**, seeded by splitmix64):
 * small, fast, and its whole state fits in a checkpoint. */
#ifndef MPTUI_RNG_H
#define MPTUI_RNG_H

#include <stdint.h>

typedef struct { uint64_t s[4]; } rng_state;

void rng_seed(rng_state *r, uint64_t seed);
uint64_t rng_next(rng_state *r);
/* Uniform in [0, n) without modulo bias; n > 0. */
uint64_t rng_below(rng_state *r, uint64_t n);
/* Uniform float in [0, 1) with 24 random bits. */
float rng_uniform(rng_state *r);
/* Standard normal (Box-Muller, both values used in turn is NOT done: one draw = 2 uniforms). */
float rng_normal(rng_state *r);

#endif
