/* memplan.c — memory plan rows, the table as text, the largest batch that fits and the
 * one-line refusal (docs/memory.md). The buffers themselves are model.c's list. */
#include "memplan.h"

#include <stdio.h>
#include <string.h>

size_t mem_dt_bytes(int dt)
{
    if (dt == MEM_DT_I32) return 4;
    const dtype_info *d = dtype_info_of((dtype_t)dt);
    return d ? (size_t)d->bits / 8 : 4;
}

static int row_before(const mem_row *a, mem_kind kind, int dt, int store, int idle)
{
    if (a->kind != kind) return a->kind < kind;
    if (a->idle != idle) return a->idle < idle;
    if (a->dt != dt) return a->dt < dt;
    return a->store < store;
}

static mem_row *row_for(gpt_mem_plan *p, mem_kind kind, int dt, int store, int idle)
{
    int i = 0;
    while (i < p->n && row_before(&p->rows[i], kind, dt, store, idle)) i++;
    if (i < p->n && p->rows[i].kind == kind && p->rows[i].dt == dt &&
        p->rows[i].store == store && p->rows[i].idle == idle)
        return &p->rows[i];
    if (p->n == MEM_MAX_ROWS) return NULL; /* cannot happen: the model makes < 20 rows */
    memmove(&p->rows[i + 1], &p->rows[i], (size_t)(p->n - i) * sizeof p->rows[0]);
    p->n++;
    mem_row *r = &p->rows[i];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->dt = dt;
    r->store = store;
    r->idle = idle;
    return r;
}

void mem_plan_add_stored(gpt_mem_plan *p, mem_kind kind, int dt, int store, size_t values)
{
    mem_row *r = row_for(p, kind, dt, store, 0);
    if (!r) return;
    size_t bytes = values * mem_dt_bytes(store), f32 = values * 4;
    r->values += values;
    r->bytes += bytes;
    r->fp32_bytes += f32;
    p->total += bytes;
    p->total_fp32 += f32;
}

void mem_plan_add(gpt_mem_plan *p, mem_kind kind, int dt, int idle, size_t values)
{
    mem_row *r = row_for(p, kind, dt, dt == MEM_DT_I32 ? MEM_DT_I32 : DT_F32, idle);
    if (!r) return;
    size_t bytes = values * mem_dt_bytes(r->store), f32 = values * 4;
    r->values += values;
    r->bytes += bytes;
    r->fp32_bytes += f32;
    p->total += bytes;
    p->total_fp32 += f32;
}

void mem_plan_add_bytes(gpt_mem_plan *p, mem_kind kind, size_t bytes)
{
    if (!bytes) return;
    mem_plan_add(p, kind, DT_F32, 0, (bytes + 3) / 4);
}

const char *mem_kind_name(mem_kind k)
{
    static const char *names[MEM_KIND_COUNT] = {
        "master weights", "gradients", "AdamW m", "AdamW v", "weight copies", "activations",
        "token ids", "backward scratch", "backend workspace", "checkpoint staging",
    };
    return (unsigned)k < MEM_KIND_COUNT ? names[k] : "?";
}

const char *mem_dt_name(int dt) { return dt == MEM_DT_I32 ? "int32" : dtype_name((dtype_t)dt); }

void mem_fmt_bytes(size_t b, char *buf, size_t len)
{
    double v = (double)b;
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (v >= 1024 && i < 4) v /= 1024, i++;
    snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static size_t append(char *out, size_t outlen, size_t k, const char *fmt, const char *a,
                     const char *b, const char *c, const char *d, const char *e)
{
    if (k >= outlen) return k;
    int w = snprintf(out + k, outlen - k, fmt, a, b, c, d, e);
    return w < 0 ? k : k + (size_t)w;
}

void mem_plan_format(const gpt_mem_plan *p, const char *title, size_t available, char *out,
                     size_t outlen)
{
    static const char *row_fmt = "  %-26s %-5s %-6s %10s %11s\n";
    char by[32], f32[32], name[40];
    size_t k = 0;
    if (!outlen) return;
    out[0] = '\0';
    k = append(out, outlen, k, "%s%s%s%s%s\n", title, "", "", "", "");
    k = append(out, outlen, k, row_fmt, "buffer", "dtype", "stored", "bytes", "fp32-equiv");
    for (int i = 0; i < p->n; i++) {
        const mem_row *r = &p->rows[i];
        snprintf(name, sizeof name, "%s%s", mem_kind_name(r->kind), r->idle ? " (idle)" : "");
        mem_fmt_bytes(r->bytes, by, sizeof by);
        mem_fmt_bytes(r->fp32_bytes, f32, sizeof f32);
        k = append(out, outlen, k, row_fmt, name, mem_dt_name(r->dt), mem_dt_name(r->store), by,
                   f32);
    }
    mem_fmt_bytes(p->total, by, sizeof by);
    mem_fmt_bytes(p->total_fp32, f32, sizeof f32);
    k = append(out, outlen, k, row_fmt, "total (peak)", "", "", by, f32);
    if (!available) return;
    char av[32];
    mem_fmt_bytes(available, av, sizeof av);
    append(out, outlen, k, "  peak %s, %s available: %s%s%s\n", by, av,
           p->total <= available ? "fits" : "does not fit", "", "");
}

int mem_largest_batch(mem_peak_fn peak, void *ctx, int B_max, size_t available)
{
    int lo = 0, hi = B_max; /* lo fits (0: none known), hi + 1 does not */
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        size_t need = peak(ctx, mid);
        if (need && need <= available) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

void mem_refusal(char *out, size_t outlen, const char *what, int B, int T, const char *mode,
                 size_t need, size_t available, int fit_B, size_t fit_need)
{
    char n[32], a[32], f[32];
    mem_fmt_bytes(need, n, sizeof n);
    mem_fmt_bytes(available, a, sizeof a);
    mem_fmt_bytes(fit_need, f, sizeof f);
    if (fit_B > 0)
        snprintf(out, outlen, "memory: a %s at batch %d x %d in %s needs %s, %s available; "
                 "--per_device_train_batch_size %d fits (%s)", what, B, T, mode, n, a, fit_B, f);
    else
        snprintf(out, outlen, "memory: a %s at batch %d x %d in %s needs %s, %s available; "
                 "even batch 1 needs %s: use a smaller model (--n_layer, --n_embd), a shorter "
                 "--block_size, or free memory", what, B, T, mode, n, a, f);
}
