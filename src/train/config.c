/* config.c — the option table and what it drives: defaults, values, the command line and
 * validation (files and --help: config_file.c). Adding an option is one table line (OPTIONS). */
#include "config.h"
#include "config_opts.h"
#include "errfmt.h"
#include "hf_model.h"
#include "precision.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

_Static_assert(sizeof(sched_kind) == sizeof(int), "enum fields are set through int");
_Static_assert(sizeof(strategy_kind) == sizeof(int), "enum fields are set through int");
_Static_assert(sizeof(loss_scale_kind) == sizeof(int), "enum fields are set through int");
_Static_assert(sizeof(device_kind) == sizeof(int), "enum fields are set through int");
_Static_assert(sizeof(dtype_t) == sizeof(int), "enum fields are set through int");

const char *const cfg_group_title[G_COUNT] = {
    "Model", "Data", "Precision", "Loss scaling", "Optimizer", "Schedule",
    "Checkpoints and logs", "Run",
};

static const char *const sched_names[] = {"linear", "cosine", "constant", NULL};
static const char *const strat_names[] = {"no", "steps", "epoch", NULL};
static const char *const device_names[] = {"auto", "cpu", "cuda", NULL};
static const char *const save_err_names[] = {"continue", "stop", NULL};
static const char *const on_nan_names[] = {"stop", "continue", NULL};
/* fp8.h's enums, in value order (test_config checks them against fp8_*_name) */
static const char *const fp8_recipe_names[] = {"delayed", "current", "mxfp8", NULL};
static const char *const fp8_format_names[] = {"hybrid", "e4m3", NULL};
static const char *const fp8_algo_names[] = {"max", "most_recent", NULL};
/* dtype_t values of the comm dtypes, in value order (fp8 is no comm dtype) */
static const char *const comm_dtype_names[] = {"fp32", "fp16", "bf16", NULL};

/* ---------- error helper ---------- */

/* Control bytes as \xNN: names and values echoed from a config file or the command line
 * must not reach the terminal raw (an ESC sequence could retitle or clear it). */
static void escape_controls(char *s, size_t len)
{
    size_t n = 0;
    for (const char *p = s; *p; p++) n += ((unsigned char)*p < 0x20 || *p == 0x7f) ? 4 : 1;
    if (n == strlen(s)) return;
    char *copy = strdup(s);
    if (!copy) return;
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)copy; *p; p++) {
        int ctl = *p < 0x20 || *p == 0x7f;
        if (o + (ctl ? 4 : 1) >= len) break;
        if (ctl) o += (size_t)snprintf(s + o, len - o, "\\x%02x", *p);
        else s[o++] = (char)*p;
    }
    s[o] = '\0';
    free(copy);
}

int cfg_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verrfmt(err, errlen, fmt, ap);
    va_end(ap);
    if (err && errlen) escape_controls(err, errlen);
    return -1;
}

/* ---------- strict scalar parsing ---------- */

static bool starts_clean(const char *s) { return s && *s && !isspace((unsigned char)*s); }

static int parse_i64(const char *s, long long *out)
{
    if (!starts_clean(s)) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

static int parse_u64(const char *s, unsigned long long *out)
{
    if (!starts_clean(s) || *s == '-' || *s == '+') return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    if (!starts_clean(s)) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    /* ERANGE on underflow still gives a usable tiny value; overflow and NaN do not. */
    if (*end || !isfinite(v) || (errno == ERANGE && fabs(v) > 1.0)) return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const t[] = {"true", "1", "yes", "on"};
    static const char *const f[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(s, t[i])) return *out = 1, 0;
        if (!strcasecmp(s, f[i])) return *out = 0, 0;
    }
    return -1;
}

