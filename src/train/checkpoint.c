/* checkpoint.c — checkpoint directories: the JSON state and config (jansson, every field
 * validated on load), tensors through safetensors.c, atomic install, rotation, --init_from. */
#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <ftw.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "safetensors.h"

#define CKPT_PATH_MAX 4096
#define STATE_VERSION 1

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ================= JSON writing ================= */

/* JSON has no NaN / Inf: NaN (= "none") is null, infinities are strings. Finite doubles are
 * printed with 17 significant digits by jansson, so they read back bit-identical. */
static json_t *jdouble(double v)
{
    if (isnan(v)) return json_null();
    if (isinf(v)) return json_string(v > 0 ? "Infinity" : "-Infinity");
    return json_real(v);
}

/* Text from outside (a user's override pattern) may not be UTF-8, which JSON strings must be:
 * such bytes become '?' rather than the field going missing. */
static json_t *jstr(const char *s)
{
    json_t *v = json_string(s);
    if (v) return v;
    char buf[256];
    size_t i = 0;
    for (; s[i] && i + 1 < sizeof buf; i++) buf[i] = (s[i] & 0x80) ? '?' : s[i];
    buf[i] = 0;
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
    json_t *o = json_object();
    json_object_set_new(o, "enabled", json_boolean(s->enabled));
    json_object_set_new(o, "dynamic", json_boolean(s->dynamic));
    json_object_set_new(o, "scale", jdouble(s->scale));
    json_object_set_new(o, "growth_factor", jdouble(s->growth_factor));
    json_object_set_new(o, "backoff_factor", jdouble(s->backoff_factor));
    json_object_set_new(o, "min_scale", jdouble(s->min_scale));
    json_object_set_new(o, "growth_interval", json_integer(s->growth_interval));
    json_object_set_new(o, "growth_tracker", json_integer(s->growth_tracker));
    json_object_set_new(o, "overflow_total", json_integer(s->overflow_total));
    json_object_set_new(o, "overflow_window", json_integer(s->overflow_window));
    json_object_set_new(o, "last_overflow_step", json_integer(s->last_overflow_step));
    char nf[sizeof s->first_nonfinite];
    memcpy(nf, s->first_nonfinite, sizeof nf);
    nf[sizeof nf - 1] = 0;
    json_object_set_new(o, "first_nonfinite", jstr(nf));
    return o;
}

static json_t *jint_or_null(int64_t v) { return v < 0 ? json_null() : json_integer(v); }

/* One log_history entry: the metrics.csv columns, empty cells as null. */
static json_t *jrow(const metric_row *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "step", json_integer(r->step));
    json_object_set_new(o, "epoch", jdouble(r->epoch));
    json_object_set_new(o, "time_s", jdouble(r->time_s));
    json_object_set_new(o, "kind", json_string(r->kind == MR_EVAL ? "eval" : "train"));
    json_object_set_new(o, "precision", json_string(dtype_name(r->precision)));
    json_object_set_new(o, "loss", jdouble(r->loss));
    json_object_set_new(o, "lr", jdouble(r->lr));
    json_object_set_new(o, "grad_norm", jdouble(r->grad_norm));
    json_object_set_new(o, "loss_scale", jdouble(r->loss_scale));
    json_object_set_new(o, "overflow", jint_or_null(r->overflow));
    json_object_set_new(o, "overflow_total", jint_or_null(r->overflow_total));
    json_object_set_new(o, "tokens_per_s", jdouble(r->tokens_per_s));
    json_object_set_new(o, "eval_loss", jdouble(r->eval_loss));
    json_object_set_new(o, "eval_ppl", jdouble(r->eval_ppl));
    char rep[sizeof r->replica];
    memcpy(rep, r->replica, sizeof rep);
    rep[sizeof rep - 1] = 0;
    json_object_set_new(o, "replica", jstr(rep));
    return o;
}

