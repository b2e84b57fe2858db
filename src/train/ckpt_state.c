/* ckpt_state.c — trainer_state.json and config.json of a checkpoint: JSON written with jansson,
 * and read back with every field validated (what is wrong, where, what to do). */
#include "ckpt_state.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errfmt.h"

#define STATE_VERSION 1
_Static_assert(STATE_VERSION == 1, "the 'version' field's message says 'is not 1'");

/* ================= JSON writing ================= */

/* JSON has no NaN / Inf: NaN (= "none") is null, infinities are strings. Finite doubles are
 * printed with 17 significant digits by jansson, so they read back bit-identical. */
static json_t *jdouble(double v)
{
    if (isnan(v)) return json_null();
    if (isinf(v)) return json_string(v > 0 ? "Infinity" : "-Infinity");
    return json_real(v);
}

/* A fixed-size char field (at most size - 1 bytes used, as when it was always NUL-ended). Text
 * from outside (a user's override pattern) may not be UTF-8, which JSON strings must be: such
 * bytes become '?' rather than the field going missing. */
static json_t *jstr(const char *s, size_t size)
{
    char buf[256];
    _Static_assert(sizeof buf >= sizeof((cfg_override *)0)->pattern &&
                   sizeof buf >= sizeof((scaler *)0)->first_nonfinite &&
                   sizeof buf >= sizeof((metric_row *)0)->replica, "every text field fits");
    snprintf(buf, sizeof buf, "%.*s", (int)(size - 1), s);
    json_t *v = json_string(buf);
    if (v) return v;
    for (size_t i = 0; buf[i]; i++) buf[i] = (buf[i] & 0x80) ? '?' : buf[i];
    return json_string(buf);
}

static json_t *jrng(const rng_state *r)
{
    json_t *a = json_array();
    char hex[24];
    for (int i = 0; i < 4; i++) {
        snprintf(hex, sizeof hex, "0x%016" PRIx64, r->s[i]);
        json_array_append_new(a, json_string(hex));
    }
    return a;
}

static json_t *jscaler(const scaler *s)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                     "enabled", json_boolean(s->enabled), "dynamic", json_boolean(s->dynamic),
                     "scale", jdouble(s->scale), "growth_factor", jdouble(s->growth_factor),
                     "backoff_factor", jdouble(s->backoff_factor),
                     "min_scale", jdouble(s->min_scale),
                     "growth_interval", json_integer(s->growth_interval),
                     "growth_tracker", json_integer(s->growth_tracker),
                     "overflow_total", json_integer(s->overflow_total),
                     "overflow_window", json_integer(s->overflow_window),
                     "last_overflow_step", json_integer(s->last_overflow_step),
                     "first_nonfinite", jstr(s->first_nonfinite, sizeof s->first_nonfinite));
}

static json_t *jint_or_null(int64_t v) { return v < 0 ? json_null() : json_integer(v); }

/* One log_history entry: the metrics.csv columns, empty cells as null. */
static json_t *jrow(const metric_row *r)
{
    return json_pack("{s:o, s:o, s:o, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                     "step", json_integer(r->step), "epoch", jdouble(r->epoch),
                     "time_s", jdouble(r->time_s), "kind", r->kind == MR_EVAL ? "eval" : "train",
                     "precision", dtype_name(r->precision), "loss", jdouble(r->loss),
                     "lr", jdouble(r->lr), "grad_norm", jdouble(r->grad_norm),
                     "loss_scale", jdouble(r->loss_scale), "overflow", jint_or_null(r->overflow),
                     "overflow_total", jint_or_null(r->overflow_total),
                     "tokens_per_s", jdouble(r->tokens_per_s), "eval_loss", jdouble(r->eval_loss),
                     "eval_ppl", jdouble(r->eval_ppl),
                     "replica", jstr(r->replica, sizeof r->replica));
}

static json_t *jwindow(const ckpt_window *w)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o}", "loss_sum", jdouble(w->loss_sum),
                     "loss_n", json_integer(w->loss_n), "steps", json_integer(w->steps),
                     "tokens", json_integer(w->tokens), "time_s", jdouble(w->time_s));
}