/* Shortest "%.*g" that reads back as the same double. */
void cfg_fmt_double(char *buf, size_t len, double v)
{
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static void *field(mp_config *c, const cfg_option *o) { return (char *)c + o->off; }
const void *cfg_cfield(const mp_config *c, const cfg_option *o)
{
    return (const char *)c + o->off;
}

/* ---------- range checks (shared by set and validate) ---------- */

static void range_text(const cfg_option *o, char *buf, size_t len)
{
    char lo[32], hi[32];
    cfg_fmt_double(lo, sizeof lo, o->min);
    cfg_fmt_double(hi, sizeof hi, o->max);
    const char *neg1 = (o->flags & F_NEG1) ? "-1 or " : "";
    bool has_max = o->max < 1e300;
    if (!has_max)
        snprintf(buf, len, "%s%s %s", neg1, (o->flags & F_XMIN) ? ">" : ">=", lo);
    else if (o->flags & (F_XMIN | F_XMAX))
        snprintf(buf, len, "%sin %s%s, %s%s", neg1, (o->flags & F_XMIN) ? "(" : "[", lo, hi,
                 (o->flags & F_XMAX) ? ")" : "]");
    else
        snprintf(buf, len, "%sbetween %s and %s", neg1, lo, hi);
}

static bool in_range(const cfg_option *o, double v)
{
    if ((o->flags & F_NEG1) && v == -1) return true;
    bool lo_ok = (o->flags & F_XMIN) ? v > o->min : v >= o->min;
    bool hi_ok = (o->flags & F_XMAX) ? v < o->max : v <= o->max;
    return lo_ok && hi_ok;
}

static int range_fail(const cfg_option *o, const char *v, char *err, size_t errlen)
{
    char r[96];
    range_text(o, r, sizeof r);
    return cfg_fail(err, errlen, "--%s: '%s' must be %s", o->name, v, r);
}

/* ---------- setters by type ---------- */

static int set_number(mp_config *c, const cfg_option *o, const char *v, char *err, size_t errlen)
{
    if (o->type == T_DBL) {
        double d;
        if (parse_double(v, &d)) return cfg_fail(err, errlen, "--%s: '%s' is not a number", o->name, v);
        if (!in_range(o, d)) return range_fail(o, v, err, errlen);
        *(double *)field(c, o) = d;
        return 0;
    }
    if (o->type == T_U64) {
        unsigned long long u;
        if (parse_u64(v, &u))
            return cfg_fail(err, errlen, "--%s: '%s' is not a non-negative integer", o->name, v);
        *(uint64_t *)field(c, o) = u;
        return 0;
    }
    long long i;
    if (parse_i64(v, &i)) return cfg_fail(err, errlen, "--%s: '%s' is not an integer", o->name, v);
    if (!in_range(o, (double)i)) return range_fail(o, v, err, errlen);
    if (o->type == T_INT) *(int *)field(c, o) = (int)i;
    else *(int64_t *)field(c, o) = i;
    return 0;
}

static int choice_fail(const cfg_option *o, const char *v, char *err, size_t errlen)
{
    char list[128] = "";
    for (size_t i = 0; o->choices[i]; i++) {
        if (i) strncat(list, ", ", sizeof list - strlen(list) - 1);
        strncat(list, o->choices[i], sizeof list - strlen(list) - 1);
    }
    return cfg_fail(err, errlen, "--%s: '%s' is not one of %s", o->name, v, list);
}

static int set_enum(mp_config *c, const cfg_option *o, const char *v, char *err, size_t errlen)
{
    for (int i = 0; o->choices[i]; i++) {
        if (!strcmp(v, o->choices[i])) {
            *(int *)field(c, o) = i;
            return 0;
        }
    }
    return choice_fail(o, v, err, errlen);
}

static int set_str(mp_config *c, const cfg_option *o, const char *v, char *err, size_t errlen)
{
    if (strlen(v) >= o->size)
        return cfg_fail(err, errlen, "--%s: value longer than %zu characters", o->name, o->size - 1);
    memcpy(field(c, o), v, strlen(v) + 1);
    return 0;
}

static int set_bool(mp_config *c, const cfg_option *o, const char *v, char *err, size_t errlen)
{
    int b = 1;
    if (v && parse_bool(v, &b))
        return cfg_fail(err, errlen, "--%s: '%s' is not a boolean (true, false, 1, 0)", o->name, v);
    *(int *)field(c, o) = b;
    return 0;
}

/* ---------- custom setters and writers ---------- */

/* "--NAME: 'V' is not one of fp32, fp16, bf16[, inherit]": the list from the dtype table. */
static int dtype_fail(const char *name, const char *v, const char *extra, char *err,
                      size_t errlen)
{
    char list[128];
    return cfg_fail(err, errlen, "--%s: '%s' is not one of %s%s", name, v,
                dtype_names_joined(", ", list, sizeof list), extra);
}

static int set_precision(mp_config *c, const cfg_option *o, const char *v, char *err,
                         size_t errlen)
{
    dtype_t dt;
    if (dtype_parse(v, &dt)) return dtype_fail(o->name, v, "", err, errlen);
    c->precision = dt;
    return 0;
}

static void write_precision(const mp_config *c, const cfg_option *o, char *buf, size_t len)
{
    (void)o;
    snprintf(buf, len, "%s", dtype_name(c->precision));
}

/* --fp16 / --bf16: true selects the mode; false drops back to fp32 only from that mode. */
static int set_mode_flag(mp_config *c, const cfg_option *o, const char *v, char *err,
                         size_t errlen, dtype_t dt)
{
    int b = 1;
    if (v && parse_bool(v, &b))
        return cfg_fail(err, errlen, "--%s: '%s' is not a boolean (true, false, 1, 0)", o->name, v);
    if (b) c->precision = dt;
    else if (c->precision == dt) c->precision = DT_F32;
    return 0;
}

static int set_fp16(mp_config *c, const cfg_option *o, const char *v, char *err, size_t errlen)
{
    return set_mode_flag(c, o, v, err, errlen, DT_F16);
}

static int set_bf16(mp_config *c, const cfg_option *o, const char *v, char *err, size_t errlen)
{
    return set_mode_flag(c, o, v, err, errlen, DT_BF16);
}

/* Loss scales are fp32 numbers: anything above FLT_MAX would become inf. */
static int scale_range_fail(const cfg_option *o, const char *v, char *err, size_t errlen)
{
    return cfg_fail(err, errlen, "--%s: '%s' is beyond the fp32 range (at most %.8g)", o->name, v,
                (double)FLT_MAX);
}

static int set_loss_scale(mp_config *c, const cfg_option *o, const char *v, char *err,
                          size_t errlen)
{
    static const char *const kinds[] = {"auto", "dynamic", "none"};
    for (int i = 0; i < 3; i++) {
        if (!strcmp(v, kinds[i])) {
            c->loss_scale = (loss_scale_kind)i;
            return 0;
        }
    }
    double d;
    if (parse_double(v, &d) || !(d > 0))
        return cfg_fail(err, errlen,
                    "--%s: '%s' is not one of auto, dynamic, none or a positive number", o->name,
                    v);
    if (d > FLT_MAX) return scale_range_fail(o, v, err, errlen);
    c->loss_scale = LS_STATIC;
    c->static_scale = d;
    return 0;
}

static void write_loss_scale(const mp_config *c, const cfg_option *o, char *buf, size_t len)
{
    (void)o;
    static const char *const kinds[] = {"auto", "dynamic", "none"};
    if (c->loss_scale == LS_STATIC) cfg_fmt_double(buf, len, c->static_scale);
    else if ((unsigned)c->loss_scale < 3) snprintf(buf, len, "%s", kinds[c->loss_scale]);
    else snprintf(buf, len, "?");
}

/* A positive value also selects the static scale (same as --loss_scale N); 0 = unset. */
static int set_static_scale(mp_config *c, const cfg_option *o, const char *v, char *err,
                            size_t errlen)
{
    double d;
    if (parse_double(v, &d)) return cfg_fail(err, errlen, "--%s: '%s' is not a number", o->name, v);
    if (d < 0) return cfg_fail(err, errlen, "--%s: '%s' must be >= 0", o->name, v);
    if (d > FLT_MAX) return scale_range_fail(o, v, err, errlen);
    c->static_scale = d;
    if (d > 0) c->loss_scale = LS_STATIC;
    return 0;
}

static void write_static_scale(const mp_config *c, const cfg_option *o, char *buf, size_t len)
{
    (void)o;
    cfg_fmt_double(buf, len, c->static_scale);
}

static int add_override(mp_config *c, const char *item, char *err, size_t errlen)
{
    const char *eq = strrchr(item, '=');
    if (!eq || eq == item)
        return cfg_fail(err, errlen, "--override: '%s' is not NAME=DTYPE", item);
    size_t nlen = (size_t)(eq - item);
    if (nlen >= sizeof c->overrides[0].pattern)
        return cfg_fail(err, errlen, "--override: name '%.*s' longer than %zu characters", (int)nlen,
                    item, sizeof c->overrides[0].pattern - 1);
    int dt = -1;
    const char *d = eq + 1;
    dtype_t parsed;
    if (!strcmp(d, "inherit")) dt = -1;
    else if (dtype_parse(d, &parsed) == 0) dt = (int)parsed;
    else return dtype_fail("override", d, ", inherit", err, errlen);
    if (c->n_overrides >= CFG_MAX_OVERRIDES)
        return cfg_fail(err, errlen, "--override: more than %d overrides", CFG_MAX_OVERRIDES);
    cfg_override *ov = &c->overrides[c->n_overrides++];
    memcpy(ov->pattern, item, nlen);
    ov->pattern[nlen] = '\0';
    ov->dtype = dt;
    return 0;
}

/* NAME=DTYPE[,NAME=DTYPE...]; repeatable, each appends in order (later entries win). */
static int set_override(mp_config *c, const cfg_option *o, const char *v, char *err,
                        size_t errlen)
{
    (void)o;
    char buf[1024];
    if (!*v) return cfg_fail(err, errlen, "--override: missing NAME=DTYPE");
    if (strlen(v) >= sizeof buf) return cfg_fail(err, errlen, "--override: value too long");
    strcpy(buf, v);
    mp_config tmp = *c; /* all or nothing */
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (add_override(&tmp, tok, err, errlen)) return -1;
    *c = tmp;
    return 0;
}

/* "fp16,bf16": 2 or 3 distinct modes, stored normalized; "" = no comparison. */
static int set_compare(mp_config *c, const cfg_option *o, const char *v, char *err,
                       size_t errlen)
{
    if (!*v) return c->compare[0] = '\0', 0;
    char buf[64], out[64] = "";
    if (strlen(v) >= sizeof buf) return cfg_fail(err, errlen, "--%s: value too long", o->name);
    strcpy(buf, v);
    int n = 0, seen[DT_COUNT] = {0};
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save), n++) {
        dtype_t dt;
        if (dtype_parse(tok, &dt))
            return dtype_fail(o->name, tok, "", err, errlen);
        if (seen[dt]++) return cfg_fail(err, errlen, "--%s: '%s' given twice", o->name, tok);
        if (n) strcat(out, ",");
        strcat(out, dtype_name(dt));
    }
    if (n < 2)
        return cfg_fail(err, errlen, "--%s: '%s' needs two or more modes, e.g. fp16,bf16", o->name,
                    v);
    strcpy(c->compare, out);
    return 0;
}

