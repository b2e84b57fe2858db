/* test_csv_out.c — the shared appending CSV writer: header only on an empty file, RFC 4180
 * quoting, number cells, refusal of another header, and each error line. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
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

Test(csv_out, formatted_cells_as_a_row, .init = setup, .fini = teardown)
{
    char err[256] = "", buf[512];
    csv_out *o = csv_out_open(path, &SPEC, err, sizeof err);
    cr_assert_not_null(o, "%s", err);
    csv_cell cell[3];
    snprintf(cell[0], sizeof cell[0], "%lld", (long long)INT64_MIN);
    csv_fmt_num(cell[1], sizeof cell[1], -1.23456789e-308);
    snprintf(cell[2], sizeof cell[2], "a\nb");
    csv_out_cells(o, cell, 3);
    cr_assert_eq(csv_out_flush(o, err, sizeof err), 0, "%s", err);
    csv_out_close(o);
    slurp(buf, sizeof buf);
    cr_assert_str_eq(buf, "a,b,c\n-9223372036854775808,-1.23456789e-308,\"a\nb\"\n");
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

/* ---- a full disk, then freed (RLIMIT_FSIZE makes write() fail with EFBIG part-way, as a full
 * disk fails with ENOSPC; each Criterion test runs in its own process) ---- */

#include <signal.h>
#include <sys/resource.h>

static void limit_size(rlim_t bytes)
{
    struct rlimit lim;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &lim), 0);
    lim.rlim_cur = bytes;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
}

static void put_row(csv_out *o, const char *a, const char *b, const char *c)
{
    const char *row[3] = {a, b, c};
    csv_out_row(o, row, 3);
}

static void assert_file(const char *want)
{
    char buf[4096];
    slurp(buf, sizeof buf);
    cr_assert_str_eq(buf, want);
}