char *ckpt_state_to_json(const ckpt_state *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "format", json_string("mptui-trainer-state"));
    json_object_set_new(o, "version", json_integer(STATE_VERSION));
    json_object_set_new(o, "global_step", json_integer(st->global_step));
    json_object_set_new(o, "epoch", jdouble(st->epoch));
    json_object_set_new(o, "elapsed_s", jdouble(st->elapsed_s));
    json_object_set_new(o, "tokens_seen", json_integer((json_int_t)st->tokens_seen));
    json_object_set_new(o, "optim_t", json_integer(st->optim_t));
    json_object_set_new(o, "mode", json_string(dtype_name(st->mode)));
    json_t *ov = json_array();
    for (int i = 0; i < st->n_overrides && i < CFG_MAX_OVERRIDES; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "pattern", jstr(st->overrides[i].pattern,
                                                sizeof st->overrides[i].pattern));
        int dt = st->overrides[i].dtype;
        json_object_set_new(e, "dtype", dt < 0 ? json_null() : json_string(dtype_name(dt)));
        json_array_append_new(ov, e);
    }
    json_object_set_new(o, "overrides", ov);
    json_object_set_new(o, "scaler", jscaler(&st->sc));
    json_object_set_new(o, "data_rng", jrng(&st->data_rng));
    json_object_set_new(o, "sample_rng", jrng(&st->sample_rng));
    json_object_set_new(o, "best_metric", jdouble(st->best_metric));
    json_object_set_new(o, "best_step", json_integer(st->best_step));
    if (st->win.known) json_object_set_new(o, "log_window", jwindow(&st->win));
    json_t *lh = json_array();
    for (size_t i = 0; i < st->n_log; i++) json_array_append_new(lh, jrow(&st->log_history[i]));
    json_object_set_new(o, "log_history", lh);
    char *s = json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