static void write_compare(const mp_config *c, const cfg_option *o, char *buf, size_t len)
{
    (void)o;
    snprintf(buf, len, "%s", c->compare);
}

/* --do_eval: a flag (true / false after it, as HfArgumentParser takes), or auto: the
 * TrainingArguments default, on when eval_strategy is not no. */
static int set_do_eval(mp_config *c, const cfg_option *o, const char *v, char *err,
                       size_t errlen)
{
    int b = 1;
    if (v && !strcmp(v, "auto")) b = -1;
    else if (v && parse_bool(v, &b))
        return cfg_fail(err, errlen, "--%s: '%s' is not a boolean (true, false, 1, 0) or auto",
                        o->name, v);
    c->do_eval = b;
    return 0;
}

static void write_do_eval(const mp_config *c, const cfg_option *o, char *buf, size_t len)
{
    (void)o;
    snprintf(buf, len, "%s", c->do_eval < 0 ? "auto" : c->do_eval ? "true" : "false");
}

int cfg_do_eval(const mp_config *c)
{
    return c->do_eval < 0 ? c->eval_strategy != STRAT_NO : c->do_eval != 0;
}

static int set_nothing(mp_config *c, const cfg_option *o, const char *v, char *err,
                       size_t errlen)
{
    (void)c, (void)o, (void)v, (void)err, (void)errlen;
    return 0; /* --help / --version: handled by cfg_parse_args */
}

static int set_config(mp_config *c, const cfg_option *o, const char *v, char *err,
                      size_t errlen)
{
    return set_str(c, o, v, err, errlen);
}

/* ---------- the table ---------- */

