/* fp8.c — FP8 recipes (docs/fp8.md): how a per-tensor scale is chosen (delayed from an amax
 * history, current from the tensor itself), the histories' ring, and their checkpoint bytes. */
#include "fp8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const recipe_names[FP8_RECIPES] = {"delayed", "current", "mxfp8"};
static const char *const format_names[] = {"hybrid", "e4m3"};
static const char *const algo_names[] = {"max", "most_recent"};
static const char *const tensor_names[FP8_TENSORS] = {"input", "weight", "grad"};

void fp8_recipe_default(fp8_recipe *r)
{
    r->kind = FP8_DELAYED;
    r->format = FP8_HYBRID;
    r->history_len = 1024;
    r->algo = FP8_AMAX_MAX;
    r->margin = 0;
}

static const char *name_of(const char *const *names, int n, int v)
{
    return v >= 0 && v < n ? names[v] : "?";
}

static int parse_in(const char *const *names, int n, const char *s, int *out)
{
    for (int i = 0; s && i < n; i++)
        if (!strcasecmp(s, names[i])) {
            *out = i;
            return 0;
        }
    return -1;
}

const char *fp8_recipe_name(fp8_recipe_kind k) { return name_of(recipe_names, FP8_RECIPES, (int)k); }
const char *fp8_format_mode_name(fp8_format_mode f) { return name_of(format_names, 2, (int)f); }
const char *fp8_algo_name(fp8_amax_algo a) { return name_of(algo_names, 2, (int)a); }
const char *fp8_tensor_name(fp8_tensor t) { return name_of(tensor_names, FP8_TENSORS, (int)t); }

int fp8_recipe_parse(const char *s, fp8_recipe_kind *out)
{
    int v;
    if (parse_in(recipe_names, FP8_RECIPES, s, &v)) return -1;
    *out = (fp8_recipe_kind)v;
    return 0;
}

int fp8_format_mode_parse(const char *s, fp8_format_mode *out)
{
    int v;
    if (parse_in(format_names, 2, s, &v)) return -1;
    *out = (fp8_format_mode)v;
    return 0;
}

int fp8_algo_parse(const char *s, fp8_amax_algo *out)
{
    int v;
    if (parse_in(algo_names, 2, s, &v)) return -1;
    *out = (fp8_amax_algo)v;
    return 0;
}

fp8_format fp8_format_of(fp8_format_mode f, fp8_tensor t)
{
    return f == FP8_HYBRID && t == FP8_T_GRAD ? FP8_E5M2 : FP8_E4M3;
}

/* TE's _default_sf_compute: sf = (fp8_max / amax) / 2^margin, kept when amax is 0 or not
 * finite. In fp32 as TE's tensors are; a scale that overflows fp32 (a tiny amax) keeps prev
 * too, since an infinite scale would turn every cast into a saturation. */
float fp8_scale_from_amax(float amax, fp8_format f, int margin, float prev)
{
    if (!(amax > 0.0f) || !isfinite(amax)) return prev;
    float sf = num_fp8_max(f) / amax;
    sf = sf / ldexpf(1.0f, margin);
    return isfinite(sf) && sf > 0.0f ? sf : prev;
}

static size_t n_meta(const fp8_state *s) { return (size_t)s->n_rows * FP8_TENSORS; }

int fp8_state_init(fp8_state *s, int n_rows, const fp8_recipe *r)
{
    memset(s, 0, sizeof *s);
    s->r = *r;
    if (s->r.history_len < 1) s->r.history_len = 1;
    s->n_rows = n_rows > 0 ? n_rows : 0;
    size_t nm = n_meta(s);
    s->meta = calloc(nm ? nm : 1, sizeof *s->meta);
    s->hist = calloc(nm ? nm * (size_t)s->r.history_len : 1, sizeof *s->hist);
    if (!s->meta || !s->hist) {
        fp8_state_free(s);
        return -1;
    }
    for (size_t i = 0; i < nm; i++) s->meta[i].scale = s->meta[i].used_scale = 1.0f;
    return 0;
}