char *ckpt_config_to_json(const gpt_config *c)
{
    json_t *o = json_object(), *arch = json_array();
    json_array_append_new(arch, json_string("GPT2LMHeadModel"));
    json_object_set_new(o, "architectures", arch);
    json_object_set_new(o, "model_type", json_string("gpt2"));
    json_object_set_new(o, "n_layer", json_integer(c->n_layer));
    json_object_set_new(o, "n_head", json_integer(c->n_head));
    json_object_set_new(o, "n_embd", json_integer(c->n_embd));
    json_object_set_new(o, "n_positions", json_integer(c->block_size));
    json_object_set_new(o, "n_ctx", json_integer(c->block_size));
    json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
    json_object_set_new(o, "n_inner", json_null());
    json_object_set_new(o, "activation_function", json_string("gelu_new"));
    json_object_set_new(o, "layer_norm_epsilon", json_real(1e-5));
    json_object_set_new(o, "initializer_range", json_real(0.02));
    json_object_set_new(o, "resid_pdrop", json_real(0.0));
    json_object_set_new(o, "embd_pdrop", json_real(0.0));
    json_object_set_new(o, "attn_pdrop", json_real(0.0));
    json_object_set_new(o, "scale_attn_weights", json_true());
    json_object_set_new(o, "tie_word_embeddings", json_true());
    json_object_set_new(o, "use_cache", json_true());
    json_object_set_new(o, "bos_token_id", json_integer(c->vocab_size - 1));
    json_object_set_new(o, "eos_token_id", json_integer(c->vocab_size - 1));
    json_object_set_new(o, "torch_dtype", json_string("float32"));
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

/* ================= JSON reading ================= */

/* Where a field lives, for messages: "<file>: field 'scaler.scale' ...". */
typedef struct {
    const char *file;
    char *err;
    size_t errlen;
} jctx;

static int jfail(jctx *c, const char *path, const char *key, const char *what)
{
    errfmt(c->err, c->errlen, "%s: field '%s%s%s' %s", c->file, path, path[0] ? "." : "", key,
           what);
    return -1;
}

/* A value that parses but cannot be right: what it is, what it must be, what to do. */
static int jbad(jctx *c, const char *path, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int jbad(jctx *c, const char *path, const char *key, const char *fmt, ...)
{
    char what[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    errfmt(c->err, c->errlen, "%s: field '%s%s%s' %s; the checkpoint is damaged or was edited: "
           "resume from another checkpoint", c->file, path, path[0] ? "." : "", key, what);
    return -1;
}

/* A double as its JSON text says it: null for NaN. */
static const char *num_text(double v, char *buf, size_t len)
{
    if (isnan(v)) snprintf(buf, len, "null");
    else snprintf(buf, len, "%g", v);
    return buf;
}

static json_t *jfield(jctx *c, json_t *obj, const char *path, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!v) jfail(c, path, key, "missing");
    return v;
}

static int rd_int(jctx *c, json_t *obj, const char *path, const char *key, int64_t lo, int64_t hi,
                  int64_t *out)
{
    json_t *v = jfield(c, obj, path, key);
    if (!v) return -1;
    if (!json_is_integer(v)) return jfail(c, path, key, "has the wrong type (expected an integer)");
    int64_t x = json_integer_value(v);
    if (x < lo && hi == INT64_MAX)
        return jbad(c, path, key, "is %lld, must be >= %lld", (long long)x, (long long)lo);
    if (x < lo || x > hi)
        return jbad(c, path, key, "is %lld, must be in [%lld, %lld]", (long long)x,
                    (long long)lo, (long long)hi);
    *out = x;
    return 0;
}

static int rd_i32(jctx *c, json_t *obj, const char *path, const char *key, int lo, int *out)
{
    int64_t x;
    if (rd_int(c, obj, path, key, lo, INT32_MAX, &x)) return -1;
    *out = (int)x;
    return 0;
}

/* number, null (NaN) or "Infinity" / "-Infinity" */
static int rd_double(jctx *c, json_t *obj, const char *path, const char *key, double *out)
{
    json_t *v = jfield(c, obj, path, key);
    if (!v) return -1;
    if (json_is_number(v)) *out = json_number_value(v);
    else if (json_is_null(v)) *out = NAN;
    else if (json_is_string(v) && !strcmp(json_string_value(v), "Infinity")) *out = INFINITY;
    else if (json_is_string(v) && !strcmp(json_string_value(v), "-Infinity")) *out = -INFINITY;
    else return jfail(c, path, key, "has the wrong type (expected a number)");
    return 0;
}

static int rd_float(jctx *c, json_t *obj, const char *path, const char *key, float *out)
{
    double d;
    if (rd_double(c, obj, path, key, &d)) return -1;
    if (isfinite(d) && fabs(d) > FLT_MAX) return jfail(c, path, key, "out of range for fp32");
    *out = (float)d;
    return 0;
}

static int rd_bool(jctx *c, json_t *obj, const char *path, const char *key, int *out)
{
    json_t *v = jfield(c, obj, path, key);
    if (!v) return -1;
    if (!json_is_boolean(v)) return jfail(c, path, key, "has the wrong type (expected true/false)");
    *out = json_is_true(v);
    return 0;
}

static int rd_str(jctx *c, json_t *obj, const char *path, const char *key, char *buf, size_t len)
{
    json_t *v = jfield(c, obj, path, key);
    if (!v) return -1;
    if (!json_is_string(v)) return jfail(c, path, key, "has the wrong type (expected a string)");
    if (json_string_length(v) >= len || strlen(json_string_value(v)) != json_string_length(v))
        return jfail(c, path, key, "too long");
    memcpy(buf, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int rd_dtype(jctx *c, json_t *obj, const char *path, const char *key, dtype_t *out)
{
    char s[16];
    if (rd_str(c, obj, path, key, s, sizeof s)) return -1;
    if (dtype_parse(s, out)) return jfail(c, path, key, "is not fp32, fp16, bf16 or fp8");
    return 0;
}

static int rd_rng(jctx *c, json_t *obj, const char *key, rng_state *r)
{
    json_t *v = jfield(c, obj, "", key);
    if (!v) return -1;
    if (!json_is_array(v) || json_array_size(v) != 4)
        return jfail(c, "", key, "has the wrong type (expected 4 hex strings)");
    for (size_t i = 0; i < 4; i++) {
        json_t *w = json_array_get(v, i);
        const char *s = json_string_value(w);
        char *end;
        if (!s || strncmp(s, "0x", 2) || !s[2] || strlen(s) > 18)
            return jfail(c, "", key, "has the wrong type (expected 4 hex strings)");
        errno = 0;
        uint64_t x = strtoull(s + 2, &end, 16);
        if (*end || errno) return jfail(c, "", key, "has the wrong type (expected 4 hex strings)");
        r->s[i] = x;
    }
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
        return jbad(c, "", key, "is all zero, a state xoshiro256** never reaches (it would "
                    "draw only zeros)");
    return 0;
}

/* The bounds of the command-line options that set these (config.c). */
static int check_scaler(jctx *c, const scaler *s)
{
    const char *p = "scaler";
    char b[32];
    if (!(isfinite(s->scale) && s->scale > 0))
        return jbad(c, p, "scale", "is %s, must be a finite number > 0",
                    num_text(s->scale, b, sizeof b));
    if (!(isfinite(s->growth_factor) && s->growth_factor > 1))
        return jbad(c, p, "growth_factor", "is %s, must be > 1 (as --growth_factor)",
                    num_text(s->growth_factor, b, sizeof b));
    if (!(s->backoff_factor > 0 && s->backoff_factor < 1))
        return jbad(c, p, "backoff_factor", "is %s, must be in (0, 1) (as --backoff_factor)",
                    num_text(s->backoff_factor, b, sizeof b));
    if (!(isfinite(s->min_scale) && s->min_scale >= 0))
        return jbad(c, p, "min_scale", "is %s, must be >= 0 (as --min_loss_scale)",
                    num_text(s->min_scale, b, sizeof b));
    if (s->growth_interval < 1 || s->growth_interval > (1 << 30))
        return jbad(c, p, "growth_interval", "is %d, must be in [1, %d] (as --growth_interval)",
                    s->growth_interval, 1 << 30);
    if (s->growth_tracker >= s->growth_interval)
        return jbad(c, p, "growth_tracker", "is %d, must be below growth_interval %d",
                    s->growth_tracker, s->growth_interval);
    return 0;
}

static int rd_scaler(jctx *c, json_t *obj, scaler *s)
{
    json_t *o = jfield(c, obj, "", "scaler");
    if (!o) return -1;
    if (!json_is_object(o)) return jfail(c, "", "scaler", "has the wrong type (expected an object)");
    const char *p = "scaler";
    int64_t ot, ow, lo;
    memset(s, 0, sizeof *s);
    if (rd_bool(c, o, p, "enabled", &s->enabled) || rd_bool(c, o, p, "dynamic", &s->dynamic) ||
        rd_float(c, o, p, "scale", &s->scale) ||
        rd_float(c, o, p, "growth_factor", &s->growth_factor) ||
        rd_float(c, o, p, "backoff_factor", &s->backoff_factor) ||
        rd_float(c, o, p, "min_scale", &s->min_scale) ||
        rd_i32(c, o, p, "growth_interval", INT32_MIN, &s->growth_interval) ||
        rd_i32(c, o, p, "growth_tracker", 0, &s->growth_tracker) ||
        rd_int(c, o, p, "overflow_total", 0, INT64_MAX, &ot) ||
        rd_int(c, o, p, "overflow_window", 0, INT64_MAX, &ow) ||
        rd_int(c, o, p, "last_overflow_step", -1, INT64_MAX, &lo) ||
        rd_str(c, o, p, "first_nonfinite", s->first_nonfinite, sizeof s->first_nonfinite))
        return -1;
    s->overflow_total = ot;
    s->overflow_window = ow;
    s->last_overflow_step = lo;
    return check_scaler(c, s);
}

static int rd_overrides(jctx *c, json_t *obj, ckpt_state *st)
{
    json_t *a = jfield(c, obj, "", "overrides");
    if (!a) return -1;
    if (!json_is_array(a)) return jfail(c, "", "overrides", "has the wrong type (expected an array)");
    if (json_array_size(a) > CFG_MAX_OVERRIDES) return jfail(c, "", "overrides", "has too many entries");
    st->n_overrides = (int)json_array_size(a);
    for (int i = 0; i < st->n_overrides; i++) {
        char path[32];
        snprintf(path, sizeof path, "overrides[%d]", i);
        json_t *e = json_array_get(a, (size_t)i);
        cfg_override *o = &st->overrides[i];
        if (!json_is_object(e)) return jfail(c, "", path, "has the wrong type (expected an object)");
        if (rd_str(c, e, path, "pattern", o->pattern, sizeof o->pattern)) return -1;
        json_t *d = jfield(c, e, path, "dtype");
        if (!d) return -1;
        dtype_t dt;
        if (json_is_null(d)) o->dtype = -1;
        else if (rd_dtype(c, e, path, "dtype", &dt)) return -1;
        else o->dtype = dt;
    }
    return 0;
}

static int rd_opt_int(jctx *c, json_t *obj, const char *path, const char *key, int64_t *out)
{
    json_t *v = jfield(c, obj, path, key);
    if (!v) return -1;
    if (json_is_null(v)) { *out = -1; return 0; }
    return rd_int(c, obj, path, key, 0, INT64_MAX, out);
}

static int rd_row(jctx *c, json_t *e, const char *p, metric_row *r)
{
    char kind[8];
    int64_t ov, ovt;
    memset(r, 0, sizeof *r);
    if (!json_is_object(e)) return jfail(c, "", p, "has the wrong type (expected an object)");
    if (rd_int(c, e, p, "step", INT64_MIN, INT64_MAX, &r->step) ||
        rd_double(c, e, p, "epoch", &r->epoch) || rd_double(c, e, p, "time_s", &r->time_s) ||
        rd_str(c, e, p, "kind", kind, sizeof kind) ||
        rd_dtype(c, e, p, "precision", &r->precision) || rd_double(c, e, p, "loss", &r->loss) ||
        rd_double(c, e, p, "lr", &r->lr) || rd_double(c, e, p, "grad_norm", &r->grad_norm) ||
        rd_double(c, e, p, "loss_scale", &r->loss_scale) ||
        rd_opt_int(c, e, p, "overflow", &ov) || rd_opt_int(c, e, p, "overflow_total", &ovt) ||
        rd_double(c, e, p, "tokens_per_s", &r->tokens_per_s) ||
        rd_double(c, e, p, "eval_loss", &r->eval_loss) ||
        rd_double(c, e, p, "eval_ppl", &r->eval_ppl) ||
        rd_str(c, e, p, "replica", r->replica, sizeof r->replica))
        return -1;
    if (!strcmp(kind, "train")) r->kind = MR_TRAIN;
    else if (!strcmp(kind, "eval")) r->kind = MR_EVAL;
    else return jfail(c, p, "kind", "is not \"train\" or \"eval\"");
    if (ov > 1) return jfail(c, p, "overflow", "out of range");
    r->overflow = (int)ov;
    r->overflow_total = ovt;
    return 0;
}

static int rd_history(jctx *c, json_t *obj, ckpt_state *st)
{
    json_t *a = jfield(c, obj, "", "log_history");
    if (!a) return -1;
    if (!json_is_array(a)) return jfail(c, "", "log_history", "has the wrong type (expected an array)");
    size_t n = json_array_size(a);
    st->log_history = n ? calloc(n, sizeof *st->log_history) : NULL;
    if (n && !st->log_history) return jfail(c, "", "log_history", "too large (out of memory)");
    st->n_log = n;
    for (size_t i = 0; i < n; i++) {
        char p[40];
        snprintf(p, sizeof p, "log_history[%zu]", i);
        if (rd_row(c, json_array_get(a, i), p, &st->log_history[i])) return -1;
    }
    return 0;
}

/* Optional: checkpoints written before the window was kept lack it (win.known = 0). */
static int rd_window(jctx *c, json_t *obj, ckpt_state *st)
{
    ckpt_window *w = &st->win;
    const char *p = "log_window";
    json_t *o = json_object_get(obj, p);
    memset(w, 0, sizeof *w);
    if (!o) return 0;
    if (!json_is_object(o)) return jfail(c, "", p, "has the wrong type (expected an object)");
    char b[32];
    if (rd_double(c, o, p, "loss_sum", &w->loss_sum) ||
        rd_int(c, o, p, "steps", 0, st->global_step, &w->steps) ||
        rd_int(c, o, p, "loss_n", 0, w->steps, &w->loss_n) ||
        rd_int(c, o, p, "tokens", 0, INT64_MAX, &w->tokens) ||
        rd_double(c, o, p, "time_s", &w->time_s))
        return -1;
    if (!isfinite(w->loss_sum))
        return jbad(c, p, "loss_sum", "is %s, must be finite (a sum of finite losses)",
                    num_text(w->loss_sum, b, sizeof b));
    if (!(isfinite(w->time_s) && w->time_s >= 0))
        return jbad(c, p, "time_s", "is %s, must be a finite number of seconds >= 0",
                    num_text(w->time_s, b, sizeof b));
    w->known = 1;
    return 0;
}

static int rd_state_fields(jctx *c, json_t *o, ckpt_state *st)
{
    char fmt[32];
    int64_t ver, ts;
    if (rd_str(c, o, "", "format", fmt, sizeof fmt)) return -1;
    if (strcmp(fmt, "mptui-trainer-state")) return jfail(c, "", "format", "is not mptui-trainer-state");
    if (rd_int(c, o, "", "version", 0, INT64_MAX, &ver)) return -1;
    if (ver != STATE_VERSION) return jfail(c, "", "version", "is not 1 (written by another version)");
    if (rd_int(c, o, "", "global_step", 0, INT64_MAX, &st->global_step) ||
        rd_double(c, o, "", "epoch", &st->epoch) || rd_double(c, o, "", "elapsed_s", &st->elapsed_s) ||
        rd_int(c, o, "", "tokens_seen", 0, INT64_MAX, &ts) ||
        rd_int(c, o, "", "optim_t", 0, INT64_MAX, &st->optim_t) ||
        rd_dtype(c, o, "", "mode", &st->mode) || rd_overrides(c, o, st) || rd_scaler(c, o, &st->sc) ||
        rd_rng(c, o, "data_rng", &st->data_rng) || rd_rng(c, o, "sample_rng", &st->sample_rng) ||
        rd_double(c, o, "", "best_metric", &st->best_metric) ||
        rd_int(c, o, "", "best_step", -1, INT64_MAX, &st->best_step))
        return -1;
    st->tokens_seen = (uint64_t)ts;
    char b[32];
    if (!(isfinite(st->elapsed_s) && st->elapsed_s >= 0))
        return jbad(c, "", "elapsed_s", "is %s, must be a finite number of seconds >= 0",
                    num_text(st->elapsed_s, b, sizeof b));
    if (st->optim_t > st->global_step)
        return jbad(c, "", "optim_t", "is %lld, beyond global_step %lld (AdamW steps at most "
                    "once per step)", (long long)st->optim_t, (long long)st->global_step);
    if (rd_window(c, o, st)) return -1;
    return rd_history(c, o, st);
}

static json_t *parse_object(const char *text, size_t len, const char *label, char *err,
                            size_t errlen)
{
    json_error_t je;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        errfmt(err, errlen, "%s: malformed JSON (line %d: %s)", label, je.line, je.text);
        return NULL;
    }
    if (!json_is_object(o)) {
        errfmt(err, errlen, "%s: JSON is not an object", label);
        json_decref(o);
        return NULL;
    }
    return o;
}

int ckpt_state_from_json(const char *text, size_t len, const char *label, ckpt_state *st,
                         char *err, size_t errlen)
{
    json_t *o = parse_object(text, len, label, err, errlen);
    if (!o) return -1;
    ckpt_state tmp;
    memset(&tmp, 0, sizeof tmp);
    jctx c = {label, err, errlen};
    int rc = rd_state_fields(&c, o, &tmp);
    json_decref(o);
    if (rc) {
        ckpt_state_free(&tmp);
        return -1;
    }
    *st = tmp;
    return 0;
}

int ckpt_config_from_json(const char *text, size_t len, const char *label, gpt_config *cfg,
                          char *err, size_t errlen)
{
    json_t *o = parse_object(text, len, label, err, errlen);
    if (!o) return -1;
    jctx c = {label, err, errlen};
    char mt[32];
    gpt_config g;
    int rc = -1;
    if (rd_str(&c, o, "", "model_type", mt, sizeof mt)) goto out;
    if (strcmp(mt, "gpt2")) { jfail(&c, "", "model_type", "is not \"gpt2\""); goto out; }
    if (rd_i32(&c, o, "", "n_layer", 1, &g.n_layer) || rd_i32(&c, o, "", "n_head", 1, &g.n_head) ||
        rd_i32(&c, o, "", "n_embd", 1, &g.n_embd) ||
        rd_i32(&c, o, "", "n_positions", 1, &g.block_size) ||
        rd_i32(&c, o, "", "vocab_size", 1, &g.vocab_size))
        goto out;
    *cfg = g;
    rc = 0;
out:
    json_decref(o);
    return rc;
}

void ckpt_state_free(ckpt_state *st)
{
    if (!st) return;
    free(st->log_history);
    st->log_history = NULL;
    st->n_log = 0;
    free(st->fp8);
    st->fp8 = NULL;
    st->fp8_n = 0;
}