#define OFF(f) offsetof(mp_config, f)
#define NOMAX 1e308
#define INT(f, g, lo, hi, fl, d, m, h) {#f, T_INT, g, OFF(f), 0, lo, hi, NULL, NULL, NULL, fl, d, m, h}
#define I64(f, g, lo, hi, fl, d, m, h) {#f, T_I64, g, OFF(f), 0, lo, hi, NULL, NULL, NULL, fl, d, m, h}
#define U64(f, g, d, h) {#f, T_U64, g, OFF(f), 0, 0, NOMAX, NULL, NULL, NULL, 0, d, "N", h}
#define DBL(f, g, lo, hi, fl, d, h) {#f, T_DBL, g, OFF(f), 0, lo, hi, NULL, NULL, NULL, fl, d, "X", h}
#define BOOL(f, g, d, h) {#f, T_BOOL, g, OFF(f), 0, 0, 1, NULL, NULL, NULL, 0, d, NULL, h}
#define STR(f, g, d, m, h) {#f, T_STR, g, OFF(f), sizeof(((mp_config *)0)->f), 0, 0, NULL, NULL, NULL, 0, d, m, h}
#define ENUM(f, g, ch, d, m, h) {#f, T_ENUM, g, OFF(f), 0, 0, 0, ch, NULL, NULL, 0, d, m, h}
#define ENUM_AS(n, f, g, ch, d, m, h) {n, T_ENUM, g, OFF(f), 0, 0, 0, ch, NULL, NULL, 0, d, m, h}
#define CUSTOM(n, g, set, wr, fl, d, m, h) {n, T_CUSTOM, g, 0, 0, 0, 0, NULL, set, wr, fl, d, m, h}
#define ALIAS_BOOL(n, f, g, h) {n, T_BOOL, g, OFF(f), 0, 0, 1, NULL, NULL, NULL, F_NOSAVE, NULL, NULL, h}