void fp8_state_free(fp8_state *s)
{
    free(s->meta);
    free(s->hist);
    s->meta = NULL;
    s->hist = NULL;
    s->n_rows = 0;
}

int fp8_state_copy(fp8_state *dst, const fp8_state *src)
{
    fp8_state t;
    if (fp8_state_init(&t, src->n_rows, &src->r)) return -1;
    size_t nm = n_meta(src);
    memcpy(t.meta, src->meta, nm * sizeof *t.meta);
    memcpy(t.hist, src->hist, nm * (size_t)src->r.history_len * sizeof *t.hist);
    t.pos = src->pos;
    t.steps = src->steps;
    t.recording = src->recording;
    fp8_state_free(dst);
    *dst = t;
    return 0;
}

static int valid(const fp8_state *s, int row, fp8_tensor t)
{
    return s && s->meta && row >= 0 && row < s->n_rows && (unsigned)t < FP8_TENSORS;
}

float fp8_scale_for(const fp8_state *s, int row, fp8_tensor t, float amax_now)
{
    if (!valid(s, row, t) || s->r.kind == FP8_MXFP8) return 1.0f;
    if (s->r.kind == FP8_CURRENT)
        return fp8_scale_from_amax(amax_now, fp8_format_of(s->r.format, t), s->r.margin, 1.0f);
    return s->meta[fp8_index(row, t)].scale;
}

void fp8_record(fp8_state *s, int row, fp8_tensor t, float amax, float scale)
{
    if (!valid(s, row, t) || !s->recording) return;
    fp8_meta *m = &s->meta[fp8_index(row, t)];
    /* NaN never enters a history (max would keep it for history_len steps) */
    if (isfinite(amax) && (!m->seen || amax > m->step_amax)) m->step_amax = amax;
    m->seen = 1;
    m->used_scale = scale;
}

void fp8_step_begin(fp8_state *s)
{
    for (size_t i = 0; s->meta && i < n_meta(s); i++) {
        s->meta[i].step_amax = 0.0f;
        s->meta[i].seen = 0;
    }
    s->recording = 1;
}

static float *hist_of(const fp8_state *s, size_t i) { return s->hist + i * (size_t)s->r.history_len; }

static float ring_max(const fp8_state *s, size_t i)
{
    const float *h = hist_of(s, i);
    float a = 0.0f;
    for (int k = 0; k < s->r.history_len; k++) a = h[k] > a ? h[k] : a;
    return a;
}

void fp8_step_commit(fp8_state *s)
{
    if (!s->recording) return;
    for (size_t i = 0; i < n_meta(s); i++) {
        fp8_meta *m = &s->meta[i];
        float *h = hist_of(s, i);
        h[s->pos] = m->seen ? m->step_amax : 0.0f;
        m->hist_max = ring_max(s, i);
        /* a tensor not cast this step (its row left fp8) keeps its scale */
        if (!m->seen || s->r.kind != FP8_DELAYED) continue;
        float amax = s->r.algo == FP8_AMAX_MOST_RECENT ? h[s->pos] : m->hist_max;
        m->scale = fp8_scale_from_amax(amax, fp8_format_of(s->r.format, (fp8_tensor)(i % FP8_TENSORS)),
                                       s->r.margin, m->scale);
    }
    /* TE rolls the history after computing the scale: the slot now oldest is cleared for the
     * next step's amax */
    s->pos = (s->pos + 1) % s->r.history_len;
    for (size_t i = 0; i < n_meta(s); i++) hist_of(s, i)[s->pos] = 0.0f;
    s->steps++;
    s->recording = 0;
}

void fp8_step_abandon(fp8_state *s)
{
    for (size_t i = 0; s->meta && i < n_meta(s); i++) s->meta[i].seen = 0;
    s->recording = 0;
}