static json_t *jwindow(const ckpt_window *w)
{
    json_t *o = json_object();
    json_object_set_new(o, "loss_sum", jdouble(w->loss_sum));
    json_object_set_new(o, "loss_n", json_integer(w->loss_n));
    json_object_set_new(o, "steps", json_integer(w->steps));
    json_object_set_new(o, "tokens", json_integer(w->tokens));
    json_object_set_new(o, "time_s", jdouble(w->time_s));
    return o;
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
        char pat[sizeof st->overrides[i].pattern];
        memcpy(pat, st->overrides[i].pattern, sizeof pat);
        pat[sizeof pat - 1] = 0;
        json_object_set_new(e, "pattern", jstr(pat));
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
    seterr(c->err, c->errlen, "%s: field '%s%s%s' %s", c->file, path, path[0] ? "." : "", key,
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
    seterr(c->err, c->errlen, "%s: field '%s%s%s' %s; the checkpoint is damaged or was edited: "
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
    if (dtype_parse(s, out)) return jfail(c, path, key, "is not fp32, fp16 or bf16");
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
        seterr(err, errlen, "%s: malformed JSON (line %d: %s)", label, je.line, je.text);
        return NULL;
    }
    if (!json_is_object(o)) {
        seterr(err, errlen, "%s: JSON is not an object", label);
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
}

/* ================= files ================= */

static int fsync_path(const char *path, int dir)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

static int write_text(const char *path, const char *text, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        seterr(err, errlen, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(text), done = 0;
    int rc = 0;
    while (done < len && !rc) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) { if (w == 0) errno = EIO; rc = -1; }
        else done += (size_t)w;
    }
    if (!rc) rc = fsync(fd);
    int e = errno;
    if (close(fd) && !rc) { rc = -1; e = errno; }
    if (rc) seterr(err, errlen, "%s: write failed: %s (disk full or not writable?)", path, strerror(e));
    return rc;
}

/* Whole small file into memory (NUL-terminated); NULL + err. */
static char *slurp(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    const char *kind = NULL;
    int fd = fsutil_open_regular(path, &kind); /* a FIFO would block the open itself */
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        if (fd == -2)
            seterr(err, errlen, "%s: is %s, not a regular file; a checkpoint holds regular "
                   "files only", path, kind);
        else seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    char *buf = NULL;
    struct stat sb;
    if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode) || (size_t)sb.st_size > max) {
        seterr(err, errlen, "%s: not a regular file or larger than %zu bytes", path, max);
        goto out;
    }
    buf = malloc((size_t)sb.st_size + 1);
    if (!buf) {
        seterr(err, errlen, "%s: out of memory", path);
        goto out;
    }
    *len = fread(buf, 1, (size_t)sb.st_size, f);
    if (*len != (size_t)sb.st_size) {
        seterr(err, errlen, "%s: read error", path);
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[*len] = 0;
out:
    fclose(f);
    return buf;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p) && errno != ENOENT ? -1 : 0;
}

