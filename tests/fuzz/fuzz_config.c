/* fuzz_config.c — libFuzzer harness: any bytes as a --config file (through a memfd, since
 * cfg_load_file takes a path); accepted configs go through cfg_validate too. */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz-config", 0);
        if (fd < 0) return 0;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size) return 0;
    mp_config c;
    char err[1024];
    cfg_defaults(&c);
    if (!cfg_load_file(&c, path, err, sizeof err)) cfg_validate(&c, err, sizeof err);
    return 0;
}
