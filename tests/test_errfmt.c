/* test_errfmt.c — the one error formatter: the text, the -1 it returns, a cut message, and no
 * buffer at all. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <string.h>

#include "errfmt.h"

Test(errfmt, formats_and_returns_minus_one)
{
    char err[64] = "old";
    cr_assert_eq(errfmt(err, sizeof err, "%s: field '%s' is %d", "f.json", "n", 3), -1);
    cr_assert_str_eq(err, "f.json: field 'n' is 3");
}

Test(errfmt, cuts_to_the_buffer_and_tolerates_none)
{
    char err[8];
    memset(err, 'z', sizeof err);
    cr_assert_eq(errfmt(err, sizeof err, "%s", "0123456789"), -1);
    cr_assert_str_eq(err, "0123456");
    cr_assert_eq(errfmt(NULL, 64, "%s", "x"), -1);
    err[0] = 'q';
    cr_assert_eq(errfmt(err, 0, "%s", "x"), -1);
    cr_assert_eq(err[0], 'q', "errlen 0: nothing written");
}

static int wrapper(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = verrfmt(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

Test(errfmt, va_list_form_for_wrappers)
{
    char err[32];
    cr_assert_eq(wrapper(err, sizeof err, "%s line %d", "cfg", 7), -1);
    cr_assert_str_eq(err, "cfg line 7");
    cr_assert_eq(wrapper(NULL, 0, "%s", "x"), -1);
}