static const cfg_option OPTIONS[] = {
    STR(model_name_or_path, G_MODEL, "", "DIR",
        "Hugging Face GPT-2 folder to start from (config.json, model.safetensors)"),
    INT(n_layer, G_MODEL, 1, 64, 0, "4", "N", "transformer blocks"),
    INT(n_head, G_MODEL, 1, 1024, 0, "4", "N", "attention heads (must divide n_embd)"),
    INT(n_embd, G_MODEL, 1, 65536, 0, "128", "N", "embedding width"),
    INT(block_size, G_MODEL, 2, 1 << 20, 0, "128", "N", "context length in tokens"),
    INT(vocab_size, G_MODEL, 0, 1 << 24, 0, "0", "N", "vocabulary size (0 = from the data)"),

    STR(data, G_DATA, "", "PATH", "text file or llm.c .bin tokens (empty = built-in corpus)"),
    STR(val_data, G_DATA, "", "PATH", "validation file (empty = split off the end of --data)"),
    STR(tokenizer_name, G_DATA, "", "gpt2|DIR",
        "BPE tokenizer for text (empty = the model folder's, else bytes)"),
    INT(validation_split_percentage, G_DATA, 1, 99, 0, "10", "PCT",
        "percent of --data held out for validation"),

    CUSTOM("precision", G_PREC, set_precision, write_precision, 0, "fp16",
           "fp32|fp16|bf16|fp8", "compute precision of the low-precision ops"),
    CUSTOM("fp16", G_PREC, set_fp16, NULL, F_NOSAVE, NULL, NULL, "same as --precision fp16"),
    CUSTOM("bf16", G_PREC, set_bf16, NULL, F_NOSAVE, NULL, NULL, "same as --precision bf16"),
    BOOL(fp16_full_eval, G_PREC, "false", "evaluate with the whole forward in fp16"),
    BOOL(bf16_full_eval, G_PREC, "false", "evaluate with the whole forward in bf16"),
    CUSTOM("override", G_PREC, set_override, NULL, 0, NULL, "NAME=DTYPE[,...]",
           "per-layer dtype (fp32|fp16|bf16|fp8|inherit), repeatable, e.g. lm_head=fp32"),
    ENUM(fp8_recipe, G_PREC, fp8_recipe_names, "delayed", "delayed|current|mxfp8",
         "fp8 scaling: amax history, this tensor's amax, or 32-value blocks"),
    ENUM(fp8_format, G_PREC, fp8_format_names, "hybrid", "hybrid|e4m3",
         "hybrid: E4M3 forward, E5M2 gradients; e4m3: E4M3 everywhere"),
    INT(fp8_amax_history_len, G_PREC, 1, 1 << 20, 0, "1024", "N",
        "steps of amax history the delayed recipe keeps"),
    ENUM(fp8_amax_compute_algo, G_PREC, fp8_algo_names, "max", "max|most_recent",
         "delayed recipe: scale from the history's max or the last step's amax"),
    INT(fp8_margin, G_PREC, -64, 64, 0, "0", "N", "fp8 scale = fp8 max / amax / 2^margin"),

    CUSTOM("static_scale", G_SCALE, set_static_scale, write_static_scale, 0, "0", "X",
           "fixed loss scale; > 0 selects it (same as --loss_scale X)"),
    CUSTOM("loss_scale", G_SCALE, set_loss_scale, write_loss_scale, 0, "auto",
           "auto|dynamic|none|X", "auto = dynamic in fp16 only; X = static scale"),
    DBL(init_scale, G_SCALE, 0, FLT_MAX, F_XMIN, "65536", "initial dynamic loss scale"),
    DBL(growth_factor, G_SCALE, 1, FLT_MAX, F_XMIN, "2", "scale *= this after growth_interval good steps"),
    DBL(backoff_factor, G_SCALE, 0, 1, F_XMIN | F_XMAX, "0.5", "scale *= this on overflow"),
    INT(growth_interval, G_SCALE, 1, 1 << 30, 0, "2000", "N", "good steps before the scale grows"),
    DBL(min_loss_scale, G_SCALE, 0, FLT_MAX, 0, "0", "lower bound of the scale (0 = none)"),
    ENUM_AS("on_nan", nan_continue, G_SCALE, on_nan_names, "stop", "stop|continue",
            "a NaN/inf loss with no loss scaler: stop (exit 1) or train on"),

    DBL(learning_rate, G_OPTIM, 0, NOMAX, 0, "1e-3", "peak AdamW learning rate"),
    DBL(adam_beta1, G_OPTIM, 0, 1, F_XMAX, "0.9", "AdamW beta1"),
    DBL(adam_beta2, G_OPTIM, 0, 1, F_XMAX, "0.999", "AdamW beta2"),
    DBL(adam_epsilon, G_OPTIM, 0, NOMAX, F_XMIN, "1e-8", "AdamW epsilon"),
    DBL(weight_decay, G_OPTIM, 0, NOMAX, 0, "0", "decoupled weight decay (not on biases, LN, embeddings)"),
    DBL(max_grad_norm, G_OPTIM, 0, NOMAX, 0, "1", "clip the global gradient norm (0 = off)"),
    ENUM(lr_scheduler_type, G_OPTIM, sched_names, "linear", "linear|cosine|constant",
         "learning-rate schedule after warmup"),
    I64(warmup_steps, G_OPTIM, 0, 1e15, 0, "20", "N", "linear warmup steps"),

    I64(max_steps, G_SCHED, 1, 1e15, F_NEG1, "2000", "N", "optimizer steps (-1 = from num_train_epochs)"),
    DBL(num_train_epochs, G_SCHED, 0, NOMAX, F_XMIN, "3", "epochs, used when max_steps is -1"),
    INT(per_device_train_batch_size, G_SCHED, 1, 1 << 20, 0, "16", "N", "sequences per micro-batch"),
    INT(per_device_eval_batch_size, G_SCHED, 1, 1 << 20, 0, "16", "N", "sequences per eval batch"),
    INT(gradient_accumulation_steps, G_SCHED, 1, 1 << 20, 0, "1", "N", "micro-batches per optimizer step"),
    I64(logging_steps, G_SCHED, 1, 1e15, 0, "10", "N", "log a metrics row every N steps"),
    ENUM(eval_strategy, G_SCHED, strat_names, "steps", "no|steps|epoch", "when to evaluate"),
    {"evaluation_strategy", T_ENUM, G_SCHED, OFF(eval_strategy), 0, 0, 0, strat_names, NULL, NULL,
     F_NOSAVE, NULL, "no|steps|epoch", "same as --eval_strategy (its older Hugging Face name)"},
    I64(eval_steps, G_SCHED, 0, 1e15, 0, "100", "N", "evaluate every N steps (0 = logging_steps)"),
    INT(eval_max_batches, G_SCHED, 0, 1 << 30, 0, "8", "N", "eval batches per evaluation (0 = all)"),
    BOOL(eval_on_start, G_SCHED, "false", "evaluate before the first training step (step 0, or the resume step)"),
    BOOL(do_train, G_SCHED, "true", "train; false: evaluate the loaded weights once and exit"),
    CUSTOM("do_eval", G_SCHED, set_do_eval, write_do_eval, 0, "auto", NULL,
           "evaluate only with --do_train false; true with training: also after the last step "
           "(auto = on unless eval_strategy is no)"),
    INT(sample_length, G_SCHED, 0, 1 << 20, 0, "120", "N", "tokens sampled after eval (bytes for byte text; 0 = none)"),
    DBL(sample_temperature, G_SCHED, 0, NOMAX, 0, "0.8", "sampling temperature (0 = greedy)"),

    STR(output_dir, G_CKPT, "./mptui-output", "DIR", "checkpoints go here"),
    STR(logging_dir, G_CKPT, "", "DIR", "metrics.csv goes here (empty = <output_dir>/logs)"),
    ENUM(save_strategy, G_CKPT, strat_names, "steps", "no|steps|epoch", "when to save checkpoints"),
    I64(save_steps, G_CKPT, 1, 1e15, 0, "500", "N", "save every N steps"),
    INT(save_total_limit, G_CKPT, 0, 1 << 30, 0, "3", "N", "keep the newest N checkpoints (0 = all)"),
    ENUM_AS("save_on_error", save_on_error_stop, G_CKPT, save_err_names, "continue",
            "continue|stop", "what a failed checkpoint write does to the run"),
    ALIAS_BOOL("save_on_error_stop", save_on_error_stop, G_CKPT, "same as --save_on_error stop"),
    STR(resume_from_checkpoint, G_CKPT, "", "DIR|latest", "resume a checkpoint"),
    STR(init_from, G_CKPT, "", "DIR", "start from a checkpoint's weights only"),

    U64(seed, G_RUN, "42", "seed of all randomness"),
    ENUM(device, G_RUN, device_names, "auto", "auto|cpu|cuda", "compute device"),
    INT(threads, G_RUN, 0, 1024, 0, "0", "N", "CPU threads (0 = all cores; under mpirun, the cores of a host shared by its ranks)"),
    ENUM(ddp_comm_dtype, G_RUN, comm_dtype_names, "fp32", "fp32|fp16|bf16",
         "mpirun: the dtype gradients are averaged in across ranks"),
    INT(zero_stage, G_RUN, 0, 1, 0, "0", "N", "mpirun: 1 = AdamW's state and updates sharded across ranks (ZeRO-1)"),
    DBL(ddp_timeout, G_RUN, 0, NOMAX, 0, "1800", "a collective waiting longer for the other ranks ends the run (0 = never)"),
    BOOL(headless, G_RUN, "false", "no TUI; progress lines on stdout"),
    BOOL(dry_run, G_RUN, "false", "print the memory plan (peak vs available) and exit"),
    INT(delay, G_RUN, 1, 100, 0, "1", "N", "TUI refresh in tenths of a second"),
    BOOL(no_color, G_RUN, "false", "monochrome TUI (also NO_COLOR)"),
    ALIAS_BOOL("no-color", no_color, G_RUN, "same as --no_color"),
    BOOL(no_unicode, G_RUN, "false", "ASCII charts instead of braille"),
    ALIAS_BOOL("no-unicode", no_unicode, G_RUN, "same as --no_unicode"),
    CUSTOM("compare", G_RUN, set_compare, write_compare, 0, "", "MODES",
           "run replicas side by side, e.g. fp16,bf16"),
    {"config", T_CUSTOM, G_RUN, OFF(config_file), sizeof(((mp_config *)0)->config_file), 0, 0,
     NULL, set_config, NULL, F_NOSAVE | F_CLIONLY, NULL, "FILE",
     "read name = value lines first (the command line wins)"},
    {"config_file", T_CUSTOM, G_RUN, OFF(config_file), sizeof(((mp_config *)0)->config_file),
     0, 0, NULL, set_config, NULL, F_NOSAVE | F_CLIONLY, NULL, "FILE", "same as --config"},
    CUSTOM("help", G_RUN, set_nothing, NULL, F_NOSAVE | F_CLIONLY, NULL, NULL, "this text (also -h)"),
    CUSTOM("version", G_RUN, set_nothing, NULL, F_NOSAVE | F_CLIONLY, NULL, NULL, "print the version"),
};
#define N_OPTIONS (sizeof OPTIONS / sizeof OPTIONS[0])
const cfg_option *const cfg_options = OPTIONS;
const size_t cfg_n_options = N_OPTIONS;

