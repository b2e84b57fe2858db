/* errfmt.h — the one error formatter behind every "char *err, size_t errlen" out-parameter
 * in src/train: library code fills a message and returns a status; the caller shows it. */
#ifndef MPTUI_ERRFMT_H
#define MPTUI_ERRFMT_H

#include <stdarg.h>
#include <stddef.h>

/* Formats into err (when err is not NULL and errlen > 0; longer text is cut). Returns -1, so
 * a failing path can `return errfmt(err, errlen, "...", ...);`. */
int errfmt(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same for a formatter of its own that adds to the message (config.c escapes controls). */
int verrfmt(char *err, size_t errlen, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
