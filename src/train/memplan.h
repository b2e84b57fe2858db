/* memplan.h — the memory plan of a run: every buffer a model allocates, grouped into rows by
 * role and dtype, with its bytes as stored and in fp32; the fit check (docs/memory.md). */
#ifndef MPTUI_MEMPLAN_H
#define MPTUI_MEMPLAN_H

#include <stddef.h>

#include "numerics.h"

/* What a buffer is for; a row of the table per kind and dtype, in this order. */
typedef enum {
    MEM_MASTER = 0, /* master weights */
    MEM_GRAD,       /* gradients as accumulated */
    MEM_ADAM_M,
    MEM_ADAM_V,
    MEM_WCOPY,      /* weight compute copies (idle where the policy reads the master) */
    MEM_ACT,        /* activations the backward reads */
    MEM_TOKENS,     /* input and target token ids */
    MEM_SCRATCH,    /* backward scratch, reused across blocks */
    MEM_WORKSPACE,  /* what the backend allocates for its ops (bk_workspace_bytes) */
    MEM_STAGING,    /* the host buffer a checkpoint load reads through (the largest tensor)
                     * while every buffer above exists; counted where host memory is the
                     * backend's (the CPU) */
    MEM_KIND_COUNT
} mem_kind;

/* A row's value type: a dtype_t, or token ids. */
#define MEM_DT_I32 DT_COUNT

#define MEM_MAX_ROWS 32

typedef struct {
    mem_kind kind;
    int dt;            /* dtype of the values (dtype_t, MEM_DT_I32); the policy's */
    int store;         /* dtype they are stored in: the value dtype (2 bytes for fp16/bf16),
                        * or fp32 for buffers the ops compute in (docs/memory.md) */
    int idle;          /* weight copies the policy does not read (fp32 rows) */
    size_t values;
    size_t bytes;      /* as stored */
    size_t fp32_bytes; /* the same values stored as fp32 */
} mem_row;

typedef struct {
    int n;
    mem_row rows[MEM_MAX_ROWS];
    size_t total, total_fp32;
} gpt_mem_plan;

/* Bytes of one value stored as dt (dtype_t or MEM_DT_I32). */
size_t mem_dt_bytes(int dt);
/* Adds `values` of dtype dt stored as fp32 (int32 for MEM_DT_I32) to the plan row of (kind,
 * dt, idle): a new row, or the existing one. */
void mem_plan_add(gpt_mem_plan *p, mem_kind kind, int dt, int idle, size_t values);
/* The same for values of dtype dt stored as `store` (dt itself for 16-bit storage). */
void mem_plan_add_stored(gpt_mem_plan *p, mem_kind kind, int dt, int store, size_t values);
/* Adds a row of raw bytes (backend workspace: fp32). */
void mem_plan_add_bytes(gpt_mem_plan *p, mem_kind kind, size_t bytes);
/* "master weights", "AdamW m", ... */
const char *mem_kind_name(mem_kind k);
/* "fp32" / "fp16" / "bf16" / "int32". */
const char *mem_dt_name(int dt);
/* "1.5 GiB", "12.0 MiB", "512 B". */
void mem_fmt_bytes(size_t b, char *buf, size_t len);

/* The table as text, one row a line, for --dry_run, the headless summary and tests; title
 * is the first line. available 0: no available line. */
void mem_plan_format(const gpt_mem_plan *p, const char *title, size_t available, char *out,
                     size_t outlen);

/* The peak of a plan at a batch size: how a caller sizes a run (a model's gpt_memory_plan
 * plus what else the run holds). 0 when the batch is not valid. */
typedef size_t (*mem_peak_fn)(void *ctx, int B);
/* The largest B in [1, B_max] whose peak fits in available (a peak grows with B); 0 when
 * even 1 does not fit. */
int mem_largest_batch(mem_peak_fn peak, void *ctx, int B_max, size_t available);

/* The refusal line when need > available: "memory: a <what> at batch B x T in <mode> needs
 * N, A available; --per_device_train_batch_size b fits (P)" or, when no batch fits, what to
 * do instead. fit_B 0: none fits. */
void mem_refusal(char *out, size_t outlen, const char *what, int B, int T, const char *mode,
                 size_t need, size_t available, int fit_B, size_t fit_need);

#endif
