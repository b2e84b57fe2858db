/* fsutil.h — small file-system helpers shared by the files in src/train: refusing non-regular
 * files, mkdir -p, whole-file write / read, atomic replace, directory fsync, rm -rf. */
#ifndef MPTUI_FSUTIL_H
#define MPTUI_FSUTIL_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* Opens path read-only when it is a regular file. A FIFO or a device would block the open or
 * the reads forever (a FIFO without a writer, /dev/zero), so it is refused without blocking.
 * Returns the fd (blocking, close-on-exec); -1 with errno from open/fstat; or -2 when path
 * is not a regular file, with *kind (if kind is not NULL) naming what it is ("a FIFO"). */
int fsutil_open_regular(const char *path, const char **kind);
/* fsutil_open_regular with the message: "<path>: is a FIFO, not a regular file; <hint>" or
 * "<path>: cannot open: <reason>". The fd, or -1 + err. */
int fsutil_open_file(const char *path, const char *hint, char *err, size_t errlen);

/* mkdir -p path (each new directory with mode, less the umask). 0 ok; -1 with errno (ENOTDIR:
 * a file is in the way) and *bad_len (if not NULL) = the length of the prefix that failed. */
int fsutil_mkdir_p(const char *path, mode_t mode, size_t *bad_len);
/* The same for every directory above path's last component (the folder a file goes in). */
int fsutil_mkdir_parents(const char *path, mode_t mode, size_t *bad_len);

/* write() until all of buf is out (EINTR retried). 0 ok, -1 with errno. */
int fsutil_write_all(int fd, const void *buf, size_t len);
/* Creates or truncates path (0644, less the umask) for writing: the fd, or -1 + err
 * ("<path>: cannot create: <reason>"). */
int fsutil_create(const char *path, char *err, size_t errlen);
/* Ends a write begun with fsutil_create: fsync (unless `failed`, a write already failed, with
 * errno still its reason), close. 0 ok; -1 + err ("<path>: write failed: <reason> (disk full
 * or not writable?)") with the partial file removed (never a device such as /dev/full). */
int fsutil_finish(int fd, const char *path, int failed, char *err, size_t errlen);
/* Whole file: fsutil_create, write, fsutil_finish. */
int fsutil_write_file(const char *path, const void *data, size_t len, char *err, size_t errlen);

/* A whole regular file of at most max bytes in memory, NUL-terminated (malloc'd; *len without
 * the NUL). NULL + err; `hint` ends the message for a non-regular file (fsutil_open_file). */
char *fsutil_slurp(const char *path, size_t max, const char *hint, size_t *len, char *err,
                   size_t errlen);

/* Writes fill's output to <path>.tmp-<tag>-<pid> (mode), fsyncs it, renames it over path and
 * fsyncs the directory: readers see the old file or the new one, never a mix. fill returns 0
 * or -1 (errno set). 0 ok; -1 with errno, path untouched and the temporary file removed. */
typedef int (*fsutil_fill_fn)(FILE *out, void *ctx);
int fsutil_replace(const char *path, const char *tag, mode_t mode, fsutil_fill_fn fill,
                   void *ctx);

/* fsync of a directory (after a rename or create in it, so the entry survives a crash). 0 ok,
 * -1 with errno. fsutil_fsync_parent: of the directory path is in ("." when it has no '/'). */
int fsutil_fsync_dir(const char *dir);
int fsutil_fsync_parent(const char *path);

/* rm -rf path without following links; a missing path is not an error. 0 ok, -1 with errno. */
int fsutil_rm_rf(const char *path);

#endif
