/* numerics.h — fp32 <-> fp16 / bf16 conversion, bit-exact round-to-nearest-even,
 * and the round-through used for emulation, with counters of what rounding lost. */
#ifndef MPTUI_NUMERICS_H
#define MPTUI_NUMERICS_H

#include <stddef.h>
#include <stdint.h>

/* Adding a format: a value here, its row in numerics.c (dtype_table), and its rounding
 * (scalar conversions + the half_formats entry there). Config, keys, the screen and the
 * compare picker read the row. */
typedef enum { DT_F32 = 0, DT_F16 = 1, DT_BF16 = 2, DT_COUNT = 3 } dtype_t;

/* How the screen tells formats apart; the UI maps a role to a colour (this layer knows no
 * terminal). */
typedef enum { DT_ROLE_FULL = 0, DT_ROLE_HALF, DT_ROLE_BRAIN, DT_ROLE_COUNT } dtype_role;

/* Longest label ("FP32"): the precision map gives a dtype this many columns. */
#define DT_LABEL_MAX 4

typedef struct {
    const char *name;    /* "fp32": options, CSV columns, checkpoints */
    const char *alias;   /* "float32": also accepted on input */
    const char *label;   /* "FP32": the screen and its messages */
    int bits, mant_bits, exp_bits; /* storage bits; explicit mantissa and exponent bits */
    dtype_role role;
    dtype_t next;        /* the m key's cycle: fp32 -> fp16 -> bf16 -> fp32 */
    int auto_scaled;     /* --loss_scale auto scales the loss: gradients would underflow
                          * the narrow exponent range (docs/loss-scaling.md) */
} dtype_info;

/* The row of dt; NULL for an invalid value. */
const dtype_info *dtype_info_of(dtype_t dt);
/* 1 when --loss_scale auto means dynamic loss scaling in mode dt (fp16); 0 otherwise. */
int dtype_auto_scaled(dtype_t dt);
/* "fp32" / "fp16" / "bf16"; "?" for an invalid value. */
const char *dtype_name(dtype_t dt);
/* Upper-case label for screens: "FP32" / "FP16" / "BF16". */
const char *dtype_label(dtype_t dt);
/* Accepts a name or alias, any case (fp32|fp16|bf16, float32|float16|bfloat16);
 * 0 on success, -1 otherwise (*out untouched). */
int dtype_parse(const char *s, dtype_t *out);
/* Every name in table order joined by sep ("fp32, fp16, bf16"), for messages and help;
 * returns buf (truncated to len). */
const char *dtype_names_joined(const char *sep, char *buf, size_t len);

/* Scalar conversions (docs/numerics.md). */
uint16_t num_f32_to_f16(float x);
float num_f16_to_f32(uint16_t h);
uint16_t num_f32_to_bf16(float x);
float num_bf16_to_f32(uint16_t h);

/* Array conversions; use F16C / AVX2 when the CPU has them, bit-identical to the scalar path. */
void num_f32_to_f16_array(uint16_t *dst, const float *src, size_t n);
void num_f16_to_f32_array(float *dst, const uint16_t *src, size_t n);
void num_f32_to_bf16_array(uint16_t *dst, const float *src, size_t n);
void num_bf16_to_f32_array(float *dst, const uint16_t *src, size_t n);

/* What a rounding did to a tensor. amax / amin_nz are over the finite fp32 inputs
 * (amin_nz = smallest nonzero magnitude, 0 when there is none). */
typedef struct {
    float amax;
    float amin_nz;
    uint64_t count;     /* elements seen */
    uint64_t overflow;  /* finite in fp32, Inf after rounding */
    uint64_t underflow; /* nonzero in fp32, zero after rounding */
    uint64_t nonfinite; /* Inf or NaN already in the input */
} num_stats;

void num_stats_reset(num_stats *st);
void num_stats_merge(num_stats *into, const num_stats *from);

/* Round fp32 values to dt and back to fp32 (dst may equal src). DT_F32 copies.
 * When st is non-NULL the counts of this call are ADDED to it (reset it yourself). */
void num_round(float *dst, const float *src, size_t n, dtype_t dt, num_stats *st);
float num_round1(float x, dtype_t dt);
/* 1 when num_round(dst, x, n, dt, NULL) would give back x bit for bit (every value already
 * stored in dt, NaN payloads included), so a reader may skip the rounded copy; 0 as soon as
 * one value would change. DT_F32: 1. Reads only, stops at the first changed value. */
int num_is_exact(const float *x, size_t n, dtype_t dt);

/* Force the portable (non-SIMD) path, for tests and benchmarks; returns the old value. */
int num_set_portable(int portable);
/* 1 when the SIMD fp16 path (F16C) is in use. */
int num_has_f16c(void);

#endif