static int rm_rf(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb)) return errno == ENOENT ? 0 : -1;
    return nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static int mkdir_p(const char *path)
{
    char tmp[CKPT_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
    struct stat sb;
    if (stat(tmp, &sb)) return -1;
    if (!S_ISDIR(sb.st_mode)) { errno = ENOTDIR; return -1; }
    return 0;
}

/* ================= tensors ================= */

static void shape_str(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < ndim && o < len; d++)
        o += (size_t)snprintf(buf + o, len - o, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

static int write_tensors(const char *path, gpt *m, const float *const *bufs,
                         const char *const *suffixes, int nbuf, char *err, size_t errlen)
{
    int nt = gpt_num_tensors(m);
    st_wtensor *ws = calloc((size_t)(nt * nbuf), sizeof *ws);
    char (*names)[GPT_NAME_MAX + 16] = calloc((size_t)(nt * nbuf), sizeof *names);
    int rc = -1;
    if (!ws || !names) {
        seterr(err, errlen, "%s: out of memory", path);
        goto out;
    }
    for (int i = 0; i < nt; i++)
        for (int b = 0; b < nbuf; b++) {
            const gpt_tensor *t = gpt_tensor_at(m, i);
            int k = i * nbuf + b;
            snprintf(names[k], sizeof names[k], "%s%s", t->name, suffixes[b]);
            ws[k] = (st_wtensor){.name = names[k], .dtype = ST_F32, .ndim = t->ndim,
                                 .data = bufs[b] + t->offset};
            for (int d = 0; d < t->ndim; d++) ws[k].shape[d] = t->shape[d];
        }
    rc = st_write(path, ws, nt * nbuf, err, errlen);
out:
    free(ws);
    free(names);
    return rc;
}

/* The tensor for model tensor t (+suffix), or, when allowed, its name without "transformer.". */
static const st_tensor *find_tensor(const st_file *f, const gpt_tensor *t, const char *suffix,
                                    int allow_bare, char *name, size_t len)
{
    snprintf(name, len, "%s%s", t->name, suffix);
    const st_tensor *s = st_find(f, name);
    const char *pre = "transformer.";
    if (!s && allow_bare && !strncmp(t->name, pre, strlen(pre))) {
        char bare[GPT_NAME_MAX + 16];
        snprintf(bare, sizeof bare, "%s%s", t->name + strlen(pre), suffix);
        s = st_find(f, bare);
    }
    return s;
}

/* Fills dst (flat, model offsets) from every model tensor found in f; `expects` words the
 * reference in the shape message ("config.json says" / "the model expects"). */
static int read_tensors(const st_file *f, gpt *m, const char *suffix, int allow_bare,
                        const char *expects, float *dst, char *err, size_t errlen)
{
    char name[GPT_NAME_MAX + 16], got[128], want[128];
    for (int i = 0; i < gpt_num_tensors(m); i++) {
        const gpt_tensor *t = gpt_tensor_at(m, i);
        const st_tensor *s = find_tensor(f, t, suffix, allow_bare, name, sizeof name);
        if (!s) {
            seterr(err, errlen, "%s: tensor '%s' missing", st_label(f), name);
            return -1;
        }
        int64_t ws[2] = {t->shape[0], t->shape[1]};
        int same = s->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = s->shape[d] == ws[d];
        if (!same) {
            shape_str(got, sizeof got, s->ndim, s->shape);
            shape_str(want, sizeof want, t->ndim, ws);
            seterr(err, errlen, "%s: tensor '%s' has shape %s, %s %s", st_label(f), s->name, got,
                   expects, want);
            return -1;
        }
        if (st_read_f32(f, s, dst + t->offset, t->numel, err, errlen)) return -1;
    }
    return 0;
}

/* ================= save ================= */

static int save_files(const char *dir, gpt *m, const ckpt_state *st, char *err, size_t errlen)
{
    char path[CKPT_PATH_MAX];
    size_t n = gpt_num_params(m), bytes = n * sizeof(float);
    backend *be = gpt_backend(m);
    float *a = malloc(bytes ? bytes : 1), *b = malloc(bytes ? bytes : 1);
    char *js = NULL;
    int rc = -1;
    if (!a || !b) {
        seterr(err, errlen, "checkpoint: out of memory copying %zu parameters to the host", n);
        goto out;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    bk_download(be, a, gpt_params(m), bytes);
    if (bk_status(be, err, errlen)) goto out;
    const float *pb[1] = {a};
    const char *ps[1] = {""};
    if (write_tensors(path, m, pb, ps, 1, err, errlen)) goto out;
    snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
    bk_download(be, a, gpt_adam_m(m), bytes);
    bk_download(be, b, gpt_adam_v(m), bytes);
    if (bk_status(be, err, errlen)) goto out;
    const float *ob[2] = {a, b};
    const char *os[2] = {".exp_avg", ".exp_avg_sq"};
    if (write_tensors(path, m, ob, os, 2, err, errlen)) goto out;
    snprintf(path, sizeof path, "%s/trainer_state.json", dir);
    if (!(js = ckpt_state_to_json(st))) {
        seterr(err, errlen, "%s: cannot encode the trainer state", path);
        goto out;
    }
    if (write_text(path, js, err, errlen)) goto out;
    free(js);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (!(js = ckpt_config_to_json(gpt_get_config(m)))) goto out;
    rc = write_text(path, js, err, errlen);
out:
    free(js);
    free(a);
    free(b);
    return rc;
}

/* ================= directories ================= */

typedef struct {
    int64_t step;
    char name[64];
} ckdir;

/* "checkpoint-<digits>" -> step; -1 for any other name. */
static int64_t step_of(const char *name)
{
    const char *pre = "checkpoint-";
    size_t pl = strlen(pre);
    if (strncmp(name, pre, pl) || !name[pl] || strlen(name + pl) > 18) return -1;
    for (const char *q = name + pl; *q; q++)
        if (*q < '0' || *q > '9') return -1;
    return strtoll(name + pl, NULL, 10);
}

static int is_complete(const char *output_dir, const char *name)
{
    static const char *const files[] = {"model.safetensors", "optimizer.safetensors",
                                        "trainer_state.json", "config.json"};
    char p[CKPT_PATH_MAX];
    struct stat sb;
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s/%s", output_dir, name, files[i]);
        if (stat(p, &sb) || !S_ISREG(sb.st_mode)) return 0;
    }
    return 1;
}

/* One of our temporary names (".tmp-checkpoint-<step>-<pid>", ".tmp-delete-checkpoint-...",
 * ".tmp-old-<pid>") whose writer is gone, or is us (ours are finished by now). Anything else
 * in output_dir belongs to the user and is left alone. */
static int is_stale_tmp(const char *name)
{
    if (strncmp(name, ".tmp-checkpoint-", 16) && strncmp(name, ".tmp-delete-checkpoint-", 23) &&
        strncmp(name, ".tmp-old-", 9))
        return 0;
    const char *dash = strrchr(name, '-');
    char *end;
    long pid = strtol(dash + 1, &end, 10);
    if (*end || pid <= 0 || end == dash + 1) return 0;
    if (pid == (long)getpid()) return 1;
    return kill((pid_t)pid, 0) && errno == ESRCH;
}

/* Complete checkpoints under dir (and, when stale != NULL, stale temporary names). */
static int scan_dir(const char *dir, ckdir **out, size_t *n, ckdir **stale, size_t *nstale)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    size_t cap = 0, scap = 0;
    struct dirent *e;
    *out = NULL;
    *n = 0;
    if (stale) { *stale = NULL; *nstale = 0; }
    while ((e = readdir(d))) {
        if (strlen(e->d_name) >= sizeof((ckdir *)0)->name) continue;
        if (stale && is_stale_tmp(e->d_name)) {
            if (*nstale == scap) {
                scap = scap ? 2 * scap : 8;
                ckdir *s = realloc(*stale, scap * sizeof *s);
                if (!s) break;
                *stale = s;
            }
            snprintf((*stale)[(*nstale)++].name, sizeof(ckdir){0}.name, "%s", e->d_name);
            continue;
        }
        int64_t s = step_of(e->d_name);
        if (s < 0 || !is_complete(dir, e->d_name)) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            ckdir *v = realloc(*out, cap * sizeof *v);
            if (!v) break;
            *out = v;
        }
        (*out)[*n].step = s;
        snprintf((*out)[(*n)++].name, sizeof(ckdir){0}.name, "%s", e->d_name);
    }
    closedir(d);
    return 0;
}

