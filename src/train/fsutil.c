/* fsutil.c — small file-system helpers shared by the files in src/train: refusing non-regular
 * files, mkdir -p, whole-file write / read, atomic replace, directory fsync, rm -rf. */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errfmt.h"

static const char *fsutil_kind(mode_t m)
{
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "a special file";
}

int fsutil_open_regular(const char *path, const char **kind)
{
    /* O_NONBLOCK: opening a FIFO for reading would wait for a writer. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        if (kind) *kind = fsutil_kind(sb.st_mode);
        close(fd);
        return -2;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int fsutil_open_file(const char *path, const char *hint, char *err, size_t errlen)
{
    const char *kind = NULL;
    int fd = fsutil_open_regular(path, &kind);
    if (fd == -2)
        return errfmt(err, errlen, "%s: is %s, not a regular file; %s", path, kind, hint);
    if (fd < 0) return errfmt(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return fd;
}

/* ---- directories ---- */

/* An existing directory is fine; anything else of that name is in the way (ENOTDIR). */
static int mkdir_one(const char *dir, mode_t mode)
{
    struct stat st;
    errno = 0;
    if (mkdir(dir, mode) != 0 && errno != EEXIST) return -1;
    if (stat(dir, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* Every prefix of path that ends before a '/' (and path itself when `whole`). */
static int mkdir_prefixes(const char *path, mode_t mode, int whole, size_t *bad_len)
{
    char dir[PATH_MAX];
    size_t n = strlen(path);
    if (bad_len) *bad_len = n;
    if (n == 0 || n >= sizeof dir) {
        errno = n ? ENAMETOOLONG : ENOENT;
        return -1;
    }
    memcpy(dir, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (i < n ? dir[i] != '/' : !whole) continue;
        dir[i] = '\0';
        int rc = mkdir_one(dir, mode);
        dir[i] = path[i];
        if (rc) {
            if (bad_len) *bad_len = i;
            return -1;
        }
    }
    return 0;
}

int fsutil_mkdir_p(const char *path, mode_t mode, size_t *bad_len)
{
    return mkdir_prefixes(path, mode, 1, bad_len);
}

int fsutil_mkdir_parents(const char *path, mode_t mode, size_t *bad_len)
{
    return mkdir_prefixes(path, mode, 0, bad_len);
}

int fsutil_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

int fsutil_fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) {
        errno = ENAMETOOLONG;
        return -1;
    }
    char *slash = strrchr(dir, '/');
    if (slash) *(slash == dir ? slash + 1 : slash) = '\0';
    return fsutil_fsync_dir(slash ? dir : ".");
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p) && errno != ENOENT ? -1 : 0;
}

int fsutil_rm_rf(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb)) return errno == ENOENT ? 0 : -1;
    return nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- whole files ---- */

int fsutil_write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len > (1u << 30) ? (1u << 30) : len);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int fsutil_create(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return errfmt(err, errlen, "%s: cannot create: %s", path, strerror(errno));
    return fd;
}

int fsutil_finish(int fd, const char *path, int failed, char *err, size_t errlen)
{
    int rc = failed ? -1 : fsync(fd);
    int saved = errno;
    struct stat sb;
    int regular = !fstat(fd, &sb) && S_ISREG(sb.st_mode);
    if (close(fd) && !rc) {
        rc = -1;
        saved = errno;
    }
    if (!rc) return 0;
    errfmt(err, errlen, "%s: write failed: %s (disk full or not writable?)", path,
           strerror(saved));
    if (regular) unlink(path); /* never a device node such as /dev/full */
    return -1;
}

int fsutil_write_file(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
    int fd = fsutil_create(path, err, errlen);
    if (fd < 0) return -1;
    return fsutil_finish(fd, path, fsutil_write_all(fd, data, len) != 0, err, errlen);
}

char *fsutil_slurp(const char *path, size_t max, const char *hint, size_t *len, char *err,
                   size_t errlen)
{
    int fd = fsutil_open_file(path, hint, err, errlen); /* a FIFO would block the open itself */
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        errfmt(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    char *buf = NULL;
    struct stat sb;
    if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode) || (size_t)sb.st_size > max) {
        errfmt(err, errlen, "%s: not a regular file or larger than %zu bytes", path, max);
        goto out;
    }
    buf = malloc((size_t)sb.st_size + 1);
    if (!buf) {
        errfmt(err, errlen, "%s: out of memory", path);
        goto out;
    }
    *len = fread(buf, 1, (size_t)sb.st_size, f);
    if (*len != (size_t)sb.st_size) {
        errfmt(err, errlen, "%s: read error", path);
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[*len] = 0;
out:
    fclose(f);
    return buf;
}

int fsutil_replace(const char *path, const char *tag, mode_t mode, fsutil_fill_fn fill,
                   void *ctx)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-%s-%ld", path, tag, (long)getpid()) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode & 0777);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!out) {
        int e = errno;
        if (fd >= 0) close(fd), unlink(tmp);
        errno = e;
        return -1;
    }
    int rc = fill(out, ctx);
    if (!rc && (fflush(out) || fsync(fileno(out)))) rc = -1;
    int e = errno;
    if (fclose(out) && !rc) rc = -1, e = errno;
    if (!rc && rename(tmp, path)) rc = -1, e = errno;
    if (rc) unlink(tmp);
    else fsutil_fsync_parent(path);
    errno = e;
    return rc;
}