const cfg_option *cfg_opt_find(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strlen(OPTIONS[i].name) == len && !strncmp(OPTIONS[i].name, name, len))
            return &OPTIONS[i];
    return NULL;
}

bool cfg_opt_is_flag(const cfg_option *o) { return o->meta == NULL; }

/* ---------- setting one option ---------- */

int cfg_opt_apply(mp_config *c, const cfg_option *o, const char *v, cfg_seen *seen,
                  char *err, size_t errlen)
{
    if (!v && !cfg_opt_is_flag(o)) return cfg_fail(err, errlen, "--%s: missing value", o->name);
    int rc;
    switch (o->type) {
    case T_INT: case T_I64: case T_U64: case T_DBL: rc = set_number(c, o, v, err, errlen); break;
    case T_BOOL: rc = set_bool(c, o, v, err, errlen); break;
    case T_STR: rc = set_str(c, o, v, err, errlen); break;
    case T_ENUM: rc = set_enum(c, o, v, err, errlen); break;
    default:
        if (o->set == set_nothing && v)
            return cfg_fail(err, errlen, "--%s takes no value", o->name);
        rc = o->set(c, o, v, err, errlen);
        break;
    }
    if (rc) return rc;
    static const struct { size_t off; unsigned bit; } shape[] = {
        {offsetof(mp_config, n_layer), CFG_GIVEN_N_LAYER},
        {offsetof(mp_config, n_head), CFG_GIVEN_N_HEAD},
        {offsetof(mp_config, n_embd), CFG_GIVEN_N_EMBD},
        {offsetof(mp_config, block_size), CFG_GIVEN_BLOCK_SIZE},
        {offsetof(mp_config, vocab_size), CFG_GIVEN_VOCAB_SIZE},
    };
    for (size_t i = 0; i < sizeof shape / sizeof shape[0]; i++)
        if (o->type == T_INT && o->off == shape[i].off) c->shape_given |= shape[i].bit;
    if (!seen) return 0;
    if (o->off == offsetof(mp_config, eval_strategy) && o->type == T_ENUM)
        seen->eval_strategy = true; /* --eval_strategy or --evaluation_strategy */
    if (!strcmp(o->name, "eval_steps")) seen->eval_steps = true;
    int b = 1;
    if (!strcmp(o->name, "fp16") && (!v || !parse_bool(v, &b)) && b) seen->fp16 = true;
    if (!strcmp(o->name, "bf16") && (!v || !parse_bool(v, &b)) && b) seen->bf16 = true;
    return 0;
}

/* After one source (file or command line) is applied. */
int cfg_seen_finish(mp_config *c, const cfg_seen *s, char *err, size_t errlen)
{
    if (s->fp16 && s->bf16)
        return cfg_fail(err, errlen, "--fp16 and --bf16 both given: choose one (or --precision)");
    if (s->eval_steps && !s->eval_strategy) c->eval_strategy = STRAT_STEPS;
    return 0;
}

int cfg_set(mp_config *c, const char *name, const char *value, char *err, size_t errlen)
{
    const cfg_option *o = cfg_opt_find(name, strlen(name));
    if (!o) return cfg_fail(err, errlen, "unknown option '--%s' (see --help)", name);
    return cfg_opt_apply(c, o, value, NULL, err, errlen);
}

void cfg_defaults(mp_config *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const cfg_option *o = &OPTIONS[i];
        if (o->def) cfg_opt_apply(c, o, o->def, NULL, NULL, 0); /* defaults are tested to parse */
    }
    c->shape_given = 0; /* a default is not a given value */
}

/* ---------- command line ---------- */

typedef struct {
    const cfg_option *opt; /* NULL: unknown */
    const char *name;      /* as typed, for messages */
    size_t name_len;
    const char *value;     /* NULL: flag without value */
    bool missing;          /* value required but absent */
    bool is_option;        /* starts with - */
} cli_arg;

