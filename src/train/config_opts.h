/* config_opts.h — the option table's row type and the helpers config.c (table, values,
 * command line, validation) shares with config_file.c (config files, --help). Private. */
#ifndef MPTUI_CONFIG_OPTS_H
#define MPTUI_CONFIG_OPTS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

typedef enum { T_INT, T_I64, T_U64, T_DBL, T_BOOL, T_STR, T_ENUM, T_CUSTOM } opt_type;
typedef enum {
    G_MODEL, G_DATA, G_PREC, G_SCALE, G_OPTIM, G_SCHED, G_CKPT, G_RUN, G_COUNT
} opt_group;

enum {
    F_NOSAVE = 1,  /* not written by cfg_write_file (aliases, flags, --config, --help) */
    F_NEG1 = 2,    /* -1 accepted besides [min, max] */
    F_XMIN = 4,    /* min is exclusive */
    F_XMAX = 8,    /* max is exclusive */
    F_CLIONLY = 16 /* refused inside a config file */
};

/* Parse-time state a single cfg_set cannot see: what this source (file or command line)
 * gave, for "--eval_steps alone implies steps" and "--fp16 with --bf16 is an error". */
typedef struct {
    bool eval_strategy, eval_steps, fp16, bf16;
} cfg_seen;

typedef struct cfg_option cfg_option;
typedef int (*opt_setter)(mp_config *c, const cfg_option *o, const char *v, char *err,
                          size_t errlen);
typedef void (*opt_writer)(const mp_config *c, const cfg_option *o, char *buf, size_t len);

struct cfg_option {
    const char *name;
    opt_type type;
    opt_group group;
    size_t off, size;
    double min, max;
    const char *const *choices; /* T_ENUM: names indexed by value, NULL-terminated */
    opt_setter set;             /* T_CUSTOM */
    opt_writer write;           /* T_CUSTOM; NULL with F_NOSAVE */
    unsigned flags;
    const char *def;            /* applied by cfg_defaults and shown by --help; NULL = none */
    const char *meta;           /* argument name in --help; NULL = flag */
    const char *help;
};

extern const cfg_option *const cfg_options; /* the table, in --help order */
extern const size_t cfg_n_options;
extern const char *const cfg_group_title[G_COUNT];

/* The row named name[0..len), or NULL. */
const cfg_option *cfg_opt_find(const char *name, size_t len);
/* A flag takes no value (an optional true/false). */
bool cfg_opt_is_flag(const cfg_option *o);
/* Sets one option from its text (v NULL for a bare flag); seen may be NULL. 0 or -1 + err. */
int cfg_opt_apply(mp_config *c, const cfg_option *o, const char *v, cfg_seen *seen, char *err,
                  size_t errlen);
/* The rules that need a whole source (file or command line) at once. */
int cfg_seen_finish(mp_config *c, const cfg_seen *s, char *err, size_t errlen);
/* errfmt with control bytes shown as \xNN (names and values echo user input). Returns -1. */
int cfg_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const void *cfg_cfield(const mp_config *c, const cfg_option *o);
/* The shortest text that reads back as v ("1e-3", "0.9"). */
void cfg_fmt_double(char *buf, size_t len, double v);

#endif