float fp8_history_max(const fp8_state *s, int row, fp8_tensor t)
{
    return valid(s, row, t) ? s->meta[fp8_index(row, t)].hist_max : 0.0f;
}

/* ---- checkpoint bytes ---- */

#define FP8_MAGIC "MPTFP8\1\0"
enum { FP8_HEADER = 8 + 7 * 4 + 8 };

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_f32(uint8_t *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    put_u32(p, u);
}

static float get_f32(const uint8_t *p)
{
    uint32_t u = get_u32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

size_t fp8_state_bytes(const fp8_state *s)
{
    return FP8_HEADER + n_meta(s) * 4 * (1 + (size_t)s->r.history_len);
}

/* Layout: magic, n_rows, kind, format, history_len, algo, margin (i32), pos, steps (u64);
 * then per meta its scale; then per meta its history oldest first. */
void fp8_state_write(const fp8_state *s, uint8_t *out)
{
    memcpy(out, FP8_MAGIC, 8);
    uint32_t h[7] = {(uint32_t)s->n_rows, (uint32_t)s->r.kind, (uint32_t)s->r.format,
                     (uint32_t)s->r.history_len, (uint32_t)s->r.algo, (uint32_t)s->r.margin,
                     (uint32_t)s->pos};
    for (int i = 0; i < 7; i++) put_u32(out + 8 + 4 * i, h[i]);
    put_u32(out + 36, (uint32_t)s->steps);
    put_u32(out + 40, (uint32_t)((uint64_t)s->steps >> 32));
    uint8_t *p = out + FP8_HEADER;
    size_t nm = n_meta(s), L = (size_t)s->r.history_len;
    for (size_t i = 0; i < nm; i++, p += 4) put_f32(p, s->meta[i].scale);
    /* oldest first: the slot after pos (the one the next step overwrites is pos itself) */
    for (size_t i = 0; i < nm; i++)
        for (size_t k = 0; k < L; k++, p += 4)
            put_f32(p, hist_of(s, i)[(s->pos + 1 + k) % L]);
}

int fp8_state_read(fp8_state *s, const uint8_t *in, size_t n, char *err, size_t errlen)
{
    if (n < FP8_HEADER || memcmp(in, FP8_MAGIC, 8) != 0) {
        snprintf(err, errlen, "fp8 state: not an mptui fp8 state (%zu bytes)", n);
        return -1;
    }
    uint32_t rows = get_u32(in + 8), len = get_u32(in + 20), pos = get_u32(in + 32);
    if ((int)rows != s->n_rows) {
        snprintf(err, errlen, "fp8 state: %u precision rows, this model has %d", rows,
                 s->n_rows);
        return -1;
    }
    size_t nm = n_meta(s);
    if (len < 1 || pos >= len || n != FP8_HEADER + nm * 4 * (1 + (size_t)len)) {
        snprintf(err, errlen, "fp8 state: history of %u steps does not match its %zu bytes",
                 len, n);
        return -1;
    }
    const uint8_t *p = in + FP8_HEADER;
    for (size_t i = 0; i < nm; i++, p += 4) {
        s->meta[i].scale = get_f32(p);
        s->meta[i].used_scale = s->meta[i].scale;
    }
    /* newest slots last in the file; ours end at slot L-1 with pos = 0 next: keep the newest
     * min(len, L) and zero the rest */
    size_t L = (size_t)s->r.history_len, keep = len < L ? len : L;
    for (size_t i = 0; i < nm; i++) {
        float *h = hist_of(s, i);
        memset(h, 0, L * sizeof *h);
        const uint8_t *src = p + i * (size_t)len * 4 + ((size_t)len - keep) * 4;
        for (size_t k = 0; k < keep; k++) h[L - keep + k] = get_f32(src + 4 * k);
        s->meta[i].hist_max = ring_max(s, i);
    }
    s->pos = (int)(L - 1);
    s->steps = (int64_t)((uint64_t)get_u32(in + 36) | (uint64_t)get_u32(in + 40) << 32);
    s->recording = 0;
    return 0;
}
