/* bench_retune.h — benchmarks re-execute themselves with OPENBLAS_CORETYPE forced when
 * OpenBLAS fell back to its generic kernels, exactly as mptui does (src/main.c). */
#ifndef MPTUI_BENCH_RETUNE_H
#define MPTUI_BENCH_RETUNE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "backend.h"

static inline void bench_retune(char **argv)
{
    const char *hint = bk_cpu_blas_coretype_hint();
    if (!hint || getenv("OPENBLAS_CORETYPE") || getenv("MPTUI_NO_REEXEC")) return;
    if (setenv("OPENBLAS_CORETYPE", hint, 1)) return;
    /* The real path, not /proc/self/exe, so that ps / top still call the process mptui. */
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return;
    self[n] = '\0';
    execv(self, argv);
}

#endif
