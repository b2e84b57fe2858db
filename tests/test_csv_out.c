/* test_csv_out.c — the shared appending CSV writer: header only on an empty file, RFC 4180
 * quoting, number cells, refusal of another header, and each error line. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv_out.h"

static char path[64];

static void setup(void)
{
    snprintf(path, sizeof path, "/tmp/mptui-csvout-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
}

static void teardown(void) { unlink(path); }

static void slurp(char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static const csv_out_spec SPEC = {"a,b,c", "things", " (hint)", 1};

Test(csv_out, header_once_quoting_and_append, .init = setup, .fini = teardown)
{
    char err[256] = "", buf[512];
    for (int run = 0; run < 2; run++) {
        csv_out *o = csv_out_open(path, &SPEC, err, sizeof err);
        cr_assert_not_null(o, "%s", err);
        const char *row[3] = {run ? "2" : "1", "x,y", "say \"hi\""};
        csv_out_row(o, row, 3);
        cr_assert_eq(csv_out_flush(o, err, sizeof err), 0, "%s", err);
        csv_out_close(o);
    }
    slurp(buf, sizeof buf);
    cr_assert_str_eq(buf, "a,b,c\n1,\"x,y\",\"say \"\"hi\"\"\"\n2,\"x,y\",\"say \"\"hi\"\"\"\n");
}

Test(csv_out, number_cells)
{
    char b[48];
    csv_fmt_num(b, sizeof b, NAN);
    cr_assert_str_eq(b, "");
    csv_fmt_num(b, sizeof b, INFINITY);
    cr_assert_str_eq(b, "inf");
    csv_fmt_num(b, sizeof b, -INFINITY);
    cr_assert_str_eq(b, "-inf");
    csv_fmt_num(b, sizeof b, (double)0.1f);
    cr_assert_str_eq(b, "0.100000001");
    cr_assert_eq(strtof(b, NULL), 0.1f);
}

Test(csv_out, other_header_refused_only_when_asked, .init = setup, .fini = teardown)
{
    FILE *f = fopen(path, "w");
    fputs("x,y\n1,2\n", f);
    fclose(f);
    char err[512] = "", want[512];
    cr_assert_null(csv_out_open(path, &SPEC, err, sizeof err));
    snprintf(want, sizeof want, "%s: its header is not \"a,b,c\" (written by another mptui "
             "version?); move it away or choose another --logging_dir", path);
    cr_assert_str_eq(err, want);
    const csv_out_spec lax = {"a,b,c", "things", NULL, 0};
    csv_out *o = csv_out_open(path, &lax, err, sizeof err);
    cr_assert_not_null(o, "%s", err);
    csv_out_close(o);
}

Test(csv_out, error_lines)
{
    char err[512] = "", want[512];
    const char *bad = "/nonexistent-mptui-dir/x.csv";
    cr_assert_null(csv_out_open(bad, &SPEC, err, sizeof err));
    snprintf(want, sizeof want, "%s: cannot open for appending: No such file or directory (hint)",
             bad);
    cr_assert_str_eq(err, want);
    if (access("/dev/full", W_OK) != 0) return;
    cr_assert_null(csv_out_open("/dev/full", &SPEC, err, sizeof err)); /* the header write */
    cr_assert_str_eq(err, "/dev/full: cannot write things: No space left on device");
    const csv_out_spec plain = {"a", NULL, NULL, 0};
    cr_assert_null(csv_out_open("/dev/full", &plain, err, sizeof err));
    cr_assert_str_eq(err, "/dev/full: cannot write: No space left on device");
}