static int cmp_step_desc(const void *a, const void *b)
{
    const ckdir *x = a, *y = b;
    return (x->step < y->step) - (x->step > y->step);
}

/* Renamed away first, so a checkpoint-<step> name never points at a half-deleted directory. */
static void remove_checkpoint(const char *output_dir, const char *name)
{
    char from[CKPT_PATH_MAX], to[CKPT_PATH_MAX];
    snprintf(from, sizeof from, "%s/%s", output_dir, name);
    snprintf(to, sizeof to, "%s/.tmp-delete-%s-%ld", output_dir, name, (long)getpid());
    if (!rename(from, to)) rm_rf(to);
}

/* Keeps the newest `limit` complete checkpoints, `keep_step` always among them. */
static void rotate(const char *output_dir, int64_t keep_step, int limit)
{
    ckdir *v, *stale;
    size_t n, ns;
    char p[CKPT_PATH_MAX];
    if (scan_dir(output_dir, &v, &n, &stale, &ns)) return;
    for (size_t i = 0; i < ns; i++) {
        snprintf(p, sizeof p, "%s/%s", output_dir, stale[i].name);
        rm_rf(p);
    }
    if (limit > 0) {
        qsort(v, n, sizeof *v, cmp_step_desc);
        int kept = 1;
        for (size_t i = 0; i < n; i++) {
            if (v[i].step == keep_step) continue;
            if (kept < limit) kept++;
            else remove_checkpoint(output_dir, v[i].name);
        }
    }
    free(v);
    free(stale);
}

