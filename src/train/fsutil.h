/* fsutil.h — small file-system helpers shared by the readers in src/train. */
#ifndef MPTUI_FSUTIL_H
#define MPTUI_FSUTIL_H

/* Opens path read-only when it is a regular file. A FIFO or a device would block the open or
 * the reads forever (a FIFO without a writer, /dev/zero), so it is refused without blocking.
 * Returns the fd (blocking, close-on-exec); -1 with errno from open/fstat; or -2 when path
 * is not a regular file, with *kind (if kind is not NULL) naming what it is ("a FIFO"). */
int fsutil_open_regular(const char *path, const char **kind);

#endif
