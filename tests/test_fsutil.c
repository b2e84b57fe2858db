/* test_fsutil.c — the file-system helpers: non-regular files refused without blocking, mkdir -p
 * (a file in the way named), whole-file write and read with their one-line errors, the atomic
 * replace (old or new, never a mix), directory fsync and rm -rf that follows no link. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"

static char dir[64];
static char err[1024];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/mptui-fsutil-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(fsutil, .init = setup, .fini = teardown);

static const char *at(const char *name)
{
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static int is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

Test(fsutil, open_file_refuses_fifo_and_directory_by_name)
{
    char want[512];
    cr_assert_eq(mkfifo(at("pipe"), 0600), 0);
    cr_assert_eq(fsutil_open_file(at("pipe"), "give a file", err, sizeof err), -1); /* no block */
    snprintf(want, sizeof want, "%s: is a FIFO, not a regular file; give a file", at("pipe"));
    cr_assert_str_eq(err, want);
    cr_assert_eq(fsutil_open_file(dir, "give a file", err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: is a directory, not a regular file; give a file", dir);
    cr_assert_str_eq(err, want);
    cr_assert_eq(fsutil_open_file(at("none"), "give a file", err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", at("none"));
    cr_assert_str_eq(err, want);
    put(at("f"), "ok");
    int fd = fsutil_open_file(at("f"), "give a file", err, sizeof err);
    cr_assert_geq(fd, 0);
    cr_assert_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0, "the fd blocks as usual");
    close(fd);
}

Test(fsutil, mkdir_p_creates_every_level_and_names_what_is_in_the_way)
{
    size_t bad = 0;
    cr_assert_eq(fsutil_mkdir_p(at("a/b/c/"), 0755, &bad), 0);
    cr_assert(is_dir(at("a/b/c")));
    cr_assert_eq(fsutil_mkdir_p(at("a/b/c"), 0755, NULL), 0, "existing is fine");
    put(at("a/file"), "x");
    cr_assert_eq(fsutil_mkdir_p(at("a/file/d/e"), 0755, &bad), -1);
    cr_assert_eq(errno, ENOTDIR);
    cr_assert_eq(bad, strlen(at("a/file")), "the prefix that failed: %zu", bad);
    cr_assert_eq(fsutil_mkdir_p(at("a/file"), 0755, &bad), -1);
    cr_assert_eq(errno, ENOTDIR);
    cr_assert_eq(fsutil_mkdir_p("", 0755, NULL), -1);
    cr_assert_eq(errno, ENOENT);
    char *huge = malloc(PATH_MAX + 8);
    memset(huge, 'a', PATH_MAX + 7);
    huge[PATH_MAX + 7] = 0;
    cr_assert_eq(fsutil_mkdir_p(huge, 0755, NULL), -1);
    cr_assert_eq(errno, ENAMETOOLONG);
    free(huge);
}

Test(fsutil, mkdir_parents_leaves_the_last_component)
{
    size_t bad;
    cr_assert_eq(fsutil_mkdir_parents(at("p/q/metrics.csv"), 0777, &bad), 0);
    cr_assert(is_dir(at("p/q")));
    cr_assert_eq(access(at("p/q/metrics.csv"), F_OK), -1, "not created");
    cr_assert_eq(fsutil_mkdir_parents("plain-name", 0777, NULL), 0, "nothing above it");
    put(at("p/x"), "x");
    cr_assert_eq(fsutil_mkdir_parents(at("p/x/y/z.csv"), 0777, &bad), -1);
    cr_assert_eq(errno, ENOTDIR);
    cr_assert_eq(bad, strlen(at("p/x")));
}

Test(fsutil, write_file_then_slurp_exact_bytes)
{
    const char data[] = "line\n\0binary\xff";
    cr_assert_eq(fsutil_write_file(at("w"), data, sizeof data, err, sizeof err), 0, "%s", err);
    size_t len = 0;
    char *got = fsutil_slurp(at("w"), 1024, "hint", &len, err, sizeof err);
    cr_assert_not_null(got, "%s", err);
    cr_assert_eq(len, sizeof data);
    cr_assert_eq(memcmp(got, data, len), 0);
    cr_assert_eq(got[len], 0, "NUL-terminated");
    free(got);
    cr_assert_eq(fsutil_write_file(at("w"), "ab", 2, err, sizeof err), 0, "%s", err);
    got = fsutil_slurp(at("w"), 2, "hint", &len, err, sizeof err); /* truncated, at max */
    cr_assert_str_eq(got, "ab");
    free(got);
}

Test(fsutil, slurp_and_write_errors_are_one_line)
{
    char want[512];
    size_t len;
    put(at("big"), "12345");
    cr_assert_null(fsutil_slurp(at("big"), 4, "hint", &len, err, sizeof err));
    snprintf(want, sizeof want, "%s: not a regular file or larger than 4 bytes", at("big"));
    cr_assert_str_eq(err, want);
    cr_assert_eq(mkfifo(at("pipe"), 0600), 0);
    cr_assert_null(fsutil_slurp(at("pipe"), 4, "a checkpoint holds regular files only", &len,
                                err, sizeof err));
    snprintf(want, sizeof want, "%s: is a FIFO, not a regular file; a checkpoint holds regular "
             "files only", at("pipe"));
    cr_assert_str_eq(err, want);
    cr_assert_eq(fsutil_write_file(at("no/such/dir/f"), "x", 1, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: cannot create: No such file or directory", at("no/such/dir/f"));
    cr_assert_str_eq(err, want);
    if (access("/dev/full", W_OK) == 0) {
        cr_assert_eq(fsutil_write_file("/dev/full", "x", 1, err, sizeof err), -1);
        cr_assert_str_eq(err, "/dev/full: write failed: No space left on device (disk full or not "
                         "writable?)");
        struct stat sb;
        cr_assert_eq(stat("/dev/full", &sb), 0, "a device is never removed");
        cr_assert(S_ISCHR(sb.st_mode));
    }
}

Test(fsutil, finish_after_a_failed_write_removes_the_partial_file)
{
    int fd = fsutil_create(at("part"), err, sizeof err);
    cr_assert_geq(fd, 0, "%s", err);
    cr_assert_eq(fsutil_write_all(fd, "half", 4), 0);
    errno = ENOSPC; /* as a failed write leaves it */
    cr_assert_eq(fsutil_finish(fd, at("part"), 1, err, sizeof err), -1);
    char want[512];
    snprintf(want, sizeof want, "%s: write failed: No space left on device (disk full or not "
             "writable?)", at("part"));
    cr_assert_str_eq(err, want);
    cr_assert_eq(access(at("part"), F_OK), -1, "partial file removed");
    cr_assert_eq(fsutil_write_all(-1, "x", 1), -1);
    cr_assert_eq(errno, EBADF);
}

static int fill_text(FILE *out, void *ctx)
{
    return fputs(ctx, out) < 0 ? -1 : 0;
}

static int fill_fails(FILE *out, void *ctx)
{
    (void)ctx;
    fputs("partial", out);
    errno = EIO;
    return -1;
}

static int count_entries(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", dir);
    return system(cmd) == 0;
}

Test(fsutil, replace_is_all_or_nothing)
{
    put(at("m.csv"), "old\n");
    cr_assert_eq(chmod(at("m.csv"), 0640), 0);
    cr_assert_eq(fsutil_replace(at("m.csv"), "resume", 0640, fill_text, "new\n"), 0);
    size_t len;
    char *got = fsutil_slurp(at("m.csv"), 64, "", &len, err, sizeof err);
    cr_assert_str_eq(got, "new\n");
    free(got);
    struct stat sb;
    cr_assert_eq(stat(at("m.csv"), &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0640);
    cr_assert(count_entries(), "no temporary file left");
    errno = 0;
    cr_assert_eq(fsutil_replace(at("m.csv"), "resume", 0640, fill_fails, NULL), -1);
    cr_assert_eq(errno, EIO, "the fill's reason");
    got = fsutil_slurp(at("m.csv"), 64, "", &len, err, sizeof err);
    cr_assert_str_eq(got, "new\n", "untouched");
    free(got);
    cr_assert(count_entries(), "the temporary file is removed");
    cr_assert_eq(fsutil_replace(at("no/dir/m.csv"), "resume", 0640, fill_text, "x"), -1);
    cr_assert_eq(errno, ENOENT);
}

Test(fsutil, fsync_dir_and_parent)
{
    cr_assert_eq(fsutil_fsync_dir(dir), 0);
    put(at("f"), "x");
    cr_assert_eq(fsutil_fsync_dir(at("f")), -1);
    cr_assert_eq(errno, ENOTDIR);
    cr_assert_eq(fsutil_fsync_parent(at("f")), 0);
    cr_assert_eq(fsutil_fsync_parent("no-slash-here"), 0, "the current directory");
    cr_assert_eq(fsutil_fsync_parent("/f"), 0, "the root");
    cr_assert_eq(fsutil_fsync_parent(at("gone/f")), -1);
    cr_assert_eq(errno, ENOENT);
}

Test(fsutil, rm_rf_removes_a_tree_but_follows_no_link)
{
    cr_assert_eq(fsutil_mkdir_p(at("t/u/v"), 0755, NULL), 0);
    put(at("t/u/v/f"), "x");
    cr_assert_eq(fsutil_mkdir_p(at("keep"), 0755, NULL), 0);
    put(at("keep/precious"), "x");
    cr_assert_eq(symlink(at("keep"), at("t/link")), 0);
    cr_assert_eq(fsutil_rm_rf(at("t")), 0);
    cr_assert_eq(access(at("t"), F_OK), -1);
    cr_assert_eq(access(at("keep/precious"), F_OK), 0, "a link's target stays");
    cr_assert_eq(fsutil_rm_rf(at("t")), 0, "already gone is fine");
}