static bool is_bool_literal(const char *s)
{
    int b;
    return s && parse_bool(s, &b) == 0;
}

/* Decodes argv[*i] (and its value); advances *i past what it used. */
static void cli_next(int argc, char **argv, int *i, cli_arg *a)
{
    const char *s = argv[(*i)++];
    memset(a, 0, sizeof *a);
    a->name = s;
    a->name_len = strlen(s);
    if (!strcmp(s, "-h")) {
        a->is_option = true;
        a->opt = cfg_opt_find("help", 4);
        return;
    }
    if (strncmp(s, "--", 2) != 0) return;
    a->is_option = true;
    const char *n = s + 2, *eq = strchr(n, '=');
    a->name = n;
    a->name_len = eq ? (size_t)(eq - n) : strlen(n);
    a->opt = cfg_opt_find(n, a->name_len);
    if (eq) {
        a->value = eq + 1;
        return;
    }
    if (!a->opt) return;
    const char *next = *i < argc ? argv[*i] : NULL;
    if (cfg_opt_is_flag(a->opt)) {
        /* HfArgumentParser style `--fp16 True` */
        if (a->opt->set != set_nothing &&
            (is_bool_literal(next) || (a->opt->set == set_do_eval && next && !strcmp(next, "auto"))))
            a->value = argv[(*i)++];
        return;
    }
    if (!next || !strncmp(next, "--", 2)) {
        a->missing = true;
        return;
    }
    a->value = argv[(*i)++];
}

static cfg_result cli_error(char *msg, size_t msglen, const cli_arg *a)
{
    if (!a->is_option)
        cfg_fail(msg, msglen, "unexpected argument '%s' (options start with --; see --help)", a->name);
    else
        cfg_fail(msg, msglen, "unknown option '--%.*s' (see --help)", (int)a->name_len, a->name);
    return CFG_ERR;
}

cfg_result cfg_parse_args(mp_config *c, int argc, char **argv, char *msg, size_t msglen)
{
    cli_arg a;
    const char *config = NULL;
    /* Pass 1: --help / --version win over everything; find --config. */
    for (int i = 1; i < argc;) {
        cli_next(argc, argv, &i, &a);
        if (!a.opt || (a.opt->set == set_nothing && a.value)) continue; /* pass 2 reports */
        if (!strcmp(a.opt->name, "help")) {
            snprintf(msg, msglen, "%s", cfg_help_text());
            return CFG_EXIT_OK;
        }
        if (!strcmp(a.opt->name, "version")) {
            snprintf(msg, msglen, "mptui %s\n", MPTUI_VERSION);
            return CFG_EXIT_OK;
        }
        if (a.opt->set == set_config && a.value) {
            if (config) {
                cfg_fail(msg, msglen, "--%s: a second config file ('%s' after '%s'); give one "
                     "--config and the rest as options", a.opt->name, a.value, config);
                return CFG_ERR;
            }
            config = a.value;
        }
    }
    if (config && cfg_load_file(c, config, msg, msglen)) return CFG_ERR;
    /* Pass 2: everything else, in order. */
    cfg_seen seen = {0};
    for (int i = 1; i < argc;) {
        cli_next(argc, argv, &i, &a);
        if (!a.opt) return cli_error(msg, msglen, &a);
        if (a.missing) {
            cfg_fail(msg, msglen, "--%s: missing value", a.opt->name);
            return CFG_ERR;
        }
        if (cfg_opt_apply(c, a.opt, a.value, &seen, msg, msglen)) return CFG_ERR;
        if (a.opt->set == set_precision || a.opt->set == set_fp16 || a.opt->set == set_bf16)
            c->precision_from_cli = 1; /* it wins over a resumed checkpoint's mode */
    }
    if (cfg_seen_finish(c, &seen, msg, msglen)) return CFG_ERR;
    return cfg_apply_model(c, msg, msglen) ? CFG_ERR : CFG_OK;
}

/* ---------- --model_name_or_path ---------- */

static int model_folder(mp_config *c, char *err, size_t errlen)
{
    char *d = c->model_name_or_path;
    size_t n = strlen(d);
    while (n > 1 && d[n - 1] == '/') d[--n] = '\0';
    struct stat sb;
    if (stat(d, &sb) && errno == ENOENT)
        return cfg_fail(err, errlen, "--model_name_or_path %s: no such folder; mptui reads a "
                        "local folder, it downloads nothing (e.g. huggingface-cli download %s "
                        "--local-dir %s)", d, d, d);
    if (stat(d, &sb) || !S_ISDIR(sb.st_mode))
        return cfg_fail(err, errlen, "--model_name_or_path %s: not a folder; give the folder "
                        "that holds config.json and model.safetensors", d);
    return 0;
}

/* One shape value of config.json into c: in the option's range, equal to a given option. */
static int model_value(mp_config *c, const char *name, unsigned bit, int file_value,
                       char *err, size_t errlen)
{
    const cfg_option *o = cfg_opt_find(name, strlen(name));
    int *field = (int *)((char *)c + o->off);
    char r[96];
    if (!in_range(o, file_value)) {
        range_text(o, r, sizeof r);
        return cfg_fail(err, errlen, "%s/config.json: %s %d is outside what mptui supports "
                        "(--%s must be %s)", c->model_name_or_path, name, file_value, name, r);
    }
    if ((c->shape_given & bit) && *field != file_value)
        return cfg_fail(err, errlen, "--%s %d disagrees with %s/config.json (%s %d); drop the "
                        "option or give the folder's value", name, *field, c->model_name_or_path,
                        name, file_value);
    *field = file_value;
    return 0;
}