Test(csv_out, disk_full_then_freed_keeps_whole_rows, .init = setup, .fini = teardown)
{
    char err[512] = "", want[600];
    signal(SIGXFSZ, SIG_IGN);
    csv_out *o = csv_out_open(path, &SPEC, err, sizeof err);
    cr_assert_not_null(o, "%s", err);
    cr_assert_null(csv_out_notice(o));
    put_row(o, "1", "x", "y");
    cr_assert_eq(csv_out_flush(o, err, sizeof err), 0, "%s", err);
    limit_size(strlen("a,b,c\n1,x,y\n") + 5); /* room for 5 bytes of the next row */
    put_row(o, "2", "long enough", "to be cut");
    cr_assert_eq(csv_out_flush(o, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: cannot write things: File too large; the rows are kept "
             "and written once it works again", path);
    cr_assert_str_eq(err, want);
    assert_file("a,b,c\n1,x,y\n"); /* the 5 bytes written were cut back */
    err[0] = '\0';
    put_row(o, "3", "z", "w");
    cr_assert_eq(csv_out_flush(o, err, sizeof err), 0, "still failing: reported once");
    cr_assert_str_eq(err, "");
    assert_file("a,b,c\n1,x,y\n");
    limit_size(RLIM_INFINITY); /* space is back */
    put_row(o, "4", "v", "u");
    cr_assert_eq(csv_out_flush(o, err, sizeof err), 0, "%s", err);
    assert_file("a,b,c\n1,x,y\n2,long enough,to be cut\n3,z,w\n4,v,u\n");
    csv_out_close(o);
    assert_file("a,b,c\n1,x,y\n2,long enough,to be cut\n3,z,w\n4,v,u\n");
}

Test(csv_out, rows_held_at_close_are_written, .init = setup, .fini = teardown)
{
    char err[512] = "";
    signal(SIGXFSZ, SIG_IGN);
    csv_out *o = csv_out_open(path, &SPEC, err, sizeof err);
    cr_assert_not_null(o, "%s", err);
    limit_size(strlen("a,b,c\n"));
    put_row(o, "1", "x", "y");
    cr_assert_eq(csv_out_flush(o, err, sizeof err), -1);
    assert_file("a,b,c\n");
    limit_size(RLIM_INFINITY);
    csv_out_close(o);
    assert_file("a,b,c\n1,x,y\n");
}

/* Past the hold limit rows are dropped; that is said once while failing and, with the count,
 * once writing works again. The file still holds only whole rows. */
Test(csv_out, too_many_held_rows_are_dropped_and_counted, .init = setup, .fini = teardown)
{
    char err[512] = "", want[600], cell[1000];
    signal(SIGXFSZ, SIG_IGN);
    csv_out *o = csv_out_open(path, &SPEC, err, sizeof err);
    cr_assert_not_null(o, "%s", err);
    limit_size(strlen("a,b,c\n"));
    memset(cell, 'q', sizeof cell - 1);
    cell[sizeof cell - 1] = '\0';
    int first = -1, drop_said = -1;
    for (int i = 0; i < 1100 && drop_said < 0; i++) {
        put_row(o, "1", cell, "z");
        if (csv_out_flush(o, err, sizeof err) == 0) continue;
        if (first < 0) first = i;
        else drop_said = i;
    }
    cr_assert_eq(first, 0);
    cr_assert_gt(drop_said, 1000, "1 MiB of rows are held first");
    snprintf(want, sizeof want, "%s: cannot write things: File too large; too many rows "
             "held, later rows are dropped", path);
    cr_assert_str_eq(err, want);
    for (int i = 0; i < 5; i++) put_row(o, "1", cell, "z");
    cr_assert_eq(csv_out_flush(o, err, sizeof err), 0, "dropping is said once");
    limit_size(RLIM_INFINITY);
    cr_assert_eq(csv_out_flush(o, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: 6 rows were lost while it could not be written", path);
    cr_assert_str_eq(err, want);
    cr_assert_eq(csv_out_flush(o, err, sizeof err), 0);
    csv_out_close(o);
    FILE *f = fopen(path, "r");
    static char line[2048];
    int rows = 0;
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_assert_str_eq(line, "a,b,c\n");
    while (fgets(line, sizeof line, f)) {
        cr_assert_eq(strlen(line), 1003u + 1, "row %d whole", rows);
        rows++;
    }
    fclose(f);
    cr_assert_eq(rows, drop_said);
}

static void write_file(const char *s)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(s, f);
    fclose(f);
}

/* A kill or a full disk before the fix left "4,5" without its newline: the next row joined
 * it ("4,57,8,9"). The open cuts it off and says so. */
Test(csv_out, open_cuts_an_incomplete_last_line, .init = setup, .fini = teardown)
{
    char err[512] = "", want[600];
    write_file("a,b,c\n1,2,3\n4,5");
    csv_out *o = csv_out_open(path, &SPEC, err, sizeof err);
    cr_assert_not_null(o, "%s", err);
    snprintf(want, sizeof want, "%s: removed an incomplete last line (3 bytes, left by an "
             "interrupted write)", path);
    cr_assert_not_null(csv_out_notice(o));
    cr_assert_str_eq(csv_out_notice(o), want);
    assert_file("a,b,c\n1,2,3\n");
    put_row(o, "7", "8", "9");
    cr_assert_eq(csv_out_flush(o, err, sizeof err), 0, "%s", err);
    csv_out_close(o);
    assert_file("a,b,c\n1,2,3\n7,8,9\n");
    /* a whole file is left alone */
    o = csv_out_open(path, &SPEC, err, sizeof err);
    cr_assert_not_null(o, "%s", err);
    cr_assert_null(csv_out_notice(o));
    csv_out_close(o);
    assert_file("a,b,c\n1,2,3\n7,8,9\n");
}

/* An interrupted header write: the piece is the header's start, so it is cut and the header
 * written whole; a first line of something else is still refused, untouched. */
Test(csv_out, open_repairs_a_cut_header_and_refuses_another, .init = setup, .fini = teardown)
{
    char err[512] = "", want[600];
    write_file("a,b");
    csv_out *o = csv_out_open(path, &SPEC, err, sizeof err);
    cr_assert_not_null(o, "%s", err);
    snprintf(want, sizeof want, "%s: removed an incomplete last line (3 bytes, left by an "
             "interrupted write)", path);
    cr_assert_str_eq(csv_out_notice(o), want);
    csv_out_close(o);
    assert_file("a,b,c\n");
    write_file("x,y");
    cr_assert_null(csv_out_open(path, &SPEC, err, sizeof err));
    snprintf(want, sizeof want, "%s: its header is not \"a,b,c\" (written by another mptui "
             "version?); move it away or choose another --logging_dir", path);
    cr_assert_str_eq(err, want);
    assert_file("x,y");
}