/* 1 when path exists as anything but a real directory (a user's file, a link): never ours to
 * replace or remove. */
static int not_a_dir(const char *path)
{
    struct stat sb;
    return !lstat(path, &sb) && !S_ISDIR(sb.st_mode);
}

/* tmp -> final; an existing final is swapped out atomically (or moved aside where the file
 * system lacks renameat2 flags) and then removed. */
static int install(const char *output_dir, const char *tmp, const char *final, char *err,
                   size_t errlen)
{
    if (!renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_NOREPLACE)) return 0;
    if (errno == EEXIST && !renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE)) {
        if (not_a_dir(tmp)) { /* a file appeared there since ckpt_save looked: put it back */
            renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE);
            seterr(err, errlen, "checkpoint: %s exists and is not a directory; it is left alone: "
                   "move it away or choose another --output_dir", final);
            return -1;
        }
        rm_rf(tmp); /* now holds the replaced checkpoint */
        return 0;
    }
    if (errno == EINVAL || errno == ENOSYS || errno == EEXIST) {
        struct stat sb;
        if (lstat(final, &sb)) {
            if (!rename(tmp, final)) return 0;
        } else if (!S_ISDIR(sb.st_mode)) {
            errno = ENOTDIR;
        } else {
            char old[CKPT_PATH_MAX];
            snprintf(old, sizeof old, "%s/.tmp-old-%ld", output_dir, (long)getpid());
            rm_rf(old);
            if (!rename(final, old)) {
                if (!rename(tmp, final)) { rm_rf(old); return 0; }
                int e = errno;
                rename(old, final);
                errno = e;
            }
        }
    }
    seterr(err, errlen, "checkpoint: cannot rename %s to %s: %s", tmp, final, strerror(errno));
    return -1;
}