int cfg_apply_model(mp_config *c, char *err, size_t errlen)
{
    if (!c->model_name_or_path[0]) return 0;
    hf_config h;
    if (model_folder(c, err, errlen) || hf_config_read(c->model_name_or_path, &h, err, errlen))
        return -1;
    if (model_value(c, "n_layer", CFG_GIVEN_N_LAYER, h.n_layer, err, errlen) ||
        model_value(c, "n_head", CFG_GIVEN_N_HEAD, h.n_head, err, errlen) ||
        model_value(c, "n_embd", CFG_GIVEN_N_EMBD, h.n_embd, err, errlen) ||
        model_value(c, "vocab_size", CFG_GIVEN_VOCAB_SIZE, h.vocab_size, err, errlen))
        return -1;
    const cfg_option *bs = cfg_opt_find("block_size", 10);
    if (!in_range(bs, h.n_positions)) {
        char r[96];
        range_text(bs, r, sizeof r);
        return cfg_fail(err, errlen, "%s/config.json: n_positions %d is outside what mptui supports "
                        "(--block_size must be %s)", c->model_name_or_path, h.n_positions, r);
    }
    if (!(c->shape_given & CFG_GIVEN_BLOCK_SIZE))
        c->block_size = h.n_positions < 1024 ? h.n_positions : 1024;
    else if (c->block_size > h.n_positions)
        return cfg_fail(err, errlen, "--block_size %d is larger than %s/config.json's n_positions "
                        "%d (the model's positions); give at most %d", c->block_size,
                        c->model_name_or_path, h.n_positions, h.n_positions);
    c->n_positions = h.n_positions;
    return 0;
}

/* ---------- validation ---------- */

static double opt_number(const mp_config *c, const cfg_option *o)
{
    switch (o->type) {
    case T_INT: return *(const int *)cfg_cfield(c, o);
    case T_I64: return (double)*(const int64_t *)cfg_cfield(c, o);
    default: return *(const double *)cfg_cfield(c, o);
    }
}

/* Each override must name a layer of the model these options build (a bad option, exit 2,
 * before any data is read). */
static int validate_overrides(const mp_config *c, char *err, size_t errlen)
{
    prec_policy p;
    char msg[256];
    if (c->n_overrides == 0) return 0;
    if (prec_init(&p, c->n_layer, c->precision)) return cfg_fail(err, errlen, "out of memory");
    int rc = 0;
    for (int i = 0; i < c->n_overrides && rc == 0; i++)
        if (prec_set_override(&p, c->overrides[i].pattern, c->overrides[i].dtype, msg,
                              sizeof msg) < 0)
            rc = cfg_fail(err, errlen, "--%s", msg);
    prec_free(&p);
    return rc;
}

/* --do_train false leaves evaluation as the only thing to do (docs/options.md). */
static int validate_do(const mp_config *c, char *err, size_t errlen)
{
    if (c->do_train) return 0;
    if (c->do_eval == 0)
        return cfg_fail(err, errlen, "--do_train false with --do_eval false: nothing to do; give "
                        "--do_eval to evaluate without training, or drop --do_train false");
    if (!cfg_do_eval(c))
        return cfg_fail(err, errlen, "--do_train false with --eval_strategy no: nothing to do; "
                        "add --do_eval to evaluate without training");
    if (c->resume_from_checkpoint[0])
        return cfg_fail(err, errlen, "--resume_from_checkpoint with --do_train false: resuming "
                        "continues training; to evaluate a checkpoint's weights give --init_from "
                        "DIR");
    return 0;
}

int cfg_validate(const mp_config *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const cfg_option *o = &OPTIONS[i];
        if (o->type != T_INT && o->type != T_I64 && o->type != T_DBL) continue;
        double v = opt_number(c, o);
        if (!in_range(o, v) || isnan(v)) {
            char buf[64];
            cfg_fmt_double(buf, sizeof buf, v);
            return range_fail(o, buf, err, errlen);
        }
    }
    if (c->n_embd % c->n_head)
        return cfg_fail(err, errlen, "--n_embd %d is not divisible by --n_head %d", c->n_embd,
                    c->n_head);
    if ((unsigned)c->precision >= DT_COUNT)
        return cfg_fail(err, errlen, "--precision: invalid value %d", (int)c->precision);
    if (c->fp16_full_eval && c->bf16_full_eval)
        return cfg_fail(err, errlen, "--fp16_full_eval and --bf16_full_eval both set: choose one");
    if (c->loss_scale == LS_STATIC && !(c->static_scale > 0 && isfinite(c->static_scale)))
        return cfg_fail(err, errlen, "--loss_scale: a static scale must be a positive number");
    if (c->loss_scale != LS_STATIC && c->min_loss_scale > c->init_scale)
        return cfg_fail(err, errlen, "--min_loss_scale %g is above --init_scale %g",
                    c->min_loss_scale, c->init_scale);
    if (!c->output_dir[0]) return cfg_fail(err, errlen, "--output_dir: must not be empty");
    if (c->n_overrides < 0 || c->n_overrides > CFG_MAX_OVERRIDES)
        return cfg_fail(err, errlen, "--override: %d overrides (at most %d)", c->n_overrides,
                    CFG_MAX_OVERRIDES);
    if (c->model_name_or_path[0] && c->init_from[0])
        return cfg_fail(err, errlen, "--model_name_or_path and --init_from both give starting "
                        "weights; choose one (a checkpoint folder works as --model_name_or_path)");
    if (c->resume_from_checkpoint[0] && c->init_from[0])
        return cfg_fail(err, errlen, "--resume_from_checkpoint and --init_from both given: resume "
                    "restores the whole run, init_from only weights; choose one");
    if (validate_do(c, err, errlen)) return -1;
    return validate_overrides(c, err, errlen);
}
