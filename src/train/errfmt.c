/* errfmt.c — the one error formatter behind every "char *err, size_t errlen" out-parameter
 * in src/train (see errfmt.h). */
#include "errfmt.h"

#include <stdio.h>

int verrfmt(char *err, size_t errlen, const char *fmt, va_list ap)
{
    if (err && errlen) vsnprintf(err, errlen, fmt, ap);
    return -1;
}

int errfmt(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verrfmt(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}
