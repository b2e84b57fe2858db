/* config_file.c — config files (read: name = value lines; written: cfg_write_file) and the
 * --help text, both walking the option table of config.c. */
#include "config.h"
#include "config_opts.h"
#include "fsutil.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------- config file ---------- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

/* One `name = value` (or bare flag) line; msg without the file:line prefix. */
static int file_line(mp_config *c, char *line, cfg_seen *seen, char *err, size_t errlen)
{
    char *eq = strchr(line, '=');
    char *name = line, *value = NULL;
    if (eq) {
        *eq = '\0';
        value = trim(eq + 1);
    }
    name = trim(name);
    while (*name == '-') name++;
    const cfg_option *o = cfg_opt_find(name, strlen(name));
    if (!o) return cfg_fail(err, errlen, "unknown option '%s'", name);
    if (o->flags & F_CLIONLY)
        return cfg_fail(err, errlen, "'%s' is allowed on the command line only", name);
    if (!value && !cfg_opt_is_flag(o)) return cfg_fail(err, errlen, "%s: expected '%s = value'", name, name);
    return cfg_opt_apply(c, o, value, seen, err, errlen);
}

/* Only a regular file: a FIFO would block the open, a device (/dev/zero) read forever. */
static FILE *open_config(const char *path, char *err, size_t errlen)
{
    const char *kind = NULL;
    int fd = fsutil_open_regular(path, &kind);
    FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (f) return f;
    if (fd == -2)
        cfg_fail(err, errlen, "%s: cannot read config file: it is %s, not a regular file; give "
             "--config a regular file", path, kind);
    else
        cfg_fail(err, errlen, "%s: cannot open config file: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    return NULL;
}

int cfg_load_file(mp_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = open_config(path, err, errlen);
    if (!f) return -1;
    mp_config tmp = *c;
    cfg_seen seen = {0};
    char *line = NULL, msg[512];
    size_t cap = 0;
    int lineno = 0, rc = 0;
    ssize_t got;
    while (rc == 0 && (got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (memchr(line, '\0', (size_t)got)) {
            rc = cfg_fail(err, errlen, "%s:%d: a NUL byte; a config file is text, one 'name = "
                      "value' per line", path, lineno);
            break;
        }
        /* A UTF-8 byte-order mark, as some Windows editors write. */
        char *s = trim(lineno == 1 && !strncmp(line, "\xEF\xBB\xBF", 3) ? line + 3 : line);
        if (!*s || *s == '#') continue;
        if (file_line(&tmp, s, &seen, msg, sizeof msg)) {
            /* inside a file options are written without dashes */
            cfg_fail(err, errlen, "%s:%d: %s", path, lineno, msg + (strncmp(msg, "--", 2) ? 0 : 2));
            rc = -1;
        }
    }
    if (rc == 0 && ferror(f))
        rc = cfg_fail(err, errlen, "%s: read error: %s", path, strerror(errno));
    if (rc == 0 && cfg_seen_finish(&tmp, &seen, msg, sizeof msg))
        rc = cfg_fail(err, errlen, "%s: %s", path, msg);
    free(line);
    fclose(f);
    if (rc == 0) *c = tmp;
    return rc;
}

/* ---------- writing ---------- */

static void opt_format(const mp_config *c, const cfg_option *o, char *buf, size_t len)
{
    switch (o->type) {
    case T_INT: snprintf(buf, len, "%d", *(const int *)cfg_cfield(c, o)); break;
    case T_I64: snprintf(buf, len, "%lld", (long long)*(const int64_t *)cfg_cfield(c, o)); break;
    case T_U64:
        snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)cfg_cfield(c, o));
        break;
    case T_DBL: cfg_fmt_double(buf, len, *(const double *)cfg_cfield(c, o)); break;
    case T_BOOL: snprintf(buf, len, "%s", *(const int *)cfg_cfield(c, o) ? "true" : "false"); break;
    case T_STR: snprintf(buf, len, "%s", (const char *)cfg_cfield(c, o)); break;
    case T_ENUM: {
        int v = *(const int *)cfg_cfield(c, o), n = 0;
        while (o->choices[n]) n++;
        snprintf(buf, len, "%s", v >= 0 && v < n ? o->choices[v] : "?");
        break;
    }
    default: o->write(c, o, buf, len); break;
    }
}

static int write_overrides(FILE *f, const mp_config *c)
{
    for (int i = 0; i < c->n_overrides; i++) {
        const cfg_override *ov = &c->overrides[i];
        const char *d = ov->dtype < 0 ? "inherit" : dtype_name((dtype_t)ov->dtype);
        if (fprintf(f, "override = %s=%s\n", ov->pattern, d) < 0) return -1;
    }
    return 0;
}

int cfg_write_file(const mp_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (!f) return cfg_fail(err, errlen, "%s: cannot write config file: %s", path, strerror(errno));
    int bad = fprintf(f, "# mptui %s configuration; use with --config %s\n", MPTUI_VERSION,
                      path) < 0;
    char val[CFG_PATH_MAX + 64];
    for (size_t i = 0; i < cfg_n_options && !bad; i++) {
        const cfg_option *o = &cfg_options[i];
        if (!strcmp(o->name, "override")) {
            bad = write_overrides(f, c) != 0;
            continue;
        }
        if (o->flags & F_NOSAVE) continue;
        opt_format(c, o, val, sizeof val);
        bad = fprintf(f, "%s = %s\n", o->name, val) < 0;
    }
    if (fflush(f) != 0) bad = 1;
    int saved = errno;
    if (fclose(f) != 0) bad = 1;
    if (bad) return cfg_fail(err, errlen, "%s: write failed: %s", path, strerror(saved ? saved : EIO));
    return 0;
}

/* ---------- help ---------- */

static char help_buf[16384];
static pthread_once_t help_once = PTHREAD_ONCE_INIT;

static void help_append(size_t *used, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void help_append(size_t *used, const char *fmt, ...)
{
    if (*used >= sizeof help_buf) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(help_buf + *used, sizeof help_buf - *used, fmt, ap);
    va_end(ap);
    if (n > 0) *used += (size_t)n;
}

static void help_option(size_t *used, const cfg_option *o)
{
    char left[96];
    snprintf(left, sizeof left, "--%s%s%s", o->name, o->meta ? " " : "", o->meta ? o->meta : "");
    if (strlen(left) > 34) help_append(used, "  %s\n  %-34s %s", left, "", o->help);
    else help_append(used, "  %-34s %s", left, o->help);
    if (o->def) help_append(used, " [default: %s]", *o->def ? o->def : "\"\"");
    help_append(used, "\n");
}

static void help_build(void)
{
    size_t used = 0;
    help_append(&used,
                "usage: mptui [--config FILE] [--NAME VALUE | --NAME=VALUE]...\n"
                "Train a small GPT in fp32, fp16 or bf16 and watch it live (--headless: no TUI).\n"
                "Options use Hugging Face TrainingArguments names; flags also take true/false.\n");
    for (int g = 0; g < G_COUNT; g++) {
        help_append(&used, "\n%s:\n", cfg_group_title[g]);
        for (size_t i = 0; i < cfg_n_options; i++)
            if (cfg_options[i].group == (opt_group)g) help_option(&used, &cfg_options[i]);
    }
}

const char *cfg_help_text(void)
{
    pthread_once(&help_once, help_build);
    return help_buf;
}