int ckpt_save(const char *output_dir, gpt *m, const ckpt_state *st, int save_total_limit,
              char *saved_dir, size_t saved_len, char *err, size_t errlen)
{
    char tmp[CKPT_PATH_MAX], final[CKPT_PATH_MAX];
    if (!output_dir || !output_dir[0] || strlen(output_dir) > CKPT_PATH_MAX - 128) {
        seterr(err, errlen, "checkpoint: output_dir empty or too long");
        return -1;
    }
    if (st->global_step < 0) {
        seterr(err, errlen, "checkpoint: negative global_step %lld", (long long)st->global_step);
        return -1;
    }
    if (mkdir_p(output_dir)) {
        seterr(err, errlen, "checkpoint: cannot create output_dir %s: %s", output_dir,
               strerror(errno));
        return -1;
    }
    snprintf(final, sizeof final, "%s/checkpoint-%lld", output_dir, (long long)st->global_step);
    if (not_a_dir(final)) {
        seterr(err, errlen, "checkpoint: %s exists and is not a directory; it is left alone: move "
               "it away or choose another --output_dir", final);
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s/.tmp-checkpoint-%lld-%ld", output_dir,
             (long long)st->global_step, (long)getpid());
    rm_rf(tmp);
    if (mkdir(tmp, 0755)) {
        seterr(err, errlen, "checkpoint: cannot create %s: %s (output_dir not writable?)", tmp,
               strerror(errno));
        return -1;
    }
    if (save_files(tmp, m, st, err, errlen)) goto fail;
    if (fsync_path(tmp, 1)) {
        seterr(err, errlen, "checkpoint: cannot sync %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (install(output_dir, tmp, final, err, errlen)) goto fail;
    if (fsync_path(output_dir, 1)) {
        seterr(err, errlen, "checkpoint: %s written but syncing %s failed: %s", final, output_dir,
               strerror(errno));
        return -1;
    }
    rotate(output_dir, st->global_step, save_total_limit);
    if (saved_dir && saved_len) snprintf(saved_dir, saved_len, "%s", final);
    return 0;
fail:
    rm_rf(tmp);
    return -1;
}

int ckpt_find_latest(const char *output_dir, char *out, size_t outlen, char *err, size_t errlen)
{
    ckdir *v;
    size_t n;
    if (scan_dir(output_dir, &v, &n, NULL, NULL)) {
        seterr(err, errlen, "checkpoint: cannot read output_dir %s: %s", output_dir,
               strerror(errno));
        return -1;
    }
    if (!n) {
        seterr(err, errlen, "checkpoint: no complete checkpoint-<step> directory in %s",
               output_dir);
        free(v);
        return -1;
    }
    qsort(v, n, sizeof *v, cmp_step_desc);
    snprintf(out, outlen, "%s/%s", output_dir, v[0].name);
    free(v);
    return 0;
}

/* ================= load ================= */

static int check_config(const char *dir, const gpt_config *mc, char *err, size_t errlen)
{
    char path[CKPT_PATH_MAX];
    size_t len;
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *txt = slurp(path, 1u << 20, &len, err, errlen);
    if (!txt) return -1;
    gpt_config fc;
    int rc = ckpt_config_from_json(txt, len, path, &fc, err, errlen);
    free(txt);
    if (rc) return -1;
    const struct { const char *key; int file, model; } f[] = {
        {"n_layer", fc.n_layer, mc->n_layer},       {"n_head", fc.n_head, mc->n_head},
        {"n_embd", fc.n_embd, mc->n_embd},          {"n_positions", fc.block_size, mc->block_size},
        {"vocab_size", fc.vocab_size, mc->vocab_size},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].file != f[i].model) {
            seterr(err, errlen, "%s: %s %d does not match the model (%d)", path, f[i].key,
                   f[i].file, f[i].model);
            return -1;
        }
    return 0;
}

static int load_state(const char *dir, ckpt_state *st, char *err, size_t errlen)
{
    char path[CKPT_PATH_MAX];
    size_t len;
    snprintf(path, sizeof path, "%s/trainer_state.json", dir);
    char *txt = slurp(path, 1u << 30, &len, err, errlen);
    if (!txt) return -1;
    int rc = ckpt_state_from_json(txt, len, path, st, err, errlen);
    free(txt);
    return rc;
}

/* Tensors of <dir>/<file> (each suffix into its buffer), all-or-nothing. */
static int load_tensor_file(const char *dir, const char *file, gpt *m, const char *const *suffixes,
                            float *const *dst, int nbuf, char *err, size_t errlen)
{
    char path[CKPT_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    st_file *f = st_open(path, err, errlen);
    if (!f) return -1;
    int rc = 0;
    for (int b = 0; b < nbuf && !rc; b++)
        rc = read_tensors(f, m, suffixes[b], 0, "config.json says", dst[b], err, errlen);
    st_close(f);
    return rc;
}

/* A NaN / Inf weight or moment, or a negative second moment, would poison every step after
 * the resume: refused with the tensor and the first bad element. */
static int check_values(const char *dir, const char *file, gpt *m, const float *buf,
                        const char *suffix, int nonneg, char *err, size_t errlen)
{
    for (int i = 0; i < gpt_num_tensors(m); i++) {
        const gpt_tensor *t = gpt_tensor_at(m, i);
        const float *v = buf + t->offset;
        for (size_t k = 0; k < t->numel; k++) {
            if (isfinite(v[k]) && !(nonneg && v[k] < 0)) continue;
            seterr(err, errlen, "%s/%s: tensor '%s%s' holds %g at element %zu (%s); the run had "
                   "diverged or the file is damaged: resume from an earlier checkpoint", dir, file,
                   t->name, suffix, (double)v[k], k, isfinite(v[k]) ? "a second moment is never "
                   "negative" : "not a finite number");
            return -1;
        }
    }
    return 0;
}

static int check_tensor_values(const char *dir, gpt *m, float *const *buf, char *err,
                               size_t errlen)
{
    return check_values(dir, "model.safetensors", m, buf[0], "", 0, err, errlen) ||
           check_values(dir, "optimizer.safetensors", m, buf[1], ".exp_avg", 0, err, errlen) ||
           check_values(dir, "optimizer.safetensors", m, buf[2], ".exp_avg_sq", 1, err, errlen)
               ? -1 : 0;
}

/* checkpoint-<N> must hold step N: resuming "latest" picks folders by that number. */
static int check_folder_step(const char *dir, int64_t step, char *err, size_t errlen)
{
    char name[CKPT_PATH_MAX];
    snprintf(name, sizeof name, "%s", dir);
    size_t n = strlen(name);
    while (n > 1 && name[n - 1] == '/') name[--n] = 0;
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    int64_t s = step_of(base);
    if (s < 0 || s == step) return 0;
    seterr(err, errlen, "%s: the folder says step %lld but its trainer_state.json says "
           "global_step %lld; rename the folder to checkpoint-%lld or resume from another "
           "checkpoint", dir, (long long)s, (long long)step, (long long)step);
    return -1;
}

int ckpt_load(const char *dir, gpt *m, ckpt_state *st, char *err, size_t errlen)
{
    size_t n = gpt_num_params(m), bytes = n * sizeof(float);
    float *buf[3] = {malloc(bytes ? bytes : 1), malloc(bytes ? bytes : 1), malloc(bytes ? bytes : 1)};
    ckpt_state tmp;
    memset(&tmp, 0, sizeof tmp);
    int rc = -1;
    if (!buf[0] || !buf[1] || !buf[2]) {
        seterr(err, errlen, "%s: out of memory loading %zu parameters", dir, n);
        goto out;
    }
    static const char *const ps[1] = {""}, *const os[2] = {".exp_avg", ".exp_avg_sq"};
    if (check_config(dir, gpt_get_config(m), err, errlen) ||
        load_tensor_file(dir, "model.safetensors", m, ps, buf, 1, err, errlen) ||
        load_tensor_file(dir, "optimizer.safetensors", m, os, buf + 1, 2, err, errlen) ||
        check_tensor_values(dir, m, buf, err, errlen) || load_state(dir, &tmp, err, errlen))
        goto out;
    if (check_folder_step(dir, tmp.global_step, err, errlen)) {
        ckpt_state_free(&tmp);
        goto out;
    }
    backend *be = gpt_backend(m);
    bk_upload(be, gpt_params(m), buf[0], bytes);
    bk_upload(be, gpt_adam_m(m), buf[1], bytes);
    bk_upload(be, gpt_adam_v(m), buf[2], bytes);
    if (bk_status(be, err, errlen)) {
        ckpt_state_free(&tmp);
        goto out;
    }
    *st = tmp;
    rc = 0;
out:
    for (int i = 0; i < 3; i++) free(buf[i]);
    return rc;
}

int ckpt_load_weights(const char *path, gpt *m, char *err, size_t errlen)
{
    char file[CKPT_PATH_MAX];
    struct stat sb;
    if (stat(path, &sb)) {
        seterr(err, errlen, "init_from %s: %s", path, strerror(errno));
        return -1;
    }
    snprintf(file, sizeof file, S_ISDIR(sb.st_mode) ? "%s/model.safetensors" : "%s", path);
    size_t bytes = gpt_num_params(m) * sizeof(float);
    float *buf = malloc(bytes ? bytes : 1);
    if (!buf) {
        seterr(err, errlen, "%s: out of memory", file);
        return -1;
    }
    st_file *f = st_open(file, err, errlen);
    int rc = f ? read_tensors(f, m, "", 1, "the model expects", buf, err, errlen) : -1;
    st_close(f);
    if (!rc) {
        bk_upload(gpt_backend(m), gpt_params(m), buf, bytes);
        rc = bk_status(gpt_backend(m), err, errlen);
    }
    free(buf);
    return rc;
}
