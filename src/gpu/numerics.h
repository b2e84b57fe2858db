/* numerics.h — fp32 <-> fp16 / bf16 conversion, bit-exact round-to-nearest-even,
 * and the round-through used for emulation, with counters of what rounding lost. */
#ifndef MPTUI_NUMERICS_H
#define MPTUI_NUMERICS_H

#include <stddef.h>
#include <stdint.h>

/* Adding a format: a value here, its row in numerics.c (dtype_table), and its rounding
 * (scalar conversions + the half_formats entry there). Config, keys, the screen and the
 * compare picker read the row. */
/* DT_FP8 is a mode, never a storage dtype: under it a Linear layer's GEMM inputs are cast to
 * FP8 with a per-tensor scale (src/train/fp8.h, docs/fp8.md) and everything else follows the
 * bf16 policy, so no op is ever handed DT_FP8 (num_round treats it as a copy). */
typedef enum { DT_F32 = 0, DT_F16 = 1, DT_BF16 = 2, DT_FP8 = 3, DT_COUNT = 4 } dtype_t;

/* How the screen tells formats apart; the UI maps a role to a colour (this layer knows no
 * terminal). */
typedef enum { DT_ROLE_FULL = 0, DT_ROLE_HALF, DT_ROLE_BRAIN, DT_ROLE_FP8, DT_ROLE_COUNT } dtype_role;

/* Longest label ("FP32"): the precision map gives a dtype this many columns. */
#define DT_LABEL_MAX 4

typedef struct {
    const char *name;    /* "fp32": options, CSV columns, checkpoints */
    const char *alias;   /* "float32": also accepted on input */
    const char *label;   /* "FP32": the screen and its messages */
    int bits, mant_bits, exp_bits; /* storage bits; explicit mantissa and exponent bits */
    dtype_role role;
    dtype_t next;        /* the m key's cycle: fp32 -> fp16 -> bf16 -> fp8 -> fp32 */
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

/* ---- FP8 (docs/numerics.md, "FP8") ----
 * OCP FP8: E4M3 (bias 7, max 448, no infinities, S.1111.111 is NaN) and E5M2 (bias 15, max
 * 57344, IEEE-like: infinities and NaNs). Conversions round to nearest even, subnormals kept.
 * saturate 0: out of range gives NaN (E4M3) or Inf (E5M2), as a plain cast;
 * saturate 1: finite values and infinities beyond the maximum become +-max (CUDA's
 * __NV_SATFINITE, what Transformer Engine casts with); NaN stays NaN.
 * Out of range means |x| > 464 (E4M3; the tie at 464 goes to 448) or |x| >= 61440 (E5M2; the
 * tie at 61440 goes up), as __nv_cvt_float_to_fp8. A NaN keeps its sign (E5M2: quiet, with
 * the top payload bit). A format value other than FP8_E5M2 converts as FP8_E4M3. */
typedef enum { FP8_E4M3 = 0, FP8_E5M2 = 1, FP8_FORMATS = 2 } fp8_format;
/* The operand of an FP8 GEMM whose values are already dequantized fp32 (MXFP8 emulation). */
#define FP8_DEQUANTIZED (-1)

uint8_t num_f32_to_e4m3(float x, int saturate);
float num_e4m3_to_f32(uint8_t b);
uint8_t num_f32_to_e5m2(float x, int saturate);
float num_e5m2_to_f32(uint8_t b);
uint8_t num_f32_to_fp8(float x, fp8_format f, int saturate);
float num_fp8_to_f32(uint8_t b, fp8_format f);
/* 448 / 57344; 0 for an invalid format. */
float num_fp8_max(fp8_format f);
/* "e4m3" / "e5m2"; "?" otherwise. */
const char *num_fp8_name(fp8_format f);

/* Per-tensor scaled cast, as Transformer Engine's: dst[i] = the fp8 value (decoded to fp32,
 * exact) of src[i] * scale, saturating. dst holds values in the scaled domain; the GEMM that
 * reads them multiplies its accumulator by 1 / (scale_a scale_b). dst may equal src.
 * st (may be NULL) gets ADDED: amax / amin_nz over the finite |src[i]| (unscaled: what an amax
 * history records), count, overflow = finite src whose scaled value saturated (rounded above
 * the maximum, or src * scale overflowed fp32), underflow = nonzero src that became zero,
 * nonfinite = Inf / NaN in src. */
void num_fp8_quantize(float *dst, const float *src, size_t n, fp8_format f, float scale,
                      num_stats *st);

/* MXFP8 (OCP Microscaling): blocks of MX_BLOCK consecutive values along the reduction
 * dimension share a power-of-two E8M0 scale. src is a (rows, cols) row-major matrix; along 1:
 * blocks run along a row (cols contiguous values, the last block of a row may be short);
 * along 0: blocks run down a column (rows values, stride cols). A block's scale is 2^e with
 * e = num_mx_exponent(its amax): Transformer Engine's rounding up, so no finite value
 * saturates. dst[i] = fp8(src[i] * 2^-e) * 2^e: the dequantized value, exact in fp32, so an
 * fp32 GEMM on dst is the block-scaled GEMM up to summation order. dst may equal src. st as
 * num_fp8_quantize (amax unscaled; overflow: a finite value that saturated, or whose
 * dequantized value passed fp32's maximum, only |x| >= 1.875 2^127: Inf). Inf in a block
 * becomes the block's +-max 2^e, NaN stays NaN. An along other than 0 means 1; rows or cols
 * <= 0: nothing. */
#define MX_BLOCK 32
void num_mx_quantize(float *dst, const float *src, int rows, int cols, int along,
                     fp8_format f, num_stats *st);
/* The E8M0 exponent of a block whose largest finite magnitude is amax: the exponent of
 * amax * fp32(1 / max) rounded up to a power of two (exact powers of two kept), clamped to
 * E8M0's [-127, 127]; -127 for amax 0. The sign of amax is ignored; Inf / NaN give 127. */
int num_mx_exponent(float amax, fp8_format f);

/* Force the portable (non-SIMD) path, for tests and benchmarks; returns the old value. */
int num_set_portable(int portable);
/* 1 when the SIMD fp16 path (F16C) is in use. */
int num_has_f16c(void);

#endif
